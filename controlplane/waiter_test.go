package controlplane_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/controlplane/mockcontrolplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// gets counts the control plane's GET /sandboxes/{name} requests.
func gets(srv *mockserver.Server) int {
	return srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpGetSandbox})
}

// A sandbox that deploys is awaited; every status change reaches
// OnTransition with all its fields.
func TestWaiterWaitsForDeployed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t, mockserver.WithTransition(mockserver.TransitionCPDeploy, mockserver.After(2500*time.Millisecond)))
		if _, err := c.Create(t.Context(), box("sbx"), nil); err != nil {
			t.Fatal(err)
		}
		var seen []sandboxkit.Transition
		opts := &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Second,
			OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, tr) }}
		start := time.Now()
		sb, err := controlplane.NewWaiter(c, opts).Wait(t.Context(), "sbx", controlplane.StatusDeployed)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != controlplane.StatusDeployed || sb.Metadata.Name != "sbx" {
			t.Errorf("got %s %s", sb.Metadata.Name, sb.Status)
		}
		if n := gets(srv); n != 4 {
			t.Errorf("%d GETs, want 4 (DEPLOYING at 0, 1, 2 s; DEPLOYED at 3 s, after 2.5 s)", n)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("took %v, want 3 s (three 1 s pauses)", took)
		}
		want := []sandboxkit.Transition{
			{Kind: "sandbox", ID: "sbx", From: "", To: "DEPLOYING", Elapsed: 0},
			{Kind: "sandbox", ID: "sbx", From: "DEPLOYING", To: "DEPLOYED", Elapsed: 3 * time.Second},
		}
		if diff := cmp.Diff(want, seen, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Observed" }, cmp.Ignore())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		for _, tr := range seen {
			if sb, ok := tr.Observed.(*controlplane.Sandbox); !ok || string(sb.Status) != tr.To {
				t.Errorf("transition to %s observed %#v", tr.To, tr.Observed)
			}
		}
	})
}

// Statuses from which DEPLOYED cannot follow end the wait at once with a
// StateError that names the sandbox, the status, what was awaited and why.
func TestWaiterStopsWhereNoTargetCanFollow(t *testing.T) {
	t.Parallel()
	for _, status := range []controlplane.Status{controlplane.StatusFailed, controlplane.StatusTerminated, controlplane.StatusDeactivated, controlplane.StatusDeleting} {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				getter := mockcontrolplane.NewMockGetter(gomock.NewController(t))
				last := at("sbx", status)
				last.Events = []controlplane.Event{{Type: "deployment", Status: status, Message: "image pull failed"}}
				gomock.InOrder(
					getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusBuilding), nil),
					getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusDeploying), nil),
					getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(last, nil),
				)
				start := time.Now()
				sb, err := controlplane.NewWaiter(getter, &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Second}).
					Wait(t.Context(), "sbx", controlplane.StatusDeployed)
				if sb != nil {
					t.Errorf("got a sandbox with the error: %+v", sb)
				}
				se, ok := errors.AsType[*sandboxkit.StateError](err)
				if !ok || !errors.Is(err, sandboxkit.ErrUnexpectedState) {
					t.Fatalf("err = %v, want a *sandboxkit.StateError", err)
				}
				want := &sandboxkit.StateError{Op: "controlplane.Waiter.Wait", Kind: "sandbox", ID: "sbx", State: string(status),
					Want: []string{"DEPLOYED"}, Message: "image pull failed", Observed: last}
				if diff := cmp.Diff(want, se, controlplane.CmpSandbox...); diff != "" {
					t.Errorf("StateError (-want +got):\n%s", diff)
				}
				if msg := err.Error(); !strings.Contains(msg, "controlplane.Waiter.Wait") || !strings.Contains(msg, string(status)) {
					t.Errorf("message %q", msg)
				}
				if took := time.Since(start); took != 2*time.Second {
					t.Errorf("took %v, want 2 s (no poll after the status)", took)
				}
			})
		})
	}
}

func at(name string, s controlplane.Status) *controlplane.Sandbox {
	return &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: name}, Status: s}
}

