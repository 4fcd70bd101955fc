package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/lifecycle/mocklifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// stuckPending keeps a sandbox seeded Pending there.
var stuckPending = mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual())

// seedSandbox adds a sandbox to srv and returns its id.
func seedSandbox(t *testing.T, srv *mockserver.Server, seed mockserver.SandboxSeed) string {
	t.Helper()
	id, err := srv.AddSandbox("", seed)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every observed change reaches OnTransition with all its fields: on the
// Kubernetes runtime a new sandbox reads Pending or Allocated, then
// Running.
func TestWaiterReportsEveryTransition(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
			mockserver.WithTransition(mockserver.TransitionProvision, mockserver.After(3*time.Second)))
		c := mockClient(t, srv)
		sb, err := c.Create(t.Context(), busyboxReq(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var seen []sandboxkit.Transition
		start := time.Now()
		w := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{
			MinDelay: 100 * time.Millisecond, MaxDelay: time.Second,
			OnTransition: func(tr sandboxkit.Transition) {
				if tr.Elapsed != time.Since(start) {
					t.Errorf("Elapsed %v, want %v", tr.Elapsed, time.Since(start))
				}
				if s, ok := tr.Observed.(*lifecycle.Sandbox); !ok || string(s.State()) != tr.To || s.ID != sb.ID {
					t.Errorf("Observed = %#v, want the *Sandbox read in state %s", tr.Observed, tr.To)
				}
				tr.Elapsed, tr.Observed = 0, nil
				seen = append(seen, tr)
			},
		})
		got, err := w.Wait(t.Context(), sb.ID, lifecycle.StateRunning)
		if err != nil || got.State() != lifecycle.StateRunning {
			t.Fatalf("Wait = %+v, %v", got, err)
		}
		var path []string
		for _, tr := range seen {
			if tr.Kind != "sandbox" || tr.ID != sb.ID {
				t.Errorf("transition %+v: want Kind sandbox, ID %s", tr, sb.ID)
			}
			path = append(path, tr.From+">"+tr.To)
		}
		if len(seen) < 2 || seen[0].From != "" || seen[0].To == "Running" || seen[len(seen)-1].To != "Running" {
			t.Errorf("transitions %v, want one from \"\" first and Running last", path)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].From != seen[i-1].To || seen[i].From == seen[i].To {
				t.Errorf("transitions %v do not chain", path)
			}
		}
		// Detected promptly: within one MaxDelay of happening.
		if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
			t.Errorf("waited %v for a 3s transition", d)
		}
	})
}

func TestWaiterTimeoutError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, stuckPending)
		id := seedSandbox(t, srv, mockserver.SandboxSeed{State: mockserver.StatePending})
		c := mockClient(t, srv)
		var lastPoll time.Time
		getter := getterFunc(func(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
			lastPoll = time.Now()
			return c.Get(ctx, id)
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		deadline, _ := ctx.Deadline()
		got, err := lifecycle.NewWaiter(getter, &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: 4 * time.Second}).
			Wait(ctx, id, lifecycle.StateRunning)

		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a *sandboxkit.WaitTimeoutError matching ErrWaitTimeout and DeadlineExceeded", err)
		}
		if errors.Is(err, sandboxkit.ErrUnexpectedState) || errors.Is(err, sandboxkit.ErrTimeout) {
			t.Errorf("err = %v matches another kind of error", err)
		}
		polls := srv.Count(mockserver.Filter{Operation: "GetSandbox"})
		if te.Op != "lifecycle.Waiter.Wait" || te.Kind != "sandbox" || te.ID != id || te.State != "Pending" ||
			!slices.Equal(te.Want, []string{"Running"}) || te.Polls != polls || te.Polls < 2 {
			t.Errorf("WaitTimeoutError = %+v (%d polls served)", te, polls)
		}
		if obs, ok := te.Observed.(*lifecycle.Sandbox); !ok || obs != got || obs.State() != lifecycle.StatePending {
			t.Errorf("Observed = %#v, returned %+v; want the last Pending read, returned too", te.Observed, got)
		}
		if te.Waited < 9*time.Second || te.Waited > 10*time.Second {
			t.Errorf("Waited = %v, want about the 10s of the context", te.Waited)
		}
		if now := time.Now(); now.After(deadline) {
			t.Errorf("returned %v after the deadline", now.Sub(deadline))
		}
		if gap := deadline.Sub(lastPoll); gap > 100*time.Millisecond || gap < 0 {
			t.Errorf("last poll %v before the deadline; the last sleep should be trimmed to MinDelay", gap)
		}
		want := `sandboxkit: lifecycle.Waiter.Wait: sandbox "` + id + `" still Pending after `
		if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "waiting for Running: context deadline exceeded") {
			t.Errorf("message %q", err)
		}
	})
}

