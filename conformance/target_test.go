package conformance

import (
	"net/http"
	"os"
	"testing"
	"time"
)

// Environment variables naming the real servers (printed by
// ../shared/real/up).
const (
	envLifecycleURL    = "OPENSANDBOX_REAL_URL"
	envLifecycleKey    = "OPENSANDBOX_REAL_API_KEY"
	envLifecycleImage  = "OPENSANDBOX_REAL_IMAGE"
	envSandboxAPIURL   = "SANDBOX_API_REAL_URL"
	envSandboxAPIWork  = "SANDBOX_API_REAL_WORKDIR"
	realSkipHowToStart = `eval "$(../shared/real/up all)"`
)

// scenarioTimeout bounds one scenario on any target. Real servers are
// slower than the mock (a create takes 1.5–4 s there), never this slow.
const scenarioTimeout = 2 * time.Minute

// realHTTPClient returns a client with a transport of the test's own, so
// its idle connections are closed when the test ends and goroutine-leak
// checks stay quiet.
func realHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// getenv returns the variable's value, or "" when unset.
func getenv(name string) string { return os.Getenv(name) }
