package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Defaults of [CreateOptions].
const (
	// DefaultCreateAttempts is how many create requests [Client.Create]
	// sends at most when the service provably did not act on the earlier
	// ones.
	DefaultCreateAttempts = 4
	// DefaultSettleTimeout bounds how long [Client.Create] keeps reading
	// the sandbox back after an answer was lost, when ctx has no earlier
	// deadline.
	DefaultSettleTimeout = 2 * time.Minute
)

// createSkew is how much earlier than the call's start a sandbox found
// after a lost answer may have been created and still count as the call's
// own: room for the difference between the local and the service's
// clocks.
const createSkew = 2 * time.Minute

// Delays between create attempts and between read-backs.
const (
	createMinDelay = 250 * time.Millisecond
	createMaxDelay = 5 * time.Second
)

// CreateOptions configures [Client.Create].
type CreateOptions struct {
	// IfNotExist makes Create answer the existing sandbox of the same
	// name, instead of an error matching [sandboxkit.ErrConflict], when that
	// sandbox is not FAILED, TERMINATED or being deleted. The existing
	// sandbox's definition may differ from the one given.
	IfNotExist bool
	// MaxAttempts bounds how many create requests are sent (default
	// [DefaultCreateAttempts]; 1 sends one). A request is sent again only
	// when the service provably did not act on the last one.
	MaxAttempts int
	// SettleTimeout bounds how long Create keeps reading the sandbox
	// back to learn whether a request whose answer was lost took effect
	// (default [DefaultSettleTimeout]); ctx's deadline, if earlier, wins.
	SettleTimeout time.Duration
}

func (o *CreateOptions) validate() error {
	if o == nil {
		return nil
	}
	if o.MaxAttempts < 0 {
		return invalid("CreateOptions.MaxAttempts", strconv.Itoa(o.MaxAttempts), "must not be negative")
	}
	if o.SettleTimeout < 0 {
		return invalid("CreateOptions.SettleTimeout", o.SettleTimeout.String(), "must not be negative")
	}
	return nil
}

// outcomeUnknown reports a create whose answer was lost and whose
// read-back could not tell whether it took effect: a
// [*sandboxkit.OutcomeError] whose Token is the sandbox's name (Get it,
// and compare its ExternalID, to settle the outcome) and whose Err wraps
// the lost answer's error and the read-back's (nil when the caller's
// context ended with the request in flight).
func outcomeUnknown(name string, attempts int, err, lookupErr error) error {
	cause := fmt.Errorf("after %d attempt(s): %w", attempts, err)
	if lookupErr != nil {
		cause = fmt.Errorf("after %d attempt(s): %w; reading it back: %w", attempts, err, lookupErr)
	}
	return &sandboxkit.OutcomeError{Op: "controlplane.Create", Kind: kindSandbox, Token: name, Err: cause}
}

// Create creates a sandbox from sb's metadata and spec and returns it as
// the service answered (usually DEPLOYING; see [Client.CreateAndWait]).
// A sandbox of the same name that is live already is an error matching
// [sandboxkit.ErrConflict] (unless opts.IfNotExist); a FAILED or TERMINATED one
// is replaced by the service.
//
// Create makes at most one sandbox and does not report a failure for a
// sandbox it made. When an answer is lost after the request was sent (a
// broken connection, a timeout, a 5xx of a gateway), it reads the sandbox
// back by name until that tells: a sandbox of that name, with sb's
// ExternalID (both may be empty), created since shortly before the call
// is the one this call made and is returned; no sandbox means the request
// did not take effect, and it is sent again (up to opts.MaxAttempts); a
// sandbox that is someone else's is an error matching
// [sandboxkit.ErrConflict]. A 409 answer to a repeated request is settled the
// same way, as is (with opts.IfNotExist) a 409 that says the sandbox is
// still being created. Only
// when the read-back cannot tell before ctx or opts.SettleTimeout ends is
// the error a [*sandboxkit.OutcomeError] (matching
// [sandboxkit.ErrOutcomeUnknown]), whose Token is the sandbox's name: the
// sandbox may exist, [Client.Get] tells, and Create with
// [CreateOptions.IfNotExist] (or [Client.EnsureSandbox]) finishes the job
// without making a second one. errors.Is sees both the lost answer's
// error and the read-back's through it. Requests the service provably did not
// process (refused connections, 429, 503) are sent again by the
// transport.
//
// POST /sandboxes, and GET /sandboxes/{sandboxName} after a lost answer
func (c *Client) Create(ctx context.Context, sb *Sandbox, opts *CreateOptions) (*Sandbox, error) {
	const op = "controlplane.Create"
	if err := validateSandbox(sb); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := opts.validate(); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	var o CreateOptions
	if opts != nil {
		o = *opts
	}
	maxAttempts := cmpOr(o.MaxAttempts, DefaultCreateAttempts)
	want := sb.Clone()
	body := toAPI(want)
	params := api.CreateSandboxParams{}
	if o.IfNotExist {
		params.CreateIfNotExist = api.NewOptBool(true)
	}
	started := time.Now()
	ambiguous := false
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			// Nothing is in flight: earlier attempts were settled.
			return nil, glue.Wrap(ctx, op, err)
		}
		res, err := c.api.CreateSandbox(ctx, body, params)
		if err == nil {
			return fromAPI(res), nil
		}
		err = glue.Wrap(ctx, op, err)
		switch outcome := glue.ClassifyFailure(err); {
		case ctx.Err() != nil && (ambiguous || outcome == glue.Ambiguous):
			// The caller's context ended with the request in flight.
			return nil, outcomeUnknown(want.Metadata.Name, attempt, err, nil)
		case ctx.Err() != nil:
			return nil, err
		case outcome == glue.Ambiguous:
			ambiguous = true
		case isConflict(err) && (ambiguous || (o.IfNotExist && creationInProgress(err))):
			// An earlier attempt may have made it; or, with IfNotExist,
			// the sandbox is still being made and is the answer.
		case outcome == glue.NotSent && attempt < maxAttempts:
			if werr := sleepCtx(ctx, poll.Delay(createMinDelay, createMaxDelay, attempt)); werr != nil {
				return nil, glue.Wrap(ctx, op, werr)
			}
			continue
		default:
			return nil, err
		}

		got, created, serr := c.settleCreate(ctx, want, o, started)
		switch {
		case serr != nil:
			return nil, outcomeUnknown(want.Metadata.Name, attempt, err, serr)
		case got != nil && created:
			return got, nil
		case got != nil:
			return nil, glue.Wrap(ctx, op, fmt.Errorf("sandbox %q exists and was not made by this call (externalId %q, created %s): %w",
				want.Metadata.Name, got.Metadata.ExternalID, got.Metadata.CreatedAt.Format(time.RFC3339), sandboxkit.ErrConflict))
		case attempt >= maxAttempts:
			// Nothing was made: the last error stands as it is.
			return nil, err
		}
	}
}

