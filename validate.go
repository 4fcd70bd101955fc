package sandboxkit

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// ErrInvalidInput is matched by every [*ValidationError], so
// errors.Is(err, ErrInvalidInput) tells a rejected argument or option
// from a failed request.
var ErrInvalidInput = errors.New("sandboxkit: invalid input")

// MaxIDLength is the longest identifier validateID accepts, the length
// limit of a DNS name.
const MaxIDLength = 253

// maxQuotedValue is how many bytes of a rejected value an error message
// shows.
const maxQuotedValue = 64

// ValidationError reports an argument or option that was rejected before
// any request was sent.
type ValidationError struct {
	// Field names the argument or option, e.g. "sandbox id" or "base URL".
	Field string
	// Value is the rejected value; empty when it must not be shown (a
	// credential) or was empty.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns e.g. `sandboxkit: invalid sandbox id "a/b": contains "/"`.
// The value is quoted and cut to a few dozen bytes.
func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("sandboxkit: invalid %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("sandboxkit: invalid %s %q: %s", e.Field, truncate(e.Value, maxQuotedValue), e.Reason)
}

// Is reports whether target is [ErrInvalidInput].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

// ValidateID checks an identifier that will become one URL path segment
// (a sandbox id or name, a process id, a snapshot id). It must be valid
// UTF-8, 1 to [MaxIDLength] bytes long, must not be "." or "..", must not
// start or end with white space, and must not contain '/', '\', '?', '#',
// '%' or control characters (NUL included). field names the argument in
// the error, e.g. "sandbox id".
func validateID(field, id string) error {
	reject := func(reason string) error {
		return &ValidationError{Field: field, Value: id, Reason: reason}
	}
	switch {
	case id == "":
		return reject("must not be empty")
	case len(id) > MaxIDLength:
		return reject(fmt.Sprintf("longer than %d bytes", MaxIDLength))
	case !utf8.ValidString(id):
		return reject("not valid UTF-8")
	case id == "." || id == "..":
		return reject("must not be a dot segment")
	}
	if r, _ := utf8.DecodeRuneInString(id); unicode.IsSpace(r) {
		return reject("starts with white space")
	}
	if r, _ := utf8.DecodeLastRuneInString(id); unicode.IsSpace(r) {
		return reject("ends with white space")
	}
	if i := strings.IndexAny(id, `/\?#%`); i >= 0 {
		return reject(fmt.Sprintf("contains %q", id[i]))
	}
	if strings.ContainsFunc(id, unicode.IsControl) {
		return reject("contains a control character")
	}
	return nil
}

// ValidatePort checks a TCP port number: 1 to 65535.
func validatePort(port int) error {
	if port < 1 || port > 65535 {
		return &ValidationError{Field: "port", Value: fmt.Sprint(port), Reason: "must be between 1 and 65535"}
	}
	return nil
}

// ValidateName checks a name sent in a request body (a process name, a
// label, an environment variable name): it must not be empty or contain
// control characters.
func validateName(field, name string) error {
	switch {
	case name == "":
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case strings.ContainsFunc(name, unicode.IsControl):
		return &ValidationError{Field: field, Value: name, Reason: "contains a control character"}
	}
	return nil
}

// ValidatePath checks a filesystem path inside a sandbox: it must not be
// empty, contain a NUL byte, or have a ".." segment (between "/" or "\\"
// separators). The path travels in the URL, where a ".." segment is not
// a file name but an instruction to any proxy that normalises paths to
// climb out of the filesystem route, possibly into another sandbox's; give
// a cleaned path instead (path.Clean). Other characters are the server's
// business.
func validatePath(field, p string) error {
	switch {
	case p == "":
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case strings.IndexByte(p, 0) >= 0:
		return &ValidationError{Field: field, Value: p, Reason: "contains a NUL byte"}
	case glue.HasDotDotSegment(p):
		return &ValidationError{Field: field, Value: p, Reason: `has a ".." segment; clean the path first`}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
