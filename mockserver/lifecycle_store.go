package mockserver

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// Lifecycle sandbox states.
const (
	StatePending    = "Pending"
	StateRunning    = "Running"
	StatePausing    = "Pausing"
	StatePaused     = "Paused"
	StateResuming   = "Resuming"
	StateStopping   = "Stopping"
	StateTerminated = "Terminated"
	StateFailed     = "Failed"
)

// Snapshot states.
const (
	SnapshotCreating = "Creating"
	SnapshotReady    = "Ready"
	SnapshotDeleting = "Deleting"
	SnapshotFailed   = "Failed"
)

var lifecycleStates = []string{
	StatePending, StateRunning, StatePausing, StatePaused,
	StateResuming, StateStopping, StateTerminated, StateFailed,
}

// defaultEntrypoint is what a sandbox restored from a snapshot runs when
// neither the request nor the snapshot names an entrypoint.
var defaultEntrypoint = []string{"tail", "-f", "/dev/null"}

// reservedMetadataPrefix marks metadata keys the service owns.
const reservedMetadataPrefix = "opensandbox.io/"

// opError is a failed store operation: the status and message to answer.
type opError struct {
	status int
	code   string // lifecycle error code; "" derives it from status
	msg    string
}

func (e *opError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *opError {
	return &opError{status: status, msg: fmt.Sprintf(format, args...)}
}

// lcSandbox is one lifecycle sandbox. Guarded by lcStore.mu.
type lcSandbox struct {
	id, tenant string
	seq        uint64

	image          lifecyclesrv.OptImageSpec
	snapshotID     string
	platform       lifecyclesrv.OptPlatformSpec
	entrypoint     []string
	metadata       map[string]string
	env            map[string]string
	resourceLimits map[string]string

	state, reason, message string
	lastTransition         time.Time
	createdAt              time.Time
	expiresAt              time.Time // zero: never expires

	async
	expiry clock.Timer
	reap   clock.Timer
	guest  guestAPI
}

// lcSnapshot is one snapshot. Guarded by lcStore.mu.
type lcSnapshot struct {
	id, tenant, sandboxID, name string
	seq                         uint64
	state, reason, message      string
	lastTransition, createdAt   time.Time
	// What a sandbox restored from it gets.
	image      lifecyclesrv.OptImageSpec
	entrypoint []string
	async
}

// lcStore holds the lifecycle API's sandboxes and snapshots.
type lcStore struct {
	srv *Server

	mu        sync.RWMutex
	seq       uint64
	sandboxes index[*lcSandbox]
	snapshots index[*lcSnapshot]
}

func newLCStore(srv *Server) *lcStore {
	return &lcStore{
		srv:       srv,
		sandboxes: newIndex[*lcSandbox](),
		snapshots: newIndex[*lcSnapshot](),
	}
}

func (st *lcStore) now() time.Time { return st.srv.now() }

// lookup returns tenant's sandbox id or a 404.
func (st *lcStore) lookup(tenant, id string) (*lcSandbox, *opError) {
	sb, ok := st.sandboxes.byID[id]
	if !ok || sb.tenant != tenant {
		return nil, &opError{status: http.StatusNotFound, msg: fmt.Sprintf("sandbox %q not found", id)}
	}
	return sb, nil
}

func (st *lcStore) lookupSnapshot(tenant, id string) (*lcSnapshot, *opError) {
	sn, ok := st.snapshots.byID[id]
	if !ok || sn.tenant != tenant {
		return nil, &opError{status: http.StatusNotFound, msg: fmt.Sprintf("snapshot %q not found", id)}
	}
	return sn, nil
}

// insert adds sb (with a fresh seq) to the indexes.
func (st *lcStore) insert(sb *lcSandbox) {
	st.seq++
	sb.seq = st.seq
	st.sandboxes.add(sb.id, sb.tenant, sb)
}

// remove forgets sb.
func (st *lcStore) remove(sb *lcSandbox) {
	if !st.sandboxes.remove(sb.id, sb.tenant, sb) {
		return
	}
	sb.async.cancel()
	stopTimer(&sb.expiry)
	stopTimer(&sb.reap)
	if sb.guest != nil {
		st.srv.retireGuest(sb.guest)
		sb.guest = nil
	}
}

func stopTimer(t *clock.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// setState moves sb to state, keeping its guest in step.
func (st *lcStore) setState(sb *lcSandbox, state, reason, message string) {
	sb.state, sb.reason, sb.message = state, reason, message
	sb.lastTransition = st.now()
	if sb.guest != nil {
		sb.guest.SetState(guestStateFor(state))
	}
}

// guestStateFor maps a lifecycle state to what the sandbox API answers:
// a running (or still pausing) sandbox serves, a pending, paused,
// resuming or failed one is 503, a stopping or terminated one 404.
func guestStateFor(state string) guestState {
	switch state {
	case StateRunning, StatePausing:
		return guestRunning
	case StatePending:
		return guestPending
	case StateStopping, StateTerminated:
		return guestTerminated
	}
	return guestPaused
}

// The standard reason and message of each state a transition reaches.
func (st *lcStore) toPending(sb *lcSandbox) {
	st.setState(sb, StatePending, "provisioning", "Sandbox is being provisioned")
	st.srv.sched.start(&st.mu, &sb.async, TransitionProvision, func() { st.toRunning(sb) })
}

func (st *lcStore) toRunning(sb *lcSandbox) {
	st.setState(sb, StateRunning, "running", "Sandbox is running")
}

func (st *lcStore) toPausing(sb *lcSandbox) {
	st.setState(sb, StatePausing, "pausing", "Sandbox is pausing")
	st.srv.sched.start(&st.mu, &sb.async, TransitionPause, func() {
		st.setState(sb, StatePaused, "paused", "Sandbox is paused")
	})
}

func (st *lcStore) toResuming(sb *lcSandbox) {
	st.setState(sb, StateResuming, "resuming", "Sandbox is resuming")
	st.srv.sched.start(&st.mu, &sb.async, TransitionResume, func() { st.toRunning(sb) })
}

// toStopping starts termination for reason (user_delete, ttl_expiry).
func (st *lcStore) toStopping(sb *lcSandbox, reason, requestID string) {
	stopTimer(&sb.expiry)
	st.setState(sb, StateStopping, reason, "Sandbox is stopping")
	st.srv.journal.deleted(Deletion{API: APILifecycle, ID: sb.id, Tenant: sb.tenant, Time: st.now(), RequestID: requestID, Reason: reason})
	st.srv.sched.start(&st.mu, &sb.async, TransitionStop, func() { st.toTerminated(sb) })
}

func (st *lcStore) toTerminated(sb *lcSandbox) {
	stopTimer(&sb.expiry)
	st.setState(sb, StateTerminated, sb.reason, "Sandbox has been terminated")
	st.armReap(sb)
}

// armReap forgets a terminated sandbox once the retention has passed.
func (st *lcStore) armReap(sb *lcSandbox) {
	st.srv.armReap(&sb.reap, &st.mu, func() bool { return sb.state == StateTerminated }, func() { st.remove(sb) })
}

// armExpiry (re)schedules sb's expiry.
func (st *lcStore) armExpiry(sb *lcSandbox) {
	stopTimer(&sb.expiry)
	if sb.expiresAt.IsZero() || sb.state == StateStopping || sb.state == StateTerminated {
		return
	}
	at := sb.expiresAt
	sb.expiry = st.srv.clock.AfterFunc(at.Sub(st.srv.clock.Now()), func() {
		defer st.srv.buryGuests()
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.srv.closed.Load() || st.sandboxes.byID[sb.id] != sb || !sb.expiresAt.Equal(at) {
			return
		}
		if sb.state == StateStopping || sb.state == StateTerminated {
			return
		}
		sb.expiry = nil
		st.toStopping(sb, "ttl_expiry", "")
	})
}

// createInput is a validated create request.
type createInput struct {
	image          lifecyclesrv.OptImageSpec
	snapshotID     string
	platform       lifecyclesrv.OptPlatformSpec
	timeout        time.Duration // 0: no expiry
	entrypoint     []string
	metadata       map[string]string
	env            map[string]string
	resourceLimits map[string]string
}

// create makes a new Pending sandbox.
func (st *lcStore) create(tenant, requestID string, in createInput) (*lcSandbox, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb := &lcSandbox{
		id:             uuid.NewString(),
		tenant:         tenant,
		image:          in.image,
		platform:       in.platform,
		entrypoint:     slices.Clone(in.entrypoint),
		metadata:       maps.Clone(in.metadata),
		env:            maps.Clone(in.env),
		resourceLimits: maps.Clone(in.resourceLimits),
	}
	if in.snapshotID != "" {
		sn, err := st.lookupSnapshot(tenant, in.snapshotID)
		if err != nil {
			return nil, &opError{status: http.StatusBadRequest, code: "SNAPSHOT_NOT_FOUND", msg: err.msg}
		}
		if sn.state != SnapshotReady {
			return nil, errorf(http.StatusConflict, "snapshot %q is %s, not %s", sn.id, sn.state, SnapshotReady)
		}
		sb.snapshotID = sn.id
		if len(sb.entrypoint) == 0 {
			sb.entrypoint = slices.Clone(sn.entrypoint)
		}
		if len(sb.entrypoint) == 0 {
			sb.entrypoint = slices.Clone(defaultEntrypoint)
		}
	}
	now := st.now()
	sb.createdAt = now
	if in.timeout > 0 {
		sb.expiresAt = now.Add(in.timeout)
	}
	st.insert(sb)
	st.srv.journal.created(Creation{API: APILifecycle, ID: sb.id, Tenant: tenant, Time: now, RequestID: requestID, Metadata: sb.metadata})
	st.armExpiry(sb)
	st.toPending(sb)
	return sb, nil
}

// transition applies one of the user-requested state changes.
func (st *lcStore) pause(tenant, id string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	if sb.state != StateRunning {
		return errorf(http.StatusConflict, "sandbox %q is %s; only a %s sandbox can be paused", id, sb.state, StateRunning)
	}
	st.toPausing(sb)
	return nil
}

func (st *lcStore) resume(tenant, id string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	if sb.state != StatePaused {
		return errorf(http.StatusConflict, "sandbox %q is %s; only a %s sandbox can be resumed", id, sb.state, StatePaused)
	}
	st.toResuming(sb)
	return nil
}

func (st *lcStore) delete(tenant, id, requestID string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	if sb.state == StateStopping || sb.state == StateTerminated {
		return errorf(http.StatusConflict, "sandbox %q is already %s", id, sb.state)
	}
	st.toStopping(sb, "user_delete", requestID)
	return nil
}

// fail moves a sandbox to Failed (test control).
func (st *lcStore) fail(id, reason, message string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, ok := st.sandboxes.byID[id]
	if !ok {
		return fmt.Errorf("mockserver: no sandbox %q", id)
	}
	switch sb.state {
	case StatePending, StateRunning, StatePaused, StateResuming:
	default:
		return fmt.Errorf("mockserver: sandbox %q is %s; only Pending, Running, Paused or Resuming can fail", id, sb.state)
	}
	sb.async.cancel()
	if reason == "" {
		reason = "runtime_error"
	}
	if message == "" {
		message = "Sandbox failed"
	}
	st.setState(sb, StateFailed, reason, message)
	return nil
}

// patchMetadata applies an RFC 7396 merge patch.
func (st *lcStore) patchMetadata(tenant, id string, set map[string]string, del []string) (lifecyclesrv.Sandbox, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return lifecyclesrv.Sandbox{}, err
	}
	if sb.state == StateStopping || sb.state == StateTerminated {
		return lifecyclesrv.Sandbox{}, errorf(http.StatusConflict, "sandbox %q is %s", id, sb.state)
	}
	if len(set) > 0 && sb.metadata == nil {
		sb.metadata = make(map[string]string, len(set))
	}
	maps.Copy(sb.metadata, set)
	for _, k := range del {
		delete(sb.metadata, k)
	}
	return sb.view(), nil
}

// renew moves the expiry to at.
func (st *lcStore) renew(tenant, id, requestID string, at time.Time) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	now := st.now()
	if !at.After(st.srv.clock.Now()) {
		return errorf(http.StatusBadRequest, "expiresAt %s is not in the future", at.UTC().Format(time.RFC3339))
	}
	switch sb.state {
	case StateStopping, StateTerminated, StateFailed:
		return errorf(http.StatusConflict, "sandbox %q is %s", id, sb.state)
	}
	if !sb.expiresAt.IsZero() && !at.After(sb.expiresAt) {
		return errorf(http.StatusConflict, "expiresAt %s is not after the current expiry %s",
			at.UTC().Format(time.RFC3339), sb.expiresAt.UTC().Format(time.RFC3339))
	}
	old := sb.expiresAt
	sb.expiresAt = at
	st.armExpiry(sb)
	st.srv.journal.renewed(Renewal{SandboxID: id, Tenant: tenant, Time: now, RequestID: requestID, Old: old, New: at})
	return nil
}

