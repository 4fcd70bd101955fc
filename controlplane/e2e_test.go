package controlplane_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

const e2eToken = "bl-e2e-token-5f2a9c"

// startMock starts a mock server with one tenant and returns a control
// plane client of it; opts are added to the server's.
func startMock(t *testing.T, opts ...mockserver.Option) (*mockserver.Server, *controlplane.Client) {
	t.Helper()
	srv := mockserver.Start(t, append([]mockserver.Option{mockserver.WithTenant(e2eToken, "acme")}, opts...)...)
	c, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane), sandboxkit.WithWorkspace("acme-ws"))...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// The whole life of a sandbox against the mock server: create and wait
// until deployed, run a command through the bridged sandbox client, extend
// its lifetime, delete and wait until deleted.
func TestEndToEndAgainstMockServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		ctx := t.Context()

		sb, err := c.CreateAndWait(ctx, &controlplane.Sandbox{
			Metadata: controlplane.Metadata{Name: "e2e-agent", Labels: map[string]string{"suite": "e2e"}},
			Spec: controlplane.Spec{
				Region:    "us-pdx-1",
				Runtime:   &controlplane.Runtime{Image: "blaxel/base-image:latest", Memory: 4096, TTL: "1h"},
				Lifecycle: &controlplane.Lifecycle{ExpirationPolicies: []controlplane.ExpirationPolicy{controlplane.TTLIdle(30 * time.Minute)}},
			},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != controlplane.StatusDeployed || sb.Metadata.URL == "" || sb.Metadata.Workspace != "acme-ws" {
			t.Fatalf("created: status %s, url %q, workspace %q", sb.Status, sb.Metadata.URL, sb.Metadata.Workspace)
		}
		if sb.ExpiresIn == nil || *sb.ExpiresIn > 30*time.Minute {
			t.Errorf("expiresIn = %v, want at most the 30 min idle time", sb.ExpiresIn)
		}

		// The sandbox API of the new sandbox, with the same token.
		sc, err := c.SandboxClient(sb)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sc.Run(ctx, "echo hello from e2e", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "hello from e2e" {
			t.Errorf("run: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
		}

		// Lifetime: the fixed limit (ttl 1h) reaches at least 3 more
		// hours; the idle rule stays what it was.
		sb, err = c.ExtendTTL(ctx, "e2e-agent", 3*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Created a moment ago: the ttl becomes 3 h plus that moment,
		// rounded up to the second.
		if d, err := controlplane.ParseDuration(sb.Spec.Runtime.TTL); err != nil || d < 3*time.Hour || d > 3*time.Hour+time.Minute {
			t.Errorf("after ExtendTTL: ttl %q, want 3h to 3h1m", sb.Spec.Runtime.TTL)
		}
		if v := sb.Spec.Lifecycle.ExpirationPolicies[0].Value; v != "30m" {
			t.Errorf("after ExtendTTL: the idle policy is %q, want 30m as before", v)
		}
		if sb.Spec.Runtime.Memory != 4096 || sb.Spec.Region != "us-pdx-1" || sb.Metadata.Labels["suite"] != "e2e" {
			t.Errorf("ExtendTTL lost settings: %+v", sb)
		}
		info, ok := srv.ControlPlaneSandbox("acme", "e2e-agent")
		if !ok || !info.ExpiresAt.Equal(info.LastUsedAt.Add(30*time.Minute)) {
			t.Errorf("the mock expires the sandbox at %v, want 30 min after its last use (%v)", info.ExpiresAt, info.LastUsedAt)
		}

		// Delete and wait; the mock keeps TERMINATED sandboxes a while.
		sb, err = c.DeleteAndWait(ctx, "e2e-agent", nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb != nil && sb.Status != controlplane.StatusTerminated {
			t.Errorf("deleted: %s", sb.Status)
		}
		if _, err := sc.Health(ctx); err == nil {
			t.Error("the sandbox API of a deleted sandbox still answers")
		}
	})
}

// EnsureSandbox against the mock: concurrent calls from two clients end
// with one sandbox, and a TERMINATED one is created again.
func TestEnsureSandboxAgainstMockServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c1 := startMock(t)
		c2, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
		if err != nil {
			t.Fatal(err)
		}
		want := &controlplane.Sandbox{
			Metadata: controlplane.Metadata{Name: "shared"},
			Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			c := c1
			if i%2 == 1 {
				c = c2
			}
			wg.Go(func() { _, errs[i] = c.EnsureSandbox(t.Context(), want, nil) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		list, err := c1.List(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].Status != controlplane.StatusDeployed {
			t.Fatalf("after racing EnsureSandbox: %d sandboxes", len(list.Items))
		}

		// Deleted and TERMINATED (still visible): EnsureSandbox waits for
		// the name to be free and creates it again.
		if _, err := c1.DeleteAndWait(t.Context(), "shared", nil); err != nil {
			t.Fatal(err)
		}
		sb, err := c2.EnsureSandbox(t.Context(), want, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != controlplane.StatusDeployed {
			t.Errorf("recreated: %s", sb.Status)
		}
	})
}
