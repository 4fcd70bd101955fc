package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// WaitOptions configures the waiters. The zero value is usable: checks
// start 250 ms apart, the gap doubles (with jitter) up to 5 s, and up to
// five transient errors in a row (see [sandboxkit.IsTransient]) are tolerated.
// Waits end when the context does; give it a deadline.
type WaitOptions struct {
	// MinDelay is the first gap between two checks.
	MinDelay time.Duration
	// MaxDelay caps the gap between two checks.
	MaxDelay time.Duration
	// MaxTransient is how many retryable errors in a row are tolerated;
	// negative tolerates none.
	MaxTransient int
	// Retryable reports whether a failed check is worth another one;
	// [sandboxkit.IsTransient] if nil.
	Retryable func(error) bool
	// OnTransition, if set, is called for every observed status change,
	// from the goroutine that waits; the first observation is reported
	// with from == "". A sandbox that is gone (404) is reported as a
	// change to the empty status, with a nil sandbox. It must not block
	// for long.
	OnTransition func(from, to Status, sb *Sandbox)
}

func (o *WaitOptions) poll() (poll.Options, error) {
	var w WaitOptions
	if o != nil {
		w = *o
	}
	p := poll.Options{MinDelay: w.MinDelay, MaxDelay: w.MaxDelay, MaxTransient: w.MaxTransient, IsTransient: w.Retryable}
	if p.IsTransient == nil {
		p.IsTransient = sandboxkit.IsTransient
	}
	if err := p.Validate(); err != nil {
		return p, invalid("wait options", "", err.Error())
	}
	return p, nil
}

// DeployedWaiter waits for a sandbox to be DEPLOYED, like aws-sdk-go-v2's
// resource waiters. It fails at once with a [*StateError] when the
// sandbox is FAILED, DEACTIVATED, DELETING or TERMINATED, none of which
// leads to DEPLOYED. Any other status (UPLOADING, BUILDING, DEPLOYING,
// DEACTIVATING or one this package does not know) is waited out.
type DeployedWaiter struct {
	getter Getter
	opts   WaitOptions
}

// NewDeployedWaiter returns a waiter that reads the sandbox through getter
// (a [*Client], or a fake in tests). opts may be nil.
func NewDeployedWaiter(getter Getter, opts *WaitOptions) *DeployedWaiter {
	w := &DeployedWaiter{getter: getter}
	if opts != nil {
		w.opts = *opts
	}
	return w
}

// Wait waits until the sandbox called name is DEPLOYED, for at most
// maxWait (no limit but ctx's when maxWait <= 0).
func (w *DeployedWaiter) Wait(ctx context.Context, name string, maxWait time.Duration) error {
	_, err := w.WaitForOutput(ctx, name, maxWait)
	return err
}

// WaitForOutput is Wait that also returns the DEPLOYED sandbox.
func (w *DeployedWaiter) WaitForOutput(ctx context.Context, name string, maxWait time.Duration) (*Sandbox, error) {
	return waitFor(ctx, "controlplane.WaitDeployed", w.getter, name, &w.opts, maxWait, "DEPLOYED",
		func(sb *Sandbox, err error) (bool, error) {
			if err != nil {
				return false, err
			}
			switch sb.Status {
			case StatusDeployed:
				return true, nil
			case StatusFailed, StatusDeactivated, StatusDeleting, StatusTerminated:
				return false, stateError(sb, "DEPLOYED")
			}
			return false, nil
		})
}

// DeletedWaiter waits for a sandbox to be deleted: TERMINATED, or gone
// (404).
type DeletedWaiter struct {
	getter Getter
	opts   WaitOptions
}

// NewDeletedWaiter returns a waiter that reads the sandbox through getter
// (a [*Client], or a fake in tests). opts may be nil.
func NewDeletedWaiter(getter Getter, opts *WaitOptions) *DeletedWaiter {
	w := &DeletedWaiter{getter: getter}
	if opts != nil {
		w.opts = *opts
	}
	return w
}

// Wait waits until the sandbox called name is TERMINATED or gone, for at
// most maxWait (no limit but ctx's when maxWait <= 0).
func (w *DeletedWaiter) Wait(ctx context.Context, name string, maxWait time.Duration) error {
	_, err := w.WaitForOutput(ctx, name, maxWait)
	return err
}