// A wait under a context without a deadline still ends: CreateAndWait
// of a sandbox that never leaves Allocated gives up after
// DefaultWaitTimeout.
func TestWaitWithoutDeadlineEndsAfterTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, stuckPending)
		c := mockClient(t, srv)
		start := time.Now()
		_, err := c.CreateAndWait(context.Background(), &lifecycle.CreateRequest{
			Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sleep", "infinity"},
			ResourceLimits: map[string]string{"cpu": "1"}, Timeout: time.Hour,
		}, nil)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || te.State != mockserver.StateAllocated || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a *sandboxkit.WaitTimeoutError in Allocated wrapping DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited > sandboxkit.DefaultWaitTimeout || waited < sandboxkit.DefaultWaitTimeout-time.Second {
			t.Errorf("gave up after %v, want about %v", waited, sandboxkit.DefaultWaitTimeout)
		}
	})
}

// A cancelled context ends the wait with a WaitTimeoutError too, wrapping
// context.Canceled; one ended before the first poll sends nothing.
func TestWaiterCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, stuckPending)
		id := seedSandbox(t, srv, mockserver.SandboxSeed{State: mockserver.StatePending})
		c := mockClient(t, srv)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(2*time.Second, cancel)
		_, err := lifecycle.NewWaiter(c, nil).Wait(ctx, id, lifecycle.StateRunning)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || !errors.Is(err, context.Canceled) || te.State != "Pending" {
			t.Fatalf("err = %v, want a *sandboxkit.WaitTimeoutError wrapping context.Canceled", err)
		}
		before := srv.Count(mockserver.Filter{})
		_, err = lifecycle.NewWaiter(c, nil).Wait(ctx, id, lifecycle.StateRunning)
		if te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err); !ok || te.Polls != 0 || te.State != "" || te.Observed != nil {
			t.Errorf("err = %#v, want a *sandboxkit.WaitTimeoutError with no poll", err)
		}
		if n := srv.Count(mockserver.Filter{}); n != before {
			t.Errorf("%d requests after the context ended", n-before)
		}
	})
}

func TestWaiterPollBudget(t *testing.T) {
	t.Parallel()
	for range 10 { // the backoff is jittered: try several draws
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, stuckPending)
			id := seedSandbox(t, srv, mockserver.SandboxSeed{State: mockserver.StatePending})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := lifecycle.NewWaiter(mockClient(t, srv), &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}).
				Wait(ctx, id, lifecycle.StateRunning)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if n := srv.Count(mockserver.Filter{Operation: "GetSandbox"}); n > 15 {
				t.Errorf("%d polls in 10s, want at most 15", n)
			}
		})
	}
}

// A nil *WaitOptions means the defaults, as an empty one does: the first
// pause is DefaultWaitMinDelay and DefaultWaitMaxTransient errors in a
// row are tolerated, one more is not.
func TestWaiterNilOptionsAreDefaults(t *testing.T) {
	t.Parallel()
	for _, opts := range []*sandboxkit.WaitOptions{nil, {}} {
		for _, failures := range []int{sandboxkit.DefaultWaitMaxTransient, sandboxkit.DefaultWaitMaxTransient + 1} {
			synctest.Test(t, func(t *testing.T) {
				var polls []time.Time
				g := getterFunc(func(context.Context, string) (*lifecycle.Sandbox, error) {
					polls = append(polls, time.Now())
					switch n := len(polls); {
					case n == 1:
						return &lifecycle.Sandbox{ID: "s", Status: lifecycle.Status{State: lifecycle.StatePending}}, nil
					case n <= 1+failures:
						return nil, &sandboxkit.APIError{StatusCode: 503}
					}
					return &lifecycle.Sandbox{ID: "s", Status: lifecycle.Status{State: lifecycle.StateRunning}}, nil
				})
				got, err := lifecycle.NewWaiter(g, opts).Wait(t.Context(), "s", lifecycle.StateRunning)
				if len(polls) < 2 || polls[1].Sub(polls[0]) != sandboxkit.DefaultWaitMinDelay {
					t.Errorf("first pause %v, want DefaultWaitMinDelay", polls[1].Sub(polls[0]))
				}
				tolerated := failures <= sandboxkit.DefaultWaitMaxTransient
				switch {
				case tolerated && (err != nil || got.State() != lifecycle.StateRunning):
					t.Errorf("%d errors in a row: got %+v, %v; want Running", failures, got, err)
				case !tolerated && (!errors.Is(err, sandboxkit.ErrUnavailable) || got == nil || got.State() != lifecycle.StatePending):
					t.Errorf("%d errors in a row: got %+v, %v; want the 503 and the Pending read", failures, got, err)
				}
			})
		}
	}
}

