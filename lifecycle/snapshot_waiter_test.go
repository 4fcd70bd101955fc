package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/lifecycle/mocklifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// snapshotServer starts a mock (on the bubble's fake clock) and returns
// it with a lifecycle client whose transport does not retry, so the
// waiter sees every answer.
func snapshotServer(t *testing.T, opts ...mockserver.Option) (*mockserver.Server, *lifecycle.Client) {
	t.Helper()
	srv := mockserver.Start(t, opts...)
	c, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func addSnapshot(t *testing.T, srv *mockserver.Server, seed mockserver.SnapshotSeed) string {
	t.Helper()
	id, err := srv.AddSnapshot("", seed)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSnapshotWaiterCreatingToReady(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := snapshotServer(t, mockserver.WithTransition(mockserver.TransitionSnapshotCreate, mockserver.After(3*time.Second)))
		id := addSnapshot(t, srv, mockserver.SnapshotSeed{State: mockserver.SnapshotCreating})
		start := time.Now()
		sn, err := lifecycle.NewSnapshotWaiter(c, &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second}).Wait(t.Context(), id, lifecycle.SnapshotReady)
		if err != nil {
			t.Fatal(err)
		}
		if sn.ID != id || sn.Status.State != lifecycle.SnapshotReady {
			t.Errorf("snapshot = %+v", sn)
		}
		// Detected promptly: within one MaxDelay of happening.
		if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
			t.Errorf("waited %v for a 3s transition", d)
		}
		if n := srv.Count(mockserver.Filter{Operation: "GetSnapshot"}); n < 2 {
			t.Errorf("%d polls", n)
		}
	})
}

func TestSnapshotWaiterFailsFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		seed  string // "" for no snapshot at all (404)
		state lifecycle.SnapshotState
		msg   string
	}{
		{"Failed", mockserver.SnapshotFailed, lifecycle.SnapshotFailed, `is Failed (`},
		{"Deleting", mockserver.SnapshotDeleting, lifecycle.SnapshotDeleting, `is Deleting`},
		{"not found", "", "", `not found; cannot reach Ready`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				// Deleting would otherwise vanish after 50ms and turn into a 404.
				srv, c := snapshotServer(t, mockserver.WithTransition(mockserver.TransitionSnapshotDelete, mockserver.Manual()))
				id := "snap-missing"
				if tt.seed != "" {
					id = addSnapshot(t, srv, mockserver.SnapshotSeed{State: tt.seed})
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				defer cancel()
				sn, err := lifecycle.NewSnapshotWaiter(c, nil).Wait(ctx, id, lifecycle.SnapshotReady)
				se, ok := errors.AsType[*sandboxkit.StateError](err)
				if !ok || !errors.Is(err, sandboxkit.ErrUnexpectedState) {
					t.Fatalf("err = %v, want a *sandboxkit.StateError", err)
				}
				if se.Op != "lifecycle.SnapshotWaiter.Wait" || se.Kind != "snapshot" || se.ID != id || se.State != string(tt.state) ||
					!slices.Equal(se.Want, []string{"Ready"}) || (tt.state == lifecycle.SnapshotFailed && se.Reason == "") {
					t.Errorf("StateError = %+v", se)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("message %q does not contain %q", err, tt.msg)
				}
				if tt.seed == "" {
					if !errors.Is(err, sandboxkit.ErrNotFound) || sn != nil || se.Observed != nil {
						t.Errorf("404: err = %v, snapshot = %+v", err, sn)
					}
				} else if obs, _ := se.Observed.(*lifecycle.Snapshot); sn == nil || obs != sn || sn.Status.State != tt.state || obs.Status.LastTransitionAt.IsZero() {
					t.Errorf("last observation = %+v, error's = %+v", sn, se.Observed)
				}
				if n := srv.Count(mockserver.Filter{Operation: "GetSnapshot"}); n != 1 {
					t.Errorf("%d polls, want 1: no retry of a state that cannot change", n)
				}
			})
		})
	}
}

func TestSnapshotWaiterTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := snapshotServer(t, mockserver.WithTransition(mockserver.TransitionSnapshotCreate, mockserver.Manual()))
		id := addSnapshot(t, srv, mockserver.SnapshotSeed{State: mockserver.SnapshotCreating})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		deadline, _ := ctx.Deadline()
		sn, err := lifecycle.NewSnapshotWaiter(c, &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}).Wait(ctx, id, lifecycle.SnapshotReady)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok {
			t.Fatalf("err = %v, want a *sandboxkit.WaitTimeoutError", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v does not wrap context.DeadlineExceeded", err)
		}
		if te.Op != "lifecycle.SnapshotWaiter.Wait" || te.Kind != "snapshot" || te.ID != id || te.State != string(lifecycle.SnapshotCreating) ||
			!slices.Equal(te.Want, []string{"Ready"}) || te.Observed == nil || te.Polls < 2 || sn != te.Observed || te.Waited <= 9*time.Second || te.Waited > 10*time.Second {
			t.Errorf("WaitTimeoutError = %+v, snapshot = %+v", te, sn)
		}
		if time.Now().After(deadline) {
			t.Errorf("returned %v after the deadline", time.Since(deadline))
		}
		if n := srv.Count(mockserver.Filter{Operation: "GetSnapshot"}); n > 15 || n != te.Polls {
			t.Errorf("%d polls (error says %d) in 10s", n, te.Polls)
		}
		if !strings.Contains(err.Error(), "still Creating") || !strings.Contains(err.Error(), "lifecycle.SnapshotWaiter.Wait") {
			t.Errorf("message %q", err)
		}
	})
}

