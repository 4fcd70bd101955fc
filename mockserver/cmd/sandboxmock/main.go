// Command sandboxmock serves sandboxkit's mock server over TCP: the
// lifecycle API (OpenSandbox), the control plane's sandboxes resource
// (Blaxel /v0) and the sandbox API of every sandbox, with a control API
// for tests written in any language. It is the Go package
// github.com/sandboxkit/sandboxkit/mockserver as a process (or a container
// image); that package's documentation describes what the mock simulates
// and where it differs from the real services.
//
// # Install and run
//
//	go install github.com/sandboxkit/sandboxkit/mockserver/cmd/sandboxmock@latest
//	sandboxmock -listen 127.0.0.1:8080
//
// or, with Docker (the Dockerfile at the repository's root):
//
//	docker build -t sandboxmock .
//	docker run --rm -p 8080:8080 -e SANDBOXMOCK_CONTROL_TOKEN=secret sandboxmock
//
// The first line on standard output names the URLs:
//
//	sandboxmock listening on http://127.0.0.1:8080 lifecycle=http://127.0.0.1:8080/v1 controlplane=http://127.0.0.1:8080/v0 control=http://127.0.0.1:8080/_sandboxmock
//
// Point clients at them: OPEN_SANDBOX_BASE_URL=http://127.0.0.1:8080/v1
// for the lifecycle API, BL_API_URL=http://127.0.0.1:8080/v0 for the
// control plane; sandbox API base URLs come from the lifecycle API's
// endpoints and the control plane's metadata.url. GET /healthz answers
// 200 while the server runs. SIGINT or SIGTERM stop it cleanly: open
// requests (streams) get a few seconds, then the state file, if any, is
// written. sandboxmock -h lists every flag; each option of mockserver.New
// has one.
//
// # Control API
//
// Under /_sandboxmock, JSON in and out, described by the OpenAPI document
// internal/spec/mockcontrol.yaml of the repository (Go programs use
// mockserver.Dial). Without -control-token only loopback clients may use
// it, so a server listening on another interface needs a token (flag or
// SANDBOXMOCK_CONTROL_TOKEN), sent as "Authorization: Bearer TOKEN".
// Durations are Go durations ("1.5s"), times RFC 3339. With curl, from
// Python or TypeScript alike:
//
//	M=http://127.0.0.1:8080/_sandboxmock
//	# the next create succeeds on the server but its client gets a 503
//	curl -s -X POST $M/faults -d '{"api":"lifecycle","operation":"CreateSandbox","status":503,"afterCommit":true,"times":1}'
//	# 10% of sandbox API calls are dropped, reproducibly
//	curl -s -X POST $M/faults -d '{"api":"sandbox","reset":true,"probability":0.1,"seed":7}'
//	curl -s $M/faults                       # list, with how often each fired
//	curl -s -X DELETE $M/faults             # clear
//	# the next upgrade of a sandbox's API fails while downloading
//	curl -s -X POST $M/upgrades -d '{"sandbox":"SANDBOX_ID","failAt":"download"}'
//	# "pytest" prints and fails in every sandbox
//	curl -s -X POST $M/commands -d '{"name":"pytest","stdout":"1 failed\n","exitCode":1}'
//	# a manual clock (reset keeps nothing), then move it past an expiry
//	curl -s -X POST $M/reset -d '{"manualClock":"2030-01-01T00:00:00Z","runtime":"docker"}'
//	curl -s -X POST $M/clock/advance -d '{"by":"2h"}'
//	curl -s -X POST $M/sandboxes -d '{"id":"sb1","state":"Paused"}'   # seed
//	curl -s "$M/journal?api=lifecycle&operation=CreateSandbox"          # what clients sent
//	curl -s "$M/journal/count?faulted=true"
//	curl -s "$M/journal/creation-counts?key=sandboxkit.io/client-token" # duplicate creates?
//	curl -s -X POST $M/reset                # forget everything
//
// In Python, requests.post(M + "/faults", json={...}); in TypeScript,
// fetch(M + "/faults", {method: "POST", body: JSON.stringify({...})}).
// Errors are {"error": "...", "code": "..."}; a fault naming an operation
// its API does not have is a 400 UNKNOWN_OPERATION listing the valid
// names (GET $M/operations lists them all).
//
// # Chaos proxy
//
//	sandboxmock proxy -upstream http://127.0.0.1:8090/v1 [-api lifecycle|sandbox]
//
// forwards every request to a real lifecycle server or sandbox API and
// applies the same faults (statuses, Retry-After, latency, dropped
// connections, failure after commit: the request is forwarded and the
// answer dropped) and journal to that traffic, with the same control API
// (its controls of the mock's own state answer 409 PROXY_MODE). Requests
// keep their path, so clients of a lifecycle server at .../v1 use the
// proxy's URL plus /v1. Without -api the proxy asks the upstream's
// /health which API it serves.
//
// # State file
//
// With -state FILE the mock restores FILE at start (when it exists) and
// writes its state there when it stops: sandboxes, snapshots, control
// plane sandboxes, faults, scripted commands, the runtime and a manual
// clock's time (not the files and processes inside sandboxes, nor the
// journal). GET and PUT /_sandboxmock/state read and replace the same
// document.
//
// # Memory
//
// A long-running sandboxmock holds what exists (live sandboxes, their
// files and process records) plus capped history: -journal-limit records
// of each journal kind and -terminated-limit TERMINATED control plane
// sandboxes (package mockserver's documentation lists every bound). Under
// steady load its memory stays flat; soak_test.go in this directory
// measures that (go test ./mockserver/cmd/sandboxmock -run TestSoak -soak
// 10m -timeout 30m -v). With -debug-listen 127.0.0.1:6060 the process
// serves its Go profiles and memory statistics, e.g.
//
//	go tool pprof -top -inuse_space http://127.0.0.1:6060/debug/pprof/heap
//	curl -s http://127.0.0.1:6060/debug/vars    # memstats, liveHeapBytes
//
// The Go runtime's GOGC and GOMEMLIMIT variables apply as to any Go
// program.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sandboxmock:", err)
		os.Exit(2)
	}
}

