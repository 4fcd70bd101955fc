package controlplane

import (
	"context"
	"fmt"

	"github.com/sandboxkit/sandboxkit/client"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
)

// Create creates a sandbox from sb's metadata and spec. The answer is
// usually DEPLOYING; see [Client.CreateAndWait]. A sandbox of the same
// name that already exists is an error matching [client.ErrConflict].
//
// POST /sandboxes
func (c *Client) Create(ctx context.Context, sb *Sandbox, _ *CreateOptions) (*Sandbox, error) {
	const op = "controlplane.Create"
	if err := validateSandbox(sb); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	res, err := c.api.CreateSandbox(ctx, toAPI(sb))
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return sandboxResult(ctx, op, res)
}

// Get returns the sandbox called name. A missing one is an error matching
// [client.ErrNotFound].
//
// GET /sandboxes/{sandboxName}
func (c *Client) Get(ctx context.Context, name string, _ *GetOptions) (*Sandbox, error) {
	const op = "controlplane.Get"
	if err := validateName(name); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	res, err := c.api.GetSandbox(ctx, api.GetSandboxParams{SandboxName: name})
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return sandboxResult(ctx, op, res)
}

// List returns every sandbox of the workspace. The service answers with
// one plain array, not pages.
//
// GET /sandboxes
func (c *Client) List(ctx context.Context, _ *ListOptions) ([]*Sandbox, error) {
	const op = "controlplane.List"
	res, err := c.api.ListSandboxes(ctx)
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	list, ok := res.(*api.ListSandboxesOKApplicationJSON)
	if !ok {
		return nil, unexpected(ctx, op, res)
	}
	out := make([]*Sandbox, 0, len(*list))
	for i := range *list {
		out = append(out, fromAPI(&(*list)[i]))
	}
	return out, nil
}

// Update replaces the definition of the sandbox called
// sb.Metadata.Name with sb's metadata and spec and returns the result.
// Unknown fields of a sandbox read from the service are sent back as they
// were. To change only the lifetime, prefer [Client.SetTTL],
// [Client.SetExpirationPolicies] and [Client.ExtendTTL], which re-read
// and retry on conflicts.
//
// PUT /sandboxes/{sandboxName}
func (c *Client) Update(ctx context.Context, sb *Sandbox, _ *UpdateOptions) (*Sandbox, error) {
	const op = "controlplane.Update"
	if err := validateSandbox(sb); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return c.update(ctx, op, sb)
}

// update sends sb without validating it.
func (c *Client) update(ctx context.Context, op string, sb *Sandbox) (*Sandbox, error) {
	res, err := c.api.UpdateSandbox(ctx, toAPI(sb), api.UpdateSandboxParams{SandboxName: sb.Metadata.Name})
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return sandboxResult(ctx, op, res)
}

// Delete starts deleting the sandbox called name and returns it, usually
// DELETING; see [Client.DeleteAndWait]. A missing one is an error
// matching [client.ErrNotFound].
//
// DELETE /sandboxes/{sandboxName}
func (c *Client) Delete(ctx context.Context, name string, _ *DeleteOptions) (*Sandbox, error) {
	const op = "controlplane.Delete"
	if err := validateName(name); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	res, err := c.api.DeleteSandbox(ctx, api.DeleteSandboxParams{SandboxName: name})
	if err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	return sandboxResult(ctx, op, res)
}

// sandboxResult unpacks the success variant of a generated response. The
// transport turns every status >= 400 into an error, so no other variant
// reaches here.
func sandboxResult(ctx context.Context, op string, res any) (*Sandbox, error) {
	if sb, ok := res.(*api.Sandbox); ok {
		return fromAPI(sb), nil
	}
	return nil, unexpected(ctx, op, res)
}

func unexpected(ctx context.Context, op string, res any) error {
	return client.Wrap(ctx, op, fmt.Errorf("unexpected response %T", res))
}
