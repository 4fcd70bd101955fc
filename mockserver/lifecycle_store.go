package mockserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
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

// Lifecycle sandbox states. Allocated is a Kubernetes state (an IP but not
// ready); Unknown is what the Docker runtime reports for a container state
// it does not know. Stopping is in the API's documented state machine, but
// neither runtime reports it (a deleted sandbox keeps its state until it
// is gone), so the mock never shows it. Clients must expect states they
// do not know.
const (
	StatePending    = "Pending"
	StateAllocated  = "Allocated"
	StateRunning    = "Running"
	StatePausing    = "Pausing"
	StatePaused     = "Paused"
	StateResuming   = "Resuming"
	StateStopping   = "Stopping"
	StateTerminated = "Terminated"
	StateFailed     = "Failed"
	StateUnknown    = "Unknown"
)

// Snapshot states.
const (
	SnapshotCreating = "Creating"
	SnapshotReady    = "Ready"
	SnapshotDeleting = "Deleting"
	SnapshotFailed   = "Failed"
)

// defaultEntrypoint is what a sandbox restored from a snapshot runs when
// the request names no entrypoint.
var defaultEntrypoint = []string{"tail", "-f", "/dev/null"}

// reservedMetadataPrefix marks metadata keys the service owns.
const reservedMetadataPrefix = "opensandbox.io/"

// opError is a failed operation: the status, code and message of a
// {"code","message"} answer.
type opError struct {
	status int
	code   string
	msg    string
}

func (e *opError) Error() string { return e.msg }

