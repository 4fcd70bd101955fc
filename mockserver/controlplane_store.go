package mockserver

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// Control plane sandbox statuses.
const (
	StatusUploading    = "UPLOADING"
	StatusBuilding     = "BUILDING"
	StatusDeploying    = "DEPLOYING"
	StatusDeployed     = "DEPLOYED"
	StatusFailed       = "FAILED"
	StatusDeactivating = "DEACTIVATING"
	StatusDeactivated  = "DEACTIVATED"
	StatusDeleting     = "DELETING"
	StatusTerminated   = "TERMINATED"
)

// Expiration policy types of the control plane.
const (
	PolicyTTLIdle   = "ttl-idle"
	PolicyTTLMaxAge = "ttl-max-age"
	PolicyDate      = "date"
)

// cpNameRE is the shape of a sandbox name (an RFC 1123 label).
var cpNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// cpPolicy is the compiled expiration of one sandbox; zero fields do not
// apply.
type cpPolicy struct {
	maxAge time.Duration
	idle   time.Duration
	date   time.Time
}

// cpSandbox is one control plane sandbox. Guarded by cpStore.mu.
type cpSandbox struct {
	tenant, name string
	seq          uint64
	// body is the sandbox as the client last wrote it (unknown fields
	// kept), with the server-managed fields removed.
	body []byte

	status                           string
	workspace, createdBy, updatedBy  string
	createdAt, updatedAt, lastUsedAt time.Time
	events                           []controlplanesrv.CoreEvent
	policy                           cpPolicy

	async
	expiry clock.Timer
	reap   clock.Timer
	guest  guestAPI
}

type cpTenant struct {
	byName map[string]*cpSandbox
	order  []*cpSandbox // by seq
}

// cpStore holds the control plane's sandboxes, by tenant and name.
type cpStore struct {
	srv *Server

	mu      sync.Mutex
	seq     uint64
	tenants map[string]*cpTenant
}

func newCPStore(srv *Server) *cpStore {
	return &cpStore{srv: srv, tenants: map[string]*cpTenant{}}
}

func (st *cpStore) tenant(name string) *cpTenant {
	t := st.tenants[name]
	if t == nil {
		t = &cpTenant{byName: map[string]*cpSandbox{}}
		st.tenants[name] = t
	}
	return t
}

