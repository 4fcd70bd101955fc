package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Sentinel errors matched by [*APIError] through errors.Is. Each matches
// by status code:
//
//   - ErrBadRequest: 400 only. A 422 is [ErrUnprocessable]: the sandbox API
//     uses it for requests that are well formed but cannot be done now
//     (deleting a non-empty directory, a process wait that timed out).
//   - ErrUnavailable: 502, 503 and 504. All three mean the service or the
//     gateway in front of it cannot answer right now (a sandbox restarting
//     after an upgrade shows up as any of them), and callers handle them
//     the same way: try again later.
//   - ErrServer: any 5xx, so errors.Is(err, ErrServer) also holds for a
//     502, 503 or 504.
var (
	ErrBadRequest    = errors.New("sandboxkit: bad request")          // 400
	ErrUnauthorized  = errors.New("sandboxkit: unauthorized")         // 401
	ErrForbidden     = errors.New("sandboxkit: forbidden")            // 403
	ErrNotFound      = errors.New("sandboxkit: not found")            // 404
	ErrConflict      = errors.New("sandboxkit: conflict")             // 409
	ErrUnprocessable = errors.New("sandboxkit: unprocessable entity") // 422
	ErrRateLimited   = errors.New("sandboxkit: rate limited")         // 429
	ErrUnavailable   = errors.New("sandboxkit: service unavailable")  // 502, 503, 504
	ErrServer        = errors.New("sandboxkit: server error")         // 5xx
)

// MaxErrorBodySize is how much of an error response body is read; the rest
// is discarded.
const MaxErrorBodySize = 64 << 10

// maxMessageLength caps APIError.Message when it comes from a body that is
// not a recognised JSON error.
const maxMessageLength = 512

// APIError is a final HTTP answer with a status of 400 or more. The
// transport returns it as the request's error, so it reaches callers
// wrapped in *url.Error (and in the generated client's errors) until a
// façade passes it through [Wrap].
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is the machine-readable code of a lifecycle API error body
	// ({"code", "message"}); empty for other bodies.
	Code string
	// Message is the server's message, or the body text if it was not a
	// recognised JSON error, or the status text if the body was empty.
	// Configured credentials are replaced by [REDACTED].
	Message string
	// RequestID is the X-Request-ID response header.
	RequestID string
	// Operation names the SDK call, e.g. "lifecycle.Get"; set by [Wrap].
	Operation string
	// Retries is how many times the request was retried before this
	// answer.
	Retries int
	// RetryAfter is how long the server asked the client to wait, from
	// this (final) answer's Retry-After header: delta-seconds, or an
	// HTTP-date taken relative to the time the answer was read. It is 0
	// when the header is absent or invalid, or names a time in the past.
	// It is the server's value, not capped by [RetryPolicy.RetryAfterCap]
	// (callers that wait on it should cap it themselves); the parser only
	// clamps it to 24h so that it cannot overflow. The header is parsed
	// the same way the transport's retries read it, on any status, though
	// servers send it mostly with 429 and 503.
	RetryAfter time.Duration
	// Body is the start of the response body (at most
	// [MaxErrorBodySize] bytes), with credentials replaced by [REDACTED].
	Body []byte
}

// Error returns e.g.
// "sandboxkit: lifecycle.Get: 404 NOT_FOUND: sandbox x not found (request id r1)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("sandboxkit: ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	var notes []string
	if e.RequestID != "" {
		notes = append(notes, "request id "+e.RequestID)
	}
	if e.Retries > 0 {
		notes = append(notes, fmt.Sprintf("after %d retries", e.Retries))
	}
	if len(notes) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(notes, ", "))
		b.WriteByte(')')
	}
	return b.String()
}

// Is matches the sentinel errors by status code (see [ErrServer]).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnprocessable:
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.StatusCode == http.StatusBadGateway ||
			e.StatusCode == http.StatusServiceUnavailable ||
			e.StatusCode == http.StatusGatewayTimeout
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// newAPIError reads at most MaxErrorBodySize bytes of resp's body, closes
// it and describes the answer. Occurrences of cred are scrubbed from every
// field, before anything is cut to length: a credential cut in half would
// no longer match and would leak its start.
func newAPIError(resp *http.Response, retries int, cred *secret) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodySize+1))
	_ = resp.Body.Close()
	cut := len(body) > MaxErrorBodySize
	body = body[:min(len(body), MaxErrorBodySize)]

	code, msg := parseErrorBody(body, cred.scrub)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e := &APIError{
		StatusCode: resp.StatusCode,
		Code:       code,
		Message:    msg,
		RequestID:  cred.scrub(resp.Header.Get(HeaderRequestID)),
		Retries:    retries,
	}
	if d, ok := retryAfter(resp.Header); ok {
		e.RetryAfter = d
	}
	if len(body) > 0 {
		text := cred.scrub(string(body))
		if cut {
			text = cred.scrubTail(text)
		}
		e.Body = []byte(text)
	}
	return e
}