// The transport's retries are off, so the waiter sees every 503; it
// tolerates MaxTransient of them in a row.
func TestWaiterToleratesTransientErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		wantErr  error
	}{
		{"three 503s in a row", 3, nil},
		{"six 503s in a row exceed the default five", 6, sandboxkit.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
					mockserver.WithTransition(mockserver.TransitionProvision, mockserver.After(time.Second)))
				c := mockClient(t, srv, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
				sb, err := c.Create(t.Context(), busyboxReq(), nil)
				if err != nil {
					t.Fatal(err)
				}
				// The reads fail from the second on.
				inject := func(tr sandboxkit.Transition) {
					if tr.From == "" {
						if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "GetSandbox", Status: 503, Times: tt.failures}); err != nil {
							t.Error(err)
						}
					}
				}
				got, err := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond, OnTransition: inject}).
					Wait(t.Context(), sb.ID, lifecycle.StateRunning)
				if tt.wantErr == nil {
					if err != nil || got.State() != lifecycle.StateRunning {
						t.Fatalf("got %v, %v", got, err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "lifecycle.Get") {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got == nil || got.State() == lifecycle.StateRunning {
					t.Errorf("last observation = %+v, want the one before the errors", got)
				}
			})
		})
	}
}

func TestWaiterFailsFastWithStateError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, stuckPending)
		id := seedSandbox(t, srv, mockserver.SandboxSeed{State: mockserver.StatePending})
		time.AfterFunc(2*time.Second, func() {
			if err := srv.FailSandbox(id, "image_pull", "pull access denied"); err != nil {
				t.Error(err)
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		start := time.Now()
		got, err := lifecycle.NewWaiter(mockClient(t, srv), nil).Wait(ctx, id, lifecycle.StateRunning)
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrUnexpectedState) || errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("err = %v, want a *sandboxkit.StateError", err)
		}
		want := &sandboxkit.StateError{Op: "lifecycle.Waiter.Wait", Kind: "sandbox", ID: id, State: "Failed",
			Reason: "image_pull", Message: "pull access denied", Want: []string{"Running"}}
		if diff := cmp.Diff(want, se, cmpIgnoreObserved); diff != "" {
			t.Errorf("StateError (-want +got):\n%s", diff)
		}
		if obs, ok := se.Observed.(*lifecycle.Sandbox); !ok || obs != got || obs.State() != lifecycle.StateFailed {
			t.Errorf("Observed = %#v, returned %+v; want the Failed read", se.Observed, got)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %v: did not fail fast", time.Since(start))
		}
		if got := err.Error(); got != `sandboxkit: lifecycle.Waiter.Wait: sandbox "`+id+`" is Failed (image_pull: pull access denied); cannot reach Running` {
			t.Errorf("message = %q", got)
		}
	})
}

