package mockserver

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// SandboxSeed describes a lifecycle sandbox to add with
// [Server.AddSandbox]. Zero fields get defaults.
type SandboxSeed struct {
	// ID defaults to a new UUID. It must be unique and path-safe.
	ID string
	// State defaults to Running. Which states exist depends on the
	// runtime: Docker has Pending (a container that never started),
	// Running, Paused, Terminated, Failed and Unknown; Kubernetes has
	// Pending, Allocated, Running, Pausing, Paused, Resuming and Failed. A
	// Kubernetes seed in a passing state (Pending, Allocated, Pausing,
	// Resuming) goes on like a live sandbox.
	State string
	// Reason and Message default to the runtime's for the state.
	Reason, Message string
	// ExitCode is the entrypoint's exit code of a Docker sandbox seeded
	// Failed (default 1); it is 0 for Terminated.
	ExitCode int
	// Image defaults to "python:3.11" (unless SnapshotID is set).
	Image string
	// SnapshotID marks the sandbox as restored from that snapshot.
	SnapshotID string
	// Entrypoint defaults to ["tail", "-f", "/dev/null"]. On the Docker
	// runtime a Running seed whose entrypoint the mock recognises exits
	// as a created one would (see [RuntimeDocker]), counting from now.
	Entrypoint []string
	// Metadata is the sandbox's metadata: valid Kubernetes label keys and
	// values, no opensandbox.io/ keys.
	Metadata map[string]string
	// Env is the environment of its processes (the sandbox API's).
	Env map[string]string
	// CreatedAt defaults to now on the server's clock.
	CreatedAt time.Time
	// ExpiresAt is when the sandbox expires; zero never.
	ExpiresAt time.Time
}

// SandboxInfo is a lifecycle sandbox as the server holds it.
type SandboxInfo struct {
	// ID and Tenant identify the sandbox.
	ID, Tenant string
	// State, Reason and Message are its status.
	State, Reason, Message string
	// ExitCode is the entrypoint's exit code once it has exited (Docker).
	ExitCode int
	// Image is the image URI ("" when restored from a snapshot);
	// SnapshotID the snapshot it was restored from, if any.
	Image, SnapshotID string
	// Entrypoint is its main process.
	Entrypoint []string
	// Metadata and Env are copies of its metadata and environment.
	Metadata, Env map[string]string
	// CreatedAt is when it was created, LastTransitionAt what its status
	// reports as the last transition.
	CreatedAt, LastTransitionAt time.Time
	// ExpiresAt is when it expires; zero when never.
	ExpiresAt time.Time
	// PendingTransition is the kind of the transition in progress, or "".
	PendingTransition TransitionKind
}

// SnapshotInfo is a snapshot as the server holds it.
type SnapshotInfo struct {
	// ID and Tenant identify the snapshot; SandboxID is its source.
	ID, Tenant, SandboxID string
	// Name is its optional name.
	Name string
	// State, Reason and Message are its status.
	State, Reason, Message string
	// CreatedAt is when it was taken.
	CreatedAt time.Time
}

var seedIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// seedStates lists the states a seed may have on each runtime.
var seedStates = map[Runtime][]string{
	RuntimeDocker:     {StatePending, StateRunning, StatePaused, StateTerminated, StateFailed, StateUnknown},
	RuntimeKubernetes: {StatePending, StateAllocated, StateRunning, StatePausing, StatePaused, StateResuming, StateFailed},
}

// AddSandbox adds a lifecycle sandbox owned by tenant ("" for
// [DefaultTenant]) in any state its runtime has, and returns its id. Its
// expiry runs as for a sandbox created through the API. Seeds are not
// recorded in [Server.Creations].
func (s *Server) AddSandbox(tenant string, seed SandboxSeed) (string, error) {
	if s.proxy != nil {
		return "", ErrProxyMode
	}
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	return s.addSandbox(tenant, seed)
}

