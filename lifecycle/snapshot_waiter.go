package lifecycle

import (
	"context"
	"slices"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// SnapshotWaiter polls a snapshot until it reaches one of a set of
// states, as [Waiter] does for sandboxes. Make one with
// [NewSnapshotWaiter]; it holds no state between waits and is safe for
// concurrent use.
type SnapshotWaiter struct {
	getter SnapshotGetter
	opts   *sandboxkit.WaitOptions // a copy; nil means the defaults
}

// NewSnapshotWaiter returns a waiter that polls through getter (a
// [*Client], or any fake or mock) with opts (nil means the defaults; opts
// is copied). Invalid options are reported by [SnapshotWaiter.Wait],
// before any request.
func NewSnapshotWaiter(getter SnapshotGetter, opts *sandboxkit.WaitOptions) *SnapshotWaiter {
	return &SnapshotWaiter{getter: getter, opts: copyWait(opts)}
}

// Wait polls snapshot id until its state is one of targets (usually
// [SnapshotReady]) and returns it then. Every observed change of state is
// reported to the options' OnTransition (Kind [KindSnapshot], Observed a
// *[Snapshot], or nil once it is not found).
//
// The wait ends early with a [*sandboxkit.StateError] when the snapshot
// is Failed or Deleting and that is not awaited, or is not found (404),
// since no awaited state can follow; with the transient error that
// exceeded MaxTransient; with any other error from GetSnapshot; or with a
// [*sandboxkit.WaitTimeoutError] when the wait's time is up
// ([sandboxkit.WaitOptions.Timeout], 15 minutes by default) or ctx ends
// first. Creating and unknown states are waited out. On error it also
// returns the last observation, or nil.
//
// GET /snapshots/{snapshotId}, repeatedly
func (w *SnapshotWaiter) Wait(ctx context.Context, id string, targets ...SnapshotState) (*Snapshot, error) {
	return w.wait(ctx, opSnapshotWaiterWait, id, targets)
}

func (w *SnapshotWaiter) wait(ctx context.Context, op, id string, targets []SnapshotState) (*Snapshot, error) {
	if err := validateSnapshotID(id); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if len(targets) == 0 {
		return nil, glue.Wrap(ctx, op, &sandboxkit.ValidationError{Field: "targets", Reason: "give at least one state"})
	}
	if w.getter == nil {
		return nil, glue.Wrap(ctx, op, &sandboxkit.ValidationError{Field: "getter", Reason: "must not be nil"})
	}
	po, err := pollOptions(w.opts)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	targets = slices.Clone(targets)
	want := stateNames(targets)
	stateErr := func(sn *Snapshot, cause error) error {
		e := &sandboxkit.StateError{Op: op, Kind: KindSnapshot, ID: id, Want: want, Err: cause}
		if sn != nil {
			e.State, e.Reason, e.Message, e.Observed = string(sn.Status.State), sn.Status.Reason, sn.Status.Message, sn
		}
		return e
	}
	return await(ctx, po, w.opts, awaitSpec[Snapshot]{
		op: op, kind: KindSnapshot, id: id, want: want,
		get:   w.getter.GetSnapshot,
		state: func(sn *Snapshot) string { return string(sn.Status.State) },
		judge: func(sn *Snapshot, _ string) (bool, error) {
			switch st := sn.Status.State; {
			case slices.Contains(targets, st):
				return true, nil
			case st == SnapshotFailed, st == SnapshotDeleting:
				return false, stateErr(sn, nil)
			}
			return false, nil // Creating and unknown states move on
		},
		gone: func(err error) (bool, error) { return false, stateErr(nil, err) },
	})
}

// CreateSnapshotAndWaitOptions tunes [Client.CreateSnapshotAndWait]; nil
// means the defaults.
type CreateSnapshotAndWaitOptions struct {
	// Create tunes the create call; nil means the defaults.
	Create *CreateSnapshotOptions
	// Wait tunes the wait for Ready; nil means the defaults.
	Wait *sandboxkit.WaitOptions
}

// CreateSnapshotAndWait snapshots a running sandbox
// ([Client.CreateSnapshot]) and waits until the snapshot is Ready, as
// [SnapshotWaiter.Wait] does. It checks sandboxID and the options before
// sending anything. On failure it returns the create error (and a nil
// snapshot), or the wait's error ([*sandboxkit.StateError],
// [*sandboxkit.WaitTimeoutError], ...) together with the snapshot it
// made: the last observation, or the create answer when no read
// succeeded. A snapshot that failed is left in place.
//
// POST /sandboxes/{sandboxId}/snapshots, then GET /snapshots/{snapshotId} repeatedly
func (c *Client) CreateSnapshotAndWait(ctx context.Context, sandboxID string, opts *CreateSnapshotAndWaitOptions) (*Snapshot, error) {
	if opts == nil {
		opts = &CreateSnapshotAndWaitOptions{}
	}
	if err := validateSandboxID(sandboxID); err != nil {
		return nil, glue.Wrap(ctx, opCreateSnapshotAndWait, err)
	}
	if err := opts.Wait.Validate(); err != nil {
		return nil, glue.Wrap(ctx, opCreateSnapshotAndWait, err)
	}
	sn, err := c.CreateSnapshot(ctx, sandboxID, opts.Create)
	if err != nil {
		return nil, err
	}
	if sn.Status.State == SnapshotReady {
		return sn, nil
	}
	got, err := NewSnapshotWaiter(c, opts.Wait).wait(ctx, opCreateSnapshotAndWait, sn.ID, []SnapshotState{SnapshotReady})
	if err != nil && got == nil {
		got = sn
	}
	return got, err
}