// codedErrorf is an error with the lifecycle server's code.
func codedErrorf(status int, code, format string, args ...any) *opError {
	return &opError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// errInternal is an unhandled failure: the real server answers a
// plain-text 500 "Internal Server Error".
var errInternal = &opError{status: http.StatusInternalServerError, code: "", msg: "Internal Server Error"}

// lcSandbox is one lifecycle sandbox. Guarded by lcStore.mu.
type lcSandbox struct {
	id, tenant string
	seq        uint64

	image          lifecyclesrv.OptImageSpec
	snapshotID     string
	platform       lifecyclesrv.OptPlatformSpec
	entrypoint     []string
	env            map[string]string
	resourceLimits map[string]string

	// labels is the metadata the sandbox was created with; metadata is
	// what reads show. On the Docker runtime a patch starts again from
	// labels (see patchMetadata).
	labels   map[string]string
	metadata map[string]string
	patched  bool

	// labelExpiry is the expiry a Docker sandbox restored from a snapshot
	// shows without one of its own: the source's, which its image's
	// labels carry. It is never enforced.
	labelExpiry time.Time
	// initialExpiry is the expiry it was created with (its label; renewals
	// do not change Docker labels).
	initialExpiry time.Time

	state, reason, message string
	exitCode               int
	lastTransition         time.Time
	createdAt              time.Time
	expiresAt              time.Time // zero: never expires
	exitAt                 time.Time // Docker: when the entrypoint exits; zero: never
	exitCodePlan           int

	async
	// stop is the deletion in progress on Kubernetes (a workload being
	// deleted keeps its state until it is gone).
	stop     async
	deleting bool
	expiry   clock.Timer
	exit     clock.Timer
	guest    guestAPI
	// resumed is closed (and replaced) whenever the sandbox leaves
	// Paused: sandbox API requests to a paused Docker sandbox wait on it.
	resumed chan struct{}
	// listed is where the list index filed it.
	listed indexEntry
}

func (sb *lcSandbox) entry() *indexEntry { return &sb.listed }

// lcSnapshot is one snapshot. Guarded by lcStore.mu.
type lcSnapshot struct {
	id, tenant, sandboxID, name string
	seq                         uint64
	state, reason, message      string
	lastTransition, createdAt   time.Time
	// What a sandbox restored from it gets: the image, and on Docker the
	// source's labels (its creation metadata and expiry).
	image       lifecyclesrv.OptImageSpec
	labels      map[string]string
	labelExpiry time.Time
	async
	listed indexEntry
}

func (sn *lcSnapshot) entry() *indexEntry { return &sn.listed }

// lcStore holds the lifecycle API's sandboxes and snapshots.
type lcStore struct {
	srv *Server
	rt  Runtime

	mu        sync.RWMutex
	seq       uint64
	sandboxes index[*lcSandbox]
	snapshots index[*lcSnapshot]
	// sandboxList files sandboxes by state and metadata pair, newest
	// first; snapshotList files snapshots by state and source sandbox.
	sandboxList  *listIndex[*lcSandbox]
	snapshotList *listIndex[*lcSnapshot]
}

func newLCStore(srv *Server) *lcStore {
	return &lcStore{
		srv:          srv,
		rt:           srv.cfg.runtime,
		sandboxes:    newIndex[*lcSandbox](),
		snapshots:    newIndex[*lcSnapshot](),
		sandboxList:  newListIndex(newestSandboxFirst),
		snapshotList: newListIndex(newestSnapshotFirst),
	}
}

// newestSandboxFirst is the order of sandbox lists: newest first, and of
// two created at the same time the later-inserted first.
func newestSandboxFirst(a, b *lcSandbox) int {
	return cmp.Or(b.createdAt.Compare(a.createdAt), cmp.Compare(b.seq, a.seq))
}

// newestSnapshotFirst is the order of snapshot lists: newest first, ties
// by id descending, as the server breaks them.
func newestSnapshotFirst(a, b *lcSnapshot) int {
	return cmp.Or(b.createdAt.Compare(a.createdAt), strings.Compare(b.id, a.id))
}

// now is the server's clock at the lifecycle server's precision: UTC
// microseconds.
func (st *lcStore) now() time.Time { return st.srv.clock.Now().UTC().Truncate(time.Microsecond) }

func (st *lcStore) docker() bool { return st.rt == RuntimeDocker }

// notFound is the runtime's 404 for sandbox id.
func (st *lcStore) notFound(id string) *opError {
	if st.docker() {
		return codedErrorf(http.StatusNotFound, "DOCKER::SANDBOX_NOT_FOUND", "Sandbox %s not found.", id)
	}
	return codedErrorf(http.StatusNotFound, "KUBERNETES::SANDBOX_NOT_FOUND", "Sandbox '%s' not found", id)
}

// lookup returns tenant's sandbox id or a 404.
func (st *lcStore) lookup(tenant, id string) (*lcSandbox, *opError) {
	sb, ok := st.sandboxes.byID[id]
	if !ok || sb.tenant != tenant {
		return nil, st.notFound(id)
	}
	return sb, nil
}

func snapshotNotFound(id string) *opError {
	return codedErrorf(http.StatusNotFound, "SNAPSHOT::NOT_FOUND", "Snapshot %s not found", id)
}

func (st *lcStore) lookupSnapshot(tenant, id string) (*lcSnapshot, *opError) {
	sn, ok := st.snapshots.byID[id]
	if !ok || sn.tenant != tenant {
		return nil, snapshotNotFound(id)
	}
	return sn, nil
}

// insert adds sb (with a fresh seq) to the indexes.
func (st *lcStore) insert(sb *lcSandbox) {
	st.seq++
	sb.seq = st.seq
	sb.resumed = make(chan struct{})
	st.sandboxes.add(sb.id, sb.tenant, sb)
	st.sandboxList.put(sb.tenant, sb, sb.state, sb.metadata)
}

// remove forgets sb: the sandbox answers 404 from now on.
func (st *lcStore) remove(sb *lcSandbox) {
	if !st.sandboxes.remove(sb.id, sb.tenant, sb) {
		return
	}
	st.sandboxList.drop(sb)
	sb.async.cancel()
	sb.stop.cancel()
	stopTimer(&sb.expiry)
	stopTimer(&sb.exit)
	close(sb.resumed)
	sb.resumed = make(chan struct{})
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

// setState moves sb to state, keeping its guest in step. A state change
// that the runtime records (every one on Kubernetes; only exits on
// Docker, whose lastTransitionAt is the container's creation time until
// it exits) moves lastTransitionAt.
func (st *lcStore) setState(sb *lcSandbox, state, reason, message string) {
	wasPaused := sb.state == StatePaused
	sb.state, sb.reason, sb.message = state, reason, message
	st.sandboxList.setClass(sb, state)
	if wasPaused && state != StatePaused {
		close(sb.resumed)
		sb.resumed = make(chan struct{})
	}
	if sb.guest != nil {
		sb.guest.SetState(st.guestStateFor(state))
	}
}

// guestStateFor maps a lifecycle state to what the sandbox API answers:
// a running (or still pausing) sandbox serves; a pending, allocated,
// paused, resuming or failed one is 503; a stopping one 404.
func (st *lcStore) guestStateFor(state string) guestState {
	switch state {
	case StateRunning, StatePausing:
		return guestRunning
	case StatePending, StateAllocated:
		return guestPending
	}
	return guestPaused
}

// The states, with the runtime's reasons and messages.

func (st *lcStore) toRunning(sb *lcSandbox) {
	if st.docker() {
		st.setState(sb, StateRunning, "CONTAINER_RUNNING", "Sandbox container is running.")
		return
	}
	st.setState(sb, StateRunning, "RUNNING", "Sandbox is running")
}

func (st *lcStore) toPaused(sb *lcSandbox) {
	if st.docker() {
		st.setState(sb, StatePaused, "CONTAINER_PAUSED", "Sandbox container is paused.")
		return
	}
	st.setState(sb, StatePaused, "PAUSED", "Sandbox is paused")
}

// toAllocated is a new Kubernetes sandbox: it has an IP and becomes
// Running when its Provision transition completes.
func (st *lcStore) toAllocated(sb *lcSandbox) {
	st.setState(sb, StateAllocated, "IP_ASSIGNED", "Pod has IP assigned but not ready (1/1 allocated, 0 ready)")
	st.srv.sched.start(&st.mu, &sb.async, TransitionProvision, func() { st.toRunning(sb) })
}

func (st *lcStore) toPending(sb *lcSandbox) {
	if st.docker() {
		st.setState(sb, StatePending, "CONTAINER_STARTING", "Sandbox container is starting.")
		return
	}
	st.setState(sb, StatePending, "BATCHSANDBOX_PENDING", "BatchSandbox is pending allocation")
	st.srv.sched.start(&st.mu, &sb.async, TransitionProvision, func() { st.toRunning(sb) })
}

func (st *lcStore) toPausing(sb *lcSandbox) {
	st.setState(sb, StatePausing, "PAUSING", "Pausing sandbox")
	st.srv.sched.start(&st.mu, &sb.async, TransitionPause, func() { st.toPaused(sb) })
}

func (st *lcStore) toResuming(sb *lcSandbox) {
	st.setState(sb, StateResuming, "RESUMING", "Resuming sandbox")
	st.srv.sched.start(&st.mu, &sb.async, TransitionResume, func() { st.toRunning(sb) })
}

func (st *lcStore) toFailed(sb *lcSandbox, reason, message string) {
	sb.async.cancel()
	stopTimer(&sb.exit)
	st.setState(sb, StateFailed, reason, message)
}

// exited records the entrypoint's exit (Docker): Terminated with code 0,
// else Failed.
func (st *lcStore) exited(sb *lcSandbox, code int) {
	stopTimer(&sb.exit)
	sb.exitAt = time.Time{}
	sb.exitCode = code
	if code == 0 {
		st.setState(sb, StateTerminated, "CONTAINER_EXITED", "Sandbox container exited successfully.")
	} else {
		st.setState(sb, StateFailed, "CONTAINER_EXITED_ERROR", fmt.Sprintf("Sandbox container exited with code %d.", code))
	}
	sb.lastTransition = st.now()
}

// terminate ends sb after a delete or an expiry (reason user_delete or
// ttl_expiry): on Docker it is gone at once; on Kubernetes the workload
// keeps its state until its Stop transition completes, then it is gone.
func (st *lcStore) terminate(sb *lcSandbox, reason, requestID string) {
	if sb.deleting {
		return
	}
	stopTimer(&sb.expiry)
	stopTimer(&sb.exit)
	st.srv.journal.deleted(Deletion{API: APILifecycle, ID: sb.id, Tenant: sb.tenant, Time: st.now(), RequestID: requestID, Reason: reason})
	if st.docker() {
		st.remove(sb)
		return
	}
	sb.deleting = true
	st.srv.sched.start(&st.mu, &sb.stop, TransitionStop, func() { st.remove(sb) })
}

// armExpiry (re)schedules sb's expiry.
func (st *lcStore) armExpiry(sb *lcSandbox) {
	stopTimer(&sb.expiry)
	if sb.expiresAt.IsZero() || sb.deleting {
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
		sb.expiry = nil
		st.terminate(sb, "ttl_expiry", "")
	})
}

// armExit schedules the exit of sb's entrypoint (Docker), if the mock
// knows when it ends. A paused container does not run: its entrypoint
// exits when it is resumed, if it was due by then.
func (st *lcStore) armExit(sb *lcSandbox) {
	stopTimer(&sb.exit)
	if !st.docker() || sb.exitAt.IsZero() || sb.state != StateRunning {
		return
	}
	at := sb.exitAt
	sb.exit = st.srv.clock.AfterFunc(at.Sub(st.srv.clock.Now()), func() {
		defer st.srv.buryGuests()
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.srv.closed.Load() || st.sandboxes.byID[sb.id] != sb || !sb.exitAt.Equal(at) || sb.state != StateRunning {
			return
		}
		sb.exit = nil
		st.exited(sb, sb.exitCodePlan)
	})
}

// create makes a new sandbox and returns the create answer: on both
// runtimes the sandbox is Running in it. On Kubernetes later reads show
// Allocated until the Provision transition completes; on Docker an
// entrypoint that exits at once has exited by the next read.
func (st *lcStore) create(tenant, requestID string, req *lifecyclesrv.CreateSandboxRequest, expiresAt time.Time, now time.Time) (lifecyclesrv.CreateSandboxResponse, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb := &lcSandbox{
		id:             uuid.NewString(),
		tenant:         tenant,
		image:          req.Image,
		platform:       req.Platform,
		entrypoint:     slices.Clone(req.Entrypoint),
		env:            maps.Clone(map[string]string(req.Env.Value)),
		resourceLimits: maps.Clone(map[string]string(req.ResourceLimits.Value)),
		createdAt:      now,
		lastTransition: now,
		expiresAt:      expiresAt,
		initialExpiry:  expiresAt,
	}
	if img, ok := sb.image.Get(); ok {
		img.Auth = lifecyclesrv.OptImageAuth{} // never shown again
		sb.image = lifecyclesrv.NewOptImageSpec(img)
	}
	if md, ok := req.Metadata.Get(); ok {
		sb.labels = maps.Clone(map[string]string(md))
		sb.metadata = maps.Clone(sb.labels)
	}
	if id, ok := req.SnapshotID.Get(); ok {
		sn, err := st.lookupSnapshot(tenant, strings.TrimSpace(id))
		if err != nil {
			return lifecyclesrv.CreateSandboxResponse{}, err
		}
		if sn.state != SnapshotReady {
			return lifecyclesrv.CreateSandboxResponse{}, codedErrorf(http.StatusConflict, "SNAPSHOT::NOT_READY", "Snapshot %s is not ready for restore.", sn.id)
		}
		sb.snapshotID = sn.id
		sb.image = sn.image
		if len(sb.entrypoint) == 0 {
			sb.entrypoint = slices.Clone(defaultEntrypoint)
		}
		if st.docker() {
			// The container's labels are the image's (the source's) with
			// its own on top.
			if len(sn.labels) > 0 {
				merged := maps.Clone(sn.labels)
				maps.Copy(merged, sb.labels)
				sb.labels, sb.metadata = merged, maps.Clone(merged)
			}
			if expiresAt.IsZero() {
				sb.labelExpiry = sn.labelExpiry
			}
		}
	}
	if !st.docker() {
		// Kubernetes reports the workload's creation time, in whole seconds.
		sb.createdAt = now.Truncate(time.Second)
		sb.lastTransition = sb.createdAt
	}
	st.insert(sb)
	st.srv.journal.created(Creation{API: APILifecycle, ID: sb.id, Tenant: tenant, Time: now, RequestID: requestID, Metadata: sb.metadata})

	answer := lifecyclesrv.CreateSandboxResponse{
		ID:         sb.id,
		Platform:   sb.platform,
		CreatedAt:  now,
		Entrypoint: slices.Clone(sb.entrypoint),
	}
	if md, ok := req.Metadata.Get(); ok { // the request's, not what the image adds
		answer.Metadata = lifecyclesrv.NewOptCreateSandboxResponseMetadata(maps.Clone(map[string]string(md)))
	}
	if !expiresAt.IsZero() {
		answer.ExpiresAt = lifecyclesrv.NewOptDateTime(expiresAt)
	}
	if st.docker() {
		st.toRunning(sb)
		answer.Status = lifecyclesrv.SandboxStatus{
			State:            StateRunning,
			Reason:           lifecyclesrv.NewOptString("CONTAINER_RUNNING"),
			Message:          lifecyclesrv.NewOptString("Sandbox container started successfully."),
			LastTransitionAt: lifecyclesrv.NewOptDateTime(now),
		}
		if p, ok := planExit(sb.entrypoint); ok {
			sb.exitAt, sb.exitCodePlan = now.Add(p.after), p.code
			if p.after == 0 {
				st.exited(sb, p.code)
			} else {
				st.armExit(sb)
			}
		}
	} else {
		st.toAllocated(sb)
		answer.Status = lifecyclesrv.SandboxStatus{
			State:            StateRunning,
			Reason:           lifecyclesrv.NewOptString("IP_ASSIGNED"),
			Message:          lifecyclesrv.NewOptString("Pod has IP assigned and sandbox is ready for requests"),
			LastTransitionAt: lifecyclesrv.NewOptDateTime(sb.createdAt),
		}
		if sb.state == StateRunning { // the Provision transition was immediate
			answer.Status.Reason = lifecyclesrv.NewOptString("RUNNING")
			answer.Status.Message = lifecyclesrv.NewOptString("Sandbox is running")
		}
	}
	st.armExpiry(sb)
	return answer, nil
}

// containerID is the Docker container id the mock shows in Docker's
// error texts for sandbox id.
func containerID(id string) string {
	sum := sha256.Sum256([]byte("sandboxkit-mock-container:" + id))
	return hex.EncodeToString(sum[:])
}

func (st *lcStore) pause(tenant, id string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	if st.docker() {
		switch sb.state {
		case StateRunning:
			stopTimer(&sb.exit)
			st.toPaused(sb)
			return nil
		case StatePaused:
			cid := containerID(sb.id)
			return codedErrorf(http.StatusInternalServerError, "DOCKER::SANDBOX_PAUSE_FAILED",
				"Failed to pause sandbox container: 409 Client Error for http+docker://localhost/v1.41/containers/%s/pause: Conflict (\"Container %s is already paused\")", cid, cid)
		}
		return codedErrorf(http.StatusConflict, "DOCKER::SANDBOX_NOT_RUNNING", "Sandbox is not in a running state.")
	}
	switch sb.state {
	case StateRunning:
		st.toPausing(sb)
		return nil
	case StatePausing, StateResuming:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot pause: operation in progress (phase=%s)", sb.state)
	case StatePaused:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Sandbox is already paused")
	case StateFailed:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot pause: sandbox is not available")
	case StatePending:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot pause: sandbox is being created (phase=Pending)")
	}
	return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot pause sandbox in phase %s", k8sPhase(sb.state))
}

func (st *lcStore) resume(tenant, id string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	if st.docker() {
		if sb.state != StatePaused {
			return codedErrorf(http.StatusConflict, "DOCKER::SANDBOX_NOT_PAUSED", "Sandbox is not in a paused state.")
		}
		st.toRunning(sb)
		if !sb.exitAt.IsZero() && !sb.exitAt.After(st.srv.clock.Now()) {
			st.exited(sb, sb.exitCodePlan) // it was due while frozen
		} else {
			st.armExit(sb)
		}
		return nil
	}
	switch sb.state {
	case StatePaused:
		st.toResuming(sb)
		return nil
	case StatePausing, StateResuming:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot resume: operation in progress (phase=%s)", sb.state)
	case StateFailed:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot resume: sandbox is not available")
	case StatePending:
		return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot resume: sandbox is being created (phase=Pending)")
	}
	return codedErrorf(http.StatusConflict, "KUBERNETES::INVALID_STATE", "Cannot resume sandbox in phase %s, expected Paused", k8sPhase(sb.state))
}

// k8sPhase is the BatchSandbox phase behind a state, as the Kubernetes
// runtime's messages name it.
func k8sPhase(state string) string {
	switch state {
	case StateRunning:
		return "Succeed"
	case StateAllocated, StateUnknown:
		return ""
	}
	return state
}

// delete ends a sandbox in any state.
func (st *lcStore) delete(tenant, id, requestID string) *opError {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return err
	}
	st.terminate(sb, "user_delete", requestID)
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
	if sb.deleting {
		return fmt.Errorf("mockserver: sandbox %q is being deleted and cannot fail", id)
	}
	if st.docker() {
		st.toFailed(sb, cmpOr(reason, "CONTAINER_EXITED_ERROR"), cmpOr(message, "Sandbox container exited with code 1."))
		sb.exitCode, sb.lastTransition = 1, st.now()
		return nil
	}
	st.toFailed(sb, cmpOr(reason, "FAILED"), cmpOr(message, "Operation failed"))
	return nil
}

