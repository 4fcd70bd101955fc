package guest

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// healthView is a GET /health answer. The spec requires only status (for
// older servers); the real server of today sends every field, and so
// must the mock: health fails the test when one is missing.
type healthView struct {
	Status, Version, GitCommit, BuildTime, GoVersion, Os, Arch, StartedAt, Uptime string
	UptimeSeconds                                                                 float64
	UpgradeCount                                                                  int
	LastUpgrade                                                                   upgradeView
}

// upgradeView is lastUpgrade of GET /health with unset optional fields
// empty.
type upgradeView struct {
	Status, Step, Version, LastAttempt, Error, DownloadURL, BinaryPath string
	Bytes                                                              int64
}

func (e *env) health(t *testing.T) *healthView {
	t.Helper()
	h, err := e.client.GetHealth(t.Context())
	if err != nil {
		t.Fatalf("GetHealth: %v", err)
	}
	u := h.LastUpgrade.Value
	for name, set := range map[string]bool{
		"version": h.Version.Set, "gitCommit": h.GitCommit.Set, "buildTime": h.BuildTime.Set,
		"goVersion": h.GoVersion.Set, "os": h.Os.Set, "arch": h.Arch.Set, "startedAt": h.StartedAt.Set,
		"uptime": h.Uptime.Set, "uptimeSeconds": h.UptimeSeconds.Set, "upgradeCount": h.UpgradeCount.Set,
		"lastUpgrade": h.LastUpgrade.Set, "lastUpgrade.step": u.Step.Set, "lastUpgrade.version": u.Version.Set,
	} {
		if !set {
			t.Errorf("GET /health: %s missing", name)
		}
	}
	return &healthView{
		Status: h.Status, Version: h.Version.Value, GitCommit: h.GitCommit.Value, BuildTime: h.BuildTime.Value,
		GoVersion: h.GoVersion.Value, Os: h.Os.Value, Arch: h.Arch.Value, StartedAt: h.StartedAt.Value,
		Uptime: h.Uptime.Value, UptimeSeconds: h.UptimeSeconds.Value, UpgradeCount: h.UpgradeCount.Value,
		LastUpgrade: upgradeView{
			Status: u.Status, Step: u.Step.Value, Version: u.Version.Value,
			LastAttempt: u.LastAttempt.Or(""), Error: u.Error.Or(""), DownloadURL: u.DownloadURL.Or(""),
			BinaryPath: u.BinaryPath.Or(""), Bytes: u.BytesDownloaded.Or(0),
		},
	}
}

func (e *env) lastUpgrade(t *testing.T) upgradeView {
	t.Helper()
	return e.health(t).LastUpgrade
}

func (e *env) upgrade(t *testing.T, version string) *sandboxapi.UpgradeResponse {
	t.Helper()
	var req sandboxapi.OptUpgradeRequest
	if version != "" {
		req = sandboxapi.NewOptUpgradeRequest(sandboxapi.UpgradeRequest{Version: sandboxapi.NewOptString(version)})
	}
	res, err := e.client.Upgrade(t.Context(), req)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	return res
}

func at(d time.Duration) string { return epoch.Add(d).UTC().Format(time.RFC3339Nano) }

func TestHealthUptime(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Version: "v1.2.3"})
	e.clock.Advance(90 * time.Minute)
	h := e.health(t)
	got := []any{h.Status, h.Version, h.StartedAt, h.Uptime, h.UptimeSeconds, h.UpgradeCount, h.Os, h.Arch, h.LastUpgrade.Status, h.LastUpgrade.Step, h.LastUpgrade.LastAttempt != ""}
	want := []any{"ok", "v1.2.3", "2026-01-29T18:45:49Z", "1h30m0s", 5400.0, 0, "linux", "amd64", "idle", "none", false}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("health (-want +got):\n%s", d)
	}
	if h.GitCommit == "" || h.GoVersion == "" || h.BuildTime == "" {
		t.Errorf("build information missing: %+v", h)
	}
	e.clock.Advance(1500 * time.Millisecond)
	if h := e.health(t); h.Uptime != "1h30m2s" || h.UptimeSeconds != 5401.5 {
		t.Errorf("uptime = %q, %v; want 1h30m2s, 5401.5", h.Uptime, h.UptimeSeconds)
	}
}

