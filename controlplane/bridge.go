package controlplane

import (
	"context"
	"fmt"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// SandboxClient returns a client for the sandbox API of sb, at
// sb.Metadata.URL, with this client's token, workspace, credential
// headers, HTTP client, retry policy, timeouts, logger, headers and
// telemetry; opts are applied on top (see [sandboxkit.Config.ForSandbox]).
//
// The control plane's token goes only where [sandboxkit.Config.ForSandbox]
// allows, checked before anything is sent: the control plane's own origin
// (the mock server serves sandboxes there); a loopback address only when
// the control plane itself is on loopback; for the hosted service
// (api.blaxel.ai), https hosts under bl.run and blaxel.ai; https hosts
// named with [sandboxkit.WithSandboxHosts] (on [New] or in opts); names under
// .test, .invalid and .localhost. Plain http is refused except on
// loopback or the control plane's origin (unless
// [sandboxkit.WithInsecureHTTP]), and link-local addresses such as
// 169.254.169.254 always. A URL outside these gives an error matching
// [sandboxkit.ErrInvalidInput]; a sandbox without a URL yet (wait until it is
// DEPLOYED) gives [ErrNoURL].
func (c *Client) SandboxClient(sb *Sandbox, opts ...sandboxkit.Option) (*sandbox.Client, error) {
	const op = "controlplane.SandboxClient"
	ctx := context.Background()
	if sb == nil {
		return nil, glue.Wrap(ctx, op, invalid("sandbox", "", "must not be nil"))
	}
	if sb.Metadata.URL == "" {
		return nil, glue.Wrap(ctx, op, fmt.Errorf("%w: %q", ErrNoURL, sb.Metadata.Name))
	}
	cfg, err := c.cfg.ForSandbox(sb.Metadata.URL, opts...)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	sc, err := sandbox.NewFromConfig(cfg)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return sc, nil
}
