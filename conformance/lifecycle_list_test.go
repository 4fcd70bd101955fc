package conformance

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// createN makes n sandboxes of the scenario, extra[i] adding
// metadata to the i-th, and returns their ids oldest first, by the
// creation time the service reports (which orders its lists).
func (tg *lifecycleTarget) createN(t *testing.T, n int, extra map[int]map[string]string) []string {
	t.Helper()
	reqs := make([]*lifecycle.CreateRequest, n)
	for i := range n {
		reqs[i] = tg.request(t)
		for k, v := range extra[i] {
			reqs[i].Metadata[k] = v
		}
	}
	var sbs []*lifecycle.Sandbox
	if tg.real {
		sbs = tg.createAll(t, reqs...) // seconds each: at once
	} else {
		// One by one: the order of creation breaks ties between equal
		// creation times (the mock has whole seconds).
		for _, req := range reqs {
			sbs = append(sbs, tg.create(t, req))
		}
	}
	for i, sb := range sbs {
		got, err := tg.lc.Get(tg.ctx(t), sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		sbs[i] = got
	}
	slices.SortStableFunc(sbs, func(a, b *lifecycle.Sandbox) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ids(sbs)
}

// ids returns the ids of sandboxes.
func ids(sbs []*lifecycle.Sandbox) []string {
	out := make([]string, len(sbs))
	for i, s := range sbs {
		out[i] = s.ID
	}
	return out
}

// TestLifecycleList: metadata filters (AND), state filters (OR, any
// case), pages with their pagination, newest first.
func TestLifecycleList(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		created := tg.createN(t, 3, nil)
		newestFirst := slices.Clone(created)
		slices.Reverse(newestFirst)
		if _, err := tg.lc.PatchMetadata(ctx, created[1], &lifecycle.MetadataPatch{Set: map[string]string{"role": "worker"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.lc.PauseAndWait(ctx, created[2], nil); err != nil {
			t.Fatalf("PauseAndWait: %v", err)
		}

		list := func(o lifecycle.ListOptions) *lifecycle.SandboxPage {
			t.Helper()
			p, err := tg.lc.List(ctx, &o)
			if err != nil {
				t.Fatalf("List(%+v): %v", o, err)
			}
			return p
		}

		p := list(lifecycle.ListOptions{Metadata: tg.mine()})
		if diff := cmp.Diff(newestFirst, ids(p.Items)); diff != "" {
			t.Errorf("List by run label, newest first (-want +got):\n%s", diff)
		}
		if p.TotalItems != 3 || p.TotalPages != 1 || p.HasNextPage || p.Page != 1 || p.PageSize != 20 {
			t.Errorf("pagination = %+v, want 3 items on 1 page of 20", p.Pagination)
		}

		both := map[string]string{runLabel: tg.run, "role": "worker"}
		if got := ids(list(lifecycle.ListOptions{Metadata: both}).Items); !slices.Equal(got, created[1:2]) {
			t.Errorf("List by two pairs (AND) = %v, want %v", got, created[1:2])
		}

		paused := list(lifecycle.ListOptions{Metadata: tg.mine(), States: []lifecycle.State{lifecycle.StatePaused}})
		if got := ids(paused.Items); !slices.Equal(got, created[2:]) {
			t.Errorf("List Paused = %v, want %v", got, created[2:])
		}
		either := list(lifecycle.ListOptions{Metadata: tg.mine(), States: []lifecycle.State{"running", "PAUSED"}})
		if either.TotalItems != 3 {
			t.Errorf("List Running or Paused (any case) = %v, want all 3", ids(either.Items))
		}

		p1 := list(lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 2})
		p2 := list(lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 2, Page: 2})
		p3 := list(lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 2, Page: 3})
		want1 := lifecycle.Pagination{Page: 1, PageSize: 2, TotalItems: 3, TotalPages: 2, HasNextPage: true}
		want2 := lifecycle.Pagination{Page: 2, PageSize: 2, TotalItems: 3, TotalPages: 2}
		if diff := cmp.Diff(want1, p1.Pagination); diff != "" {
			t.Errorf("page 1 (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want2, p2.Pagination); diff != "" {
			t.Errorf("page 2 (-want +got):\n%s", diff)
		}
		if got := append(ids(p1.Items), ids(p2.Items)...); !slices.Equal(got, newestFirst) {
			t.Errorf("pages 1 and 2 = %v, want %v", got, newestFirst)
		}
		if len(p3.Items) != 0 || p3.HasNextPage {
			t.Errorf("page 3 = %+v, want empty", p3)
		}

		var all []string
		for s, err := range tg.lc.All(ctx, &lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 1}) {
			if err != nil {
				t.Fatalf("All: %v", err)
			}
			all = append(all, s.ID)
		}
		if !slices.Equal(all, newestFirst) {
			t.Errorf("All = %v, want %v", all, newestFirst)
		}
	})
}

// TestLifecycleAllWhileSandboxesComeAndGo: sandboxes created and deleted
// between the page reads of All neither appear twice nor push others
// out: every sandbox that exists throughout is yielded exactly once.
func TestLifecycleAllWhileSandboxesComeAndGo(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		initial := tg.createN(t, 5, nil)
		var (
			deleted, added []string
			yielded        []string
		)
		for s, err := range tg.lc.All(ctx, &lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 2}) {
			if err != nil {
				t.Fatalf("All: %v", err)
			}
			yielded = append(yielded, s.ID)
			if len(yielded)%2 == 0 && len(added) < 2 {
				// At a page boundary: one sandbox goes (one already
				// yielded, ahead of the boundary), another comes.
				if err := tg.lc.DeleteAndWait(ctx, yielded[0], nil); err != nil {
					t.Fatalf("DeleteAndWait: %v", err)
				}
				deleted = append(deleted, yielded[0])
				added = append(added, tg.create(t, tg.request(t)).ID)
				if len(deleted) == 1 {
					// and one more not yet yielded, behind it
					last := initial[0]
					if !slices.Contains(yielded, last) {
						if err := tg.lc.DeleteAndWait(ctx, last, nil); err != nil {
							t.Fatalf("DeleteAndWait: %v", err)
						}
						deleted = append(deleted, last)
					}
				}
			}
		}
		seen := map[string]int{}
		for _, id := range yielded {
			if seen[id]++; seen[id] > 1 {
				t.Errorf("sandbox %s yielded twice: %v", id, yielded)
			}
		}
		for _, id := range initial {
			if !slices.Contains(deleted, id) && seen[id] == 0 {
				t.Errorf("sandbox %s, there throughout, was skipped: %v", id, yielded)
			}
		}
	})
}
