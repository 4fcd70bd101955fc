package mockserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// controllers returns, for one server each, the in-process controller and
// a Remote that reaches the same kind of server through its control API
// (over the in-memory transport).
func controllers(t *testing.T, opts ...mockserver.Option) map[string]struct {
	srv *mockserver.Server
	ctl mockserver.Controller
} {
	t.Helper()
	local := mockserver.Start(t, append([]mockserver.Option{mockserver.WithManualClock(t0)}, opts...)...)
	remoteSrv := mockserver.Start(t, append([]mockserver.Option{mockserver.WithManualClock(t0)}, opts...)...)
	remote, err := mockserver.Dial(remoteSrv.URL(), "", &mockserver.DialOptions{HTTPClient: remoteSrv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		srv *mockserver.Server
		ctl mockserver.Controller
	}{
		"local":  {local, local.Controller()},
		"remote": {remoteSrv, remote},
	}
}

// get answers GET path on srv's in-memory transport with its status.
func get(t *testing.T, srv *mockserver.Server, path string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+path, nil)
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestControllerInProcessAndRemoteAgree runs one scenario through the
// in-process controller and through a Remote, and checks both report the
// same: a test written against Controller drives either.
func TestControllerInProcessAndRemoteAgree(t *testing.T) {
	t.Parallel()
	logs := map[string][]string{}
	for name, c := range controllers(t) {
		ctx, ctl := t.Context(), c.ctl
		var log []string
		note := func(format string, args ...any) { log = append(log, fmt.Sprintf(format, args...)) }
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}

		in, err := ctl.Info(ctx)
		must(err)
		note("info: runtime %s manual %v now %s", in.Runtime, in.ManualClock, in.Now.UTC().Format(time.RFC3339))

		id, err := ctl.AddSandbox(ctx, "", mockserver.SandboxSeed{ID: "sb-1", ExpiresAt: t0.Add(time.Hour), Metadata: map[string]string{"team": "a"}})
		must(err)
		sb, ok, err := ctl.Sandbox(ctx, id)
		must(err)
		note("seeded %s: %v %s %v expires %s", id, ok, sb.State, sb.Metadata, sb.ExpiresAt.Format(time.RFC3339))
		if _, ok, err := ctl.Sandbox(ctx, "nope"); ok || err != nil {
			t.Errorf("%s: Sandbox(nope) = %v, %v; want not found without error", name, ok, err)
		}

		fid, err := ctl.InjectFault(ctx, mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpGetSandbox, Status: 503, RetryAfter: 2 * time.Second, Times: 1})
		must(err)
		note("GET twice: %d then %d", get(t, c.srv, "/v1/sandboxes/"+id), get(t, c.srv, "/v1/sandboxes/"+id))
		faults, err := ctl.Faults(ctx)
		must(err)
		note("faults: %d, id matches %v, fired %d, retry after %v", len(faults), faults[0].ID == fid, faults[0].Fired, faults[0].Fault.RetryAfter)
		n, err := ctl.Count(ctx, mockserver.Filter{Operation: mockserver.OpGetSandbox, Faulted: true})
		must(err)
		note("faulted GETs in the journal: %d", n)

		_, err = ctl.InjectFault(ctx, mockserver.Fault{API: mockserver.APISandbox, Operation: "ExecCommand", Status: 502})
		var unknown *mockserver.UnknownOperationError
		if !errors.As(err, &unknown) || !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Fatalf("%s: unknown operation: %v, want an *UnknownOperationError matching ErrInvalidInput", name, err)
		}
		note("unknown operation rejected; ExecProcess is valid: %v", strings.Contains(strings.Join(unknown.Valid, ","), mockserver.OpExecProcess))
		_, err = ctl.Count(ctx, mockserver.Filter{Operation: "GetSandboxes"})
		note("count by unknown operation: invalid %v", errors.Is(err, sandboxkit.ErrInvalidInput))

		must(ctl.Advance(ctx, 2*time.Hour))
		_, ok, err = ctl.Sandbox(ctx, id)
		must(err)
		dels, err := ctl.Deletions(ctx)
		must(err)
		note("after 2h: exists %v, deletions %d (%s)", ok, len(dels), dels[0].Reason)
		now, err := ctl.Now(ctx)
		must(err)
		note("now %s", now.UTC().Format(time.RFC3339))
		err = ctl.SetTime(ctx, t0)
		note("set time backwards: invalid %v", errors.Is(err, sandboxkit.ErrInvalidInput))
		err = ctl.Step(ctx, "nope")
		note("step unknown: not found %v", errors.Is(err, sandboxkit.ErrNotFound))

		must(ctl.Reset(ctx, mockserver.WithRuntime(mockserver.RuntimeDocker)))
		in, err = ctl.Info(ctx)
		must(err)
		all, err := ctl.Sandboxes(ctx)
		must(err)
		faults, err = ctl.Faults(ctx)
		must(err)
		journal, err := ctl.Journal(ctx)
		must(err)
		note("after reset: runtime %s, now %s, %d sandboxes, %d faults, %d requests",
			in.Runtime, in.Now.UTC().Format(time.RFC3339), len(all), len(faults), len(journal))
		err = ctl.Reset(ctx, mockserver.WithListener("127.0.0.1:0"))
		note("reset with a listener: invalid %v", errors.Is(err, sandboxkit.ErrInvalidInput))
		must(ctl.Reset(ctx, mockserver.WithManualClock(t0.Add(24*time.Hour)), mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual())))
		now, err = ctl.Now(ctx)
		must(err)
		in, err = ctl.Info(ctx)
		must(err)
		note("after a reset to a new clock: %s, runtime %s (the starting one)", now.UTC().Format(time.RFC3339), in.Runtime)

		_, err = ctl.AddSandbox(ctx, "", mockserver.SandboxSeed{ID: "sb-2", State: mockserver.StatePending})
		must(err)
		pend, err := ctl.PendingTransitions(ctx)
		must(err)
		note("pending: %v", pend)
		k, err := ctl.StepAll(ctx)
		must(err)
		sb, _, err = ctl.Sandbox(ctx, "sb-2")
		must(err)
		note("stepped %d: %s", k, sb.State)
		logs[name] = log
	}
	if diff := cmp.Diff(logs["local"], logs["remote"]); diff != "" {
		t.Errorf("in-process and remote controllers differ (-local +remote):\n%s", diff)
	}
	t.Logf("scenario:\n%s", strings.Join(logs["local"], "\n"))
}

