package lifecycle

import (
	"context"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// EndpointOptions chooses the kind of endpoint. The zero value asks for
// the direct address.
type EndpointOptions struct {
	// UseServerProxy asks for an address that goes through the lifecycle
	// server. Not together with SignedUntil.
	UseServerProxy bool
	// SignedUntil asks for a signed route valid until this time (sent in
	// whole Unix seconds, rounded down). Must be in the future. Not
	// together with UseServerProxy.
	SignedUntil time.Time
}

// Endpoint returns the address of port inside a sandbox (1 to 65535).
//
// GET /sandboxes/{sandboxId}/endpoints/{port}
func (c *Client) Endpoint(ctx context.Context, id string, port int, opts *EndpointOptions) (*Endpoint, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, glue.Wrap(ctx, opEndpoint, err)
	}
	if err := glue.ValidatePort(port); err != nil {
		return nil, glue.Wrap(ctx, opEndpoint, err)
	}
	params := api.GetSandboxEndpointParams{SandboxID: id, Port: port}
	if opts != nil {
		signed := !opts.SignedUntil.IsZero()
		switch {
		case opts.UseServerProxy && signed:
			return nil, glue.Wrap(ctx, opEndpoint, &sandboxkit.ValidationError{Field: "EndpointOptions", Reason: "UseServerProxy and SignedUntil exclude each other"})
		case signed && !opts.SignedUntil.After(time.Now()):
			return nil, glue.Wrap(ctx, opEndpoint, &sandboxkit.ValidationError{Field: "EndpointOptions.SignedUntil",
				Value: opts.SignedUntil.UTC().Format(time.RFC3339), Reason: "must be in the future"})
		case signed:
			params.Expires = api.NewOptString(strconv.FormatInt(opts.SignedUntil.Unix(), 10))
		case opts.UseServerProxy:
			params.UseServerProxy = api.NewOptBool(true)
		}
	}
	res, err := c.api.GetSandboxEndpoint(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, opEndpoint, err)
	}
	return fromEndpoint(res), nil
}
