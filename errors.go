package sandboxkit

import (
	"bytes"
	"cmp"
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
//   - ErrBadRequest: 400, and a 422 whose body reports the request's
//     fields as invalid (a FastAPI validation report, which the lifecycle
//     server sends where the specification and the mock answer 400; its
//     problems are in [APIError.Fields]). So errors.Is(err, ErrBadRequest)
//     means "the request was invalid" whichever of the two a server uses.
//   - ErrUnprocessable: every 422, validation reports included. The
//     sandbox API uses 422 for requests that are well formed but cannot be
//     done now (deleting a non-empty directory, a process wait that timed
//     out); those do not match ErrBadRequest.
//   - ErrUnavailable: 502, 503 and 504. All three mean the service or the
//     gateway in front of it cannot answer right now (a sandbox restarting
//     after an upgrade shows up as any of them), and callers handle them
//     the same way: try again later.
//   - ErrServer: any 5xx, so errors.Is(err, ErrServer) also holds for a
//     502, 503 or 504.
//
// Namespaced codes (the lifecycle server's DOCKER::SANDBOX_NOT_FOUND,
// SANDBOX::…, SNAPSHOT::…, KUBERNETES::…) and the control plane's codes do
// not change the match: a 404 DOCKER::SANDBOX_NOT_FOUND is [ErrNotFound]
// like any 404. Compare [APIError.Code] for finer distinctions.
var (
	ErrBadRequest    = errors.New("sandboxkit: bad request")          // 400; 422 validation reports
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

// maxMessageLength caps APIError.Message.
const maxMessageLength = 512

// maxFields caps APIError.Fields (and the problems named in Message).
const maxFields = 20

// APIError is a final HTTP answer with a status of 400 or more. The
// transport returns it as the request's error, so it reaches callers
// wrapped in *url.Error (and in the generated client's errors) until a
// façade names its operation.
//
// Its fields hold what the server says about the error, never what it
// echoes of the request: the lifecycle server's validation reports repeat
// the request body (environment values, registry passwords) in their
// "input" fields, which are dropped. Configured credentials are replaced
// by [REDACTED] in every field, however the server escaped them.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is the machine-readable error code, when the body has one:
	// the lifecycle server's "code" (e.g. "DOCKER::SANDBOX_NOT_FOUND",
	// "MISSING_API_KEY"), the control plane's ("WORKLOAD_NOT_FOUND" in a
	// gateway envelope, "INVALID_IMAGE" from a create), or else the
	// X-Blaxel-Error-Code header. A numeric "code" (the control plane's
	// generic body repeats the status there) is not copied.
	Code string
	// Message is what the server says about the error: the body's message
	// (or error, or detail) text; for a validation report, each problem
	// as "location: message" (e.g. "body.timeout: Input should be greater
	// than or equal to 60"), joined by "; "; for a body that is not JSON,
	// its text; otherwise the status text. One line, at most 512 bytes.
	Message string
	// Reason refines Code where the control plane gives one, e.g.
	// "CREATION_IN_PROGRESS" on a 409 SANDBOX_ALREADY_EXISTS.
	Reason string
	// Retryable is the server's own verdict on whether sending the same
	// request again can succeed (the control plane gateway's "retryable"),
	// or nil when it gave none. [IsTransient] follows it when set.
	Retryable *bool
	// NotDispatched reports that the gateway says the request never
	// reached the service behind it ("dispatch_state": "not_dispatched",
	// or "safe_to_retry_request": true), so sending it again cannot do
	// anything twice; a create may then send again.
	NotDispatched bool
	// Fields lists the problems of a validation report (a FastAPI 422
	// "detail" list), at most 20; nil for other errors.
	Fields []FieldError
	// RequestID identifies the request in the server's logs: the
	// X-Request-ID header (or, behind Cloudflare, X-Cf-Request-Id or
	// Cf-Ray).
	RequestID string
	// Operation names the SDK call, e.g. "lifecycle.Get"; set by the façade.
	Operation string
	// Retries is how many times the request was retried before this
	// answer.
	Retries int
	// RetryAfter is how long the server asked the client to wait, from
	// this (final) answer's Retry-After header: delta-seconds, or an
	// HTTP-date taken relative to the time the answer was read. It is 0
	// when the header is absent or invalid, or names a time in the past,
	// and at most 24h (a longer wait, such as an HTTP-date in the year
	// 9999, is clamped to 24h). It is the server's value, not capped by
	// [RetryPolicy.RetryAfterCap] (callers that wait on it should cap it
	// themselves). The header is parsed the same way the transport's
	// retries read it, on any status, though servers send it mostly with
	// 429 and 503.
	RetryAfter time.Duration
	// Body is the start of the response body (at most
	// [MaxErrorBodySize] bytes), with credentials replaced by [REDACTED].
	// A validation report is kept without what it echoes of the request
	// (each problem's type, loc and msg only).
	Body []byte
}

// FieldError is one problem of a validation report.
type FieldError struct {
	// Location is where the problem is, dotted, with list indexes in
	// brackets: "body.resourceLimits", "query.pageSize", "path.port",
	// "body.entrypoint[0]", or "body" for the whole body.
	Location string
	// Message is the server's description, e.g. "Field required".
	Message string
	// Type is the server's name for the kind of problem, e.g. "missing"
	// or "greater_than_equal".
	Type string
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
	if e.Reason != "" {
		notes = append(notes, "reason "+e.Reason)
	}
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

// Is matches the sentinel errors by status code (see [ErrBadRequest] and
// [ErrServer]).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest ||
			(e.StatusCode == http.StatusUnprocessableEntity && len(e.Fields) > 0)
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

// requestIDHeaders name the request in the server's logs, best first.
var requestIDHeaders = []string{HeaderRequestID, "X-Cf-Request-Id", "Cf-Ray"}

// newAPIError reads at most MaxErrorBodySize bytes of resp's body, closes
// it and describes the answer. Credentials are scrubbed from every field
// before anything is cut to length: a credential cut in half would no
// longer match and would leak its start.
func newAPIError(resp *http.Response, retries int, sc *scrubber) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodySize+1))
	_ = resp.Body.Close()
	cut := len(body) > MaxErrorBodySize
	body = body[:min(len(body), MaxErrorBodySize)]

	p := parseErrorBody(body)
	e := &APIError{
		StatusCode:    resp.StatusCode,
		Code:          oneLine(sc.scrub(p.code), 64),
		Message:       oneLine(sc.scrub(p.msg), maxMessageLength),
		Reason:        oneLine(sc.scrub(p.reason), 64),
		Retryable:     p.retryable,
		NotDispatched: p.notDispatched,
		Retries:       retries,
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.Code == "" {
		e.Code = oneLine(sc.scrub(resp.Header.Get("X-Blaxel-Error-Code")), 64)
	}
	for _, h := range requestIDHeaders {
		if v := resp.Header.Get(h); v != "" {
			e.RequestID = oneLine(sc.scrub(v), 128)
			break
		}
	}
	for _, f := range p.fields {
		e.Fields = append(e.Fields, FieldError{
			Location: oneLine(sc.scrub(f.Location), 128),
			Message:  oneLine(sc.scrub(f.Message), maxMessageLength),
			Type:     oneLine(sc.scrub(f.Type), 64),
		})
	}
	if d, ok := retryAfter(resp.Header); ok {
		e.RetryAfter = d
	}
	switch {
	case p.body != nil:
		e.Body = []byte(sc.scrub(string(p.body)))
	case len(body) > 0 && cut:
		e.Body = []byte(sc.scrubCut(string(body)))
	case len(body) > 0:
		e.Body = []byte(sc.scrub(string(body)))
	}
	return e
}

