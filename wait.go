package sandboxkit

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The defaults of [WaitOptions], used for its zero fields and for a nil
// *WaitOptions.
const (
	DefaultWaitMinDelay     = 250 * time.Millisecond
	DefaultWaitMaxDelay     = 5 * time.Second
	DefaultWaitMaxTransient = 5
	DefaultWaitTimeout      = 15 * time.Minute
)

// WaitOptions tunes every waiter of the SDK: the lifecycle sandbox and
// snapshot waiters, the sandbox API's process and health waiters and the
// control plane's status waiters, and the *AndWait methods built on them.
// A nil *WaitOptions means the defaults; so does each zero field.
//
// A waiter polls until the resource reaches an awaited state, reaches a
// state from which no awaited one can follow (a [*StateError]), or its
// time is up: Timeout has passed or the context ended (a
// [*WaitTimeoutError]).
type WaitOptions struct {
	// Timeout is the longest a wait may last ([DefaultWaitTimeout] if
	// zero), so that a resource stuck in a pending state never makes a
	// wait hang; a negative Timeout leaves the bound to the context
	// alone. The context's deadline, when earlier, ends the wait first.
	Timeout time.Duration
	// MinDelay is the first pause between two polls
	// ([DefaultWaitMinDelay] if zero). Pauses double up to MaxDelay, with
	// jitter; the last one is shortened so that a final poll happens
	// before the context's deadline.
	MinDelay time.Duration
	// MaxDelay caps the pause between two polls ([DefaultWaitMaxDelay]
	// if zero, or MinDelay if that is larger).
	MaxDelay time.Duration
	// MaxTransient is how many transient poll errors in a row are
	// tolerated ([DefaultWaitMaxTransient] if zero; negative tolerates
	// none). The next one ends the wait with that error.
	MaxTransient int
	// Retryable reports whether a poll error is transient; nil means
	// [IsTransient].
	Retryable func(error) bool
	// OnTransition, if set, is called for every observed change of state,
	// from the goroutine that waits; the first observation is reported
	// with From == "". It must not block for long.
	OnTransition func(Transition)
}

// Validate reports a [*ValidationError] for settings that cannot work
// (negative delays, MinDelay above MaxDelay). A nil receiver is valid.
func (o *WaitOptions) Validate() error {
	switch {
	case o == nil:
		return nil
	case o.MinDelay < 0:
		return &ValidationError{Field: "WaitOptions.MinDelay", Value: o.MinDelay.String(), Reason: "must not be negative"}
	case o.MaxDelay < 0:
		return &ValidationError{Field: "WaitOptions.MaxDelay", Value: o.MaxDelay.String(), Reason: "must not be negative"}
	case o.MaxDelay != 0 && o.MinDelay > o.MaxDelay:
		return &ValidationError{Field: "WaitOptions.MinDelay", Value: o.MinDelay.String(), Reason: "greater than MaxDelay " + o.MaxDelay.String()}
	}
	return nil
}

// Transition is one observed change of a waited-on resource's state,
// reported to [WaitOptions.OnTransition].
type Transition struct {
	// Kind is the kind of resource: "sandbox", "snapshot", "process" or
	// "health".
	Kind string
	// ID identifies the resource: a sandbox or snapshot id, a control
	// plane sandbox name, a process id or name.
	ID string
	// From is the state before; "" for the first observation.
	From string
	// To is the state observed; "" when the resource is gone (404).
	To string
	// Elapsed is the time since the wait began.
	Elapsed time.Duration
	// Observed is the resource as polled (*lifecycle.Sandbox,
	// *lifecycle.Snapshot, *controlplane.Sandbox, *sandbox.Process,
	// *sandbox.Health), or nil when it is gone.
	Observed any
}

// ErrUnexpectedState is matched (errors.Is) by every [*StateError]: the
// resource reached a state from which the awaited one cannot follow.
var ErrUnexpectedState = errors.New("sandboxkit: unexpected state")

// ErrWaitTimeout is matched (errors.Is) by every [*WaitTimeoutError]: the
// wait's context ended before the resource reached an awaited state.
var ErrWaitTimeout = errors.New("sandboxkit: wait timed out")

// ErrOutcomeUnknown is matched (errors.Is) by every [*OutcomeError]: a
// request that changes state may or may not have taken effect, and the
// SDK could not find out.
var ErrOutcomeUnknown = errors.New("sandboxkit: outcome unknown")

// StateError reports a wait (or another call that needs a state) that
// cannot succeed because the resource is in a state from which no awaited
// one can follow, or is gone. The façades document which states end which
// waits.
type StateError struct {
	// Op names the call, e.g. "lifecycle.Waiter.Wait".
	Op string
	// Kind and ID identify the resource (see [Transition]).
	Kind string
	ID   string
	// State is the state observed; "" when the resource was not found.
	State string
	// Want are the states that were awaited or needed.
	Want []string
	// Reason and Message are the service's explanation of State, if any.
	Reason  string
	Message string
	// Observed is the last observation (see [Transition.Observed]); nil
	// when the resource was not found.
	Observed any
	// Err is the underlying error: the not-found error when the resource
	// was gone, else nil.
	Err error
}

