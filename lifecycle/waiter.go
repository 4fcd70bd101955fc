package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// The Kind of the resources this package waits for, in
// [sandboxkit.Transition], [sandboxkit.StateError],
// [sandboxkit.WaitTimeoutError] and [sandboxkit.OutcomeError].
const (
	KindSandbox  = "sandbox"
	KindSnapshot = "snapshot"
)

// Waiter polls a sandbox until it reaches one of a set of states, like
// aws-sdk-go-v2's waiters. Make one with [NewWaiter]; it holds no state
// between waits and is safe for concurrent use.
type Waiter struct {
	getter Getter
	opts   *sandboxkit.WaitOptions // a copy; nil means the defaults
	// deleted says the caller's delete of the sandbox was accepted: every
	// state is then the deletion under way, waited through until
	// Terminated or not found (see waitGone).
	deleted bool
}

// NewWaiter returns a waiter that polls through getter (a [*Client], or
// any fake or mock) with opts (nil means the defaults; opts is copied).
// Invalid options are reported by [Waiter.Wait], before any request.
func NewWaiter(getter Getter, opts *sandboxkit.WaitOptions) *Waiter {
	return &Waiter{getter: getter, opts: copyWait(opts)}
}

func copyWait(opts *sandboxkit.WaitOptions) *sandboxkit.WaitOptions {
	if opts == nil {
		return nil
	}
	o := *opts
	return &o
}

// Wait polls sandbox id until its state is one of targets and returns it
// then. Every observed change of state is reported to the options'
// OnTransition (Kind [KindSandbox], Observed a *[Sandbox], or nil once the
// sandbox is not found). The wait ends early with a
// [*sandboxkit.StateError] when the sandbox lands where no target can
// follow (see the package documentation's table), with the transient
// error that exceeded MaxTransient, with any other error from Get, or
// with a [*sandboxkit.WaitTimeoutError] when the wait's time is up
// ([sandboxkit.WaitOptions.Timeout], 15 minutes by default) or ctx ends
// first. On error it also returns the last observation, or nil. When
// Terminated is awaited, a sandbox no longer found counts as done; the
// result is then the last observation, which may be nil.
//
// GET /sandboxes/{sandboxId}, repeatedly
func (w *Waiter) Wait(ctx context.Context, id string, targets ...State) (*Sandbox, error) {
	return w.wait(ctx, opWaiterWait, id, targets)
}