// errorBody is what parseErrorBody understood of a body, before scrubbing
// and cutting to length.
type errorBody struct {
	code, msg, reason string
	retryable         *bool
	notDispatched     bool
	fields            []FieldError
	body              []byte // the body to keep instead of the raw one, or nil
}

// parseErrorBody understands the error bodies of the three APIs:
//
//   - {"code", "message"}: the lifecycle server (namespaced codes);
//   - {"detail": [{"type", "loc", "msg", "input", "ctx"}, ...]}: a
//     FastAPI validation report, whose "input" and "ctx" are dropped;
//     {"detail": "Not Found"}: FastAPI's unknown route or method;
//   - {"error": "..."}: the sandbox API, and with a numeric "code" the
//     control plane's generic body;
//   - {"error": {"code", "message", "status", "retryable",
//     "dispatch_state", "safe_to_retry_request", ...}}: the control
//     plane's gateway envelope;
//   - {"code", "message", "reason", "status_code", "step", ...}: the
//     control plane's create and fork errors.
//
// A JSON object without any of these gives no message (the status text
// stands in): its content is not known to be about the error. Any other
// body becomes the message as text.
func parseErrorBody(body []byte) errorBody {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errorBody{}
	}
	if !json.Valid(trimmed) {
		return errorBody{msg: string(trimmed)}
	}
	switch trimmed[0] {
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(trimmed, &obj) != nil {
			return errorBody{}
		}
		return parseErrorObject(obj)
	case '"':
		return errorBody{msg: jsonString(trimmed)}
	}
	return errorBody{}
}

