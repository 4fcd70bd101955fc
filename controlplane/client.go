package controlplane

import (
	"context"

	"github.com/ogen-go/ogen/ogenerrors"
	"golang.org/x/sync/singleflight"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Client talks to the control plane's sandboxes resource. It is safe for
// concurrent use. Make one with [New].
type Client struct {
	cfg *sandboxkit.Config
	api *api.Client

	// ensure deduplicates concurrent EnsureSandbox calls by name.
	ensure singleflight.Group
}

// New returns a control plane client. Settings no option gives are read
// from the environment: the token from BL_API_KEY ([sandboxkit.EnvToken]),
// the workspace from BL_WORKSPACE ([sandboxkit.EnvWorkspace]) and the base URL
// from BL_API_URL ([sandboxkit.EnvControlPlaneBaseURL]); the default base URL
// is [sandboxkit.DefaultControlPlaneBaseURL]. Pass [sandboxkit.WithoutEnvironment]
// to use options only. Options are checked here: a bad one makes New fail
// with an error matching [sandboxkit.ErrInvalidInput].
func New(opts ...sandboxkit.Option) (*Client, error) {
	cfg, err := sandboxkit.NewConfig(sandboxkit.ControlPlane, opts...)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig returns a client that uses a resolved control plane
// configuration, e.g. one shared with other code.
func NewFromConfig(cfg *sandboxkit.Config) (*Client, error) {
	if cfg == nil {
		return nil, invalid("config", "", "must not be nil")
	}
	if cfg.API() != sandboxkit.ControlPlane {
		return nil, invalid("config", cfg.API().String(), "is not a control plane configuration")
	}
	ac, err := api.NewClient(cfg.BaseURL().String(), noSecurity{}, api.WithClient(cfg.HTTPClient()))
	if err != nil {
		return nil, glue.Wrap(context.Background(), "controlplane.New", err)
	}
	return &Client{cfg: cfg, api: ac}, nil
}

// Config returns the client's resolved configuration (base URL, whether a
// token is set, workspace, retry policy...). It never reveals the token.
func (c *Client) Config() *sandboxkit.Config { return c.cfg }

// noSecurity lets the transport add the credentials: the generated client
// never sees them.
type noSecurity struct{}

func (noSecurity) BearerAuth(context.Context, api.OperationName) (api.BearerAuth, error) {
	return api.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}