// Statuses this package does not know, DEACTIVATING, and transient poll
// errors are waited out; a deletion target survives FAILED.
func TestWaiterWaitsOutUnknownStatuses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		getter := mockcontrolplane.NewMockGetter(gomock.NewController(t))
		gomock.InOrder(
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusUploading), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", "HIBERNATING"), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(nil, &sandboxkit.APIError{StatusCode: http.StatusBadGateway}),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusDeactivating), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusDeployed), nil),
		)
		var seen []string
		opts := &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, tr.From+">"+tr.To) }}
		sb, err := controlplane.NewWaiter(getter, opts).Wait(t.Context(), "sbx", controlplane.StatusDeployed)
		if err != nil || sb.Status != controlplane.StatusDeployed {
			t.Fatalf("got %v, %v", sb, err)
		}
		want := []string{">UPLOADING", "UPLOADING>HIBERNATING", "HIBERNATING>DEACTIVATING", "DEACTIVATING>DEPLOYED"}
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}

		// FAILED ends a wait for DEPLOYED, not one for the deletion.
		gomock.InOrder(
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusFailed), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at("sbx", controlplane.StatusDeleting), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(nil, &sandboxkit.APIError{StatusCode: http.StatusNotFound}),
		)
		sb, err = controlplane.NewWaiter(getter, nil).Wait(t.Context(), "sbx", controlplane.StatusTerminated, controlplane.StatusGone)
		if err != nil || sb != nil {
			t.Fatalf("deletion: got %+v, %v; want nil, nil", sb, err)
		}

		// Errors that are not transient end the wait as they are.
		getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(nil, &sandboxkit.APIError{StatusCode: http.StatusForbidden})
		if _, err = controlplane.NewWaiter(getter, nil).Wait(t.Context(), "sbx", controlplane.StatusGone); !errors.Is(err, sandboxkit.ErrForbidden) {
			t.Fatalf("err = %v, want ErrForbidden", err)
		}
	})
}

// A nil *WaitOptions means the defaults: the first pause is
// DefaultWaitMinDelay (less at most a fifth of jitter).
func TestWaiterNilOptionsAreTheDefaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		getter := mockcontrolplane.NewMockGetter(gomock.NewController(t))
		var polls []time.Time
		answer := func(s controlplane.Status) func(context.Context, string, *controlplane.GetOptions) (*controlplane.Sandbox, error) {
			return func(context.Context, string, *controlplane.GetOptions) (*controlplane.Sandbox, error) {
				polls = append(polls, time.Now())
				return at("sbx", s), nil
			}
		}
		gomock.InOrder(
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).DoAndReturn(answer(controlplane.StatusDeploying)),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).DoAndReturn(answer(controlplane.StatusDeployed)),
		)
		if _, err := controlplane.NewWaiter(getter, nil).Wait(t.Context(), "sbx", controlplane.StatusDeployed); err != nil {
			t.Fatal(err)
		}
		if d := polls[1].Sub(polls[0]); d < sandboxkit.DefaultWaitMinDelay*4/5 || d > sandboxkit.DefaultWaitMinDelay {
			t.Errorf("first pause %v, want about %v", d, sandboxkit.DefaultWaitMinDelay)
		}
	})
}

// Invalid options, no targets, a bad name or no Getter are rejected
// before any request, with an error matching ErrInvalidInput.
func TestWaiterRejectsBadInputBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	srv, c := startMock(t)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"negative MinDelay": func() error {
			_, err := controlplane.NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: -1}).Wait(ctx, "ok", controlplane.StatusDeployed)
			return err
		},
		"MinDelay above MaxDelay": func() error {
			_, err := controlplane.NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: 2, MaxDelay: 1}).Wait(ctx, "ok", controlplane.StatusGone)
			return err
		},
		"no targets": func() error { _, err := controlplane.NewWaiter(c, nil).Wait(ctx, "ok"); return err },
		"empty name": func() error {
			_, err := controlplane.NewWaiter(c, nil).Wait(ctx, "", controlplane.StatusDeployed)
			return err
		},
		"no Getter": func() error {
			_, err := controlplane.NewWaiter(nil, nil).Wait(ctx, "ok", controlplane.StatusDeployed)
			return err
		},
		"CreateAndWait": func() error {
			_, err := c.CreateAndWait(ctx, box("w"), &sandboxkit.WaitOptions{MaxDelay: -1})
			return err
		},
		"DeleteAndWait": func() error {
			_, err := c.DeleteAndWait(ctx, "w", &sandboxkit.WaitOptions{MinDelay: -1})
			return err
		},
		"EnsureSandbox": func() error {
			_, err := c.EnsureSandbox(ctx, box("w"), &controlplane.EnsureOptions{Wait: &sandboxkit.WaitOptions{MinDelay: -1}})
			return err
		},
	} {
		if err := call(); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
	if n := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane}); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

