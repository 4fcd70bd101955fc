package mockserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/mockcontrolapi"
)

// DefaultRemoteTimeout bounds each control API call of a [Remote] whose
// DialOptions give no HTTP client of their own.
const DefaultRemoteTimeout = 30 * time.Second

// DialOptions configures [Dial]. Nil means the defaults.
type DialOptions struct {
	// HTTPClient sends the requests. Nil means a client with
	// [DefaultRemoteTimeout]. It is copied, never changed; redirects are
	// not followed (the token is never sent to another host).
	HTTPClient *http.Client
	// InsecureHTTP allows sending the token over plain http to a host that
	// is not local (a loopback address, localhost, or a .test or .invalid
	// name), e.g. a container on another machine. Without it Dial refuses
	// such a combination.
	InsecureHTTP bool
}

// Remote controls a mock server that runs in another process (the
// sandboxmock command, its container image, or any [Server] reachable
// over HTTP) through its control API, the routes under /_sandboxmock.
// Its methods are the [Server]'s controls with a context and an error
// added (see [Controller]). It is safe for concurrent use.
type Remote struct {
	base  string // the server's base URL, without trailing slash
	api   *mockcontrolapi.Client
	clock *remoteClock
}

// Dial returns a Remote for the mock server at baseURL (its URL, e.g.
// http://127.0.0.1:8080, as sandboxmock prints it), sending token as the
// control token ("" when the server has none). It checks its arguments
// and does not contact the server; [Remote.Info] does.
func Dial(baseURL, token string, opts *DialOptions) (*Remote, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, invalidf("mockserver: Dial: base URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, invalidf("mockserver: Dial: base URL %q is not an absolute http(s) URL without path, query or fragment", baseURL)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, invalidf("mockserver: Dial: token contains white space")
	}
	if token != "" && u.Scheme == "http" && !loopbackHost(u.Hostname()) && !opts.InsecureHTTP {
		return nil, invalidf("mockserver: Dial: refusing to send the control token over plain http to %s; use https or set DialOptions.InsecureHTTP", u.Host)
	}
	hc := &http.Client{Timeout: DefaultRemoteTimeout}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := u.Scheme + "://" + u.Host
	api, err := mockcontrolapi.NewClient(base+controlPrefix, remoteToken(token), mockcontrolapi.WithClient(hc))
	if err != nil {
		return nil, fmt.Errorf("mockserver: Dial: %w", err)
	}
	r := &Remote{base: base, api: api}
	r.clock = newRemoteClock(r)
	return r, nil
}

