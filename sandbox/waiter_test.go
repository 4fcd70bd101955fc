package sandbox_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// fakeProcesses is a ProcessGetter that answers from a script: the i-th
// call gets steps[i] (the last one repeats), and records when it came.
type fakeProcesses struct {
	mu    sync.Mutex
	steps []func() (*sandbox.Process, error)
	calls []time.Time
}

func (f *fakeProcesses) GetProcess(_ context.Context, _ string) (*sandbox.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(len(f.calls), len(f.steps)-1)
	f.calls = append(f.calls, time.Now())
	return f.steps[i]()
}

func (f *fakeProcesses) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func proc(status sandbox.ProcessStatus, ended bool) func() (*sandbox.Process, error) {
	return func() (*sandbox.Process, error) {
		p := &sandbox.Process{PID: "42", Name: "job", Status: status}
		if ended {
			p.CompletedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if status != sandbox.StatusCompleted {
				p.ExitCode = -1
			}
		}
		return p, nil
	}
}

func fail(err error) func() (*sandbox.Process, error) {
	return func() (*sandbox.Process, error) { return nil, err }
}

// TestWaiterReportsTransitions: OnTransition sees every change of status,
// and only changes, with every field filled in.
func TestWaiterReportsTransitions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProcesses{steps: []func() (*sandbox.Process, error){
			proc(sandbox.StatusRunning, false), proc(sandbox.StatusRunning, false),
			proc(sandbox.StatusStopped, false), proc(sandbox.StatusStopped, true),
		}}
		var got []sandboxkit.Transition
		opts := &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Second,
			OnTransition: func(tr sandboxkit.Transition) { got = append(got, tr) }}
		p, err := sandbox.NewWaiter(f, opts).Wait(t.Context(), "job", sandbox.StatusStopped)
		if err != nil || p.Status != sandbox.StatusStopped || !p.Ended() {
			t.Fatalf("Wait = %+v, %v; want the stopped, exited process", p, err)
		}
		want := []sandboxkit.Transition{
			{Kind: "process", ID: "job", From: "", To: "running", Elapsed: 0},
			{Kind: "process", ID: "job", From: "running", To: "stopped", Elapsed: 2 * time.Second},
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(sandboxkit.Transition{}, "Observed")); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		for _, tr := range got {
			if p, ok := tr.Observed.(*sandbox.Process); !ok || string(p.Status) != tr.To {
				t.Errorf("Observed = %#v, want the *sandbox.Process with status %s", tr.Observed, tr.To)
			}
		}
		// "stopped" is reported before the exit: the waiter waited for it.
		if n := f.count(); n != 4 {
			t.Errorf("%d polls, want 4 (stopped is reached only once the process has exited)", n)
		}
	})
}