// WaitForOutput is Wait that also returns the TERMINATED sandbox, or nil
// when the service no longer knows it.
func (w *DeletedWaiter) WaitForOutput(ctx context.Context, name string, maxWait time.Duration) (*Sandbox, error) {
	return waitFor(ctx, "controlplane.WaitDeleted", w.getter, name, &w.opts, maxWait, "deleted",
		func(sb *Sandbox, err error) (bool, error) {
			switch {
			case isNotFound(err):
				return true, nil
			case err != nil:
				return false, err
			}
			return sb.Status == StatusTerminated, nil
		})
}

// waitFor polls getter until eval says done or fails.
func waitFor(ctx context.Context, op string, getter Getter, name string, o *WaitOptions, maxWait time.Duration, want string,
	eval func(*Sandbox, error) (bool, error),
) (*Sandbox, error) {
	if err := validateName(name); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if getter == nil {
		return nil, glue.Wrap(ctx, op, invalid("waiter", "", "has no Getter"))
	}
	po, err := o.poll()
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	var (
		last   Status
		seen   bool
		notify = o != nil && o.OnTransition != nil
	)
	observe := func(sb *Sandbox) {
		var to Status
		if sb != nil {
			to = sb.Status
		}
		if notify && (!seen || to != last) {
			o.OnTransition(last, to, sb)
		}
		last, seen = to, true
	}
	pctx := ctx
	if maxWait > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	final, _, err := poll.Until(pctx, po, func(ctx context.Context) (*Sandbox, bool, error) {
		sb, err := getter.Get(ctx, name, nil)
		switch {
		case err != nil && !isNotFound(err):
			return nil, false, err
		case err == nil && sb == nil:
			return nil, false, errors.New("the Getter returned neither a sandbox nor an error")
		case err != nil:
			sb = nil // gone
		}
		observe(sb)
		done, err := eval(sb, err)
		return sb, done, err
	})
	if err != nil {
		if final != nil && errors.Is(err, ErrWaitTimeout) {
			err = fmt.Errorf("sandbox %q is still %s, want %s: %w", name, final.Status, want, err)
		}
		return nil, glue.Wrap(ctx, op, err)
	}
	return final, nil
}

// WaitDeployed waits until the sandbox called name is DEPLOYED and returns
// it; see [DeployedWaiter] for the statuses that end the wait early with a
// [*StateError]. The wait lasts as long as ctx does.
//
// GET /sandboxes/{sandboxName}, repeated
func (c *Client) WaitDeployed(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error) {
	return NewDeployedWaiter(c, opts).WaitForOutput(ctx, name, 0)
}

// WaitDeleted waits until the sandbox called name is TERMINATED, returning
// it, or gone (404), returning nil. The wait lasts as long as ctx does.
//
// GET /sandboxes/{sandboxName}, repeated
func (c *Client) WaitDeleted(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error) {
	return NewDeletedWaiter(c, opts).WaitForOutput(ctx, name, 0)
}

// CreateAndWait creates a sandbox (see [Client.Create]) and waits until
// it is DEPLOYED. opts are checked before anything is sent. If the wait
// fails, the error comes with the sandbox as last seen (the one made,
// which may need deleting).
//
// POST /sandboxes, then GET /sandboxes/{sandboxName} until DEPLOYED
func (c *Client) CreateAndWait(ctx context.Context, sb *Sandbox, opts *WaitOptions) (*Sandbox, error) {
	if _, err := opts.poll(); err != nil {
		return nil, glue.Wrap(ctx, "controlplane.CreateAndWait", err)
	}
	created, err := c.Create(ctx, sb, nil)
	if err != nil {
		return nil, err
	}
	if created.Status == StatusDeployed {
		return created, nil
	}
	got, err := c.WaitDeployed(ctx, created.Metadata.Name, opts)
	if err != nil {
		if se, ok := errors.AsType[*StateError](err); ok && se.Sandbox != nil {
			return se.Sandbox, err
		}
		return created, err
	}
	return got, nil
}

// DeleteAndWait deletes the sandbox called name and waits until it is
// TERMINATED, returning it, or gone, returning nil. A sandbox that does
// not exist counts as deleted: the result is nil, nil.
//
// DELETE /sandboxes/{sandboxName}, then GET /sandboxes/{sandboxName} until
// TERMINATED or 404
func (c *Client) DeleteAndWait(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error) {
	if _, err := opts.poll(); err != nil {
		return nil, glue.Wrap(ctx, "controlplane.DeleteAndWait", err)
	}
	deleted, err := c.Delete(ctx, name, nil)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case deleted.Status == StatusTerminated:
		return deleted, nil
	}
	return c.WaitDeleted(ctx, name, opts)
}
