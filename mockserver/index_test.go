package mockserver

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// checkTreap checks the shape of s: sizes add up, priorities form a
// max-heap and the items are in strictly increasing order.
func checkTreap[T comparable](t *testing.T, s *orderedSet[T]) {
	t.Helper()
	var prev T
	first := true
	var walk func(n *treapNode[T]) uint32
	walk = func(n *treapNode[T]) uint32 {
		if n == nil {
			return 0
		}
		for _, c := range []*treapNode[T]{n.left, n.right} {
			if c != nil && c.prio > n.prio {
				t.Fatalf("treap: child priority %d above parent %d", c.prio, n.prio)
			}
		}
		size := walk(n.left)
		if !first && s.cmp(prev, n.item) >= 0 {
			t.Fatalf("treap: %v not after %v", n.item, prev)
		}
		prev, first = n.item, false
		size += 1 + walk(n.right)
		if n.size != size {
			t.Fatalf("treap: node of %v counts %d items, holds %d", n.item, n.size, size)
		}
		return size
	}
	walk(s.root)
}

// TestOrderedSet checks every operation of orderedSet against a sorted
// slice through random inserts and removals.
func TestOrderedSet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	desc := func(a, b int) int { return cmp.Compare(b, a) } // a list order that is not the natural one
	s := newOrderedSet(desc)
	var model []int // sorted by desc
	for step := range 4000 {
		v := rng.IntN(300)
		i, in := slices.BinarySearchFunc(model, v, desc)
		if rng.IntN(3) == 0 || in {
			if got := s.remove(v); got != in {
				t.Fatalf("step %d: remove(%d) = %v, want %v", step, v, got, in)
			}
			if in {
				model = slices.Delete(model, i, i+1)
			}
		} else {
			s.insert(v)
			model = slices.Insert(model, i, v)
		}
		if s.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(model))
		}
		if step%50 != 0 {
			continue
		}
		checkTreap(t, s)
		if got := slices.Collect(s.all()); !slices.Equal(got, model) {
			t.Fatalf("step %d: items %v, want %v", step, got, model)
		}
		for range 20 {
			probe := rng.IntN(310) - 5
			before, _ := slices.BinarySearchFunc(model, probe, desc)
			if got := s.countBefore(probe); got != before {
				t.Fatalf("step %d: countBefore(%d) = %d, want %d", step, probe, got, before)
			}
			if got := s.contains(probe); got != slices.Contains(model, probe) {
				t.Fatalf("step %d: contains(%d) = %v", step, probe, got)
			}
			if len(model) == 0 {
				continue
			}
			at := rng.IntN(len(model) + 2)
			if at < len(model) && s.at(at) != model[at] {
				t.Fatalf("step %d: at(%d) = %d, want %d", step, at, s.at(at), model[at])
			}
			var walked []int
			for c := s.from(at); !c.done() && len(walked) < 5; c.next() {
				walked = append(walked, c.item())
			}
			if want := model[min(at, len(model)):min(at+5, len(model))]; !slices.Equal(walked, want) {
				t.Fatalf("step %d: from(%d) walks %v, want %v", step, at, walked, want)
			}
			back := rng.IntN(len(model)+3) - 1 // -1 and len..len+1 included
			walked = walked[:0]
			for c := s.back(back); !c.done() && len(walked) < 5; c.next() {
				walked = append(walked, c.item())
			}
			top := min(back, len(model)-1) + 1
			want := slices.Clone(model[max(top-5, 0):max(top, 0)])
			slices.Reverse(want)
			if !slices.Equal(walked, want) {
				t.Fatalf("step %d: back(%d) walks %v, want %v", step, back, walked, want)
			}
		}
	}
}

// fakeItem is an indexed item for the generic index tests.
type fakeItem struct {
	id     int
	tenant string
	class  string
	labels map[string]string
	listed indexEntry
}

func (it *fakeItem) entry() *indexEntry { return &it.listed }

