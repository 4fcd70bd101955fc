package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandboxkit/sandboxkit/client"
)

// EnsureOptions configures [Client.EnsureSandbox].
type EnsureOptions struct {
	// Wait configures the waits for DEPLOYED and for a deleted sandbox to
	// go away; nil uses the defaults of [WaitOptions].
	Wait *WaitOptions
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
//   - missing: it is created from sb;
//   - being deployed (UPLOADING, BUILDING, DEPLOYING or unknown): it is
//     awaited;
//   - DEPLOYED: it is returned as it is — its spec is not compared with
//     sb's nor updated;
//   - DELETING or TERMINATED: the end of the deletion is awaited, then it
//     is created again from sb (when the service still reserves the name
//     of a TERMINATED sandbox, until it lets go of it);
//   - FAILED or DEACTIVATED: a [*StateError]; nothing is deleted.
//
// It is safe to call concurrently for the same name. Calls through the
// same Client share one round of requests (the first caller's sb is
// used); callers elsewhere (other clients, other processes) race on the
// create, and the loser of a create conflict (409) reads and awaits the
// winner's sandbox. Either way, one sandbox results. If the context of the
// call doing the work ends, the others start over with their own.
//
// GET /sandboxes/{sandboxName}, POST /sandboxes when needed, then GET
// until DEPLOYED
func (c *Client) EnsureSandbox(ctx context.Context, sb *Sandbox, opts *EnsureOptions) (*Sandbox, error) {
	const op = "controlplane.EnsureSandbox"
	if err := validateSandbox(sb); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	var wait *WaitOptions
	if opts != nil {
		wait = opts.Wait
	}
	if _, err := wait.poll(); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	want := sb.Clone()
	for attempt := 0; ; attempt++ {
		ch := c.ensure.DoChan(want.Metadata.Name, func() (any, error) {
			return c.ensureOnce(ctx, op, want, wait)
		})
		var res any
		var err error
		select {
		case <-ctx.Done():
			return nil, client.Wrap(ctx, op, ctx.Err())
		case r := <-ch:
			res, err = r.Val, r.Err
		}
		if err != nil {
			// Another caller's context ended; ours has not: try again.
			if ctx.Err() == nil && attempt < maxFollowerRetries &&
				(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				continue
			}
			return nil, client.Wrap(ctx, op, err)
		}
		return res.(*Sandbox).Clone(), nil
	}
}

// ensureOnce does the work of EnsureSandbox.
func (c *Client) ensureOnce(ctx context.Context, op string, want *Sandbox, wait *WaitOptions) (*Sandbox, error) {
	name := want.Metadata.Name
	for range maxEnsureRounds {
		cur, err := c.Get(ctx, name, nil)
		switch {
		case isNotFound(err):
			cur = nil
		case err != nil:
			return nil, err
		case cur.Status == StatusDeleting:
			if _, err := c.WaitDeleted(ctx, name, wait); err != nil {
				return nil, err
			}
		case cur.Status == StatusTerminated:
		case cur.Status == StatusFailed || cur.Status == StatusDeactivated:
			return nil, stateError(cur, "DEPLOYED")
		default:
			return c.WaitDeployed(ctx, name, wait)
		}

		created, err := c.Create(ctx, want, nil)
		switch {
		case err == nil && created.Status == StatusDeployed:
			return created, nil
		case err == nil:
			return c.WaitDeployed(ctx, name, wait)
		case !isConflict(err):
			return nil, err
		}
		// 409: someone else created it since our read, or the service
		// still holds the name of the deleted sandbox. In the second case
		// wait until the old one is gone or replaced, then look again.
		if cur != nil && cur.Status.gone() {
			_, err := waitFor(ctx, op, c, name, wait, 0, "gone or recreated", func(sb *Sandbox, err error) (bool, error) {
				if isNotFound(err) {
					return true, nil
				}
				return err == nil && !sb.Status.gone(), err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("sandbox %q: still neither found nor creatable after %d attempts", name, maxEnsureRounds)
}
