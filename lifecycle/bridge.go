package lifecycle

import (
	"context"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// SandboxAPIPort is the port the sandbox API listens on inside a sandbox:
// the port whose endpoint [Client.SandboxClient] resolves.
const SandboxAPIPort = 8080

// SandboxClient returns a client for the sandbox API inside sandbox id:
// it resolves the endpoint of [SandboxAPIPort] ([Client.Endpoint], direct
// address) and returns a [sandbox.Client] whose base URL is that address,
// with this client's scheme.
//
// Credentials: the sandbox API gets the headers the endpoint names (a
// routing or signature header such as OpenSandbox-Secure-Access), as
// credential headers ([sandboxkit.WithCredentialHeader]: sent only to the
// endpoint's origin, redacted in errors and logs), and whatever opts give
// (a bearer token with [sandboxkit.WithToken], when a gateway in front of
// the sandbox wants one). It never gets the lifecycle API key: that key
// is for the lifecycle server only. The environment is not read unless
// opts ask for it ([sandboxkit.WithEnvCredentials]).
//
// The new client has this client's retry policy, timeouts, response size
// limit, logger and telemetry providers; opts are applied on top, except
// that they cannot change the base URL or the endpoint's headers. This
// client's HTTP client is not shared (its transport carries the API
// key): give [sandboxkit.WithHTTPClient] in opts for a custom transport
// (the mock server's in-memory one, a proxy). A plain http endpoint on a
// host that is not local needs [sandboxkit.WithInsecureHTTP] in opts once
// the endpoint names a header or opts give a token. Invalid options, or
// an endpoint header the SDK refuses, give an error matching
// [sandboxkit.ErrInvalidInput].
//
// GET /sandboxes/{sandboxId}/endpoints/{port}
func (c *Client) SandboxClient(ctx context.Context, id string, opts ...sandboxkit.Option) (*sandbox.Client, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, glue.Wrap(ctx, opSandboxClient, err)
	}
	ep, err := c.Endpoint(ctx, id, SandboxAPIPort, nil)
	if err != nil {
		return nil, err
	}
	all := make([]sandboxkit.Option, 0, 8+len(opts)+len(ep.Headers))
	// A sandbox API configuration reads the environment only when opts
	// ask for it (WithEnvCredentials), so nothing here turns it off.
	all = append(all, sandboxkit.WithRetry(c.cfg.RetryPolicy()),
		sandboxkit.WithLogger(c.cfg.Logger()))
	if c.cfg.Timeout() <= 0 || c.cfg.StreamIdleTimeout() <= 0 {
		all = append(all, sandboxkit.WithoutTimeouts())
	}
	if d := c.cfg.Timeout(); d > 0 {
		all = append(all, sandboxkit.WithTimeout(d))
	}
	if d := c.cfg.StreamIdleTimeout(); d > 0 {
		all = append(all, sandboxkit.WithStreamIdleTimeout(d))
	}
	if n := c.cfg.MaxResponseSize(); n > 0 {
		all = append(all, sandboxkit.WithMaxResponseSize(n))
	}
	if tp := c.cfg.TracerProvider(); tp != nil {
		all = append(all, sandboxkit.WithTracerProvider(tp))
	}
	if mp := c.cfg.MeterProvider(); mp != nil {
		all = append(all, sandboxkit.WithMeterProvider(mp))
	}
	all = append(all, opts...)
	all = append(all, sandboxkit.WithBaseURL(c.cfg.BaseURL().Scheme+"://"+ep.Address))
	for k, v := range ep.Headers {
		all = append(all, sandboxkit.WithCredentialHeader(k, v))
	}
	cfg, err := sandboxkit.NewConfig(sandboxkit.Sandbox, all...)
	if err != nil {
		return nil, glue.Wrap(ctx, opSandboxClient, err)
	}
	sc, err := sandbox.NewFromConfig(cfg)
	if err != nil {
		return nil, glue.Wrap(ctx, opSandboxClient, err)
	}
	return sc, nil
}