func parseErrorObject(obj map[string]json.RawMessage) errorBody {
	var p errorBody
	if raw := bytes.TrimSpace(obj["detail"]); len(raw) > 0 {
		switch raw[0] {
		case '[':
			return parseValidationReport(raw)
		case '{':
			var inner map[string]json.RawMessage
			if json.Unmarshal(raw, &inner) == nil {
				p = parseErrorObject(inner)
			}
		default:
			p.msg = jsonString(raw)
		}
	}
	if raw := bytes.TrimSpace(obj["error"]); len(raw) > 0 {
		if raw[0] == '{' {
			var inner map[string]json.RawMessage
			if json.Unmarshal(raw, &inner) == nil {
				env := parseErrorObject(inner)
				p.code, p.msg = cmpOr(p.code, env.code), cmpOr(p.msg, env.msg)
				p.reason = cmpOr(p.reason, env.reason)
				p.retryable = cmp.Or(p.retryable, env.retryable)
				p.notDispatched = p.notDispatched || env.notDispatched
			}
		} else if s := jsonString(raw); s != "" {
			// With a "message" beside it, "error" names the kind of error.
			if _, hasMessage := obj["message"]; !hasMessage {
				p.msg = cmpOr(p.msg, s)
			}
		}
	}
	p.code = cmpOr(p.code, jsonString(obj["code"])) // a number is the status again: ignored
	for _, k := range []string{"message", "error_description", "msg", "title", "description"} {
		p.msg = cmpOr(p.msg, jsonString(obj[k]))
	}
	p.reason = cmpOr(p.reason, jsonString(obj["reason"]))
	if b, ok := jsonBool(obj["retryable"]); ok && p.retryable == nil {
		p.retryable = &b
	}
	if jsonString(obj["dispatch_state"]) == "not_dispatched" {
		p.notDispatched = true
	}
	if b, _ := jsonBool(obj["safe_to_retry_request"]); b {
		p.notDispatched = true
	}
	return p
}