// checkListIndex checks that ix files exactly the items it is given
// (live, with their tenant, class and labels) and nothing else, and that
// every set is a sound treap.
func checkListIndex[T comparable](t *testing.T, ix *listIndex[T], live []T, id, tenant, class func(T) string, labels func(T) map[string]string) {
	t.Helper()
	type counts struct{ all, labels int }
	want := map[string]*counts{}
	for _, it := range live {
		e := ix.entry(it)
		tn, cl, ls := tenant(it), class(it), labelsOf(labels(it))
		if !e.filed || e.tenant != tn || e.class != cl || !slices.Equal(e.labels, ls) {
			t.Fatalf("%s filed as %+v, want tenant %q class %q labels %v", id(it), *e, tn, cl, ls)
		}
		tl := ix.tenants[tn]
		if tl == nil || !tl.all.contains(it) || tl.byClass[cl] == nil || !tl.byClass[cl].contains(it) {
			t.Fatalf("%s missing from its tenant's or class's set", id(it))
		}
		for _, l := range ls {
			if s := tl.byLabel[l]; s == nil || !s.contains(it) {
				t.Fatalf("%s missing from the set of %v", id(it), l)
			}
			if s := tl.byClassLabel[classLabel{cl, l}]; s == nil || !s.contains(it) {
				t.Fatalf("%s missing from the set of %q+%v", id(it), cl, l)
			}
		}
		if want[tn] == nil {
			want[tn] = &counts{}
		}
		want[tn].all++
		want[tn].labels += len(ls)
	}
	if len(ix.tenants) != len(want) {
		t.Fatalf("index has %d tenants, want %d", len(ix.tenants), len(want))
	}
	for tn, tl := range ix.tenants {
		sum := func(sets []*orderedSet[T]) int {
			n := 0
			for _, s := range sets {
				if s.len() == 0 {
					t.Fatalf("tenant %q keeps an empty set", tn)
				}
				checkTreap(t, s)
				n += s.len()
			}
			return n
		}
		checkTreap(t, tl.all)
		got := counts{all: tl.all.len(), labels: sum(slices.Collect(maps.Values(tl.byLabel)))}
		if w := want[tn]; w == nil || got != *w {
			t.Fatalf("tenant %q holds %+v, want %+v", tn, got, w)
		}
		if n := sum(slices.Collect(maps.Values(tl.byClass))); n != got.all {
			t.Fatalf("tenant %q: class sets hold %d, want %d", tn, n, got.all)
		}
		if n := sum(slices.Collect(maps.Values(tl.byClassLabel))); n != got.labels {
			t.Fatalf("tenant %q: class+label sets hold %d, want %d", tn, n, got.labels)
		}
	}
}

