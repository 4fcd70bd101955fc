package sandboxkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAPIErrorFromBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   APIError
	}{
		{
			name: "lifecycle code and message", status: 404,
			header: hdr("X-Request-ID", "req-7", "Content-Type", "application/json"),
			body:   `{"code":"NOT_FOUND","message":"sandbox x not found"}`,
			want:   APIError{StatusCode: 404, Code: "NOT_FOUND", Message: "sandbox x not found", RequestID: "req-7"},
		},
		{
			name: "sandbox API error string", status: 422,
			body: `{"error":"directory not empty"}`,
			want: APIError{StatusCode: 422, Message: "directory not empty"},
		},
		{
			name: "message only", status: 400,
			body: `{"message":"expiresAt must be in the future"}`,
			want: APIError{StatusCode: 400, Message: "expiresAt must be in the future"},
		},
		{
			name: "nested error object", status: 409,
			body: `{"error":{"code":"CONFLICT","message":"sandbox is not running"}}`,
			want: APIError{StatusCode: 409, Code: "CONFLICT", Message: "sandbox is not running"},
		},
		{
			// The control plane's generic body repeats the status as a
			// number: it is no machine-readable code.
			name: "numeric code", status: 403,
			body: `{"code":403,"message":"forbidden here"}`,
			want: APIError{StatusCode: 403, Message: "forbidden here"},
		},
		{
			name: "plain text 404 of an unknown route", status: 404,
			header: hdr("Content-Type", "text/plain; charset=utf-8"),
			body:   "404 page not found\n",
			want:   APIError{StatusCode: 404, Message: "404 page not found"},
		},
		{
			name: "multi-line HTML", status: 502,
			body: "<html>\r\n<body>Bad Gateway</body>\n</html>",
			want: APIError{StatusCode: 502, Message: "<html>  <body>Bad Gateway</body> </html>"},
		},
		{
			name: "FastAPI detail string", status: 405,
			body: `{"detail":"Method Not Allowed"}`,
			want: APIError{StatusCode: 405, Message: "Method Not Allowed"},
		},
		{
			// Unknown JSON is not known to be about the error (it may
			// echo the request): the status text stands in.
			name: "JSON without known fields", status: 400,
			body: `{"echo":{"password":"p"}}`,
			want: APIError{StatusCode: 400, Message: "Bad Request"},
		},
		{
			name: "JSON string", status: 500,
			body: `"database down"`,
			want: APIError{StatusCode: 500, Message: "database down"},
		},
		{
			name: "request id behind Cloudflare", status: 502,
			header: hdr("Cf-Ray", "8f00aa-FRA"),
			want:   APIError{StatusCode: 502, Message: "Bad Gateway", RequestID: "8f00aa-FRA"},
		},
		{
			name: "empty body", status: 401,
			want: APIError{StatusCode: 401, Message: "Unauthorized"},
		},
		{
			name: "white space body", status: 500,
			body: " \n",
			want: APIError{StatusCode: 500, Message: "Internal Server Error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newScript(reply{status: tt.status, header: tt.header, body: tt.body})
			cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(RetryPolicy{}))
			_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x", "")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("err = %T %v, want *APIError", err, err)
			}
			if diff := cmp.Diff(&tt.want, apiErr, cmpopts.IgnoreFields(APIError{}, "Body")); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if string(apiErr.Body) != tt.body {
				t.Errorf("Body = %q, want %q", apiErr.Body, tt.body)
			}
		})
	}

	t.Run("oversized body is capped", func(t *testing.T) {
		t.Parallel()
		s := newScript(reply{status: 500, body: big})
		cfg := mockConfig(t, Lifecycle, mockTransport(s))
		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x", "")
		apiErr, ok := errors.AsType[*APIError](err)
		if !ok {
			t.Fatalf("err = %v, want *APIError", err)
		}
		if len(apiErr.Body) != MaxErrorBodySize {
			t.Errorf("len(Body) = %d, want %d", len(apiErr.Body), MaxErrorBodySize)
		}
		if len(apiErr.Message) > maxMessageLength+len("…") || !strings.HasSuffix(apiErr.Message, "…") {
			t.Errorf("Message has %d bytes, want at most %d and a cut mark", len(apiErr.Message), maxMessageLength)
		}
	})
}