// Error returns e.g. `sandboxkit: lifecycle.Waiter.Wait: sandbox "abc" is
// Failed (IMAGE_PULL: pull access denied); cannot reach Running`.
func (e *StateError) Error() string {
	var b strings.Builder
	b.WriteString("sandboxkit: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	fmt.Fprintf(&b, "%s %q ", kindOr(e.Kind), e.ID)
	if e.State == "" {
		b.WriteString("not found")
	} else {
		b.WriteString("is " + e.State)
		switch {
		case e.Reason != "" && e.Message != "":
			fmt.Fprintf(&b, " (%s: %s)", e.Reason, e.Message)
		case e.Reason != "" || e.Message != "":
			fmt.Fprintf(&b, " (%s)", e.Reason+e.Message)
		}
	}
	if len(e.Want) > 0 {
		b.WriteString("; cannot reach " + strings.Join(e.Want, " or "))
	}
	return b.String()
}

// Is reports whether target is [ErrUnexpectedState].
func (e *StateError) Is(target error) bool { return target == ErrUnexpectedState }

// Unwrap returns the not-found error, if that is what ended the wait, so
// errors.Is(err, ErrNotFound) holds.
func (e *StateError) Unwrap() error { return e.Err }

// WaitTimeoutError reports a wait that ended because its context did (its
// deadline passed, or would have before another poll, or it was
// cancelled) before the resource reached an awaited state. It matches
// [ErrWaitTimeout] and wraps the context's error, so
// errors.Is(err, context.DeadlineExceeded) holds for a deadline. It is
// not [ErrTimeout], which is one request's attempt timing out.
type WaitTimeoutError struct {
	// Op names the call, e.g. "controlplane.Waiter.Wait".
	Op string
	// Kind and ID identify the resource (see [Transition]).
	Kind string
	ID   string
	// State is the last state observed; "" if no poll succeeded.
	State string
	// Want are the states that were awaited.
	Want []string
	// Polls is how many times the resource was fetched.
	Polls int
	// Waited is how long the wait lasted.
	Waited time.Duration
	// Observed is the last observation (see [Transition.Observed]), or
	// nil.
	Observed any
	// Err wraps the context's error (and the last poll error, if any).
	Err error
}

// Error returns e.g. `sandboxkit: lifecycle.Waiter.Wait: sandbox "abc"
// still Pending after 9 polls (12s), waiting for Running: context
// deadline exceeded`.
func (e *WaitTimeoutError) Error() string {
	last := e.State
	if last == "" {
		last = "unobserved"
	}
	op := ""
	if e.Op != "" {
		op = e.Op + ": "
	}
	return fmt.Sprintf("sandboxkit: %s%s %q still %s after %d polls (%v), waiting for %s: %v",
		op, kindOr(e.Kind), e.ID, last, e.Polls, e.Waited.Round(time.Millisecond), strings.Join(e.Want, " or "), e.Err)
}

// Is reports whether target is [ErrWaitTimeout].
func (e *WaitTimeoutError) Is(target error) bool { return target == ErrWaitTimeout }

// Unwrap returns the error wrapping the context's error.
func (e *WaitTimeoutError) Unwrap() error { return e.Err }

// OutcomeError reports a request that changes state (a create, a pause, a
// process start…) whose effect is unknown: the request may have been
// processed, and reading the resource's state to find out failed too.
// It matches [ErrOutcomeUnknown]; Err is the last failure.
type OutcomeError struct {
	// Op names the call, e.g. "lifecycle.Create".
	Op string
	// Kind and ID identify the resource, when known; ID is "" when the
	// request would have created it and no id came back.
	Kind string
	ID   string
	// Token is the idempotency or correlation token the request carried
	// (a metadata token, an external id, a process name), if any: look
	// the resource up by it to settle the outcome later.
	Token string
	// Err is the last failure.
	Err error
}

// Error returns e.g. `sandboxkit: lifecycle.Create: outcome unknown
// (token "t-1"): ...`.
func (e *OutcomeError) Error() string {
	var b strings.Builder
	b.WriteString("sandboxkit: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	b.WriteString("outcome unknown")
	switch {
	case e.ID != "":
		fmt.Fprintf(&b, " (%s %q)", kindOr(e.Kind), e.ID)
	case e.Token != "":
		fmt.Fprintf(&b, " (token %q)", e.Token)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrOutcomeUnknown].
func (e *OutcomeError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Unwrap returns the last failure.
func (e *OutcomeError) Unwrap() error { return e.Err }

func kindOr(kind string) string {
	if kind == "" {
		return "resource"
	}
	return kind
}