func (st *cpStore) lookup(tenant, name string) (*cpSandbox, *opError) {
	if t := st.tenants[tenant]; t != nil {
		if sb := t.byName[name]; sb != nil {
			return sb, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "sandbox %q not found", name)
}

func (st *cpStore) insert(sb *cpSandbox) {
	st.seq++
	sb.seq = st.seq
	t := st.tenant(sb.tenant)
	t.byName[sb.name] = sb
	t.order = append(t.order, sb)
}

func (st *cpStore) remove(sb *cpSandbox) {
	t := st.tenants[sb.tenant]
	if t == nil || t.byName[sb.name] != sb {
		return
	}
	delete(t.byName, sb.name)
	t.order = removeOrdered(t.order, sb)
	sb.async.cancel()
	stopTimer(&sb.expiry)
	stopTimer(&sb.reap)
	if sb.guest != nil {
		st.srv.retireGuest(sb.guest)
		sb.guest = nil
	}
}

// setStatus moves sb to status and records an event.
func (st *cpStore) setStatus(sb *cpSandbox, status, message string) {
	sb.status = status
	now := st.srv.now()
	sb.events = append(sb.events, controlplanesrv.CoreEvent{
		Type:    controlplanesrv.NewOptString("deployment"),
		Status:  controlplanesrv.NewOptString(status),
		Message: controlplanesrv.NewOptString(message),
		Time:    controlplanesrv.NewOptString(now.Format(time.RFC3339)),
	})
	if sb.guest != nil {
		sb.guest.SetState(cpGuestState(status))
	}
}

func cpGuestState(status string) guestState {
	switch status {
	case StatusDeployed:
		return guestRunning
	case StatusDeleting, StatusTerminated:
		return guestTerminated
	}
	return guestPaused
}

func (st *cpStore) toDeploying(sb *cpSandbox) {
	st.setStatus(sb, StatusDeploying, "Deployment started")
	st.srv.sched.start(&st.mu, &sb.async, TransitionCPDeploy, func() {
		st.setStatus(sb, StatusDeployed, "Deployment successful")
	})
}

func (st *cpStore) toDeleting(sb *cpSandbox, reason, requestID string) {
	stopTimer(&sb.expiry)
	st.setStatus(sb, StatusDeleting, "Deletion started")
	st.srv.journal.deleted(Deletion{API: APIControlPlane, ID: sb.name, Tenant: sb.tenant, Time: st.srv.now(), RequestID: requestID, Reason: reason})
	st.srv.sched.start(&st.mu, &sb.async, TransitionCPDelete, func() {
		st.setStatus(sb, StatusTerminated, "Sandbox terminated")
		st.armReap(sb)
	})
}

func (st *cpStore) armReap(sb *cpSandbox) {
	st.srv.armReap(&sb.reap, &st.mu, func() bool { return sb.status == StatusTerminated }, func() { st.remove(sb) })
}

// deadline is when sb's policies delete it; zero when none applies.
func (sb *cpSandbox) deadline() time.Time {
	var d time.Time
	earlier := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if sb.policy.maxAge > 0 {
		earlier(sb.createdAt.Add(sb.policy.maxAge))
	}
	if sb.policy.idle > 0 {
		earlier(sb.lastUsedAt.Add(sb.policy.idle))
	}
	if !sb.policy.date.IsZero() {
		earlier(sb.policy.date)
	}
	return d
}

// armExpiry (re)schedules the policy check of sb.
func (st *cpStore) armExpiry(sb *cpSandbox) {
	stopTimer(&sb.expiry)
	if sb.status == StatusDeleting || sb.status == StatusTerminated {
		return
	}
	dl := sb.deadline()
	if dl.IsZero() {
		return
	}
	sb.expiry = st.srv.clock.AfterFunc(dl.Sub(st.srv.clock.Now()), func() {
		defer st.srv.buryGuests()
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.srv.closed.Load() {
			return
		}
		if t := st.tenants[sb.tenant]; t == nil || t.byName[sb.name] != sb {
			return
		}
		if sb.status == StatusDeleting || sb.status == StatusTerminated {
			return
		}
		sb.expiry = nil
		// A ttl-idle deadline moves when the sandbox is used: check again.
		if now := st.srv.clock.Now(); now.Before(sb.deadline()) {
			st.armExpiry(sb)
			return
		}
		st.toDeleting(sb, "expired", "")
	})
}

// compilePolicy reads the expiration settings of spec.
func compilePolicy(spec *controlplanesrv.SandboxSpec) (cpPolicy, *opError) {
	var p cpPolicy
	minDur := func(cur *time.Duration, d time.Duration) {
		if *cur == 0 || d < *cur {
			*cur = d
		}
	}
	minDate := func(t time.Time) {
		if p.date.IsZero() || t.Before(p.date) {
			p.date = t
		}
	}
	if rt, ok := spec.Runtime.Get(); ok {
		if v, ok := rt.TTL.Get(); ok && v != "" {
			d, err := parseTTL(v)
			if err != nil {
				return p, errorf(http.StatusBadRequest, "spec.runtime.ttl: %v", err)
			}
			minDur(&p.maxAge, d)
		}
		if v, ok := rt.Expires.Get(); ok && v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return p, errorf(http.StatusBadRequest, "spec.runtime.expires: %q is not an RFC 3339 time", v)
			}
			minDate(t)
		}
	}
	lc, ok := spec.Lifecycle.Get()
	if !ok {
		return p, nil
	}
	for i, pol := range lc.ExpirationPolicies {
		typ, val, action := pol.Type.Or(""), pol.Value.Or(""), pol.Action.Or("delete")
		if action != "delete" {
			return p, errorf(http.StatusBadRequest, "spec.lifecycle.expirationPolicies[%d].action: %q is not supported (only delete)", i, action)
		}
		switch typ {
		case PolicyTTLIdle, PolicyTTLMaxAge:
			d, err := parseTTL(val)
			if err != nil {
				return p, errorf(http.StatusBadRequest, "spec.lifecycle.expirationPolicies[%d].value: %v", i, err)
			}
			if typ == PolicyTTLIdle {
				minDur(&p.idle, d)
			} else {
				minDur(&p.maxAge, d)
			}
		case PolicyDate:
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				return p, errorf(http.StatusBadRequest, "spec.lifecycle.expirationPolicies[%d].value: %q is not an RFC 3339 time", i, val)
			}
			minDate(t)
		default:
			return p, errorf(http.StatusBadRequest, "spec.lifecycle.expirationPolicies[%d].type: %q is not one of ttl-idle, ttl-max-age, date", i, typ)
		}
	}
	return p, nil
}

