package lifecycle_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/lifecycle/mocklifecycle"
)

type transition struct{ From, To lifecycle.State }

func TestWaitDetectsTransition(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StatePending, time.Time{}, nil)
		b.then("s", after(3*time.Second, lifecycle.StateRunning))
		c := b.client(t)
		var seen []transition
		w := lifecycle.NewWaiter(c, func(o *lifecycle.WaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
			o.OnTransition = func(from, to lifecycle.State, s *lifecycle.Sandbox) {
				if s.State() != to {
					t.Errorf("sandbox state %s, reported %s", s.State(), to)
				}
				seen = append(seen, transition{from, to})
			}
		})
		start := time.Now()
		sb, err := w.WaitForState(t.Context(), "s", lifecycle.StateRunning)
		if err != nil {
			t.Fatal(err)
		}
		if sb.State() != lifecycle.StateRunning {
			t.Errorf("state = %s", sb.State())
		}
		want := []transition{{"", lifecycle.StatePending}, {lifecycle.StatePending, lifecycle.StateRunning}}
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		// Detected promptly: within one MaxDelay of happening.
		if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
			t.Errorf("waited %v for a 3s transition", d)
		}
	})
}

func TestWaitDeadlineClampAndTimeoutError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StatePending, time.Time{}, nil)
		c := b.client(t)
		var lastPoll time.Time
		getter := getterFunc(func(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
			lastPoll = time.Now()
			return c.Get(ctx, id)
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		deadline, _ := ctx.Deadline()
		_, err := lifecycle.NewWaiter(getter, func(o *lifecycle.WaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 4*time.Second
		}).WaitForState(ctx, "s", lifecycle.StateRunning)

		te, ok := errors.AsType[*lifecycle.TimeoutError](err)
		if !ok {
			t.Fatalf("err = %v, want *TimeoutError", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v does not wrap context.DeadlineExceeded", err)
		}
		if te.LastState != lifecycle.StatePending || te.Sandbox == nil || te.Polls < 2 {
			t.Errorf("TimeoutError = %+v", te)
		}
		if now := time.Now(); now.After(deadline) {
			t.Errorf("returned %v after the deadline", now.Sub(deadline))
		}
		if gap := deadline.Sub(lastPoll); gap > 100*time.Millisecond || gap < 0 {
			t.Errorf("last poll %v before the deadline; the last sleep should be trimmed to MinDelay", gap)
		}
		if !strings.Contains(err.Error(), "still Pending") {
			t.Errorf("message %q", err)
		}
	})
}

func TestWaitPollBudget(t *testing.T) {
	t.Parallel()
	for range 10 { // the backoff is jittered: try several draws
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.seed("s", lifecycle.StatePending, time.Time{}, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := lifecycle.NewWaiter(b.client(t), func(o *lifecycle.WaiterOptions) {
				o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
			}).WaitForState(ctx, "s", lifecycle.StateRunning)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if n := b.count("GET", "/sandboxes/s"); n > 15 {
				t.Errorf("%d polls in 10s, want at most 15", n)
			}
		})
	}
}

func TestWaitToleratesTransientErrors(t *testing.T) {
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
				b := newFakeBackend()
				b.seed("s", lifecycle.StatePending, time.Time{}, nil)
				b.then("s", after(time.Second, lifecycle.StateRunning))
				var gets atomic.Int32
				b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
					if r.Method == http.MethodGet && gets.Add(1) > 1 && gets.Load() <= int32(1+tt.failures) {
						writeErr(w, 503, "UNAVAILABLE", "try later")
						return true
					}
					return false
				}
				// The transport's own retries are off, so the waiter sees
				// every 503.
				c := b.client(t, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
				sb, err := lifecycle.NewWaiter(c, func(o *lifecycle.WaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
					WaitForState(t.Context(), "s", lifecycle.StateRunning)
				if tt.wantErr == nil {
					if err != nil || sb.State() != lifecycle.StateRunning {
						t.Fatalf("got %v, %v", sb, err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if sb == nil || sb.State() != lifecycle.StatePending {
					t.Errorf("last observation = %+v, want the Pending one", sb)
				}
			})
		})
	}
}