// exit makes sb's entrypoint exit with code (test control, Docker).
func (st *lcStore) exit(id string, code int) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, ok := st.sandboxes.byID[id]
	if !ok {
		return fmt.Errorf("mockserver: no sandbox %q", id)
	}
	if !st.docker() {
		return fmt.Errorf("mockserver: ExitSandbox needs RuntimeDocker (the Kubernetes runtime restarts or fails the workload instead)")
	}
	switch sb.state {
	case StateRunning, StatePaused, StatePending, StateUnknown:
	default:
		return fmt.Errorf("mockserver: sandbox %q is %s; its entrypoint has already exited", id, sb.state)
	}
	st.exited(sb, code&0xff)
	return nil
}

// patchMetadata applies an RFC 7396 merge patch. On Docker, whose labels
// cannot change, the patch applies to the creation metadata merged with
// the last patch result, so a key deleted by an earlier patch comes back
// when the sandbox was created with it.
func (st *lcStore) patchMetadata(tenant, id string, patch lifecyclesrv.PatchSandboxMetadataRequest) (lifecyclesrv.Sandbox, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return lifecyclesrv.Sandbox{}, err
	}
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		if strings.HasPrefix(k, reservedMetadataPrefix) {
			return lifecyclesrv.Sandbox{}, codedErrorf(http.StatusBadRequest, "INVALID_METADATA_LABEL", "Metadata key '%s' is reserved (opensandbox.io/ prefix).", k)
		}
	}
	additions := map[string]string{}
	for k, v := range patch {
		if !v.Null {
			additions[k] = v.Value
		}
	}
	if err := checkLabels(additions, slices.Sorted(maps.Keys(additions))); err != nil {
		return lifecyclesrv.Sandbox{}, err
	}
	cur := maps.Clone(sb.metadata)
	if st.docker() {
		cur = maps.Clone(sb.labels)
		if cur == nil {
			cur = map[string]string{}
		}
		maps.Copy(cur, sb.metadata)
	}
	if cur == nil {
		cur = map[string]string{}
	}
	for k, v := range patch {
		if v.Null {
			delete(cur, k)
		} else {
			cur[k] = v.Value
		}
	}
	sb.metadata, sb.patched = cur, true
	st.sandboxList.put(sb.tenant, sb, sb.state, sb.metadata)
	return st.view(sb), nil
}

