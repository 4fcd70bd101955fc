package mockserver

import (
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// cpSnapshot is a snapshot of a control plane sandbox. It goes pending →
// ready like a lifecycle snapshot ([TransitionSnapshotCreate]).
type cpSnapshot struct {
	id, name  string
	status    string
	createdAt time.Time
	createdBy string
	async
}

// Snapshot statuses of the control plane.
const (
	cpSnapshotPending = "pending"
	cpSnapshotReady   = "ready"
)

func newSnapshotID() string { return "snap_" + strings.ToLower(rand.Text()[:12]) }

func (st *cpStore) snapshotView(sb *cpSandbox, sn *cpSnapshot) controlplanesrv.Snapshot {
	v := controlplanesrv.Snapshot{
		ID: sn.id, SandboxName: sb.name, Workspace: sb.workspace, Status: sn.status,
		CreatedAt: sn.createdAt.Format(time.RFC3339), CreatedBy: controlplanesrv.NewOptString(sn.createdBy),
	}
	if sn.name != "" {
		v.Name = controlplanesrv.NewOptString(sn.name)
	}
	return v
}

// liveSandbox returns tenant's sandbox name unless it is gone (deleting
// or terminated), which answers 404 for its sub-resources.
func (st *cpStore) liveSandbox(tenant, name string) (*cpSandbox, *cpErr) {
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return nil, err
	}
	if sb.gone() {
		return nil, cpErrorf(http.StatusNotFound, cpCodeWorkloadNotFound, "sandbox %q is %s", name, sb.status)
	}
	return sb, nil
}

func (st *cpStore) listSnapshots(tenant, name string) ([]controlplanesrv.Snapshot, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return nil, err
	}
	out := []controlplanesrv.Snapshot{}
	for _, sn := range sb.snapshots {
		out = append(out, st.snapshotView(sb, sn))
	}
	return out, nil
}

// takeSnapshot snapshots sb. Called with st.mu held.
func (st *cpStore) takeSnapshot(sb *cpSandbox, name string) *cpSnapshot {
	sn := &cpSnapshot{id: newSnapshotID(), name: name, status: cpSnapshotPending, createdAt: st.srv.now(), createdBy: sb.tenant}
	sb.snapshots = append(sb.snapshots, sn)
	st.srv.sched.start(&st.mu, &sn.async, TransitionSnapshotCreate, func() { sn.status = cpSnapshotReady })
	return sn
}

func (st *cpStore) createSnapshot(tenant, name string, req *controlplanesrv.SnapshotRequest) (controlplanesrv.Snapshot, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.liveSandbox(tenant, name)
	if err != nil {
		return controlplanesrv.Snapshot{}, err
	}
	return st.snapshotView(sb, st.takeSnapshot(sb, req.Name.Or(""))), nil
}

func (st *cpStore) deleteSnapshot(tenant, name, id string) *cpErr {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return err
	}
	for i, sn := range sb.snapshots {
		if sn.id == id {
			sn.async.cancel()
			sb.snapshots = append(sb.snapshots[:i:i], sb.snapshots[i+1:]...)
			return nil
		}
	}
	return cpErrorf(http.StatusNotFound, cpCodeNotFound, "snapshot %q of sandbox %q not found", id, name)
}

