package mockserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// memOrigin is the URL of a server without a listener. The .test TLD is
// reserved (RFC 2606), so the name never resolves to a real host.
const memOrigin = "http://sandboxkit-mock.test"

// Server is a stateful mock of the lifecycle API, the control plane and
// the sandbox API of every sandbox. It is safe for concurrent use.
type Server struct {
	// world guards the state a Reset replaces (see reset.go); cfgMu
	// guards cfg for readers that do not hold world.
	world   sync.RWMutex
	cfgMu   sync.RWMutex
	cfg     config
	initial config // the configuration New made; Reset starts from it

	clock    *switchClock
	sched    *scheduler
	journal  *journal
	faults   faultSet
	commands commandSet
	auth     authenticator
	lc       *lcStore
	cp       *cpStore
	proxy    *proxy // proxy mode only

	lcFront *lcFront
	cpSrv   *controlplanesrv.Server
	control http.Handler

	tracer tracenoop.TracerProvider
	meter  metricnoop.MeterProvider

	baseURL string
	signKey []byte

	httpSrv   *http.Server
	serveDone chan struct{}

	// Live sandbox API simulators (scripted commands reach them), and
	// retired ones waiting to be closed.
	graveMu sync.Mutex
	guests  map[guestAPI]struct{}
	grave   []guestAPI
	graveN  atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ http.Handler = (*Server)(nil)

// New returns a server configured by opts. It serves in memory through
// [Server.HTTPClient]; with [WithListener] it also serves on TCP. Call
// [Server.Close] when done.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.checkRuntime(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		initial: cfg.clone(),
		clock:   &switchClock{inner: cfg.clock},
		journal: newJournal(cfg.journalMax),
		auth:    authenticator{keys: cfg.tenants},
		baseURL: cmpOr(cfg.baseURL, memOrigin),
		signKey: make([]byte, 32),
		guests:  map[guestAPI]struct{}{},
	}
	_, _ = rand.Read(s.signKey)
	s.sched = &scheduler{clk: s.clock, mode: s.mode, closed: s.closed.Load, after: s.buryGuests}
	if err := s.build(); err != nil {
		return nil, err
	}
	var err error
	if s.control, err = s.newControlHandler(); err != nil {
		return nil, err
	}
	if cfg.upstream != nil {
		s.proxy = newProxy(s, cfg.upstream, cfg.upstreamAPI)
	}
	if cfg.listen != "" {
		if err := s.listen(cfg.listen, cfg.baseURL); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start is [New] for tests: it fails tb on error and closes the server
// when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := New(opts...)
	if err != nil {
		tb.Fatalf("mockserver.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// listen serves on a TCP listener at addr. The server reports baseURL as
// its URL, or the listener's address when baseURL is empty.
func (s *Server) listen(addr, baseURL string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mockserver: listen: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.baseURL = cmpOr(baseURL, "http://"+net.JoinHostPort(host, port))
	s.httpSrv = s.httpServer()
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		_ = s.httpSrv.Serve(ln)
	}()
	return nil
}

// URL returns the server's base URL, without a trailing slash: a fixed
// fake origin (http://sandboxkit-mock.test) that only [Server.HTTPClient]
// reaches, or the listener's http://host:port. The lifecycle API is at
// URL()+"/v1", the control plane at URL()+"/v0".
func (s *Server) URL() string { return s.baseURL }

// host is the URL without its scheme, as lifecycle endpoints carry it.
func (s *Server) host() string {
	_, h, _ := strings.Cut(s.baseURL, "://")
	return h
}

// HTTPClient returns a client whose transport calls the server's handler
// in memory, whatever the request's host: no socket is opened, so it
// works inside a testing/synctest bubble. Response bodies stream; close
// them as with any client.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &memTransport{h: s}}
}

// Handler returns the server as an http.Handler, to serve it elsewhere
// (then set [WithBaseURL] so the URLs it hands out point there).
func (s *Server) Handler() http.Handler { return s }

// Shutdown stops the listener (if any) gracefully: it stops accepting
// connections and waits, until ctx is done, for the requests in progress
// (streams included) to finish; then it closes the server as [Server.Close]
// does. It returns ctx's error when requests were still running.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.httpSrv != nil {
		err = s.httpSrv.Shutdown(ctx)
	}
	s.Close()
	return err
}

