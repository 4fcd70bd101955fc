package sandbox

import (
	"context"
	"math"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/internal/poll"
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
//
// GET /health
func (c *Client) Health(ctx context.Context) (*Health, error) {
	res, err := c.api.GetHealth(ctx)
	if err != nil {
		return nil, wrap(ctx, "Health", err)
	}
	return healthFrom(res), nil
}

// WaitReadyOptions tunes [Client.WaitReady]. The zero value is usable.
type WaitReadyOptions struct {
	// MinDelay and MaxDelay bound the pause between two checks (defaults
	// 250ms and 5s); the pause doubles from MinDelay up to MaxDelay.
	MinDelay, MaxDelay time.Duration
}

// WaitReady polls GET /health until the server answers with status "ok"
// and returns that report. Refused connections and 5xx answers (a sandbox
// starting or restarting) are waited out; only ctx bounds the wait. When
// ctx ends first, the error wraps ctx's error.
//
// GET /health
func (c *Client) WaitReady(ctx context.Context, opts *WaitReadyOptions) (*Health, error) {
	var o WaitReadyOptions
	if opts != nil {
		o = *opts
	}
	h, _, err := poll.Until(ctx, poll.Options{
		MinDelay:     o.MinDelay,
		MaxDelay:     o.MaxDelay,
		MaxTransient: math.MaxInt,
		IsTransient:  client.IsTransient,
	}, func(ctx context.Context) (*Health, bool, error) {
		h, err := c.Health(ctx)
		if err != nil {
			return nil, false, err
		}
		return h, h.OK(), nil
	})
	if err != nil {
		return nil, wrap(ctx, "WaitReady", err)
	}
	return h, nil
}
