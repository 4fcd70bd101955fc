package guest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// State is the state of the sandbox the guest runs in, as far as the
// guest's HTTP API is concerned.
type State int

const (
	// Running serves every request normally. It is the zero value.
	Running State = iota
	// Paused answers every request with 503 and an {"error": ...} body.
	// Processes, timers and streams already open are left alone.
	Paused
	// Terminated answers every request with 404 and an {"error": ...}
	// body, and drops the connections of open streams.
	Terminated
	// Pending (the sandbox is still booting) answers like Paused.
	Pending
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Running:
		return "Running"
	case Paused:
		return "Paused"
	case Terminated:
		return "Terminated"
	case Pending:
		return "Pending"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Defaults for the zero fields of [Config].
const (
	// DefaultVersion is the version reported before any upgrade.
	DefaultVersion = "v0.1.0"
	// DefaultWorkDir is the working directory relative paths start from.
	DefaultWorkDir = "/home/user"
	// DefaultUpgradeDelay is the time from POST /upgrade to the first
	// step, as observed on the real server.
	DefaultUpgradeDelay = 500 * time.Millisecond
	// DefaultUpgradeStep is the duration of each later upgrade step.
	DefaultUpgradeStep = 100 * time.Millisecond
	// DefaultRestartDuration is how long connections are refused while the
	// upgraded server re-executes itself.
	DefaultRestartDuration = 200 * time.Millisecond
	// DefaultDownloadSize is the size in bytes of the build an upgrade
	// downloads.
	DefaultDownloadSize = 25_034_936
	// DefaultBaseURL is the releases page an upgrade fetches from when the
	// request names none, as on the real server.
	DefaultBaseURL = "https://github.com/blaxel-ai/sandbox/releases"
)

// Config configures a [Guest]. Every field may be left zero.
type Config struct {
	// Clock drives everything time-based: uptime, upgrade steps, sleeps,
	// timeouts, keepalives and timestamps. Nil means clock.Real().
	Clock clock.Clock
	// Token is the bearer token requests must carry, in
	// "Authorization: Bearer <token>" or "X-Blaxel-Authorization: Bearer
	// <token>" (either is enough). Empty means no check, which is what the
	// real server itself does (its gateway checks tokens).
	Token string
	// Version is the version the server reports before any upgrade
	// (default [DefaultVersion]).
	Version string
	// LatestVersion is what an upgrade to "latest", "develop" or "main"
	// installs. Default: Version with its patch number plus one (v0.1.0 →
	// v0.1.1), or Version+"-next" when Version is not vX.Y.Z.
	LatestVersion string
	// WorkDir is the server's working directory: relative paths are
	// resolved against it, processes without a workingDir start in it, and
	// it is the home directory ~ stands for (default [DefaultWorkDir]).
	WorkDir string
	// Env is the environment of the guest metadata document: processes
	// see it from the start and POST /environment/reload applies it.
	Env map[string]string
	// UpgradeDelay is the time between POST /upgrade and the first visible
	// step (default [DefaultUpgradeDelay]).
	UpgradeDelay time.Duration
	// UpgradeStep is the duration of the validate and replace steps; the
	// download takes four of them (default [DefaultUpgradeStep]).
	UpgradeStep time.Duration
	// RestartDuration is how long the server refuses connections while it
	// re-executes itself after a successful upgrade (default
	// [DefaultRestartDuration]).
	RestartDuration time.Duration
	// DownloadSize is the size of the build an upgrade downloads (default
	// [DefaultDownloadSize]).
	DownloadSize int64
}

// Guest is one simulated sandbox API server. It is an http.Handler whose
// paths are relative to the API root ("/health", "/filesystem/…"). It is
// safe for concurrent use. Create it with [New]; end it with [Guest.Close].
type Guest struct {
	cfg Config
	clk clock.Clock
	srv *sandboxsrv.Server

	// wg counts the goroutines of registered commands.
	wg sync.WaitGroup

	// mu guards everything below. It is never held while writing to a
	// client or while user code (a CommandFunc) runs; the simulated shells
	// run in coroutines (coro.go) as if they held it.
	mu     sync.Mutex
	state  State
	closed bool
	// closing is closed by Close: streams end cleanly.
	closing chan struct{}
	// bootDone is closed when the current server instance goes away
	// (restart after an upgrade, termination): streams drop their
	// connection. A new channel replaces it.
	bootDone chan struct{}
	timers   map[*trackedTimer]struct{}
	// streams counts open streaming responses; streamsChanged is closed
	// and replaced whenever the count changes.
	streams        int
	streamsChanged chan struct{}

	// health and upgrade
	version      string
	buildTime    time.Time
	startedAt    time.Time
	upgradeCount int
	restarting   bool
	bootID       int
	last         upgradeStatus
	script       *UpgradeScript

	// file system
	root        *node
	watchers    map[*watcher]struct{}
	uploads     map[string]*upload
	uploadOrder []string

	// processes
	procs    map[string]*process // by pid
	order    []*process          // in start order
	nextPID  int
	commands map[string]CommandFunc
	// rand draws process names and upload ids: seeded, so a test sees the
	// same ones on every run.
	rand *rand.Rand
	// devRand feeds /dev/urandom, seeded as well.
	devRand *rand.Rand

	// network
	listeners map[listenKey]*listener
	monitors  map[int]string
	tunnel    []byte // decoded configuration; nil when no tunnel runs

	// drives
	mounts map[string]sandboxsrv.DriveMountInfo

	terms map[string]*termSession // terminal sessions by id (terminal.go)

	// environment
	metaEnv     map[string]string // what the metadata document carries
	metaGen     int64
	procEnv     map[string]string // what processes inherit
	appliedKeys map[string]struct{}
}

// handler implements the generated server interfaces. It is a separate
// type so that Guest's exported API stays the test-facing one.
type handler struct{ *Guest }

var (
	_ sandboxsrv.Handler         = handler{}
	_ sandboxsrv.RawHandler      = handler{}
	_ sandboxsrv.SecurityHandler = handler{}
	_ http.Handler               = (*Guest)(nil)
)

// New returns a guest that is Running, with an empty file system holding
// only /, /tmp and the working directory.
func New(cfg Config) *Guest {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.LatestVersion == "" {
		cfg.LatestVersion = nextVersion(cfg.Version)
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = DefaultWorkDir
	}
	cfg.WorkDir = path.Clean("/" + cfg.WorkDir)
	if cfg.UpgradeDelay <= 0 {
		cfg.UpgradeDelay = DefaultUpgradeDelay
	}
	if cfg.UpgradeStep <= 0 {
		cfg.UpgradeStep = DefaultUpgradeStep
	}
	if cfg.RestartDuration <= 0 {
		cfg.RestartDuration = DefaultRestartDuration
	}
	if cfg.DownloadSize <= 0 {
		cfg.DownloadSize = DefaultDownloadSize
	}
	now := cfg.Clock.Now()
	g := &Guest{
		cfg:            cfg,
		clk:            cfg.Clock,
		closing:        make(chan struct{}),
		bootDone:       make(chan struct{}),
		timers:         map[*trackedTimer]struct{}{},
		streamsChanged: make(chan struct{}),
		version:        cfg.Version,
		buildTime:      now.Add(-24 * time.Hour),
		startedAt:      now,
		last:           upgradeStatus{status: "idle", step: "none"},
		watchers:       map[*watcher]struct{}{},
		uploads:        map[string]*upload{},
		procs:          map[string]*process{},
		nextPID:        1000,
		rand:           rand.New(rand.NewPCG(1, 2)),
		devRand:        newDevRand(),
		commands:       map[string]CommandFunc{},
		monitors:       map[int]string{},
		listeners:      map[listenKey]*listener{},
		mounts:         map[string]sandboxsrv.DriveMountInfo{},
		metaEnv:        copyEnv(cfg.Env),
		metaGen:        1,
		procEnv:        copyEnv(cfg.Env),
		appliedKeys:    map[string]struct{}{},
	}
	g.root = newDir("", 0o755, now)
	g.mu.Lock()
	_, _ = g.mkdirAllLocked("/tmp", 0o755, false)
	g.root.kids["tmp"].perm = 0o777
	_, _ = g.mkdirAllLocked(cfg.WorkDir, 0o755, false)
	g.mu.Unlock()

	h := handler{g}
	srv, err := sandboxsrv.NewServer(h, h, h,
		// Multipart parts above this size go to a temporary file while the
		// form is parsed, so that a part then costs one buffer of its
		// exact size (see readPart), not a growing copy as well.
		sandboxsrv.WithMaxMultipartMemory(maxPartMemory),
		sandboxsrv.WithNotFound(notFound),
		sandboxsrv.WithMethodNotAllowed(func(w http.ResponseWriter, r *http.Request, _ string) { notFound(w, r) }),
		sandboxsrv.WithErrorHandler(ogenError),
	)
	if err != nil {
		panic("guest: " + err.Error()) // only reachable with invalid options
	}
	g.srv = srv
	return g
}

// ServeHTTP serves one request of the sandbox API. The path is relative to
// the API root. Requests are refused as the state says (see [State]);
// during the restart window of an upgrade the connection is dropped: a
// ResponseWriter that is an http.Hijacker is hijacked and closed, any other
// gets panic(http.ErrAbortHandler), which net/http and in-memory transports
// turn into a failed request.
func (g *Guest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	closed, restarting, state := g.closed, g.restarting, g.state
	g.mu.Unlock()
	switch {
	case restarting:
		dropConnection(w)
		return
	case closed:
		writeError(w, http.StatusServiceUnavailable, "sandbox API is shut down")
		return
	case state == Paused || state == Pending:
		writeError(w, http.StatusServiceUnavailable, "sandbox is not running ("+strings.ToLower(state.String())+")")
		return
	case state == Terminated:
		writeError(w, http.StatusNotFound, "sandbox not found")
		return
	}
	if !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sandbox"`)
		writeError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	g.route(w, r)
}

// SetState changes what requests get: Running serves them, Paused and
// Pending answer 503, Terminated answers 404 and drops open streams.
func (g *Guest) SetState(s State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s == Terminated && g.state != Terminated {
		g.newBootLocked()
	}
	g.state = s
}

// Close stops every timer, ends every stream, kills every running process
// and waits for the goroutines of registered commands to return. Later
// requests get 503. Close is idempotent.
func (g *Guest) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.closing)
		for t := range g.timers {
			t.t.Stop()
		}
		clear(g.timers)
		for _, p := range g.order {
			if p.live {
				p.status = statusKilled
			}
			g.stopTimerLocked(p.restartTimer)
			p.restartTimer = nil
			g.signalLocked(p, false)
			if p.tailing {
				g.finishRunLocked(p, false)
			}
			p.final = true
		}
		clear(g.watchers)
		g.endTerminalsLocked()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// newBootLocked drops the streams of the current server instance and
