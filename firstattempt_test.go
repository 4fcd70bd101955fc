package sandboxkit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The first attempt of a call skips net/http's Client when it can (see
// transport.first); these tests pin what that Client does for a request
// and must still happen.

func TestCookieJarOfTheCallersClient(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/login" {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/"})
		}
		return false
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(rec.URL+"/v1"), WithAPIKey(testAPIKey),
		WithHTTPClient(&http.Client{Transport: tr, Jar: jar}))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/login", "/v1/sandboxes"} {
		get(t, cfg.HTTPClient(), rec.URL+path)
	}
	seen := rec.headers()
	if got := seen[1].Get("Cookie"); got != "session=s1" {
		t.Errorf("second request's Cookie = %q, want the jar's session=s1", got)
	}
}

func TestUserInfoInURLIsSentAsBasicAuth(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	cfg := realConfig(t, Lifecycle, "http://127.0.0.1:1/v1")
	get(t, cfg.HTTPClient(), strings.Replace(rec.URL, "http://", "http://user:pass@", 1)+"/file")
	if got, want := rec.headers()[0].Get("Authorization"), "Basic dXNlcjpwYXNz"; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
}

func TestRedirectOfAPOSTBecomesAGET(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/sandboxes" {
			http.Redirect(w, r, "/v1/sandboxes/sbx-1", http.StatusSeeOther)
			return true
		}
		return false
	})
	cfg := realConfig(t, Lifecycle, rec.URL+"/v1")
	resp, err := cfg.HTTPClient().Post(rec.URL+"/v1/sandboxes", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Request.Method != http.MethodGet || resp.Request.URL.Path != "/v1/sandboxes/sbx-1" {
		t.Errorf("final request %s %s, want GET /v1/sandboxes/sbx-1", resp.Request.Method, resp.Request.URL.Path)
	}
	seen := rec.headers()
	if len(seen) != 2 || seen[1].Get(HeaderAPIKey) != testAPIKey {
		t.Errorf("want 2 requests, the redirected one with the API key (same origin); got %d", len(seen))
	}
}

func TestTransportWithoutAnswerIsAnError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		resp    *http.Response
		wantErr string
	}{
		{"no answer", nil, "neither an answer nor an error"},
		{"no body but a length", &http.Response{StatusCode: 200, ContentLength: 3, Header: http.Header{}}, "Content-Length 3 but no body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rt := roundTripFunc(func(*http.Request) (*http.Response, error) { return c.resp, nil })
			cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(lifecycleBase), WithAPIKey(testAPIKey),
				WithHTTPClient(&http.Client{Transport: rt}), WithRetry(RetryPolicy{}))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cfg.HTTPClient().Get(lifecycleBase + "/sandboxes")
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to say %q", err, c.wantErr)
			}
		})
	}
}

func TestTransportAnswerWithoutBodyIsEmpty(t *testing.T) {
	t.Parallel()
	rt := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 204, Header: http.Header{}}, nil
	})
	cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(lifecycleBase), WithAPIKey(testAPIKey),
		WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	resp := get(t, cfg.HTTPClient(), lifecycleBase+"/sandboxes")
	if resp.StatusCode != 204 {
		t.Errorf("status %d, want 204", resp.StatusCode)
	}
}

func TestHTTPSToAPlainServerSaysSo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "http://", "https://", 1)
	cfg := realConfig(t, Lifecycle, base+"/v1", WithRetry(RetryPolicy{}))
	resp, err := cfg.HTTPClient().Get(base + "/v1/sandboxes")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("no error")
	}
	if !errors.Is(err, http.ErrSchemeMismatch) {
		t.Errorf("error %v, want http.ErrSchemeMismatch", err)
	}
}

// get sends a GET with c, reads the answer and closes it.
func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// TestCallersDeadlineAgainstTheTimeouts: an attempt whose caller's
// deadline comes before any timeout the SDK could set gets no watchdog
// (see limitTransport.watches); the caller's deadline ends it as the
// watchdog would have let it. One that comes later still has its
// timeouts, the stream idle timeout included although the deadline is
// before the unary one.
func TestCallersDeadlineAgainstTheTimeouts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		server   func(net.Conn, *bufio.Reader)
		deadline time.Duration
		wantErr  error
		stream   bool
		after    time.Duration
	}{
		{"silent server, deadline first", silent, 20 * time.Second, context.DeadlineExceeded, false, 20 * time.Second},
		{"silent server, timeout first", silent, 40 * time.Second, ErrTimeout, false, 30 * time.Second},
		{"silent stream, idle timeout first", streamServer("text/plain", time.Hour, 1), 25 * time.Second, ErrTimeout, true, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				_, tr := newPipeNet(t, tt.server)
				cfg := pipeConfig(t, Lifecycle, tr, WithTimeout(30*time.Second), WithStreamIdleTimeout(10*time.Second))
				ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
				defer cancel()
				start := time.Now()
				data, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v (read %q), want %v", err, data, tt.wantErr)
				}
				if te, ok := errors.AsType[*TimeoutError](err); ok && te.Stream != tt.stream {
					t.Errorf("TimeoutError.Stream = %v, want %v", te.Stream, tt.stream)
				}
				if time.Since(start) != tt.after {
					t.Errorf("ended after %v, want %v", time.Since(start), tt.after)
				}
			})
		})
	}
}