func TestSnapshotWaiterTransientErrors(t *testing.T) {
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
				srv, c := snapshotServer(t, mockserver.WithTransition(mockserver.TransitionSnapshotCreate, mockserver.After(time.Second)))
				id := addSnapshot(t, srv, mockserver.SnapshotSeed{State: mockserver.SnapshotCreating})
				if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "GetSnapshot", Status: 503, Times: tt.failures}); err != nil {
					t.Fatal(err)
				}
				sn, err := lifecycle.NewSnapshotWaiter(c, &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond}).Wait(t.Context(), id, lifecycle.SnapshotReady)
				if tt.wantErr == nil {
					if err != nil || sn.Status.State != lifecycle.SnapshotReady {
						t.Fatalf("got %+v, %v", sn, err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) || sn != nil {
					t.Fatalf("got %+v, %v; want nil, %v", sn, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "lifecycle.GetSnapshot") {
					t.Errorf("message %q", err)
				}
			})
		})
	}
}

// Unknown (future) states are waited through; tested with the generated
// SnapshotGetter mock.
func TestSnapshotWaiterUnknownStateWithGomock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctrl := gomock.NewController(t)
		g := mocklifecycle.NewMockSnapshotGetter(ctrl)
		snap := func(st lifecycle.SnapshotState) *lifecycle.Snapshot {
			return &lifecycle.Snapshot{ID: "snap-1", Status: lifecycle.SnapshotStatus{State: st}}
		}
		gomock.InOrder(
			g.EXPECT().GetSnapshot(gomock.Any(), "snap-1").Return(snap(lifecycle.SnapshotCreating), nil),
			g.EXPECT().GetSnapshot(gomock.Any(), "snap-1").Return(snap("Uploading"), nil).Times(2),
			g.EXPECT().GetSnapshot(gomock.Any(), "snap-1").Return(nil, &sandboxkit.APIError{StatusCode: 503}),
			g.EXPECT().GetSnapshot(gomock.Any(), "snap-1").Return(snap(lifecycle.SnapshotReady), nil),
		)
		got, err := lifecycle.NewSnapshotWaiter(g, nil).Wait(t.Context(), "snap-1", lifecycle.SnapshotReady)
		if err != nil || got.Status.State != lifecycle.SnapshotReady {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func TestSnapshotWaiterValidation(t *testing.T) {
	t.Parallel()
	c := newClient(t, nil)
	if _, err := lifecycle.NewSnapshotWaiter(c, nil).Wait(t.Context(), "", lifecycle.SnapshotReady); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := lifecycle.NewSnapshotWaiter(c, &sandboxkit.WaitOptions{MinDelay: 2 * time.Second, MaxDelay: time.Second}).Wait(t.Context(), "snap-1", lifecycle.SnapshotReady); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("MinDelay > MaxDelay: %v", err)
	}
	if _, err := lifecycle.NewSnapshotWaiter(nil, nil).Wait(t.Context(), "snap-1", lifecycle.SnapshotReady); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("nil getter: %v", err)
	}
	if _, err := lifecycle.NewSnapshotWaiter(c, nil).Wait(t.Context(), "snap-1"); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("no target: %v", err)
	}
}

func TestCreateSnapshotAndWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := snapshotServer(t, mockserver.WithTransition(mockserver.TransitionSnapshotCreate, mockserver.After(2*time.Second)))
		sbx, err := srv.AddSandbox("", mockserver.SandboxSeed{})
		if err != nil {
			t.Fatal(err)
		}
		sn, err := c.CreateSnapshotAndWait(t.Context(), sbx, &lifecycle.CreateSnapshotAndWaitOptions{
			Create: &lifecycle.CreateSnapshotOptions{Name: "nightly"},
			Wait:   &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		if sn.Status.State != lifecycle.SnapshotReady || sn.SandboxID != sbx || sn.Name != "nightly" {
			t.Errorf("snapshot = %+v", sn)
		}
		if info, ok := srv.Snapshot(sn.ID); !ok || info.State != mockserver.SnapshotReady {
			t.Errorf("server's snapshot = %+v, %v", info, ok)
		}

		// A sandbox that cannot be snapshotted: the create's error, no wait.
		paused, err := srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StatePaused})
		if err != nil {
			t.Fatal(err)
		}
		before := srv.Count(mockserver.Filter{Operation: "GetSnapshot"})
		if sn, err := c.CreateSnapshotAndWait(t.Context(), paused, nil); !errors.Is(err, sandboxkit.ErrConflict) || sn != nil {
			t.Errorf("paused sandbox: got %+v, %v; want a conflict", sn, err)
		}
		if n := srv.Count(mockserver.Filter{Operation: "GetSnapshot"}); n != before {
			t.Errorf("%d polls after a failed create", n-before)
		}
	})
}
