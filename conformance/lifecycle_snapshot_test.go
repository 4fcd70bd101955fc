package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// snapshotOf snapshots sandbox id, waits until the snapshot is Ready, and
// deletes it when the test ends.
func (tg *lifecycleTarget) snapshotOf(t *testing.T, id, name string) *lifecycle.Snapshot {
	t.Helper()
	sn, err := tg.lc.CreateSnapshotAndWait(tg.ctx(t), id, &lifecycle.CreateSnapshotAndWaitOptions{Create: &lifecycle.CreateSnapshotOptions{Name: name}})
	if sn != nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := tg.lc.DeleteSnapshot(ctx, sn.ID); err != nil && !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("cleanup: deleting snapshot %s: %v", sn.ID, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("CreateSnapshotAndWait: %v", err)
	}
	return sn
}

// TestLifecycleSnapshots: a snapshot of a Running sandbox is Creating or
// Ready at once and Ready after WaitForSnapshot; it can be read, listed
// by sandbox and state, restored into a new sandbox, and deleted.
func TestLifecycleSnapshots(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))

		sn, err := tg.lc.CreateSnapshot(ctx, sb.ID, &lifecycle.CreateSnapshotOptions{Name: "first"})
		if err != nil {
			t.Fatalf("CreateSnapshot: %v", err)
		}
		t.Cleanup(func() { _ = tg.lc.DeleteSnapshot(context.Background(), sn.ID) })
		if sn.ID == "" || sn.SandboxID != sb.ID || sn.Name != "first" ||
			(sn.Status.State != lifecycle.SnapshotCreating && sn.Status.State != lifecycle.SnapshotReady) {
			t.Errorf("CreateSnapshot = %+v", sn)
		}
		ready, err := lifecycle.NewSnapshotWaiter(tg.lc, nil).Wait(ctx, sn.ID, lifecycle.SnapshotReady)
		if err != nil || ready.Status.State != lifecycle.SnapshotReady {
			t.Fatalf("WaitForSnapshot = %+v, %v", ready, err)
		}
		got, err := tg.lc.GetSnapshot(ctx, sn.ID)
		if err != nil || got.ID != sn.ID || got.SandboxID != sb.ID || got.Name != "first" || got.CreatedAt.IsZero() {
			t.Errorf("GetSnapshot = %+v, %v", got, err)
		}

		second := tg.snapshotOf(t, sb.ID, "second")
		page, err := tg.lc.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{SandboxID: sb.ID})
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, s := range page.Items {
			listed = append(listed, s.ID)
		}
		// Newest first, as sandboxes.
		if want := []string{second.ID, sn.ID}; !slices.Equal(listed, want) || page.TotalItems != 2 {
			t.Errorf("ListSnapshots(sandbox) = %v (%d in all), want %v", listed, page.TotalItems, want)
		}
		var all []string
		for s, err := range tg.lc.AllSnapshots(ctx, &lifecycle.ListSnapshotsOptions{SandboxID: sb.ID, States: []lifecycle.SnapshotState{lifecycle.SnapshotReady}, PageSize: 1}) {
			if err != nil {
				t.Fatalf("AllSnapshots: %v", err)
			}
			all = append(all, s.ID)
		}
		if !slices.Equal(all, listed) {
			t.Errorf("AllSnapshots(Ready, 1 per page) = %v, want %v", all, listed)
		}

		// Restore: resource limits are required (OpenSandbox), so a nil
		// request is refused; the entrypoint may be left out.
		if bad, err := tg.lc.CreateFromSnapshot(ctx, sn.ID, nil, nil); !rejectedInput(err) {
			if bad != nil {
				tg.cleanup(t, bad.ID)
			}
			t.Errorf("CreateFromSnapshot(nil request) = %+v, %v; want a bad request (no resource limits)", bad, err)
		}
		req := &lifecycle.CreateRequest{
			ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"},
			Metadata:       map[string]string{runLabel: tg.run},
		}
		restored, err := tg.lc.CreateFromSnapshot(ctx, sn.ID, req, nil)
		if restored != nil {
			tg.cleanup(t, restored.ID)
		}
		if err != nil {
			t.Fatalf("CreateFromSnapshot: %v", err)
		}
		running, err := lifecycle.NewWaiter(tg.lc, nil).Wait(ctx, restored.ID, lifecycle.StateRunning)
		if err != nil {
			t.Fatalf("restored sandbox: %+v, %v", running, err)
		}
		if running.SnapshotID != sn.ID || running.Image != nil {
			t.Errorf("restored sandbox = %+v, want snapshot %s and no image", running, sn.ID)
		}
		// Not the source's entrypoint: the service's default.
		if want := []string{"tail", "-f", "/dev/null"}; !slices.Equal(running.Entrypoint, want) {
			t.Errorf("restored entrypoint = %q, want %q", running.Entrypoint, want)
		}

		if err := tg.lc.DeleteAndWait(ctx, restored.ID, nil); err != nil {
			t.Fatalf("DeleteAndWait(restored): %v", err)
		}
		// (On Docker the restored sandbox's container holds the
		// snapshot's image: it must go first, or the delete is a 409.)
		if err := tg.lc.DeleteSnapshot(ctx, sn.ID); err != nil {
			t.Fatalf("DeleteSnapshot: %v", err)
		}
		if tg.runtime == docker {
			// An image removed before the answer: gone at once.
			if _, err := tg.lc.GetSnapshot(ctx, sn.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("docker: GetSnapshot right after DeleteSnapshot = %v, want not found", err)
			}
		}
		// Gone at once (Docker) or after Deleting: either way it is
		// never Ready again, and soon not found.
		_, err = lifecycle.NewSnapshotWaiter(tg.lc, nil).Wait(ctx, sn.ID, lifecycle.SnapshotReady)
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || (se.State != "" && se.State != string(lifecycle.SnapshotDeleting)) {
			t.Errorf("WaitForSnapshot after delete = %v, want not found or Deleting", err)
		}
	})
}

// TestLifecycleSnapshotErrors: a snapshot needs a Running sandbox; an
// unknown snapshot is not found, also as a source.
func TestLifecycleSnapshotErrors(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		if _, err := tg.lc.PauseAndWait(ctx, sb.ID, nil); err != nil {
			t.Fatal(err)
		}
		if sn, err := tg.lc.CreateSnapshot(ctx, sb.ID, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			if sn != nil {
				_ = tg.lc.DeleteSnapshot(ctx, sn.ID)
			}
			t.Errorf("snapshot of a Paused sandbox = %+v, %v; want a conflict", sn, err)
		}
		unknown := "00000000-0000-4000-8000-" + tg.run[1:]
		if _, err := tg.lc.GetSnapshot(ctx, unknown); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("GetSnapshot(unknown) = %v, want not found", err)
		}
		if err := tg.lc.DeleteSnapshot(ctx, unknown); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("DeleteSnapshot(unknown) = %v, want not found", err)
		}
		req := &lifecycle.CreateRequest{ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"}, Metadata: map[string]string{runLabel: tg.run}}
		restored, err := tg.lc.CreateFromSnapshot(ctx, unknown, req, nil)
		if restored != nil {
			tg.cleanup(t, restored.ID)
		}
		if !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("CreateFromSnapshot(unknown) = %+v, %v; want not found", restored, err)
		}
	})
}