// TestListIndex moves random items between tenants, classes and labels
// and checks every page against a scan.
func TestListIndex(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	order := func(a, b *fakeItem) int { return cmp.Or(cmp.Compare(a.id%17, b.id%17), cmp.Compare(a.id, b.id)) }
	ix := newListIndex(order)
	tenants, classes, keys, values := []string{"t1", "t2"}, []string{"A", "B", "C", "a"}, []string{"k1", "k2", "k3"}, []string{"x", "y", ""}
	randLabels := func() map[string]string {
		m := map[string]string{}
		for range rng.IntN(4) {
			m[keys[rng.IntN(len(keys))]] = values[rng.IntN(len(values))]
		}
		return m
	}
	var live []*fakeItem
	next := 0
	for step := range 1500 {
		switch op := rng.IntN(10); {
		case op < 4 || len(live) == 0:
			it := &fakeItem{id: next, tenant: tenants[rng.IntN(2)], class: classes[rng.IntN(len(classes))], labels: randLabels()}
			next++
			ix.put(it.tenant, it, it.class, it.labels)
			live = append(live, it)
		case op < 6:
			it := live[rng.IntN(len(live))]
			it.class = classes[rng.IntN(len(classes))]
			ix.setClass(it, it.class)
		case op < 8:
			it := live[rng.IntN(len(live))]
			it.tenant, it.class, it.labels = tenants[rng.IntN(2)], classes[rng.IntN(len(classes))], randLabels()
			ix.put(it.tenant, it, it.class, it.labels)
		default:
			i := rng.IntN(len(live))
			ix.drop(live[i])
			ix.drop(live[i]) // twice: a no-op
			ix.setClass(live[i], "A")
			if live[i].listed.filed {
				t.Fatalf("step %d: a dropped item was filed again", step)
			}
			live = slices.Delete(live, i, i+1)
		}
		if step%10 == 0 {
			checkListIndex(t, ix, live, func(it *fakeItem) string { return fmt.Sprint(it.id) }, func(it *fakeItem) string { return it.tenant }, func(it *fakeItem) string { return it.class }, func(it *fakeItem) map[string]string { return it.labels })
		}
		for range 4 {
			tenant := tenants[rng.IntN(2)]
			var f listFilter
			var classSet []string
			if rng.IntN(2) == 0 {
				classSet = []string{classes[rng.IntN(len(classes))], classes[rng.IntN(len(classes))]}
				f.class = func(c string) bool { return slices.Contains(classSet, c) }
			}
			if rng.IntN(3) > 0 {
				f.labels = randLabels()
			}
			from, size := rng.IntN(12), 1+rng.IntN(6)
			var scan []*fakeItem
			for _, it := range live {
				if it.tenant == tenant && (f.class == nil || f.class(it.class)) && hasAll(it.labels, f.labels) {
					scan = append(scan, it)
				}
			}
			slices.SortFunc(scan, order)
			got, total := ix.page(tenant, f, from, size)
			wantPage := scan[min(from, len(scan)):min(from+size, len(scan))]
			if total != len(scan) || !slices.Equal(got, wantPage) {
				t.Fatalf("step %d: page(%s, classes %v labels %v, %d, %d) = %v of %d, want %v of %d", step, tenant, classSet, f.labels, from, size, fakeIDs(got), total, fakeIDs(wantPage), len(scan))
			}

			// The same matches walked both ways from a keyset position.
			reverse := rng.IntN(2) == 0
			if reverse {
				slices.Reverse(scan)
			}
			var skip func(*fakeItem) bool
			wantWalk := scan
			if rng.IntN(3) > 0 {
				pivot := &fakeItem{id: rng.IntN(next + 2)}
				skip = func(it *fakeItem) bool {
					if reverse {
						return order(it, pivot) >= 0
					}
					return order(it, pivot) <= 0
				}
				i := slices.IndexFunc(scan, func(it *fakeItem) bool { return !skip(it) })
				if i < 0 {
					i = len(scan)
				}
				wantWalk = scan[i:]
			}
			var walked []*fakeItem
			for it := range ix.walk(tenant, f, reverse, skip) {
				walked = append(walked, it)
				if len(walked) == size {
					break
				}
			}
			if want := wantWalk[:min(size, len(wantWalk))]; !slices.Equal(walked, want) {
				t.Fatalf("step %d: walk(%s, classes %v labels %v, reverse %v) = %v, want %v", step, tenant, classSet, f.labels, reverse, fakeIDs(walked), fakeIDs(want))
			}
		}
	}
}

// hasAll reports whether m holds every pair of sub.
func hasAll(m, sub map[string]string) bool {
	for k, v := range sub {
		if got, ok := m[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// fakeIDs is the ids of items, for messages.
func fakeIDs(items []*fakeItem) []int {
	out := []int{}
	for _, it := range items {
		out = append(out, it.id)
	}
	return out
}

// bruteList is the sandbox list as a scan computes it: every sandbox of
// the tenant sorted newest first (the later-created first on a tie),
// filtered by states (any of, ignoring case) and metadata (all of).
func bruteList(st *lcStore, tenant string, q listQuery) ([]string, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := slices.Clone(st.sandboxes.byTenant[tenant])
	slices.Reverse(items)
	slices.SortStableFunc(items, func(a, b *lcSandbox) int { return b.createdAt.Compare(a.createdAt) })
	out := []string{}
	total, from := 0, (q.page-1)*q.pageSize
	for _, sb := range items {
		if len(q.states) > 0 && !slices.ContainsFunc(q.states, func(s string) bool { return strings.EqualFold(s, sb.state) }) {
			continue
		}
		if !hasAll(sb.metadata, q.metadata) {
			continue
		}
		if total >= from && len(out) < q.pageSize {
			out = append(out, sb.id)
		}
		total++
	}
	return out, total
}

// bruteSnapshots is the snapshot list as a scan computes it: newest
// first, ties by id descending; states exact, any of.
func bruteSnapshots(st *lcStore, tenant string, q snapshotQuery) ([]string, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := slices.Clone(st.snapshots.byTenant[tenant])
	slices.SortFunc(items, func(a, b *lcSnapshot) int {
		return cmp.Or(b.createdAt.Compare(a.createdAt), strings.Compare(b.id, a.id))
	})
	out := []string{}
	total, from := 0, (q.page-1)*q.pageSize
	for _, sn := range items {
		if (q.sandboxID != "" && sn.sandboxID != q.sandboxID) || (len(q.states) > 0 && !slices.Contains(q.states, sn.state)) {
			continue
		}
		if total >= from && len(out) < q.pageSize {
			out = append(out, sn.id)
		}
		total++
	}
	return out, total
}

// TestListsMatchScan drives random traffic through the lifecycle store on
// both runtimes and two tenants (creates, seeds in and out of time order,
// pauses, resumes, failures, exits, metadata patches, renewals, deletes,
// expiries, transitions completing by time and by Step, snapshots taken,
// seeded and deleted) and checks after every change that the indexes file
// exactly what the store holds, and that random list queries answer the
// same pages and totals as a scan of every sandbox.
func TestListsMatchScan(t *testing.T) {
	t.Parallel()
	for _, rt := range []Runtime{RuntimeDocker, RuntimeKubernetes} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/%d", rt, seed), func(t *testing.T) {
				t.Parallel()
				runListScenario(t, rt, rand.New(rand.NewPCG(seed, 99)))
			})
		}
	}
}