// A sandbox not found ends a wait for anything but Terminated with a
// StateError that matches ErrNotFound and has no observation.
func TestWaiterNotFound(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	c := mockClient(t, srv)
	var seen []sandboxkit.Transition
	_, err := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, tr) }}).
		Wait(t.Context(), "gone", lifecycle.StateRunning, lifecycle.StatePaused)
	se, ok := errors.AsType[*sandboxkit.StateError](err)
	if !ok || !errors.Is(err, sandboxkit.ErrNotFound) || se.State != "" || se.Observed != nil ||
		!slices.Equal(se.Want, []string{"Running", "Paused"}) {
		t.Fatalf("err = %#v, want a not-found *sandboxkit.StateError", err)
	}
	if len(seen) != 1 || seen[0].From != "" || seen[0].To != "" || seen[0].Observed != nil || seen[0].ID != "gone" {
		t.Errorf("transitions %+v, want one to \"\" (gone)", seen)
	}
	if got := err.Error(); !strings.HasPrefix(got, `sandboxkit: lifecycle.Waiter.Wait: sandbox "gone" not found; cannot reach Running or Paused`) {
		t.Errorf("message %q", got)
	}
	if _, err := lifecycle.NewWaiter(c, nil).Wait(t.Context(), "gone", lifecycle.StateTerminated); err != nil {
		t.Errorf("waiting for Terminated of a sandbox not found: %v, want done", err)
	}
}

var cmpIgnoreObserved = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Observed" }, cmp.Ignore())

// The unreachable-target rules of the package documentation, driven
// through scripted observations.
func TestWaiterTerminalRules(t *testing.T) {
	t.Parallel()
	const (
		P  = lifecycle.StatePending
		R  = lifecycle.StateRunning
		Pg = lifecycle.StatePausing
		Pd = lifecycle.StatePaused
		Rs = lifecycle.StateResuming
		S  = lifecycle.StateStopping
		T  = lifecycle.StateTerminated
		F  = lifecycle.StateFailed
		NF = lifecycle.State("404")
		X  = lifecycle.State("Hibernating") // a future state
	)
	tests := []struct {
		targets []lifecycle.State
		seq     []lifecycle.State // observations; the last decides
		ok      bool
		notFnd  bool
	}{
		{[]lifecycle.State{R}, []lifecycle.State{P, R}, true, false},
		{[]lifecycle.State{R}, []lifecycle.State{P, F}, false, false},
		{[]lifecycle.State{R}, []lifecycle.State{P, NF}, false, true},
		{[]lifecycle.State{R}, []lifecycle.State{P, S}, false, false},
		{[]lifecycle.State{R}, []lifecycle.State{Pd, Pd, Rs, R}, true, false},
		{[]lifecycle.State{R}, []lifecycle.State{Pd, Rs, Pd}, false, false},
		{[]lifecycle.State{R}, []lifecycle.State{X, X, R}, true, false},
		{[]lifecycle.State{Pd}, []lifecycle.State{R, R, Pg, Pd}, true, false},
		{[]lifecycle.State{Pd}, []lifecycle.State{R, Pg, R}, false, false},
		{[]lifecycle.State{Pd}, []lifecycle.State{P, R}, false, false},
		{[]lifecycle.State{Pd}, []lifecycle.State{Pg, T}, false, false},
		{[]lifecycle.State{T}, []lifecycle.State{S, T}, true, false},
		{[]lifecycle.State{T}, []lifecycle.State{R, S, NF}, true, false},
		{[]lifecycle.State{T}, []lifecycle.State{S, F}, false, false},
		{[]lifecycle.State{S, T}, []lifecycle.State{R, S}, true, false},
		{[]lifecycle.State{F}, []lifecycle.State{P, F}, true, false},
		{[]lifecycle.State{R, Pd}, []lifecycle.State{Pg, Pd}, true, false},
	}
	for _, tt := range tests {
		name := joinSeq(tt.targets) + " via " + joinSeq(tt.seq)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				i := 0
				g := getterFunc(func(context.Context, string) (*lifecycle.Sandbox, error) {
					st := tt.seq[min(i, len(tt.seq)-1)]
					i++
					if st == NF {
						return nil, &sandboxkit.APIError{StatusCode: 404, Code: "NOT_FOUND"}
					}
					return &lifecycle.Sandbox{ID: "s", Status: lifecycle.Status{State: st}}, nil
				})
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				_, err := lifecycle.NewWaiter(g, nil).Wait(ctx, "s", tt.targets...)
				if i != len(tt.seq) {
					t.Errorf("decided after %d of %d observations (err %v)", i, len(tt.seq), err)
				}
				switch {
				case tt.ok && err != nil:
					t.Errorf("err = %v, want success", err)
				case !tt.ok && !errors.Is(err, sandboxkit.ErrUnexpectedState):
					t.Errorf("err = %v, want a *StateError", err)
				case tt.notFnd && !errors.Is(err, sandboxkit.ErrNotFound):
					t.Errorf("err = %v, want it to match ErrNotFound", err)
				}
			})
		})
	}
}

