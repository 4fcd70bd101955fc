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
	// FailAt is the step at which the attempt fails: "starting",
	// "download", "validate" or "replace". Empty means it succeeds.
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
	// DownloadDuration is the duration of the whole download, which grows
	// bytesDownloaded in four equal parts (default 4*StepDuration).
	// Real downloads that need retries take 7–14 s.
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
	out := sandboxsrv.UpgradeStatus{Status: s.status, Step: s.step, Version: s.version}
	if !s.lastAttempt.IsZero() {
		out.LastAttempt = sandboxsrv.NewOptString(s.lastAttempt.UTC().Format(time.RFC3339Nano))
	}
	if s.err != "" {
		out.Error = sandboxsrv.NewOptString(s.err)
	}
	if s.downloadURL != "" {
		out.DownloadUrl = sandboxsrv.NewOptString(s.downloadURL)
	}
	if s.binaryPath != "" {
		out.BinaryPath = sandboxsrv.NewOptString(s.binaryPath)
	}
	if s.bytes != 0 {
		out.BytesDownloaded = sandboxsrv.NewOptInt64(s.bytes)
	}
	return out
}

// downloadParts is how many times bytesDownloaded grows during a download.
const downloadParts = 4

// attempt is one upgrade in progress.
type attempt struct {
	boot      int // bootID of the server instance that runs the attempt
	requested string
	baseURL   string
	script    UpgradeScript
	st        upgradeStatus
	part      int // download parts received
}

// Upgrade implements POST /upgrade. It answers at once; the attempt then
// advances on the guest's clock. Attempts are not serialized: each runs
// its own timeline, all write lastUpgrade, and the first one to restart
// the server ends the others (they ran in the old process).
func (h handler) Upgrade(_ context.Context, req sandboxsrv.OptUpgradeRequest) (sandboxsrv.UpgradeRes, error) {
	version, baseURL := "latest", DefaultBaseURL
	if v, ok := req.Value.Version.Get(); req.Set && ok && v != "" {
		version = v
	}
	if u, ok := req.Value.BaseUrl.Get(); req.Set && ok && u != "" {
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
		BaseUrl: sandboxsrv.NewOptString(baseURL),
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
		s.DownloadDuration = downloadParts * s.StepDuration
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
	fail := func() bool {
		if a.script.FailAt != a.st.step {
			return false
		}
		a.st.status = "failed"
		a.st.err = a.failMessage(a.st.step)
		publish()
		return true
	}
	next := func(d time.Duration, step string) {
		g.afterLocked(d, func() { g.upgradeStep(a, step) })
	}
	s := a.script
	switch step {
	case "starting":
		if s.Version == g.version {
			a.st = upgradeStatus{status: "completed", step: "skipped", version: a.requested}
			publish()
			return
		}
		a.st = upgradeStatus{status: "running", step: "starting", version: a.requested}
		if s.FailAt == "starting" {
			fail()
			return
		}
		publish()
		next(s.StepDuration, "download")
	case "download":
		a.st.step = "download"
		a.st.downloadURL = a.downloadURL()
		a.st.bytes = s.DownloadBytes * int64(a.part) / downloadParts
		if a.part == downloadParts/2 && fail() {
			return
		}
		if a.part == downloadParts {
			a.st.binaryPath = fmt.Sprintf("/tmp/sandbox-api-new-%d", now.UnixNano())
			publish()
			next(s.StepDuration, "validate")
			return
		}
		publish()
		a.part++
		next(s.DownloadDuration/downloadParts, "download")
	case "validate":
		a.st.step = "validate"
		if fail() {
			return
		}
		publish()
		next(s.StepDuration, "replace")
	case "replace":
		a.st.step = "replace"
		if fail() {
			return
		}
		publish()
		next(s.StepDuration, "restart")
	case "restart":
		// The real server reports completed/completed and re-executes
		// itself; connections are refused until the new one listens.
		a.st.status, a.st.step = "completed", "completed"
		publish()
		g.restarting = true
		g.newBootLocked()
		next(s.RestartDuration, "up")
	case "up":
		g.restarting = false
		g.version = s.Version
		g.buildTime = now.Add(-time.Hour)
		g.startedAt = now
		g.upgradeCount++
		g.last = upgradeStatus{status: "idle", step: "none", version: a.requested, lastAttempt: g.last.lastAttempt}
	}
}