// A wait that outlasts its context ends with a WaitTimeoutError naming
// the last status, how often and how long it polled; it wraps the
// context's error.
func TestWaiterTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "stuck", Status: mockserver.StatusBuilding})
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := controlplane.NewWaiter(c, nil).Wait(ctx, "stuck", controlplane.StatusDeployed)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a WaitTimeoutError wrapping the deadline", err)
		}
		if te.Op != "controlplane.Waiter.Wait" || te.Kind != "sandbox" || te.ID != "stuck" || te.State != "BUILDING" ||
			!cmp.Equal(te.Want, []string{"DEPLOYED"}) || te.Polls != gets(srv) || te.Waited > 30*time.Second {
			t.Errorf("WaitTimeoutError = %+v after %d GETs", te, gets(srv))
		}
		if sb, ok := te.Observed.(*controlplane.Sandbox); !ok || sb.Status != controlplane.StatusBuilding {
			t.Errorf("Observed = %#v", te.Observed)
		}
		if te.Polls < 5 || te.Polls > 15 {
			t.Errorf("%d GETs in 30 s: want backoff between 250 ms and 5 s", te.Polls)
		}
		if !strings.Contains(err.Error(), `"stuck" still BUILDING`) {
			t.Errorf("message %q should give the last status", err)
		}

		// Tolerated poll errors up to the deadline: the last one comes
		// with the timeout.
		id := inject(t, srv, mockserver.Fault{Operation: mockserver.OpGetSandbox, Status: http.StatusServiceUnavailable})
		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = controlplane.NewWaiter(c, &sandboxkit.WaitOptions{MaxTransient: 1000}).Wait(ctx, "stuck", controlplane.StatusDeployed)
		te, ok = errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sandboxkit.ErrUnavailable) || te.State != "" || te.Observed != nil {
			t.Fatalf("err = %#v, want a WaitTimeoutError with the deadline and the last 503, nothing observed", err)
		}
		srv.RemoveFault(id)

		// A cancelled context is a WaitTimeoutError wrapping Canceled.
		ctx, cancel = context.WithCancel(t.Context())
		time.AfterFunc(3*time.Second, cancel)
		_, err = controlplane.NewWaiter(c, nil).Wait(ctx, "stuck", controlplane.StatusDeployed)
		if !errors.Is(err, sandboxkit.ErrWaitTimeout) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want a WaitTimeoutError wrapping context.Canceled", err)
		}
	})
}

// Transient errors (here 500s that outlast the transport's own retries)
// are tolerated up to MaxTransient in a row.
func TestWaiterToleratesTransientErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t, mockserver.WithTransition(mockserver.TransitionCPDeploy, mockserver.After(10*time.Second)))
		if _, err := c.Create(t.Context(), box("sbx"), nil); err != nil {
			t.Fatal(err)
		}
		// Two GETs fail with every attempt the transport makes: two 500s
		// reach the waiter, fewer than DefaultWaitMaxTransient.
		attempts := c.Config().RetryPolicy().MaxRetries + 1
		inject(t, srv, mockserver.Fault{Operation: mockserver.OpGetSandbox, Status: http.StatusInternalServerError, Times: 2 * attempts})
		sb, err := controlplane.NewWaiter(c, nil).Wait(t.Context(), "sbx", controlplane.StatusDeployed)
		if err != nil || sb.Status != controlplane.StatusDeployed {
			t.Fatalf("got %v, %v", sb, err)
		}

		// Without tolerance the first 500 that reaches the waiter ends it.
		srv.ResetJournal()
		inject(t, srv, mockserver.Fault{Operation: mockserver.OpGetSandbox, Status: http.StatusInternalServerError})
		_, err = controlplane.NewWaiter(c, &sandboxkit.WaitOptions{MaxTransient: -1}).Wait(t.Context(), "sbx", controlplane.StatusGone)
		if !errors.Is(err, sandboxkit.ErrServer) || errors.Is(err, sandboxkit.ErrWaitTimeout) {
			t.Fatalf("err = %v, want the 500", err)
		}
		if n, want := gets(srv), c.Config().RetryPolicy().MaxRetries+1; n != want {
			t.Errorf("%d requests for a wait that tolerates no error, want %d (one GET and the transport's retries)", n, want)
		}
	})
}

