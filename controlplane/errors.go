package controlplane

import (
	"errors"

	"github.com/sandboxkit/sandboxkit"
)

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

// stateError reports a sandbox whose status the call cannot work with
// (EnsureSandbox on a FAILED one, a lifetime change of one being
// deleted); want are the statuses it needs.
func stateError(op string, sb *Sandbox, want ...string) *sandboxkit.StateError {
	return &sandboxkit.StateError{Op: op, Kind: kindSandbox, ID: sb.Metadata.Name, State: string(sb.Status), Want: want,
		Message: sb.lastMessage(), Observed: sb}
}

// invalid reports a rejected argument; it matches sandboxkit.ErrInvalidInput.
func invalid(field, value, reason string) error {
	return &sandboxkit.ValidationError{Field: field, Value: value, Reason: reason}
}

// isNotFound and isConflict look for the 404 and 409 answers.
func isNotFound(err error) bool { return errors.Is(err, sandboxkit.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, sandboxkit.ErrConflict) }
