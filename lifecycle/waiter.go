package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Defaults of [WaiterOptions].
const (
	DefaultWaitMinDelay     = 250 * time.Millisecond
	DefaultWaitMaxDelay     = 5 * time.Second
	DefaultWaitMaxTransient = 5
)

// WaiterOptions tunes a [Waiter]. The zero value is usable.
type WaiterOptions struct {
	// MinDelay is the first pause between two polls
	// ([DefaultWaitMinDelay] if zero). Pauses double up to MaxDelay, with
	// jitter; the last one is shortened so that a final poll happens
	// before ctx's deadline.
	MinDelay time.Duration
	// MaxDelay caps the pause between polls ([DefaultWaitMaxDelay] if
	// zero).
	MaxDelay time.Duration
	// MaxTransient is how many transient errors in a row are tolerated
	// ([DefaultWaitMaxTransient] if zero; negative tolerates none). The
	// next one ends the wait with that error.
	MaxTransient int
	// Retryable reports whether a poll error is transient. Nil means
	// [sandboxkit.IsTransient]: 408, 429, 5xx (but 501, 505) and network
	// errors.
	Retryable func(error) bool
	// OnTransition, if set, is called for every observed state change,
	// from the goroutine that waits; the first observation is reported
	// with from == "". It must not block for long.
	OnTransition func(from, to State, s *Sandbox)
}

// Waiter polls a sandbox until it reaches one of a set of states, like
// aws-sdk-go-v2's waiters. Make one with [NewWaiter]; it holds no state
// between waits and is safe for concurrent use.
type Waiter struct {
	getter Getter
	opts   WaiterOptions
	// deleted says the caller's delete of the sandbox was accepted: every
	// state is then the deletion under way, waited through until
	// Terminated or not found (see waitGone).
	deleted bool
}

// NewWaiter returns a waiter that polls through getter (a [*Client], or
// any fake or mock). Each optFn edits a copy of the default options.
func NewWaiter(getter Getter, optFns ...func(*WaiterOptions)) *Waiter {
	var o WaiterOptions
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	return &Waiter{getter: getter, opts: o}
}

// WaitForState polls sandbox id until its state is one of targets and
// returns it then. The wait ends early with a [*StateError] when the
// sandbox lands where no target can follow (see the package
// documentation's table), with the transient error that exceeded
// MaxTransient, with any other error from Get, or with a [*TimeoutError]
// wrapping ctx's error when ctx ends first. On error it also returns the
// last observation, or nil. When Terminated is awaited, a sandbox no
// longer found counts as done; the result is then the last observation,
// which may be nil. Give ctx a deadline: without one the wait can last
// forever.
//
// GET /sandboxes/{sandboxId}, repeatedly
func (w *Waiter) WaitForState(ctx context.Context, id string, targets ...State) (*Sandbox, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, glue.Wrap(ctx, opWait, err)
	}
	if len(targets) == 0 {
		return nil, glue.Wrap(ctx, opWait, &sandboxkit.ValidationError{Field: "targets", Reason: "give at least one state"})
	}
	if w.getter == nil {
		return nil, glue.Wrap(ctx, opWait, &sandboxkit.ValidationError{Field: "getter", Reason: "must not be nil"})
	}
	targets = slices.Clone(targets)
	po, err := pollOptions(w.opts)
	if err != nil {
		return nil, glue.Wrap(ctx, opWait, err)
	}

	var (
		last *Sandbox // last successful observation
		seen bool
	)
	gone := func(err error) bool { return errors.Is(err, sandboxkit.ErrNotFound) }
	check := func(ctx context.Context) (*Sandbox, bool, error) {
		s, err := w.getter.Get(ctx, id)
		switch {
		case err != nil && gone(err) && slices.Contains(targets, StateTerminated):
			return last, true, nil // deleted and already forgotten
		case err != nil && gone(err):
			return last, false, newStateError(id, nil, targets, err)
		case err != nil:
			return last, false, err
		case s == nil:
			return last, false, fmt.Errorf("getter returned no sandbox and no error")
		}
		st := s.Status.State
		var from State
		changed := !seen || st != last.Status.State
		if seen {
			from = last.Status.State
		}
		if changed && w.opts.OnTransition != nil {
			w.opts.OnTransition(from, st, s)
		}
		last, seen = s, true
		if slices.Contains(targets, st) {
			return s, true, nil
		}
		if !w.deleted && unreachable(st, from, targets) {
			return s, false, newStateError(id, s, targets, nil)
		}
		return s, false, nil
	}

	s, polls, err := poll.Until(ctx, po, check)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, poll.ErrTimeout):
		te := &TimeoutError{ID: id, Sandbox: last, Targets: targets, Polls: polls, Err: err}
		if last != nil {
			te.LastState = last.Status.State
		}
		return last, te
	}
	if se, ok := errors.AsType[*StateError](err); ok {
		return last, se
	}
	return last, glue.Wrap(ctx, opWait, err)
}

