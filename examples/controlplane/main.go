// Command controlplane manages a sandbox through the control plane: it
// gets-or-creates it by name and waits until it is deployed, sets its
// expiration policies (refusing, unless asked, changes that would end it
// sooner), extends its life, and deletes it.
//
// With no configuration it runs against the embedded mock server:
//
//	go run ./examples/controlplane
//
// Against the real control plane set BL_API_URL
// (https://api.blaxel.ai/v0), BL_API_KEY and BL_WORKSPACE.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
)

const name = "sandboxkit-demo"

func main() {
	env := demo.Start("controlplane", client.ControlPlane)
	ctx, cancel := env.Context(3 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	// A control plane client. Without options it reads BL_API_KEY,
	// BL_WORKSPACE and BL_API_URL.
	cp, err := controlplane.New(env.Options(client.ControlPlane)...)
	if err != nil {
		return err
	}

	// 1. Get-or-create by name. EnsureSandbox creates the sandbox if it
	// is missing (or was deleted), waits out a deployment in progress,
	// and returns once it is DEPLOYED; concurrent calls end up with one
	// sandbox.
	if _, err := cp.Get(ctx, name, nil); errors.Is(err, client.ErrNotFound) {
		env.Logf("1. no sandbox %q yet (404); EnsureSandbox creates it and waits until it is deployed", name)
	} else {
		env.Logf("1. sandbox %q exists; EnsureSandbox waits until it is deployed", name)
	}
	start := env.Now()
	want := &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name, Labels: map[string]string{"example": "controlplane"}},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{
			Image:  "blaxel/base-image:latest",
			Memory: 2048,
			Ports:  []controlplane.Port{{Name: "sandbox-api", Target: 8080, Protocol: "HTTP"}},
			TTL:    "24h", // deleted 24 hours after creation at the latest
		}},
	}
	sb, err := cp.EnsureSandbox(ctx, want, nil)
	if err != nil {
		return fmt.Errorf("ensure: %w", err)
	}
	defer func() { // delete it even if a later step fails
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = cp.DeleteAndWait(cctx, name, nil)
	}()
	env.Logf("   %s is %s after %s", name, sb.Status, env.Since(start))
	for _, ev := range sb.Events {
		env.Logf("   event: %s %s %s", ev.Time.Local().Format("15:04:05"), ev.Type, ev.Status)
	}
	env.Logf("   sandbox API at %s", sb.Metadata.URL)
	again, err := cp.EnsureSandbox(ctx, want, nil)
	if err != nil {
		return err
	}
	env.Logf("   calling EnsureSandbox again returns the same sandbox (created %s), nothing new",
		again.Metadata.CreatedAt.Local().Format("15:04:05"))
	env.Logf("   lifetime: %s", lifetime(again))

	// 2. Expiration policies. Adding an idle limit can end the sandbox
	// sooner than its 24h maximum age, so it is refused unless asked
	// for: nothing is written.
	idle := []controlplane.ExpirationPolicy{controlplane.TTLIdle(30 * time.Minute), controlplane.TTLMaxAge(24 * time.Hour)}
	_, err = cp.SetExpirationPolicies(ctx, name, idle, nil)
	if !errors.Is(err, controlplane.ErrShortensLifetime) {
		return fmt.Errorf("SetExpirationPolicies without AllowShorten: got %v, want ErrShortensLifetime", err)
	}
	env.Logf("2. adding a 30m idle policy without AllowShorten is refused, errors.Is(err, ErrShortensLifetime):")
	env.Logf("   %v", err)
	sb, err = cp.SetExpirationPolicies(ctx, name, idle, &controlplane.LifetimeOptions{AllowShorten: true})
	if err != nil {
		return fmt.Errorf("set policies: %w", err)
	}
	env.Logf("   with AllowShorten: %s", lifetime(sb))

	// 3. Extend: make sure it lives at least 48 more hours. Only the
	// limits that would end it sooner move, and only outwards; ages count
	// from the creation, rounded up to whole minutes.
	sb, err = cp.ExtendTTL(ctx, name, 48*time.Hour, nil)
	if err != nil {
		return fmt.Errorf("extend: %w", err)
	}
	env.Logf("3. ExtendTTL(48h): %s", lifetime(sb))

	// 4. Delete and wait until it is TERMINATED or gone.
	env.Logf("4. deleting")
	start = env.Now()
	sb, err = cp.DeleteAndWait(ctx, name, nil)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	status := "gone (404)"
	if sb != nil {
		status = sb.Status.String()
	}
	env.Logf("   %s is %s after %s", name, status, env.Since(start))
	return nil
}

// lifetime describes a sandbox's lifetime settings.
func lifetime(sb *controlplane.Sandbox) string {
	var parts []string
	if rt := sb.Spec.Runtime; rt != nil && rt.TTL != "" {
		parts = append(parts, "runtime.ttl "+rt.TTL)
	}
	if lc := sb.Spec.Lifecycle; lc != nil {
		for _, p := range lc.ExpirationPolicies {
			parts = append(parts, fmt.Sprintf("%s %s", p.Type, p.Value))
		}
	}
	if sb.ExpiresIn != nil {
		parts = append(parts, "expires in "+sb.ExpiresIn.Round(time.Minute).String())
	}
	return strings.Join(parts, ", ")
}
