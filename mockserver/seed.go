package mockserver

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// SandboxSeed describes a lifecycle sandbox to add with
// [Server.AddSandbox]. Zero fields get defaults.
type SandboxSeed struct {
	// ID defaults to a new UUID. It must be unique and path-safe.
	ID string
	// State is one of the State* constants; default Running. A seed in
	// an intermediate state (Pending, Pausing, Resuming, Stopping) goes on
	// to the next state like a live one would.
	State string
	// Reason and Message default to the state's usual ones.
	Reason, Message string
	// Image defaults to "python:3.11" (unless SnapshotID is set).
	Image string
	// SnapshotID marks the sandbox as restored from that snapshot.
	SnapshotID string
	// Entrypoint defaults to ["tail", "-f", "/dev/null"].
	Entrypoint []string
	// Metadata is the sandbox's metadata (no opensandbox.io/ keys).
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
	// Image is the image URI ("" when restored from a snapshot);
	// SnapshotID the snapshot it was restored from, if any.
	Image, SnapshotID string
	// Entrypoint is its main process.
	Entrypoint []string
	// Metadata and Env are copies of its metadata and environment.
	Metadata, Env map[string]string
	// CreatedAt is when it was created, LastTransitionAt when its state
	// last changed.
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

// AddSandbox adds a lifecycle sandbox owned by tenant ("" for
// [DefaultTenant]) in any state and returns its id. Its expiry, and the
// retention of a Terminated seed, run as for a sandbox created through
// the API. Seeds are not recorded in [Server.Creations].
func (s *Server) AddSandbox(tenant string, seed SandboxSeed) (string, error) {
	defer s.buryGuests()
	tenant = cmpOr(tenant, DefaultTenant)
	state := cmpOr(seed.State, StateRunning)
	if !slices.Contains(lifecycleStates, state) {
		return "", fmt.Errorf("mockserver: AddSandbox: unknown state %q", seed.State)
	}
	id := seed.ID
	if id == "" {
		id = uuid.NewString()
	} else if !seedIDRE.MatchString(id) {
		return "", fmt.Errorf("mockserver: AddSandbox: id %q is not path-safe", id)
	}
	for k := range seed.Metadata {
		if k == "" || strings.HasPrefix(k, reservedMetadataPrefix) {
			return "", fmt.Errorf("mockserver: AddSandbox: invalid metadata key %q", k)
		}
	}
	sb := &lcSandbox{
		id:         id,
		tenant:     tenant,
		snapshotID: seed.SnapshotID,
		entrypoint: slices.Clone(seed.Entrypoint),
		metadata:   maps.Clone(seed.Metadata),
		env:        maps.Clone(seed.Env),
		createdAt:  seed.CreatedAt.UTC(),
		expiresAt:  seed.ExpiresAt.UTC(),
	}
	if seed.Image != "" || seed.SnapshotID == "" {
		sb.image = lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: cmpOr(seed.Image, "python:3.11")})
	}
	if len(sb.entrypoint) == 0 {
		sb.entrypoint = slices.Clone(defaultEntrypoint)
	}
	st := s.lc
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.sandboxes.byID[id]; dup {
		return "", fmt.Errorf("mockserver: AddSandbox: id %q exists", id)
	}
	if sb.createdAt.IsZero() {
		sb.createdAt = s.now()
	}
	st.insert(sb)
	switch state {
	case StatePending:
		st.toPending(sb)
	case StateRunning:
		st.toRunning(sb)
	case StatePausing:
		st.toPausing(sb)
	case StatePaused:
		st.setState(sb, StatePaused, "paused", "Sandbox is paused")
	case StateResuming:
		st.toResuming(sb)
	case StateStopping:
		st.toStopping(sb, cmpOr(seed.Reason, "user_delete"), "")
	case StateTerminated:
		st.setState(sb, StateTerminated, cmpOr(seed.Reason, "user_delete"), "Sandbox has been terminated")
		st.armReap(sb)
	case StateFailed:
		st.setState(sb, StateFailed, "runtime_error", "Sandbox failed")
	}
	if seed.Reason != "" {
		sb.reason = seed.Reason
	}
	if seed.Message != "" {
		sb.message = seed.Message
	}
	st.armExpiry(sb)
	return id, nil
}

// Sandbox returns the lifecycle sandbox with id, whatever its tenant.
func (s *Server) Sandbox(id string) (SandboxInfo, bool) {
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
		State: sb.state, Reason: sb.reason, Message: sb.message,
		SnapshotID: sb.snapshotID,
		Entrypoint: slices.Clone(sb.entrypoint),
		Metadata:   maps.Clone(sb.metadata),
		Env:        maps.Clone(sb.env),
		CreatedAt:  sb.createdAt, LastTransitionAt: sb.lastTransition,
		ExpiresAt: sb.expiresAt,
	}
	if img, ok := sb.image.Get(); ok {
		in.Image = img.URI
	}
	if sb.pending != nil {
		in.PendingTransition = sb.pending.kind
	}
	return in
}

