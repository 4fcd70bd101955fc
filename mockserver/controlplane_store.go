package mockserver

import (
	"container/list"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
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
	StatusBuilt        = "BUILT"
	StatusDeploying    = "DEPLOYING"
	StatusDeployed     = "DEPLOYED"
	StatusFailed       = "FAILED"
	StatusDeactivating = "DEACTIVATING"
	StatusDeactivated  = "DEACTIVATED"
	StatusDeleting     = "DELETING"
	StatusTerminated   = "TERMINATED"
)

// cpStatuses are the statuses the list filter accepts.
var cpStatuses = []string{
	StatusUploading, StatusBuilding, StatusBuilt, StatusDeploying, StatusDeployed, StatusFailed,
	StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated,
}

// Expiration policy types of the control plane.
const (
	PolicyTTLIdle   = "ttl-idle"
	PolicyTTLMaxAge = "ttl-max-age"
	PolicyDate      = "date"
)

// DefaultTerminatedRetention is how long a TERMINATED control plane
// sandbox stays visible when its spec.lifecycle.terminatedRetention does
// not say, as on the service; [WithRetention] changes it.
const DefaultTerminatedRetention = 5 * time.Minute

// Limits of the control plane.
const (
	cpMaxNameLength        = 49
	cpMaxExternalIDLength  = 64
	cpMaxDisplayNameLength = 63
	// cpNodeGeneration is the infrastructure generation every mock
	// sandbox reports.
	cpNodeGeneration = "mk3.1"
)

var (
	// cpNameRE is the shape of a sandbox name (an RFC 1123 label).
	cpNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// cpExternalIDRE is the shape of an external id.
	cpExternalIDRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// validCPName reports a name the service accepts for a new sandbox.
func validCPName(name string) bool { return len(name) <= cpMaxNameLength && cpNameRE.MatchString(name) }

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
	body       []byte
	externalID string
	displayLC  string            // lower-cased display name, for q
	labels     map[string]string // for q
	retention  time.Duration     // terminatedRetention
	extraArgs  map[string]string // fixed at creation

	status                           string
	workspace, createdBy, updatedBy  string
	createdAt, updatedAt, lastUsedAt time.Time
	events                           []controlplanesrv.CoreEvent
	infraErrors                      []controlplanesrv.InfrastructureError
	policy                           cpPolicy

	async
	expiry clock.Timer
	reap   clock.Timer
	guest  guestAPI
	// retained is its place in cpStore.terminated while it is TERMINATED.
	retained *list.Element

	previews  []*cpPreview   // by creation
	schedules []*cpSchedule  // by creation
	runs      []*cpExecution // oldest first
	snapshots []*cpSnapshot  // by creation
	ports     map[int]http.Handler
	nextSched int
	nextRun   uint64

	// listedByCreation and listedByName are where the list indexes
	// (cpStore.byCreation, cpStore.byName) filed it.
	listedByCreation, listedByName indexEntry
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
	// terminated holds the TERMINATED sandboxes (*cpSandbox) in the order
	// they terminated, so that the oldest is forgotten first beyond the
	// limit of WithTerminatedLimit; terminations and dropped count them.
	terminated   list.List
	terminations int64
	dropped      int64
	// byCreation and byName file every sandbox by status and external id
	// (see [cpStore.file]), oldest first and by name: GET /sandboxes
	// walks one of them, forwards or backwards, for each of its orders.
	byCreation, byName *listIndex[*cpSandbox]
}

func newCPStore(srv *Server) *cpStore {
	return &cpStore{
		srv: srv, tenants: map[string]*cpTenant{},
		byCreation: newListIndexOf(createdFirst, func(sb *cpSandbox) *indexEntry { return &sb.listedByCreation }),
		byName:     newListIndexOf(nameFirst, func(sb *cpSandbox) *indexEntry { return &sb.listedByName }),
	}
}