// ends its terminal sessions.
func (g *Guest) newBootLocked() {
	g.endTerminalsLocked()
	close(g.bootDone)
	g.bootDone = make(chan struct{})
	g.bootID++
}

// authorized reports whether r carries the configured token.
func (g *Guest) authorized(r *http.Request) bool {
	if g.cfg.Token == "" {
		return true
	}
	for _, name := range []string{"Authorization", "X-Blaxel-Authorization"} {
		for _, v := range r.Header.Values(name) {
			scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
			if ok && strings.EqualFold(scheme, "Bearer") &&
				subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(g.cfg.Token)) == 1 {
				return true
			}
		}
	}
	return false
}

// HandleBearerAuth implements sandboxsrv.SecurityHandler. Tokens are
// checked in ServeHTTP (which also knows X-Blaxel-Authorization), so any
// token that gets here is accepted.
func (handler) HandleBearerAuth(ctx context.Context, _ sandboxsrv.OperationName, _ sandboxsrv.BearerAuth) (context.Context, error) {
	return ctx, nil
}

// abs resolves a path (as extracted by route, or as a client of the Guest
// API gives it) to a clean absolute path: relative paths start from the
// working directory.
func (g *Guest) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(g.cfg.WorkDir, p)
}

// requestKey carries the *http.Request in the context, for the raw
// handlers that need headers (Accept) or ServeContent.
type requestKey struct{}