func (s *Server) addSandbox(tenant string, seed SandboxSeed) (string, error) {
	st := s.lc
	tenant = cmpOr(tenant, DefaultTenant)
	state := cmpOr(seed.State, StateRunning)
	if !slices.Contains(seedStates[st.rt], state) {
		return "", invalidf("mockserver: AddSandbox: state %q does not exist on %s (want one of %s)", seed.State, st.rt, strings.Join(seedStates[st.rt], ", "))
	}
	id := seed.ID
	if id == "" {
		id = uuid.NewString()
	} else if !seedIDRE.MatchString(id) {
		return "", invalidf("mockserver: AddSandbox: id %q is not path-safe", id)
	}
	if err := checkCreateLabels(seed.Metadata); err != nil {
		return "", invalidf("mockserver: AddSandbox: %s", err.msg)
	}
	if seed.ExitCode < 0 || seed.ExitCode > 255 || (seed.ExitCode != 0 && state != StateFailed) {
		return "", invalidf("mockserver: AddSandbox: exit code %d needs state Failed and a value in 1..255", seed.ExitCode)
	}
	now := st.now()
	sb := &lcSandbox{
		id:         id,
		tenant:     tenant,
		snapshotID: seed.SnapshotID,
		entrypoint: slices.Clone(seed.Entrypoint),
		labels:     maps.Clone(seed.Metadata),
		metadata:   maps.Clone(seed.Metadata),
		env:        maps.Clone(seed.Env),
		createdAt:  seed.CreatedAt.UTC().Truncate(time.Microsecond),
		expiresAt:  seed.ExpiresAt.UTC().Truncate(time.Microsecond),
	}
	sb.initialExpiry = sb.expiresAt
	if seed.Image != "" || seed.SnapshotID == "" {
		sb.image = lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: cmpOr(seed.Image, "python:3.11")})
	}
	if len(sb.entrypoint) == 0 {
		sb.entrypoint = slices.Clone(defaultEntrypoint)
	}
	if sb.createdAt.IsZero() {
		sb.createdAt = now
		if st.rt == RuntimeKubernetes {
			sb.createdAt = now.Truncate(time.Second)
		}
	}
	sb.lastTransition = sb.createdAt
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.sandboxes.byID[id]; dup {
		return "", &conflictError{msg: fmt.Sprintf("mockserver: AddSandbox: id %q exists", id)}
	}
	st.insert(sb)
	switch state {
	case StatePending:
		st.toPending(sb)
	case StateAllocated:
		st.toAllocated(sb)
	case StateRunning:
		st.toRunning(sb)
		if p, ok := planExit(sb.entrypoint); ok && st.docker() {
			sb.exitAt, sb.exitCodePlan = now.Add(p.after), p.code
			if p.after == 0 {
				st.exited(sb, p.code)
			} else {
				st.armExit(sb)
			}
		}
	case StatePausing:
		st.toPausing(sb)
	case StatePaused:
		st.toPaused(sb)
	case StateResuming:
		st.toResuming(sb)
	case StateTerminated:
		st.exited(sb, 0)
	case StateFailed:
		if st.docker() {
			st.exited(sb, cmpOr(seed.ExitCode, 1))
		} else {
			st.toFailed(sb, "FAILED", "Operation failed")
		}
	case StateUnknown:
		st.setState(sb, StateUnknown, "CONTAINER_STATE_UNKNOWN", "Sandbox container is in state 'removing'.")
	}
	if seed.Reason != "" {
		sb.reason = seed.Reason
	}
	if seed.Message != "" {
		sb.message = seed.Message
	}
	if _, alive := st.sandboxes.byID[id]; alive {
		st.armExpiry(sb)
	}
	return id, nil
}

// Sandbox returns the lifecycle sandbox with id, whatever its tenant.
func (s *Server) Sandbox(id string) (SandboxInfo, bool) {
	s.world.RLock()
	defer s.world.RUnlock()
	s.lc.mu.RLock()
	defer s.lc.mu.RUnlock()
	sb, ok := s.lc.sandboxes.byID[id]
	if !ok {
		return SandboxInfo{}, false
	}
	return sb.info(), true
}

// Sandboxes returns every lifecycle sandbox of every tenant, in creation
// order within each tenant, tenants sorted by name.
func (s *Server) Sandboxes() []SandboxInfo {
	s.world.RLock()
	defer s.world.RUnlock()
	s.lc.mu.RLock()
	defer s.lc.mu.RUnlock()
	var out []SandboxInfo
	for _, t := range slices.Sorted(maps.Keys(s.lc.sandboxes.byTenant)) {
		for _, sb := range s.lc.sandboxes.byTenant[t] {
			out = append(out, sb.info())
		}
	}
	return out
}

func (sb *lcSandbox) info() SandboxInfo {
	in := SandboxInfo{
		ID: sb.id, Tenant: sb.tenant,
		State: sb.state, Reason: sb.reason, Message: sb.message, ExitCode: sb.exitCode,
		SnapshotID: sb.snapshotID,
		Entrypoint: slices.Clone(sb.entrypoint),
		Metadata:   maps.Clone(sb.metadata),
		Env:        maps.Clone(sb.env),
		CreatedAt:  sb.createdAt, LastTransitionAt: sb.lastTransition,
		ExpiresAt: sb.expiresAt,
	}
	if img, ok := sb.image.Get(); ok && sb.snapshotID == "" {
		in.Image = img.URI
	}
	if sb.pending != nil {
		in.PendingTransition = sb.pending.kind
	}
	return in
}