// renew moves the expiry to at. The server only checks that at lies in
// the future: an earlier time shortens the lifetime.
func (st *lcStore) renew(tenant, id, requestID string, at time.Time) (time.Time, *opError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	past := !at.After(st.srv.clock.Now())
	pastErr := codedErrorf(http.StatusBadRequest, "DOCKER::INVALID_EXPIRATION", "New expiration time must be in the future.")
	if past && !st.docker() {
		return time.Time{}, pastErr // Kubernetes checks the time before the sandbox
	}
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return time.Time{}, err
	}
	if past {
		return time.Time{}, pastErr
	}
	if sb.expiresAt.IsZero() {
		return time.Time{}, codedErrorf(http.StatusConflict, "DOCKER::INVALID_EXPIRATION", "Sandbox %s does not have automatic expiration enabled.", id)
	}
	old := sb.expiresAt
	sb.expiresAt = at.UTC().Truncate(time.Microsecond)
	st.armExpiry(sb)
	st.srv.journal.renewed(Renewal{SandboxID: id, Tenant: tenant, Time: st.now(), RequestID: requestID, Old: old, New: sb.expiresAt})
	return sb.expiresAt, nil
}

// get returns a view of tenant's sandbox id.
func (st *lcStore) get(tenant, id string) (lifecyclesrv.Sandbox, *opError) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sb, err := st.lookup(tenant, id)
	if err != nil {
		return lifecyclesrv.Sandbox{}, err
	}
	return st.view(sb), nil
}