// TestWaiterStateError: a process that ended otherwise, or that is not
// found, ends the wait with a *sandboxkit.StateError at once.
func TestWaiterStateError(t *testing.T) {
	t.Parallel()
	notFound := &sandboxkit.APIError{StatusCode: 404, Message: "process not found", Operation: "sandbox.GetProcess"}
	for _, tc := range []struct {
		name    string
		steps   []func() (*sandbox.Process, error)
		targets []sandbox.ProcessStatus
		want    sandboxkit.StateError
		polls   int
	}{
		{
			name:    "failed while awaiting completed",
			steps:   []func() (*sandbox.Process, error){proc(sandbox.StatusRunning, false), proc(sandbox.StatusFailed, true)},
			targets: []sandbox.ProcessStatus{sandbox.StatusCompleted},
			want:    sandboxkit.StateError{Op: "sandbox.Waiter.Wait", Kind: "process", ID: "job", State: "failed", Want: []string{"completed"}},
			polls:   2,
		},
		{
			// A stopped process cannot complete, even before it exits.
			name:    "stopped while awaiting completed",
			steps:   []func() (*sandbox.Process, error){proc(sandbox.StatusStopped, false)},
			targets: []sandbox.ProcessStatus{sandbox.StatusCompleted},
			want:    sandboxkit.StateError{Op: "sandbox.Waiter.Wait", Kind: "process", ID: "job", State: "stopped", Want: []string{"completed"}},
			polls:   1,
		},
		{
			name:    "completed while awaiting running",
			steps:   []func() (*sandbox.Process, error){proc(sandbox.StatusCompleted, true)},
			targets: []sandbox.ProcessStatus{sandbox.StatusRunning},
			want:    sandboxkit.StateError{Op: "sandbox.Waiter.Wait", Kind: "process", ID: "job", State: "completed", Want: []string{"running"}},
			polls:   1,
		},
		{
			name:  "not found",
			steps: []func() (*sandbox.Process, error){proc(sandbox.StatusRunning, false), fail(notFound)},
			want: sandboxkit.StateError{Op: "sandbox.Waiter.Wait", Kind: "process", ID: "job", State: "",
				Want: []string{"completed", "failed", "stopped", "killed"}},
			polls: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := &fakeProcesses{steps: tc.steps}
				var last sandboxkit.Transition
				opts := &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { last = tr }}
				p, err := sandbox.NewWaiter(f, opts).Wait(t.Context(), "job", tc.targets...)
				se, ok := errors.AsType[*sandboxkit.StateError](err)
				if !ok || p != nil || !errors.Is(err, sandboxkit.ErrUnexpectedState) {
					t.Fatalf("Wait = %+v, %v; want a *StateError matching ErrUnexpectedState", p, err)
				}
				if diff := cmp.Diff(tc.want, *se, cmpopts.IgnoreFields(sandboxkit.StateError{}, "Observed", "Err")); diff != "" {
					t.Errorf("StateError (-want +got):\n%s", diff)
				}
				if n := f.count(); n != tc.polls {
					t.Errorf("%d polls, want %d", n, tc.polls)
				}
				if tc.want.State == "" {
					if se.Observed != nil || !errors.Is(err, sandboxkit.ErrNotFound) {
						t.Errorf("gone: Observed %v, errors.Is(ErrNotFound) %v; want nil, true", se.Observed, errors.Is(err, sandboxkit.ErrNotFound))
					}
					if last.From != "running" || last.To != "" || last.Observed != nil {
						t.Errorf("last transition %+v, want running -> \"\" (gone)", last)
					}
					return
				}
				if op, ok := se.Observed.(*sandbox.Process); !ok || string(op.Status) != se.State {
					t.Errorf("Observed = %#v, want the process as read", se.Observed)
				}
			})
		})
	}
}

// TestWaiterTimeout: when ctx ends first, a *sandboxkit.WaitTimeoutError
// says what was seen, how often and for how long.
func TestWaiterTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProcesses{steps: []func() (*sandbox.Process, error){proc(sandbox.StatusRunning, false)}}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		opts := &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Second}
		p, err := sandbox.NewWaiter(f, opts).Wait(ctx, "job", sandbox.StatusCompleted)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || p != nil {
			t.Fatalf("Wait = %+v, %v; want a *WaitTimeoutError", p, err)
		}
		if !errors.Is(err, sandboxkit.ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sandboxkit.ErrTimeout) {
			t.Errorf("errors.Is(%v): want ErrWaitTimeout and DeadlineExceeded, not ErrTimeout", err)
		}
		want := sandboxkit.WaitTimeoutError{Op: "sandbox.Waiter.Wait", Kind: "process", ID: "job", State: "running",
			Want: []string{"completed"}, Polls: f.count()}
		if diff := cmp.Diff(want, *te, cmpopts.IgnoreFields(sandboxkit.WaitTimeoutError{}, "Observed", "Err", "Waited")); diff != "" {
			t.Errorf("WaitTimeoutError (-want +got):\n%s", diff)
		}
		if te.Polls < 9 || te.Waited < 9*time.Second || te.Waited > 10*time.Second {
			t.Errorf("%d polls in %v; want about one a second for 10 s", te.Polls, te.Waited)
		}
		if last, ok := te.Observed.(*sandbox.Process); !ok || last.Status != sandbox.StatusRunning {
			t.Errorf("Observed = %#v, want the running process", te.Observed)
		}
	})
}

// TestWaiterDefaults: nil options are the documented defaults: polls
// DefaultWaitMinDelay apart at first, and DefaultWaitMaxTransient
// transient errors in a row tolerated, the next one returned.
func TestWaiterDefaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProcesses{steps: []func() (*sandbox.Process, error){
			proc(sandbox.StatusRunning, false), proc(sandbox.StatusRunning, false), proc(sandbox.StatusCompleted, true),
		}}
		if _, err := sandbox.NewWaiter(f, nil).Wait(t.Context(), "job"); err != nil {
			t.Fatal(err)
		}
		if gap := f.calls[1].Sub(f.calls[0]); gap != sandboxkit.DefaultWaitMinDelay {
			t.Errorf("first pause %v, want DefaultWaitMinDelay %v", gap, sandboxkit.DefaultWaitMinDelay)
		}

		busy := &sandboxkit.APIError{StatusCode: 503, Message: "busy"}
		f = &fakeProcesses{steps: []func() (*sandbox.Process, error){fail(busy)}}
		_, err := sandbox.NewWaiter(f, nil).Wait(t.Context(), "job")
		if !errors.Is(err, sandboxkit.ErrUnavailable) || f.count() != sandboxkit.DefaultWaitMaxTransient+1 {
			t.Errorf("err %v after %d polls; want the 503 after %d", err, f.count(), sandboxkit.DefaultWaitMaxTransient+1)
		}
		if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); !ok || apiErr.Operation != "sandbox.Waiter.Wait" {
			t.Errorf("error %v does not name sandbox.Waiter.Wait", err)
		}
	})
}