// FailSandbox moves a lifecycle sandbox to Failed with reason and message
// (defaults: on Docker CONTAINER_EXITED_ERROR and "exited with code 1",
// on Kubernetes FAILED and "Operation failed"), cancelling any transition
// in progress. A sandbox being deleted cannot fail.
func (s *Server) FailSandbox(id, reason, message string) error {
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	return s.lc.fail(id, reason, message)
}

// ExitSandbox makes the entrypoint of a Docker-runtime sandbox exit with
// code (0 to 255): the sandbox becomes Terminated (code 0, reason
// CONTAINER_EXITED) or Failed (CONTAINER_EXITED_ERROR, "exited with code
// N") and stays listed until it is deleted or expires. It is an error on
// [RuntimeKubernetes] and for a sandbox whose entrypoint has already
// exited.
func (s *Server) ExitSandbox(id string, code int) error {
	if code < 0 || code > 255 {
		return invalidf("mockserver: ExitSandbox: exit code %d not in 0..255", code)
	}
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	return s.lc.exit(id, code)
}

// SnapshotSeed describes a snapshot to add with [Server.AddSnapshot].
type SnapshotSeed struct {
	// ID defaults to a new UUID.
	ID string
	// SandboxID is the sandbox it was taken from; it need not exist.
	SandboxID string
	// Name is its optional name.
	Name string
	// State defaults to Ready; a Creating or Deleting seed moves on like
	// a live snapshot.
	State string
	// Image is what sandboxes restored from it report as their image
	// (inspection only: the lifecycle API shows their snapshotId instead).
	Image string
}

// AddSnapshot adds a snapshot owned by tenant ("" for [DefaultTenant])
// and returns its id.
func (s *Server) AddSnapshot(tenant string, seed SnapshotSeed) (string, error) {
	if s.proxy != nil {
		return "", ErrProxyMode
	}
	s.world.RLock()
	defer s.world.RUnlock()
	return s.addSnapshot(tenant, seed)
}

func (s *Server) addSnapshot(tenant string, seed SnapshotSeed) (string, error) {
	tenant = cmpOr(tenant, DefaultTenant)
	state := cmpOr(seed.State, SnapshotReady)
	switch state {
	case SnapshotCreating, SnapshotReady, SnapshotDeleting, SnapshotFailed:
	default:
		return "", invalidf("mockserver: AddSnapshot: unknown state %q", seed.State)
	}
	id := seed.ID
	if id == "" {
		id = uuid.NewString()
	} else if !seedIDRE.MatchString(id) {
		return "", invalidf("mockserver: AddSnapshot: id %q is not path-safe", id)
	}
	sn := &lcSnapshot{
		id: id, tenant: tenant, sandboxID: seed.SandboxID, name: seed.Name,
		image: lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: cmpOr(seed.Image, "sandbox-snapshot:"+id)}),
	}
	st := s.lc
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.snapshots.byID[id]; dup {
		return "", &conflictError{msg: fmt.Sprintf("mockserver: AddSnapshot: id %q exists", id)}
	}
	sn.createdAt = st.now()
	st.insertSnapshot(sn)
	switch state {
	case SnapshotCreating:
		st.snapshotCreating(sn)
	case SnapshotReady:
		st.snapshotReady(sn)
	case SnapshotDeleting:
		st.snapshotDeleting(sn)
	case SnapshotFailed:
		st.setSnapshotState(sn, SnapshotFailed, "snapshot_runtime_failed", "Snapshot creation failed.")
	}
	return id, nil
}

// Snapshot returns the snapshot with id, whatever its tenant.
func (s *Server) Snapshot(id string) (SnapshotInfo, bool) {
	s.world.RLock()
	defer s.world.RUnlock()
	s.lc.mu.RLock()
	defer s.lc.mu.RUnlock()
	sn, ok := s.lc.snapshots.byID[id]
	if !ok {
		return SnapshotInfo{}, false
	}
	return sn.info(), true
}

// Snapshots returns every snapshot of every tenant.
func (s *Server) Snapshots() []SnapshotInfo {
	s.world.RLock()
	defer s.world.RUnlock()
	s.lc.mu.RLock()
	defer s.lc.mu.RUnlock()
	var out []SnapshotInfo
	for _, t := range slices.Sorted(maps.Keys(s.lc.snapshots.byTenant)) {
		for _, sn := range s.lc.snapshots.byTenant[t] {
			out = append(out, sn.info())
		}
	}
	return out
}

func (sn *lcSnapshot) info() SnapshotInfo {
	return SnapshotInfo{
		ID: sn.id, Tenant: sn.tenant, SandboxID: sn.sandboxID, Name: sn.name,
		State: sn.state, Reason: sn.reason, Message: sn.message, CreatedAt: sn.createdAt,
	}
}