func joinSeq(s []lifecycle.State) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, ">")
}

type getterFunc func(ctx context.Context, id string) (*lifecycle.Sandbox, error)

func (f getterFunc) Get(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
	return f(ctx, id)
}

// A downstream test: a Waiter over a gomock mock of the Getter seam.
func TestWaiterWithGomock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctrl := gomock.NewController(t)
		g := mocklifecycle.NewMockGetter(ctrl)
		sb := func(st lifecycle.State) *lifecycle.Sandbox {
			return &lifecycle.Sandbox{ID: "sbx-1", Status: lifecycle.Status{State: st}}
		}
		gomock.InOrder(
			g.EXPECT().Get(gomock.Any(), "sbx-1").Return(sb(lifecycle.StatePending), nil).Times(2),
			g.EXPECT().Get(gomock.Any(), "sbx-1").Return(nil, &sandboxkit.APIError{StatusCode: 503}),
			g.EXPECT().Get(gomock.Any(), "sbx-1").DoAndReturn(func(context.Context, string) (*lifecycle.Sandbox, error) {
				return sb(lifecycle.StateRunning), nil
			}),
		)
		got, err := lifecycle.NewWaiter(g, nil).Wait(t.Context(), "sbx-1", lifecycle.StateRunning)
		if err != nil || got.State() != lifecycle.StateRunning {
			t.Fatalf("got %v, %v", got, err)
		}
	})
}

// Invalid wait options fail every wait with a typed error matching
// ErrInvalidInput, before any request.
func TestInvalidWaitOptionsSendNothing(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id := seedSandbox(t, srv, mockserver.SandboxSeed{})
	c := mockClient(t, srv)
	bad := map[string]*sandboxkit.WaitOptions{
		"WaitOptions.MinDelay":  {MinDelay: -time.Second},
		"WaitOptions.MaxDelay":  {MaxDelay: -time.Second},
		"WaitOptions.MinDelay ": {MinDelay: time.Minute, MaxDelay: time.Second},
	}
	for field, o := range bad {
		calls := map[string]func(ctx context.Context) error{
			"Waiter.Wait": func(ctx context.Context) error {
				_, err := lifecycle.NewWaiter(c, o).Wait(ctx, id, lifecycle.StateRunning)
				return err
			},
			"SnapshotWaiter.Wait": func(ctx context.Context) error {
				_, err := lifecycle.NewSnapshotWaiter(c, o).Wait(ctx, "snap", lifecycle.SnapshotReady)
				return err
			},
			"CreateAndWait": func(ctx context.Context) error {
				_, err := c.CreateAndWait(ctx, busyboxReq(), &lifecycle.CreateAndWaitOptions{Wait: o})
				return err
			},
			"PauseAndWait":  func(ctx context.Context) error { _, err := c.PauseAndWait(ctx, id, o); return err },
			"ResumeAndWait": func(ctx context.Context) error { _, err := c.ResumeAndWait(ctx, id, o); return err },
			"DeleteAndWait": func(ctx context.Context) error { return c.DeleteAndWait(ctx, id, o) },
			"CreateSnapshotAndWait": func(ctx context.Context) error {
				_, err := c.CreateSnapshotAndWait(ctx, id, &lifecycle.CreateSnapshotAndWaitOptions{Wait: o})
				return err
			},
		}
		for name, call := range calls {
			err := call(t.Context())
			ve, ok := errors.AsType[*sandboxkit.ValidationError](err)
			if !ok || !errors.Is(err, sandboxkit.ErrInvalidInput) || ve.Field != strings.TrimSpace(field) {
				t.Errorf("%s with %+v: err = %v, want a *ValidationError of %s", name, *o, err, field)
			}
			if !strings.Contains(err.Error(), "lifecycle."+name) {
				t.Errorf("%s: message %q does not name the call", name, err)
			}
		}
	}
	if n := srv.Count(mockserver.Filter{API: mockserver.APILifecycle}); n != 0 {
		t.Errorf("%d requests sent with invalid options", n)
	}
}

