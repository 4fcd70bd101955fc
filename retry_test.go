package sandboxkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// mockTransport returns a per-test httpmock transport answering every
// request from s.
func mockTransport(s *script) *httpmock.MockTransport {
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(s.respond)
	return mt
}

var (
	dialErr  = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	resetErr = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	dnsErr   = &net.DNSError{Err: "no such host", Name: "lifecycle.test", IsNotFound: true}
)

func TestRetryGETAfterTwo503s(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{status: 503}, reply{status: 503}, reply{status: 200, body: `{"id":"x"}`})
		cfg := mockConfig(t, Lifecycle, mockTransport(s))

		start := time.Now()
		body, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x", "")
		elapsed := time.Since(start)

		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if body != `{"id":"x"}` {
			t.Errorf("body = %q", body)
		}
		if got := s.calls(); got != 3 {
			t.Errorf("server saw %d calls, want 3", got)
		}
		// Two backoff waits: [100ms, 200ms] then [200ms, 400ms].
		if elapsed < 300*time.Millisecond || elapsed > 600*time.Millisecond {
			t.Errorf("waited %v, want between 300ms and 600ms", elapsed)
		}
	})
}

func TestRetryRulesByMethod(t *testing.T) {
	t.Parallel()
	ok := reply{status: 200, body: "ok"}
	tests := []struct {
		name      string
		method    string
		header    http.Header
		first     reply
		wantCalls int
	}{
		{"GET connection refused", http.MethodGet, nil, reply{err: dialErr}, 2},
		{"GET connection reset", http.MethodGet, nil, reply{err: resetErr}, 2},
		{"GET 429", http.MethodGet, nil, reply{status: 429}, 2},
		{"GET 502", http.MethodGet, nil, reply{status: 502}, 2},
		{"GET 503", http.MethodGet, nil, reply{status: 503}, 2},
		{"GET 504", http.MethodGet, nil, reply{status: 504}, 2},
		// The lifecycle server answers a List 500 DOCKER::SANDBOX_QUERY_FAILED
		// while sandboxes are deleted: a GET is safe to send again.
		{"GET 500", http.MethodGet, nil, reply{status: 500, body: `{"code":"DOCKER::SANDBOX_QUERY_FAILED","message":"Failed to query sandboxes"}`}, 2},
		{"PUT 500", http.MethodPut, nil, reply{status: 500}, 2},
		{"DELETE 500", http.MethodDelete, nil, reply{status: 500}, 2},
		{"HEAD 500", http.MethodHead, nil, reply{status: 500}, 2},
		{"OPTIONS 500", http.MethodOptions, nil, reply{status: 500}, 2},
		{"GET 501 not retried", http.MethodGet, nil, reply{status: 501}, 1},
		{"GET 404 not retried", http.MethodGet, nil, reply{status: 404}, 1},
		{"GET 409 not retried", http.MethodGet, nil, reply{status: 409}, 1},
		{"HEAD 503", http.MethodHead, nil, reply{status: 503}, 2},
		{"PUT 504", http.MethodPut, nil, reply{status: 504}, 2},
		{"DELETE connection reset", http.MethodDelete, nil, reply{err: resetErr}, 2},
		{"OPTIONS 502", http.MethodOptions, nil, reply{status: 502}, 2},

		{"POST 500 reached the server", http.MethodPost, nil, reply{status: 500}, 1},
		{"POST 502 may have reached the server", http.MethodPost, nil, reply{status: 502}, 1},
		{"POST 504 may have reached the server", http.MethodPost, nil, reply{status: 504}, 1},
		{"POST connection reset after sending", http.MethodPost, nil, reply{err: resetErr}, 1},
		{"POST EOF after sending", http.MethodPost, nil, reply{err: io.ErrUnexpectedEOF}, 1},
		{"POST dial error", http.MethodPost, nil, reply{err: dialErr}, 2},
		{"POST DNS error", http.MethodPost, nil, reply{err: dnsErr}, 2},
		{"POST 503", http.MethodPost, nil, reply{status: 503}, 2},
		{"POST 429", http.MethodPost, nil, reply{status: 429}, 2},
		{"PATCH 502", http.MethodPatch, nil, reply{status: 502}, 1},
		{"PATCH 500", http.MethodPatch, nil, reply{status: 500}, 1},
		{"PATCH 429", http.MethodPatch, nil, reply{status: 429}, 2},
		{"PATCH dial error", http.MethodPatch, nil, reply{err: dialErr}, 2},
		{"POST with Idempotency-Key 502", http.MethodPost, hdr("Idempotency-Key", "k1"), reply{status: 502}, 2},
		{"POST with Idempotency-Key reset", http.MethodPost, hdr("Idempotency-Key", "k1"), reply{err: resetErr}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newScript(tt.first, ok)
				cfg := mockConfig(t, Lifecycle, mockTransport(s))
				var body io.Reader
				if tt.method == http.MethodPost || tt.method == http.MethodPatch || tt.method == http.MethodPut {
					body = strings.NewReader(`{"a":1}`)
				}
				req, err := http.NewRequestWithContext(t.Context(), tt.method, lifecycleBase+"/sandboxes", body)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.header {
					req.Header[k] = v
				}
				resp, err := cfg.HTTPClient().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if got := s.calls(); got != tt.wantCalls {
					t.Fatalf("server saw %d calls, want %d (err: %v)", got, tt.wantCalls, err)
				}
				if tt.wantCalls == 2 && err != nil {
					t.Errorf("retried call failed: %v", err)
				}
				if tt.wantCalls == 1 && err == nil {
					t.Errorf("call without retry succeeded; want the first outcome as an error")
				}
				if tt.wantCalls == 1 && tt.first.err == nil {
					if got := StatusCode(err); got != tt.first.status {
						t.Errorf("StatusCode(err) = %d, want %d (err: %v)", got, tt.first.status, err)
					}
				}
			})
		})
	}
}

