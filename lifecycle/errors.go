package lifecycle

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnexpectedState is matched (errors.Is) by every [*StateError]: the
// sandbox reached a state from which the awaited one cannot follow.
var ErrUnexpectedState = errors.New("sandboxkit: sandbox in an unexpected state")

// StateError reports a wait that cannot succeed because the sandbox
// landed where the awaited states are unreachable (see the table in the
// package documentation), or that a [Renewer] stopped on such a state.
type StateError struct {
	// ID is the sandbox.
	ID string
	// State is the state observed; "" when the sandbox was not found.
	State State
	// Reason and Message are the service's explanation of State.
	Reason  string
	Message string
	// LastTransitionAt is when the sandbox entered State, if known.
	LastTransitionAt time.Time
	// Targets are the states that were awaited; nil for a Renewer.
	Targets []State
	// Sandbox is the last observation; nil when the sandbox was not found.
	Sandbox *Sandbox
	// Err is the underlying error: the not-found error when the sandbox
	// was gone, else nil.
	Err error
}

// Error returns e.g. `sandboxkit: sandbox "abc" is Failed (image_pull:
// pull access denied); cannot reach Running`.
func (e *StateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandboxkit: sandbox %q ", e.ID)
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
	if len(e.Targets) > 0 {
		b.WriteString("; cannot reach " + joinStates(e.Targets))
	}
	return b.String()
}

// Is reports whether target is [ErrUnexpectedState].
func (e *StateError) Is(target error) bool { return target == ErrUnexpectedState }

// Unwrap returns the not-found error, if that is what ended the wait, so
// errors.Is(err, sandboxkit.ErrNotFound) holds.
func (e *StateError) Unwrap() error { return e.Err }

func newStateError(id string, s *Sandbox, targets []State, cause error) *StateError {
	e := &StateError{ID: id, Targets: targets, Sandbox: s, Err: cause}
	if s != nil && cause == nil {
		e.State = s.Status.State
		e.Reason = s.Status.Reason
		e.Message = s.Status.Message
		e.LastTransitionAt = s.Status.LastTransitionAt
	}
	return e
}

// TimeoutError reports a wait that ended because its context did (its
// deadline passed, or would have before another poll, or it was
// cancelled) before the sandbox reached an awaited state. It wraps the
// context's error: errors.Is(err, context.DeadlineExceeded) holds for a
// deadline.
type TimeoutError struct {
	// ID is the sandbox.
	ID string
	// LastState is the last state observed; "" if no poll succeeded.
	LastState State
	// Sandbox is the last observation, or nil.
	Sandbox *Sandbox
	// Targets are the states that were awaited.
	Targets []State
	// Polls is how many times the sandbox was fetched.
	Polls int
	// Err wraps the context's error.
	Err error
}

// Error returns e.g. `sandboxkit: lifecycle.WaitForState: sandbox "abc"
// still Pending after 9 polls, waiting for Running: ...`.
func (e *TimeoutError) Error() string {
	last := string(e.LastState)
	if last == "" {
		last = "unobserved"
	}
	return fmt.Sprintf("sandboxkit: %s: sandbox %q still %s after %d polls, waiting for %s: %v",
		opWait, e.ID, last, e.Polls, joinStates(e.Targets), e.Err)
}

// Unwrap returns the error wrapping the context's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// StopReason says why a [Renewer] (or one sandbox of a [RenewerPool])
// stopped renewing.
type StopReason string

// The reasons a renewer stops.
const (
	// StopRequested: Stop, Remove or Close was called.
	StopRequested StopReason = "stopped"
	// StopContextDone: the renewer's context ended.
	StopContextDone StopReason = "context done"
	// StopNotFound: the sandbox does not exist (404).
	StopNotFound StopReason = "not found"
	// StopTerminated: the sandbox is Stopping or Terminated.
	StopTerminated StopReason = "terminated"
	// StopFailed: the sandbox is Failed.
	StopFailed StopReason = "failed"
	// StopNoExpiry: the sandbox never expires, so there is nothing to
	// renew (renewing would give it an expiry).
	StopNoExpiry StopReason = "no expiry"
	// StopError: an error no retry can fix (401, 403, a bad request).
	StopError StopReason = "error"
)

// RenewStoppedError is what [Renewer.Err] returns once the renewer has
// stopped, and what a [RenewerPool] reports for each sandbox it stops
// renewing. It wraps the cause: the context's error, the 404 error, a
// [*StateError] for Terminated and Failed, or the fatal error.
type RenewStoppedError struct {
	// ID is the sandbox.
	ID string
	// Reason says why renewing stopped.
	Reason StopReason
	// ExpiresAt is the last expiry observed or set; zero if none.
	ExpiresAt time.Time
	// Err is the cause; nil for StopRequested and StopNoExpiry.
	Err error
}

// Error returns e.g. `sandboxkit: renewer for sandbox "abc" stopped: not
// found: ...`.
func (e *RenewStoppedError) Error() string {
	s := fmt.Sprintf("sandboxkit: renewer for sandbox %q stopped: %s", e.ID, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *RenewStoppedError) Unwrap() error { return e.Err }
