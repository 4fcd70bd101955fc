package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

const opWaitSnapshot = "lifecycle.WaitForSnapshot"

// SnapshotStateError reports a snapshot wait that cannot succeed: the
// snapshot is Failed or Deleting, or was not found, so it will never be
// Ready. It matches (errors.Is) [ErrUnexpectedState].
type SnapshotStateError struct {
	// ID is the snapshot.
	ID string
	// State is the state observed; "" when the snapshot was not found.
	State SnapshotState
	// Reason and Message are the service's explanation of State.
	Reason  string
	Message string
	// LastTransitionAt is when the snapshot entered State, if known.
	LastTransitionAt time.Time
	// Snapshot is the last observation; nil when it was not found.
	Snapshot *Snapshot
	// Err is the underlying error: the not-found error when the snapshot
	// was gone, else nil.
	Err error
}

// Error returns e.g. `sandboxkit: snapshot "snap-1" is Failed
// (snapshot_capture_failed: Snapshot creation failed); cannot reach Ready`.
func (e *SnapshotStateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandboxkit: snapshot %q ", e.ID)
	if e.State == "" {
		b.WriteString("not found")
	} else {
		b.WriteString("is " + string(e.State))
		switch {
		case e.Reason != "" && e.Message != "":
			fmt.Fprintf(&b, " (%s: %s)", e.Reason, e.Message)
		case e.Reason != "" || e.Message != "":
			fmt.Fprintf(&b, " (%s)", e.Reason+e.Message)
		}
	}
	b.WriteString("; cannot reach " + string(SnapshotReady))
	return b.String()
}

// Is reports whether target is [ErrUnexpectedState].
func (e *SnapshotStateError) Is(target error) bool { return target == ErrUnexpectedState }

// Unwrap returns the not-found error, if that is what ended the wait, so
// errors.Is(err, sandboxkit.ErrNotFound) holds.
func (e *SnapshotStateError) Unwrap() error { return e.Err }

// SnapshotTimeoutError reports a snapshot wait that ended because its
// context did (its deadline passed, or would have before another poll,
// or it was cancelled) before the snapshot was Ready. It wraps the
// context's error: errors.Is(err, context.DeadlineExceeded) holds for a
// deadline.
type SnapshotTimeoutError struct {
	// ID is the snapshot.
	ID string
	// LastState is the last state observed; "" if no poll succeeded.
	LastState SnapshotState
	// Snapshot is the last observation, or nil.
	Snapshot *Snapshot
	// Polls is how many times the snapshot was fetched.
	Polls int
	// Err wraps the context's error.
	Err error
}

// Error returns e.g. `sandboxkit: lifecycle.WaitForSnapshot: snapshot
// "snap-1" still Creating after 9 polls, waiting for Ready: ...`.
func (e *SnapshotTimeoutError) Error() string {
	last := string(e.LastState)
	if last == "" {
		last = "unobserved"
	}
	return fmt.Sprintf("sandboxkit: %s: snapshot %q still %s after %d polls, waiting for %s: %v",
		opWaitSnapshot, e.ID, last, e.Polls, SnapshotReady, e.Err)
}

// Unwrap returns the error wrapping the context's error.
func (e *SnapshotTimeoutError) Unwrap() error { return e.Err }