// loopbackHost reports whether host is a loopback address or a name that
// never leaves the machine: localhost, and the reserved .test and
// .invalid names (the in-memory server's origin is one), as the
// sandboxkit clients count them.
func loopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range []string{"localhost", "test", "invalid"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// remoteToken supplies the control token; without one the requests carry
// none.
type remoteToken string

func (t remoteToken) ControlToken(context.Context, mockcontrolapi.OperationName) (mockcontrolapi.ControlToken, error) {
	if t == "" {
		return mockcontrolapi.ControlToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return mockcontrolapi.ControlToken{Token: string(t)}, nil
}

// URL returns the server's base URL.
func (r *Remote) URL() string { return r.base }

// ClientOptions returns the options that point a sandboxkit client of
// api at the server: its base URL (URL()+"/v1" or URL()+"/v0"; none for
// the sandbox API) and no environment lookups. A Remote does not know the
// server's API keys: append sandboxkit.WithAPIKey or sandboxkit.WithToken when
// the server has tenants.
func (r *Remote) ClientOptions(api sandboxkit.API) []sandboxkit.Option {
	opts := []sandboxkit.Option{sandboxkit.WithoutEnvironment()}
	switch api {
	case sandboxkit.Lifecycle:
		opts = append(opts, sandboxkit.WithBaseURL(r.base+"/v1"))
	case sandboxkit.ControlPlane:
		opts = append(opts, sandboxkit.WithBaseURL(r.base+"/v0"))
	}
	return opts
}

// RemoteError is an error answer of the control API.
type RemoteError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the control API's error code, e.g. INVALID_ARGUMENT.
	Code string
	// Message is the server's description.
	Message string
	// Valid lists the valid operation names with code UNKNOWN_OPERATION.
	Valid []string
}

// Error returns the server's message with status and code.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("mockserver: control API: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Is matches sandboxkit.ErrInvalidInput (400), sandboxkit.ErrUnauthorized (401),
// sandboxkit.ErrForbidden (403), sandboxkit.ErrNotFound (404), sandboxkit.ErrConflict
// (409), [ErrRealClock] (code REAL_CLOCK) and [ErrProxyMode] (code
// PROXY_MODE).
func (e *RemoteError) Is(target error) bool {
	switch target {
	case sandboxkit.ErrInvalidInput:
		return e.StatusCode == http.StatusBadRequest
	case sandboxkit.ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case sandboxkit.ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case sandboxkit.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case sandboxkit.ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRealClock:
		return e.Code == ctlRealClock
	case ErrProxyMode:
		return e.Code == ctlProxyMode
	}
	return false
}

// remoteFail turns a call's error into the Remote's: the server's error
// answers become *RemoteError, others are wrapped with the operation's
// name.
func remoteFail(op string, err error) error {
	var se *mockcontrolapi.ErrorStatusCode
	if errors.As(err, &se) {
		return &RemoteError{StatusCode: se.StatusCode, Code: se.Response.Code, Message: se.Response.Error, Valid: se.Response.Valid}
	}
	return fmt.Errorf("mockserver: Remote.%s: %w", op, err)
}

// Info describes the server.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	in, err := r.api.GetInfo(ctx)
	if err != nil {
		return Info{}, remoteFail("Info", err)
	}
	r.clock.seen(in.Clock.Now, in.Clock.Manual)
	return Info{
		Proxy: in.Mode == mockcontrolapi.InfoModeProxy, Upstream: in.Upstream.Or(""),
		UpstreamAPI: API(in.UpstreamAPI.Or("")), Runtime: Runtime(in.Runtime.Or("")),
		Now: in.Clock.Now, ManualClock: in.Clock.Manual, URL: in.Urls.Base, JournalLimit: in.JournalLimit,
	}, nil
}

// Reset forgets everything and reconfigures, as [Server.Reset] does: the
// options are sent to the server (those Reset refuses are an error here
// already).
func (r *Remote) Reset(ctx context.Context, opts ...Option) error {
	req, err := resetRequest(opts)
	if err != nil {
		return err
	}
	in, err := r.api.Reset(ctx, mockcontrolapi.NewOptResetRequest(req))
	if err != nil {
		return remoteFail("Reset", err)
	}
	r.clock.reset(in.Clock.Now, in.Clock.Manual)
	return nil
}

// resetRequest turns Reset's options into the control API's request.
func resetRequest(opts []Option) (mockcontrolapi.ResetRequest, error) {
	var req mockcontrolapi.ResetRequest
	c := config{tenants: map[string]string{}, modes: map[TransitionKind]Mode{}}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			return req, invalidf("%v", err)
		}
	}
	if c.set&optFixed != 0 {
		return req, invalidf("mockserver: Reset: WithListener, WithBaseURL, WithLimits, WithControlToken, WithUpstream and WithTerminatedLimit can only be given to New")
	}
	if c.set&optRuntime != 0 {
		req.Runtime = mockcontrolapi.NewOptResetRequestRuntime(mockcontrolapi.ResetRequestRuntime(c.runtime))
	}
	if c.set&optClock != 0 {
		req.ManualClock = mockcontrolapi.NewOptDateTime(c.manual.Now())
	}
	if c.set&optTransitionDelay != 0 {
		req.TransitionDelay = mockcontrolapi.NewOptDuration(c.defaultMode.delay)
	}
	if len(c.modes) > 0 {
		m := mockcontrolapi.ResetRequestTransitions{}
		for k, mode := range c.modes {
			m[string(k)] = mode.text()
		}
		req.Transitions = mockcontrolapi.NewOptResetRequestTransitions(m)
	}
	if c.set&optRetention != 0 {
		req.Retention = mockcontrolapi.NewOptDuration(c.retention)
	}
	if c.set&optMaxTimeout != 0 {
		req.MaxSandboxTimeout = mockcontrolapi.NewOptDuration(c.maxTimeout)
	}
	if c.set&optJournalLimit != 0 {
		req.JournalLimit = mockcontrolapi.NewOptInt(c.journalMax)
	}
	for _, key := range slices.Sorted(maps.Keys(c.tenants)) {
		req.Tenants = append(req.Tenants, mockcontrolapi.Tenant{APIKey: key, Name: c.tenants[key]})
	}
	return req, nil
}

