package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecyclePauseResume: PauseAndWait and ResumeAndWait reach Paused
// and Running, also when the sandbox is there already; Pause and Resume
// followed by WaitForState do the same; resuming a Running sandbox is a
// conflict, pausing a Paused one leaves it Paused.
func TestLifecyclePauseResume(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))

		got, err := tg.lc.PauseAndWait(ctx, sb.ID, nil)
		if err != nil || got.State() != lifecycle.StatePaused {
			t.Fatalf("PauseAndWait = %+v, %v; want Paused", got, err)
		}
		// Pausing again: 409 (Kubernetes) or 500 (Docker, settled by a
		// read that shows Paused); either way it stays Paused.
		if err := tg.lc.Pause(ctx, sb.ID); err != nil && !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("Pause of a Paused sandbox = %v, want nil or a conflict", err)
		}
		if got, err := tg.lc.PauseAndWait(ctx, sb.ID, nil); err != nil || got.State() != lifecycle.StatePaused {
			t.Errorf("PauseAndWait of a Paused sandbox = %+v, %v; want it as it is", got, err)
		}

		got, err = tg.lc.ResumeAndWait(ctx, sb.ID, nil)
		if err != nil || got.State() != lifecycle.StateRunning {
			t.Fatalf("ResumeAndWait = %+v, %v; want Running", got, err)
		}
		if err := tg.lc.Resume(ctx, sb.ID); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("Resume of a Running sandbox = %v, want a conflict", err)
		}
		if got, err := tg.lc.ResumeAndWait(ctx, sb.ID, nil); err != nil || got.State() != lifecycle.StateRunning {
			t.Errorf("ResumeAndWait of a Running sandbox = %+v, %v; want it as it is", got, err)
		}

		if err := tg.lc.Pause(ctx, sb.ID); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		if got, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StatePaused); err != nil || got.State() != lifecycle.StatePaused {
			t.Fatalf("Waiter.Wait(Paused) = %+v, %v", got, err)
		}
		if err := tg.lc.Resume(ctx, sb.ID); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if got, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StateRunning); err != nil || got.State() != lifecycle.StateRunning {
			t.Fatalf("Waiter.Wait(Running) = %+v, %v", got, err)
		}
		if err := tg.lc.Pause(ctx, "no-such-sandbox-"+tg.run); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Pause of an unknown sandbox = %v, want not found", err)
		}
	})
}

// TestLifecyclePauseResumeTransitions: what each runtime shows right after
// Pause and Resume return.
func TestLifecyclePauseResumeTransitions(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		var seen []lifecycle.State
		w := lifecycle.NewWaiter(tg.lc, &sandboxkit.WaitOptions{
			MinDelay:     10 * time.Millisecond,
			OnTransition: func(tr sandboxkit.Transition) { seen = append(seen, lifecycle.State(tr.To)) },
		})
		if err := tg.lc.Pause(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Wait(ctx, sb.ID, lifecycle.StatePaused); err != nil {
			t.Fatal(err)
		}
		if err := tg.lc.Resume(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Wait(ctx, sb.ID, lifecycle.StateRunning); err != nil {
			t.Fatal(err)
		}
		switch tg.runtime {
		case docker:
			// Done before answering: the first read shows the end state.
			if len(seen) != 2 || seen[0] != lifecycle.StatePaused || seen[1] != lifecycle.StateRunning {
				t.Errorf("docker: states seen %v, want [Paused Running]", seen)
			}
		case kubernetes:
			// The intermediate states show (each wait's first read).
			if len(seen) < 3 || seen[0] != lifecycle.StatePausing {
				t.Errorf("kubernetes: states seen %v, want Pausing first", seen)
			}
		}
	})
}

