package controlplane

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

// StatusGone is the status a [Waiter] gives a sandbox the service no
// longer knows (it answers 404): the empty status, never sent by the
// service. Await it with [StatusTerminated] to wait for a deletion:
// TERMINATED sandboxes stay visible for their retention, so a deleted
// sandbox reads either way. [sandboxkit.Transition.To] is "" for it too.
const StatusGone Status = ""

// Waiter polls a sandbox until its status is one of the awaited ones,
// with the jittered exponential backoff of [sandboxkit.WaitOptions], in
// the manner of aws-sdk-go-v2's resource waiters. Make one with
// [NewWaiter]; it is safe for concurrent use.
type Waiter struct {
	getter Getter
	opts   *sandboxkit.WaitOptions
}

// NewWaiter returns a waiter that reads sandboxes through getter (a
// [*Client], or a gomock mock of [Getter] in tests). A nil opts means the
// defaults of [sandboxkit.WaitOptions]; opts is copied. Invalid options
// are reported by [Waiter.Wait], before any request.
func NewWaiter(getter Getter, opts *sandboxkit.WaitOptions) *Waiter {
	w := &Waiter{getter: getter}
	if opts != nil {
		o := *opts
		w.opts = &o
	}
	return w
}

// Wait polls the sandbox called name until its status is one of targets
// and returns it (nil when the target reached is [StatusGone]). Every
// observed change of status is reported to
// [sandboxkit.WaitOptions.OnTransition] (Kind "sandbox", ID name, From
// and To the statuses, Observed the *Sandbox or nil when gone).
//
// The wait ends early with a [*sandboxkit.StateError] when the sandbox
// reaches a status from which no target can follow: after FAILED or
// DEACTIVATED only a deletion can (DELETING, TERMINATED, gone), after
// DELETING only TERMINATED or gone, after TERMINATED only gone; a
// sandbox that is gone while StatusGone is not awaited is a StateError
// with State "" that matches [sandboxkit.ErrNotFound]. Every other status
// (UPLOADING, BUILDING, BUILT, DEPLOYING, DEPLOYED, DEACTIVATING, or one
// this package does not know) is waited out. When the wait's time is up
// ([sandboxkit.WaitOptions.Timeout], [sandboxkit.DefaultWaitTimeout] by
// default) or ctx ends first, the error is a
// [*sandboxkit.WaitTimeoutError]; a poll error that is not transient (see
// [sandboxkit.WaitOptions.Retryable]), or one transient error too many,
// ends the wait with that error.
//
// No targets, an invalid name or invalid options are an error matching
// [sandboxkit.ErrInvalidInput], before any request.
//
// GET /sandboxes/{sandboxName}, repeated
func (w *Waiter) Wait(ctx context.Context, name string, targets ...Status) (*Sandbox, error) {
	const op = "controlplane.Waiter.Wait"
	if len(targets) == 0 {
		return nil, glue.Wrap(ctx, op, invalid("targets", "", "name at least one status to wait for"))
	}
	targets = slices.Clone(targets)
	return w.wait(ctx, op, name, statusNames(targets), func(sb *Sandbox) (bool, error) {
		status := StatusGone
		if sb != nil {
			status = sb.Status
		}
		switch {
		case slices.Contains(targets, status) && (sb == nil || status != StatusGone):
			return true, nil
		case !slices.ContainsFunc(targets, func(t Status) bool { return canReach(sb, t) }):
			return false, errNoTarget
		}
		return false, nil
	})
}

// errNoTarget is what an eval function of [Waiter.wait] returns for an
// observation from which no awaited status can follow; wait turns it into
// a [*sandboxkit.StateError].
var errNoTarget = errors.New("no awaited status can follow")

// canReach reports whether the sandbox as observed (nil when gone) can
// still come to status to.
func canReach(sb *Sandbox, to Status) bool {
	if sb == nil {
		return to == StatusGone
	}
	from := sb.Status
	if from == to && to != StatusGone {
		return true
	}
	deletion := to == StatusDeleting || to == StatusTerminated || to == StatusGone
	switch from {
	case StatusTerminated:
		return to == StatusGone
	case StatusDeleting:
		return to == StatusTerminated || to == StatusGone
	case StatusFailed, StatusDeactivated:
		return deletion
	}
	return true
}