// Close stops the listener (if any), every timer and every sandbox API
// simulator. Requests after Close are still answered; nothing changes by
// itself any more.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.httpSrv != nil {
			_ = s.httpSrv.Close()
			<-s.serveDone
		}
		s.world.Lock()
		s.lc.close()
		s.cp.close()
		s.world.Unlock()
		if s.proxy != nil {
			s.proxy.close()
		}
		s.buryGuests()
	})
}

// Now returns the time on the server's clock.
func (s *Server) Now() time.Time { return s.clock.Now() }

// now is the server's clock truncated to whole seconds in UTC, the
// precision of every time on the wire.
func (s *Server) now() time.Time { return s.clock.Now().UTC().Truncate(time.Second) }

// ErrRealClock is returned by [Server.Advance] on a server that runs on the
// real clock: only a server made with [WithManualClock] can be moved.
var ErrRealClock = errors.New("mockserver: Advance needs a server made WithManualClock")

// Advance moves the manual clock forward by d, running every expiry,
// retention and transition that falls due on the way, in time order. On a
// server that runs on the real clock it changes nothing and returns
// [ErrRealClock]; a negative d is an error.
func (s *Server) Advance(d time.Duration) error {
	if d < 0 {
		return invalidf("mockserver: Advance: negative duration %v", d)
	}
	m := s.manualClock()
	if m == nil {
		return ErrRealClock
	}
	m.Advance(d)
	s.buryGuests()
	return nil
}

