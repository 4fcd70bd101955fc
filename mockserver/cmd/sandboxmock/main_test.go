package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envRunMain makes the test binary run the command instead of the tests:
// TestStandaloneProcess starts it as a subprocess.
const envRunMain = "SANDBOXMOCK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// started is a run of the command in this process.
type started struct {
	base     string
	err      error         // run's result, once finished is closed
	finished chan struct{} // closed when run returns
	stop     context.CancelFunc
}

// start runs the command with args until the test ends, and returns its
// base URL from the first line of its output.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	s := &started{finished: make(chan struct{}), stop: cancel}
	go func() {
		defer close(s.finished)
		s.err = run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		<-s.finished
		t.Fatalf("no first line: %v (run: %v)", err, s.err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 4 || strings.Join(fields[:3], " ") != "sandboxmock listening on" {
		t.Fatalf("first line %q", line)
	}
	s.base = fields[3]
	t.Cleanup(func() { _ = s.end() })
	return s
}

// end stops the command and returns run's error.
func (s *started) end() error {
	s.stop()
	<-s.finished
	return s.err
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, body string, hdr map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func TestRun(t *testing.T) {
	t.Parallel()
	s := start(t, "-listen", "127.0.0.1:0", "-api-key", "secret", "-transition-delay", "0")
	if !strings.HasPrefix(s.base, "http://127.0.0.1:") || strings.HasSuffix(s.base, ":0") {
		t.Fatalf("base URL %q", s.base)
	}
	key := map[string]string{"OPEN-SANDBOX-API-KEY": "secret"}
	state := func(id string) string {
		var m struct {
			Status struct{ State string }
		}
		do(t, "GET", s.base+"/v1/sandboxes/"+id, "", key, &m)
		return m.Status.State
	}
	if st := do(t, "GET", s.base+"/v1/sandboxes", "", nil, nil); st != 401 {
		t.Errorf("without key: %d, want 401", st)
	}
	var m struct{ ID string }
	if st := do(t, "POST", s.base+"/v1/sandboxes", `{"image":{"uri":"python:3.11"},"entrypoint":["sh"],"resourceLimits":{"cpu":"1"}}`, key, &m); st != 202 || m.ID == "" {
		t.Fatalf("create: %d %+v", st, m)
	}
	for _, step := range []struct{ method, path, want string }{
		{"", "", "Running"},
		{"POST", "/pause", "Paused"},
		{"POST", "/resume", "Running"},
		{"DELETE", "", ""}, // gone
	} {
		if step.method != "" {
			if st := do(t, step.method, s.base+"/v1/sandboxes/"+m.ID+step.path, "", key, nil); st >= 300 {
				t.Fatalf("%s %s: %d", step.method, step.path, st)
			}
		}
		if got := state(m.ID); got != step.want {
			t.Errorf("after %s %s: %s, want %s", step.method, step.path, got, step.want)
		}
	}
	if st := do(t, "GET", s.base+"/healthz", "", nil, nil); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
	if err := s.end(); err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestHelpExitsCleanly(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"-help"}, {"proxy", "-h"}} {
		var out bytes.Buffer
		if err := run(t.Context(), args, io.Discard, &out); err != nil {
			t.Errorf("run(%q) = %v, want nil", args, err)
		}
		if !strings.Contains(out.String(), "Usage: sandboxmock") || !strings.Contains(out.String(), "-listen") {
			t.Errorf("run(%q) printed %q", args, out.String())
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-transition-delay", "-1s"}, {"-listen", "256.0.0.1:x"}, {"extra"},
		{"-runtime", "podman"}, {"-max-body", "0"}, {"-max-upload", "1TB"}, {"-read-timeout", "0s"},
		{"-max-sandbox-timeout", "30s"}, {"-journal-limit", "-1"},
		{"-listen", "0.0.0.0:0"}, // beyond loopback without a control token
		{"-tenant", "nokey"}, {"-transition", "Nope=manual"}, {"-transition", "Pause=later"},
		{"-runtime", "docker", "-transition", "Pause=manual"}, {"-manual-clock", "yesterday"},
		{"-base-url", "http://h/p"}, {"-retention", "-1s"},
		{"proxy"}, {"proxy", "-upstream", "ftp://x", "-api", "lifecycle"}, {"proxy", "-upstream", "http://x", "-api", "cp"},
	} {
		args = append([]string{"-listen", "127.0.0.1:0"}, args...)
		if args[2] == "proxy" {
			args = args[2:]
		}
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestRunDockerAndLimits runs the Docker runtime with a small body limit.
func TestRunDockerAndLimits(t *testing.T) {
	t.Parallel()
	s := start(t, "-listen", "127.0.0.1:0", "-runtime", "docker", "-max-body", "1KiB")
	if st := do(t, "POST", s.base+"/v1/sandboxes", `{"metadata":{"k":"`+strings.Repeat("x", 2048)+`"}}`, nil, nil); st != http.StatusRequestEntityTooLarge {
		t.Errorf("2 KiB body with -max-body 1KiB: %d, want 413", st)
	}
	var m struct{ ID string }
	do(t, "POST", s.base+"/v1/sandboxes", `{"image":{"uri":"x"},"entrypoint":["sleep","60"],"resourceLimits":{"cpu":"1"}}`, nil, &m)
	if st := do(t, "POST", s.base+"/v1/sandboxes/"+m.ID+"/pause", "", nil, nil); st != http.StatusAccepted {
		t.Errorf("pause: %d", st)
	}
	if st := do(t, "POST", s.base+"/v1/sandboxes/"+m.ID+"/pause", "", nil, nil); st != http.StatusInternalServerError {
		t.Errorf("second pause on Docker: %d, want 500", st)
	}
	if err := s.end(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestFlagsReachTheServer checks flags that configure the mock through
// what its control API reports.
func TestFlagsReachTheServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := start(t, "-listen", addr, "-manual-clock", "2030-01-02T03:04:05Z", "-runtime", "docker",
		"-journal-limit", "7", "-base-url", "http://mock.example:9000", "-control-token", "tok",
		"-tenant", "k1=alpha", "-tenant", "k2=beta")
	if s.base != "http://mock.example:9000" {
		t.Fatalf("reported URL %q, want the -base-url", s.base)
	}
	real := "http://" + addr
	var in struct {
		Runtime      string
		JournalLimit int
		Clock        struct {
			Now    time.Time
			Manual bool
		}
		Urls struct{ Base, Lifecycle string }
	}
	if st := do(t, "GET", real+"/_sandboxmock/info", "", nil, nil); st != 401 {
		t.Errorf("control API without the token: %d, want 401", st)
	}
	if st := do(t, "GET", real+"/_sandboxmock/info", "", map[string]string{"Authorization": "Bearer tok"}, &in); st != 200 {
		t.Fatalf("info: %d", st)
	}
	if in.Runtime != "docker" || in.JournalLimit != 7 || !in.Clock.Manual ||
		!in.Clock.Now.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) || in.Urls.Lifecycle != "http://mock.example:9000/v1" {
		t.Errorf("info: %+v", in)
	}
	if st := do(t, "GET", real+"/v1/sandboxes", "", nil, nil); st != 401 {
		t.Errorf("lifecycle API without a tenant key: %d, want 401", st)
	}
	if st := do(t, "GET", real+"/v1/sandboxes", "", map[string]string{"OPEN-SANDBOX-API-KEY": "k2"}, nil); st != 200 {
		t.Errorf("lifecycle API with tenant beta's key: %d", st)
	}
}

// TestStateFile restarts the command with -state and finds the sandbox
// the first run created.
func TestStateFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mock.json")
	s := start(t, "-listen", "127.0.0.1:0", "-state", path, "-manual-clock", "2030-01-01T00:00:00Z", "-transition-delay", "0")
	var m struct{ ID string }
	if st := do(t, "POST", s.base+"/v1/sandboxes", `{"image":{"uri":"x"},"entrypoint":["sleep","60"],"timeout":3600,"resourceLimits":{"cpu":"1"},"metadata":{"k":"v"}}`, nil, &m); st != 202 {
		t.Fatalf("create: %d", st)
	}
	do(t, "POST", s.base+"/_sandboxmock/clock/advance", `{"by":"10m"}`, nil, nil)
	if err := s.end(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("state file: %v", err)
	}

	s = start(t, "-listen", "127.0.0.1:0", "-state", path)
	var sb struct {
		Metadata  map[string]string
		ExpiresAt time.Time
		Status    struct{ State string }
	}
	if st := do(t, "GET", s.base+"/v1/sandboxes/"+m.ID, "", nil, &sb); st != 200 || sb.Status.State != "Running" || sb.Metadata["k"] != "v" {
		t.Fatalf("restored sandbox: %d %+v", st, sb)
	}
	var clock struct {
		Now    time.Time
		Manual bool
	}
	do(t, "GET", s.base+"/_sandboxmock/clock", "", nil, &clock)
	if !clock.Manual || !clock.Now.Equal(time.Date(2030, 1, 1, 0, 10, 0, 0, time.UTC)) {
		t.Errorf("restored clock: %+v", clock)
	}
	if !sb.ExpiresAt.Equal(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("restored expiry: %v", sb.ExpiresAt)
	}
	if err := s.end(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-state", path}, io.Discard, io.Discard); err == nil {
		t.Error("a broken state file was accepted")
	}
}

// TestStandaloneProcess drives a sandboxmock process (this test binary
// running the command's main) only through HTTP, as a test in another
// language would: it injects a fault, scripts a failing upgrade, moves
// the clock past an expiry, reads the journal, resets, and stops the
// process with SIGTERM.
func TestStandaloneProcess(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-listen", "127.0.0.1:0", "-runtime", "kubernetes")
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v; stderr: %s", err, stderr.String())
	}
	fields := strings.Fields(line)
	base := fields[3]
	for _, want := range []string{"lifecycle=" + base + "/v1", "controlplane=" + base + "/v0", "control=" + base + "/_sandboxmock"} {
		if !strings.Contains(line, want) {
			t.Errorf("startup line %q lacks %q", line, want)
		}
	}
	ctl := base + "/_sandboxmock"
	var e struct{ Code, Error string }
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d (%s %s)", what, got, want, e.Code, e.Error)
		}
	}

	check("healthz", do(t, "GET", base+"/healthz", "", nil, nil), 200)
	check("reset to a manual clock", do(t, "POST", ctl+"/reset", `{"manualClock":"2030-01-01T00:00:00Z","transitionDelay":"0s"}`, nil, &e), 200)

	// A fault: the create takes effect, its client sees a 503.
	var fault struct{ ID int }
	check("inject", do(t, "POST", ctl+"/faults", `{"api":"lifecycle","operation":"CreateSandbox","status":503,"afterCommit":true,"times":1}`, nil, &fault), 201)
	body := `{"image":{"uri":"python:3.12"},"entrypoint":["python","-m","http.server"],"timeout":600,"resourceLimits":{"cpu":"1"},"metadata":{"job":"j1"}}`
	check("create under the fault", do(t, "POST", base+"/v1/sandboxes", body, nil, nil), 503)
	var list struct {
		Items []struct{ ID string }
	}
	check("list", do(t, "GET", base+"/v1/sandboxes?metadata=job%3Dj1", "", nil, &list), 200)
	if len(list.Items) != 1 {
		t.Fatalf("sandboxes after the failed create: %+v, want the one the server made", list.Items)
	}
	id := list.Items[0].ID
	check("unknown operation", do(t, "POST", ctl+"/faults", `{"api":"sandbox","operation":"ExecCommand","status":502}`, nil, &e), 400)
	if e.Code != "UNKNOWN_OPERATION" || !strings.Contains(e.Error, "ExecProcess") {
		t.Errorf("unknown operation answer: %+v", e)
	}

	// A failing upgrade of that sandbox's API.
	check("script upgrade", do(t, "POST", ctl+"/upgrades", `{"sandbox":"`+id+`","failAt":"download"}`, nil, &e), 204)
	api := base + "/sandboxes/" + id + "/port/8080"
	check("upgrade", do(t, "POST", api+"/upgrade", `{}`, nil, nil), 200)
	check("advance through the upgrade", do(t, "POST", ctl+"/clock/advance", `{"by":"5s"}`, nil, &e), 200)
	var h struct {
		UpgradeCount int
		LastUpgrade  struct{ Status, Step, Error string }
	}
	check("health", do(t, "GET", api+"/health", "", nil, &h), 200)
	if h.LastUpgrade.Status != "failed" || h.LastUpgrade.Step != "download" || h.UpgradeCount != 0 || h.LastUpgrade.Error == "" {
		t.Errorf("health after the scripted upgrade: %+v", h)
	}

	// Past the sandbox's expiry (600 s).
	check("advance past the expiry", do(t, "POST", ctl+"/clock/advance", `{"by":"11m"}`, nil, &e), 200)
	check("expired sandbox", do(t, "GET", base+"/v1/sandboxes/"+id, "", nil, nil), 404)

	// The journal.
	var j struct {
		Entries []struct {
			Operation string
			Status    int
			Fault     int
		}
		Stats struct{ Requests struct{ Recorded int } }
	}
	check("journal", do(t, "GET", ctl+"/journal?api=lifecycle&operation=CreateSandbox", "", nil, &j), 200)
	if len(j.Entries) != 1 || j.Entries[0].Status != 503 || j.Entries[0].Fault != fault.ID {
		t.Errorf("journal of creates: %+v", j.Entries)
	}
	var dels []struct{ ID, Reason string }
	check("deletions", do(t, "GET", ctl+"/journal/deletions", "", nil, &dels), 200)
	if len(dels) != 1 || dels[0].ID != id || dels[0].Reason != "ttl_expiry" {
		t.Errorf("deletions: %+v", dels)
	}

	// Reset: nothing is left.
	check("reset", do(t, "POST", ctl+"/reset", ``, nil, &e), 200)
	check("journal after reset", do(t, "GET", ctl+"/journal", "", nil, &j), 200)
	var faults []any
	do(t, "GET", ctl+"/faults", "", nil, &faults)
	if len(j.Entries) != 0 || j.Stats.Requests.Recorded != 0 || len(faults) != 0 {
		t.Errorf("after reset: %d entries, %d recorded, %d faults", len(j.Entries), j.Stats.Requests.Recorded, len(faults))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
	}
}