// wait validates its arguments and polls name until eval says done or
// fails. eval sees the sandbox, or nil when the service answered 404; an
// eval error of errNoTarget becomes a StateError.
func (w *Waiter) wait(ctx context.Context, op, name string, want []string, eval func(*Sandbox) (bool, error)) (*Sandbox, error) {
	if err := validateName(name); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if w == nil || w.getter == nil {
		return nil, glue.Wrap(ctx, op, invalid("Waiter", "", "has no Getter (make it with NewWaiter)"))
	}
	po, err := poll.FromWaitOptions(w.opts)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	var (
		start    = time.Now()
		last     *Sandbox
		lastSeen Status
		seen     bool
		pollErr  error
		notFound error
	)
	observe := func(sb *Sandbox) {
		to := StatusGone
		if sb != nil {
			to = sb.Status
		}
		if w.opts != nil && w.opts.OnTransition != nil && (!seen || to != lastSeen) {
			tr := sandboxkit.Transition{Kind: kindSandbox, ID: name, From: string(lastSeen), To: string(to), Elapsed: time.Since(start)}
			if sb != nil {
				tr.Observed = sb
			}
			w.opts.OnTransition(tr)
		}
		last, lastSeen, seen = sb, to, true
	}
	final, polls, err := poll.Until(ctx, po, func(ctx context.Context) (*Sandbox, bool, error) {
		sb, err := w.getter.Get(ctx, name, nil)
		switch {
		case isNotFound(err):
			sb, notFound = nil, err
		case err != nil:
			pollErr = err
			return nil, false, err
		case sb == nil:
			pollErr = errors.New("the Getter returned neither a sandbox nor an error")
			return nil, false, pollErr
		}
		pollErr = nil
		observe(sb)
		done, err := eval(sb)
		return sb, done, err
	})
	switch {
	case err == nil:
		return final, nil
	case errors.Is(err, errNoTarget):
		se := &sandboxkit.StateError{Op: op, Kind: kindSandbox, ID: name, State: string(lastSeen), Want: want}
		if last != nil {
			se.Message, se.Observed = last.lastMessage(), last
		} else {
			se.Err = notFound
		}
		return nil, se
	case errors.Is(err, poll.ErrTimeout):
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded // too close to the deadline for another poll
		}
		if pollErr != nil {
			cause = fmt.Errorf("%w (last poll: %w)", cause, pollErr)
		}
		te := &sandboxkit.WaitTimeoutError{Op: op, Kind: kindSandbox, ID: name, State: string(lastSeen), Want: want,
			Polls: polls, Waited: time.Since(start), Err: cause}
		if last != nil {
			te.Observed = last
		}
		return nil, te
	}
	return nil, glue.Wrap(ctx, op, err)
}

// kindSandbox is the [sandboxkit.Transition.Kind] of this package's
// waits.
const kindSandbox = "sandbox"

// statusNames returns the awaited statuses as the errors name them
// ("gone" for StatusGone).
func statusNames(targets []Status) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = string(t)
		if t == StatusGone {
			out[i] = "gone"
		}
	}
	return out
}

// CreateAndWait creates a sandbox (see [Client.Create]) and waits until
// it is DEPLOYED, as [Waiter.Wait] does with opts (nil means the
// defaults). opts are checked before anything is sent. If the wait fails,
// the error comes with the sandbox as last seen (the one made, which may
// need deleting): a [*sandboxkit.StateError] carries it in Observed.
//
// POST /sandboxes, then GET /sandboxes/{sandboxName} until DEPLOYED
func (c *Client) CreateAndWait(ctx context.Context, sb *Sandbox, opts *sandboxkit.WaitOptions) (*Sandbox, error) {
	if err := opts.Validate(); err != nil {
		return nil, glue.Wrap(ctx, "controlplane.CreateAndWait", err)
	}
	created, err := c.Create(ctx, sb, nil)
	if err != nil {
		return nil, err
	}
	if created.Status == StatusDeployed {
		return created, nil
	}
	got, err := NewWaiter(c, opts).Wait(ctx, created.Metadata.Name, StatusDeployed)
	if err != nil {
		if se, ok := errors.AsType[*sandboxkit.StateError](err); ok && se.Observed != nil {
			return se.Observed.(*Sandbox), err
		}
		return created, err
	}
	return got, nil
}

// DeleteAndWait deletes the sandbox called name and waits, as
// [Waiter.Wait] does with opts (nil means the defaults), until it is
// TERMINATED, returning it, or gone, returning nil. A sandbox that does
// not exist counts as deleted: the result is nil, nil.
//
// DELETE /sandboxes/{sandboxName}, then GET /sandboxes/{sandboxName} until
// TERMINATED or 404
func (c *Client) DeleteAndWait(ctx context.Context, name string, opts *sandboxkit.WaitOptions) (*Sandbox, error) {
	if err := opts.Validate(); err != nil {
		return nil, glue.Wrap(ctx, "controlplane.DeleteAndWait", err)
	}
	deleted, err := c.Delete(ctx, name)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case deleted.Status == StatusTerminated:
		return deleted, nil
	}
	return NewWaiter(c, opts).Wait(ctx, name, StatusTerminated, StatusGone)
}
