package mockserver

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

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
	// Policies are its expiration policies: spec.lifecycle's, then
	// spec.runtime.ttl as a ttl-max-age policy and spec.runtime.expires as
	// a date policy.
	Policies []ExpirationPolicy
}

// AddControlPlaneSandbox adds a control plane sandbox owned by tenant (""
// for [DefaultTenant]).
func (s *Server) AddControlPlaneSandbox(tenant string, seed ControlPlaneSeed) error {
	if s.proxy != nil {
		return ErrProxyMode
	}
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	return s.addControlPlaneSandbox(tenant, seed)
}

func (s *Server) addControlPlaneSandbox(tenant string, seed ControlPlaneSeed) error {
	tenant = cmpOr(tenant, DefaultTenant)
	status := cmpOr(seed.Status, StatusDeployed)
	switch status {
	case StatusUploading, StatusBuilding, StatusBuilt, StatusDeploying, StatusDeployed, StatusFailed,
		StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated:
	default:
		return invalidf("mockserver: AddControlPlaneSandbox: unknown status %q", seed.Status)
	}
	if !validCPName(seed.Name) {
		return invalidf("mockserver: AddControlPlaneSandbox: invalid name %q", seed.Name)
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
		return invalidf("mockserver: AddControlPlaneSandbox: %s", perr.msg)
	}
	body, err := cleanBody(&obj)
	if err != nil {
		return fmt.Errorf("mockserver: AddControlPlaneSandbox: %w", err)
	}
	st := s.cp
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := st.lookup(tenant, seed.Name); err == nil {
		return &conflictError{msg: fmt.Sprintf("mockserver: AddControlPlaneSandbox: %q exists in tenant %q", seed.Name, tenant)}
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
	s.world.RLock()
	defer s.world.RUnlock()
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
	s.world.RLock()
	defer s.world.RUnlock()
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
	if lc, ok := v.Spec.Lifecycle.Get(); ok {
		for _, p := range lc.ExpirationPolicies {
			in.Policies = append(in.Policies, ExpirationPolicy{Type: p.Type.Or(""), Value: p.Value.Or(""), Action: p.Action.Or("")})
		}
	}
	if rt, ok := v.Spec.Runtime.Get(); ok {
		in.Image = rt.Image.Or("")
		if ttl := rt.TTL.Or(""); ttl != "" {
			in.Policies = append(in.Policies, ExpirationPolicy{Type: PolicyTTLMaxAge, Value: ttl, Action: "delete"})
		}
		if exp := rt.Expires.Or(""); exp != "" {
			in.Policies = append(in.Policies, ExpirationPolicy{Type: PolicyDate, Value: exp, Action: "delete"})
		}
	}
	if sb.pending != nil {
		in.PendingTransition = sb.pending.kind
	}
	return in
}