// shutdownTimeout bounds how long open requests (streams) may take to
// finish after a signal.
const shutdownTimeout = 5 * time.Second

// envControlToken names the variable the control token is read from when
// -control-token is not given (so that it stays out of process lists).
const envControlToken = "SANDBOXMOCK_CONTROL_TOKEN"

// run serves until ctx is done. -h and -help print the usage and return
// nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "proxy" {
		return runProxy(ctx, args[1:], stdout, stderr)
	}
	fs, common := newFlagSet("sandboxmock", stderr, `Usage: sandboxmock [flags]
       sandboxmock proxy -upstream URL [flags]

Serves the lifecycle API (/ and /v1), the control plane (/v0), the sandbox
API of every sandbox, the control API (/_sandboxmock) and /healthz.
See "go doc github.com/sandboxkit/sandboxkit/mockserver/cmd/sandboxmock".

Flags:
`)
	apiKey := fs.String("api-key", "", "API `key` of the default tenant: required by the lifecycle API and the control plane, accepted by the sandbox API (default: no authentication)")
	var tenants tenantFlag
	fs.Var(&tenants, "tenant", "`KEY=NAME` makes KEY a credential of tenant NAME (repeatable); tenants never see each other's sandboxes")
	runtimeName := fs.String("runtime", string(mockserver.DefaultRuntime), "lifecycle server `runtime` to behave like: kubernetes (asynchronous transitions) or docker (synchronous, entrypoints exit)")
	delay := fs.Duration("transition-delay", mockserver.DefaultTransitionDelay, "`duration` of every asynchronous state transition (0: immediate)")
	var transitions transitionFlag
	fs.Var(&transitions, "transition", "`KIND=MODE` sets one kind of transition (Provision, Pause, Resume, Stop, SnapshotCreate, SnapshotDelete, CPDeploy, CPDelete) to immediate, manual or a duration (repeatable)")
	retention := fs.Duration("retention", mockserver.DefaultTerminatedRetention, "how long terminated control plane sandboxes stay visible, unless their spec says")
	terminatedLimit := fs.Int("terminated-limit", mockserver.DefaultTerminatedLimit, "terminated control plane sandboxes kept during their retention; beyond it the first terminated is forgotten early (0: no limit)")
	manualClock := fs.String("manual-clock", "", "run on a manual clock that starts at `TIME` (RFC 3339, or \"now\") and moves only through the control API")
	maxTimeout := fs.Duration("max-sandbox-timeout", 0, "largest create timeout accepted, at least 60s (0: no limit)")
	state := fs.String("state", "", "state `file`: restored at start when it exists, written at shutdown")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (the only subcommand is proxy, first)", fs.Args())
	}
	rt, err := mockserver.ParseRuntime(*runtimeName)
	if err != nil {
		return err
	}
	opts, err := common.options()
	if err != nil {
		return err
	}
	opts = append(opts,
		mockserver.WithRuntime(rt),
		mockserver.WithTransitionDelay(*delay),
		mockserver.WithRetention(*retention),
		mockserver.WithTerminatedLimit(*terminatedLimit))
	opts = append(opts, transitions...)
	if *maxTimeout != 0 {
		opts = append(opts, mockserver.WithMaxSandboxTimeout(*maxTimeout))
	}
	if *apiKey != "" {
		opts = append(opts, mockserver.WithTenant(*apiKey, mockserver.DefaultTenant))
	}
	opts = append(opts, tenants...)
	if *manualClock != "" {
		start := time.Now().UTC().Truncate(time.Second)
		if *manualClock != "now" {
			if start, err = time.Parse(time.RFC3339, *manualClock); err != nil {
				return fmt.Errorf("-manual-clock: %q is not an RFC 3339 time or \"now\"", *manualClock)
			}
		}
		opts = append(opts, mockserver.WithManualClock(start))
	}
	srv, err := mockserver.New(opts...)
	if err != nil {
		return err
	}
	if *state != "" {
		if err := loadState(srv, *state); err != nil {
			srv.Close()
			return err
		}
	}
	debug, err := common.startDebug()
	if err != nil {
		srv.Close()
		return err
	}
	defer debug.close()
	u := srv.URL()
	fmt.Fprintf(stdout, "sandboxmock listening on %s lifecycle=%s/v1 controlplane=%s/v0 control=%s/_sandboxmock%s\n", u, u, u, u, debug.field())
	in := srv.Info()
	fmt.Fprintf(stderr, "sandboxmock: lifecycle runtime %s, %s clock at %s\n", in.Runtime, clockKind(in.ManualClock), in.Now.UTC().Format(time.RFC3339))
	return serve(ctx, srv, *state, stderr)
}