func TestActionHelpers(t *testing.T) {
	t.Parallel()
	t.Run("CreateAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
			sb, err := mockClient(t, srv).CreateAndWait(t.Context(), busyboxReq(), nil)
			if err != nil || sb.State() != lifecycle.StateRunning || sb.ExpiresAt.IsZero() {
				t.Fatalf("got %+v, %v", sb, err)
			}
		})
	})
	t.Run("CreateAndWait deletes on failure", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			// Never Running in time.
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
				mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual()))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var seen []string
			sb, err := mockClient(t, srv).CreateAndWait(ctx, busyboxReq(), &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true,
				Wait: &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, tr.To) }}})
			te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
			if !ok || te.Op != "lifecycle.CreateAndWait" || sb == nil || te.ID != sb.ID || te.State != string(sb.State()) {
				t.Fatalf("got %+v, %v; want the sandbox and a *sandboxkit.WaitTimeoutError of lifecycle.CreateAndWait", sb, err)
			}
			if d := srv.Deletions(); len(d) != 1 || d[0].ID != sb.ID {
				t.Errorf("deletions %+v, want the sandbox deleted after the failed wait", d)
			}
			if len(seen) == 0 || slices.Contains(seen, "") || slices.Contains(seen, "Running") {
				t.Errorf("transitions to %v, want only the way to Running reported", seen)
			}
		})
	})
	t.Run("PauseAndWait and ResumeAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
			id := seedSandbox(t, srv, mockserver.SandboxSeed{})
			c := mockClient(t, srv)
			var seen []string
			sb, err := c.PauseAndWait(t.Context(), id, &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, tr.To) }})
			if err != nil || sb.State() != lifecycle.StatePaused {
				t.Fatalf("pause: %v, %v", sb, err)
			}
			if !slices.Equal(seen, []string{"Pausing", "Paused"}) {
				t.Errorf("transitions to %v, want Pausing, Paused", seen)
			}
			// Already paused: the 409 is resolved by a look.
			if sb, err = c.PauseAndWait(t.Context(), id, nil); err != nil || sb.State() != lifecycle.StatePaused {
				t.Fatalf("second pause: %v, %v", sb, err)
			}
			if sb, err = c.ResumeAndWait(t.Context(), id, nil); err != nil || sb.State() != lifecycle.StateRunning {
				t.Fatalf("resume: %v, %v", sb, err)
			}
		})
	})
	t.Run("ResumeAndWait of a sandbox that fails meanwhile", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
				mockserver.WithTransition(mockserver.TransitionResume, mockserver.After(time.Second)))
			id := seedSandbox(t, srv, mockserver.SandboxSeed{State: mockserver.StatePaused})
			sb, err := mockClient(t, srv).ResumeAndWait(t.Context(), id, &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) {
				if tr.To == "Resuming" {
					if err := srv.FailSandbox(id, "OOMKilled", "out of memory"); err != nil {
						t.Error(err)
					}
				}
			}})
			se, ok := errors.AsType[*sandboxkit.StateError](err)
			if !ok || se.Op != "lifecycle.ResumeAndWait" || se.State != "Failed" || se.Reason != "OOMKilled" ||
				!slices.Equal(se.Want, []string{"Running"}) || sb == nil || se.Observed != sb {
				t.Errorf("got %+v, %v; want a *sandboxkit.StateError of lifecycle.ResumeAndWait for Failed", sb, err)
			}
		})
	})
	t.Run("DeleteAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
			id := seedSandbox(t, srv, mockserver.SandboxSeed{})
			c := mockClient(t, srv)
			if err := c.DeleteAndWait(t.Context(), id, nil); err != nil {
				t.Fatal(err)
			}
			if _, ok := srv.Sandbox(id); ok {
				t.Errorf("sandbox %s still there", id)
			}
			if err := c.DeleteAndWait(t.Context(), "missing", nil); err != nil {
				t.Errorf("deleting a missing sandbox: %v", err)
			}
		})
	})
	t.Run("DeleteAndWait times out", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
				mockserver.WithTransition(mockserver.TransitionStop, mockserver.Manual()))
			id := seedSandbox(t, srv, mockserver.SandboxSeed{})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := mockClient(t, srv).DeleteAndWait(ctx, id, nil)
			te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
			if !ok || te.Op != "lifecycle.DeleteAndWait" || te.ID != id || !slices.Equal(te.Want, []string{"Terminated"}) {
				t.Errorf("err = %v, want a *sandboxkit.WaitTimeoutError of lifecycle.DeleteAndWait", err)
			}
		})
	})
}