func (st *cpStore) tenant(name string) *cpTenant {
	t := st.tenants[name]
	if t == nil {
		t = &cpTenant{byName: map[string]*cpSandbox{}}
		st.tenants[name] = t
	}
	return t
}

func (st *cpStore) lookup(tenant, name string) (*cpSandbox, *cpErr) {
	if t := st.tenants[tenant]; t != nil {
		if sb := t.byName[name]; sb != nil {
			return sb, nil
		}
	}
	return nil, cpErrorf(http.StatusNotFound, cpCodeWorkloadNotFound, "sandbox %q not found", name)
}

func (st *cpStore) insert(sb *cpSandbox) {
	st.seq++
	sb.seq = st.seq
	t := st.tenant(sb.tenant)
	t.byName[sb.name] = sb
	t.order = append(t.order, sb)
	st.file(sb)
}

func (st *cpStore) remove(sb *cpSandbox) {
	t := st.tenants[sb.tenant]
	if t == nil || t.byName[sb.name] != sb {
		return
	}
	delete(t.byName, sb.name)
	t.order = removeOrdered(t.order, sb)
	if sb.retained != nil {
		st.terminated.Remove(sb.retained)
		sb.retained = nil
	}
	st.byCreation.drop(sb)
	st.byName.drop(sb)
	st.release(sb)
}

// release stops everything sb runs: transitions, timers, schedules,
// snapshots in progress and its sandbox API simulator.
func (st *cpStore) release(sb *cpSandbox) {
	sb.async.cancel()
	stopTimer(&sb.expiry)
	stopTimer(&sb.reap)
	for _, s := range sb.schedules {
		stopTimer(&s.timer)
	}
	for _, sn := range sb.snapshots {
		sn.async.cancel()
	}
	if sb.guest != nil {
		st.srv.retireGuest(sb.guest)
		sb.guest = nil
	}
}