// parseTTL reads a duration such as 30m, 24h, 1h30m, 7d or 2w.
func parseTTL(s string) (time.Duration, error) {
	var d time.Duration
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.ParseInt(s[:n-1], 10, 64)
		if err != nil || v <= 0 || v > math.MaxInt64/int64(7*24*time.Hour) {
			return 0, fmt.Errorf("%q is not a duration such as 30m, 24h or 7d", s)
		}
		d = time.Duration(v) * 24 * time.Hour
		if s[n-1] == 'w' {
			d *= 7
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration such as 30m, 24h or 7d", s)
	}
	return d, nil
}

// cleanBody strips the fields the server manages and returns the JSON the
// store keeps.
func cleanBody(in *controlplanesrv.Sandbox) ([]byte, error) {
	c := *in
	c.Status.Reset()
	c.Events = nil
	c.ExpiresIn.Reset()
	c.LastUsedAt.Reset()
	c.TTL.Reset()
	c.Metadata.Workspace.Reset()
	c.Metadata.URL.Reset()
	c.Metadata.CreatedAt.Reset()
	c.Metadata.UpdatedAt.Reset()
	c.Metadata.CreatedBy.Reset()
	c.Metadata.UpdatedBy.Reset()
	return c.MarshalJSON()
}

// create adds a DEPLOYING sandbox.
func (st *cpStore) create(tenant, workspace, requestID string, in *controlplanesrv.Sandbox) (controlplanesrv.Sandbox, *opError) {
	name := in.Metadata.Name
	if !cpNameRE.MatchString(name) || len(name) > 63 {
		return controlplanesrv.Sandbox{}, errorf(http.StatusBadRequest, "metadata.name %q must be 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit", name)
	}
	pol, perr := compilePolicy(&in.Spec)
	if perr != nil {
		return controlplanesrv.Sandbox{}, perr
	}
	body, err := cleanBody(in)
	if err != nil {
		return controlplanesrv.Sandbox{}, errorf(http.StatusBadRequest, "sandbox: %v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := st.lookup(tenant, name); err == nil {
		return controlplanesrv.Sandbox{}, errorf(http.StatusConflict, "sandbox %q already exists", name)
	}
	now := st.srv.now()
	sb := &cpSandbox{
		tenant: tenant, name: name, body: body,
		workspace: workspace, createdBy: tenant, updatedBy: tenant,
		createdAt: now, updatedAt: now, lastUsedAt: now,
		policy: pol,
	}
	st.insert(sb)
	st.srv.journal.created(Creation{API: APIControlPlane, ID: name, Tenant: tenant, Time: now, RequestID: requestID, Metadata: in.Metadata.Labels.Or(nil)})
	st.toDeploying(sb)
	st.armExpiry(sb)
	return st.view(sb), nil
}

func (st *cpStore) get(tenant, name string) (controlplanesrv.Sandbox, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	return st.view(sb), nil
}

func (st *cpStore) list(tenant string) []controlplanesrv.Sandbox {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []controlplanesrv.Sandbox{}
	if t := st.tenants[tenant]; t != nil {
		for _, sb := range t.order {
			out = append(out, st.view(sb))
		}
	}
	return out
}

// update replaces the definition of tenant's sandbox name.
func (st *cpStore) update(tenant, name string, in *controlplanesrv.Sandbox) (controlplanesrv.Sandbox, *opError) {
	if in.Metadata.Name != name {
		return controlplanesrv.Sandbox{}, errorf(http.StatusBadRequest, "metadata.name %q does not match the path's %q", in.Metadata.Name, name)
	}
	pol, perr := compilePolicy(&in.Spec)
	if perr != nil {
		return controlplanesrv.Sandbox{}, perr
	}
	body, err := cleanBody(in)
	if err != nil {
		return controlplanesrv.Sandbox{}, errorf(http.StatusBadRequest, "sandbox: %v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, oerr := st.lookup(tenant, name)
	if oerr != nil {
		return controlplanesrv.Sandbox{}, oerr
	}
	if sb.status == StatusDeleting || sb.status == StatusTerminated {
		return controlplanesrv.Sandbox{}, errorf(http.StatusConflict, "sandbox %q is %s", name, sb.status)
	}
	sb.body, sb.policy = body, pol
	sb.updatedAt, sb.updatedBy = st.srv.now(), tenant
	st.armExpiry(sb)
	return st.view(sb), nil
}

// delete starts deleting tenant's sandbox name; deleting one already on
// its way out answers it as it is.
func (st *cpStore) delete(tenant, name, requestID string) (controlplanesrv.Sandbox, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	if sb.status != StatusDeleting && sb.status != StatusTerminated {
		st.toDeleting(sb, "user_delete", requestID)
	}
	return st.view(sb), nil
}

// sandboxURL is the base URL of the sandbox API of tenant's sandbox name.
func (st *cpStore) sandboxURL(tenant, name string) string {
	return st.srv.URL() + "/cp/" + url.PathEscape(tenant) + "/" + url.PathEscape(name)
}

// view renders sb for the wire. Called with st.mu held.
func (st *cpStore) view(sb *cpSandbox) controlplanesrv.Sandbox {
	var v controlplanesrv.Sandbox
	if err := v.UnmarshalJSON(sb.body); err != nil {
		// The body was produced by MarshalJSON; this cannot happen.
		panic(fmt.Sprintf("mockserver: stored sandbox does not decode: %v", err))
	}
	v.Metadata.Name = sb.name
	if sb.workspace != "" {
		v.Metadata.Workspace = controlplanesrv.NewOptString(sb.workspace)
	}
	v.Metadata.URL = controlplanesrv.NewOptString(st.sandboxURL(sb.tenant, sb.name))
	v.Metadata.CreatedAt = controlplanesrv.NewOptString(sb.createdAt.Format(time.RFC3339))
	v.Metadata.UpdatedAt = controlplanesrv.NewOptString(sb.updatedAt.Format(time.RFC3339))
	v.Metadata.CreatedBy = controlplanesrv.NewOptString(sb.createdBy)
	v.Metadata.UpdatedBy = controlplanesrv.NewOptString(sb.updatedBy)
	v.Status = controlplanesrv.NewOptString(sb.status)
	v.Events = slices.Clone(sb.events)
	v.LastUsedAt = controlplanesrv.NewOptString(sb.lastUsedAt.Format(time.RFC3339))
	if dl := sb.deadline(); !dl.IsZero() && sb.status != StatusDeleting && sb.status != StatusTerminated {
		left := dl.Sub(st.srv.clock.Now())
		secs := int64(math.Ceil(left.Seconds()))
		v.ExpiresIn = controlplanesrv.NewOptInt(int(max(secs, 0)))
		v.TTL = controlplanesrv.NewOptInt(int(dl.Unix()))
	}
	return v
}

// env is the environment of sb's processes: spec.runtime.envs.
func (sb *cpSandbox) env() map[string]string {
	var v controlplanesrv.Sandbox
	if err := v.UnmarshalJSON(sb.body); err != nil {
		return nil
	}
	rt, ok := v.Spec.Runtime.Get()
	if !ok || len(rt.Envs) == 0 {
		return nil
	}
	env := make(map[string]string, len(rt.Envs))
	for _, e := range rt.Envs {
		if name, ok := e.Name.Get(); ok && name != "" {
			env[name] = e.Value.Or("")
		}
	}
	return env
}

// guestFor returns the sandbox API simulator of tenant's sandbox name,
// creating it on first use, and records the use.
func (st *cpStore) guestFor(tenant, name string) (guestAPI, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return nil, false
	}
	if sb.guest == nil {
		sb.guest = st.srv.newGuest(sb.env())
		sb.guest.SetState(cpGuestState(sb.status))
	}
	sb.lastUsedAt = st.srv.now()
	return sb.guest, true
}

// step completes the pending transition of the sandbox called name (in
// any tenant; ambiguous names are an error).
func (st *cpStore) step(name string) (TransitionKind, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var found *cpSandbox
	tenant, n, ok := strings.Cut(name, "/")
	for tname, t := range st.tenants {
		key := name
		if ok {
			if tname != tenant {
				continue
			}
			key = n
		}
		if sb := t.byName[key]; sb != nil {
			if found != nil {
				return "", true, fmt.Errorf("mockserver: sandbox name %q exists in several tenants; use \"tenant/name\"", name)
			}
			found = sb
		}
	}
	if found == nil {
		return "", false, nil
	}
	k, err := found.async.step()
	return k, true, err
}

func (st *cpStore) pending(out []PendingTransition) []PendingTransition {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.tenants {
		for _, sb := range t.order {
			if p := sb.pending; p != nil {
				out = append(out, PendingTransition{Kind: p.kind, ID: sb.name, Tenant: sb.tenant, Manual: p.manual})
			}
		}
	}
	return out
}

func (st *cpStore) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.tenants {
		for _, sb := range t.order {
			sb.async.cancel()
			stopTimer(&sb.expiry)
			stopTimer(&sb.reap)
			if sb.guest != nil {
				st.srv.retireGuest(sb.guest)
				sb.guest = nil
			}
		}
	}
}
