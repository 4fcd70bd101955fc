package sandboxkit

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// classifyFailure sorts the error of one failed request (as returned by a
// client built on [Config.HTTPClient]) into an [glue.Outcome]. A nil error is
// Rejected: there is nothing to recover.
func classifyFailure(err error) glue.Outcome {
	if err == nil {
		return glue.Rejected
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests, apiErr.NotDispatched:
			return glue.NotSent
		case IsTransient(err):
			return glue.Ambiguous
		}
		return glue.Rejected
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return glue.Ambiguous
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return glue.NotSent
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return glue.NotSent
	}
	if IsTransient(err) {
		return glue.Ambiguous
	}
	return glue.Rejected
}
