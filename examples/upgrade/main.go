// Command upgrade upgrades the API server inside a sandbox and follows
// the upgrade step by step until the restarted server is confirmed; then
// it shows how a failed upgrade surfaces: as a *sandbox.UpgradeError
// naming the step and the server's reason.
//
// The sandbox comes from the control plane. With no configuration the
// example runs against the embedded mock server, where the failure is
// scripted (mockserver.Server.ScriptUpgrade); against a standalone
// sandboxmock (BL_API_URL and SANDBOXMOCK_URL set, see package demo) it
// is scripted through the mock's control API. Against the real control
// plane set BL_API_URL (https://api.blaxel.ai/v0), BL_API_KEY and
// BL_WORKSPACE; the failure then comes from asking for a release that does
// not exist.
//
//	go run ./examples/upgrade
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// name is the control plane sandbox the example upgrades.
const name = "sandboxkit-upgrade-demo"

// missingRelease is a version no release page has.
const missingRelease = "v0.0.0-sandboxkit-missing"

func main() {
	env := demo.Start("upgrade", sandboxkit.ControlPlane)
	ctx, cancel := env.Context(3 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	cp, err := controlplane.New(env.Options(sandboxkit.ControlPlane)...)
	if err != nil {
		return err
	}

	// A sandbox to upgrade: EnsureSandbox creates it if needed and returns
	// once it is DEPLOYED. A one-hour idle policy cleans up after a crash.
	env.Logf("ensuring sandbox %s", name)
	sb, err := cp.EnsureSandbox(ctx, &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name, Labels: map[string]string{"example": "upgrade"}},
		Spec: controlplane.Spec{
			Runtime:   &controlplane.Runtime{Image: "blaxel/base-image:latest", Memory: 2048},
			Lifecycle: &controlplane.Lifecycle{ExpirationPolicies: []controlplane.ExpirationPolicy{controlplane.TTLIdle(time.Hour)}},
		},
	}, nil)
	if err != nil {
		return fmt.Errorf("ensure: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := cp.DeleteAndWait(cctx, name, nil); err == nil {
			env.Logf("deleted sandbox %s", name)
		}
	}()

	// The sandbox API of that sandbox, at its metadata.url, with the
	// control plane's credentials.
	api, err := cp.SandboxClient(sb)
	if err != nil {
		return err
	}
	before, err := sandbox.NewHealthWaiter(api, nil).Wait(ctx)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	env.Logf("sandbox %s is %s; its API runs %s (started %s, %d upgrades so far)",
		name, sb.Status, before.Version, before.StartedAt.Local().Format("15:04:05"), before.UpgradeCount)

	// 1. Upgrade to the server's default release and follow it. The
	// server answers at once and works in the background: download,
	// validate, replace, then it re-executes itself, refusing
	// connections for a moment. Upgrade reports each step it sees and
	// returns once the restarted server is confirmed.
	env.Logf("1. upgrading to the latest release")
	res, err := api.Upgrade(ctx, &sandbox.UpgradeOptions{
		Wait:       &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		OnProgress: progress(env),
	})
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	env.Logf("   upgraded: %s → %s, restarted at %s, upgrade #%d",
		res.Before.Version, res.After.Version, res.After.StartedAt.Local().Format("15:04:05"), res.After.UpgradeCount)

	// 2. An upgrade that fails. The real server fails the download of a
	// release that does not exist; the mock is told to do the same.
	env.Logf("2. upgrading to %s, which does not exist", missingRelease)
	if env.Mock != nil {
		if err := env.Mock.ScriptUpgrade(ctx, name, mockserver.UpgradeScript{FailAt: "download"}); err != nil {
			return err
		}
	}
	_, err = api.Upgrade(ctx, &sandbox.UpgradeOptions{
		Version:    missingRelease,
		Wait:       &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		OnProgress: progress(env),
	})
	var ue *sandbox.UpgradeError
	if !errors.As(err, &ue) {
		return fmt.Errorf("upgrade to %s: got %v, want a *sandbox.UpgradeError", missingRelease, err)
	}
	env.Logf("   failed as expected: *sandbox.UpgradeError{Step: %q, Version: %q}", ue.Step, ue.Version)
	env.Logf("   server's reason: %s", ue.Message)
	env.Logf("   error text: %v", err)

	// The failed attempt left the running server alone.
	after, err := api.Health(ctx)
	if err != nil {
		return err
	}
	env.Logf("   still running %s, upgrade #%d; lastUpgrade is %s/%s",
		after.Version, after.UpgradeCount, after.LastUpgrade.State, after.LastUpgrade.Step)
	return nil
}

// progress logs the steps of an upgrade and the download's growth.
func progress(env *demo.Env) func(sandbox.UpgradeProgress) {
	return func(p sandbox.UpgradeProgress) {
		if p.Step == sandbox.StepDownload && p.BytesDownloaded > 0 {
			env.Logf("   step %-10s %5.1f MB", p.Step, float64(p.BytesDownloaded)/1e6)
			return
		}
		env.Logf("   step %s", p.Step)
	}
}