// get returns a view of tenant's sandbox id.
func (st *lcStore) get(tenant, id string) (lifecyclesrv.Sandbox, *opError) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return lifecyclesrv.Sandbox{}, err
	}
	return sb.view(), nil
}

// listQuery is a parsed list request.
type listQuery struct {
	states   []string // matched case-insensitively; empty: any
	metadata map[string]string
	page     int
	pageSize int
}

func (q *listQuery) match(sb *lcSandbox) bool {
	if len(q.states) > 0 && !matchFold(q.states, sb.state) {
		return false
	}
	for k, v := range q.metadata {
		if got, ok := sb.metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchFold reports whether s equals one of set, ignoring case, as the
// upstream server compares states.
func matchFold(set []string, s string) bool {
	for _, v := range set {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// list returns one page of tenant's sandboxes (creation order) and the
// exact number of matches.
func (st *lcStore) list(tenant string, q listQuery) ([]lifecyclesrv.Sandbox, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.sandboxes.byTenant[tenant]
	from := (q.page - 1) * q.pageSize
	if len(q.states) == 0 && len(q.metadata) == 0 {
		if from >= len(items) {
			return []lifecyclesrv.Sandbox{}, len(items)
		}
		page := items[from:min(from+q.pageSize, len(items))]
		out := make([]lifecyclesrv.Sandbox, len(page))
		for i, sb := range page {
			out[i] = sb.view()
		}
		return out, len(items)
	}
	return filterPage(items, q.match, from, q.pageSize, (*lcSandbox).view)
}

// view renders sb for the wire.
func (sb *lcSandbox) view() lifecyclesrv.Sandbox {
	v := lifecyclesrv.Sandbox{
		ID:         sb.id,
		Image:      sb.image,
		Platform:   sb.platform,
		Entrypoint: slices.Clone(sb.entrypoint),
		CreatedAt:  sb.createdAt,
		Status: lifecyclesrv.SandboxStatus{
			State:            lifecyclesrv.SandboxState(sb.state),
			Reason:           optString(sb.reason),
			Message:          optString(sb.message),
			LastTransitionAt: lifecyclesrv.NewOptDateTime(sb.lastTransition),
		},
	}
	if v.Entrypoint == nil {
		v.Entrypoint = []string{}
	}
	if sb.snapshotID != "" {
		v.SnapshotId = lifecyclesrv.NewOptString(sb.snapshotID)
	}
	if sb.metadata != nil {
		v.Metadata = lifecyclesrv.NewOptSandboxMetadata(maps.Clone(sb.metadata))
	}
	if !sb.expiresAt.IsZero() {
		v.ExpiresAt = lifecyclesrv.NewOptDateTime(sb.expiresAt)
	}
	return v
}

func optString(s string) lifecyclesrv.OptString {
	if s == "" {
		return lifecyclesrv.OptString{}
	}
	return lifecyclesrv.NewOptString(s)
}

// createSnapshot starts a snapshot of a Running sandbox.
func (st *lcStore) createSnapshot(tenant, id, name string) (lifecyclesrv.Snapshot, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return lifecyclesrv.Snapshot{}, err
	}
	if sb.state != StateRunning {
		return lifecyclesrv.Snapshot{}, errorf(http.StatusConflict, "sandbox %q is %s; only a %s sandbox can be snapshotted", id, sb.state, StateRunning)
	}
	now := st.now()
	sn := &lcSnapshot{
		id:         "snap-" + uuid.NewString(),
		tenant:     tenant,
		sandboxID:  id,
		name:       name,
		createdAt:  now,
		image:      sb.image,
		entrypoint: slices.Clone(sb.entrypoint),
	}
	st.insertSnapshot(sn)
	st.snapshotCreating(sn)
	return sn.view(), nil
}

func (st *lcStore) insertSnapshot(sn *lcSnapshot) {
	st.seq++
	sn.seq = st.seq
	st.snapshots.add(sn.id, sn.tenant, sn)
}

func (st *lcStore) removeSnapshot(sn *lcSnapshot) {
	if !st.snapshots.remove(sn.id, sn.tenant, sn) {
		return
	}
	sn.async.cancel()
}

func (st *lcStore) setSnapshotState(sn *lcSnapshot, state, reason, message string) {
	sn.state, sn.reason, sn.message = state, reason, message
	sn.lastTransition = st.now()
}

func (st *lcStore) snapshotCreating(sn *lcSnapshot) {
	st.setSnapshotState(sn, SnapshotCreating, "snapshot_accepted", "Snapshot is being created")
	st.srv.sched.start(&st.mu, &sn.async, TransitionSnapshotCreate, func() {
		st.setSnapshotState(sn, SnapshotReady, "snapshot_ready", "Snapshot is ready")
	})
}

func (st *lcStore) snapshotDeleting(sn *lcSnapshot) {
	st.setSnapshotState(sn, SnapshotDeleting, "snapshot_deleting", "Snapshot is being deleted")
	st.srv.sched.start(&st.mu, &sn.async, TransitionSnapshotDelete, func() { st.removeSnapshot(sn) })
}

func (st *lcStore) getSnapshot(tenant, id string) (lifecyclesrv.Snapshot, *opError) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sn, err := st.lookupSnapshot(tenant, id)
	if err != nil {
		return lifecyclesrv.Snapshot{}, err
	}
	return sn.view(), nil
}

func (st *lcStore) deleteSnapshot(tenant, id string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sn, err := st.lookupSnapshot(tenant, id)
	if err != nil {
		return err
	}
	switch sn.state {
	case SnapshotCreating:
		return errorf(http.StatusConflict, "snapshot %q is still %s", id, sn.state)
	case SnapshotDeleting:
		return errorf(http.StatusConflict, "snapshot %q is already %s", id, sn.state)
	}
	st.snapshotDeleting(sn)
	return nil
}

type snapshotQuery struct {
	sandboxID string
	states    []string // matched case-insensitively
	page      int
	pageSize  int
}

func (st *lcStore) listSnapshots(tenant string, q snapshotQuery) ([]lifecyclesrv.Snapshot, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	match := func(sn *lcSnapshot) bool {
		return (q.sandboxID == "" || sn.sandboxID == q.sandboxID) &&
			(len(q.states) == 0 || matchFold(q.states, sn.state))
	}
	return filterPage(st.snapshots.byTenant[tenant], match, (q.page-1)*q.pageSize, q.pageSize, (*lcSnapshot).view)
}

func (sn *lcSnapshot) view() lifecyclesrv.Snapshot {
	v := lifecyclesrv.Snapshot{
		ID:        sn.id,
		SandboxId: sn.sandboxID,
		Name:      optString(sn.name),
		CreatedAt: sn.createdAt,
		Status: lifecyclesrv.SnapshotStatus{
			State:            lifecyclesrv.SnapshotState(sn.state),
			Reason:           optString(sn.reason),
			Message:          optString(sn.message),
			LastTransitionAt: lifecyclesrv.NewOptDateTime(sn.lastTransition),
		},
	}
	return v
}

// guestFor returns the sandbox API simulator of tenant's sandbox id,
// creating it on first use. ok is false when there is no such sandbox
// for tenant ("" matches any tenant: signed routes).
func (st *lcStore) guestFor(tenant, id string) (g guestAPI, owner string, ok bool) {
	st.mu.RLock()
	sb, found := st.sandboxes.byID[id]
	if found {
		g, owner = sb.guest, sb.tenant
	}
	st.mu.RUnlock()
	if !found || (tenant != "" && owner != tenant) {
		return nil, "", false
	}
	if g != nil {
		return g, owner, true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sandboxes.byID[id] != sb {
		return nil, "", false
	}
	if sb.guest == nil {
		sb.guest = st.srv.newGuest(sb.env)
		sb.guest.SetState(guestStateFor(sb.state))
	}
	return sb.guest, sb.tenant, true
}

// ownerOf returns the tenant of sandbox id.
func (st *lcStore) ownerOf(id string) (string, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sb, ok := st.sandboxes.byID[id]
	if !ok {
		return "", false
	}
	return sb.tenant, true
}

// step completes the pending transition of a sandbox or snapshot.
func (st *lcStore) step(id string) (TransitionKind, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sb, ok := st.sandboxes.byID[id]; ok {
		k, err := sb.async.step()
		return k, true, err
	}
	if sn, ok := st.snapshots.byID[id]; ok {
		k, err := sn.async.step()
		return k, true, err
	}
	return "", false, nil
}

func (st *lcStore) pending(out []PendingTransition) []PendingTransition {
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, items := range st.sandboxes.byTenant {
		for _, sb := range items {
			if t := sb.pending; t != nil {
				out = append(out, PendingTransition{Kind: t.kind, ID: sb.id, Tenant: sb.tenant, Manual: t.manual})
			}
		}
	}
	for _, items := range st.snapshots.byTenant {
		for _, sn := range items {
			if t := sn.pending; t != nil {
				out = append(out, PendingTransition{Kind: t.kind, ID: sn.id, Tenant: sn.tenant, Manual: t.manual})
			}
		}
	}
	return out
}

// close stops every timer and guest.
func (st *lcStore) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, sb := range st.sandboxes.byID {
		sb.async.cancel()
		stopTimer(&sb.expiry)
		stopTimer(&sb.reap)
		if sb.guest != nil {
			st.srv.retireGuest(sb.guest)
			sb.guest = nil
		}
	}
	for _, sn := range st.snapshots.byID {
		sn.async.cancel()
	}
}
