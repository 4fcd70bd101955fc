package lifecycle

import (
	"fmt"
	"time"
)

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
// [*sandboxkit.StateError] for Terminated and Failed, or the fatal
// error.
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