// setStatus moves sb to status and records an event.
func (st *cpStore) setStatus(sb *cpSandbox, status, message string) {
	sb.status = status
	st.byCreation.setClass(sb, status)
	st.byName.setClass(sb, status)
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

// armReap schedules the end of a TERMINATED sandbox's retention (its
// terminatedRetention, by default five minutes), after which it is
// forgotten. Called with st.mu held.
func (st *cpStore) armReap(sb *cpSandbox) {
	stopTimer(&sb.reap)
	ret := sb.retention
	if ret == 0 {
		ret = st.srv.cfg.retention
	}
	st.terminations++
	if ret == 0 {
		st.remove(sb)
		return
	}
	if sb.retained == nil {
		sb.retained = st.terminated.PushBack(sb)
	}
	// The oldest go first; sb, the newest, stays (the limit is at least
	// one when set).
	for max := st.srv.cfg.terminatedMax; max > 0 && st.terminated.Len() > max; {
		st.remove(st.terminated.Front().Value.(*cpSandbox))
		st.dropped++
	}
	sb.reap = st.srv.clock.AfterFunc(ret, func() {
		defer st.srv.buryGuests()
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.srv.closed.Load() || sb.status != StatusTerminated {
			return
		}
		st.remove(sb)
	})
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

// cleanBody strips the fields the server manages and returns the JSON the
// store keeps.
func cleanBody(in *controlplanesrv.Sandbox) ([]byte, error) {
	c := *in
	c.Status.Reset()
	c.State.Reset()
	c.Errors = nil
	c.Events = nil
	c.ExpiresIn.Reset()
	c.LastUsedAt.Reset()
	c.NodeGeneration.Reset()
	c.TTL.Reset()
	c.Metadata.Workspace.Reset()
	c.Metadata.URL.Reset()
	c.Metadata.Plan.Reset()
	c.Metadata.CreatedAt.Reset()
	c.Metadata.UpdatedAt.Reset()
	c.Metadata.CreatedBy.Reset()
	c.Metadata.UpdatedBy.Reset()
	return c.MarshalJSON()
}

// cpDefinition is a checked sandbox definition, ready to store.
type cpDefinition struct {
	body       []byte
	policy     cpPolicy
	externalID string
	retention  time.Duration
	extraArgs  map[string]string
	labels     map[string]string
	displayLC  string
}

// define checks in (see validateCPSandbox) and prepares it for storage.
func define(in *controlplanesrv.Sandbox) (cpDefinition, *cpErr) {
	if err := validateCPSandbox(in); err != nil {
		return cpDefinition{}, err
	}
	pol, err := compilePolicy(&in.Spec)
	if err != nil {
		return cpDefinition{}, err
	}
	body, jerr := cleanBody(in)
	if jerr != nil {
		return cpDefinition{}, cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "sandbox: %v", jerr)
	}
	d := cpDefinition{
		body: body, policy: pol,
		externalID: in.Metadata.ExternalID.Or(""),
		labels:     maps.Clone(map[string]string(in.Metadata.Labels.Or(nil))),
		displayLC:  strings.ToLower(in.Metadata.DisplayName.Or("")),
	}
	if lc, ok := in.Spec.Lifecycle.Get(); ok {
		if v := lc.TerminatedRetention.Or(""); v != "" {
			d.retention, _ = parseTTL(v) // checked above
		}
	}
	if rt, ok := in.Spec.Runtime.Get(); ok {
		d.extraArgs = maps.Clone(map[string]string(rt.ExtraArgs.Or(nil)))
	}
	return d, nil
}

func (sb *cpSandbox) apply(d cpDefinition) {
	sb.body, sb.policy = d.body, d.policy
	sb.externalID, sb.retention = d.externalID, d.retention
	sb.labels, sb.displayLC = d.labels, d.displayLC
}

// gone reports a sandbox on its way out or out.
func (sb *cpSandbox) gone() bool { return sb.status == StatusDeleting || sb.status == StatusTerminated }

// creating reports a sandbox whose creation has not finished.
func (sb *cpSandbox) creating() bool {
	return sb.status == StatusUploading || sb.status == StatusBuilding || sb.status == StatusDeploying
}

// create adds a DEPLOYING sandbox. A name held by a FAILED or TERMINATED
// sandbox is taken over; one held by a live sandbox is a 409, or with
// ifNotExist answers that sandbox.
func (st *cpStore) create(tenant, workspace, requestID string, in *controlplanesrv.Sandbox, ifNotExist bool) (controlplanesrv.Sandbox, *cpErr) {
	name := in.Metadata.Name
	d, err := define(in)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, _ := st.lookup(tenant, name); old != nil {
		switch {
		case old.status == StatusTerminated || old.status == StatusFailed:
			st.remove(old)
		case old.status == StatusDeleting:
			return controlplanesrv.Sandbox{}, cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "sandbox %q is being deleted", name)
		case ifNotExist:
			return st.view(old), nil
		default:
			e := cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "sandbox %q already exists", name)
			if old.creating() {
				e.reason = cpReasonCreationInProgress
			}
			return controlplanesrv.Sandbox{}, e
		}
	}
	now := st.srv.now()
	sb := &cpSandbox{
		tenant: tenant, name: name,
		workspace: workspace, createdBy: tenant, updatedBy: tenant,
		createdAt: now, updatedAt: now, lastUsedAt: now,
		extraArgs: d.extraArgs,
	}
	sb.apply(d)
	st.insert(sb)
	st.srv.journal.created(Creation{API: APIControlPlane, ID: name, Tenant: tenant, Time: now, RequestID: requestID, Metadata: in.Metadata.Labels.Or(nil)})
	st.toDeploying(sb)
	st.armExpiry(sb)
	return st.view(sb), nil
}

func (st *cpStore) get(tenant, name string) (controlplanesrv.Sandbox, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	return st.view(sb), nil
}

