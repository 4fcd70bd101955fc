package conformance

import (
	"testing"

	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// noRealControlPlane is the skip message of every control-plane scenario
// on a real target: there is no real control plane on these machines;
// the published spec and the wire facts in testdata stand in for it.
const noRealControlPlane = "no real control plane (/v0) runs here; the mock follows the published spec"

// controlplaneTarget is one control plane a scenario runs against.
type controlplaneTarget struct {
	// name is the subtest name.
	name string
	// cp is a client for it.
	cp *controlplane.Client
	// mock is the mock server.
	mock *mockserver.Server
}

// forEachControlPlane runs scenario against the mock, and names the real
// control plane as skipped when the real servers are set up.
func forEachControlPlane(t *testing.T, scenario func(t *testing.T, tg *controlplaneTarget)) {
	t.Helper()
	t.Parallel()
	srv := mockserver.Start(t)
	cp, err := srv.ControlPlane()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("mock", func(t *testing.T) {
		t.Parallel()
		scenario(t, &controlplaneTarget{name: "mock", cp: cp, mock: srv})
	})
	if getenv(envLifecycleURL) != "" || getenv(envSandboxAPIURL) != "" {
		t.Run("real", func(t *testing.T) { t.Skip(noRealControlPlane) })
	}
}
