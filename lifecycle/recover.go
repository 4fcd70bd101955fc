package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// attemptOutcome sorts the error of one attempt at a state-changing call.
type attemptOutcome int

const (
	attemptPermanent attemptOutcome = iota // the service refused: do not retry
	attemptNotSent                         // provably not processed: send again
	attemptAmbiguous                       // may have been processed: read state first
)

// classifyAttempt sorts one attempt's error. ctx is the call's context
// (not the attempt's). Create, Pause, Resume, Renew and Delete share it.
func classifyAttempt(ctx context.Context, err error) attemptOutcome {
	if ctx.Err() != nil {
		return attemptAmbiguous // we cannot know; the caller's deadline ends the call
	}
	switch glue.ClassifyFailure(err) {
	case glue.NotSent:
		return attemptNotSent
	case glue.Ambiguous:
		return attemptAmbiguous
	}
	return attemptPermanent
}

// Bounds of the recovery loop of Pause, Resume, Renew and Delete.
const (
	actionAttempts = 4 // requests sent at most, the first included
	actionMinDelay = createMinDelay
	actionMaxDelay = createMaxDelay
)

// verdict is what reading the sandbox back says about an action.
type verdict int

const (
	verdictUnknown verdict = iota // neither: give up with an OutcomeError
	verdictDone                   // the action took effect (or its goal holds)
	verdictResend                 // the action provably did not take effect
)

// action describes one state-changing call for [Client.act].
type action struct {
	op string
	id string
	// send makes one attempt. The transport's own retries stay on: for a
	// POST it only retries what provably was not processed (429, 503, a
	// refused connection), honouring Retry-After, so an ambiguous outcome
	// always reaches act.
	send func(ctx context.Context) error
	// settle reads the sandbox back; s is nil when the read failed with
	// err. It is given the error that made the outcome uncertain.
	settle func(s *Sandbox, err error) verdict
	// settleOn reports whether an error answer may have been caused by
	// an earlier attempt of the same call (ambiguous says whether one
	// was ambiguous), so that it is settled by reading state rather than
	// returned: a 409, and for Delete a 404.
	settleOn func(e *sandboxkit.APIError, ambiguous bool) bool
}

// attemptCount returns "after 1 attempt", "after 2 attempts"...
func attemptCount(n int) string {
	if n == 1 {
		return "after 1 attempt"
	}
	return fmt.Sprintf("after %d attempts", n)
}

// act runs a state-changing call and recovers from ambiguous outcomes by
// reading state, never by blind repetition: after a lost connection, an
// attempt timeout or a 5xx it reads the sandbox back, returns success if
// the change shows, sends the request again only if the sandbox is
// provably still where it was, and otherwise returns a
// [*sandboxkit.OutcomeError].
func (c *Client) act(ctx context.Context, a action) error {
	var (
		attempts  int
		ambiguous bool // some attempt of this call may have taken effect
		lastErr   error
	)
	settle := func() (verdict, State, error) {
		s, err := c.Get(ctx, a.id)
		v := a.settle(s, err)
		if s != nil {
			return v, s.Status.State, nil
		}
		return v, "", err
	}
	unknown := func(st State, lerr error) error {
		last := glue.Wrap(ctx, a.op, lastErr)
		var err error
		if lerr != nil {
			err = fmt.Errorf("%s: %w (reading the sandbox back failed too: %w)", attemptCount(attempts), last, lerr)
		} else {
			err = fmt.Errorf("%s: %w (the sandbox read back is %s)", attemptCount(attempts), last, st)
		}
		return &sandboxkit.OutcomeError{Op: a.op, Kind: KindSandbox, ID: a.id, Err: err}
	}
	for {
		attempts++
		err := a.send(ctx)
		if err == nil {
			return nil
		}
		lastErr = err
		switch classifyAttempt(ctx, err) {
		case attemptPermanent, attemptNotSent:
			// Not sent: the transport has already retried it. Permanent:
			// unless an earlier attempt of ours may be its cause.
			apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
			if ok && a.settleOn != nil && a.settleOn(apiErr, ambiguous) {
				if v, _, _ := settle(); v == verdictDone {
					return nil
				}
			}
			return glue.Wrap(ctx, a.op, err)
		case attemptAmbiguous:
		}
		if ctx.Err() != nil {
			return glue.Wrap(ctx, a.op, err)
		}
		ambiguous = true
		// Give the service time to commit or drop the attempt before
		// reading the state back.
		serr := sleepBefore(ctx, poll.Delay(actionMinDelay, actionMaxDelay, attempts))
		v, st, lerr := settle()
		switch v {
		case verdictDone:
			return nil
		case verdictUnknown:
			if lerr != nil && ctx.Err() != nil {
				return glue.Wrap(ctx, a.op, err)
			}
			return unknown(st, lerr)
		}
		// verdictResend: the attempt provably did not take effect.
		if attempts >= actionAttempts || serr != nil {
			return glue.Wrap(ctx, a.op, err)
		}
	}
}

// settleStates returns a settle function for an action whose effect
// shows as one of done, and which can be sent again from one of from.
func settleStates(done, from []State) func(*Sandbox, error) verdict {
	return func(s *Sandbox, err error) verdict {
		if err != nil {
			return verdictUnknown
		}
		for _, st := range done {
			if s.Status.State == st {
				return verdictDone
			}
		}
		for _, st := range from {
			if s.Status.State == st {
				return verdictResend
			}
		}
		return verdictUnknown
	}
}

// renewSettle settles a renewal to want (whole microseconds, the wire's
// precision): done once the expiry in force is want (got receives it).
// Any other expiry, earlier or later (a renewal may shorten), means the
// renewal did not take effect and may be sent again (a sandbox that can
// no longer be renewed answers that with 409).
func renewSettle(want time.Time, got *time.Time) func(*Sandbox, error) verdict {
	return func(s *Sandbox, err error) verdict {
		switch {
		case err != nil:
			return verdictUnknown
		case !s.ExpiresAt.IsZero() && s.ExpiresAt.Truncate(time.Microsecond).Equal(want):
			*got = s.ExpiresAt
			return verdictDone
		}
		return verdictResend
	}
}

// deleteSettle settles a delete: done once the sandbox is Stopping,
// Terminated or gone; any other state can be deleted again.
func deleteSettle(s *Sandbox, err error) verdict {
	switch {
	case errors.Is(err, sandboxkit.ErrNotFound):
		return verdictDone
	case err != nil:
		return verdictUnknown
	case s.Status.State == StateStopping || s.Status.State == StateTerminated:
		return verdictDone
	}
	return verdictResend
}

// conflictAfterAmbiguous settles a 409 that follows an ambiguous attempt
// of the same call (for Pause, Resume and Renew).
func conflictAfterAmbiguous(e *sandboxkit.APIError, ambiguous bool) bool {
	return ambiguous && e.StatusCode == http.StatusConflict
}

// deleteMaySettle settles a 409 or 404 that follows an ambiguous attempt
// of the same call, including one the transport retried by itself
// (DELETE is retried after a lost connection).
func deleteMaySettle(e *sandboxkit.APIError, ambiguous bool) bool {
	return (ambiguous || e.Retries > 0) && (e.StatusCode == http.StatusConflict || e.StatusCode == http.StatusNotFound)
}
