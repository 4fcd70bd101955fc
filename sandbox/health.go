package sandbox

import (
	"context"
	"time"
)

// Health is the server's report on itself.
type Health struct {
	// Status is "ok" while the server is serving.
	Status string
	// Version is the release of the running server, such as "v0.1.0".
	Version string
	// GitCommit is the commit the server was built from.
	GitCommit string
	// BuildTime is when the server was built; zero if the server does not
	// know (development builds say "unknown").
	BuildTime time.Time
	// GoVersion is the Go toolchain of the build.
	GoVersion string
	// OS and Arch are the platform, such as "linux" and "amd64".
	OS, Arch string
	// StartedAt is when the server process started. It changes when an
	// upgrade restarts the server.
	StartedAt time.Time
	// Uptime is the time since StartedAt.
	Uptime time.Duration
	// UpgradeCount is how many successful upgrades the sandbox went
	// through; it grows by one with each.
	UpgradeCount int
	// LastUpgrade is the most recent upgrade attempt.
	LastUpgrade UpgradeStatus
}

// OK reports whether Status is "ok".
func (h *Health) OK() bool { return h != nil && h.Status == "ok" }

// UpgradeState is the state of an upgrade attempt. Values other than the
// constants may appear with later servers.
type UpgradeState string

// Upgrade states.
const (
	UpgradeIdle      UpgradeState = "idle"
	UpgradeRunning   UpgradeState = "running"
	UpgradeCompleted UpgradeState = "completed"
	UpgradeFailed    UpgradeState = "failed"
)

// UpgradeStep is the step an upgrade attempt is at. The server reports
// StepNone to StepSkipped; StepRestarting is the client's own, reported
// while the server cannot be reached after replacing itself.
type UpgradeStep string

// Upgrade steps, in the order an attempt goes through them.
const (
	StepNone       UpgradeStep = "none"
	StepStarting   UpgradeStep = "starting"
	StepDownload   UpgradeStep = "download"
	StepValidate   UpgradeStep = "validate"
	StepReplace    UpgradeStep = "replace"
	StepRestarting UpgradeStep = "restarting"
	StepCompleted  UpgradeStep = "completed"
	StepSkipped    UpgradeStep = "skipped"
)

// UpgradeStatus is the server's record of its most recent upgrade attempt.
type UpgradeStatus struct {
	// State is idle, running, completed or failed.
	State UpgradeState
	// Step is the current or last step.
	Step UpgradeStep
	// Version is the version the attempt targets.
	Version string
	// LastAttempt is when the server last updated this record (the real
	// server stamps every step); zero if never. It tells attempts apart.
	LastAttempt time.Time
	// Error says why the attempt failed.
	Error string
	// DownloadURL is where the new build is fetched from.
	DownloadURL string
	// BinaryPath is where the new build is stored in the sandbox.
	BinaryPath string
	// BytesDownloaded is how much of the new build has been fetched.
	BytesDownloaded int64
}

// Health reports the server's health, build and last upgrade attempt.
// Older servers answer with a status only: fields the answer leaves out
// are zero.
//
// GET /health
func (c *Client) Health(ctx context.Context) (*Health, error) {
	if err := c.check(ctx, "Health"); err != nil {
		return nil, err
	}
	r, err := c.api.GetHealth(ctx)
	if err != nil {
		return nil, wrap(ctx, "Health", err)
	}
	return healthFrom(r), nil
}
