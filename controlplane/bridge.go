package controlplane

import (
	"context"
	"fmt"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// SandboxClient returns a client for the sandbox API of sb, at
// sb.Metadata.URL, with this client's token, workspace, HTTP client,
// retry policy, logger, headers and telemetry; opts are applied on top
// (see [client.Config.ForSandbox]). A sandbox without a URL yet (wait
// until it is DEPLOYED) gives [ErrNoURL]. When the control plane is
// reached over https, the sandbox URL must be https too (or a loopback
// address), so the token never travels in clear text.
func (c *Client) SandboxClient(sb *Sandbox, opts ...client.Option) (*sandbox.Client, error) {
	const op = "controlplane.SandboxClient"
	ctx := context.Background()
	if sb == nil {
		return nil, client.Wrap(ctx, op, invalid("sandbox", "", "must not be nil"))
	}
	if sb.Metadata.URL == "" {
		return nil, client.Wrap(ctx, op, fmt.Errorf("%w: %q", ErrNoURL, sb.Metadata.Name))
	}
	cfg, err := c.cfg.ForSandbox(sb.Metadata.URL, opts...)
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	sc, err := sandbox.NewFromConfig(cfg)
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return sc, nil
}