// TestControlAPIScriptsCommands scripts a command for every sandbox and
// one for a single sandbox through the control API, and runs them through
// the sandbox API.
func TestControlAPIScriptsCommands(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testControlAPIScriptsCommands)
}

func testControlAPIScriptsCommands(t *testing.T) {
	srv := mockserver.Start(t, mockserver.WithManualClock(t0))
	ctl, err := mockserver.Dial(srv.URL(), "", &mockserver.DialOptions{HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	a, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "a"})
	if err := ctl.SetCommand(ctx, mockserver.Command{Name: "pytest", Stdout: "3 passed\n", Stderr: "warning\n", ExitCode: 0}); err != nil {
		t.Fatal(err)
	}
	b, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "b"}) // created after: gets it too
	if err := ctl.SetCommand(ctx, mockserver.Command{Name: "pytest", Sandbox: b, Stdout: "1 failed\n", ExitCode: 1, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetCommand(ctx, mockserver.Command{Name: "x", Sandbox: "missing"}); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("command for a missing sandbox: %v, want not found", err)
	}
	if err := ctl.SetCommand(ctx, mockserver.Command{Name: "two words"}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("bad name: %v, want invalid input", err)
	}

	apiAOpts, _ := srv.SandboxAPIOptions(a)
	apiA, _ := sandbox.New(apiAOpts...)
	res, err := apiA.Run(ctx, "pytest -q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "3 passed\n" || res.Stderr != "warning\n" || res.ExitCode != 0 {
		t.Errorf("sandbox a: %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
	}

	apiBOpts, _ := srv.SandboxAPIOptions(b)
	apiB, _ := sandbox.New(apiBOpts...)
	var p *sandbox.Process
	_, err = apiB.Exec(ctx, &sandbox.ExecRequest{Command: "pytest", Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Wait() // the command has written and waits on the clock
	if p, err = apiB.GetProcess(ctx, "t"); err != nil || p.Status != sandbox.StatusRunning {
		t.Errorf("sandbox b's command before its delay: %+v %v, want running", p, err)
	}
	if err := ctl.Advance(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	synctest.Wait() // the simulator ends the process in its own goroutine
	p, err = apiB.GetProcess(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	logs, err := apiB.Logs(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != sandbox.StatusFailed || p.ExitCode != 1 || logs.Stdout != "1 failed\n" {
		t.Errorf("sandbox b's command after its delay: %s exit %d stdout %q", p.Status, p.ExitCode, logs.Stdout)
	}

	cmds, err := ctl.Commands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 || cmds[0].Sandbox != "" || cmds[1].Sandbox != b {
		t.Errorf("Commands: %+v", cmds)
	}
	if err := ctl.ClearCommands(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "c"})
	apiCOpts, _ := srv.SandboxAPIOptions(c)
	apiC, _ := sandbox.New(apiCOpts...)
	if res, err := apiC.Run(ctx, "pytest", nil); err != nil || res.ExitCode != 127 {
		t.Errorf("after ClearCommands a new sandbox runs the shell's pytest: %+v %v, want exit 127", res, err)
	}
}

// TestControlAPIScriptsFailingUpgrade makes an upgrade fail through the
// control API and watches it fail through the sandbox API.
func TestControlAPIScriptsFailingUpgrade(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTransitionDelay(0))
	ctl, err := mockserver.Dial(srv.URL(), "", &mockserver.DialOptions{HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	script := mockserver.UpgradeScript{FailAt: "validate", Error: "checksum mismatch", Delay: time.Millisecond, StepDuration: time.Millisecond}
	if err := ctl.ScriptUpgrade(ctx, id, script); err != nil {
		t.Fatal(err)
	}
	if err := ctl.ScriptUpgrade(ctx, "missing", script); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("ScriptUpgrade of a missing sandbox: %v, want not found", err)
	}
	if err := ctl.ScriptUpgrade(ctx, id, mockserver.UpgradeScript{FailAt: "reboot"}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("ScriptUpgrade at an unknown step: %v, want invalid input", err)
	}
	apiOpts, _ := srv.SandboxAPIOptions(id)
	api, _ := sandbox.New(apiOpts...)
	_, err = api.Upgrade(ctx, &sandbox.UpgradeOptions{Wait: &sandboxkit.WaitOptions{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
	var ue *sandbox.UpgradeError
	if !errors.As(err, &ue) || ue.Step != string(sandbox.StepValidate) || ue.Message != "checksum mismatch" {
		t.Fatalf("Upgrade: %v, want an UpgradeError at validate with the scripted message", err)
	}
}

// TestControlAPIAccess checks who may use the control API: loopback and
// in-memory clients without a token; with a token, only requests that
// carry it.
func TestControlAPIAccess(t *testing.T) {
	t.Parallel()
	open := mockserver.Start(t)
	call := func(h http.Handler, remote, auth string) int {
		req := httptest.NewRequest("GET", "/_sandboxmock/info", nil)
		req.RemoteAddr = remote
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for _, tc := range []struct {
		remote string
		want   int
	}{{"127.0.0.1:4000", 200}, {"[::1]:4000", 200}, {"192.0.2.7:4000", 403}, {"garbage", 403}} {
		if got := call(open, tc.remote, ""); got != tc.want {
			t.Errorf("no token, client %s: %d, want %d", tc.remote, got, tc.want)
		}
	}
	if get(t, open, "/_sandboxmock/info") != 200 {
		t.Error("no token, in-memory client: refused")
	}

	locked := mockserver.Start(t, mockserver.WithControlToken("s3cret"))
	for _, tc := range []struct {
		remote, auth string
		want         int
	}{
		{"127.0.0.1:1", "", 401}, {"192.0.2.7:1", "Bearer nope", 401},
		{"192.0.2.7:1", "Bearer s3cret", 200}, {"127.0.0.1:1", "bearer s3cret", 200},
	} {
		if got := call(locked, tc.remote, tc.auth); got != tc.want {
			t.Errorf("token, client %s with %q: %d, want %d", tc.remote, tc.auth, got, tc.want)
		}
	}
	dial := func(token string) *mockserver.Remote {
		t.Helper()
		ctl, err := mockserver.Dial(locked.URL(), token, &mockserver.DialOptions{HTTPClient: locked.HTTPClient()})
		if err != nil {
			t.Fatal(err)
		}
		return ctl
	}
	if _, err := dial("wrong").Info(t.Context()); !errors.Is(err, sandboxkit.ErrUnauthorized) {
		t.Errorf("Remote with a wrong token: %v, want unauthorized", err)
	}
	if _, err := dial("s3cret").Info(t.Context()); err != nil {
		t.Errorf("Remote with the token: %v", err)
	}
	// The control API is not journaled and does not collide with the APIs.
	if n := len(locked.Journal()); n != 0 {
		t.Errorf("journal has %d entries after control requests only", n)
	}
}

// TestDialRefusesBadArguments checks Dial's argument checks.
func TestDialRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, token string }{
		{"", ""}, {"ftp://x", ""}, {"http://h/path", ""}, {"http://h?q=1", ""},
		{"http://192.0.2.1:8080", "tok"}, {"http://127.0.0.1", "a b"},
	} {
		if _, err := mockserver.Dial(tc.url, tc.token, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("Dial(%q, %q): %v, want invalid input", tc.url, tc.token, err)
		}
	}
	if _, err := mockserver.Dial("http://192.0.2.1:8080", "tok", &mockserver.DialOptions{InsecureHTTP: true}); err != nil {
		t.Errorf("Dial with InsecureHTTP: %v", err)
	}
	for _, u := range []string{"http://localhost:1", "http://[::1]:1", "https://example.com", "http://mock.test"} {
		if _, err := mockserver.Dial(u, "tok", nil); err != nil {
			t.Errorf("Dial(%q): %v", u, err)
		}
	}
}

// TestControlAPIErrorBodies checks the JSON error answers a non-Go client
// reads.
func TestControlAPIErrorBodies(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	st, m := do("POST", "/_sandboxmock/faults", `{"api":"sandbox","operation":"ExecCommand","status":502}`)
	valid, _ := m["valid"].([]any)
	if st != 400 || m["code"] != "UNKNOWN_OPERATION" || len(valid) != len(mockserver.Operations(mockserver.APISandbox)) {
		t.Errorf("unknown operation: %d %v", st, m)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/_sandboxmock/faults", `{"status":200}`, 400, "INVALID_ARGUMENT"},
		{"POST", "/_sandboxmock/faults", `{"status":`, 400, "INVALID_ARGUMENT"},
		{"POST", "/_sandboxmock/faults", `{"latency":"soon"}`, 400, "INVALID_ARGUMENT"},
		{"DELETE", "/_sandboxmock/faults/99", ``, 404, "NOT_FOUND"},
		{"POST", "/_sandboxmock/clock/advance", `{"by":"1s"}`, 409, "REAL_CLOCK"},
		{"GET", "/_sandboxmock/sandboxes/nope", ``, 404, "NOT_FOUND"},
		{"POST", "/_sandboxmock/sandboxes", `{"id":"x","state":"Sleeping"}`, 400, "INVALID_ARGUMENT"},
		{"GET", "/_sandboxmock/journal?operation=Nope", ``, 400, "UNKNOWN_OPERATION"},
		{"POST", "/_sandboxmock/reset", `{"runtime":"podman"}`, 400, "INVALID_ARGUMENT"},
		{"POST", "/_sandboxmock/reset", `{"transitions":{"Provision":"later"}}`, 400, "INVALID_ARGUMENT"},
		{"GET", "/_sandboxmock/nothing", ``, 404, "NOT_FOUND"},
		{"PUT", "/_sandboxmock/faults", ``, 405, "INVALID_ARGUMENT"},
	} {
		st, m := do(tc.method, tc.path, tc.body)
		if st != tc.status || m["code"] != tc.code || m["error"] == "" {
			t.Errorf("%s %s %s: %d %v, want %d %s", tc.method, tc.path, tc.body, st, m, tc.status, tc.code)
		}
	}
	if st := get(t, srv, "/healthz"); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
}

// TestStateRoundTrip saves a server's state and restores it in another.
func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a := mockserver.Start(t, mockserver.WithManualClock(t0), mockserver.WithRuntime(mockserver.RuntimeDocker))
	if _, err := a.AddSandbox("team", mockserver.SandboxSeed{ID: "run", Metadata: map[string]string{"k": "v"}, Env: map[string]string{"E": "1"}, ExpiresAt: t0.Add(time.Hour), Entrypoint: []string{"python", "app.py"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSandbox("", mockserver.SandboxSeed{ID: "dead", State: mockserver.StateFailed, ExitCode: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSnapshot("team", mockserver.SnapshotSeed{ID: "snap", SandboxID: "run", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "cp", Labels: map[string]string{"l": "1"},
		Policies: []mockserver.ExpirationPolicy{{Type: mockserver.PolicyTTLMaxAge, Value: "2h"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.InjectFault(mockserver.Fault{Operation: mockserver.OpPauseSandbox, Status: 500, Times: 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCommand(mockserver.Command{Name: "make", Stdout: "ok\n"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Advance(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := a.Controller().SaveState(ctx, &doc); err != nil {
		t.Fatal(err)
	}

	b := mockserver.Start(t) // kubernetes, real clock: the document decides
	remote, _ := mockserver.Dial(b.URL(), "", &mockserver.DialOptions{HTTPClient: b.HTTPClient()})
	if err := remote.LoadState(ctx, bytes.NewReader(doc.Bytes())); err != nil {
		t.Fatal(err)
	}
	in := b.Info()
	if in.Runtime != mockserver.RuntimeDocker || !in.ManualClock || !in.Now.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("restored info: %+v", in)
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".LastTransitionAt" || f == ".URL" || f == ".UpdatedAt"
	}, cmp.Ignore())
	if diff := cmp.Diff(a.Sandboxes(), b.Sandboxes(), ignore); diff != "" {
		t.Errorf("sandboxes (-saved +restored):\n%s", diff)
	}
	if diff := cmp.Diff(a.Snapshots(), b.Snapshots(), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CreatedAt" }, cmp.Ignore())); diff != "" {
		t.Errorf("snapshots (-saved +restored):\n%s", diff)
	}
	if diff := cmp.Diff(a.ControlPlaneSandboxes(), b.ControlPlaneSandboxes(), ignore); diff != "" {
		t.Errorf("control plane sandboxes (-saved +restored):\n%s", diff)
	}
	if diff := cmp.Diff(a.Commands(), b.Commands()); diff != "" {
		t.Errorf("commands (-saved +restored):\n%s", diff)
	}
	if f := b.Faults(); len(f) != 1 || f[0].Fault.Times != 3 || f[0].Fault.Operation != mockserver.OpPauseSandbox {
		t.Errorf("restored faults: %+v", f)
	}
	if err := b.LoadState(strings.NewReader(`{"version":2}`)); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("LoadState of a bad document: %v, want invalid input", err)
	}
}

// TestResetDropsOpenStreams checks that a reset does not wait for a
// sandbox API stream (which would never end by itself) and cuts it.
func TestResetDropsOpenStreams(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	apiOpts, _ := srv.SandboxAPIOptions(id)
	api, _ := sandbox.New(apiOpts...)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	w, err := api.Watch(ctx, "/tmp", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Reset() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Reset waited for an open watch stream")
	}
	for w.Next() {
	}
	if _, ok := srv.Sandbox(id); ok {
		t.Error("the sandbox survived the reset")
	}
}
