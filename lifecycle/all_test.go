package lifecycle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// offsetList serves GET /v1/sandboxes as OpenSandbox does: newest first,
// pages by offset, totals as of the request. Tests change the list
// between page reads.
type offsetList struct {
	mu    sync.Mutex
	ids   []string // newest first
	seq   int
	reads int
}

func newOffsetList(n int) *offsetList {
	l := &offsetList{}
	for range n {
		l.create()
	}
	return l
}

// create adds a sandbox at the front (the newest) and returns its id.
func (l *offsetList) create() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	id := fmt.Sprintf("sb-%03d", l.seq)
	l.ids = slices.Insert(l.ids, 0, id)
	return id
}

func (l *offsetList) delete(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = slices.DeleteFunc(l.ids, func(s string) bool { return s == id })
}

func (l *offsetList) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

func (l *offsetList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, _ := strconv.Atoi(r.URL.Query().Get("pageSize"))
	page = max(page, 1)
	if size == 0 {
		size = 20
	}
	items := []map[string]any{}
	for _, id := range l.ids[min(len(l.ids), (page-1)*size):min(len(l.ids), page*size)] {
		items = append(items, map[string]any{"id": id, "status": map[string]string{"state": "Running"},
			"entrypoint": []string{"sleep"}, "createdAt": "2026-03-01T10:30:00Z"})
	}
	pages := (len(l.ids) + size - 1) / size
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "pagination": map[string]any{
		"page": page, "pageSize": size, "totalItems": len(l.ids), "totalPages": pages, "hasNextPage": page < pages}})
}

// walk ranges over All with page size 3, calling between(i) after the
// i-th sandbox yielded, and returns the ids in order.
func walk(t *testing.T, c *lifecycle.Client, between func(i int, id string)) ([]string, error) {
	t.Helper()
	var got []string
	for s, err := range c.All(t.Context(), &lifecycle.ListOptions{PageSize: 3}) {
		if err != nil {
			return got, err
		}
		got = append(got, s.ID)
		between(len(got), s.ID)
	}
	return got, nil
}

// checkWalk asserts no duplicates and that every id of stable was yielded.
func checkWalk(t *testing.T, got, stable []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("sandbox %s yielded twice: %v", id, got)
		}
	}
	for _, id := range stable {
		if seen[id] == 0 {
			t.Errorf("sandbox %s, listed throughout, was skipped: %v", id, got)
		}
	}
}

// New sandboxes, listed first, push sandboxes already yielded onto the
// next page: All must not yield them twice.
func TestAllNoDuplicatesWhileSandboxesAreCreated(t *testing.T) {
	t.Parallel()
	l := newOffsetList(9)
	c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, r)
		return rec.Result(), nil
	}))
	stable := l.snapshot()
	got, err := walk(t, c, func(i int, _ string) {
		if i%3 == 0 { // at each page boundary
			l.create()
			l.create()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkWalk(t, got, stable)
}

// A deleted sandbox ahead of the page boundary pulls a sandbox not yet
// yielded onto the page already read: All must not skip it.
func TestAllSkipsNothingWhileSandboxesAreDeleted(t *testing.T) {
	t.Parallel()
	l := newOffsetList(10)
	c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, r)
		return rec.Result(), nil
	}))
	var deleted []string
	got, err := walk(t, c, func(i int, id string) {
		if i%3 == 0 && len(deleted) < 4 { // delete what was just yielded
			l.delete(id)
			deleted = append(deleted, id)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var stable []string
	for _, id := range l.snapshot() {
		if !slices.Contains(deleted, id) {
			stable = append(stable, id)
		}
	}
	checkWalk(t, got, stable)
	if len(got) != 10 {
		t.Errorf("%d sandboxes yielded, want all 10: %v", len(got), got)
	}
}

// Both at once, and many times: every sandbox listed throughout is
// yielded exactly once.
func TestAllUnderChurn(t *testing.T) {
	t.Parallel()
	l := newOffsetList(25)
	c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, r)
		return rec.Result(), nil
	}))
	initial := l.snapshot()
	var touched []string
	got, err := walk(t, c, func(i int, id string) {
		switch i % 4 {
		case 1:
			touched = append(touched, l.create())
		case 2:
			l.delete(id)
			touched = append(touched, id)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var stable []string
	for _, id := range initial {
		if !slices.Contains(touched, id) {
			stable = append(stable, id)
		}
	}
	checkWalk(t, got, stable)
}

// A list that shrinks during every walk ends the iteration with
// ErrListChanged after four walks, rather than silently skipping.
func TestAllGivesUpOnEndlessShrinking(t *testing.T) {
	t.Parallel()
	l := newOffsetList(40)
	c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		// Someone deletes the oldest sandbox before every page read.
		ids := l.snapshot()
		l.delete(ids[len(ids)-1])
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, r)
		return rec.Result(), nil
	}))
	var got []string
	var errs []error
	for s, err := range c.All(t.Context(), &lifecycle.ListOptions{PageSize: 10}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, s.ID)
	}
	if len(errs) != 1 || !errors.Is(errs[0], lifecycle.ErrListChanged) {
		t.Fatalf("errors %v, want one ErrListChanged", errs)
	}
	checkWalk(t, got, nil)
	if l.reads > 4*4 {
		t.Errorf("%d page reads, want at most 4 walks of at most 4 pages", l.reads)
	}
}

// The same through the mock, whatever order it lists in: deleting what
// was yielded, at page boundaries, skips nothing, and a 500 on a page
// read (the real server's answer to a list racing a delete) is read
// again.
func TestAllThroughTheMock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testAllThroughTheMock) // the read after the 500 waits the transport's backoff
}

func testAllThroughTheMock(t *testing.T) {
	srv := mockserver.Start(t, mockserver.WithManualClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	c := mockClient(t, srv)
	var ids []string
	for i := range 8 {
		id, err := srv.AddSandbox(mockserver.DefaultTenant, mockserver.SandboxSeed{State: mockserver.StateRunning,
			CreatedAt: time.Date(2026, 3, 1, 9, i, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes", Status: http.StatusInternalServerError,
		Body: `{"code":"DOCKER::SANDBOX_QUERY_FAILED","message":"Failed to query sandbox containers"}`, Times: 1}); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	got, err := walk(t, c, func(i int, id string) {
		if i%3 == 0 {
			if err := c.Delete(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			deleted = append(deleted, id)
			_ = srv.Advance(time.Minute) // past any delete transition: gone
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var stable []string
	for _, id := range ids {
		if !slices.Contains(deleted, id) {
			stable = append(stable, id)
		}
	}
	checkWalk(t, got, stable)
	if len(got) != len(ids) {
		t.Errorf("%d yielded, want all %d: %v", len(got), len(ids), got)
	}
	if n := srv.Count(mockserver.Filter{Operation: "ListSandboxes", Status: http.StatusInternalServerError}); n != 1 {
		t.Errorf("%d page reads answered 500, want 1 (the fault)", n)
	}
}
