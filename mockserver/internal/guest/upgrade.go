package guest

import (
	"context"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// UpgradeScript changes how the next POST /upgrade goes. Zero fields keep
// the defaults of [Config]. A script is used by one attempt only.
type UpgradeScript struct {
	// FailAt is the step at which the attempt fails: "download",
	// "validate" or "replace". Empty means it succeeds. "starting" makes
	// the attempt end as a server in development mode ends every attempt:
	// failed, step "skipped", error "dev mode detected - use air for
	// rebuilds".
	FailAt string
	// Error is the text of lastUpgrade.error when the attempt fails.
	// Empty means a message like the real server's for that step.
	Error string
	// Version is the version the upgraded server reports. Empty means the
	// requested one, with "latest", "develop" and "main" resolved to
	// Config.LatestVersion.
	Version string
	// Delay is the time from POST /upgrade to the "starting" step.
	Delay time.Duration
	// StepDuration is the duration of the starting, validate and replace
	// steps.
	StepDuration time.Duration
	// DownloadDuration is the duration of the download (default
	// 4*StepDuration); as on the real server bytesDownloaded only shows
	// once it has ended. Real downloads that need retries take 7–14 s.
	DownloadDuration time.Duration
	// RestartDuration is how long connections are refused during the
	// restart.
	RestartDuration time.Duration
	// DownloadBytes is the size of the build.
	DownloadBytes int64
}

// ScriptUpgrade makes the next upgrade attempt follow s.
func (g *Guest) ScriptUpgrade(s UpgradeScript) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script = &s
}

// upgradeStatus is lastUpgrade of GET /health.
type upgradeStatus struct {
	status, step, version string
	lastAttempt           time.Time
	err, downloadURL      string
	binaryPath            string
	bytes                 int64
}

func (s upgradeStatus) api() sandboxsrv.UpgradeStatus {
	// The real server always sends step and version, even when empty.
	out := sandboxsrv.UpgradeStatus{Status: s.status, Step: sandboxsrv.NewOptString(s.step), Version: sandboxsrv.NewOptString(s.version)}
	if !s.lastAttempt.IsZero() {
		out.LastAttempt = sandboxsrv.NewOptString(s.lastAttempt.UTC().Format(time.RFC3339Nano))
	}
	if s.err != "" {
		out.Error = sandboxsrv.NewOptString(s.err)
	}
	if s.downloadURL != "" {
		out.DownloadURL = sandboxsrv.NewOptString(s.downloadURL)
	}
	if s.binaryPath != "" {
		out.BinaryPath = sandboxsrv.NewOptString(s.binaryPath)
	}
	if s.bytes != 0 {
		out.BytesDownloaded = sandboxsrv.NewOptInt64(s.bytes)
	}
	return out
}

// attempt is one upgrade in progress.
type attempt struct {
	boot      int // bootID of the server instance that runs the attempt
	requested string
	baseURL   string
	script    UpgradeScript
	st        upgradeStatus
}

