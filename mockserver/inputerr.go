package mockserver

import (
	"fmt"
	"strings"

	"github.com/sandboxkit/sandboxkit"
)

// inputError is an invalid argument to a method of the server, its
// control API or a [Remote]: it matches sandboxkit.ErrInvalidInput.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Is reports whether target is sandboxkit.ErrInvalidInput.
func (e *inputError) Is(target error) bool { return target == sandboxkit.ErrInvalidInput }

// invalidf returns an error matching sandboxkit.ErrInvalidInput.
func invalidf(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// UnknownOperationError reports a [Fault] or filter naming an operation
// its API does not have. It matches sandboxkit.ErrInvalidInput.
type UnknownOperationError struct {
	// API is the API the operation was looked for in; "" means all three.
	API API
	// Operation is the name given.
	Operation string
	// Valid lists the operation names of API, sorted.
	Valid []string
}

// Error names the operation and lists the valid names.
func (e *UnknownOperationError) Error() string {
	where := "any API"
	if e.API != APIUnknown {
		where = "the " + string(e.API) + " API"
	}
	return fmt.Sprintf("mockserver: Fault: operation %q does not exist in %s; valid names: %s", e.Operation, where, strings.Join(e.Valid, ", "))
}

// Is reports whether target is sandboxkit.ErrInvalidInput.
func (e *UnknownOperationError) Is(target error) bool { return target == sandboxkit.ErrInvalidInput }