// fork copies tenant's sandbox name: into a new DEPLOYING sandbox with
// the same definition, or (an application) into nothing the mock keeps.
// Without a snapshot id it snapshots the source first, as the answer
// names the snapshot the fork came from.
func (st *cpStore) fork(tenant, requestID, name string, req *controlplanesrv.ForkRequest) (controlplanesrv.ForkResult, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	src, err := st.liveSandbox(tenant, name)
	if err != nil {
		return controlplanesrv.ForkResult{}, err
	}
	target := req.TargetName
	switch req.TargetType {
	case "sandbox":
		if !validCPName(target) {
			return controlplanesrv.ForkResult{}, cpErrorf(http.StatusBadRequest, cpCodeInvalidName, "targetName %q is not a valid sandbox name", target)
		}
		if old, _ := st.lookup(tenant, target); old != nil && old.status != StatusTerminated && old.status != StatusFailed {
			return controlplanesrv.ForkResult{}, cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "sandbox %q already exists", target)
		}
	case "application":
		if target == "" {
			return controlplanesrv.ForkResult{}, cpErrorf(http.StatusBadRequest, "", "targetName is required")
		}
	default:
		return controlplanesrv.ForkResult{}, cpErrorf(http.StatusBadRequest, "", "targetType %q is not one of sandbox, application", req.TargetType)
	}
	if t, ok := req.Traffic.Get(); ok && (t < 0 || t > 100) {
		return controlplanesrv.ForkResult{}, cpErrorf(http.StatusBadRequest, "", "traffic %d is not a percentage", t)
	}
	snapID := req.SnapshotID.Or("")
	if snapID != "" {
		found := false
		for _, sn := range src.snapshots {
			found = found || sn.id == snapID
		}
		if !found {
			return controlplanesrv.ForkResult{}, cpErrorf(http.StatusNotFound, cpCodeNotFound, "snapshot %q of sandbox %q not found", snapID, name)
		}
	} else {
		snapID = st.takeSnapshot(src, "fork-"+target).id
	}
	if req.TargetType == "sandbox" {
		var v controlplanesrv.Sandbox
		if err := v.UnmarshalJSON(src.body); err != nil {
			return controlplanesrv.ForkResult{}, cpErrorf(http.StatusInternalServerError, "", "source sandbox: %v", err)
		}
		v.Metadata.Name = target
		v.Metadata.ExternalID.Reset()
		d, derr := define(&v)
		if derr != nil {
			return controlplanesrv.ForkResult{}, derr
		}
		if old, _ := st.lookup(tenant, target); old != nil {
			st.remove(old)
		}
		now := st.srv.now()
		sb := &cpSandbox{
			tenant: tenant, name: target, workspace: src.workspace, createdBy: tenant, updatedBy: tenant,
			createdAt: now, updatedAt: now, lastUsedAt: now, extraArgs: d.extraArgs,
		}
		sb.apply(d)
		st.insert(sb)
		st.srv.journal.created(Creation{API: APIControlPlane, ID: target, Tenant: tenant, Time: now, RequestID: requestID, Metadata: v.Metadata.Labels.Or(nil)})
		st.toDeploying(sb)
		st.armExpiry(sb)
	}
	return controlplanesrv.ForkResult{
		Type:       controlplanesrv.NewOptString(req.TargetType),
		Name:       controlplanesrv.NewOptString(target),
		SnapshotID: controlplanesrv.NewOptString(snapID),
	}, nil
}

// cpHub is the mock's fixed Sandbox Hub catalogue.
func cpHub() []controlplanesrv.HubDefinition {
	port := []controlplanesrv.Port{{Name: controlplanesrv.NewOptString("sandbox-api"), Target: 8080, Protocol: controlplanesrv.NewOptString("HTTP")}}
	def := func(name, display, image, desc string, memory int) controlplanesrv.HubDefinition {
		return controlplanesrv.HubDefinition{
			Name: controlplanesrv.NewOptString(name), DisplayName: controlplanesrv.NewOptString(display),
			Image: controlplanesrv.NewOptString(image), Description: controlplanesrv.NewOptString(desc),
			Memory: controlplanesrv.NewOptInt(memory), Ports: port,
			ComingSoon: controlplanesrv.NewOptBool(false), Enterprise: controlplanesrv.NewOptBool(false), Hidden: controlplanesrv.NewOptBool(false),
		}
	}
	return []controlplanesrv.HubDefinition{
		def("base-image", "Base image", "blaxel/base-image:latest", "A minimal Linux with the sandbox API.", 4096),
		def("py-app", "Python app", "blaxel/py-app:latest", "Python with common tools.", 4096),
		def("ts-app", "TypeScript app", "blaxel/ts-app:latest", "Node.js and TypeScript.", 4096),
	}
}
