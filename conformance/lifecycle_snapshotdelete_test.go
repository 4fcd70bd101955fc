package conformance

import (
	"errors"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecycleSnapshotDeleteInUse: on the Docker runtime a snapshot is
// an image, so deleting it is done when the call answers, and refused
// (409, the snapshot left Deleting) while a sandbox made from it exists;
// once that sandbox is deleted, deleting again succeeds. On Kubernetes
// the restored workload does not hold the snapshot.
func TestLifecycleSnapshotDeleteInUse(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		sn := tg.snapshotOf(t, sb.ID, "in-use")
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
		err = tg.lc.DeleteSnapshot(ctx, sn.ID)
		switch tg.runtime {
		case docker:
			if !errors.Is(err, sandboxkit.ErrConflict) {
				t.Errorf("docker: DeleteSnapshot while a sandbox made from it exists = %v, want a conflict", err)
			}
			if got, err := tg.lc.GetSnapshot(ctx, sn.ID); err != nil || got.Status.State != lifecycle.SnapshotDeleting {
				t.Errorf("docker: after the refused delete: %+v, %v; want Deleting", got, err)
			}
		case kubernetes:
			// The restored workload does not hold the snapshot.
			if err != nil {
				t.Errorf("kubernetes: DeleteSnapshot while a sandbox made from it exists = %v", err)
			}
		}
		if err := tg.lc.DeleteAndWait(ctx, restored.ID, nil); err != nil {
			t.Fatalf("DeleteAndWait(restored): %v", err)
		}
		if err := tg.lc.DeleteSnapshot(ctx, sn.ID); err != nil && !(tg.runtime == kubernetes && errors.Is(err, sandboxkit.ErrNotFound)) {
			t.Errorf("DeleteSnapshot once the sandbox is gone = %v", err)
		}
		if tg.runtime == docker {
			if _, err := tg.lc.GetSnapshot(ctx, sn.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("docker: GetSnapshot right after DeleteSnapshot = %v, want not found", err)
			}
		}
	})
}