func TestUpgradeStepByStep(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	before := e.health(t)
	res := e.upgrade(t, "v0.2.0")
	if res.Message == "" || res.Version.Or("") != "v0.2.0" || res.BaseURL.Or("") != DefaultBaseURL {
		t.Fatalf("upgrade answer = %+v", res)
	}
	const size = DefaultDownloadSize
	url := DefaultBaseURL + "/download/v0.2.0/sandbox-api-linux-amd64"
	steps := []struct {
		advance time.Duration
		want    upgradeView
	}{
		{499 * time.Millisecond, upgradeView{Status: "idle", Step: "none"}}, // still the previous attempt
		// "starting" lasts an instant: the download begins at once; its
		// URL and size show once it has ended.
		{1 * time.Millisecond, upgradeView{Status: "running", Step: "download", Version: "v0.2.0", LastAttempt: at(500 * time.Millisecond)}},
		{399 * time.Millisecond, upgradeView{Status: "running", Step: "download", Version: "v0.2.0", LastAttempt: at(500 * time.Millisecond)}},
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		if d := cmp.Diff(s.want, e.lastUpgrade(t)); d != "" {
			t.Fatalf("step %d (-want +got):\n%s", i, d)
		}
	}
	e.clock.Advance(time.Millisecond)
	u := e.lastUpgrade(t)
	if u.Step != "validate" || u.Bytes != size || u.BinaryPath == "" || u.DownloadURL != url || u.LastAttempt != at(900*time.Millisecond) {
		t.Fatalf("download done: %+v", u)
	}
	e.clock.Advance(100 * time.Millisecond)
	if u := e.lastUpgrade(t); u.Status != "running" || u.Step != "replace" || u.Bytes != size {
		t.Fatalf("want running/replace: %+v", u)
	}

	// The restart: every connection is dropped for 200 ms.
	e.clock.Advance(100 * time.Millisecond)
	for range 2 {
		if _, err := e.client.GetHealth(t.Context()); err == nil {
			t.Fatal("GetHealth during the restart succeeded")
		}
		if resp, err := e.try(t.Context(), http.MethodPost, "/process", `{"command":"true"}`); err == nil {
			resp.Body.Close()
			t.Fatalf("POST /process during the restart = %d", resp.StatusCode)
		}
		e.clock.Advance(99 * time.Millisecond)
	}
	e.clock.Advance(2 * time.Millisecond) // 1.3 s after the request

	// A new server process: its lastUpgrade is blank.
	h := e.health(t)
	got := []any{h.Version, h.UpgradeCount, h.StartedAt, h.Uptime, h.LastUpgrade}
	want := []any{"v0.2.0", 1, "2026-01-29T18:45:50Z", "0s", upgradeView{Status: "idle", Step: "none"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after the restart (-want +got):\n%s", d)
	}
	if h.GitCommit == before.GitCommit {
		t.Errorf("gitCommit unchanged: %s", h.GitCommit)
	}
}

func TestUpgradeFailsAtDownload(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.g.ScriptUpgrade(UpgradeScript{FailAt: "download"})
	if res := e.upgrade(t, ""); res.Version.Or("") != "latest" {
		t.Fatalf("default version = %q, want latest", res.Version.Or(""))
	}
	e.clock.Advance(900 * time.Millisecond)
	url := DefaultBaseURL + "/latest/download/sandbox-api-linux-amd64"
	want := upgradeView{
		Status: "failed", Step: "download", Version: "latest", LastAttempt: at(900 * time.Millisecond),
		Error:       "Failed to download release from " + url + ": HTTP 404: Not Found",
		DownloadURL: url,
	}
	if d := cmp.Diff(want, e.lastUpgrade(t)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	e.clock.Advance(time.Minute)
	if d := cmp.Diff(want, e.lastUpgrade(t)); d != "" {
		t.Errorf("a minute later (-want +got):\n%s", d)
	}
	if h := e.health(t); h.UpgradeCount != 0 || h.Version != DefaultVersion {
		t.Errorf("after a failed upgrade: version %s, count %d", h.Version, h.UpgradeCount)
	}

	// The script was for one attempt: the next one succeeds.
	e.upgrade(t, "")
	e.clock.Advance(2 * time.Second)
	if h := e.health(t); h.UpgradeCount != 1 || h.Version != "v0.1.1" {
		t.Errorf("second attempt: version %s, count %d; want v0.1.1, 1", h.Version, h.UpgradeCount)
	}
}

func TestUpgradeScript(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.g.ScriptUpgrade(UpgradeScript{FailAt: "validate", Error: "boom", Delay: 2 * time.Second, StepDuration: time.Second, DownloadDuration: 8 * time.Second, DownloadBytes: 400})
	e.upgrade(t, "v2.0.0")
	for _, s := range []struct {
		advance      time.Duration
		status, step string
		bytes        int64
	}{
		{1999 * time.Millisecond, "idle", "none", 0},
		{time.Millisecond, "running", "download", 0},
		{7999 * time.Millisecond, "running", "download", 0},
		{time.Millisecond, "running", "validate", 400},
		{time.Second, "failed", "validate", 400},
	} {
		e.clock.Advance(s.advance)
		if u := e.lastUpgrade(t); u.Status != s.status || u.Step != s.step || u.Bytes != s.bytes {
			t.Fatalf("want %s/%s %d bytes, got %+v", s.status, s.step, s.bytes, u)
		}
	}
	if u := e.lastUpgrade(t); u.Error != "boom" {
		t.Errorf("error = %q, want boom", u.Error)
	}

	e.g.ScriptUpgrade(UpgradeScript{Version: "v9.9.9", RestartDuration: 10 * time.Second})
	e.upgrade(t, "latest")
	e.clock.Advance(1100 * time.Millisecond)
	if _, err := e.client.GetHealth(t.Context()); err == nil {
		t.Fatal("GetHealth during the restart succeeded")
	}
	e.clock.Advance(9 * time.Second)
	if _, err := e.client.GetHealth(t.Context()); err == nil {
		t.Fatal("GetHealth 9 s into a 10 s restart succeeded")
	}
	e.clock.Advance(time.Second)
	if h := e.health(t); h.Version != "v9.9.9" || h.LastUpgrade.Version != "" || h.UpgradeCount != 1 {
		t.Errorf("version %s, lastUpgrade.version %q, count %d; want v9.9.9, empty, 1", h.Version, h.LastUpgrade.Version, h.UpgradeCount)
	}
}

// As on the real server, an upgrade to the running version is an upgrade
// like any other; a server in development mode skips every attempt.
func TestUpgradeToRunningVersionAndDevMode(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Version: "v0.1.0"})
	e.upgrade(t, "v0.1.0")
	e.clock.Advance(2 * time.Second)
	if h := e.health(t); h.UpgradeCount != 1 || h.Version != "v0.1.0" || h.StartedAt == "2026-01-29T18:45:49Z" {
		t.Errorf("upgrade to the running version: count %d, version %s, startedAt %s", h.UpgradeCount, h.Version, h.StartedAt)
	}
	e.g.ScriptUpgrade(UpgradeScript{FailAt: "starting"})
	e.upgrade(t, "latest")
	e.clock.Advance(500 * time.Millisecond)
	want := upgradeView{Status: "failed", Step: "skipped", Version: "latest", LastAttempt: at(2500 * time.Millisecond), Error: "dev mode detected - use air for rebuilds"}
	if d := cmp.Diff(want, e.lastUpgrade(t)); d != "" {
		t.Fatalf("development mode (-want +got):\n%s", d)
	}
	e.clock.Advance(time.Minute)
	if h := e.health(t); h.UpgradeCount != 1 {
		t.Errorf("restarted in development mode: count %d", h.UpgradeCount)
	}
}