func requestFrom(ctx context.Context) *http.Request {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	return r
}

// dropConnection makes the client see a broken connection.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// notFound is the real server's answer to an unknown route: plain text.
func notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("404 page not found"))
	}
}

// ogenError answers errors of the generated server (undecodable
// parameters or bodies; refused credentials go to NewError) in the real
// server's {"error": ...} shape.
func ogenError(_ context.Context, w http.ResponseWriter, r *http.Request, err error) {
	code := ogenerrors.ErrorCode(err)
	msg := err.Error()
	var pe *ogenerrors.DecodeParamError
	if errors.As(err, &pe) {
		msg = paramErrorText(pe, r.URL.Query().Get(pe.Name))
	}
	var de *ogenerrors.DecodeRequestError
	if errors.As(err, &de) {
		// The real server's words for a body it cannot bind.
		switch inner := de.Err.Error(); {
		case de.OperationName() == "ExecProcess" && strings.Contains(inner, "command (field required)"):
			msg = errCommandRequired
		case de.OperationName() == "UpdateTunnelConfig" && strings.Contains(inner, "config (field required)"):
			msg = errRequiredConfig
		case strings.Contains(inner, "EOF") || strings.Contains(inner, "empty"):
			msg = "invalid request body: EOF"
		default:
			msg = "invalid request body: " + inner
		}
	}
	writeError(w, code, msg)
}