// FailSandbox moves a Pending, Running, Paused or Resuming lifecycle
// sandbox to Failed with reason (default "runtime_error") and message,
// cancelling any transition in progress.
func (s *Server) FailSandbox(id, reason, message string) error {
	return s.lc.fail(id, reason, message)
}

// SnapshotSeed describes a snapshot to add with [Server.AddSnapshot].
type SnapshotSeed struct {
	// ID defaults to "snap-" and a new UUID.
	ID string
	// SandboxID is the sandbox it was taken from; it need not exist.
	SandboxID string
	// Name is its optional name.
	Name string
	// State defaults to Ready; a Creating or Deleting seed moves on like
	// a live snapshot.
	State string
	// Image is what sandboxes restored from it report as their image.
	Image string
	// Entrypoint is what sandboxes restored from it run by default.
	Entrypoint []string
}

// AddSnapshot adds a snapshot owned by tenant ("" for [DefaultTenant])
// and returns its id.
func (s *Server) AddSnapshot(tenant string, seed SnapshotSeed) (string, error) {
	tenant = cmpOr(tenant, DefaultTenant)
	state := cmpOr(seed.State, SnapshotReady)
	switch state {
	case SnapshotCreating, SnapshotReady, SnapshotDeleting, SnapshotFailed:
	default:
		return "", fmt.Errorf("mockserver: AddSnapshot: unknown state %q", seed.State)
	}
	id := seed.ID
	if id == "" {
		id = "snap-" + uuid.NewString()
	} else if !seedIDRE.MatchString(id) {
		return "", fmt.Errorf("mockserver: AddSnapshot: id %q is not path-safe", id)
	}
	sn := &lcSnapshot{
		id: id, tenant: tenant, sandboxID: seed.SandboxID, name: seed.Name,
		entrypoint: slices.Clone(seed.Entrypoint),
	}
	if seed.Image != "" {
		sn.image = lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: seed.Image})
	}
	st := s.lc
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.snapshots.byID[id]; dup {
		return "", fmt.Errorf("mockserver: AddSnapshot: id %q exists", id)
	}
	sn.createdAt = s.now()
	st.insertSnapshot(sn)
	switch state {
	case SnapshotCreating:
		st.snapshotCreating(sn)
	case SnapshotReady:
		st.setSnapshotState(sn, SnapshotReady, "snapshot_ready", "Snapshot is ready")
	case SnapshotDeleting:
		st.snapshotDeleting(sn)
	case SnapshotFailed:
		st.setSnapshotState(sn, SnapshotFailed, "snapshot_capture_failed", "Snapshot creation failed")
	}
	return id, nil
}