func TestWaitFailsFastWithStateError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StatePending, time.Time{}, nil)
		b.then("s", plannedState{at: time.Now().Add(2 * time.Second), state: lifecycle.StateFailed,
			reason: "image_pull", message: "pull access denied"})
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		start := time.Now()
		_, err := b.client(t).WaitForState(ctx, "s", lifecycle.StateRunning)
		se, ok := errors.AsType[*lifecycle.StateError](err)
		if !ok || !errors.Is(err, lifecycle.ErrUnexpectedState) {
			t.Fatalf("err = %v, want *StateError", err)
		}
		want := &lifecycle.StateError{ID: "s", State: lifecycle.StateFailed, Reason: "image_pull", Message: "pull access denied",
			LastTransitionAt: start.Add(2 * time.Second), Targets: []lifecycle.State{lifecycle.StateRunning}}
		if diff := cmp.Diff(want, se, cmpIgnoreSandbox); diff != "" {
			t.Errorf("StateError (-want +got):\n%s", diff)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %v: did not fail fast", time.Since(start))
		}
		if got := err.Error(); got != `sandboxkit: sandbox "s" is Failed (image_pull: pull access denied); cannot reach Running` {
			t.Errorf("message = %q", got)
		}
	})
}

var cmpIgnoreSandbox = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Sandbox" }, cmp.Ignore())

// The unreachable-target rules of the package documentation, driven
// through scripted observations.
func TestWaitTerminalRules(t *testing.T) {
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
				_, err := lifecycle.NewWaiter(g).WaitForState(ctx, "s", tt.targets...)
				if i != len(tt.seq) {
					t.Errorf("decided after %d of %d observations (err %v)", i, len(tt.seq), err)
				}
				switch {
				case tt.ok && err != nil:
					t.Errorf("err = %v, want success", err)
				case !tt.ok && !errors.Is(err, lifecycle.ErrUnexpectedState):
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
		got, err := lifecycle.NewWaiter(g).WaitForState(t.Context(), "sbx-1", lifecycle.StateRunning)
		if err != nil || got.State() != lifecycle.StateRunning {
			t.Fatalf("got %v, %v", got, err)
		}
	})
}

func TestActionHelpers(t *testing.T) {
	t.Parallel()
	t.Run("CreateAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			c := b.client(t)
			sb, err := c.CreateAndWait(t.Context(), pythonReq, nil)
			if err != nil || sb.State() != lifecycle.StateRunning || sb.ExpiresAt.IsZero() {
				t.Fatalf("got %+v, %v", sb, err)
			}
		})
	})
	t.Run("CreateAndWait deletes on failure", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.startDelay = time.Hour // never Running in time
			c := b.client(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, err := c.CreateAndWait(ctx, pythonReq, &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
			if _, ok := errors.AsType[*lifecycle.TimeoutError](err); !ok {
				t.Fatalf("err = %v, want a *TimeoutError", err)
			}
			if b.count("DELETE", "/sandboxes/sbx-1") != 1 {
				t.Errorf("the sandbox was not deleted after the failed wait")
			}
		})
	})
	t.Run("PauseAndWait and ResumeAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.seed("s", lifecycle.StateRunning, time.Time{}, nil)
			c := b.client(t)
			sb, err := c.PauseAndWait(t.Context(), "s", nil)
			if err != nil || sb.State() != lifecycle.StatePaused {
				t.Fatalf("pause: %v, %v", sb, err)
			}
			// Already paused: the 409 is resolved by a look.
			if sb, err = c.PauseAndWait(t.Context(), "s", nil); err != nil || sb.State() != lifecycle.StatePaused {
				t.Fatalf("second pause: %v, %v", sb, err)
			}
			if sb, err = c.ResumeAndWait(t.Context(), "s", nil); err != nil || sb.State() != lifecycle.StateRunning {
				t.Fatalf("resume: %v, %v", sb, err)
			}
		})
	})
	t.Run("DeleteAndWait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.seed("s", lifecycle.StateRunning, time.Time{}, nil)
			c := b.client(t)
			if err := c.DeleteAndWait(t.Context(), "s", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteAndWait(t.Context(), "missing", nil); err != nil {
				t.Errorf("deleting a missing sandbox: %v", err)
			}
		})
	})
}
