// Command controlplane manages a sandbox through the control plane: it
// gets-or-creates it by name (and by the caller's own external id) and
// waits until it is deployed, sets its expiration policies (refusing,
// unless asked, to tighten a limit it has), extends its life, finds it in
// a paged, filtered list, reaches its sandbox API through a private
// preview URL with a token, and deletes it.
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
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
)

const name = "sandboxkit-demo"

func main() {
	env := demo.Start("controlplane", sandboxkit.ControlPlane)
	ctx, cancel := env.Context(3 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	// A control plane client. Without options it reads BL_API_KEY,
	// BL_WORKSPACE and BL_API_URL.
	cp, err := controlplane.New(env.Options(sandboxkit.ControlPlane)...)
	if err != nil {
		return err
	}

	// 1. Get-or-create by name. EnsureSandbox creates the sandbox if it
	// is missing (or was deleted), waits out a deployment in progress,
	// and returns once it is DEPLOYED; concurrent calls, and a create
	// whose answer is lost, end up with one sandbox. The external id is
	// the caller's own key for it.
	if _, err := cp.Get(ctx, name, nil); errors.Is(err, sandboxkit.ErrNotFound) {
		env.Logf("1. no sandbox %q yet (404); EnsureSandbox creates it and waits until it is deployed", name)
	} else {
		env.Logf("1. sandbox %q exists; EnsureSandbox waits until it is deployed", name)
	}
	start := env.Now()
	want := &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name, ExternalID: "demo-session-1", Labels: map[string]string{"example": "controlplane"}},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{
			Image:  "blaxel/base-image:latest",
			Memory: 2048, // one CPU per 2048 MB
			Ports:  []controlplane.Port{{Name: "sandbox-api", Target: 8080, Protocol: controlplane.ProtocolHTTP}},
			TTL:    "24h", // deleted 24 hours after creation at the latest
		}},
	}
	progress := &sandboxkit.WaitOptions{OnTransition: func(tr sandboxkit.Transition) {
		env.Logf("   status %s -> %s", cmpOr(tr.From, "(first look)"), tr.To)
	}}
	sb, err := cp.EnsureSandbox(ctx, want, &controlplane.EnsureOptions{Wait: progress})
	if err != nil {
		return fmt.Errorf("ensure: %w", err)
	}
	defer func() { // delete it even if a later step fails
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = cp.DeleteAndWait(cctx, name, nil)
	}()
	env.Logf("   %s is %s after %s; sandbox API at %s", name, sb.Status, env.Since(start), sb.Metadata.URL)
	again, err := cp.GetByExternalID(ctx, "demo-session-1")
	if err != nil {
		return err
	}
	env.Logf("   found again by its external id: %s, lifetime %s", again.Metadata.Name, lifetime(again))

	// 2. Expiration policies. Adding a kind of limit the sandbox did not
	// have (an idle time) is what the call is for; tightening one it has
	// (a lower maximum age) is refused unless asked for.
	policies := []controlplane.ExpirationPolicy{controlplane.TTLIdle(30 * time.Minute), controlplane.TTLMaxAge(24 * time.Hour)}
	sb, err = cp.SetExpirationPolicies(ctx, name, policies, nil)
	if err != nil {
		return fmt.Errorf("set policies: %w", err)
	}
	env.Logf("2. policies set: %s", lifetime(sb))
	_, err = cp.SetTTL(ctx, name, time.Hour, nil)
	if !errors.Is(err, controlplane.ErrShortensLifetime) {
		return fmt.Errorf("SetTTL(1h) without AllowShorten: got %v, want ErrShortensLifetime", err)
	}
	env.Logf("   SetTTL(1h) without AllowShorten is refused: %v", err)

	// 3. Extend: no fixed deadline comes sooner than 48 hours from now.
	// Maximum ages count from the creation; the idle rule stays as it is.
	sb, err = cp.ExtendTTL(ctx, name, 48*time.Hour, nil)
	if err != nil {
		return fmt.Errorf("extend: %w", err)
	}
	env.Logf("3. ExtendTTL(48h): %s", lifetime(sb))

	// 4. Lists come in pages; All follows the cursors.
	n := 0
	for sb, err := range cp.All(ctx, &controlplane.ListOptions{Query: "controlplane", Limit: 10}) {
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		n++
		env.Logf("4. listed %s (%s)", sb.Metadata.Name, sb.Status)
	}
	env.Logf("   %d sandbox(es) labelled controlplane", n)

	// 5. A private preview of the sandbox API's port, reached with a
	// token. The token goes only to the preview's own URL.
	p, err := cp.CreatePreview(ctx, name, &controlplane.Preview{
		Metadata: controlplane.PreviewMetadata{Name: "api"},
		Spec:     controlplane.PreviewSpec{Port: 8080, TTL: "1h"},
	}, nil)
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	tok, err := cp.CreatePreviewToken(ctx, name, "api", time.Now().Add(time.Hour), nil)
	if err != nil {
		return fmt.Errorf("preview token: %w", err)
	}
	hc, err := cp.PreviewHTTPClient(p, tok, env.HTTPClient()) // the embedded mock has no socket
	if err != nil {
		return err
	}
	status, body, err := fetch(ctx, hc, p.Spec.URL+"/health")
	if err != nil {
		return fmt.Errorf("through the preview: %w", err)
	}
	env.Logf("5. GET %s/health through the preview (token %v): %d %s", p.Spec.URL, tok, status, body)

	// 6. Delete and wait until it is TERMINATED or gone.
	env.Logf("6. deleting")
	start = env.Now()
	sb, err = cp.DeleteAndWait(ctx, name, progress)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	gone := "gone (404)"
	if sb != nil {
		gone = sb.Status.String()
	}
	env.Logf("   %s is %s after %s", name, gone, env.Since(start))
	return nil
}

// fetch GETs url with hc and returns the status and the start of the body.
func fetch(ctx context.Context, hc *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 200))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
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

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