// Snapshot returns the snapshot with id, whatever its tenant.
func (s *Server) Snapshot(id string) (SnapshotInfo, bool) {
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

// ControlPlaneSeed describes a control plane sandbox to add with
// [Server.AddControlPlaneSandbox].
type ControlPlaneSeed struct {
	// Name is required (at most 49 lower-case letters, digits and '-').
	Name string
	// Status is one of the Status* constants; default DEPLOYED. A seed
	// DEPLOYING or DELETING moves on like a live sandbox.
	Status string
	// Image defaults to "blaxel/base-image:latest".
	Image string
	// Labels are its metadata.labels.
	Labels map[string]string
	// Policies are the expiration policies (spec.lifecycle).
	Policies []ExpirationPolicy
	// CreatedAt and LastUsedAt default to now on the server's clock.
	CreatedAt, LastUsedAt time.Time
	// Workspace defaults to the tenant.
	Workspace string
}

// ExpirationPolicy is one control plane expiration policy.
type ExpirationPolicy struct {
	// Type is PolicyTTLIdle, PolicyTTLMaxAge or PolicyDate.
	Type string
	// Value is a duration (24h, 30m, 7d) or, for PolicyDate, an RFC 3339
	// time.
	Value string
	// Action defaults to "delete", the only one supported.
	Action string
}

// ControlPlaneInfo is a control plane sandbox as the server holds it.
type ControlPlaneInfo struct {
	// Tenant and Name identify the sandbox.
	Tenant, Name string
	// Status is its status, e.g. DEPLOYED.
	Status string
	// Workspace is its metadata.workspace.
	Workspace string
	// Image is its spec.runtime.image.
	Image string
	// Labels are its metadata.labels.
	Labels map[string]string
	// URL is the base URL of its sandbox API (metadata.url).
	URL string
	// CreatedAt, UpdatedAt and LastUsedAt are its timestamps; LastUsedAt
	// moves with every sandbox API request (ttl-idle counts from it).
	CreatedAt, UpdatedAt, LastUsedAt time.Time
	// ExpiresAt is when its policies delete it; zero when none apply.
	ExpiresAt time.Time
	// PendingTransition is the kind of the transition in progress, or "".
	PendingTransition TransitionKind
}

// AddControlPlaneSandbox adds a control plane sandbox owned by tenant (""
// for [DefaultTenant]).
func (s *Server) AddControlPlaneSandbox(tenant string, seed ControlPlaneSeed) error {
	defer s.buryGuests()
	tenant = cmpOr(tenant, DefaultTenant)
	status := cmpOr(seed.Status, StatusDeployed)
	switch status {
	case StatusUploading, StatusBuilding, StatusBuilt, StatusDeploying, StatusDeployed, StatusFailed,
		StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated:
	default:
		return fmt.Errorf("mockserver: AddControlPlaneSandbox: unknown status %q", seed.Status)
	}
	if !validCPName(seed.Name) {
		return fmt.Errorf("mockserver: AddControlPlaneSandbox: invalid name %q", seed.Name)
	}
	obj := controlplanesrv.Sandbox{
		Metadata: controlplanesrv.Metadata{Name: seed.Name},
	}
	if seed.Labels != nil {
		obj.Metadata.Labels = controlplanesrv.NewOptMetadataLabels(maps.Clone(seed.Labels))
	}
	obj.Spec.Runtime = controlplanesrv.NewOptRuntime(controlplanesrv.Runtime{
		Image: controlplanesrv.NewOptString(cmpOr(seed.Image, "blaxel/base-image:latest")),
	})
	if len(seed.Policies) > 0 {
		var lc controlplanesrv.SandboxLifecycle
		for _, p := range seed.Policies {
			lc.ExpirationPolicies = append(lc.ExpirationPolicies, controlplanesrv.ExpirationPolicy{
				Type:   controlplanesrv.NewOptString(p.Type),
				Value:  controlplanesrv.NewOptString(p.Value),
				Action: controlplanesrv.NewOptString(cmpOr(p.Action, "delete")),
			})
		}
		obj.Spec.Lifecycle = controlplanesrv.NewOptSandboxLifecycle(lc)
	}
	pol, perr := compilePolicy(&obj.Spec)
	if perr != nil {
		return errors.New("mockserver: AddControlPlaneSandbox: " + perr.msg)
	}
	body, err := cleanBody(&obj)
	if err != nil {
		return fmt.Errorf("mockserver: AddControlPlaneSandbox: %w", err)
	}
	st := s.cp
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := st.lookup(tenant, seed.Name); err == nil {
		return fmt.Errorf("mockserver: AddControlPlaneSandbox: %q exists in tenant %q", seed.Name, tenant)
	}
	now := s.now()
	sb := &cpSandbox{
		tenant: tenant, name: seed.Name, body: body,
		workspace: cmpOr(seed.Workspace, tenant), createdBy: tenant, updatedBy: tenant,
		createdAt: seed.CreatedAt.UTC(), lastUsedAt: seed.LastUsedAt.UTC(),
		policy: pol,
	}
	if seed.CreatedAt.IsZero() {
		sb.createdAt = now
	}
	if seed.LastUsedAt.IsZero() {
		sb.lastUsedAt = now
	}
	sb.updatedAt = sb.createdAt
	st.insert(sb)
	switch status {
	case StatusDeploying:
		st.toDeploying(sb)
	case StatusDeleting:
		st.toDeleting(sb, "user_delete", "")
	case StatusTerminated:
		st.setStatus(sb, StatusTerminated, "Sandbox terminated")
		st.armReap(sb)
	default:
		st.setStatus(sb, status, "Seeded")
	}
	st.armExpiry(sb)
	return nil
}

// ControlPlaneSandbox returns tenant's ("" for [DefaultTenant]) control
// plane sandbox called name.
func (s *Server) ControlPlaneSandbox(tenant, name string) (ControlPlaneInfo, bool) {
	st := s.cp
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(cmpOr(tenant, DefaultTenant), name)
	if err != nil {
		return ControlPlaneInfo{}, false
	}
	return st.info(sb), true
}

// ControlPlaneSandboxes returns every control plane sandbox of every
// tenant.
func (s *Server) ControlPlaneSandboxes() []ControlPlaneInfo {
	st := s.cp
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []ControlPlaneInfo
	for _, t := range slices.Sorted(maps.Keys(st.tenants)) {
		for _, sb := range st.tenants[t].order {
			out = append(out, st.info(sb))
		}
	}
	return out
}

func (st *cpStore) info(sb *cpSandbox) ControlPlaneInfo {
	v := st.view(sb)
	in := ControlPlaneInfo{
		Tenant: sb.tenant, Name: sb.name, Status: sb.status, Workspace: sb.workspace,
		Labels:    maps.Clone(v.Metadata.Labels.Or(nil)),
		URL:       st.sandboxURL(sb.tenant, sb.name),
		CreatedAt: sb.createdAt, UpdatedAt: sb.updatedAt, LastUsedAt: sb.lastUsedAt,
		ExpiresAt: sb.deadline(),
	}
	if rt, ok := v.Spec.Runtime.Get(); ok {
		in.Image = rt.Image.Or("")
	}
	if sb.pending != nil {
		in.PendingTransition = sb.pending.kind
	}
	return in
}