// TestWaitersRejectBadInputFirst: invalid options, targets, ids and
// waiters are *ValidationErrors (ErrInvalidInput) before any request.
func TestWaitersRejectBadInputFirst(t *testing.T) {
	t.Parallel()
	requests := 0
	c := mockClient(t, func(r *http.Request) (*http.Response, error) {
		requests++
		return jsonResponse(r, 200, `{"status":"ok"}`), nil
	})
	bad := []*sandboxkit.WaitOptions{{MinDelay: -1}, {MaxDelay: -time.Second}, {MinDelay: 2 * time.Second, MaxDelay: time.Second}}
	var calls []func(context.Context) error
	for _, o := range bad {
		calls = append(calls,
			func(ctx context.Context) error { _, err := sandbox.NewWaiter(c, o).Wait(ctx, "p"); return err },
			func(ctx context.Context) error { _, err := sandbox.NewHealthWaiter(c, o).Wait(ctx); return err },
		)
	}
	calls = append(calls,
		func(ctx context.Context) error { _, err := sandbox.NewWaiter(c, nil).Wait(ctx, "a\x00b"); return err },
		func(ctx context.Context) error { _, err := sandbox.NewWaiter(c, nil).Wait(ctx, ""); return err },
		func(ctx context.Context) error { _, err := sandbox.NewWaiter(c, nil).Wait(ctx, "p", ""); return err },
		func(ctx context.Context) error { _, err := sandbox.NewWaiter(nil, nil).Wait(ctx, "p"); return err },
		func(ctx context.Context) error { _, err := sandbox.NewHealthWaiter(nil, nil).Wait(ctx); return err },
		func(ctx context.Context) error { _, err := (*sandbox.Waiter)(nil).Wait(ctx, "p"); return err },
		func(ctx context.Context) error { _, err := (*sandbox.HealthWaiter)(nil).Wait(ctx); return err },
		func(context.Context) error {
			var none context.Context // a nil context is refused
			_, err := sandbox.NewWaiter(c, nil).Wait(none, "p")
			return err
		},
	)
	for i, call := range calls {
		err := call(t.Context())
		if _, ok := errors.AsType[*sandboxkit.ValidationError](err); !ok || !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("call %d: error %v, want a *ValidationError", i, err)
		}
	}
	if requests != 0 {
		t.Errorf("%d requests sent for invalid input", requests)
	}
}

// TestWaiterCopiesOptions: changing the options after NewWaiter does not
// change the waiter.
func TestWaiterCopiesOptions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProcesses{steps: []func() (*sandbox.Process, error){proc(sandbox.StatusRunning, false), proc(sandbox.StatusCompleted, true)}}
		opts := &sandboxkit.WaitOptions{MinDelay: 3 * time.Second}
		w := sandbox.NewWaiter(f, opts)
		opts.MinDelay = -1
		if _, err := w.Wait(t.Context(), "job"); err != nil {
			t.Fatal(err)
		}
		if gap := f.calls[1].Sub(f.calls[0]); gap != 3*time.Second {
			t.Errorf("pause %v, want the 3s given to NewWaiter", gap)
		}
	})
}

// healthServer answers GET /health from a script: refused connections,
// then statuses.
func healthClient(t *testing.T, refused int, statuses ...string) (*sandbox.Client, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	c := mockClient(t, func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= refused {
			return nil, errConnReset()
		}
		s := statuses[min(n-refused, len(statuses))-1]
		return jsonResponse(r, 200, `{"status":"`+s+`"}`), nil
	}, sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 0}))
	return c, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestHealthWaiterWaitsOutAStartingServer: with nil options, any number