// tracingTransport plays a transport that reports httptrace events: it
// announces a connection request, optionally a connection, then fails.
type tracingTransport struct {
	gotConn bool
	err     error
	calls   int
}

func (tr *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr.calls++
	trace := httptrace.ContextClientTrace(req.Context())
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(req.URL.Host)
	}
	if tr.gotConn && trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{})
	}
	if tr.calls > 1 {
		return httpmock.NewStringResponse(200, "ok"), nil
	}
	return nil, tr.err
}

func TestRetryPOSTUsesConnectionTrace(t *testing.T) {
	t.Parallel()
	handshake := errors.New("tls: handshake failure")
	tests := []struct {
		name      string
		gotConn   bool
		wantCalls int
	}{
		{"no connection obtained: never sent, retried", false, 2},
		{"connection obtained: may have been sent, not retried", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tr := &tracingTransport{gotConn: tt.gotConn, err: handshake}
				cfg := mockConfig(t, Lifecycle, tr)
				_, err := send(t.Context(), cfg, http.MethodPost, "/sandboxes", `{"a":1}`)
				if tr.calls != tt.wantCalls {
					t.Fatalf("transport saw %d calls, want %d (err: %v)", tr.calls, tt.wantCalls, err)
				}
				if tt.wantCalls == 1 && !errors.Is(err, handshake) {
					t.Errorf("err = %v, want the handshake error", err)
				}
			})
		})
	}
}

func TestRetryReplaysBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{status: 503}, reply{err: dialErr}, reply{status: 201, body: "made"})
		cfg := mockConfig(t, Lifecycle, mockTransport(s))
		const payload = `{"image":"python:3.12","timeout":600}`

		if _, err := send(t.Context(), cfg, http.MethodPost, "/sandboxes", payload); err != nil {
			t.Fatalf("POST: %v", err)
		}
		if s.calls() != 3 {
			t.Fatalf("server saw %d calls, want 3", s.calls())
		}
		for i, b := range s.bodies {
			if b != payload {
				t.Errorf("attempt %d sent body %q, want %q", i+1, b, payload)
			}
			if cl := s.request(i).ContentLength; cl != int64(len(payload)) {
				t.Errorf("attempt %d Content-Length = %d, want %d", i+1, cl, len(payload))
			}
		}
	})
}

func TestRetrySkipsBodyThatCannotBeReplayed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{status: 503}, reply{status: 200})
		cfg := mockConfig(t, Lifecycle, mockTransport(s))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, lifecycleBase+"/upload",
			io.NopCloser(strings.NewReader("streamed")))
		if err != nil {
			t.Fatal(err)
		}
		if req.GetBody != nil {
			t.Fatal("test needs a request without GetBody")
		}
		_, err = cfg.HTTPClient().Do(req)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want the 503", err)
		}
		if s.calls() != 1 || s.bodies[0] != "streamed" {
			t.Errorf("calls = %d, bodies = %q; want one call with the stream", s.calls(), s.bodies)
		}
	})
}