// checkLCIndexes checks that the store's list indexes file exactly its
// sandboxes and snapshots.
func checkLCIndexes(t *testing.T, st *lcStore) {
	t.Helper()
	st.mu.RLock()
	defer st.mu.RUnlock()
	checkListIndex(t, st.sandboxList, slices.Collect(maps.Values(st.sandboxes.byID)),
		func(sb *lcSandbox) string { return sb.id }, func(sb *lcSandbox) string { return sb.tenant }, func(sb *lcSandbox) string { return sb.state },
		func(sb *lcSandbox) map[string]string { return sb.metadata })
	checkListIndex(t, st.snapshotList, slices.Collect(maps.Values(st.snapshots.byID)),
		func(sn *lcSnapshot) string { return sn.id }, func(sn *lcSnapshot) string { return sn.tenant }, func(sn *lcSnapshot) string { return sn.state },
		func(sn *lcSnapshot) map[string]string {
			if sn.sandboxID == "" {
				return nil
			}
			return map[string]string{snapshotSource: sn.sandboxID}
		})
}

func runListScenario(t *testing.T, rt Runtime, rng *rand.Rand) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	modes := []Mode{Immediate(), After(time.Second), After(3 * time.Second), Manual()}
	opts := []Option{WithManualClock(start), WithRuntime(rt)}
	kinds := []TransitionKind{TransitionSnapshotCreate, TransitionSnapshotDelete}
	if rt == RuntimeKubernetes {
		kinds = append(kinds, TransitionProvision, TransitionPause, TransitionResume, TransitionStop)
	}
	for _, k := range kinds {
		opts = append(opts, WithTransition(k, modes[rng.IntN(len(modes))]))
	}
	srv := Start(t, opts...)
	st := srv.lc

	tenants := []string{"alpha", "beta"}
	keys, values := []string{"app", "team", "tier"}, []string{"a", "b", "c", ""}
	randMeta := func() map[string]string {
		m := map[string]string{}
		for range rng.IntN(4) {
			m[keys[rng.IntN(len(keys))]] = values[rng.IntN(len(values))]
		}
		return m
	}
	var sandboxIDs, snapshotIDs []string // every id ever made, live or not
	pick := func(ids []string) string {
		if len(ids) == 0 {
			return "none"
		}
		return ids[rng.IntN(len(ids))]
	}
	tenantOf := func(id string) string {
		if tn, ok := st.ownerOf(id); ok {
			return tn
		}
		return tenants[rng.IntN(2)]
	}
	entrypoints := [][]string{{"tail", "-f", "/dev/null"}, {"sleep", "4"}, {"false"}, {"true"}}
	seen := map[string]bool{} // states listed, to show the run went through them
	nonEmpty, queries := 0, 0

	for step := range 700 {
		var op string
		switch r := rng.IntN(100); {
		case r < 14:
			op = "create"
			tn := tenants[rng.IntN(2)]
			req := &lifecyclesrv.CreateSandboxRequest{
				Image:      lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: "python:3.11"}),
				Entrypoint: entrypoints[rng.IntN(len(entrypoints))],
			}
			if md := randMeta(); len(md) > 0 {
				req.Metadata = lifecyclesrv.NewOptCreateSandboxRequestMetadata(md)
			}
			if rng.IntN(4) == 0 {
				req.SnapshotID = lifecyclesrv.NewOptString(pick(snapshotIDs))
			}
			var expires time.Time
			if rng.IntN(2) == 0 {
				expires = st.now().Add(time.Duration(1+rng.IntN(20)) * time.Second)
			}
			if res, err := st.create(tn, "", req, expires, st.now()); err == nil {
				sandboxIDs = append(sandboxIDs, res.ID)
			}
		case r < 24:
			op = "seed"
			states := seedStates[rt]
			seed := SandboxSeed{State: states[rng.IntN(len(states))], Metadata: randMeta()}
			if rng.IntN(2) == 0 { // out of time order, ties included
				seed.CreatedAt = start.Add(time.Duration(rng.IntN(40)-10) * time.Second)
			}
			if rng.IntN(2) == 0 {
				seed.ExpiresAt = srv.Now().Add(time.Duration(1+rng.IntN(20)) * time.Second)
			}
			if id, err := srv.AddSandbox(tenants[rng.IntN(2)], seed); err == nil {
				sandboxIDs = append(sandboxIDs, id)
			} else {
				t.Fatal(err)
			}
		case r < 32:
			op = "pause"
			id := pick(sandboxIDs)
			_ = st.pause(tenantOf(id), id)
		case r < 40:
			op = "resume"
			id := pick(sandboxIDs)
			_ = st.resume(tenantOf(id), id)
		case r < 50:
			op = "patch"
			id := pick(sandboxIDs)
			patch := lifecyclesrv.PatchSandboxMetadataRequest{}
			for range 1 + rng.IntN(3) {
				k := keys[rng.IntN(len(keys))]
				if rng.IntN(3) == 0 {
					patch[k] = lifecyclesrv.NilString{Null: true}
				} else {
					patch[k] = lifecyclesrv.NewNilString(values[rng.IntN(len(values))])
				}
			}
			_, _ = st.patchMetadata(tenantOf(id), id, patch)
		case r < 56:
			op = "delete"
			id := pick(sandboxIDs)
			_ = st.delete(tenantOf(id), id, "")
		case r < 60:
			op = "renew"
			id := pick(sandboxIDs)
			_, _ = st.renew(tenantOf(id), id, "", srv.Now().Add(time.Duration(1+rng.IntN(20))*time.Second))
		case r < 64:
			op = "fail"
			_ = srv.FailSandbox(pick(sandboxIDs), "", "")
		case r < 67:
			op = "exit"
			_ = srv.ExitSandbox(pick(sandboxIDs), rng.IntN(3))
		case r < 75:
			op = "step"
			if rng.IntN(2) == 0 {
				srv.StepAll()
			} else {
				_ = srv.Step(pick(append(slices.Clone(sandboxIDs), snapshotIDs...)))
			}
		case r < 83:
			op = "advance"
			if err := srv.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		case r < 90:
			op = "snapshot"
			id := pick(sandboxIDs)
			if sn, err := st.createSnapshot(tenantOf(id), id, ""); err == nil {
				snapshotIDs = append(snapshotIDs, sn.ID)
			}
		case r < 94:
			op = "seed snapshot"
			states := []string{SnapshotCreating, SnapshotReady, SnapshotDeleting, SnapshotFailed}
			seed := SnapshotSeed{State: states[rng.IntN(len(states))]}
			if rng.IntN(4) > 0 {
				seed.SandboxID = pick(sandboxIDs)
			}
			id, err := srv.AddSnapshot(tenants[rng.IntN(2)], seed)
			if err != nil {
				t.Fatal(err)
			}
			snapshotIDs = append(snapshotIDs, id)
		default:
			op = "delete snapshot"
			id := pick(snapshotIDs)
			tn := tenants[rng.IntN(2)]
			if info, ok := srv.Snapshot(id); ok {
				tn = info.Tenant
			}
			_ = st.deleteSnapshot(tn, id)
		}

		checkLCIndexes(t, st)

		for range 3 {
			tn := tenants[rng.IntN(2)]
			q := listQuery{page: 1 + rng.IntN(3), pageSize: 1 + rng.IntN(8)}
			stateWords := []string{"Running", "running", "PAUSED", "Pending", "allocated", "Failed", "terminated", "Pausing", "Resuming", "unknown", "Bogus", ""}
			for range rng.IntN(2) * (1 + rng.IntN(3)) {
				w := stateWords[rng.IntN(len(stateWords))]
				if info, ok := srv.Sandbox(pick(sandboxIDs)); ok && rng.IntN(5) > 0 {
					w = info.State // a state some sandbox has, in any case
					if rng.IntN(2) == 0 {
						w = strings.ToUpper(w)
					}
				}
				q.states = append(q.states, w)
			}
			if rng.IntN(3) > 0 {
				q.metadata = map[string]string{}
				for range 1 + rng.IntN(rng.IntN(3)+1) { // mostly one pair
					q.metadata[keys[rng.IntN(len(keys))]] = values[rng.IntN(len(values))]
				}
			}
			views, total := st.list(tn, q)
			got := []string{}
			for _, v := range views {
				got = append(got, v.ID)
			}
			want, wantTotal := bruteList(st, tn, q)
			if total != wantTotal || !slices.Equal(got, want) {
				t.Fatalf("step %d (after %s): list(%s, %+v) = %v of %d, scan %v of %d", step, op, tn, q, got, total, want, wantTotal)
			}
			queries++
			if len(views) > 0 {
				nonEmpty++
			}
			for _, v := range views {
				seen[string(v.Status.State)] = true
			}

			sq := snapshotQuery{page: 1 + rng.IntN(3), pageSize: 1 + rng.IntN(5)}
			snapWords := []string{SnapshotReady, "ready", SnapshotCreating, SnapshotDeleting, SnapshotFailed, "Bogus"}
			for range rng.IntN(3) {
				sq.states = append(sq.states, snapWords[rng.IntN(len(snapWords))])
			}
			if rng.IntN(2) == 0 {
				sq.sandboxID = pick(sandboxIDs)
			}
			snaps, stotal := st.listSnapshots(tn, sq)
			gotSnaps := []string{}
			for _, v := range snaps {
				gotSnaps = append(gotSnaps, v.ID)
			}
			wantSnaps, wantSTotal := bruteSnapshots(st, tn, sq)
			if diff := gocmp.Diff(wantSnaps, gotSnaps); diff != "" || stotal != wantSTotal {
				t.Fatalf("step %d (after %s): snapshots(%s, %+v): total %d, scan %d; -scan +index:\n%s", step, op, tn, sq, stotal, wantSTotal, diff)
			}
		}
	}
	if nonEmpty < queries/3 {
		t.Errorf("only %d of %d list queries matched anything: the scenario tests little", nonEmpty, queries)
	}
	if len(seen) < 4 {
		t.Errorf("lists showed only the states %v", slices.Sorted(maps.Keys(seen)))
	}
}

