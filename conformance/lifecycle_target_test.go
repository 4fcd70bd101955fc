package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// lifecycleTarget is one lifecycle server a scenario runs against.
type lifecycleTarget struct {
	// name is the subtest name: "mock" or "real".
	name string
	// real is true for the real OpenSandbox server.
	real bool
	// lc is a client for it.
	lc *lifecycle.Client
	// mock is the mock server; nil on a real target.
	mock *mockserver.Server
	// image is an image the target can run.
	image string
}

// lifecycleTargets returns the lifecycle targets of this run: the mock
// always, the real server when $OPENSANDBOX_REAL_URL is set.
func lifecycleTargets(t *testing.T) []func(t *testing.T) *lifecycleTarget {
	t.Helper()
	targets := []func(t *testing.T) *lifecycleTarget{mockLifecycle}
	if getenv(envLifecycleURL) != "" {
		targets = append(targets, realLifecycle)
	}
	return targets
}

func mockLifecycle(t *testing.T) *lifecycleTarget {
	t.Helper()
	srv := mockserver.Start(t)
	lc, err := srv.Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	return &lifecycleTarget{name: "mock", lc: lc, mock: srv, image: "python:3.12"}
}

func realLifecycle(t *testing.T) *lifecycleTarget {
	t.Helper()
	lc, err := lifecycle.New(client.WithoutEnvironment(),
		client.WithBaseURL(getenv(envLifecycleURL)),
		client.WithAPIKey(getenv(envLifecycleKey)),
		client.WithHTTPClient(realHTTPClient(t)))
	if err != nil {
		t.Fatal(err)
	}
	image := getenv(envLifecycleImage)
	if image == "" {
		image = "sbx-local/busybox:latest"
	}
	return &lifecycleTarget{name: "real", real: true, lc: lc, image: image}
}

// forEachLifecycle runs scenario once per lifecycle target, each in a
// parallel subtest named after the target.
func forEachLifecycle(t *testing.T, scenario func(t *testing.T, tg *lifecycleTarget)) {
	t.Helper()
	t.Parallel()
	for _, mk := range lifecycleTargets(t) {
		tg := mk(t)
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			scenario(t, tg)
		})
	}
}

// request returns a create request every target accepts: the target's
// image, a long-running entrypoint, resource limits and a ten-minute
// lifetime, labelled with the test's name.
func (tg *lifecycleTarget) request(t *testing.T) *lifecycle.CreateRequest {
	t.Helper()
	return &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: tg.image},
		Entrypoint:     []string{"sleep", "3600"},
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"},
		Timeout:        10 * time.Minute,
		Metadata:       map[string]string{"conformance": "true"},
	}
}

// create makes a sandbox from req and deletes it when the test ends.
func (tg *lifecycleTarget) create(t *testing.T, req *lifecycle.CreateRequest) *lifecycle.Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	defer cancel()
	sb, err := tg.lc.CreateAndWait(ctx, req, nil)
	if err != nil {
		t.Fatalf("CreateAndWait: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = tg.lc.Delete(ctx, sb.ID)
	})
	return sb
}