// listQuery is a parsed list request.
type listQuery struct {
	states   []string // matched case-insensitively, any of them
	metadata map[string]string
	page     int
	pageSize int
}

// matchFold reports whether s equals one of set, ignoring case, as the
// server compares sandbox states.
func matchFold(set []string, s string) bool {
	for _, v := range set {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// list returns one page of tenant's sandboxes, newest first, and the
// number of matches, from the index (see [listIndex.page] for the cost).
func (st *lcStore) list(tenant string, q listQuery) ([]lifecyclesrv.Sandbox, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	f := listFilter{labels: q.metadata}
	if len(q.states) > 0 {
		f.class = func(state string) bool { return matchFold(q.states, state) }
	}
	items, total := st.sandboxList.page(tenant, f, (q.page-1)*q.pageSize, q.pageSize)
	out := make([]lifecyclesrv.Sandbox, 0, len(items))
	for _, sb := range items {
		out = append(out, st.view(sb))
	}
	return out, total
}

// view renders sb for the wire as the runtime shows it.
func (st *lcStore) view(sb *lcSandbox) lifecyclesrv.Sandbox {
	v := lifecyclesrv.Sandbox{
		ID:         sb.id,
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
		v.SnapshotID = lifecyclesrv.NewOptString(sb.snapshotID)
	} else if img, ok := sb.image.Get(); ok && st.docker() {
		v.Image = lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: dockerTag(img.URI)})
	} else {
		v.Image = sb.image
	}
	if len(sb.metadata) > 0 {
		v.Metadata = lifecyclesrv.NewOptSandboxMetadata(maps.Clone(sb.metadata))
	}
	if !sb.expiresAt.IsZero() {
		v.ExpiresAt = lifecyclesrv.NewOptDateTime(sb.expiresAt)
	} else if !sb.labelExpiry.IsZero() {
		v.ExpiresAt = lifecyclesrv.NewOptDateTime(sb.labelExpiry)
	}
	return v
}