// wait is Wait with the operation name its errors carry.
func (w *Waiter) wait(ctx context.Context, op, id string, targets []State) (*Sandbox, error) {
	if err := validateSandboxID(id); err != nil {
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
	awaitsGone := slices.Contains(targets, StateTerminated)
	return await(ctx, po, w.opts, awaitSpec[Sandbox]{
		op: op, kind: KindSandbox, id: id, want: want,
		get:   w.getter.Get,
		state: func(s *Sandbox) string { return string(s.Status.State) },
		judge: func(s *Sandbox, from string) (bool, error) {
			st := s.Status.State
			switch {
			case slices.Contains(targets, st):
				return true, nil
			case !w.deleted && unreachable(st, State(from), targets):
				return false, sandboxStateError(op, id, s, want, nil)
			}
			return false, nil
		},
		gone: func(err error) (bool, error) {
			if awaitsGone {
				return true, nil // deleted and already forgotten
			}
			return false, sandboxStateError(op, id, nil, want, err)
		},
	})
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

// sandboxStateError reports sandbox id in s (nil when it was not found,
// with cause the not-found error).
func sandboxStateError(op, id string, s *Sandbox, want []string, cause error) *sandboxkit.StateError {
	e := &sandboxkit.StateError{Op: op, Kind: KindSandbox, ID: id, Want: want, Err: cause}
	if s != nil && cause == nil {
		e.State, e.Reason, e.Message = string(s.Status.State), s.Status.Reason, s.Status.Message
		e.Observed = s
	}
	return e
}

func stateNames[S ~string](states []S) []string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return names
}

// awaitSpec describes one wait for [await].
type awaitSpec[T any] struct {
	op, kind, id string
	want         []string // the awaited states, for errors
	get          func(ctx context.Context, id string) (*T, error)
	state        func(*T) string
	// judge decides on an observation: done, or an error (a
	// *sandboxkit.StateError) that ends the wait. from is the state
	// observed before, "" on the first observation.
	judge func(obs *T, from string) (bool, error)
	// gone decides on a not-found answer (err): done, or the error that
	// ends the wait.
	gone func(err error) (bool, error)
}

// await polls as spec says until judge or gone says done, reporting
// every change of state to opts.OnTransition, and turns the end of ctx
// into a *sandboxkit.WaitTimeoutError.
func await[T any](ctx context.Context, po poll.Options, opts *sandboxkit.WaitOptions, spec awaitSpec[T]) (*T, error) {
	var onTransition func(sandboxkit.Transition)
	if opts != nil {
		onTransition = opts.OnTransition
	}
	var (
		start = time.Now()
		last  *T // last successful observation
		state string
		seen  bool
	)
	observe := func(obs *T, st string) {
		if onTransition != nil && (!seen || st != state) {
			tr := sandboxkit.Transition{Kind: spec.kind, ID: spec.id, From: state, To: st, Elapsed: time.Since(start)}
			if obs != nil {
				tr.Observed = obs
			}
			onTransition(tr)
		}
		state, seen = st, true
	}
	check := func(ctx context.Context) (*T, bool, error) {
		obs, err := spec.get(ctx, spec.id)
		switch {
		case err != nil && errors.Is(err, sandboxkit.ErrNotFound):
			observe(nil, "")
			done, err := spec.gone(err)
			return last, done, err
		case err != nil:
			return last, false, err
		case obs == nil:
			return last, false, fmt.Errorf("getter returned no %s and no error", spec.kind)
		}
		from := state
		observe(obs, spec.state(obs))
		last = obs
		done, err := spec.judge(obs, from)
		return obs, done, err
	}

	got, polls, err := poll.Until(ctx, po, check)
	switch {
	case err == nil:
		return got, nil
	case errors.Is(err, poll.ErrTimeout):
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded // no time left for another poll
		}
		te := &sandboxkit.WaitTimeoutError{
			Op: spec.op, Kind: spec.kind, ID: spec.id, Want: spec.want,
			Polls: polls, Waited: time.Since(start), Err: cause,
		}
		if last != nil {
			te.State, te.Observed = spec.state(last), last
		}
		return last, te
	}
	if se, ok := errors.AsType[*sandboxkit.StateError](err); ok {
		return last, se
	}
	return last, glue.Wrap(ctx, spec.op, err)
}

// pollOptions checks o (nil means the defaults) and turns it into the
// poll loop's settings, for the sandbox and snapshot waiters alike, with
// MinDelay resolved (CreateAndWait needs it).
func pollOptions(o *sandboxkit.WaitOptions) (poll.Options, error) {
	po, err := poll.FromWaitOptions(o)
	if err != nil {
		return po, err
	}
	if po.MinDelay == 0 {
		po.MinDelay = sandboxkit.DefaultWaitMinDelay
		if po.MaxDelay > 0 {
			po.MinDelay = min(po.MinDelay, po.MaxDelay)
		}
	}
	retryable := po.IsTransient
	po.IsTransient = func(err error) bool {
		// A sandbox or snapshot in the wrong state stays wrong, whatever Retryable says.
		return !errors.Is(err, sandboxkit.ErrUnexpectedState) && retryable(err)
	}
	return po, nil
}

