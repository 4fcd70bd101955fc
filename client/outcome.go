package client

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// Outcome says what a failed request may have done on the server. Code that
// must not repeat a non-idempotent request blindly (create, pause, exec…)
// uses it to decide between sending again, reading state first, or giving
// up.
type Outcome int

const (
	// Rejected: the server answered and did not act (a 4xx other than 408
	// and 429), or the error is not one of transport or availability.
	// Sending the same request again gets the same answer.
	Rejected Outcome = iota
	// NotSent: the request was provably not processed — the connection
	// could not be made (dial or DNS failure), the server answered 429, or
	// a gateway said it never passed the request on
	// ([APIError.NotDispatched]).
	// Sending it again is safe.
	NotSent
	// Ambiguous: the request may have been processed — the connection was
	// lost after sending, a context or timeout cut it short, or the server
	// answered 408 or a 5xx. Read the resource's state before sending again.
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

// ClassifyFailure sorts the error of one failed request (as returned by a
// client built on [Config.HTTPClient]) into an [Outcome]. A nil error is
// Rejected: there is nothing to recover.
func ClassifyFailure(err error) Outcome {
	if err == nil {
		return Rejected
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests, apiErr.NotDispatched:
			return NotSent
		case IsTransient(err):
			return Ambiguous
		}
		return Rejected
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Ambiguous
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return NotSent
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return NotSent
	}
	if IsTransient(err) {
		return Ambiguous
	}
	return Rejected
}