func TestRetryDisabled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{status: 503}, reply{status: 200})
		cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(RetryPolicy{}))
		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
		if !errors.Is(err, ErrUnavailable) || s.calls() != 1 {
			t.Errorf("err = %v after %d calls; want the 503 after 1 call", err, s.calls())
		}
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		after    func() string // evaluated inside the bubble
		policy   RetryPolicy
		min, max time.Duration
	}{
		{"429 delta-seconds", 429, func() string { return "2" }, DefaultRetryPolicy(), 2 * time.Second, 2500 * time.Millisecond},
		{"503 delta-seconds", 503, func() string { return "1" }, DefaultRetryPolicy(), time.Second, 1500 * time.Millisecond},
		{"429 HTTP-date", 429, func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, DefaultRetryPolicy(), 3 * time.Second, 3500 * time.Millisecond},
		{"past HTTP-date means now", 429, func() string { return time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat) }, DefaultRetryPolicy(), 0, 0},
		{"3600 capped at RetryAfterCap", 429, func() string { return "3600" }, RetryPolicy{MaxRetries: 1, RetryAfterCap: 10 * time.Second}, 10 * time.Second, 10500 * time.Millisecond},
		{"3600 capped at default cap", 503, func() string { return "3600" }, DefaultRetryPolicy(), 30 * time.Second, 30500 * time.Millisecond},
		{"unparsable falls back to backoff", 429, func() string { return "soon" }, DefaultRetryPolicy(), 100 * time.Millisecond, 200 * time.Millisecond},
		{"ignored on 502", 502, func() string { return "20" }, DefaultRetryPolicy(), 100 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newScript(reply{status: tt.status, header: hdr("Retry-After", tt.after())}, reply{status: 200})
				cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(tt.policy))

				start := time.Now()
				_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
				waited := time.Since(start)

				if err != nil || s.calls() != 2 {
					t.Fatalf("err = %v after %d calls; want success after 2", err, s.calls())
				}
				if waited < tt.min || waited > tt.max {
					t.Errorf("waited %v, want between %v and %v", waited, tt.min, tt.max)
				}
			})
		})
	}
}

func TestRetryStopsWhenContextCancelled(t *testing.T) {
	t.Parallel()
	t.Run("during the wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := newScript(reply{status: 503, header: hdr("Retry-After", "10")})
			cfg := mockConfig(t, Lifecycle, mockTransport(s))
			ctx, cancel := context.WithCancel(t.Context())
			start := time.Now()
			done := make(chan error)
			go func() {
				_, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
				done <- err
			}()
			synctest.Wait() // the call is now waiting to retry
			cancel()
			err := <-done

			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if StatusCode(err) != 0 {
				t.Errorf("err carries status %d; the context error must win", StatusCode(err))
			}
			if s.calls() != 1 {
				t.Errorf("server saw %d calls, want 1", s.calls())
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("returned after %v; want at once", waited)
			}
		})
	})
	t.Run("before the retry decision", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithCancel(t.Context())
			s := newScript(reply{status: 503})
			mt := httpmock.NewMockTransport()
			mt.RegisterNoResponder(func(req *http.Request) (*http.Response, error) {
				resp, err := s.respond(req)
				if s.calls() == 2 {
					cancel() // the answer arrives, but the caller has given up
				}
				return resp, err
			})
			cfg := mockConfig(t, Lifecycle, mt, WithLogger(logger))
			_, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
			if !errors.Is(err, context.Canceled) || StatusCode(err) != 0 {
				t.Fatalf("err = %v, want context.Canceled and no APIError", err)
			}
			if s.calls() != 2 {
				t.Errorf("server saw %d calls, want 2", s.calls())
			}
			if n := strings.Count(logs.String(), "retrying request"); n != 1 {
				t.Errorf("%d retries decided; none may be decided after the cancellation:\n%s", n, logs.String())
			}
		})
	})
	t.Run("single attempt", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			cancel() // the 503 arrives just as the caller gives up
			return httpmock.NewStringResponse(503, "busy"), nil
		})
		cfg := mockConfig(t, Lifecycle, rt)
		// A stream body cannot be replayed, so there is no retry loop.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, lifecycleBase+"/upload", io.NopCloser(strings.NewReader("x")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.HTTPClient().Do(req)
		if !errors.Is(err, context.Canceled) || StatusCode(err) != 0 {
			t.Errorf("err = %v, want context.Canceled and no APIError", err)
		}
	})
}

