package controlplane

import (
	"errors"
	"fmt"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// ErrWaitTimeout is matched (with errors.Is) by the error of a waiter
// whose maxWait ran out, or whose context's deadline came too close for
// another check, before the sandbox reached the awaited state; the error
// then also matches context.DeadlineExceeded and names the last status
// seen. When the caller's context itself has ended, the error is the
// context's.
var ErrWaitTimeout = poll.ErrTimeout

// ErrShortensLifetime is returned by [Client.SetTTL] and
// [Client.SetExpirationPolicies] when the change would tighten a limit the
// sandbox has (a lower maximum age, a shorter idle time, an earlier date)
// or add one that is due already, so that the service would delete it
// sooner, and [LifetimeOptions.AllowShorten] was not set. Nothing was
// changed.
var ErrShortensLifetime = errors.New("sandboxkit: the change would shorten the sandbox's lifetime (set AllowShorten to allow it)")

// ErrNoURL is returned by [Client.SandboxClient] for a sandbox whose
// metadata has no URL yet (it is usually set once the sandbox is
// DEPLOYED).
var ErrNoURL = errors.New("sandboxkit: the sandbox has no URL")

// StateError reports a sandbox that reached a status from which the
// awaited one cannot follow: FAILED, DEACTIVATED, DELETING or TERMINATED
// while waiting for DEPLOYED, or a status [Client.EnsureSandbox] and the
// lifetime methods cannot work with.
type StateError struct {
	// Name is the sandbox's name.
	Name string
	// Status is the status it reached.
	Status Status
	// Want describes what was awaited or needed, e.g. "DEPLOYED".
	Want string
	// Message is the newest event message, often the reason of a failure.
	Message string
	// Sandbox is the sandbox as last seen.
	Sandbox *Sandbox
}

// Error returns e.g. `sandboxkit: sandbox "a" is FAILED, want DEPLOYED:
// image not found`.
func (e *StateError) Error() string {
	s := fmt.Sprintf("sandboxkit: sandbox %q is %s, want %s", e.Name, e.Status, e.Want)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func stateError(sb *Sandbox, want string) *StateError {
	return &StateError{Name: sb.Metadata.Name, Status: sb.Status, Want: want, Message: sb.lastMessage(), Sandbox: sb}
}

// invalid reports a rejected argument; it matches sandboxkit.ErrInvalidInput.
func invalid(field, value, reason string) error {
	return &sandboxkit.ValidationError{Field: field, Value: value, Reason: reason}
}

// isNotFound and isConflict look for the 404 and 409 answers.
func isNotFound(err error) bool { return errors.Is(err, sandboxkit.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, sandboxkit.ErrConflict) }
