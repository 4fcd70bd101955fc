// Package glue is the plumbing the façade packages (lifecycle, sandbox,
// controlplane) share with the module root package sandboxkit and that
// users never call: error wrapping with the operation's name, argument
// validation, failure classification and the context marks the transport
// reads.
//
// The functions that need the root package's types (Wrap, the validators,
// ClassifyFailure) are variables that package sandboxkit sets when it is
// initialised; every package that uses glue imports sandboxkit too, so
// they are always set before a façade runs.
package glue

import (
	"context"
	"strings"
)

// Outcome says what a failed request may have done on the server. Code
// that creates resources uses it to decide between sending the request
// again, reading the resource's state, and giving up.
type Outcome int

const (
	// Rejected: the server answered and did not act (a 4xx other than 408
	// and 429), or the error is not one of transport or availability.
	// Sending the same request again gets the same answer.
	Rejected Outcome = iota
	// NotSent: the request was provably not processed: the connection
	// could not be made, the server answered 429, or a gateway said it
	// never passed the request on. Sending it again is safe.
	NotSent
	// Ambiguous: the request may have been processed: the connection was
	// lost after sending, a context or timeout cut it short, or the server
	// answered 408 or a 5xx. Read the resource's state before sending
	// again.
	Ambiguous
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case Rejected:
		return "rejected"
	case NotSent:
		return "not sent"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Set by package sandboxkit's init.
var (
	// Wrap names the operation op in err, scrubs credentials from it and
	// turns a context error into the caller's context error.
	Wrap func(ctx context.Context, op string, err error) error
	// ValidateID checks an identifier that becomes one URL path segment.
	ValidateID func(field, id string) error
	// ValidateName checks a name sent in a request body.
	ValidateName func(field, name string) error
	// ValidatePath checks a filesystem path inside a sandbox.
	ValidatePath func(field, p string) error
	// ValidatePort checks a TCP port number.
	ValidatePort func(port int) error
	// ClassifyFailure turns an error of a request into an [Outcome].
	ClassifyFailure func(err error) Outcome
)

// HasDotDotSegment reports whether p, split at "/" and "\\", has a ".."
// segment.
func HasDotDotSegment(p string) bool {
	for seg := range strings.FieldsFuncSeq(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return true
		}
	}
	return false
}

type (
	noRetriesKey struct{}
	streamingKey struct{}
)

// WithoutRetries returns a context whose requests the transport sends
// once, for callers that run their own retry loop.
func WithoutRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetriesKey{}, true)
}

// RetriesDisabled reports whether ctx came from [WithoutRetries].
func RetriesDisabled(ctx context.Context) bool {
	v, _ := ctx.Value(noRetriesKey{}).(bool)
	return v
}

// Streaming marks a context whose request opens a stream: the transport
// applies the idle timeout instead of the per-attempt timeout and does not
// cap the answer's size.
func Streaming(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamingKey{}, true)
}

// IsStreaming reports whether ctx came from [Streaming].
func IsStreaming(ctx context.Context) bool {
	v, _ := ctx.Value(streamingKey{}).(bool)
	return v
}
