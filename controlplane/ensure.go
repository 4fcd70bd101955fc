package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// EnsureOptions configures [Client.EnsureSandbox].
type EnsureOptions struct {
	// Wait configures the waits for DEPLOYED and for a deleted sandbox to
	// go away, as [Waiter.Wait] does; nil means the defaults.
	Wait *sandboxkit.WaitOptions
}

// maxEnsureRounds bounds the get/create rounds of one EnsureSandbox, in
// case the service keeps answering "not found" to reads and "conflict"
// to creates.
const maxEnsureRounds = 8

// maxFollowerRetries bounds how often a caller that joined another
// caller's EnsureSandbox starts over because that caller's context ended.
const maxFollowerRetries = 3

// EnsureSandbox returns the sandbox called sb.Metadata.Name once it is
// DEPLOYED, creating it from sb first if needed:
//
//   - missing, or TERMINATED: it is created from sb (the service replaces
//     a TERMINATED sandbox of the same name);
//   - being deployed (UPLOADING, BUILDING, BUILT, DEPLOYING or unknown):
//     it is awaited;
//   - DEPLOYED: it is returned as it is — its spec is not compared with
//     sb's nor updated;
//   - DELETING: the end of the deletion is awaited, then it is created
//     again from sb;
//   - FAILED or DEACTIVATED: a [*sandboxkit.StateError]; nothing is
//     deleted.
//
// When sb has an ExternalID, a sandbox of that name with another external
// id is not the one asked for: the error matches [sandboxkit.ErrConflict].
//
// It is safe to call concurrently for the same name. Calls through the
// same Client share one round of requests (the first caller's sb is
// used). Creates ask the service for the existing sandbox rather than a
// conflict ([CreateOptions.IfNotExist]), so callers elsewhere (other
// clients, other processes) racing on the create all end up with the
// same sandbox; a create whose answer is lost is settled by reading the
// sandbox back, as [Client.Create] does, never given up while the answer
// can still be learned. If the context of the call doing the work ends,
// the others start over with their own.
//
// GET /sandboxes/{sandboxName}, POST /sandboxes?createIfNotExist=true when
// needed, then GET until DEPLOYED
func (c *Client) EnsureSandbox(ctx context.Context, sb *Sandbox, opts *EnsureOptions) (*Sandbox, error) {
	const op = "controlplane.EnsureSandbox"
	if err := validateSandbox(sb); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	var wait *sandboxkit.WaitOptions
	if opts != nil {
		wait = opts.Wait
	}
	if err := wait.Validate(); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	want := sb.Clone()
	for attempt := 0; ; attempt++ {
		ch := c.ensure.DoChan(want.Metadata.Name, func() (any, error) {
			return c.ensureOnce(ctx, op, want, NewWaiter(c, wait))
		})
		var res any
		var err error
		select {
		case <-ctx.Done():
			return nil, glue.Wrap(ctx, op, ctx.Err())
		case r := <-ch:
			res, err = r.Val, r.Err
		}
		if err != nil {
			// Another caller's context ended; ours has not: try again.
			if ctx.Err() == nil && attempt < maxFollowerRetries &&
				(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				continue
			}
			if typedWaitError(err) {
				return nil, err
			}
			return nil, glue.Wrap(ctx, op, err)
		}
		return res.(*Sandbox).Clone(), nil
	}
}

// ensureOnce does the work of EnsureSandbox.
func (c *Client) ensureOnce(ctx context.Context, op string, want *Sandbox, w *Waiter) (*Sandbox, error) {
	name := want.Metadata.Name
	for range maxEnsureRounds {
		cur, err := c.Get(ctx, name, nil)
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, err
		case cur.Status == StatusTerminated:
		case cur.Status == StatusDeleting:
			if _, err := w.Wait(ctx, name, StatusTerminated, StatusGone); err != nil {
				return nil, err
			}
		case otherExternalID(want, cur):
			return nil, externalIDConflict(want, cur)
		case cur.Status == StatusFailed || cur.Status == StatusDeactivated:
			return nil, stateError(op, cur, string(StatusDeployed))
		default:
			return w.Wait(ctx, name, StatusDeployed)
		}

		created, err := c.Create(ctx, want, &CreateOptions{IfNotExist: true})
		switch {
		case err == nil && otherExternalID(want, created):
			return nil, externalIDConflict(want, created)
		case err == nil && created.Status == StatusDeployed:
			return created, nil
		case err == nil && (created.Status == StatusFailed || created.Status == StatusDeactivated):
			return nil, stateError(op, created, string(StatusDeployed))
		case err == nil:
			return w.Wait(ctx, name, StatusDeployed)
		case !isConflict(err):
			return nil, err
		}
		// 409 despite IfNotExist: the name is still held by a sandbox on
		// its way out. Wait until it is gone or replaced, then look again.
		_, err = w.wait(ctx, op, name, []string{"gone", "recreated"}, func(sb *Sandbox) (bool, error) {
			return sb == nil || sb.Status != StatusDeleting, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("sandbox %q: still neither found nor creatable after %d attempts", name, maxEnsureRounds)
}

// otherExternalID reports a sandbox whose external id is not the one
// asked for (when one was asked for).
func otherExternalID(want, got *Sandbox) bool {
	return want.Metadata.ExternalID != "" && got.Metadata.ExternalID != want.Metadata.ExternalID
}

// typedWaitError reports the errors of a wait that already name the
// operation and must reach the caller as they are.
func typedWaitError(err error) bool {
	return errors.Is(err, sandboxkit.ErrUnexpectedState) || errors.Is(err, sandboxkit.ErrWaitTimeout)
}

func externalIDConflict(want, got *Sandbox) error {
	return fmt.Errorf("sandbox %q has externalId %q, not %q: %w", want.Metadata.Name, got.Metadata.ExternalID, want.Metadata.ExternalID, sandboxkit.ErrConflict)
}