// byExternalID returns tenant's newest sandbox with externalID that is not
// TERMINATED.
func (st *cpStore) byExternalID(tenant, externalID string) (controlplanesrv.Sandbox, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var best *cpSandbox
	f := listFilter{class: func(s string) bool { return s != StatusTerminated }}
	if externalID != "" {
		f.labels = map[string]string{cpExternalIDLabel: externalID}
	}
	for sb := range st.byCreation.walk(tenant, f, true, nil) {
		if sb.externalID == externalID { // the newest, the later created on a tie
			best = sb
			break
		}
	}
	if best == nil {
		return controlplanesrv.Sandbox{}, cpErrorf(http.StatusNotFound, cpCodeWorkloadNotFound, "no active sandbox with externalId %q", externalID)
	}
	return st.view(best), nil
}

// update replaces the definition of tenant's sandbox name.
func (st *cpStore) update(tenant, name string, in *controlplanesrv.Sandbox) (controlplanesrv.Sandbox, *cpErr) {
	if in.Metadata.Name != name {
		return controlplanesrv.Sandbox{}, cpErrorf(http.StatusBadRequest, "", "metadata.name %q does not match the path's %q", in.Metadata.Name, name)
	}
	d, err := define(in)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	if sb.gone() {
		return controlplanesrv.Sandbox{}, cpErrorf(http.StatusConflict, "", "sandbox %q is %s", name, sb.status)
	}
	if !maps.Equal(sb.extraArgs, d.extraArgs) {
		return controlplanesrv.Sandbox{}, cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.runtime.extraArgs cannot change after creation")
	}
	sb.apply(d)
	st.file(sb) // the external id may have changed
	sb.updatedAt, sb.updatedBy = st.srv.now(), tenant
	st.armExpiry(sb)
	return st.view(sb), nil
}

// delete starts deleting tenant's sandbox name; deleting one already on
// its way out answers it as it is.
func (st *cpStore) delete(tenant, name, requestID string) (controlplanesrv.Sandbox, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, name)
	if err != nil {
		return controlplanesrv.Sandbox{}, err
	}
	if !sb.gone() {
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
	if sb.status == StatusDeployed {
		v.State = controlplanesrv.NewOptString("RUNNING")
	}
	v.NodeGeneration = controlplanesrv.NewOptString(cpNodeGeneration)
	v.Events = slices.Clone(sb.events)
	v.Errors = slices.Clone(sb.infraErrors)
	v.LastUsedAt = controlplanesrv.NewOptString(sb.lastUsedAt.Format(time.RFC3339))
	if dl := sb.deadline(); !dl.IsZero() && !sb.gone() {
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

// guestLocked returns sb's sandbox API simulator, creating it on first
// use. Called with st.mu held.
func (st *cpStore) guestLocked(sb *cpSandbox) guestAPI {
	if sb.guest == nil {
		sb.guest = st.srv.newGuest(sb.env())
		sb.guest.SetState(cpGuestState(sb.status))
	}
	return sb.guest
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
	sb.lastUsedAt = st.srv.now()
	return st.guestLocked(sb), true
}

// step completes the pending transition of the sandbox called name, or of
// the snapshot with that id (in any tenant; ambiguous names are an
// error).
func (st *cpStore) step(name string) (TransitionKind, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var found *async
	tenant, n, ok := strings.Cut(name, "/")
	for tname, t := range st.tenants {
		key := name
		if ok {
			if tname != tenant {
				continue
			}
			key = n
		}
		var a *async
		if sb := t.byName[key]; sb != nil {
			a = &sb.async
		}
		for _, sb := range t.order {
			for _, sn := range sb.snapshots {
				if sn.id == key {
					a = &sn.async
				}
			}
		}
		if a != nil {
			if found != nil {
				return "", true, fmt.Errorf("mockserver: sandbox name %q exists in several tenants; use \"tenant/name\"", name)
			}
			found = a
		}
	}
	if found == nil {
		return "", false, nil
	}
	k, err := found.step()
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
			for _, sn := range sb.snapshots {
				if p := sn.pending; p != nil {
					out = append(out, PendingTransition{Kind: p.kind, ID: sn.id, Tenant: sb.tenant, Manual: p.manual})
				}
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
			st.release(sb)
		}
	}
}