// paramErrorText is the real server's answer to a query parameter it
// cannot use.
func paramErrorText(pe *ogenerrors.DecodeParamError, raw string) string {
	missing := strings.Contains(pe.Err.Error(), "not set")
	switch pe.Name {
	case "query":
		return "query parameter is required"
	case "partNumber":
		if missing {
			return "partNumber is required"
		}
		return "invalid partNumber: strconv.Atoi: parsing " + strconv.Quote(raw) + ": invalid syntax"
	case "maxResults":
		return "invalid maxResults: " + raw
	}
	return "invalid parameter " + pe.Name + ": " + pe.Err.Error()
}

// failure is a handler's error answer: status code and the {"error": msg}
// body the real server sends.
func failure(code int, msg string) *sandboxsrv.ErrorStatusCode {
	return &sandboxsrv.ErrorStatusCode{StatusCode: code, Response: sandboxsrv.ErrorResponse{Error: msg}}
}

// NewError implements sandboxsrv.Handler: the answer to an error that is
// not a [failure]. Handlers give every answer the real server gives as a
// failure, so this only meets a refused credential (HandleBearerAuth
// refuses none: tokens are checked in ServeHTTP) and the mock's own
// faults, which the real server would report as a 500.
func (handler) NewError(_ context.Context, err error) *sandboxsrv.ErrorStatusCode {
	if _, ok := errors.AsType[*ogenerrors.SecurityError](err); ok {
		return failure(http.StatusUnauthorized, "Unauthorized")
	}
	return failure(http.StatusInternalServerError, err.Error())
}

// writeError writes the {"error": msg} body every error answer has.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	writeJSON(w, code, b)
}

// writeJSON writes an already encoded JSON body.
func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// trackedTimer is a clock timer that Close can stop.
type trackedTimer struct{ t clock.Timer }

// afterLocked runs f (without g.mu held) once d has passed on the guest's
// clock, unless the timer is stopped or the guest closed first.
func (g *Guest) afterLocked(d time.Duration, f func()) *trackedTimer {
	tm := &trackedTimer{t: noTimer{}}
	if g.closed {
		return tm // nothing runs after Close
	}
	tm.t = g.clk.AfterFunc(d, func() {
		g.mu.Lock()
		_, ok := g.timers[tm]
		delete(g.timers, tm)
		g.mu.Unlock()
		if ok {
			f()
		}
	})
	g.timers[tm] = struct{}{}
	return tm
}

// noTimer is the timer of a call that was never scheduled.
type noTimer struct{}

func (noTimer) Stop() bool { return false }

// stopTimerLocked cancels tm (which may be nil); its function will not run.
func (g *Guest) stopTimerLocked(tm *trackedTimer) {
	if tm == nil {
		return
	}
	delete(g.timers, tm)
	tm.t.Stop()
}

func copyEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