func TestUpgradeKeepsProcessesAndDropsStreams(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	p := e.exec(t, `{"command":"sleep 100","name":"server"}`)
	logs := e.open(t, http.MethodGet, "/process/server/logs/stream", "")
	exec := e.open(t, http.MethodPost, "/process", `{"command":"sleep 50"}`, "Accept", "text/event-stream")
	e.upgrade(t, "v0.2.0")
	e.clock.Advance(1100 * time.Millisecond) // the restart begins
	for name, body := range map[string]*http.Response{"logs": logs, "exec": exec} {
		if _, err := io.ReadAll(body.Body); err == nil {
			t.Errorf("%s stream ended cleanly at the restart; want a dropped connection", name)
		}
	}
	e.clock.Advance(200 * time.Millisecond)
	if got := e.getProcess(t, p.Pid); got.Status != "running" || got.Pid != p.Pid {
		t.Fatalf("after the upgrade: %+v", got)
	}
	e.clock.Advance(100 * time.Second)
	if got := e.getProcess(t, "server"); got.Status != "completed" {
		t.Errorf("sleep after 100 s: %s", got.Status)
	}
	waitNoStreams(t, e.g)
}

func TestConcurrentUpgradesAreNotSerialized(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.upgrade(t, "v0.2.0")
	e.clock.Advance(50 * time.Millisecond)
	e.upgrade(t, "v0.3.0")
	e.clock.Advance(500 * time.Millisecond)
	// Both attempts write lastUpgrade; the second one was last.
	if u := e.lastUpgrade(t); u.Version != "v0.3.0" || u.Step != "download" {
		t.Fatalf("at 550 ms: %+v", u)
	}
	e.clock.Advance(350 * time.Millisecond)
	if u := e.lastUpgrade(t); u.Version != "v0.2.0" || u.Step != "validate" {
		t.Fatalf("at 900 ms: %+v", u)
	}
	// The first restart (1.1 s) ends the second attempt with the old process.
	e.clock.Advance(time.Minute)
	h := e.health(t)
	if h.Version != "v0.2.0" || h.UpgradeCount != 1 || h.LastUpgrade.Status != "idle" {
		t.Errorf("after both: version %s, count %d, lastUpgrade %s/%s", h.Version, h.UpgradeCount, h.LastUpgrade.Status, h.LastUpgrade.Step)
	}
}