// parseValidationReport reads a FastAPI "detail" list. The body kept for
// APIError.Body is rebuilt from each problem's type, loc and msg: "input"
// repeats the request (or the part of it at loc) and "ctx" can quote it.
func parseValidationReport(raw json.RawMessage) errorBody {
	var items []struct {
		Type string            `json:"type"`
		Loc  []json.RawMessage `json:"loc"`
		Msg  string            `json:"msg"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return errorBody{}
	}
	type kept struct {
		Type string            `json:"type,omitempty"`
		Loc  []json.RawMessage `json:"loc,omitempty"`
		Msg  string            `json:"msg,omitempty"`
	}
	var p errorBody
	var msgs []string
	keep := make([]kept, 0, len(items))
	for i, it := range items {
		keep = append(keep, kept(it))
		if i >= maxFields {
			continue
		}
		f := FieldError{Location: location(it.Loc), Message: it.Msg, Type: it.Type}
		p.fields = append(p.fields, f)
		switch {
		case f.Location != "" && f.Message != "":
			msgs = append(msgs, f.Location+": "+f.Message)
		case f.Message != "":
			msgs = append(msgs, f.Message)
		}
	}
	p.msg = strings.Join(msgs, "; ")
	p.body, _ = json.Marshal(struct {
		Detail []kept `json:"detail"`
	}{keep})
	return p
}

// jsonString returns a JSON string's value; "" for anything else (a
// numeric "code" is the HTTP status again, not a code).
func jsonString(raw json.RawMessage) string {
	var s string
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// location joins the parts of a validation problem's "loc": field names
// with dots, list indexes (and JSON decode positions) in brackets, as in
// "body.entrypoint[0]".
func location(parts []json.RawMessage) string {
	var b strings.Builder
	for _, part := range parts {
		if s := jsonString(part); s != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
			continue
		}
		var n json.Number
		if json.Unmarshal(bytes.TrimSpace(part), &n) == nil {
			b.WriteString("[" + n.String() + "]")
		}
	}
	return b.String()
}

// jsonBool returns a JSON boolean's value; ok is false for anything else.
func jsonBool(raw json.RawMessage) (v, ok bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
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

// opError names the operation a non-HTTP error happened in. Its text is
// scrubbed: with the scrubber of the transport error it wraps, if any
// (credentials, URL tokens), else of signed-route tokens only.
type opError struct {
	op  string
	err error
	sc  *scrubber
}

func (e *opError) Error() string {
	return "sandboxkit: " + e.op + ": " + e.sc.scrub(strings.TrimPrefix(e.err.Error(), "sandboxkit: "))
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
//   - Otherwise the result reads "sandboxkit: <op>: <err>" and wraps err,
//     with the configuration's credentials and URL tokens replaced by
//     [REDACTED] when err comes from [Config.HTTPClient]'s transport
//     (whose errors name the URL, and can quote what a server sent).
//     Errors already wrapped by Wrap are returned unchanged.
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	// The wait vocabulary's errors name their operation and carry what was
	// observed; they already wrap the context's error where it matters.
	switch err.(type) {
	case *StateError, *WaitTimeoutError, *OutcomeError:
		return err
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
	oe := &opError{op: op, err: err}
	if se, ok := errors.AsType[*scrubbedError](err); ok {
		oe.sc = se.sc
	}
	return oe
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
// and pollers: an answer the server marked retryable ([APIError.Retryable];
// one it marked not retryable is not transient, whatever its status), or
// else a 408, 429 or 5xx answer other than 501 and 505; an attempt ended
// by the SDK's timeout ([ErrTimeout]); or a network failure (refused or reset connection, DNS failure, I/O timeout,
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
		if apiErr.Retryable != nil {
			return *apiErr.Retryable
		}
		switch c := apiErr.StatusCode; {
		case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
			return true
		case c == http.StatusNotImplemented, c == http.StatusHTTPVersionNotSupported:
			return false
		default:
			return c >= 500 && c <= 599
		}
	}
	if errors.Is(err, ErrInvalidInput) || errors.Is(err, errTooManyRedirects) || errors.Is(err, errRedirectScheme) ||
		errors.Is(err, ErrResponseTooLarge) || errors.Is(err, errUnexpectedUpgrade) || isCertError(err) {
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