// A sandbox that is gone ends a wait that does not await StatusGone with
// a StateError that matches ErrNotFound.
func TestWaiterGone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c := startMock(t)
		_, err := controlplane.NewWaiter(c, nil).Wait(t.Context(), "nope", controlplane.StatusDeployed)
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrNotFound) || se.State != "" || se.Observed != nil || se.ID != "nope" {
			t.Fatalf("err = %#v, want a StateError for a missing sandbox that matches ErrNotFound", err)
		}
		// Awaiting it makes gone a success: nil, nil.
		sb, err := controlplane.NewWaiter(c, nil).Wait(t.Context(), "nope", controlplane.StatusTerminated, controlplane.StatusGone)
		if sb != nil || err != nil {
			t.Fatalf("never was: got %+v, %v", sb, err)
		}
	})
}

// A deletion is awaited as TERMINATED (the service keeps the sandbox for
// its retention) or gone.
func TestWaiterDeletion(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c := startMock(t)
		if _, err := c.CreateAndWait(t.Context(), box("sbx"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Delete(t.Context(), "sbx"); err != nil {
			t.Fatal(err)
		}
		w := controlplane.NewWaiter(c, nil)
		sb, err := w.Wait(t.Context(), "sbx", controlplane.StatusTerminated, controlplane.StatusGone)
		if err != nil || sb == nil || sb.Status != controlplane.StatusTerminated {
			t.Fatalf("TERMINATED: got %+v, %v", sb, err)
		}
		// TERMINATED leads only to gone, after the retention.
		if _, err := w.Wait(t.Context(), "sbx", controlplane.StatusDeployed); !errors.Is(err, sandboxkit.ErrUnexpectedState) {
			t.Fatalf("waiting for DEPLOYED after TERMINATED: %v", err)
		}
		start := time.Now()
		sb, err = w.Wait(t.Context(), "sbx", controlplane.StatusGone)
		if err != nil || sb != nil {
			t.Fatalf("gone: got %+v, %v", sb, err)
		}
		if took := time.Since(start); took > mockserver.DefaultTerminatedRetention+controlplane.DefaultTerminatedRetention {
			t.Errorf("gone after %v", took)
		}
	})
}

func TestCreateAndWaitThenDeleteAndWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		sb, err := c.CreateAndWait(t.Context(), box("sbx"), nil)
		if err != nil || sb.Status != controlplane.StatusDeployed {
			t.Fatalf("CreateAndWait: %+v, %v", sb, err)
		}
		sb, err = c.DeleteAndWait(t.Context(), "sbx", nil)
		if err != nil || sb == nil || sb.Status != controlplane.StatusTerminated {
			t.Fatalf("DeleteAndWait: %+v, %v", sb, err)
		}
		if d, p := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpDeleteSandbox}),
			srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpCreateSandbox}); d != 1 || p != 1 {
			t.Errorf("%d DELETEs and %d POSTs, want 1 and 1", d, p)
		}
		// Deleting what does not exist is done at once.
		sb, err = c.DeleteAndWait(t.Context(), "never-was", nil)
		if err != nil || sb != nil {
			t.Fatalf("DeleteAndWait(missing) = %+v, %v", sb, err)
		}
	})
}

// When the wait of CreateAndWait fails, the sandbox made comes with the
// error.
func TestCreateAndWaitReturnsTheSandboxWithTheError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c := startMock(t, mockserver.WithTransition(mockserver.TransitionCPDeploy, mockserver.Manual()))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sb, err := c.CreateAndWait(ctx, box("sbx"), nil)
		if !errors.Is(err, sandboxkit.ErrWaitTimeout) || sb == nil || sb.Metadata.Name != "sbx" || sb.Status != controlplane.StatusDeploying {
			t.Fatalf("got %+v, %v; want the DEPLOYING sandbox and a WaitTimeoutError", sb, err)
		}
	})
}