// of refused connections is waited out; transitions name the server.
func TestHealthWaiterWaitsOutAStartingServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, polls := healthClient(t, 3*sandboxkit.DefaultWaitMaxTransient, "starting", "ok")
		var got []sandboxkit.Transition
		opts := &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { got = append(got, tr) }}
		h, err := sandbox.NewHealthWaiter(c, opts).Wait(t.Context())
		if err != nil || !h.OK() {
			t.Fatalf("Wait = %+v, %v", h, err)
		}
		if n := polls(); n != 3*sandboxkit.DefaultWaitMaxTransient+2 {
			t.Errorf("%d polls, want %d", n, 3*sandboxkit.DefaultWaitMaxTransient+2)
		}
		want := []sandboxkit.Transition{
			{Kind: "health", ID: "sbx.test", From: "", To: "starting"},
			{Kind: "health", ID: "sbx.test", From: "starting", To: "ok"},
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(sandboxkit.Transition{}, "Observed", "Elapsed")); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		if len(got) == 2 && (got[1].Observed != h || got[1].Elapsed <= got[0].Elapsed) {
			t.Errorf("last transition %+v: want the returned report, later than the first", got[1])
		}

		// A positive MaxTransient bounds the refusals as in other waiters.
		c, polls = healthClient(t, 10, "ok")
		_, err = sandbox.NewHealthWaiter(c, &sandboxkit.WaitOptions{MaxTransient: 2}).Wait(t.Context())
		if err == nil || polls() != 3 {
			t.Errorf("MaxTransient 2: %v after %d polls; want the third refusal", err, polls())
		}
	})
}

// TestHealthWaiterTimeout: a server that never says "ok" ends the wait
// with a *WaitTimeoutError of Kind "health".
func TestHealthWaiterTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, _ := healthClient(t, 0, "degraded")
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := sandbox.NewHealthWaiter(c, nil).Wait(ctx)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || te.Op != "sandbox.HealthWaiter.Wait" || te.Kind != "health" || te.ID != "sbx.test" ||
			te.State != "degraded" || !cmp.Equal(te.Want, []string{"ok"}) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v (%+v); want a *WaitTimeoutError of the health waiter", err, te)
		}
		if h, ok := te.Observed.(*sandbox.Health); !ok || h.Status != "degraded" {
			t.Errorf("Observed = %#v, want the last report", te.Observed)
		}
	})
}

// TestRunOutcomeUnknown: when an exec's answer is lost and the lookup by
// name fails too, Run cannot tell whether the command started: a
// *sandboxkit.OutcomeError with the name to look it up by later, through
// which errors.Is sees both failures.
func TestRunOutcomeUnknown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost {
				return nil, errConnReset()
			}
			return jsonResponse(r, 401, `{"error":"token expired"}`), nil
		})
		res, err := c.Run(t.Context(), "make deploy", nil)
		oe, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || res != nil {
			t.Fatalf("Run = %+v, %v; want an *OutcomeError", res, err)
		}
		if oe.Op != "sandbox.Run" || oe.Kind != "process" || oe.ID != "" || len(oe.Token) < len("sandboxkit-x") {
			t.Errorf("OutcomeError %+v: want Op sandbox.Run, Kind process, the made-up name as Token", oe)
		}
		if !errors.Is(err, sandboxkit.ErrOutcomeUnknown) || !errors.Is(err, sandboxkit.ErrUnauthorized) {
			t.Errorf("errors.Is(%v): want ErrOutcomeUnknown and the lookup's ErrUnauthorized", err)
		}
		if _, ok := errors.AsType[*net.OpError](err); !ok {
			t.Errorf("error %v hides the exec's connection error", err)
		}
	})
}

// TestRunReportsTransitions: RunOptions.Wait's OnTransition sees the
// process while Run polls for it.
func TestRunReportsTransitions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		gets := 0
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodPost {
				// The server's wait ended before the command did.
				return jsonResponse(r, 200, processWith(t, map[string]any{"status": "running"})), nil
			}
			gets++
			if gets < 3 {
				return jsonResponse(r, 200, processWith(t, map[string]any{"status": "running"})), nil
			}
			return jsonResponse(r, 200, processWith(t, nil)), nil
		})
		var got []string
		opts := &sandbox.RunOptions{Wait: &sandboxkit.WaitOptions{
			OnTransition: func(tr sandboxkit.Transition) { got = append(got, tr.Kind+" "+tr.ID+": "+tr.From+" > "+tr.To) }}}
		res, err := c.Run(t.Context(), "sleep 1", opts)
		if err != nil || res.Process.Status != sandbox.StatusCompleted {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		pid := res.Process.PID
		want := []string{"process " + pid + ":  > running", "process " + pid + ": running > completed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}
