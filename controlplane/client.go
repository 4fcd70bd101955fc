package controlplane

import (
	"context"

	"github.com/ogen-go/ogen/ogenerrors"
	"golang.org/x/sync/singleflight"

	"github.com/sandboxkit/sandboxkit/client"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
)

// Client talks to the control plane's sandboxes resource. It is safe for
// concurrent use. Make one with [New].
type Client struct {
	cfg *client.Config
	api *api.Client

	// ensure deduplicates concurrent EnsureSandbox calls by name.
	ensure singleflight.Group
}

// New returns a control plane client. Settings no option gives are read
// from the environment: the token from BL_API_KEY ([client.EnvToken]),
// the workspace from BL_WORKSPACE ([client.EnvWorkspace]) and the base URL
// from BL_API_URL ([client.EnvControlPlaneBaseURL]); the default base URL
// is [client.DefaultControlPlaneBaseURL]. Pass [client.WithoutEnvironment]
// to use options only. Options are checked here: a bad one makes New fail
// with an error matching [client.ErrInvalidInput].
func New(opts ...client.Option) (*Client, error) {
	cfg, err := client.NewConfig(client.ControlPlane, opts...)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig returns a client that uses a resolved control plane
// configuration, e.g. one shared with other code.
func NewFromConfig(cfg *client.Config) (*Client, error) {
	if cfg == nil {
		return nil, invalid("config", "", "must not be nil")
	}
	if cfg.API() != client.ControlPlane {
		return nil, invalid("config", cfg.API().String(), "is not a control plane configuration")
	}
	ac, err := api.NewClient(cfg.BaseURL().String(), noSecurity{},
		api.WithClient(cfg.HTTPClient()),
		api.WithTracerProvider(cfg.TracerProvider()),
		api.WithMeterProvider(cfg.MeterProvider()),
	)
	if err != nil {
		return nil, client.Wrap(context.Background(), "controlplane.New", err)
	}
	return &Client{cfg: cfg, api: ac}, nil
}

// Config returns the client's resolved configuration (base URL, whether a
// token is set, workspace, retry policy...). It never reveals the token.
func (c *Client) Config() *client.Config { return c.cfg }

// noSecurity lets the transport add the credentials: the generated client
// never sees them.
type noSecurity struct{}

func (noSecurity) BearerAuth(context.Context, api.OperationName) (api.BearerAuth, error) {
	return api.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}