// dockerTag is how Docker names a pulled image: without the default
// registry's prefix, with :latest when no tag or digest was given.
func dockerTag(uri string) string {
	for _, prefix := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if rest, ok := strings.CutPrefix(uri, prefix); ok {
			uri = rest
			break
		}
	}
	last := uri[strings.LastIndex(uri, "/")+1:]
	if !strings.ContainsAny(last, ":@") {
		uri += ":latest"
	}
	return uri
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
		return lifecyclesrv.Snapshot{}, codedErrorf(http.StatusConflict, "SNAPSHOT::INVALID_SOURCE_STATE", "Snapshot can only be created from a Running sandbox.")
	}
	now := st.now()
	sn := &lcSnapshot{
		id:        uuid.NewString(),
		tenant:    tenant,
		sandboxID: id,
		name:      name,
		createdAt: now,
		image:     sb.image,
	}
	if st.docker() {
		sn.labels = maps.Clone(sb.labels)
		sn.labelExpiry = cmpOr(sb.initialExpiry, sb.labelExpiry)
	}
	if !sn.image.Set {
		sn.image = lifecyclesrv.NewOptImageSpec(lifecyclesrv.ImageSpec{URI: "sandbox-snapshot:" + sn.id})
	}
	st.insertSnapshot(sn)
	st.snapshotCreating(sn)
	return sn.view(), nil
}