// BenchmarkListIndexMemory reports what the sandbox list index keeps per
// sandbox (its sets, their nodes and the entry in the sandbox) at 100,000
// sandboxes with two metadata pairs each: pairs shared by many sandboxes,
// and one of the two unique to each sandbox (the worst case: a set per
// sandbox and pair).
func BenchmarkListIndexMemory(b *testing.B) {
	const n = 100_000
	for _, unique := range []bool{false, true} {
		b.Run(fmt.Sprintf("unique=%v", unique), func(b *testing.B) {
			start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			items := make([]*lcSandbox, n)
			for i := range items {
				md := map[string]string{"shard": fmt.Sprint(i % 16), "team": fmt.Sprint(i % 5)}
				if unique {
					md["team"] = fmt.Sprint("sbx-", i)
				}
				state := StateRunning
				if i%3 == 0 {
					state = StatePaused
				}
				items[i] = &lcSandbox{id: fmt.Sprint(i), tenant: DefaultTenant, seq: uint64(i), createdAt: start, state: state, metadata: md}
			}
			var retained uint64
			for b.Loop() {
				for _, sb := range items {
					sb.listed = indexEntry{}
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				ix := newListIndex(newestSandboxFirst)
				for _, sb := range items {
					ix.put(sb.tenant, sb, sb.state, sb.metadata)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(ix)
				retained = after.HeapAlloc - before.HeapAlloc
			}
			b.ReportMetric(float64(retained)/n+float64(unsafe.Sizeof(indexEntry{})), "B/sandbox")
		})
	}
}
