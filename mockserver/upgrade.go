package mockserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/guest"
)

// UpgradeScript changes how the next upgrade of one sandbox's API goes
// (see [Server.ScriptUpgrade]). Zero fields keep the defaults: the
// attempt succeeds, its first step shows 500ms after POST /upgrade, the
// later steps take 100ms each (the download four of them), the restart
// refuses connections for 200ms, and the new version is the requested
// one ("latest", "develop" and "main" resolve to the next patch release:
// a sandbox API starts at v0.1.0, so "latest" installs v0.1.1).
// Durations run on the server's clock.
type UpgradeScript struct {
	// FailAt is the step at which the attempt fails: "starting",
	// "download" (half way through), "validate" or "replace". Empty means
	// it succeeds.
	FailAt string
	// Error is the text of lastUpgrade.error when the attempt fails.
	// Empty means a message like the real server's for that step (for
	// download: "Failed to download release from URL: HTTP 404: Not
	// Found").
	Error string
	// Version is the version the upgraded server reports. Empty means the
	// requested one. Setting it to the running version makes the attempt
	// end completed/skipped without a restart, as the real server does.
	Version string
	// Delay is the time from POST /upgrade to the "starting" step.
	Delay time.Duration
	// StepDuration is the duration of the starting, validate and replace
	// steps.
	StepDuration time.Duration
	// DownloadDuration is the duration of the whole download, during
	// which bytesDownloaded grows in four equal parts (default four
	// times StepDuration). Real downloads that need retries take 7–14 s.
	DownloadDuration time.Duration
	// RestartDuration is how long connections are refused while the
	// server restarts.
	RestartDuration time.Duration
	// DownloadBytes is the size of the new build.
	DownloadBytes int64
}

// ScriptUpgrade makes the next upgrade attempt (POST /upgrade) of a
// sandbox's API follow script: fail at a step with the server's error,
// take other durations, or install another version than the one asked
// for. id is a lifecycle sandbox id or a control plane sandbox name
// ("tenant/name" when the name exists in several tenants). The script
// applies to one attempt; later ones follow the defaults again.
func (s *Server) ScriptUpgrade(id string, script UpgradeScript) error {
	switch script.FailAt {
	case "", "starting", "download", "validate", "replace":
	default:
		return invalidf("mockserver: ScriptUpgrade: FailAt %q is not one of starting, download, validate, replace", script.FailAt)
	}
	if script.Delay < 0 || script.StepDuration < 0 || script.DownloadDuration < 0 || script.RestartDuration < 0 || script.DownloadBytes < 0 {
		return invalidf("mockserver: ScriptUpgrade: durations and sizes must not be negative")
	}
	if s.proxy != nil {
		return ErrProxyMode
	}
	s.world.RLock()
	defer s.world.RUnlock()
	g, err := s.guestByID(id)
	if err != nil {
		return err
	}
	g.ScriptUpgrade(guest.UpgradeScript{
		FailAt:           script.FailAt,
		Error:            script.Error,
		Version:          script.Version,
		Delay:            script.Delay,
		StepDuration:     script.StepDuration,
		DownloadDuration: script.DownloadDuration,
		RestartDuration:  script.RestartDuration,
		DownloadBytes:    script.DownloadBytes,
	})
	return nil
}

// guestByName returns the sandbox API simulator of the control plane
// sandbox called name ("tenant/name", or a name unique across tenants),
// creating it if needed, without counting this as a use of the sandbox.
func (st *cpStore) guestByName(name string) (guestAPI, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var found *cpSandbox
	tenant, n, qualified := strings.Cut(name, "/")
	for tname, t := range st.tenants {
		key := name
		if qualified {
			if tname != tenant {
				continue
			}
			key = n
		}
		if sb := t.byName[key]; sb != nil {
			if found != nil {
				return nil, fmt.Errorf("mockserver: sandbox name %q exists in several tenants; use \"tenant/name\"", name)
			}
			found = sb
		}
	}
	if found == nil {
		return nil, fmt.Errorf("mockserver: no sandbox %q", name)
	}
	if found.guest == nil {
		found.guest = st.srv.newGuest(found.env())
		found.guest.SetState(cpGuestState(found.status))
	}
	return found.guest, nil
}