// parseErrorBody understands {"code","message"} (lifecycle API),
// {"error": "..."} (sandbox API), {"error": {"code","message"}} and
// {"message": "..."}. Anything else becomes the message as text. clean
// (the credential scrubber) runs on both before they are cut to length.
func parseErrorBody(body []byte, clean func(string) string) (code, msg string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return "", ""
	}
	if trimmed[0] == '{' {
		var v struct {
			Code    json.RawMessage `json:"code"`
			Message json.RawMessage `json:"message"`
			Error   json.RawMessage `json:"error"`
		}
		if json.Unmarshal(trimmed, &v) == nil {
			code, msg = jsonScalar(v.Code), jsonScalar(v.Message)
			if nested := bytes.TrimSpace(v.Error); len(nested) > 0 && nested[0] == '{' {
				ncode, nmsg := parseErrorBody(nested, clean)
				code, msg = cmpOr(code, ncode), cmpOr(msg, nmsg)
			} else if msg == "" {
				msg = jsonScalar(v.Error)
			}
			if code != "" || msg != "" {
				return oneLine(clean(code), 64), oneLine(clean(msg), maxMessageLength)
			}
		}
	}
	return "", oneLine(clean(string(trimmed)), maxMessageLength)
}

// jsonScalar returns a JSON string's value or a number's text.
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// oneLine turns control characters (newlines included) into spaces, trims
// and truncates s, so a message fits on one line of an error string.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), n)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// opError names the operation a non-HTTP error happened in.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "sandboxkit: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "sandboxkit: ")
}

func (e *opError) Unwrap() error { return e.err }

// Wrap names the operation op (e.g. "lifecycle.Get") in err; façades call
// it on every error they return.
//
//   - nil stays nil.
//   - If ctx is done, the result wraps ctx.Err() (and the context's cause,
//     if one was given), whatever err was: the caller's deadline or
//     cancellation is the reason the call failed.
//   - If err holds an [*APIError] (however deeply wrapped by net/http or
//     generated code), the result is a copy of it with Operation set, so its
//     message carries neither URLs nor decoding noise. An APIError that
//     already names an operation is returned as it is.
//   - Otherwise the result reads "sandboxkit: <op>: <err>" and wraps err.
//     Errors already wrapped by Wrap are returned unchanged.
func Wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		var oe *opError
		if errors.As(err, &oe) && errors.Is(oe.err, ctxErr) {
			return err
		}
		if cause := context.Cause(ctx); cause != nil && cause != ctxErr {
			return &opError{op: op, err: fmt.Errorf("%w: %w", ctxErr, cause)}
		}
		return &opError{op: op, err: ctxErr}
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		if apiErr.Operation != "" {
			return apiErr
		}
		cp := *apiErr
		cp.Operation = op
		return &cp
	}
	if _, ok := errors.AsType[*opError](err); ok {
		return err
	}
	return &opError{op: op, err: err}
}

// StatusCode returns the HTTP status of the [*APIError] in err, or 0 if
// there is none.
func StatusCode(err error) int {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.StatusCode
	}
	return 0
}

// IsTransient reports whether err is worth retrying later, for waiters
// and pollers: a 408, 429 or 5xx answer other than 501 and 505, or a
// network failure (refused or reset connection, DNS failure, I/O timeout,
// connection closed mid-answer). Context errors are never transient: the
// caller's deadline or cancellation decides. Note that an http.Client
// Timeout reports as context.DeadlineExceeded and is therefore not
// transient either. Validation errors, TLS certificate errors and too many
// redirects are not transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		switch c := apiErr.StatusCode; {
		case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
			return true
		case c == http.StatusNotImplemented, c == http.StatusHTTPVersionNotSupported:
			return false
		default:
			return c >= 500 && c <= 599
		}
	}
	if errors.Is(err, ErrInvalidInput) || errors.Is(err, errTooManyRedirects) || isCertError(err) {
		return false
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// isCertError reports a TLS certificate that failed verification, which
// no retry will fix.
func isCertError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}