// unreachable reports whether no target can follow state st, observed
// after state from ("" on the first observation). See the package
// documentation for the rules.
func unreachable(st, from State, targets []State) bool {
	switch st {
	case StateTerminated, StateFailed:
		return true // never left; st is not a target
	case StateStopping:
		return !slices.Contains(targets, StateTerminated)
	case StateRunning, StatePaused:
		// Settled in a stable state that is not awaited, after a change
		// was seen (e.g. Pausing → Running: someone resumed it). A stable
		// first observation may still be about to change (a pause just
		// accepted), so it is not held against the wait.
		return from != "" && from != st
	}
	return false // Pending, Pausing, Resuming and unknown states move on
}

// WaitForState waits for sandbox id to reach one of targets with a
// [Waiter] of default options; see [Waiter.WaitForState].
//
// GET /sandboxes/{sandboxId}, repeatedly
func (c *Client) WaitForState(ctx context.Context, id string, targets ...State) (*Sandbox, error) {
	return NewWaiter(c).WaitForState(ctx, id, targets...)
}

func waiterFor(g Getter, opts *WaiterOptions) *Waiter {
	return NewWaiter(g, func(o *WaiterOptions) {
		if opts != nil {
			*o = *opts
		}
	})
}

// CreateAndWaitOptions tunes [Client.CreateAndWait].
type CreateAndWaitOptions struct {
	// Create tunes the create call.
	Create CreateOptions
	// Wait tunes the wait for Running.
	Wait WaiterOptions
	// DeleteOnFailure deletes the sandbox when the wait fails (Failed,
	// timeout, ...) and waits until it is gone, as [Client.DeleteAndWait]
	// does, so a failed call leaves nothing behind. The delete and its
	// wait run even when ctx has ended, bounded by [CleanupTimeout]; their
	// error, if any, is joined to the wait's.
	DeleteOnFailure bool
}

// CleanupTimeout bounds the delete, and the wait until the sandbox is
// gone, that [CreateAndWaitOptions.DeleteOnFailure] runs after a failed
// wait.
const CleanupTimeout = 30 * time.Second

// CreateAndWait creates a sandbox ([Client.Create]) and waits until it is
// Running. It checks all its arguments, the waiter options included,
// before sending anything. It never trusts the create answer alone: a
// service may answer Running for a sandbox whose entrypoint exits at once
// (OpenSandbox's Docker runtime does; a later read shows Terminated or
// Failed). Success needs Running on a read started at least the waiter's
// MinDelay ([DefaultWaitMinDelay], 250ms) after the create answered, and
// a read showing Terminated or Failed fails the wait (and triggers
// DeleteOnFailure). An entrypoint that exits later than that is not
// caught; raise MinDelay to watch a new sandbox longer.
//
// On failure it returns the create error (and a nil sandbox: nothing was
// made, or a [*CreateError] says it may have been), or the wait's error
// ([*StateError], [*TimeoutError], ...) together with the sandbox it made:
// the last observation, or the create answer when no read succeeded. With
// DeleteOnFailure that sandbox has been deleted and is no longer found
// (unless the error says the delete or its wait failed too).
//
// POST /sandboxes, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) CreateAndWait(ctx context.Context, req *CreateRequest, opts *CreateAndWaitOptions) (*Sandbox, error) {
	if opts == nil {
		opts = &CreateAndWaitOptions{}
	}
	po, err := pollOptions(opts.Wait)
	if err != nil {
		return nil, glue.Wrap(ctx, opWait, err)
	}
	s, err := c.Create(ctx, req, &opts.Create)
	if err != nil {
		return nil, err
	}
	trustFrom := time.Now().Add(po.MinDelay)
	g := &timedGetter{g: c}
	w := waiterFor(g, &opts.Wait)
	got, err := w.WaitForState(ctx, s.ID, StateRunning)
	if err == nil && g.lastStart.Before(trustFrom) {
		// Running read too soon after the create to trust: look again
		// once the entrypoint had time to fail. Without that time left,
		// the Running already read stands.
		if d := time.Until(trustFrom); d > 0 && sleepBefore(ctx, d) != nil {
			return got, nil
		}
		got, err = w.WaitForState(ctx, s.ID, StateRunning)
	}
	if err == nil {
		return got, nil
	}
	if got == nil {
		got = s
	}
	if opts.DeleteOnFailure {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		defer cancel()
		derr := c.Delete(dctx, s.ID)
		if derr == nil {
			wo := opts.Wait
			wo.OnTransition = nil // the caller watches the way to Running, not the cleanup
			derr = waitGone(dctx, c, s.ID, &wo)
		}
		if derr != nil && !errors.Is(derr, sandboxkit.ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("deleting sandbox %q after the failed wait: %w", s.ID, derr))
		}
	}
	return got, err
}

// waitGone waits until sandbox id, whose delete was accepted, is
// Terminated or no longer found. Every other state counts as the deletion
// under way, Failed included: OpenSandbox's Kubernetes runtime keeps
// reporting a deleted workload's last state until the workload is gone.
func waitGone(ctx context.Context, g Getter, id string, opts *WaiterOptions) error {
	w := waiterFor(g, opts)
	w.deleted = true
	_, err := w.WaitForState(ctx, id, StateTerminated)
	return err
}