// snapshotSource is the label under which the snapshot list files a
// snapshot's source sandbox.
const snapshotSource = "sandboxId"

func (st *lcStore) insertSnapshot(sn *lcSnapshot) {
	st.seq++
	sn.seq = st.seq
	st.snapshots.add(sn.id, sn.tenant, sn)
	var labels map[string]string
	if sn.sandboxID != "" {
		labels = map[string]string{snapshotSource: sn.sandboxID}
	}
	st.snapshotList.put(sn.tenant, sn, sn.state, labels)
}

func (st *lcStore) removeSnapshot(sn *lcSnapshot) {
	if !st.snapshots.remove(sn.id, sn.tenant, sn) {
		return
	}
	st.snapshotList.drop(sn)
	sn.async.cancel()
}

func (st *lcStore) setSnapshotState(sn *lcSnapshot, state, reason, message string) {
	sn.state, sn.reason, sn.message = state, reason, message
	st.snapshotList.setClass(sn, state)
	sn.lastTransition = st.now()
}

// snapshotReady is the runtime's Ready status.
func (st *lcStore) snapshotReady(sn *lcSnapshot) {
	msg := "Docker snapshot image created successfully."
	if !st.docker() {
		msg = "Kubernetes snapshot image created successfully."
	}
	st.setSnapshotState(sn, SnapshotReady, "snapshot_runtime_ready", msg)
}

func (st *lcStore) snapshotCreating(sn *lcSnapshot) {
	st.setSnapshotState(sn, SnapshotCreating, "snapshot_accepted", "Snapshot creation accepted.")
	st.srv.sched.start(&st.mu, &sn.async, TransitionSnapshotCreate, func() { st.snapshotReady(sn) })
}