// WaitForSnapshot polls snapshot id through g (a [*Client], or any fake
// or mock) until it is Ready and returns it then. Polling follows opts
// (nil for the defaults) as [Waiter] does: MinDelay, MaxDelay,
// MaxTransient and Retryable apply; OnTransition, typed for sandboxes, is
// not called.
//
// The wait ends early with a [*SnapshotStateError] when the snapshot is
// Failed or Deleting, or is not found (404), since it can then never be
// Ready; with the transient error that exceeded MaxTransient; with any
// other error from GetSnapshot; or with a [*SnapshotTimeoutError]
// wrapping ctx's error when ctx ends first. Unknown states are waited
// out. On error it also returns the last observation, or nil. Give ctx a
// deadline: without one the wait can last forever.
//
// GET /snapshots/{snapshotId}, repeatedly
func WaitForSnapshot(ctx context.Context, g SnapshotGetter, id string, opts *WaiterOptions) (*Snapshot, error) {
	if err := validateSnapshotID(id); err != nil {
		return nil, glue.Wrap(ctx, opWaitSnapshot, err)
	}
	if g == nil {
		return nil, glue.Wrap(ctx, opWaitSnapshot, &sandboxkit.ValidationError{Field: "getter", Reason: "must not be nil"})
	}
	var o WaiterOptions
	if opts != nil {
		o = *opts
	}
	po, err := pollOptions(o)
	if err != nil {
		return nil, glue.Wrap(ctx, opWaitSnapshot, err)
	}

	var last *Snapshot // last successful observation
	check := func(ctx context.Context) (*Snapshot, bool, error) {
		sn, err := g.GetSnapshot(ctx, id)
		switch {
		case err != nil && errors.Is(err, sandboxkit.ErrNotFound):
			return last, false, &SnapshotStateError{ID: id, Err: err}
		case err != nil:
			return last, false, err
		case sn == nil:
			return last, false, fmt.Errorf("getter returned no snapshot and no error")
		}
		last = sn
		switch st := sn.Status; st.State {
		case SnapshotReady:
			return sn, true, nil
		case SnapshotFailed, SnapshotDeleting:
			return sn, false, &SnapshotStateError{
				ID: id, State: st.State, Reason: st.Reason, Message: st.Message,
				LastTransitionAt: st.LastTransitionAt, Snapshot: sn,
			}
		}
		return sn, false, nil // Creating and unknown states move on
	}

	sn, polls, err := poll.Until(ctx, po, check)
	switch {
	case err == nil:
		return sn, nil
	case errors.Is(err, poll.ErrTimeout):
		te := &SnapshotTimeoutError{ID: id, Snapshot: last, Polls: polls, Err: err}
		if last != nil {
			te.LastState = last.Status.State
		}
		return last, te
	}
	if se, ok := errors.AsType[*SnapshotStateError](err); ok {
		return last, se
	}
	return last, glue.Wrap(ctx, opWaitSnapshot, err)
}

// WaitForSnapshot waits for snapshot id to be Ready; see the function
// [WaitForSnapshot] for the rules and errors.
//
// GET /snapshots/{snapshotId}, repeatedly
func (c *Client) WaitForSnapshot(ctx context.Context, id string, opts *WaiterOptions) (*Snapshot, error) {
	return WaitForSnapshot(ctx, c, id, opts)
}

// CreateSnapshotAndWaitOptions tunes [Client.CreateSnapshotAndWait].
type CreateSnapshotAndWaitOptions struct {
	// Create tunes the create call.
	Create CreateSnapshotOptions
	// Wait tunes the wait for Ready.
	Wait WaiterOptions
}

// CreateSnapshotAndWait snapshots a running sandbox
// ([Client.CreateSnapshot]) and waits until the snapshot is Ready. It
// checks sandboxID and the waiter options before sending anything. On
// failure it returns the create error (and a nil snapshot), or the wait's
// error ([*SnapshotStateError], [*SnapshotTimeoutError], ...) together
// with the snapshot it made: the last observation, or the create answer
// when no read succeeded. A snapshot that failed is left in place.
//
// POST /sandboxes/{sandboxId}/snapshots, then GET /snapshots/{snapshotId} repeatedly
func (c *Client) CreateSnapshotAndWait(ctx context.Context, sandboxID string, opts *CreateSnapshotAndWaitOptions) (*Snapshot, error) {
	if opts == nil {
		opts = &CreateSnapshotAndWaitOptions{}
	}
	if err := validateSandboxID(sandboxID); err != nil {
		return nil, glue.Wrap(ctx, opCreateSnapshot, err)
	}
	if _, err := pollOptions(opts.Wait); err != nil {
		return nil, glue.Wrap(ctx, opWaitSnapshot, err)
	}
	sn, err := c.CreateSnapshot(ctx, sandboxID, &opts.Create)
	if err != nil {
		return nil, err
	}
	if sn.Status.State == SnapshotReady {
		return sn, nil
	}
	got, err := WaitForSnapshot(ctx, c, sn.ID, &opts.Wait)
	if err != nil && got == nil {
		got = sn
	}
	return got, err
}