// timedGetter notes when its last Get started. A waiter calls it from
// one goroutine.
type timedGetter struct {
	g         Getter
	lastStart time.Time
}

func (t *timedGetter) Get(ctx context.Context, id string) (*Sandbox, error) {
	t.lastStart = time.Now()
	return t.g.Get(ctx, id)
}

// PauseAndWait pauses a sandbox ([Client.Pause]) and waits until it is
// Paused. It checks id and opts before sending anything. A sandbox
// already Paused (the pause answered 409) is returned as it is. A lost
// connection is settled as [Client.Pause] describes.
//
// POST /sandboxes/{sandboxId}/pause, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) PauseAndWait(ctx context.Context, id string, opts *WaiterOptions) (*Sandbox, error) {
	return c.actAndWait(ctx, id, c.Pause, StatePaused, opts)
}

// ResumeAndWait resumes a sandbox ([Client.Resume]) and waits until it is
// Running. It checks id and opts before sending anything. A sandbox
// already Running (the resume answered 409) is returned as it is. A lost
// connection is settled as [Client.Resume] describes.
//
// POST /sandboxes/{sandboxId}/resume, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) ResumeAndWait(ctx context.Context, id string, opts *WaiterOptions) (*Sandbox, error) {
	return c.actAndWait(ctx, id, c.Resume, StateRunning, opts)
}

// checkWaitArgs checks what every ...AndWait call on a sandbox checks
// before sending anything: the id and the waiter options.
func checkWaitArgs(ctx context.Context, op, id string, opts *WaiterOptions) error {
	if err := validateSandboxID(id); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	if opts != nil {
		if _, err := pollOptions(*opts); err != nil {
			return glue.Wrap(ctx, opWait, err)
		}
	}
	return nil
}

func (c *Client) actAndWait(ctx context.Context, id string, act func(context.Context, string) error, target State, opts *WaiterOptions) (*Sandbox, error) {
	op := opPause
	if target == StateRunning {
		op = opResume
	}
	if err := checkWaitArgs(ctx, op, id, opts); err != nil {
		return nil, err
	}
	if err := act(ctx, id); err != nil {
		if !errors.Is(err, sandboxkit.ErrConflict) {
			return nil, err
		}
		// Maybe it is already there (or on its way).
		s, gerr := c.Get(ctx, id)
		if gerr != nil {
			return nil, err
		}
		switch st := s.Status.State; {
		case st == target:
			return s, nil
		case target == StatePaused && st == StatePausing, target == StateRunning && st == StateResuming:
			// Someone else asked first: wait with them.
		default:
			return nil, err
		}
	}
	return waiterFor(c, opts).WaitForState(ctx, id, target)
}

// DeleteAndWait deletes a sandbox ([Client.Delete]) and waits until it is
// Terminated or no longer found. It checks id and opts before sending
// anything. Deleting a sandbox that is already gone succeeds at once. A
// lost connection is settled as [Client.Delete] describes. Once the
// delete is accepted, every state read is the deletion under way and is
// waited through, Failed included (OpenSandbox's Kubernetes runtime shows
// a deleted sandbox in its last state until it is gone); after a 409 the
// wait follows the [Waiter]'s rules.
//
// DELETE /sandboxes/{sandboxId}, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) DeleteAndWait(ctx context.Context, id string, opts *WaiterOptions) error {
	if err := checkWaitArgs(ctx, opDelete, id, opts); err != nil {
		return err
	}
	err := c.Delete(ctx, id)
	switch {
	case err == nil:
		return waitGone(ctx, c, id, opts)
	case errors.Is(err, sandboxkit.ErrNotFound):
		return nil
	case errors.Is(err, sandboxkit.ErrConflict):
		// Already Stopping, most likely: wait for the end all the same.
		_, err = waiterFor(c, opts).WaitForState(ctx, id, StateTerminated)
		return err
	}
	return err
}

// pollOptions turns o into the poll loop's settings, with the defaults,
// for the sandbox and snapshot waiters alike.
func pollOptions(o WaiterOptions) (poll.Options, error) {
	retryable := o.Retryable
	if retryable == nil {
		retryable = sandboxkit.IsTransient
	}
	minDelay := o.MinDelay
	if minDelay == 0 && o.MaxDelay > 0 {
		minDelay = min(DefaultWaitMinDelay, o.MaxDelay)
	}
	po := poll.Options{
		MinDelay:     cmp.Or(minDelay, DefaultWaitMinDelay),
		MaxDelay:     o.MaxDelay,
		MaxTransient: cmp.Or(o.MaxTransient, DefaultWaitMaxTransient),
		IsTransient: func(err error) bool {
			// A sandbox or snapshot in the wrong state stays wrong, whatever Retryable says.
			return !errors.Is(err, ErrUnexpectedState) && retryable(err)
		},
	}
	if po.MaxDelay == 0 {
		po.MaxDelay = max(DefaultWaitMaxDelay, po.MinDelay)
	}
	if err := po.Validate(); err != nil {
		return po, &sandboxkit.ValidationError{Field: "WaiterOptions", Reason: err.Error()}
	}
	return po, nil
}