// snapshotDeleting removes a snapshot: at once, unless a test configured
// TransitionSnapshotDelete to show Deleting for a while.
func (st *lcStore) snapshotDeleting(sn *lcSnapshot) {
	if sn.state != SnapshotDeleting {
		st.setSnapshotState(sn, SnapshotDeleting, "snapshot_delete_requested", "Snapshot deletion requested.")
	}
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
	if sn.state == SnapshotCreating {
		return codedErrorf(http.StatusConflict, "SNAPSHOT::INVALID_STATE", "Snapshot %s is still being created and cannot be deleted", id)
	}
	if sn.state != SnapshotDeleting {
		st.setSnapshotState(sn, SnapshotDeleting, "snapshot_delete_requested", "Snapshot deletion requested.")
	}
	if st.docker() && st.imageInUse(sn.id) {
		// Docker cannot remove an image a container uses; the snapshot
		// stays Deleting until a delete finds it unused.
		return codedErrorf(http.StatusConflict, "SNAPSHOT::DELETE_CONFLICT", "snapshot image cannot be deleted due to a conflict")
	}
	st.snapshotDeleting(sn)
	return nil
}

// imageInUse reports whether a sandbox restored from snapshot id still
// exists (its container uses the snapshot's image).
func (st *lcStore) imageInUse(id string) bool {
	for _, sb := range st.sandboxes.byID {
		if sb.snapshotID == id {
			return true
		}
	}
	return false
}

type snapshotQuery struct {
	sandboxID string
	states    []string // matched exactly
	page      int
	pageSize  int
}

// listSnapshots returns one page of snapshots, newest first, and the
// number of matches, from the index.
func (st *lcStore) listSnapshots(tenant string, q snapshotQuery) ([]lifecyclesrv.Snapshot, int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var f listFilter
	if len(q.states) > 0 {
		f.class = func(state string) bool { return slices.Contains(q.states, state) }
	}
	if q.sandboxID != "" {
		f.labels = map[string]string{snapshotSource: q.sandboxID}
	}
	items, total := st.snapshotList.page(tenant, f, (q.page-1)*q.pageSize, q.pageSize)
	out := make([]lifecyclesrv.Snapshot, 0, len(items))
	for _, sn := range items {
		out = append(out, sn.view())
	}
	return out, total
}

func (sn *lcSnapshot) view() lifecyclesrv.Snapshot {
	return lifecyclesrv.Snapshot{
		ID:        sn.id,
		SandboxID: sn.sandboxID,
		Name:      optString(sn.name),
		CreatedAt: sn.createdAt,
		Status: lifecyclesrv.SnapshotStatus{
			State:            lifecyclesrv.SnapshotState(sn.state),
			Reason:           optString(sn.reason),
			Message:          optString(sn.message),
			LastTransitionAt: lifecyclesrv.NewOptDateTime(sn.lastTransition),
		},
	}
}

// guestFor returns the sandbox API simulator of tenant's sandbox id,
// creating it on first use, with the channel that is closed when the
// sandbox next leaves Paused. ok is false when there is no such sandbox
// for tenant ("" matches any tenant).
func (st *lcStore) guestFor(tenant, id string) (g guestAPI, state string, resumed <-chan struct{}, ok bool) {
	st.mu.RLock()
	sb, found := st.sandboxes.byID[id]
	if found && sb.guest != nil && (tenant == "" || sb.tenant == tenant) {
		g, state, resumed = sb.guest, sb.state, sb.resumed
		st.mu.RUnlock()
		return g, state, resumed, true
	}
	st.mu.RUnlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, found = st.sandboxes.byID[id]
	if !found || (tenant != "" && sb.tenant != tenant) {
		return nil, "", nil, false
	}
	if sb.guest == nil {
		sb.guest = st.srv.newGuest(sb.env)
		sb.guest.SetState(st.guestStateFor(sb.state))
	}
	return sb.guest, sb.state, sb.resumed, true
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
		if sb.stop.pending != nil {
			k, err := sb.stop.step()
			return k, true, err
		}
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
			for _, t := range []*task{sb.pending, sb.stop.pending} {
				if t != nil {
					out = append(out, PendingTransition{Kind: t.kind, ID: sb.id, Tenant: sb.tenant, Manual: t.manual})
				}
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

// close stops every timer and guest, and wakes requests waiting on a
// paused sandbox.
func (st *lcStore) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, sb := range st.sandboxes.byID {
		sb.async.cancel()
		sb.stop.cancel()
		stopTimer(&sb.expiry)
		stopTimer(&sb.exit)
		close(sb.resumed)
		sb.resumed = make(chan struct{})
		if sb.guest != nil {
			st.srv.retireGuest(sb.guest)
			sb.guest = nil
		}
	}
	for _, sn := range st.snapshots.byID {
		sn.async.cancel()
	}
}
