package mockserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestTerminatedLimit: beyond WithTerminatedLimit TERMINATED control
// plane sandboxes, the one that terminated first is forgotten before its
// retention ends, and JournalStats counts it; the others stay until their
// retention ends.
func TestTerminatedLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTerminatedLimit(2), mockserver.WithTransitionDelay(0))
	names := []string{"first", "second", "third"}
	for _, n := range names {
		cpCreate(t, e, cpSandbox(n))
	}
	for _, n := range names {
		if _, err := e.cp.DeleteSandbox(t.Context(), controlplaneapi.DeleteSandboxParams{SandboxName: n}); err != nil {
			t.Fatalf("delete %s: %v", n, err)
		}
	}
	got := map[string]string{}
	for _, n := range names {
		got[n] = cpStatus(t, e, n)
	}
	want := map[string]string{"first": "404", "second": mockserver.StatusTerminated, "third": mockserver.StatusTerminated}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("statuses after three deletions with a limit of two (-want +got):\n%s", d)
	}
	if st := e.srv.JournalStats().Terminated; st != (mockserver.RecordCount{Recorded: 3, Dropped: 1}) {
		t.Errorf("JournalStats().Terminated = %+v, want 3 recorded, 1 dropped", st)
	}
	// The control API reports the same count.
	remote, err := mockserver.Dial(e.srv.URL(), "", &mockserver.DialOptions{HTTPClient: e.srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := remote.JournalStats(t.Context()); err != nil || st.Terminated != (mockserver.RecordCount{Recorded: 3, Dropped: 1}) {
		t.Errorf("Remote.JournalStats().Terminated = %+v, %v; want 3 recorded, 1 dropped", st.Terminated, err)
	}
	// A sandbox re-created under a forgotten name is a new one, and the
	// kept ones still go when their retention ends.
	cpCreate(t, e, cpSandbox("first"))
	e.srv.Advance(mockserver.DefaultTerminatedRetention)
	for n, want := range map[string]string{"first": mockserver.StatusDeployed, "second": "404", "third": "404"} {
		if got := cpStatus(t, e, n); got != want {
			t.Errorf("%s after the retention: %s, want %s", n, got, want)
		}
	}
	if st := e.srv.JournalStats().Terminated; st != (mockserver.RecordCount{Recorded: 3, Dropped: 1}) {
		t.Errorf("after the retention: JournalStats().Terminated = %+v, want unchanged", st)
	}
	e.srv.ResetJournal()
	if st := e.srv.JournalStats(); st != (mockserver.JournalStats{}) {
		t.Errorf("after ResetJournal: %+v", st)
	}
}

// TestTerminatedLimitDefault: without the option a server keeps
// DefaultTerminatedLimit TERMINATED sandboxes, and 0 keeps them all.
func TestTerminatedLimitDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts    []mockserver.Option
		deleted int
		dropped int64
	}{
		{nil, mockserver.DefaultTerminatedLimit + 3, 3},
		{[]mockserver.Option{mockserver.WithTerminatedLimit(0)}, mockserver.DefaultTerminatedLimit + 3, 0},
	} {
		e := setup(t, append(tc.opts, mockserver.WithTransitionDelay(0))...)
		for i := range tc.deleted {
			name := fmt.Sprintf("sb-%d", i)
			cpCreate(t, e, cpSandbox(name))
			if _, err := e.cp.DeleteSandbox(t.Context(), controlplaneapi.DeleteSandboxParams{SandboxName: name}); err != nil {
				t.Fatal(err)
			}
		}
		if st := e.srv.JournalStats().Terminated; st.Recorded != int64(tc.deleted) || st.Dropped != tc.dropped {
			t.Errorf("%d options: Terminated = %+v, want %d recorded, %d dropped", len(tc.opts), st, tc.deleted, tc.dropped)
		}
	}
}

// TestTerminatedLimitOptions: a negative limit is refused, and Reset
// refuses the option (it shapes the server like WithLimits).
func TestTerminatedLimitOptions(t *testing.T) {
	t.Parallel()
	if _, err := mockserver.New(mockserver.WithTerminatedLimit(-1)); err == nil {
		t.Error("WithTerminatedLimit(-1) accepted")
	}
	srv := mockserver.Start(t)
	if err := srv.Reset(mockserver.WithTerminatedLimit(5)); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("Reset(WithTerminatedLimit(5)) = %v, want ErrInvalidInput", err)
	}
}

// TestJournalLast: the control API's journal?last=N answers the newest N
// entries the filter matches, oldest first, also once the journal's ring
// has wrapped around.
func TestJournalLast(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithJournalLimit(5))
	for i := range 8 {
		do(t, srv, "GET", fmt.Sprintf("/v1/sandboxes/sb-%d", i), "", nil)
		do(t, srv, "GET", "/v1/nothing-here", "", nil)
	}
	var j struct {
		Entries []struct{ Path string }
	}
	resp, body := do(t, srv, "GET", "/_sandboxmock/journal?operation=GetSandbox&last=2", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("journal: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range j.Entries {
		got = append(got, e.Path)
	}
	if d := cmp.Diff([]string{"/v1/sandboxes/sb-6", "/v1/sandboxes/sb-7"}, got); d != "" {
		t.Errorf("last=2 of GetSandbox (-want +got):\n%s", d)
	}
	// More than the ring keeps: what it keeps; none matching: an empty list.
	for q, want := range map[string]int{"last=100": 5, "operation=DeleteSandbox&last=3": 0} {
		resp, body := do(t, srv, "GET", "/_sandboxmock/journal?"+q, "", nil)
		var j struct{ Entries []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &j); resp.StatusCode != 200 || err != nil || j.Entries == nil || len(j.Entries) != want {
			t.Errorf("%s: %d %s, want %d entries", q, resp.StatusCode, body, want)
		}
	}
	if resp, body := do(t, srv, "GET", "/_sandboxmock/journal?last=0", "", nil); resp.StatusCode != 400 {
		t.Errorf("last=0: %d %s, want 400", resp.StatusCode, body)
	}
}