// TestLifecycleDelete: DeleteAndWait ends with the sandbox gone (not
// found, or Terminated where the runtime keeps it); deleting again with
// DeleteAndWait succeeds, and a plain Delete of an unknown id is not
// found.
func TestLifecycleDelete(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sbs := tg.createAll(t, tg.request(t), tg.request(t))
		sb, paused := sbs[0], sbs[1]
		if err := tg.lc.DeleteAndWait(ctx, sb.ID, nil); err != nil {
			t.Fatalf("DeleteAndWait: %v", err)
		}
		got, err := tg.lc.Get(ctx, sb.ID)
		switch {
		case errors.Is(err, sandboxkit.ErrNotFound):
		case err == nil && tg.runtime == kubernetes && got.State() == lifecycle.StateTerminated:
		default:
			t.Errorf("after DeleteAndWait: Get = %+v, %v", got, err)
		}
		if err := tg.lc.DeleteAndWait(ctx, sb.ID, nil); err != nil {
			t.Errorf("DeleteAndWait again = %v, want nil", err)
		}
		if err := tg.lc.Delete(ctx, "no-such-sandbox-"+tg.run); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Delete of an unknown sandbox = %v, want not found", err)
		}

		if _, err := tg.lc.PauseAndWait(ctx, paused.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := tg.lc.DeleteAndWait(ctx, paused.ID, nil); err != nil {
			t.Errorf("DeleteAndWait of a Paused sandbox = %v", err)
		}
	})
}

// TestLifecycleDeleteRuntimes: what each runtime shows right after Delete
// returns, for a second Delete, and until the sandbox is gone. No
// Kubernetes workload provider of the OpenSandbox server reports
// Stopping: a deleted workload keeps the state it had until it is
// removed, then it is not found.
func TestLifecycleDeleteRuntimes(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		if err := tg.lc.Delete(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		got, err := tg.lc.Get(ctx, sb.ID)
		switch tg.runtime {
		case docker:
			if !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("docker: Get right after Delete = %+v, %v; want not found", got, err)
			}
			if err := tg.lc.Delete(ctx, sb.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("docker: Delete again = %v, want not found", err)
			}
		case kubernetes:
			// The state it had (Running), or Stopping should a provider
			// report it, or already gone.
			switch {
			case errors.Is(err, sandboxkit.ErrNotFound):
			case err == nil && (got.State() == sb.State() || got.State() == lifecycle.StateStopping):
			default:
				t.Errorf("kubernetes: Get right after Delete = %+v, %v; want %s, Stopping or not found", got, err, sb.State())
			}
			// The workload is being deleted: deleting it again is accepted
			// until it is gone.
			if err := tg.lc.Delete(ctx, sb.ID); err != nil && !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("kubernetes: Delete again = %v, want nil or not found", err)
			}
			// Then it is gone (a wait for Terminated counts 404 as done).
			if _, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StateTerminated); err != nil {
				t.Errorf("kubernetes: waiting for the deletion to complete: %v", err)
			}
			if got, err := tg.lc.Get(ctx, sb.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("kubernetes: Get once the deletion completed = %+v, %v; want not found", got, err)
			}
		}
	})
}

// TestLifecycleWaiter: a wait for the state the sandbox is in ends
// at once; a wait that cannot succeed ends at once with a *sandboxkit.StateError; a
// wait that runs out of time (WaitOptions.Timeout) is a
// *sandboxkit.WaitTimeoutError with the last state.
func TestLifecycleWaiter(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		if got, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StateRunning); err != nil || got.ID != sb.ID {
			t.Fatalf("Waiter.Wait(Running) = %+v, %v", got, err)
		}

		// The wait's own Timeout ends it (ctx has a far deadline); 5 s
		// leaves a loaded real server time to answer the first polls.
		got, err := lifecycle.NewWaiter(tg.lc, &sandboxkit.WaitOptions{Timeout: 5 * time.Second}).Wait(ctx, sb.ID, lifecycle.StatePaused)
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || !errors.Is(err, context.DeadlineExceeded) || te.State != string(lifecycle.StateRunning) || got == nil {
			t.Errorf("Waiter.Wait(Paused) of a Running sandbox = %+v, %v; want a *sandboxkit.WaitTimeoutError with State Running", got, err)
		}

		if err := tg.lc.DeleteAndWait(ctx, sb.ID, nil); err != nil {
			t.Fatal(err)
		}
		_, err = lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StateRunning)
		if !errors.Is(err, sandboxkit.ErrUnexpectedState) {
			t.Errorf("Waiter.Wait(Running) of a deleted sandbox = %v, want ErrUnexpectedState", err)
		}
		if _, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, sb.ID, lifecycle.StateTerminated); err != nil {
			t.Errorf("Waiter.Wait(Terminated) of a deleted sandbox = %v, want done", err)
		}
	})
}
