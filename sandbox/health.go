package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-faster/jx"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
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
// (or sets to null) are zero.
//
// GET /health
func (c *Client) Health(ctx context.Context) (*Health, error) {
	if err := c.check(ctx, "Health"); err != nil {
		return nil, err
	}
	var h *Health
	_, err := c.api.GetHealth(ctx, sandboxapi.WithEditResponse(func(r *http.Response) error {
		if r.StatusCode != http.StatusOK {
			return nil
		}
		var err error
		h, err = decodeHealth(r)
		return err
	}))
	if err != nil {
		return nil, wrap(ctx, "Health", err)
	}
	if h == nil {
		return nil, wrap(ctx, "Health", errors.New("no health report in the answer"))
	}
	return h, nil
}

// maxHealthSize bounds the health answer read.
const maxHealthSize = 1 << 20

// completeHealth is a health answer with every field the generated
// decoder requires. decodeHealth reads the real answer leniently and
// hands this to the generated client in its place, so that an older
// server's {"status":"ok"} is not a decoding error.
const completeHealth = `{"status":"","version":"","gitCommit":"","buildTime":"","goVersion":"","os":"",
"arch":"","startedAt":"","uptime":"","uptimeSeconds":0,"upgradeCount":0,
"lastUpgrade":{"status":"","step":"","version":""}}`

// decodeHealth reads a 200 answer of GET /health into a Health, taking
// missing and null fields as zero; a field of the wrong type is an
// error.
func decodeHealth(r *http.Response) (*Health, error) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, nil // the generated client reports it
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxHealthSize+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(b) > maxHealthSize {
		return nil, fmt.Errorf("health answer larger than %d bytes", maxHealthSize)
	}
	var w sandboxapi.HealthResponse
	d := jx.DecodeBytes(b)
	err = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		u := &w.LastUpgrade
		switch string(key) {
		case "status":
			return lenientStr(d, &w.Status)
		case "version":
			return lenientStr(d, &w.Version)
		case "gitCommit":
			return lenientStr(d, &w.GitCommit)
		case "buildTime":
			return lenientStr(d, &w.BuildTime)
		case "goVersion":
			return lenientStr(d, &w.GoVersion)
		case "os":
			return lenientStr(d, &w.Os)
		case "arch":
			return lenientStr(d, &w.Arch)
		case "startedAt":
			return lenientStr(d, &w.StartedAt)
		case "uptime":
			return lenientStr(d, &w.Uptime)
		case "uptimeSeconds":
			return lenientNum(d, func(d *jx.Decoder) (err error) { w.UptimeSeconds, err = d.Float64(); return err })
		case "upgradeCount":
			return lenientNum(d, func(d *jx.Decoder) (err error) { w.UpgradeCount, err = d.Int(); return err })
		case "lastUpgrade":
			if d.Next() == jx.Null {
				return d.Null()
			}
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				switch string(key) {
				case "status":
					return lenientStr(d, &u.Status)
				case "step":
					return lenientStr(d, &u.Step)
				case "version":
					return lenientStr(d, &u.Version)
				case "lastAttempt":
					return lenientStr(d, &u.LastAttempt.Value)
				case "error":
					return lenientStr(d, &u.Error.Value)
				case "downloadUrl":
					return lenientStr(d, &u.DownloadURL.Value)
				case "binaryPath":
					return lenientStr(d, &u.BinaryPath.Value)
				case "bytesDownloaded":
					return lenientNum(d, func(d *jx.Decoder) (err error) { u.BytesDownloaded.Value, err = d.Int64(); return err })
				}
				return d.Skip()
			})
		}
		return d.Skip()
	})
	if err != nil {
		return nil, fmt.Errorf("decoding the health answer: %w", err)
	}
	r.Body = io.NopCloser(strings.NewReader(completeHealth))
	r.ContentLength = int64(len(completeHealth))
	return healthFrom(&w), nil
}

// lenientStr reads a string field; null leaves it as it is.
func lenientStr[S ~string](d *jx.Decoder, dst *S) error {
	if d.Next() == jx.Null {
		return d.Null()
	}
	s, err := d.Str()
	*dst = S(s)
	return err
}

// lenientNum reads a number field with read; null leaves it as it is.
func lenientNum(d *jx.Decoder, read func(*jx.Decoder) error) error {
	if d.Next() == jx.Null {
		return d.Null()
	}
	return read(d)
}