// SetTime moves the manual clock to t, running what falls due on the way
// as [Server.Advance] does. A time before the clock's is an error, and a
// server on the real clock returns [ErrRealClock].
func (s *Server) SetTime(t time.Time) error {
	m := s.manualClock()
	if m == nil {
		return ErrRealClock
	}
	if now := m.Now(); t.Before(now) {
		return invalidf("mockserver: SetTime: %s is before the clock's time %s", t.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	m.Set(t)
	s.buryGuests()
	return nil
}

// Step completes the pending transition of the lifecycle sandbox or
// snapshot with id, or of the control plane sandbox named id (write
// "tenant/name" when the name exists in several tenants), whatever its
// mode. It is how [Manual] transitions complete.
func (s *Server) Step(id string) error {
	_, err := s.stepKind(id)
	return err
}

// stepKind is Step, reporting the kind of transition it completed.
func (s *Server) stepKind(id string) (TransitionKind, error) {
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	return s.step(id)
}

func (s *Server) step(id string) (TransitionKind, error) {
	kind, found, err := s.lc.step(id)
	if !found {
		kind, found, err = s.cp.step(id)
	}
	switch {
	case !found:
		return "", &notFoundError{msg: fmt.Sprintf("mockserver: Step: no sandbox or snapshot %q", id)}
	case errors.Is(err, errNoPending):
		return "", &conflictError{msg: fmt.Sprintf("mockserver: Step(%q): %v", id, err), err: err}
	case err != nil:
		return "", err
	}
	return kind, nil
}

// StepAll completes every pending [Manual] transition and returns how
// many it completed.
func (s *Server) StepAll() int {
	defer s.buryGuests()
	s.world.RLock()
	defer s.world.RUnlock()
	n := 0
	for _, p := range s.pendingTransitions() {
		if !p.Manual {
			continue
		}
		id := p.ID
		if p.Kind == TransitionCPDeploy || p.Kind == TransitionCPDelete {
			id = p.Tenant + "/" + p.ID
		}
		if _, err := s.step(id); err == nil {
			n++
		}
	}
	return n
}

// PendingTransitions lists the transitions that have started and not
// completed, ordered by id.
func (s *Server) PendingTransitions() []PendingTransition {
	s.world.RLock()
	defer s.world.RUnlock()
	return s.pendingTransitions()
}

func (s *Server) pendingTransitions() []PendingTransition {
	out := s.lc.pending(nil)
	out = s.cp.pending(out)
	slices.SortFunc(out, func(a, b PendingTransition) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ServeHTTP answers one request: it assigns the request id, routes,
// authenticates, applies injected faults, runs the operation and records
// the exchange in the journal.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.EscapedPath(); {
	case p == controlPrefix || strings.HasPrefix(p, controlPrefix+"/"):
		s.serveControl(w, r)
		return
	case p == healthzPath:
		serveHealthz(w, r)
		return
	}
	l := s.enter()
	defer s.buryGuests()
	defer l.release()
	id := requestIDFor(r)
	w.Header().Set(headerRequestID, id)
	rec := &recorder{ResponseWriter: w}
	var rt route
	if s.proxy != nil {
		rt = s.proxy.classify(r)
	} else {
		rt = s.classify(r)
	}
	rt.lease = l
	e := Entry{
		Time: s.clock.Now(), API: rt.api, Operation: rt.op,
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		RequestID: id, SandboxID: rt.sandboxID,
	}
	answered := true
	defer func() {
		p := recover()
		switch {
		case p != nil:
			e.Reset = p == http.ErrAbortHandler && r.Context().Err() == nil
		case rec.status == 0 && r.Context().Err() != nil:
			// The client went away before an answer.
		case answered:
			e.Status = cmpOr(rec.status, http.StatusOK)
		}
		s.journal.add(e)
		if p != nil {
			panic(p)
		}
	}()

	if !s.limitBody(rec, r, rt.api) {
		return
	}
	if s.proxy != nil {
		// The upstream server authenticates and answers.
		l.release()
		rt.lease = nil
		r.Header.Set(headerRequestID, id)
		s.serveFaulted(rec, r, &rt, &e, &answered, s.proxy.forward)
		return
	}
	if rt.kind == routeLifecycle && rt.op == "" {
		// The lifecycle server checks the key before it routes.
		tenant, ok := s.authorizeLifecycle(rec, r)
		e.Tenant = tenant
		switch {
		case !ok:
		case rt.health:
			serveLCHealth(rec)
		case rt.lc.allow != "":
			writeLCMethodNotAllowed(rec, rt.lc.allow)
		case rt.lc.redirect != "":
			writeLCRedirect(rec, r, rt.lc.redirect)
		default:
			writeLCNotFound(rec)
		}
		return
	}
	if rt.op == "" && rt.kind == routeControlPlane {
		// No such operation: the generated router answers 404 or 405.
		s.dispatch(rec, r, &rt)
		return
	}
	var tenant string
	switch {
	case rt.kind == routeLifecycle:
		var ok bool
		if tenant, ok = s.authorizeLifecycle(rec, r); !ok {
			return
		}
	case rt.proxy:
		var ok bool
		if tenant, ok = s.authorizeProxy(rec, r, &rt); !ok {
			e.Tenant = tenant
			return
		}
	default:
		var status int
		var msg string
		tenant, status, msg = s.authorize(&rt, r)
		if status != 0 {
			e.Tenant = tenant
			writeAPIError(rec, rt.api, status, msg)
			return
		}
	}
	e.Tenant = tenant
	ri := &reqInfo{requestID: id, tenant: tenant, workspace: tenant}
	if ws := r.Header.Get(headerWorkspace); ws != "" {
		ri.workspace = ws
	}
	r = r.WithContext(withReqInfo(r.Context(), ri))

	s.serveFaulted(rec, r, &rt, &e, &answered, s.dispatch)
}

// serveFaulted runs the operation of rt through run, shaped by the first
// injected fault that fires for it: delayed, dropped, failed, or failed
// after it took effect. It notes the fault in e, and clears answered when
// the client went away during a delay.
func (s *Server) serveFaulted(w http.ResponseWriter, r *http.Request, rt *route, e *Entry, answered *bool, run func(http.ResponseWriter, *http.Request, *route)) {
	fid, f := s.faults.match(rt.api, rt.op)
	if f == nil {
		run(w, r, rt)
		return
	}
	e.Fault = fid
	if f.Latency > 0 {
		rt.lease.release()
		slept := sleepCtx(r.Context(), f.Latency)
		rt.lease.acquire()
		if !slept {
			*answered = false // the client went away
			return
		}
	}
	if f.AfterCommit {
		run(&discardWriter{header: http.Header{}}, r, rt)
	}
	switch {
	case f.Reset:
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		writeFault(w, rt.api, f)
	default: // latency only
		run(w, r, rt)
	}
}

// authorizeLifecycle checks the lifecycle API key as the server's
// middleware does (before routing, except for the health check, the
// documentation and the server proxy) and answers 401 itself when it is
// missing or unknown.
func (s *Server) authorizeLifecycle(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.auth.open() || lifecycleAuthExempt(r.URL.Path) {
		return DefaultTenant, true
	}
	key := r.Header.Get(headerAPIKey)
	if key == "" {
		writeLCError(w, codedErrorf(http.StatusUnauthorized, "MISSING_API_KEY", "Authentication credentials are missing. Provide API key via %s header.", headerAPIKey))
		return "", false
	}
	tenant, ok := s.auth.keys[key]
	if !ok {
		writeLCError(w, codedErrorf(http.StatusUnauthorized, "INVALID_API_KEY", "Authentication credentials are invalid. Check your API key and try again."))
		return "", false
	}
	return tenant, true
}

// authorizeProxy admits a request to the server proxy
// (/sandboxes/{id}/proxy/{port}/...), which needs no credential when the
// port is a number, and answers the lifecycle server's errors for a bad
// port or an unknown sandbox itself.
func (s *Server) authorizeProxy(w http.ResponseWriter, r *http.Request, rt *route) (string, bool) {
	tenant, ok := s.authorizeLifecycle(w, r)
	if !ok {
		return tenant, false
	}
	c := &checker{}
	port, ok := pathInt(c, "port", rt.portText)
	if !ok {
		writeLCValidation(w, c)
		return tenant, false
	}
	if n := smallInt(port, -1); n < 1 || n > 65535 {
		if s.lc.rt == RuntimeDocker {
			writeLCError(w, codedErrorf(http.StatusBadRequest, "DOCKER::INVALID_PORT", "Port must be between 1 and 65535."))
		} else {
			writeInternal(w)
		}
		return tenant, false
	} else {
		rt.port = n
	}
	owner, ok := s.lc.ownerOf(rt.sandboxID)
	if !ok {
		writeLCError(w, s.lc.notFound(rt.sandboxID))
		return tenant, false
	}
	rt.owner = owner
	return owner, true
}

// authorize finds the tenant of a control plane or sandbox API request
// and checks it may address the route's sandbox. A non-zero status is the
// error to answer.
func (s *Server) authorize(rt *route, r *http.Request) (tenant string, status int, msg string) {
	if rt.kind == routePreviewCP {
		// A preview decides itself who may pass: public, or its token.
		return rt.owner, 0, ""
	}
	if rt.kind == routeGuestLifecycle && rt.signed != "" {
		// A signed route is its own credential.
		owner, ok := s.lc.ownerOf(rt.sandboxID)
		if !ok {
			return "", http.StatusNotFound, "sandbox not found"
		}
		if why := s.checkSignedRoute(rt.signed, rt.sandboxID, rt.port); why != "" {
			return "", http.StatusForbidden, why
		}
		rt.owner = owner
		return owner, 0, ""
	}
	tenant, ok := s.auth.tenantOf(rt.api, r)
	if !ok {
		return "", http.StatusUnauthorized, "missing or invalid credentials"
	}
	switch rt.kind {
	case routeGuestLifecycle:
		owner, ok := s.lc.ownerOf(rt.sandboxID)
		if !ok || !s.auth.hasKeyOf(owner, r) {
			return tenant, http.StatusNotFound, "sandbox not found"
		}
		rt.owner = owner
		return owner, 0, ""
	case routeGuestCP:
		if !s.auth.hasKeyOf(rt.owner, r) {
			return tenant, http.StatusNotFound, "sandbox not found"
		}
		return rt.owner, 0, ""
	}
	return tenant, 0, ""
}

// dispatch runs the operation of rt.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt *route) {
	switch rt.kind {
	case routeLifecycle:
		s.lcFront.serve(w, r, rt.lc)
	case routeControlPlane:
		s.cpSrv.ServeHTTP(w, r)
	case routeGuestLifecycle, routeGuestCP:
		s.serveGuest(w, r, rt)
	case routePreviewCP:
		s.servePreview(w, r, rt)
	default:
		plainNotFound(w, r)
	}
}

// requestIDFor returns the client's X-Request-ID when it sent a sensible
// one, else a new UUID.
func requestIDFor(r *http.Request) string {
	if v := strings.TrimSpace(r.Header.Get(headerRequestID)); v != "" && len(v) <= maxRequestIDLength {
		ok := true
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return v
		}
	}
	return newRequestID()
}

// newRequestID returns a request id in the lifecycle server's format: a
// random UUID as 32 hex digits, without dashes.
func newRequestID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// recorder remembers the status code written through it.
type recorder struct {
	http.ResponseWriter
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush supports streaming answers of the sandbox API.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows the answer of an operation whose client gets an
// injected failure instead (AfterCommit faults).
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
