package sandbox

import (
	"context"
)

// EnvironmentReload reports what [Client.ReloadEnvironment] changed.
type EnvironmentReload struct {
	// Applied is how many variables were set or changed.
	Applied int
	// Removed is how many variables were removed.
	Removed int
	// Generation identifies the metadata revision that was applied.
	Generation int64
}

// ReloadEnvironment makes the server read the sandbox metadata again and
// apply its environment variables to itself and to processes started
// from then on.
//
// POST /environment/reload
func (c *Client) ReloadEnvironment(ctx context.Context) (*EnvironmentReload, error) {
	const op = "ReloadEnvironment"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	r, err := c.api.ReloadEnvironment(ctx)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return &EnvironmentReload{Applied: r.Applied.Value, Removed: r.Removed.Value, Generation: r.Generation.Value}, nil
}
