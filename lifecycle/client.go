package lifecycle

import (
	"context"
	"fmt"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Client calls the lifecycle API. Make one with [New]; it is safe for
// concurrent use, and one Client per process (or per API key) is enough.
type Client struct {
	cfg *sandboxkit.Config
	api *lifecycleapi.Client
}

// New returns a client for the lifecycle API. Options come from package
// [sandboxkit]: [sandboxkit.WithAPIKey], [sandboxkit.WithBaseURL],
// [sandboxkit.WithHTTPClient], [sandboxkit.WithRetry] and so on; settings no option
// gives are read from the environment (OPEN_SANDBOX_API_KEY,
// OPEN_SANDBOX_BASE_URL, ...) unless [sandboxkit.WithoutEnvironment] is given.
// Invalid options return an error matching [sandboxkit.ErrInvalidInput].
func New(opts ...sandboxkit.Option) (*Client, error) {
	cfg, err := sandboxkit.NewConfig(sandboxkit.Lifecycle, opts...)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig returns a client that uses a resolved configuration, e.g.
// one shared with other façades. cfg must be a lifecycle configuration.
func NewFromConfig(cfg *sandboxkit.Config) (*Client, error) {
	if cfg == nil {
		return nil, &sandboxkit.ValidationError{Field: "config", Reason: "must not be nil"}
	}
	if cfg.API() != sandboxkit.Lifecycle {
		return nil, &sandboxkit.ValidationError{Field: "config", Value: cfg.API().String(), Reason: "is not a lifecycle configuration"}
	}
	api, err := lifecycleapi.NewClient(cfg.BaseURL().String(), noSecurity{}, lifecycleapi.WithClient(cfg.HTTPClient()))
	if err != nil {
		return nil, fmt.Errorf("sandboxkit: lifecycle.New: %w", err)
	}
	return &Client{cfg: cfg, api: api}, nil
}

// Config returns the client's resolved configuration (its credential
// stays hidden).
func (c *Client) Config() *sandboxkit.Config { return c.cfg }

// noSecurity lets the transport add the credentials: the generated client
// never sees them (the transport sends the API key only to the configured
// origin).
type noSecurity struct{}

func (noSecurity) APIKeyAuth(context.Context, lifecycleapi.OperationName) (lifecycleapi.APIKeyAuth, error) {
	return lifecycleapi.APIKeyAuth{}, ogenerrors.ErrSkipClientSecurity
}

// Operation names used in errors, as in "sandboxkit: lifecycle.Get: 404 ...".
const (
	opCreate         = "lifecycle.Create"
	opGet            = "lifecycle.Get"
	opList           = "lifecycle.List"
	opDelete         = "lifecycle.Delete"
	opPause          = "lifecycle.Pause"
	opResume         = "lifecycle.Resume"
	opRenew          = "lifecycle.Renew"
	opEndpoint       = "lifecycle.Endpoint"
	opPatchMetadata  = "lifecycle.PatchMetadata"
	opCreateSnapshot = "lifecycle.CreateSnapshot"
	opGetSnapshot    = "lifecycle.GetSnapshot"
	opListSnapshots  = "lifecycle.ListSnapshots"
	opDeleteSnapshot = "lifecycle.DeleteSnapshot"
	opSandboxClient  = "lifecycle.SandboxClient"

	opWaiterWait            = "lifecycle.Waiter.Wait"
	opSnapshotWaiterWait    = "lifecycle.SnapshotWaiter.Wait"
	opCreateAndWait         = "lifecycle.CreateAndWait"
	opPauseAndWait          = "lifecycle.PauseAndWait"
	opResumeAndWait         = "lifecycle.ResumeAndWait"
	opDeleteAndWait         = "lifecycle.DeleteAndWait"
	opCreateSnapshotAndWait = "lifecycle.CreateSnapshotAndWait"
	opNewRenewer            = "lifecycle.NewRenewer"
	opRenewerPoolAdd        = "lifecycle.RenewerPool.Add"
)

// validateSandboxID checks a sandbox id before it becomes a path segment.
func validateSandboxID(id string) error { return glue.ValidateID("sandbox id", id) }

// validateSnapshotID checks a snapshot id before it becomes a path segment.
func validateSnapshotID(id string) error { return glue.ValidateID("snapshot id", id) }