// runProxy serves the chaos proxy until ctx is done.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, common := newFlagSet("sandboxmock proxy", stderr, `Usage: sandboxmock proxy -upstream URL [flags]

Forwards every request to a real lifecycle server or sandbox API and
applies the faults and journal of the control API (/_sandboxmock) to them.

Flags:
`)
	upstream := fs.String("upstream", "", "`URL` of the real lifecycle server or sandbox API (required); requests keep their path")
	apiName := fs.String("api", "", "the upstream's `API`: lifecycle or sandbox (default: ask its /health)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *upstream == "" {
		return errors.New("proxy: -upstream is required")
	}
	var api mockserver.API
	switch *apiName {
	case "lifecycle":
		api = mockserver.APILifecycle
	case "sandbox":
		api = mockserver.APISandbox
	case "":
		var err error
		if api, err = detectAPI(ctx, *upstream); err != nil {
			return err
		}
	default:
		return fmt.Errorf("proxy: -api %q: want lifecycle or sandbox", *apiName)
	}
	opts, err := common.options()
	if err != nil {
		return err
	}
	srv, err := mockserver.New(append(opts, mockserver.WithUpstream(*upstream, api))...)
	if err != nil {
		return err
	}
	debug, err := common.startDebug()
	if err != nil {
		srv.Close()
		return err
	}
	defer debug.close()
	u := srv.URL()
	if api == mockserver.APILifecycle {
		fmt.Fprintf(stdout, "sandboxmock listening on %s proxy=lifecycle upstream=%s lifecycle=%s/v1 control=%s/_sandboxmock%s\n", u, *upstream, u, u, debug.field())
	} else {
		fmt.Fprintf(stdout, "sandboxmock listening on %s proxy=sandbox upstream=%s sandbox=%s control=%s/_sandboxmock%s\n", u, *upstream, u, u, debug.field())
	}
	return serve(ctx, srv, "", stderr)
}

// serve waits for ctx, then stops srv and writes the state file.
func serve(ctx context.Context, srv *mockserver.Server, state string, stderr io.Writer) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, "sandboxmock: open requests cut after", shutdownTimeout)
		err = nil
	}
	if state != "" {
		if serr := saveState(srv, state); serr != nil {
			return errors.Join(err, serr)
		}
		fmt.Fprintln(stderr, "sandboxmock: state written to", state)
	}
	return err
}

// loadState restores path if it exists.
func loadState(srv *mockserver.Server, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("-state: %w", err)
	}
	defer f.Close()
	if err := srv.LoadState(f); err != nil {
		return fmt.Errorf("-state %s: %w", path, err)
	}
	return nil
}

// saveState writes the state to path through a temporary file, so that a
// failure leaves the previous file intact.
func saveState(srv *mockserver.Server, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("-state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename this fails harmlessly
	if err := srv.SaveState(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("-state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("-state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("-state: %w", err)
	}
	return nil
}

func clockKind(manual bool) string {
	if manual {
		return "manual"
	}
	return "wall"
}

// commonFlags are the flags of both modes.
type commonFlags struct {
	listen, baseURL, controlToken *string
	debug                         *string
	journal                       *int
	maxBody, maxUpload            byteSize
	readHeader, readTimeout, idle *time.Duration
}

// newFlagSet returns a flag set with the flags of both modes.
func newFlagSet(name string, stderr io.Writer, usage string) (*flag.FlagSet, *commonFlags) {
	def := mockserver.DefaultLimits()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	c := &commonFlags{maxBody: byteSize(def.MaxBodyBytes), maxUpload: byteSize(def.MaxUploadBytes)}
	c.listen = fs.String("listen", "127.0.0.1:8080", "TCP `address` to listen on; port 0 picks a free port")
	c.baseURL = fs.String("base-url", "", "`URL` the server reports as its own (endpoints, metadata.url), e.g. behind a port mapping (default: the listener's)")
	c.controlToken = fs.String("control-token", "", "bearer `token` the control API requires (default $"+envControlToken+"); needed when listening beyond loopback")
	c.debug = fs.String("debug-listen", "", "loopback `address` (e.g. 127.0.0.1:6060, port 0 picks one) serving the mock's own Go profiles (/debug/pprof) and memory statistics (/debug/vars), named on the first output line as debug=URL (default: none)")
	c.journal = fs.Int("journal-limit", 10_000, "records of each kind the journal keeps (0: all)")
	fs.Var(&c.maxBody, "max-body", "largest lifecycle or control plane request `body` (bytes, or with KiB, MiB, GiB)")
	fs.Var(&c.maxUpload, "max-upload", "largest sandbox API (and control API) request `body`")
	c.readHeader = fs.Duration("read-header-timeout", def.ReadHeaderTimeout, "time a client may take to send request headers")
	c.readTimeout = fs.Duration("read-timeout", def.ReadTimeout, "time a client may take to send a whole request, body included")
	c.idle = fs.Duration("idle-timeout", def.IdleTimeout, "time an idle keep-alive connection stays open")
	return fs, c
}

// options returns the options of the common flags; it refuses a listener
// beyond loopback without a control token.
func (c *commonFlags) options() ([]mockserver.Option, error) {
	if *c.readHeader <= 0 || *c.readTimeout <= 0 || *c.idle <= 0 {
		return nil, errors.New("-read-header-timeout, -read-timeout and -idle-timeout must be positive")
	}
	token := *c.controlToken
	if token == "" {
		token = os.Getenv(envControlToken)
	}
	if token == "" && !loopbackAddress(*c.listen) {
		return nil, fmt.Errorf("-listen %s is reachable beyond loopback: give the control API a token (-control-token or %s)", *c.listen, envControlToken)
	}
	opts := []mockserver.Option{
		mockserver.WithListener(*c.listen),
		mockserver.WithJournalLimit(*c.journal),
		mockserver.WithLimits(mockserver.Limits{
			MaxBodyBytes:      int64(c.maxBody),
			MaxUploadBytes:    int64(c.maxUpload),
			ReadHeaderTimeout: *c.readHeader,
			ReadTimeout:       *c.readTimeout,
			IdleTimeout:       *c.idle,
		}),
	}
	if *c.baseURL != "" {
		opts = append(opts, mockserver.WithBaseURL(*c.baseURL))
	}
	if token != "" {
		opts = append(opts, mockserver.WithControlToken(token))
	}
	return opts, nil
}

// debugServer serves the process's profiles and memory statistics, for
// finding where the mock itself spends memory or time.
type debugServer struct {
	url string
	srv *http.Server
}

// startDebug starts the -debug-listen server, if the flag is set; it
// refuses an address beyond loopback (profiles show request data).
func (c *commonFlags) startDebug() (*debugServer, error) {
	if *c.debug == "" {
		return &debugServer{}, nil
	}
	if !loopbackAddress(*c.debug) {
		return nil, fmt.Errorf("-debug-listen %s: only a loopback address is allowed", *c.debug)
	}
	ln, err := net.Listen("tcp", *c.debug)
	if err != nil {
		return nil, fmt.Errorf("-debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	publishLiveHeap.Do(func() { expvar.Publish("liveHeapBytes", expvar.Func(liveHeap)) })
	d := &debugServer{
		url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { _ = d.srv.Serve(ln) }() // ends when close shuts the server
	return d, nil
}

// publishLiveHeap publishes liveHeapBytes in /debug/vars once per
// process (expvar names are global).
var publishLiveHeap sync.Once

// liveHeap is the heap the last garbage collection found reachable: the
// mock's live data, which memstats' totals hide among garbage.
func liveHeap() any {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return nil
	}
	return s[0].Value.Uint64()
}

// field is the debug=URL field of the first output line, or "".
func (d *debugServer) field() string {
	if d.srv == nil {
		return ""
	}
	return " debug=" + d.url
}

// close stops the debug server.
func (d *debugServer) close() {
	if d.srv != nil {
		_ = d.srv.Close()
	}
}

// loopbackAddress reports whether a listen address only accepts loopback
// connections.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// detectAPI asks the upstream's GET /health which API it serves: the
// lifecycle server answers {"status":"healthy"}, the sandbox API a health
// document with upgradeCount and lastUpgrade.
func detectAPI(ctx context.Context, upstream string) (mockserver.API, error) {
	u := strings.TrimSuffix(upstream, "/")
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			u = u[:i+3+j]
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/health", nil)
	if err != nil {
		return "", fmt.Errorf("proxy: -upstream: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("proxy: asking the upstream which API it serves (or give -api): %w", err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return "", fmt.Errorf("proxy: the upstream's /health is not JSON (%s); give -api", resp.Status)
	}
	if _, ok := h["upgradeCount"]; ok {
		return mockserver.APISandbox, nil
	}
	if h["status"] == "healthy" {
		return mockserver.APILifecycle, nil
	}
	return "", errors.New("proxy: cannot tell the upstream's API from its /health; give -api lifecycle or -api sandbox")
}

// byteSize is a flag value: a number of bytes, optionally with a KiB,
// MiB or GiB suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a positive size", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// tenantFlag collects -tenant KEY=NAME.
type tenantFlag []mockserver.Option

func (f *tenantFlag) String() string { return "" }

func (f *tenantFlag) Set(s string) error {
	key, name, ok := strings.Cut(s, "=")
	if !ok || key == "" || name == "" {
		return errors.New("want KEY=NAME")
	}
	*f = append(*f, mockserver.WithTenant(key, name))
	return nil
}

// transitionFlag collects -transition KIND=MODE.
type transitionFlag []mockserver.Option

func (f *transitionFlag) String() string { return "" }

func (f *transitionFlag) Set(s string) error {
	k, m, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want KIND=MODE")
	}
	kind, err := mockserver.ParseTransitionKind(k)
	if err != nil {
		return err
	}
	mode, err := mockserver.ParseMode(m)
	if err != nil {
		return err
	}
	*f = append(*f, mockserver.WithTransition(kind, mode))
	return nil
}
