package lifecycle

import (
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// CreateSnapshotOptions tunes [Client.CreateSnapshot].
type CreateSnapshotOptions struct {
	// Name labels the snapshot; "" leaves it unnamed.
	Name string
}

// CreateSnapshot starts a snapshot of a running sandbox and returns it in
// state Creating; poll [Client.GetSnapshot] until it is Ready.
//
// POST /sandboxes/{sandboxId}/snapshots
func (c *Client) CreateSnapshot(ctx context.Context, sandboxID string, opts *CreateSnapshotOptions) (*Snapshot, error) {
	if err := validateSandboxID(sandboxID); err != nil {
		return nil, glue.Wrap(ctx, opCreateSnapshot, err)
	}
	var body api.OptCreateSnapshotRequest
	if opts != nil && opts.Name != "" {
		body = api.NewOptCreateSnapshotRequest(api.CreateSnapshotRequest{Name: api.NewOptString(opts.Name)})
	}
	res, err := c.api.CreateSnapshot(ctx, body, api.CreateSnapshotParams{SandboxID: sandboxID})
	if err != nil {
		return nil, glue.Wrap(ctx, opCreateSnapshot, err)
	}
	return fromSnapshot(&res.Response), nil
}

// GetSnapshot returns a snapshot as it is now.
//
// GET /snapshots/{snapshotId}
func (c *Client) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) {
	if err := validateSnapshotID(id); err != nil {
		return nil, glue.Wrap(ctx, opGetSnapshot, err)
	}
	res, err := c.api.GetSnapshot(ctx, api.GetSnapshotParams{SnapshotID: id})
	if err != nil {
		return nil, glue.Wrap(ctx, opGetSnapshot, err)
	}
	return fromSnapshot(res), nil
}

// DeleteSnapshot deletes a snapshot. One still Creating cannot be deleted
// (an error matching [sandboxkit.ErrConflict]). On OpenSandbox's Docker
// runtime neither can one that a sandbox still in existence (running or
// not) was created from: the answer is 409 SNAPSHOT::DELETE_CONFLICT and
// the snapshot is left Deleting; delete those sandboxes and call
// DeleteSnapshot again.
//
// DELETE /snapshots/{snapshotId}
func (c *Client) DeleteSnapshot(ctx context.Context, id string) error {
	if err := validateSnapshotID(id); err != nil {
		return glue.Wrap(ctx, opDeleteSnapshot, err)
	}
	if err := c.api.DeleteSnapshot(ctx, api.DeleteSnapshotParams{SnapshotID: id}); err != nil {
		return glue.Wrap(ctx, opDeleteSnapshot, err)
	}
	return nil
}

// ListSnapshotsOptions filters and pages [Client.ListSnapshots] and
// [Client.AllSnapshots]. The zero value lists every snapshot.
type ListSnapshotsOptions struct {
	// SandboxID keeps snapshots taken from this sandbox.
	SandboxID string
	// States keeps snapshots in any of these states (OR); each must be a
	// documented snapshot state, case ignored.
	States []SnapshotState
	// Page is the 1-based page to fetch; 0 means 1.
	Page int
	// PageSize is the number of snapshots per page; 0 leaves the
	// service's default (20).
	PageSize int
}

// ListSnapshots returns one page of snapshots.
//
// GET /snapshots
func (c *Client) ListSnapshots(ctx context.Context, opts *ListSnapshotsOptions) (*SnapshotPage, error) {
	if opts == nil {
		opts = &ListSnapshotsOptions{}
	}
	params, err := opts.params()
	if err != nil {
		return nil, glue.Wrap(ctx, opListSnapshots, err)
	}
	res, err := c.api.ListSnapshots(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, opListSnapshots, err)
	}
	return &SnapshotPage{
		Items:      fromSnapshots(res.Items),
		Pagination: fromPagination(res.Pagination),
	}, nil
}

// AllSnapshots iterates over every snapshot matching opts, page after
// page (opts is copied). An error is yielded once, with a nil snapshot,
// and ends the iteration. Snapshots taken or deleted while it reads the
// pages are handled as [Client.All] handles sandboxes: none is yielded
// twice, and every snapshot that matches throughout is yielded
// (OpenSandbox lists snapshots newest first too).
//
// GET /snapshots
func (c *Client) AllSnapshots(ctx context.Context, opts *ListSnapshotsOptions) iter.Seq2[*Snapshot, error] {
	var o ListSnapshotsOptions
	if opts != nil {
		o = *opts
		o.States = slices.Clone(opts.States)
	}
	return walkPages(o.Page, func(s *Snapshot) string { return s.ID }, func(n int) (page[*Snapshot], error) {
		o := o
		o.Page = n
		p, err := retryRead(ctx, c, func() (*SnapshotPage, error) { return c.ListSnapshots(ctx, &o) })
		if err != nil {
			return page[*Snapshot]{}, err
		}
		return page[*Snapshot]{items: p.Items, total: p.TotalItems, hasNext: p.HasNextPage}, nil
	})
}

func (o *ListSnapshotsOptions) params() (api.ListSnapshotsParams, error) {
	var p api.ListSnapshotsParams
	if o.SandboxID != "" {
		if err := validateSandboxID(o.SandboxID); err != nil {
			return p, err
		}
		p.SandboxID = api.NewOptString(o.SandboxID)
	}
	for _, s := range o.States {
		st, ok := parseSnapshotState(string(s))
		if !ok {
			names := make([]string, 0, 4)
			for _, k := range SnapshotStates() {
				names = append(names, string(k))
			}
			return p, &sandboxkit.ValidationError{Field: "ListSnapshotsOptions.States", Value: string(s), Reason: "not one of " + strings.Join(names, ", ")}
		}
		p.State = append(p.State, api.SnapshotState(st))
	}
	if err := pageParams(o.Page, o.PageSize, "ListSnapshotsOptions", &p.Page, &p.PageSize); err != nil {
		return p, err
	}
	return p, nil
}

func parseSnapshotState(s string) (SnapshotState, bool) {
	for _, st := range SnapshotStates() {
		if strings.EqualFold(s, string(st)) {
			return st, true
		}
	}
	return "", false
}