// Upgrade implements POST /upgrade. It answers at once; the attempt then
// advances on the guest's clock. Attempts are not serialized: each runs
// its own timeline, all write lastUpgrade, and the first one to restart
// the server ends the others (they ran in the old process).
func (h handler) Upgrade(_ context.Context, req sandboxsrv.OptUpgradeRequest) (*sandboxsrv.UpgradeResponse, error) {
	version, baseURL := "latest", DefaultBaseURL
	if v, ok := req.Value.Version.Get(); req.Set && ok && v != "" {
		version = v
	}
	if u, ok := req.Value.BaseURL.Get(); req.Set && ok && u != "" {
		baseURL = u
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := &attempt{boot: h.bootID, requested: version, baseURL: baseURL}
	if h.script != nil {
		a.script = *h.script
		h.script = nil
	}
	a.fillDefaults(h.cfg)
	h.afterLocked(a.script.Delay, func() { h.upgradeStep(a, "starting") })
	return &sandboxsrv.UpgradeResponse{
		Message: "Upgrade initiated. Process state saved. The server will upgrade shortly.",
		Version: sandboxsrv.NewOptString(version),
		BaseURL: sandboxsrv.NewOptString(baseURL),
	}, nil
}

func (a *attempt) fillDefaults(cfg Config) {
	s := &a.script
	if s.Delay <= 0 {
		s.Delay = cfg.UpgradeDelay
	}
	if s.StepDuration <= 0 {
		s.StepDuration = cfg.UpgradeStep
	}
	if s.DownloadDuration <= 0 {
		s.DownloadDuration = 4 * s.StepDuration
	}
	if s.RestartDuration <= 0 {
		s.RestartDuration = cfg.RestartDuration
	}
	if s.DownloadBytes <= 0 {
		s.DownloadBytes = cfg.DownloadSize
	}
	if s.Version == "" {
		switch a.requested {
		case "latest", "develop", "main":
			s.Version = cfg.LatestVersion
		default:
			s.Version = a.requested
		}
	}
}

func (a *attempt) downloadURL() string {
	const asset = "sandbox-api-linux-amd64"
	if a.requested == "latest" {
		return a.baseURL + "/latest/download/" + asset
	}
	return a.baseURL + "/download/" + a.requested + "/" + asset
}

// failMessage is lastUpgrade.error when the attempt fails at step.
func (a *attempt) failMessage(step string) string {
	if a.script.Error != "" {
		return a.script.Error
	}
	switch step {
	case "skipped":
		return "dev mode detected - use air for rebuilds"
	case "download":
		return fmt.Sprintf("Failed to download release from %s: HTTP 404: Not Found", a.downloadURL())
	case "validate":
		return "Binary validation failed: health check timed out after 10 attempts"
	case "replace":
		return "Failed to replace binary: exec format error"
	}
	return "Failed to start upgrade"
}

// upgradeStep runs one step of attempt a, then schedules the next.
func (g *Guest) upgradeStep(a *attempt, step string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	if step != "up" && (a.boot != g.bootID || g.restarting) {
		return // the server this attempt ran in has restarted
	}
	now := g.clk.Now()
	publish := func() {
		a.st.lastAttempt = now
		g.last = a.st
	}
	fail := func(step string) bool {
		if a.script.FailAt != step {
			return false
		}
		a.st.status, a.st.step = "failed", step
		a.st.err = a.failMessage(step)
		publish()
		return true
	}
	next := func(d time.Duration, step string) {
		g.afterLocked(d, func() { g.upgradeStep(a, step) })
	}
	// Each step but the first runs when the phase it names has ended.
	s := a.script
	switch step {
	case "starting":
		// The real server shows "starting" for an instant only: the
		// download begins at once (a server in development mode stops
		// there).
		a.st = upgradeStatus{status: "running", step: "starting", version: a.requested}
		publish()
		if s.FailAt == "starting" {
			a.st.status, a.st.step = "failed", "skipped"
			a.st.err = a.failMessage("skipped")
			publish()
			return
		}
		a.st.step = "download"
		publish()
		next(s.DownloadDuration, "download")
	case "download":
		a.st.downloadURL = a.downloadURL()
		if fail("download") {
			return
		}
		a.st.bytes = s.DownloadBytes
		a.st.binaryPath = fmt.Sprintf("/tmp/sandbox-api-new-%d", now.UnixNano())
		a.st.step = "validate"
		publish()
		next(s.StepDuration, "validate")
	case "validate":
		if fail("validate") {
			return
		}
		a.st.step = "replace"
		publish()
		next(s.StepDuration, "replace")
	case "replace":
		if fail("replace") {
			return
		}
		// The real server reports completed/completed and re-executes
		// itself; connections are refused until the new one listens.
		a.st.status, a.st.step = "completed", "completed"
		publish()
		g.restarting = true
		g.newBootLocked()
		next(s.RestartDuration, "up")
	case "up":
		// A new server process: its lastUpgrade is blank.
		g.restarting = false
		g.version = s.Version
		g.buildTime = now.Add(-time.Hour)
		g.startedAt = now
		g.upgradeCount++
		g.last = upgradeStatus{status: "idle", step: "none"}
	}
}
