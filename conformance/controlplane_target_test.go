package conformance

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
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

// fastWait polls every few (fake) milliseconds.
var fastWait = &sandboxkit.WaitOptions{MinDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}

// forEachControlPlane runs scenario against the mock, and names the real
// control plane as skipped when the real servers are set up. On the mock
// the scenario runs in a testing/synctest bubble: the mock's clock is the
// bubble's, so transitions, expiries, retention and schedules happen
// when the scenario waits (tg.pass), without real time passing.
func forEachControlPlane(t *testing.T, scenario func(t *testing.T, tg *controlplaneTarget)) {
	t.Helper()
	t.Parallel()
	t.Run("mock", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t)
			cp, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
			if err != nil {
				t.Fatal(err)
			}
			scenario(t, &controlplaneTarget{name: "mock", cp: cp, mock: srv})
		})
	})
	if getenv(envLifecycleURL) != "" || getenv(envSandboxAPIURL) != "" {
		t.Run("real", func(t *testing.T) { t.Skip(noRealControlPlane) })
	}
}

// ctx is the scenario's context. It is bounded by two days of the
// target's clock: scenarios let hours pass on the mock's fake clock.
func (tg *controlplaneTarget) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 48*time.Hour)
	t.Cleanup(cancel)
	return ctx
}

// pass lets d pass on the target's clock.
func (tg *controlplaneTarget) pass(d time.Duration) { time.Sleep(d) }

// sandbox returns a definition every target accepts.
func (tg *controlplaneTarget) sandbox(name string) *controlplane.Sandbox {
	return &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name, Labels: map[string]string{"suite": "conformance"}},
		Spec: controlplane.Spec{
			Region: "us-pdx-1",
			Runtime: &controlplane.Runtime{
				Image:  "blaxel/base-image:latest",
				Memory: 2048,
				Ports:  []controlplane.Port{{Name: "sandbox-api", Target: 8080, Protocol: controlplane.ProtocolHTTP}},
			},
		},
	}
}

// deployed creates sb, waits until it is DEPLOYED and deletes it when the
// scenario ends.
func (tg *controlplaneTarget) deployed(t *testing.T, sb *controlplane.Sandbox) *controlplane.Sandbox {
	t.Helper()
	got, err := tg.cp.CreateAndWait(tg.ctx(t), sb, fastWait)
	if err != nil {
		t.Fatalf("CreateAndWait(%s): %v", sb.Metadata.Name, err)
	}
	t.Cleanup(func() { _, _ = tg.cp.Delete(context.Background(), sb.Metadata.Name) })
	return got
}

// httpClient is a plain client that reaches the target's URLs (previews).
func (tg *controlplaneTarget) httpClient() *http.Client { return tg.mock.HTTPClient() }