func TestRetryRespectsDeadline(t *testing.T) {
	t.Parallel()
	t.Run("first wait would pass the deadline", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := newScript(reply{status: 503, header: hdr("Retry-After", "5", "X-Request-ID", "req-1")})
			cfg := mockConfig(t, Lifecycle, mockTransport(s))
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()

			start := time.Now()
			_, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
			waited := time.Since(start)

			apiErr, ok := errors.AsType[*APIError](err)
			if !ok || apiErr.StatusCode != 503 {
				t.Fatalf("err = %v, want the 503 as *APIError", err)
			}
			if apiErr.Retries != 0 || s.calls() != 1 {
				t.Errorf("retries = %d, calls = %d; want 0 and 1", apiErr.Retries, s.calls())
			}
			if waited != 0 {
				t.Errorf("returned after %v; want at once, not after sleeping", waited)
			}
			if ctx.Err() != nil {
				t.Errorf("the deadline passed before the call returned")
			}
		})
	})
	t.Run("second wait would pass the deadline", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := newScript(reply{status: 429, header: hdr("Retry-After", "2")})
			cfg := mockConfig(t, Lifecycle, mockTransport(s))
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()

			start := time.Now()
			_, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
			waited := time.Since(start)

			apiErr, ok := errors.AsType[*APIError](err)
			if !ok || !errors.Is(err, ErrRateLimited) {
				t.Fatalf("err = %v, want the 429 as *APIError", err)
			}
			if apiErr.Retries != 1 || s.calls() != 2 || waited != 2*time.Second {
				t.Errorf("retries = %d, calls = %d, waited %v; want 1, 2, 2s", apiErr.Retries, s.calls(), waited)
			}
		})
	})
	t.Run("client Timeout counts as deadline", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := newScript(reply{status: 503, header: hdr("Retry-After", "5")})
			mt := mockTransport(s)
			cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(lifecycleBase),
				WithHTTPClient(&http.Client{Transport: mt, Timeout: time.Second}))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
			if !errors.Is(err, ErrUnavailable) || s.calls() != 1 || time.Since(start) != 0 {
				t.Errorf("err = %v after %d calls and %v; want the 503 at once", err, s.calls(), time.Since(start))
			}
		})
	})
}

func TestFinal503IsAPIError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{
			status: 503,
			header: hdr("X-Request-ID", "req-42", "Content-Type", "application/json"),
			body:   `{"code":"UNAVAILABLE","message":"scheduler is restarting"}`,
		})
		cfg := mockConfig(t, Lifecycle, mockTransport(s))

		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x", "")

		apiErr, ok := errors.AsType[*APIError](err)
		if !ok {
			t.Fatalf("err = %T %v, want *APIError", err, err)
		}
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrServer) {
			t.Errorf("errors.Is(err, ErrUnavailable/ErrServer) = false for %v", err)
		}
		if apiErr.RequestID != "req-42" || apiErr.Code != "UNAVAILABLE" || apiErr.Message != "scheduler is restarting" {
			t.Errorf("APIError = %+v", apiErr)
		}
		if apiErr.Retries != 4 || s.calls() != 5 {
			t.Errorf("Retries = %d, calls = %d; want 4 and 5", apiErr.Retries, s.calls())
		}
		if strings.Contains(err.Error(), "giving up") {
			t.Errorf("error has retryablehttp's text: %v", err)
		}
		want := "sandboxkit: 503 UNAVAILABLE: scheduler is restarting (request id req-42, after 4 retries)"
		if apiErr.Error() != want {
			t.Errorf("Error() = %q\nwant      %q", apiErr.Error(), want)
		}
	})
}

func TestRetryTransportErrorCountsRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(reply{err: dialErr})
		cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(RetryPolicy{MaxRetries: 2}))
		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
		if _, ok := errors.AsType[*net.OpError](err); !ok {
			t.Fatalf("err = %v, want the dial error", err)
		}
		if s.calls() != 3 || !strings.Contains(err.Error(), "(after 2 retries)") {
			t.Errorf("calls = %d, err = %v; want 3 calls and the retry count", s.calls(), err)
		}
		if !IsTransient(err) {
			t.Errorf("IsTransient(%v) = false", err)
		}
	})
}

func TestRetryLogsEachRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := newScript(reply{status: 503}, reply{err: dialErr}, reply{status: 200})
		cfg := mockConfig(t, Lifecycle, mockTransport(s), WithLogger(logger))

		if _, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x?token=q", ""); err != nil {
			t.Fatal(err)
		}

		var lines []map[string]any
		for line := range strings.Lines(buf.String()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			lines = append(lines, rec)
		}
		if len(lines) != 2 {
			t.Fatalf("got %d log records, want 2:\n%s", len(lines), buf.String())
		}
		for i, rec := range lines {
			if rec["level"] != "DEBUG" || rec["msg"] != "sandboxkit: retrying request" ||
				rec["method"] != "GET" || rec["path"] != "/v1/sandboxes/x" || rec["api"] != "lifecycle" ||
				rec["attempt"] != float64(i+1) {
				t.Errorf("record %d = %v", i, rec)
			}
		}
		if lines[0]["status"] != float64(503) || lines[1]["error"] == nil {
			t.Errorf("records lack status/error: %v", lines)
		}
		if strings.Contains(buf.String(), "token=q") || strings.Contains(buf.String(), testAPIKey) {
			t.Errorf("log shows the query or the key:\n%s", buf.String())
		}
	})
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	for n := range 70 {
		hi := p.MaxDelay
		if exp := math.Pow(2, float64(n+1)) * float64(p.MinDelay); exp < float64(p.MaxDelay) {
			hi = time.Duration(exp)
		}
		lo := max(hi/2, p.MinDelay)
		for range 200 {
			d := p.backoff(n)
			if d < lo || d > hi || d < p.MinDelay || d > p.MaxDelay {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, lo, hi)
			}
		}
	}
	same := RetryPolicy{MinDelay: time.Second, MaxDelay: time.Second}
	if d := same.backoff(3); d != time.Second {
		t.Errorf("backoff with MinDelay == MaxDelay = %v, want 1s", d)
	}
}

func TestConcurrentCallsShareOneConfig(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]int{}
		rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			seen[req.URL.Path]++
			n := seen[req.URL.Path]
			mu.Unlock()
			if n <= 2 {
				return httpmock.NewStringResponse(503, "busy"), nil
			}
			return httpmock.NewStringResponse(200, req.URL.Path), nil
		})
		cfg := mockConfig(t, Sandbox, rt)
		const n = 32
		errs := make(chan error, n)
		for i := range n {
			go func() {
				path := fmt.Sprintf("/process/p%d", i)
				body, err := send(t.Context(), cfg, http.MethodGet, path, "")
				if err == nil && body != path {
					err = fmt.Errorf("got body %q for %s", body, path)
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		for path, calls := range seen {
			if calls != 3 {
				t.Errorf("%s: %d calls, want 3", path, calls)
			}
		}
	})
}

func TestWithoutRetriesSendsOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		first  reply
		want   error
	}{
		{"POST 503", http.MethodPost, reply{status: 503}, ErrUnavailable},
		{"POST 429", http.MethodPost, reply{status: 429}, ErrRateLimited},
		{"POST never sent", http.MethodPost, reply{err: dialErr}, syscall.ECONNREFUSED},
		{"GET 503", http.MethodGet, reply{status: 503}, ErrUnavailable},
		{"GET connection reset", http.MethodGet, reply{err: resetErr}, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				// Without the opt-out, each of these is retried.
				s := newScript(tt.first, reply{status: 200, body: "ok"})
				cfg := mockConfig(t, Lifecycle, mockTransport(s))
				if _, err := send(t.Context(), cfg, tt.method, "/sandboxes", `{"a":1}`); err != nil || s.calls() != 2 {
					t.Fatalf("default policy: err = %v after %d calls, want success after 2", err, s.calls())
				}

				s = newScript(tt.first, reply{status: 200, body: "ok"})
				cfg = mockConfig(t, Lifecycle, mockTransport(s))
				_, err := send(glue.WithoutRetries(t.Context()), cfg, tt.method, "/sandboxes", `{"a":1}`)
				if !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
				if s.calls() != 1 {
					t.Errorf("server saw %d calls, want 1", s.calls())
				}
			})
		})
	}
}