// CreateAndWaitOptions tunes [Client.CreateAndWait]; nil means the
// defaults.
type CreateAndWaitOptions struct {
	// Create tunes the create call; nil means the defaults.
	Create *CreateOptions
	// Wait tunes the wait for Running; nil means the defaults.
	Wait *sandboxkit.WaitOptions
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
// Running. It checks all its arguments, the wait options included,
// before sending anything. It never trusts the create answer alone: a
// service may answer Running for a sandbox whose entrypoint exits at once
// (OpenSandbox's Docker runtime does; a later read shows Terminated or
// Failed). Success needs Running on a read started at least the wait's
// MinDelay ([sandboxkit.DefaultWaitMinDelay], 250ms) after the create
// answered, and a read showing Terminated or Failed fails the wait (and
// triggers DeleteOnFailure). An entrypoint that exits later than that is
// not caught; raise MinDelay to watch a new sandbox longer.
//
// On failure it returns the create error (and a nil sandbox: nothing was
// made, or a [*sandboxkit.OutcomeError] says it may have been), or the
// wait's error ([*sandboxkit.StateError], [*sandboxkit.WaitTimeoutError],
// ...) together with the sandbox it made: the last observation, or the
// create answer when no read succeeded. With DeleteOnFailure that sandbox
// has been deleted and is no longer found (unless the error says the
// delete or its wait failed too).
//
// POST /sandboxes, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) CreateAndWait(ctx context.Context, req *CreateRequest, opts *CreateAndWaitOptions) (*Sandbox, error) {
	if opts == nil {
		opts = &CreateAndWaitOptions{}
	}
	po, err := pollOptions(opts.Wait)
	if err != nil {
		return nil, glue.Wrap(ctx, opCreateAndWait, err)
	}
	s, err := c.Create(ctx, req, opts.Create)
	if err != nil {
		return nil, err
	}
	trustFrom := time.Now().Add(po.MinDelay)
	g := &timedGetter{g: c}
	w := NewWaiter(g, opts.Wait)
	got, err := w.wait(ctx, opCreateAndWait, s.ID, []State{StateRunning})
	if err == nil && g.lastStart.Before(trustFrom) {
		// Running read too soon after the create to trust: look again
		// once the entrypoint had time to fail. Without that time left,
		// the Running already read stands.
		if d := time.Until(trustFrom); d > 0 && sleepBefore(ctx, d) != nil {
			return got, nil
		}
		got, err = w.wait(ctx, opCreateAndWait, s.ID, []State{StateRunning})
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
			wo := copyWait(opts.Wait)
			if wo != nil {
				wo.OnTransition = nil // the caller watches the way to Running, not the cleanup
			}
			derr = waitGone(dctx, c, opCreateAndWait, s.ID, wo)
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
func waitGone(ctx context.Context, g Getter, op, id string, opts *sandboxkit.WaitOptions) error {
	w := NewWaiter(g, opts)
	w.deleted = true
	_, err := w.wait(ctx, op, id, []State{StateTerminated})
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
// Paused, polling as wait says (nil means the defaults). It checks id and
// wait before sending anything. A sandbox already Paused (the pause
// answered 409) is returned as it is. A lost connection is settled as
// [Client.Pause] describes. The wait ends as [Waiter.Wait] describes.
//
// POST /sandboxes/{sandboxId}/pause, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) PauseAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) (*Sandbox, error) {
	return c.actAndWait(ctx, opPauseAndWait, id, c.Pause, StatePaused, wait)
}

// ResumeAndWait resumes a sandbox ([Client.Resume]) and waits until it is
// Running, polling as wait says (nil means the defaults). It checks id
// and wait before sending anything. A sandbox already Running (the
// resume answered 409) is returned as it is. A lost connection is settled
// as [Client.Resume] describes. The wait ends as [Waiter.Wait] describes.
//
// POST /sandboxes/{sandboxId}/resume, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) ResumeAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) (*Sandbox, error) {
	return c.actAndWait(ctx, opResumeAndWait, id, c.Resume, StateRunning, wait)
}

// checkWaitArgs checks what every ...AndWait call on a sandbox checks
// before sending anything: the id and the wait options.
func checkWaitArgs(ctx context.Context, op, id string, wait *sandboxkit.WaitOptions) error {
	if err := validateSandboxID(id); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	if err := wait.Validate(); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	return nil
}

func (c *Client) actAndWait(ctx context.Context, op, id string, act func(context.Context, string) error, target State, wait *sandboxkit.WaitOptions) (*Sandbox, error) {
	if err := checkWaitArgs(ctx, op, id, wait); err != nil {
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
	return NewWaiter(c, wait).wait(ctx, op, id, []State{target})
}

// DeleteAndWait deletes a sandbox ([Client.Delete]) and waits until it is
// Terminated or no longer found, polling as wait says (nil means the
// defaults). It checks id and wait before sending anything. Deleting a
// sandbox that is already gone succeeds at once. A lost connection is
// settled as [Client.Delete] describes. Once the delete is accepted,
// every state read is the deletion under way and is waited through,
// Failed included (OpenSandbox's Kubernetes runtime shows a deleted
// sandbox in its last state until it is gone); after a 409 the wait
// follows the [Waiter]'s rules.
//
// DELETE /sandboxes/{sandboxId}, then GET /sandboxes/{sandboxId} repeatedly
func (c *Client) DeleteAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) error {
	if err := checkWaitArgs(ctx, opDeleteAndWait, id, wait); err != nil {
		return err
	}
	err := c.Delete(ctx, id)
	switch {
	case err == nil:
		return waitGone(ctx, c, opDeleteAndWait, id, wait)
	case errors.Is(err, sandboxkit.ErrNotFound):
		return nil
	case errors.Is(err, sandboxkit.ErrConflict):
		// Already Stopping, most likely: wait for the end all the same.
		_, err = NewWaiter(c, wait).wait(ctx, opDeleteAndWait, id, []State{StateTerminated})
		return err
	}
	return err
}
