package controlplane

import (
	"context"

	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Get returns the sandbox called name. A missing one is an error matching
// [sandboxkit.ErrNotFound].
//
// GET /sandboxes/{sandboxName}
func (c *Client) Get(ctx context.Context, name string, opts *GetOptions) (*Sandbox, error) {
	const op = "controlplane.Get"
	if err := validateName(name); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	params := api.GetSandboxParams{SandboxName: name}
	if opts != nil && opts.ShowSecrets {
		params.ShowSecrets = api.NewOptBool(true)
	}
	res, err := c.api.GetSandbox(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return fromAPI(res), nil
}

// GetByExternalID returns the newest sandbox that is not TERMINATED and
// has [Metadata.ExternalID] externalID. None is an error matching
// [sandboxkit.ErrNotFound].
//
// GET /sandboxes/by-external-id/{externalId}
func (c *Client) GetByExternalID(ctx context.Context, externalID string) (*Sandbox, error) {
	const op = "controlplane.GetByExternalID"
	if err := validateExternalID(externalID); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.GetSandboxByExternalID(ctx, api.GetSandboxByExternalIDParams{ExternalID: externalID})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return fromAPI(res), nil
}

// Update replaces the definition of the sandbox called
// sb.Metadata.Name with sb's metadata and spec and returns the result.
// Unknown fields of a sandbox read from the service are sent back as they
// were. To change only the lifetime, prefer [Client.SetTTL],
// [Client.SetExpirationPolicies] and [Client.ExtendTTL], which re-read
// and retry on conflicts.
//
// PUT /sandboxes/{sandboxName}
func (c *Client) Update(ctx context.Context, sb *Sandbox) (*Sandbox, error) {
	const op = "controlplane.Update"
	if err := validateSandbox(sb); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return c.update(ctx, op, sb)
}

// update sends sb without validating it.
func (c *Client) update(ctx context.Context, op string, sb *Sandbox) (*Sandbox, error) {
	res, err := c.api.UpdateSandbox(ctx, toAPI(sb), api.UpdateSandboxParams{SandboxName: sb.Metadata.Name})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return fromAPI(res), nil
}

// Delete starts deleting the sandbox called name and returns it, usually
// DELETING; see [Client.DeleteAndWait]. A missing one is an error
// matching [sandboxkit.ErrNotFound].
//
// DELETE /sandboxes/{sandboxName}
func (c *Client) Delete(ctx context.Context, name string) (*Sandbox, error) {
	const op = "controlplane.Delete"
	if err := validateName(name); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.DeleteSandbox(ctx, api.DeleteSandboxParams{SandboxName: name})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return fromAPI(res), nil
}