// InjectFault adds a fault (see [Server.InjectFault]).
func (r *Remote) InjectFault(ctx context.Context, f Fault) (FaultID, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	out, err := r.api.InjectFault(ctx, faultSpecToAPI(f))
	if err != nil {
		return 0, remoteFail("InjectFault", err)
	}
	return FaultID(out.ID), nil
}

// RemoveFault removes a fault; it reports whether it was there.
func (r *Remote) RemoveFault(ctx context.Context, id FaultID) (bool, error) {
	err := r.api.RemoveFault(ctx, mockcontrolapi.RemoveFaultParams{ID: int64(id)})
	if err != nil {
		err = remoteFail("RemoveFault", err)
		if errors.Is(err, sandboxkit.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ClearFaults removes every fault.
func (r *Remote) ClearFaults(ctx context.Context) error {
	if err := r.api.ClearFaults(ctx); err != nil {
		return remoteFail("ClearFaults", err)
	}
	return nil
}

// Faults lists the faults in the order they are tried.
func (r *Remote) Faults(ctx context.Context) ([]FaultStatus, error) {
	all, err := r.api.ListFaults(ctx)
	if err != nil {
		return nil, remoteFail("Faults", err)
	}
	return convertAll(all, faultFromAPI), nil
}

func faultSpecToAPI(f Fault) *mockcontrolapi.FaultSpec {
	spec := &mockcontrolapi.FaultSpec{}
	if f.API != "" {
		spec.API = mockcontrolapi.NewOptAPI(mockcontrolapi.API(f.API))
	}
	if f.Operation != "" {
		spec.Operation = mockcontrolapi.NewOptString(f.Operation)
	}
	if f.Status != 0 {
		spec.Status = mockcontrolapi.NewOptInt(f.Status)
	}
	if f.Body != "" {
		spec.Body = mockcontrolapi.NewOptString(f.Body)
	}
	if f.RetryAfter != 0 {
		spec.RetryAfter = mockcontrolapi.NewOptDuration(f.RetryAfter)
	}
	if f.Latency != 0 {
		spec.Latency = mockcontrolapi.NewOptDuration(f.Latency)
	}
	if f.Reset {
		spec.Reset = mockcontrolapi.NewOptBool(true)
	}
	if f.AfterCommit {
		spec.AfterCommit = mockcontrolapi.NewOptBool(true)
	}
	if f.Times != 0 {
		spec.Times = mockcontrolapi.NewOptInt(f.Times)
	}
	if f.Probability != 0 {
		spec.Probability = mockcontrolapi.NewOptFloat64(f.Probability)
		spec.Seed = mockcontrolapi.NewOptUint64(f.Seed)
	}
	return spec
}

func faultFromAPI(in mockcontrolapi.Fault) FaultStatus {
	f := in.Fault
	return FaultStatus{ID: FaultID(in.ID), Fired: in.Fired, Fault: Fault{
		API: API(f.API.Or("")), Operation: f.Operation.Or(""), Status: f.Status.Or(0), Body: f.Body.Or(""),
		RetryAfter: f.RetryAfter.Or(0), Latency: f.Latency.Or(0), Reset: f.Reset.Or(false),
		AfterCommit: f.AfterCommit.Or(false), Times: f.Times.Or(0), Probability: f.Probability.Or(0), Seed: f.Seed.Or(0),
	}}
}

// Now returns the time on the server's clock.
func (r *Remote) Now(ctx context.Context) (time.Time, error) {
	c, err := r.api.GetClock(ctx)
	if err != nil {
		return time.Time{}, remoteFail("Now", err)
	}
	r.clock.seen(c.Now, c.Manual)
	return c.Now, nil
}

// Advance moves the server's manual clock forward by d (see
// [Server.Advance]); the functions due on the clocks returned by
// [Remote.Clock] run before it returns.
func (r *Remote) Advance(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return invalidf("mockserver: Advance: negative duration %v", d)
	}
	c, err := r.api.AdvanceClock(ctx, &mockcontrolapi.ClockAdvance{By: d})
	if err != nil {
		return remoteFail("Advance", err)
	}
	r.clock.seen(c.Now, c.Manual)
	return nil
}

// SetTime moves the server's manual clock to t (see [Server.SetTime]).
func (r *Remote) SetTime(ctx context.Context, t time.Time) error {
	c, err := r.api.SetClock(ctx, &mockcontrolapi.ClockSet{To: t})
	if err != nil {
		return remoteFail("SetTime", err)
	}
	r.clock.seen(c.Now, c.Manual)
	return nil
}

// Step completes the pending transition of one resource (see
// [Server.Step]).
func (r *Remote) Step(ctx context.Context, id string) error {
	if _, err := r.api.StepTransition(ctx, &mockcontrolapi.StepRequest{ID: id}); err != nil {
		return remoteFail("Step", err)
	}
	return nil
}

// StepAll completes every pending manual transition.
func (r *Remote) StepAll(ctx context.Context) (int, error) {
	out, err := r.api.StepAllTransitions(ctx)
	if err != nil {
		return 0, remoteFail("StepAll", err)
	}
	return out.Completed, nil
}

// PendingTransitions lists the transitions in progress.
func (r *Remote) PendingTransitions(ctx context.Context) ([]PendingTransition, error) {
	all, err := r.api.ListTransitions(ctx)
	if err != nil {
		return nil, remoteFail("PendingTransitions", err)
	}
	return convertAll(all, func(p mockcontrolapi.PendingTransition) PendingTransition {
		return PendingTransition{Kind: TransitionKind(p.Kind), ID: p.ID, Tenant: p.Tenant, Manual: p.Manual}
	}), nil
}

// ScriptUpgrade scripts the next upgrade of a sandbox's API (see
// [Server.ScriptUpgrade]).
func (r *Remote) ScriptUpgrade(ctx context.Context, id string, s UpgradeScript) error {
	req := &mockcontrolapi.UpgradeScript{Sandbox: id}
	if s.FailAt != "" {
		req.FailAt = mockcontrolapi.NewOptUpgradeScriptFailAt(mockcontrolapi.UpgradeScriptFailAt(s.FailAt))
	}
	if s.Error != "" {
		req.Error = mockcontrolapi.NewOptString(s.Error)
	}
	if s.Version != "" {
		req.Version = mockcontrolapi.NewOptString(s.Version)
	}
	for _, d := range []struct {
		v   time.Duration
		dst *mockcontrolapi.OptDuration
	}{{s.Delay, &req.Delay}, {s.StepDuration, &req.StepDuration}, {s.DownloadDuration, &req.DownloadDuration}, {s.RestartDuration, &req.RestartDuration}} {
		if d.v != 0 {
			*d.dst = mockcontrolapi.NewOptDuration(d.v)
		}
	}
	if s.DownloadBytes != 0 {
		req.DownloadBytes = mockcontrolapi.NewOptInt64(s.DownloadBytes)
	}
	if err := r.api.ScriptUpgrade(ctx, req); err != nil {
		return remoteFail("ScriptUpgrade", err)
	}
	return nil
}

// SetCommand scripts a command of the simulated shell (see
// [Server.SetCommand]).
func (r *Remote) SetCommand(ctx context.Context, c Command) error {
	req := &mockcontrolapi.Command{Name: c.Name}
	if c.Sandbox != "" {
		req.Sandbox = mockcontrolapi.NewOptString(c.Sandbox)
	}
	if c.Stdout != "" {
		req.Stdout = mockcontrolapi.NewOptString(c.Stdout)
	}
	if c.Stderr != "" {
		req.Stderr = mockcontrolapi.NewOptString(c.Stderr)
	}
	if c.ExitCode != 0 {
		req.ExitCode = mockcontrolapi.NewOptInt(c.ExitCode)
	}
	if c.Delay != 0 {
		req.Delay = mockcontrolapi.NewOptDuration(c.Delay)
	}
	if _, err := r.api.SetCommand(ctx, req); err != nil {
		return remoteFail("SetCommand", err)
	}
	return nil
}

// Commands lists the scripted commands.
func (r *Remote) Commands(ctx context.Context) ([]Command, error) {
	all, err := r.api.ListCommands(ctx)
	if err != nil {
		return nil, remoteFail("Commands", err)
	}
	return convertAll(all, func(c mockcontrolapi.Command) Command {
		return Command{Name: c.Name, Sandbox: c.Sandbox.Or(""), Stdout: c.Stdout.Or(""), Stderr: c.Stderr.Or(""),
			ExitCode: c.ExitCode.Or(0), Delay: c.Delay.Or(0)}
	}), nil
}

// ClearCommands forgets the scripted commands (see
// [Server.ClearCommands]).
func (r *Remote) ClearCommands(ctx context.Context) error {
	if err := r.api.ClearCommands(ctx); err != nil {
		return remoteFail("ClearCommands", err)
	}
	return nil
}

// AddSandbox adds a lifecycle sandbox (see [Server.AddSandbox]) and
// returns its id.
func (r *Remote) AddSandbox(ctx context.Context, tenant string, seed SandboxSeed) (string, error) {
	req := &mockcontrolapi.SandboxSeed{Entrypoint: seed.Entrypoint}
	setStr(&req.Tenant, tenant)
	setStr(&req.ID, seed.ID)
	setStr(&req.State, seed.State)
	setStr(&req.Reason, seed.Reason)
	setStr(&req.Message, seed.Message)
	if seed.ExitCode != 0 {
		req.ExitCode = mockcontrolapi.NewOptInt(seed.ExitCode)
	}
	setStr(&req.Image, seed.Image)
	setStr(&req.SnapshotID, seed.SnapshotID)
	setMap(&req.Metadata, seed.Metadata)
	setMap(&req.Env, seed.Env)
	setTime(&req.CreatedAt, seed.CreatedAt)
	setTime(&req.ExpiresAt, seed.ExpiresAt)
	out, err := r.api.AddSandbox(ctx, req)
	if err != nil {
		return "", remoteFail("AddSandbox", err)
	}
	return out.ID, nil
}

// Sandbox returns a lifecycle sandbox, whatever its tenant; false when
// there is none.
func (r *Remote) Sandbox(ctx context.Context, id string) (SandboxInfo, bool, error) {
	out, err := r.api.GetSandbox(ctx, mockcontrolapi.GetSandboxParams{ID: id})
	return found(out, err, "Sandbox", sandboxFromAPI)
}

// Sandboxes returns every lifecycle sandbox.
func (r *Remote) Sandboxes(ctx context.Context) ([]SandboxInfo, error) {
	all, err := r.api.ListSandboxes(ctx)
	if err != nil {
		return nil, remoteFail("Sandboxes", err)
	}
	return convertAll(all, func(in mockcontrolapi.SandboxInfo) SandboxInfo { return sandboxFromAPI(&in) }), nil
}

// FailSandbox moves a lifecycle sandbox to Failed (see
// [Server.FailSandbox]).
func (r *Remote) FailSandbox(ctx context.Context, id, reason, message string) error {
	var req mockcontrolapi.FailRequest
	setStr(&req.Reason, reason)
	setStr(&req.Message, message)
	if _, err := r.api.FailSandbox(ctx, mockcontrolapi.NewOptFailRequest(req), mockcontrolapi.FailSandboxParams{ID: id}); err != nil {
		return remoteFail("FailSandbox", err)
	}
	return nil
}

// ExitSandbox ends a Docker-runtime sandbox's entrypoint (see
// [Server.ExitSandbox]).
func (r *Remote) ExitSandbox(ctx context.Context, id string, code int) error {
	if _, err := r.api.ExitSandbox(ctx, &mockcontrolapi.ExitRequest{Code: code}, mockcontrolapi.ExitSandboxParams{ID: id}); err != nil {
		return remoteFail("ExitSandbox", err)
	}
	return nil
}

func sandboxFromAPI(in *mockcontrolapi.SandboxInfo) SandboxInfo {
	return SandboxInfo{
		ID: in.ID, Tenant: in.Tenant, State: in.State, Reason: in.Reason.Or(""), Message: in.Message.Or(""),
		ExitCode: in.ExitCode.Or(0), Image: in.Image.Or(""), SnapshotID: in.SnapshotID.Or(""),
		Entrypoint: in.Entrypoint, Metadata: in.Metadata.Or(nil), Env: in.Env.Or(nil),
		CreatedAt: in.CreatedAt, LastTransitionAt: in.LastTransitionAt, ExpiresAt: in.ExpiresAt.Or(time.Time{}),
		PendingTransition: TransitionKind(in.PendingTransition.Or("")),
	}
}

// AddSnapshot adds a snapshot (see [Server.AddSnapshot]) and returns its
// id.
func (r *Remote) AddSnapshot(ctx context.Context, tenant string, seed SnapshotSeed) (string, error) {
	var req mockcontrolapi.SnapshotSeed
	setStr(&req.Tenant, tenant)
	setStr(&req.ID, seed.ID)
	setStr(&req.SandboxID, seed.SandboxID)
	setStr(&req.Name, seed.Name)
	setStr(&req.State, seed.State)
	setStr(&req.Image, seed.Image)
	out, err := r.api.AddSnapshot(ctx, &req)
	if err != nil {
		return "", remoteFail("AddSnapshot", err)
	}
	return out.ID, nil
}

// Snapshot returns a snapshot, whatever its tenant; false when there is
// none.
func (r *Remote) Snapshot(ctx context.Context, id string) (SnapshotInfo, bool, error) {
	out, err := r.api.GetSnapshot(ctx, mockcontrolapi.GetSnapshotParams{ID: id})
	return found(out, err, "Snapshot", snapshotFromAPI)
}

// Snapshots returns every snapshot.
func (r *Remote) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	all, err := r.api.ListSnapshots(ctx)
	if err != nil {
		return nil, remoteFail("Snapshots", err)
	}
	return convertAll(all, func(in mockcontrolapi.SnapshotInfo) SnapshotInfo { return snapshotFromAPI(&in) }), nil
}

func snapshotFromAPI(in *mockcontrolapi.SnapshotInfo) SnapshotInfo {
	return SnapshotInfo{
		ID: in.ID, Tenant: in.Tenant, SandboxID: in.SandboxID.Or(""), Name: in.Name.Or(""),
		State: in.State, Reason: in.Reason.Or(""), Message: in.Message.Or(""), CreatedAt: in.CreatedAt,
	}
}

// AddControlPlaneSandbox adds a control plane sandbox (see
// [Server.AddControlPlaneSandbox]).
func (r *Remote) AddControlPlaneSandbox(ctx context.Context, tenant string, seed ControlPlaneSeed) error {
	req := &mockcontrolapi.ControlPlaneSeed{Name: seed.Name}
	setStr(&req.Tenant, tenant)
	setStr(&req.Status, seed.Status)
	setStr(&req.Image, seed.Image)
	setMap(&req.Labels, seed.Labels)
	for _, p := range seed.Policies {
		wp := mockcontrolapi.ExpirationPolicy{Type: p.Type, Value: p.Value}
		setStr(&wp.Action, p.Action)
		req.Policies = append(req.Policies, wp)
	}
	setTime(&req.CreatedAt, seed.CreatedAt)
	setTime(&req.LastUsedAt, seed.LastUsedAt)
	setStr(&req.Workspace, seed.Workspace)
	if _, err := r.api.AddControlPlaneSandbox(ctx, req); err != nil {
		return remoteFail("AddControlPlaneSandbox", err)
	}
	return nil
}

// ControlPlaneSandbox returns tenant's ("" for [DefaultTenant]) control
// plane sandbox name; false when there is none.
func (r *Remote) ControlPlaneSandbox(ctx context.Context, tenant, name string) (ControlPlaneInfo, bool, error) {
	out, err := r.api.GetControlPlaneSandbox(ctx, mockcontrolapi.GetControlPlaneSandboxParams{Tenant: cmpOr(tenant, DefaultTenant), Name: name})
	return found(out, err, "ControlPlaneSandbox", cpFromAPI)
}

// ControlPlaneSandboxes returns every control plane sandbox.
func (r *Remote) ControlPlaneSandboxes(ctx context.Context) ([]ControlPlaneInfo, error) {
	all, err := r.api.ListControlPlaneSandboxes(ctx)
	if err != nil {
		return nil, remoteFail("ControlPlaneSandboxes", err)
	}
	return convertAll(all, func(in mockcontrolapi.ControlPlaneInfo) ControlPlaneInfo { return cpFromAPI(&in) }), nil
}

func cpFromAPI(in *mockcontrolapi.ControlPlaneInfo) ControlPlaneInfo {
	out := ControlPlaneInfo{
		Tenant: in.Tenant, Name: in.Name, Status: in.Status, Workspace: in.Workspace.Or(""),
		Image: in.Image.Or(""), Labels: in.Labels.Or(nil), URL: in.URL,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, LastUsedAt: in.LastUsedAt,
		ExpiresAt: in.ExpiresAt.Or(time.Time{}), PendingTransition: TransitionKind(in.PendingTransition.Or("")),
	}
	for _, p := range in.Policies {
		out.Policies = append(out.Policies, ExpirationPolicy{Type: p.Type, Value: p.Value, Action: p.Action.Or("")})
	}
	return out
}

// found converts a lookup's answer; a 404 is "not found", not an error.
func found[A, T any](out *A, err error, op string, conv func(*A) T) (T, bool, error) {
	var zero T
	if err != nil {
		err = remoteFail(op, err)
		if errors.Is(err, sandboxkit.ErrNotFound) {
			return zero, false, nil
		}
		return zero, false, err
	}
	return conv(out), true, nil
}

// Journal returns every request the journal keeps, oldest first.
func (r *Remote) Journal(ctx context.Context) ([]Entry, error) {
	return r.Requests(ctx, Filter{})
}

// Requests returns the journal entries f matches, oldest first.
func (r *Remote) Requests(ctx context.Context, f Filter) ([]Entry, error) {
	if err := checkOperation(f.API, f.Operation); err != nil {
		return nil, err
	}
	var p mockcontrolapi.GetJournalParams
	p.API, p.Operation, p.Method, p.Path, p.Status, p.Tenant, p.SandboxID, p.Faulted = filterToAPI(f)
	j, err := r.api.GetJournal(ctx, p)
	if err != nil {
		return nil, remoteFail("Requests", err)
	}
	return convertAll(j.Entries, func(e mockcontrolapi.Entry) Entry {
		return Entry{
			Time: e.Time, API: API(e.API.Or("")), Operation: e.Operation.Or(""), Method: e.Method, Path: e.Path,
			Query: e.Query.Or(""), Status: e.Status, RequestID: e.RequestID, Tenant: e.Tenant.Or(""),
			SandboxID: e.SandboxID.Or(""), Fault: FaultID(e.Fault.Or(0)), Reset: e.Reset.Or(false),
		}
	}), nil
}

// Count counts the journal entries f matches.
func (r *Remote) Count(ctx context.Context, f Filter) (int, error) {
	if err := checkOperation(f.API, f.Operation); err != nil {
		return 0, err
	}
	var p mockcontrolapi.CountRequestsParams
	p.API, p.Operation, p.Method, p.Path, p.Status, p.Tenant, p.SandboxID, p.Faulted = filterToAPI(f)
	c, err := r.api.CountRequests(ctx, p)
	if err != nil {
		return 0, remoteFail("Count", err)
	}
	return c.Count, nil
}

func filterToAPI(f Filter) (api mockcontrolapi.OptAPI, op, method, path mockcontrolapi.OptString, status mockcontrolapi.OptInt,
	tenant, sandboxID mockcontrolapi.OptString, faulted mockcontrolapi.OptBool) {
	if f.API != "" {
		api = mockcontrolapi.NewOptAPI(mockcontrolapi.API(f.API))
	}
	setStr(&op, f.Operation)
	setStr(&method, f.Method)
	setStr(&path, f.Path)
	if f.Status != 0 {
		status = mockcontrolapi.NewOptInt(f.Status)
	}
	setStr(&tenant, f.Tenant)
	setStr(&sandboxID, f.SandboxID)
	if f.Faulted {
		faulted = mockcontrolapi.NewOptBool(true)
	}
	return
}

// JournalStats counts what the journal recorded and dropped.
func (r *Remote) JournalStats(ctx context.Context) (JournalStats, error) {
	j, err := r.api.GetJournal(ctx, mockcontrolapi.GetJournalParams{Last: mockcontrolapi.NewOptInt(1)})
	if err != nil {
		return JournalStats{}, remoteFail("JournalStats", err)
	}
	c := func(rc mockcontrolapi.RecordCount) RecordCount {
		return RecordCount{Recorded: rc.Recorded, Dropped: rc.Dropped}
	}
	return JournalStats{
		Requests: c(j.Stats.Requests), Creations: c(j.Stats.Creations),
		Renewals: c(j.Stats.Renewals), Deletions: c(j.Stats.Deletions),
		Terminated: c(j.Stats.Terminated.Or(mockcontrolapi.RecordCount{})),
	}, nil
}

// ResetJournal forgets the journal's records.
func (r *Remote) ResetJournal(ctx context.Context) error {
	if err := r.api.ResetJournal(ctx); err != nil {
		return remoteFail("ResetJournal", err)
	}
	return nil
}

// Creations returns the sandbox creations the journal keeps.
func (r *Remote) Creations(ctx context.Context) ([]Creation, error) {
	all, err := r.api.ListCreations(ctx)
	if err != nil {
		return nil, remoteFail("Creations", err)
	}
	return convertAll(all, func(c mockcontrolapi.Creation) Creation {
		return Creation{API: API(c.API), ID: c.ID, Tenant: c.Tenant, Time: c.Time, RequestID: c.RequestID.Or(""), Metadata: c.Metadata.Or(nil)}
	}), nil
}

// CreationCounts counts the sandboxes created by the value of a metadata
// key (see [Server.CreationCounts]).
func (r *Remote) CreationCounts(ctx context.Context, key string) (map[string]int, error) {
	out, err := r.api.CountCreations(ctx, mockcontrolapi.CountCreationsParams{Key: key})
	if err != nil {
		return nil, remoteFail("CreationCounts", err)
	}
	if out.Counts == nil {
		return map[string]int{}, nil
	}
	return out.Counts, nil
}

// Renewals returns the renewals of sandbox id ("" for all).
func (r *Remote) Renewals(ctx context.Context, id string) ([]Renewal, error) {
	var p mockcontrolapi.ListRenewalsParams
	setStr(&p.SandboxID, id)
	all, err := r.api.ListRenewals(ctx, p)
	if err != nil {
		return nil, remoteFail("Renewals", err)
	}
	return convertAll(all, func(x mockcontrolapi.Renewal) Renewal {
		return Renewal{SandboxID: x.SandboxID, Tenant: x.Tenant, Time: x.Time, RequestID: x.RequestID.Or(""), Old: x.Old.Or(time.Time{}), New: x.New}
	}), nil
}

// Deletions returns the deletions and expiries the journal keeps.
func (r *Remote) Deletions(ctx context.Context) ([]Deletion, error) {
	all, err := r.api.ListDeletions(ctx)
	if err != nil {
		return nil, remoteFail("Deletions", err)
	}
	return convertAll(all, func(d mockcontrolapi.Deletion) Deletion {
		return Deletion{API: API(d.API), ID: d.ID, Tenant: d.Tenant, Time: d.Time, RequestID: d.RequestID.Or(""), Reason: d.Reason}
	}), nil
}

// SaveState writes the server's state document to w (see
// [Server.SaveState]).
func (r *Remote) SaveState(ctx context.Context, w io.Writer) error {
	if w == nil {
		return invalidf("mockserver: SaveState: nil writer")
	}
	st, err := r.api.GetState(ctx)
	if err != nil {
		return remoteFail("SaveState", err)
	}
	raw, err := st.MarshalJSON()
	if err != nil {
		return fmt.Errorf("mockserver: Remote.SaveState: %w", err)
	}
	_, err = w.Write(append(raw, '\n'))
	return err
}

// LoadState resets the server and restores a state document (see
// [Server.LoadState]).
func (r *Remote) LoadState(ctx context.Context, rd io.Reader) error {
	if rd == nil {
		return invalidf("mockserver: LoadState: nil reader")
	}
	raw, err := io.ReadAll(io.LimitReader(rd, maxStateBytes+1))
	if err != nil {
		return fmt.Errorf("mockserver: Remote.LoadState: %w", err)
	}
	if len(raw) > maxStateBytes {
		return invalidf("mockserver: LoadState: document larger than %d bytes", maxStateBytes)
	}
	var st mockcontrolapi.State
	if err := st.UnmarshalJSON(bytes.TrimSpace(raw)); err != nil {
		return invalidf("mockserver: LoadState: %v", err)
	}
	in, err := r.api.PutState(ctx, &st)
	if err != nil {
		return remoteFail("LoadState", err)
	}
	r.clock.reset(in.Clock.Now, in.Clock.Manual)
	return nil
}

func setStr(o *mockcontrolapi.OptString, v string) {
	if v != "" {
		*o = mockcontrolapi.NewOptString(v)
	}
}

func setMap(o *mockcontrolapi.OptStringMap, v map[string]string) {
	if len(v) > 0 {
		*o = mockcontrolapi.NewOptStringMap(v)
	}
}

func setTime(o *mockcontrolapi.OptDateTime, v time.Time) {
	if !v.IsZero() {
		*o = mockcontrolapi.NewOptDateTime(v)
	}
}