// settleCreate reads the sandbox of want's name back after a create whose
// outcome is unknown. It returns the sandbox and true when it is the one
// the create made; the sandbox and false when the name is someone else's;
// nil and false when there is none, so the create did not take effect;
// and an error when it could not tell in time.
func (c *Client) settleCreate(ctx context.Context, want *Sandbox, o CreateOptions, started time.Time) (*Sandbox, bool, error) {
	limit := cmpOr(o.SettleTimeout, DefaultSettleTimeout)
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Reads back off like the client's retries; each read is itself
	// retried by the transport.
	rp := c.cfg.RetryPolicy()
	minDelay, maxDelay := cmpOr(rp.MinDelay, createMinDelay), cmpOr(rp.MaxDelay, createMaxDelay)
	var lastErr error
	failures := 0
	for attempt := 1; ; attempt++ {
		if err := sleepCtx(sctx, poll.Delay(minDelay, max(minDelay, maxDelay), attempt)); err != nil {
			return nil, false, errors.Join(glue.Wrap(sctx, "controlplane.Create", err), lastErr)
		}
		cur, err := c.Get(sctx, want.Metadata.Name, nil)
		switch {
		case isNotFound(err):
			return nil, false, nil
		case err != nil && sctx.Err() == nil && sandboxkit.IsTransient(err) && failures < maxSettleFailures:
			lastErr = err
			failures++
			continue
		case err != nil:
			return nil, false, errors.Join(err, lastErr)
		case cur.Status == StatusTerminated:
			// Not what a create makes: the old holder of the name.
			return nil, false, nil
		case cur.Status == StatusDeleting:
			// The old holder is on its way out; ours cannot be there yet.
			lastErr = fmt.Errorf("sandbox %q is still DELETING", want.Metadata.Name)
			failures = 0
			continue
		}
		return cur, madeBy(want, cur, o, started), nil
	}
}

// maxSettleFailures bounds the failed reads in a row (each already retried
// by the transport) after which Create stops reading back and reports the
// outcome as unknown.
const maxSettleFailures = 8

// madeBy reports whether cur, found under want's name after a create, is
// the create's result: with IfNotExist any live sandbox is (the service
// would have answered it); otherwise its external id must be want's and
// it must not be older than the call.
func madeBy(want, cur *Sandbox, o CreateOptions, started time.Time) bool {
	if o.IfNotExist && cur.Status != StatusFailed {
		return true
	}
	if cur.Metadata.ExternalID != want.Metadata.ExternalID {
		return false
	}
	created := cur.Metadata.CreatedAt
	return created.IsZero() || !created.Before(started.Add(-createSkew))
}

// creationInProgress reports a 409 whose body says the sandbox is still
// being created (reason CREATION_IN_PROGRESS).
func creationInProgress(err error) bool {
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	if !ok || len(apiErr.Body) == 0 {
		return false
	}
	var body struct {
		Reason string `json:"reason"`
		Code   any    `json:"code"`
		Error  any    `json:"error"`
	}
	if json.Unmarshal(apiErr.Body, &body) != nil {
		return false
	}
	if body.Reason == reasonCreationInProgress || body.Code == reasonCreationInProgress {
		return true
	}
	nested, _ := body.Error.(map[string]any)
	return nested["code"] == reasonCreationInProgress || nested["reason"] == reasonCreationInProgress
}

// reasonCreationInProgress is the reason of a 409 for a sandbox that is
// still being created.
const reasonCreationInProgress = "CREATION_IN_PROGRESS"

// sleepCtx waits d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}
