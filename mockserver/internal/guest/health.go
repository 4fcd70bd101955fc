package guest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// GetHealth implements GET /health: build information of the running
// version, uptime on the guest's clock and the last upgrade attempt.
func (h handler) GetHealth(context.Context) (*sandboxsrv.HealthResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	up := h.clk.Now().Sub(h.startedAt)
	return &sandboxsrv.HealthResponse{
		Status:        "ok",
		Version:       sandboxsrv.NewOptString(h.version),
		GitCommit:     sandboxsrv.NewOptString(gitCommit(h.version)),
		BuildTime:     sandboxsrv.NewOptString(h.buildTime.UTC().Format(time.RFC3339)),
		GoVersion:     sandboxsrv.NewOptString(runtime.Version()),
		Os:            sandboxsrv.NewOptString("linux"),
		Arch:          sandboxsrv.NewOptString("amd64"),
		StartedAt:     sandboxsrv.NewOptString(h.startedAt.UTC().Format(time.RFC3339)),
		Uptime:        sandboxsrv.NewOptString(up.Round(time.Second).String()),
		UptimeSeconds: sandboxsrv.NewOptFloat64(up.Seconds()),
		UpgradeCount:  sandboxsrv.NewOptInt(h.upgradeCount),
		LastUpgrade:   sandboxsrv.NewOptUpgradeStatus(h.last.api()),
	}, nil
}

// gitCommit makes up a stable short commit hash for a version.
func gitCommit(version string) string {
	sum := sha1.Sum([]byte(version))
	return hex.EncodeToString(sum[:])[:7]
}

// nextVersion bumps the patch number of a vX.Y.Z version.
func nextVersion(v string) string {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if strings.HasPrefix(v, "v") && len(parts) == 3 {
		if n, err := strconv.Atoi(parts[2]); err == nil && n >= 0 {
			return "v" + parts[0] + "." + parts[1] + "." + strconv.Itoa(n+1)
		}
	}
	return v + "-next"
}
