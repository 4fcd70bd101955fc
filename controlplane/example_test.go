package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// newExampleClient starts an in-process mock of the control plane and
// returns a client of it. Against the real service, use
// controlplane.New() with BL_API_KEY and BL_WORKSPACE set, or
// sandboxkit.WithToken and sandboxkit.WithWorkspace.
func newExampleClient() (*controlplane.Client, func()) {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	c, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
	if err != nil {
		log.Fatal(err)
	}
	return c, srv.Close
}

// Create a sandbox, wait until it is deployed, run a command in it and
// delete it.
func ExampleClient_CreateAndWait() {
	c, stop := newExampleClient()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb, err := c.CreateAndWait(ctx, &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: "my-agent"},
		Spec: controlplane.Spec{
			Region: "us-pdx-1",
			Runtime: &controlplane.Runtime{
				Image:  "blaxel/base-image:latest",
				Memory: 4096,
				Ports:  []controlplane.Port{{Name: "http", Target: 8080, Protocol: "HTTP"}},
				TTL:    "24h",
			},
			Lifecycle: &controlplane.Lifecycle{ExpirationPolicies: []controlplane.ExpirationPolicy{
				controlplane.TTLIdle(time.Hour),
			}},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Metadata.Name, sb.Status)

	// The sandbox API of this sandbox, with the same credentials.
	sc, err := c.SandboxClient(sb)
	if err != nil {
		log.Fatal(err)
	}
	res, err := sc.Run(ctx, "echo hello", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Stdout)

	// The service keeps a deleted sandbox as TERMINATED for a while;
	// DeleteAndWait returns nil if it is already gone.
	sb, err = c.DeleteAndWait(ctx, "my-agent", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Metadata.Name, sb.Status)
	// Output:
	// my-agent DEPLOYED
	// hello
	// my-agent TERMINATED
}

// Wait for a sandbox to deploy, watching its status change, then for its
// deletion: TERMINATED, or gone once the service forgets it.
func ExampleWaiter_Wait() {
	c, stop := newExampleClient()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := c.Create(ctx, &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: "watched"},
		Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
	}, nil); err != nil {
		log.Fatal(err)
	}
	w := controlplane.NewWaiter(c, &sandboxkit.WaitOptions{
		OnTransition: func(tr sandboxkit.Transition) { fmt.Printf("%s %s: %q -> %q\n", tr.Kind, tr.ID, tr.From, tr.To) },
	})
	sb, err := w.Wait(ctx, "watched", controlplane.StatusDeployed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Status)

	// Waiting for DEPLOYED is pointless once the sandbox is being
	// deleted: a StateError says so at once.
	if _, err := c.Delete(ctx, "watched"); err != nil {
		log.Fatal(err)
	}
	_, err = controlplane.NewWaiter(c, nil).Wait(ctx, "watched", controlplane.StatusDeployed)
	fmt.Println(errors.Is(err, sandboxkit.ErrUnexpectedState))

	sb, err = controlplane.NewWaiter(c, nil).Wait(ctx, "watched", controlplane.StatusTerminated, controlplane.StatusGone)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Status)
	// Output:
	// sandbox watched: "" -> "DEPLOYING"
	// sandbox watched: "DEPLOYING" -> "DEPLOYED"
	// DEPLOYED
	// true
	// TERMINATED
}

// EnsureSandbox gets a sandbox by name, creating it if needed; calling it
// again (even concurrently) returns the same sandbox.
func ExampleClient_EnsureSandbox() {
	c, stop := newExampleClient()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	want := &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: "workspace-42"},
		Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
	}
	for range 2 {
		sb, err := c.EnsureSandbox(ctx, want, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(sb.Metadata.Name, sb.Status)
	}
	list, err := c.List(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(list.Items), "sandbox")
	// Output:
	// workspace-42 DEPLOYED
	// workspace-42 DEPLOYED
	// 1 sandbox
}

// ExtendTTL makes a sandbox live at least a given time more, pushing out
// only the limits that would end it sooner.
func ExampleClient_ExtendTTL() {
	c, stop := newExampleClient()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := c.CreateAndWait(ctx, &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: "short-lived"},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{
			Image: "blaxel/base-image:latest",
			TTL:   "30m",
		}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	sb, err := c.ExtendTTL(ctx, "short-lived", 2*time.Hour, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("lives 2h more:", *sb.ExpiresIn >= 2*time.Hour)

	// Shortening needs to be asked for.
	_, err = c.SetTTL(ctx, "short-lived", time.Hour, nil)
	fmt.Println(errors.Is(err, controlplane.ErrShortensLifetime))
	sb, err = c.SetTTL(ctx, "short-lived", time.Hour, &controlplane.LifetimeOptions{AllowShorten: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Spec.Runtime.TTL)
	// Output:
	// lives 2h more: true
	// true
	// 1h
}

func ExampleParseDuration() {
	for _, s := range []string{"30m", "90s", "7d", "2w", "1h30m", "24 hours"} {
		d, err := controlplane.ParseDuration(s)
		if err != nil {
			fmt.Println(s, "is not a control plane duration")
			continue
		}
		f, _ := controlplane.FormatDuration(d)
		fmt.Println(s, "=", d, "=", f)
	}
	// Output:
	// 30m = 30m0s = 30m
	// 90s = 1m30s = 90s
	// 7d = 168h0m0s = 1w
	// 2w = 336h0m0s = 2w
	// 1h30m is not a control plane duration
	// 24 hours is not a control plane duration
}

// New reads BL_API_KEY, BL_WORKSPACE and BL_API_URL unless options say
// otherwise; the configuration never shows the token.
func ExampleNew() {
	c, err := controlplane.New(
		sandboxkit.WithoutEnvironment(), // options only, for a reproducible example
		sandboxkit.WithToken("bl-secret"),
		sandboxkit.WithWorkspace("research"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Config())
	// Output: sandboxkit.Config{api: controlplane, baseURL: https://api.blaxel.ai/v0, credential: [REDACTED], workspace: "research", maxRetries: 4}
}

// SetExpirationPolicies replaces a sandbox's policies; a change that could
// delete it sooner must be asked for with AllowShorten.
func ExampleClient_SetExpirationPolicies() {
	c, stop := newExampleClient()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreateAndWait(ctx, &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: "ci-runner"},
		Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
	}, nil); err != nil {
		log.Fatal(err)
	}

	policies := []controlplane.ExpirationPolicy{
		controlplane.TTLIdle(30 * time.Minute),
		controlplane.TTLMaxAge(7 * 24 * time.Hour),
	}
	// It had no limit: adding some is what the call is for.
	sb, err := c.SetExpirationPolicies(ctx, "ci-runner", policies, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
		fmt.Println(p.Type, p.Value, p.Action)
	}
	fmt.Println("expires in", sb.ExpiresIn.Round(time.Minute))

	// Tightening a limit it has needs to be asked for.
	_, err = c.SetExpirationPolicies(ctx, "ci-runner", []controlplane.ExpirationPolicy{controlplane.TTLIdle(10 * time.Minute)}, nil)
	fmt.Println(errors.Is(err, controlplane.ErrShortensLifetime))
	// Output:
	// ttl-idle 30m delete
	// ttl-max-age 1w delete
	// expires in 30m0s
	// true
}