// closeTracker records whether a response body was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestErrorBodyIsClosed(t *testing.T) {
	t.Parallel()
	body := &closeTracker{Reader: strings.NewReader(`{"error":"boom"}`)}
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 400, Header: http.Header{}, Body: body, Request: req}, nil
	})
	cfg := mockConfig(t, Sandbox, rt)
	_, err := send(t.Context(), cfg, http.MethodGet, "/health", "")
	if !errors.Is(err, ErrBadRequest) || !body.closed {
		t.Errorf("err = %v, closed = %v; want a 400 and a closed body", err, body.closed)
	}
}

func TestAPIErrorIs(t *testing.T) {
	t.Parallel()
	sentinels := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict,
		ErrUnprocessable, ErrRateLimited, ErrUnavailable, ErrServer}
	tests := []struct {
		status int
		want   []error
	}{
		{400, []error{ErrBadRequest}},
		{401, []error{ErrUnauthorized}},
		{403, []error{ErrForbidden}},
		{404, []error{ErrNotFound}},
		{409, []error{ErrConflict}},
		{410, nil},
		{422, []error{ErrUnprocessable}},
		{429, []error{ErrRateLimited}},
		{500, []error{ErrServer}},
		{501, []error{ErrServer}},
		{502, []error{ErrUnavailable, ErrServer}},
		{503, []error{ErrUnavailable, ErrServer}},
		{504, []error{ErrUnavailable, ErrServer}},
	}
	for _, tt := range tests {
		err := fmt.Errorf("outer: %w", &APIError{StatusCode: tt.status})
		for _, s := range sentinels {
			want := false
			for _, w := range tt.want {
				want = want || w == s
			}
			if got := errors.Is(err, s); got != want {
				t.Errorf("errors.Is(%d, %v) = %v, want %v", tt.status, s, got, want)
			}
		}
		if errors.Is(err, ErrInvalidInput) {
			t.Errorf("errors.Is(%d, ErrInvalidInput) = true", tt.status)
		}
	}
	// A 422 validation report is a bad request too; the sandbox API's
	// other 422s are not.
	report := &APIError{StatusCode: 422, Fields: []FieldError{{Location: "body.timeout", Message: "too small"}}}
	if !errors.Is(report, ErrBadRequest) || !errors.Is(report, ErrUnprocessable) {
		t.Errorf("validation report: ErrBadRequest %v, ErrUnprocessable %v; want both", errors.Is(report, ErrBadRequest), errors.Is(report, ErrUnprocessable))
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	apiErr := &APIError{StatusCode: 404, Code: "NOT_FOUND", Message: "sandbox x not found", RequestID: "r1"}
	// How the APIError reaches a façade: inside *url.Error from net/http,
	// inside the generated client's wrapping.
	fromOgen := fmt.Errorf("decode response: %w",
		&url.Error{Op: "Get", URL: "http://lifecycle.test/v1/sandboxes/x", Err: apiErr})

	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		if err := wrap(t.Context(), "lifecycle.Get", nil); err != nil {
			t.Errorf("Wrap(nil) = %v", err)
		}
	})
	t.Run("APIError is unwrapped and named", func(t *testing.T) {
		t.Parallel()
		err := wrap(t.Context(), "lifecycle.Get", fromOgen)
		want := "sandboxkit: lifecycle.Get: 404 NOT_FOUND: sandbox x not found (request id r1)"
		if err.Error() != want {
			t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
		}
		got, ok := errors.AsType[*APIError](err)
		if !ok || got.Operation != "lifecycle.Get" || !errors.Is(err, ErrNotFound) {
			t.Errorf("Wrap = %#v", err)
		}
		if apiErr.Operation != "" {
			t.Errorf("Wrap changed the original APIError")
		}
		if again := wrap(t.Context(), "lifecycle.WaitRunning", err); again != err {
			t.Errorf("a second Wrap changed the error: %v", again)
		}
	})
	t.Run("context error wins", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := wrap(ctx, "lifecycle.Get", fromOgen)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotFound) {
			t.Errorf("Wrap = %v, want context.Canceled only", err)
		}
		if err.Error() != "sandboxkit: lifecycle.Get: context canceled" {
			t.Errorf("Error() = %q", err.Error())
		}
	})
	t.Run("deadline and cause", func(t *testing.T) {
		t.Parallel()
		cause := errors.New("sandbox never became ready")
		ctx, cancel := context.WithTimeoutCause(t.Context(), 0, cause)
		defer cancel()
		err := wrap(ctx, "lifecycle.Wait", errors.New("whatever"))
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cause) {
			t.Errorf("Wrap = %v, want DeadlineExceeded and the cause", err)
		}
	})
	t.Run("other errors get the operation", func(t *testing.T) {
		t.Parallel()
		err := wrap(t.Context(), "sandbox.Health", dialErr)
		if err.Error() != "sandboxkit: sandbox.Health: dial tcp: connection refused" {
			t.Errorf("Error() = %q", err.Error())
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Wrap lost the cause")
		}
		if again := wrap(t.Context(), "outer", err); again != err {
			t.Errorf("a second Wrap changed the error: %v", again)
		}
	})
	t.Run("no doubled prefix", func(t *testing.T) {
		t.Parallel()
		err := wrap(t.Context(), "lifecycle.Get", validateID("sandbox id", "a/b"))
		if err.Error() != `sandboxkit: lifecycle.Get: invalid sandbox id "a/b": contains '/'` {
			t.Errorf("Error() = %q", err.Error())
		}
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Wrap lost ErrInvalidInput")
		}
	})
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	if got := StatusCode(fmt.Errorf("x: %w", &APIError{StatusCode: 409})); got != 409 {
		t.Errorf("StatusCode = %d, want 409", got)
	}
	if got := StatusCode(io.EOF); got != 0 {
		t.Errorf("StatusCode(EOF) = %d, want 0", got)
	}
	if got := StatusCode(nil); got != 0 {
		t.Errorf("StatusCode(nil) = %d, want 0", got)
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsTransient(t *testing.T) {
	t.Parallel()
	wrapURL := func(err error) error { return &url.Error{Op: "Get", URL: "http://x", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", &APIError{StatusCode: 500}, true},
		{"502", &APIError{StatusCode: 502}, true},
		{"503 wrapped", fmt.Errorf("op: %w", &APIError{StatusCode: 503}), true},
		{"429", &APIError{StatusCode: 429}, true},
		{"408", &APIError{StatusCode: 408}, true},
		{"501", &APIError{StatusCode: 501}, false},
		{"404", &APIError{StatusCode: 404}, false},
		{"409", &APIError{StatusCode: 409}, false},
		{"connection refused", wrapURL(dialErr), true},
		{"connection reset", wrapURL(resetErr), true},
		{"DNS", wrapURL(dnsErr), true},
		{"EOF", wrapURL(io.EOF), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"I/O timeout", wrapURL(timeoutErr{}), true},
		{"canceled", context.Canceled, false},
		{"deadline", wrapURL(context.DeadlineExceeded), false},
		{"canceled around a 503", fmt.Errorf("%w: %w", context.Canceled, &APIError{StatusCode: 503}), false},
		{"validation", &ValidationError{Field: "id"}, false},
		{"redirects", wrapURL(errTooManyRedirects), false},
		{"certificate", wrapURL(&net.OpError{Op: "remote error", Err: x509UnknownAuthority()}), false},
		{"unknown", errors.New("something"), false},
		{"url error around unknown", wrapURL(errors.New("unsupported protocol scheme")), false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestTruncateKeepsRunes(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", 100) // 2 bytes each
	got := truncate(s, 51)
	if !utf8.ValidString(got) || len(got) > 51+len("…") {
		t.Errorf("truncate = %q (%d bytes)", got, len(got))
	}
}
