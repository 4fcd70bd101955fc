package sandboxkit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// recorder is an httptest server that keeps the headers of every request.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
	path []string
}

// newRecorder starts a server whose handler may answer; by default 200.
func newRecorder(t *testing.T, handle func(w http.ResponseWriter, r *http.Request) bool) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Header.Clone())
		rec.path = append(rec.path, r.URL.Path)
		rec.mu.Unlock()
		if handle == nil || !handle(w, r) {
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

// redirectTo answers every request with a 307 to target.
func redirectTo(target func() string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, target(), http.StatusTemporaryRedirect)
		return true
	}
}

// realConfig makes a configuration for a real server with its own
// transport, closed at cleanup so no connection outlives the test.
func realConfig(t *testing.T, api API, base string, opts ...Option) *Config {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	all := []Option{WithoutEnvironment(), WithBaseURL(base), WithHTTPClient(&http.Client{Transport: tr})}
	if api == Lifecycle {
		all = append(all, WithAPIKey(testAPIKey))
	} else {
		all = append(all, WithToken(testToken), WithWorkspace("team-a"))
	}
	cfg, err := NewConfig(api, append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func hasCredential(h http.Header) bool {
	for _, k := range credentialHeaders {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

func TestRedirectToOtherHostStripsCredentials(t *testing.T) {
	t.Parallel()
	for _, api := range []API{Lifecycle, ControlPlane} {
		t.Run(api.String(), func(t *testing.T) {
			t.Parallel()
			other := newRecorder(t, nil)
			origin := newRecorder(t, redirectTo(func() string { return other.URL + "/landing" }))
			cfg := realConfig(t, api, origin.URL, WithHeader("X-Trace-Tag", "t1"))

			body, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
			if err != nil || body != "ok" {
				t.Fatalf("GET = %q, %v", body, err)
			}
			if got := origin.headers(); len(got) != 1 || !hasCredential(got[0]) {
				t.Fatalf("origin saw %v; want one request with the credential", got)
			}
			got := other.headers()
			if len(got) != 1 {
				t.Fatalf("other host saw %d requests, want 1", len(got))
			}
			for k, v := range got[0] {
				for _, c := range credentialHeaders {
					if k == c {
						t.Errorf("other host received %s: %q", k, v)
					}
				}
			}
			if got[0].Get("X-Trace-Tag") != "t1" {
				t.Errorf("non-credential header was dropped too: %v", got[0])
			}
		})
	}
}

func TestRedirectWithinHostKeepsCredentials(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/start" {
			http.Redirect(w, r, "/v1/final", http.StatusFound)
			return true
		}
		return false
	})
	cfg := realConfig(t, Lifecycle, srv.URL+"/v1")
	if _, err := send(t.Context(), cfg, http.MethodGet, "/start", ""); err != nil {
		t.Fatal(err)
	}
	got := srv.headers()
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(got))
	}
	if got[1].Get(HeaderAPIKey) != testAPIKey {
		t.Errorf("same-host redirect lost the API key: %v", got[1])
	}
}

func TestRedirectBackToOriginStaysStripped(t *testing.T) {
	t.Parallel()
	var origin *recorder
	other := newRecorder(t, redirectTo(func() string { return origin.URL + "/v1/back" }))
	origin = newRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/start" {
			http.Redirect(w, r, other.URL+"/away", http.StatusTemporaryRedirect)
			return true
		}
		return false
	})
	cfg := realConfig(t, Lifecycle, origin.URL+"/v1")
	if _, err := send(t.Context(), cfg, http.MethodPost, "/start", `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	got := origin.headers()
	if len(got) != 2 {
		t.Fatalf("origin saw %d requests, want 2", len(got))
	}
	if !hasCredential(got[0]) || hasCredential(got[1]) {
		t.Errorf("credential on first visit %v, on return %v; want true, false", hasCredential(got[0]), hasCredential(got[1]))
	}
}

func TestRedirectPolicyComparesOrigins(t *testing.T) {
	t.Parallel()
	mk := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u, Header: hdr("Authorization", "Bearer x", HeaderAPIKey, "k", HeaderBlaxelAuthorization, "Bearer x", HeaderWorkspace, "w", "Accept", "*/*")}
	}
	tests := []struct {
		from, to string
		keep     bool
	}{
		{"https://api.test/v0/a", "https://api.test/v0/b", true},
		{"https://api.test/a", "https://API.test:443/b", true},
		{"https://api.test/a", "http://api.test/b", false}, // downgrade
		{"http://api.test/a", "https://api.test/b", false}, // other port
		{"https://api.test/a", "https://api.test:8443/b", false},
		{"https://api.test/a", "https://evil.test/b", false},
		{"https://api.test/a", "https://sub.api.test/b", false},
	}
	policy := redirectPolicy(nil, nil)
	for _, tt := range tests {
		req := mk(tt.to)
		if err := policy(req, []*http.Request{mk(tt.from)}); err != nil {
			t.Fatal(err)
		}
		if hasCredential(req.Header) != tt.keep {
			t.Errorf("%s -> %s: credentials kept = %v, want %v", tt.from, tt.to, hasCredential(req.Header), tt.keep)
		}
		if req.Header.Get("Accept") == "" {
			t.Errorf("%s -> %s: other headers removed", tt.from, tt.to)
		}
	}
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	var srv *recorder
	srv = newRecorder(t, redirectTo(func() string { return srv.URL + "/loop" }))
	cfg := realConfig(t, Lifecycle, srv.URL)
	_, err := send(t.Context(), cfg, http.MethodGet, "/loop", "")
	if !errors.Is(err, errTooManyRedirects) {
		t.Fatalf("err = %v, want the redirect limit", err)
	}
	if n := len(srv.headers()); n != maxRedirects+1 {
		t.Errorf("server saw %d requests, want %d (no retry)", n, maxRedirects+1)
	}
	if IsTransient(err) {
		t.Errorf("IsTransient(redirect loop) = true")
	}
}

func TestCallerCheckRedirectRunsAfterStripping(t *testing.T) {
	t.Parallel()
	other := newRecorder(t, nil)
	origin := newRecorder(t, redirectTo(func() string { return other.URL + "/x" }))
	var sawCredential, called bool
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(origin.URL), WithAPIKey(testAPIKey),
		WithHTTPClient(&http.Client{
			Transport: tr,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				called = true
				sawCredential = hasCredential(req.Header)
				return http.ErrUseLastResponse
			},
		}))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, origin.URL+"/start", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cfg.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !called || sawCredential {
		t.Errorf("caller's CheckRedirect called = %v, saw credential = %v; want true, false", called, sawCredential)
	}
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status = %d, want the 307 itself", resp.StatusCode)
	}
	if n := len(other.headers()); n != 0 {
		t.Errorf("the outer client followed the redirect the caller refused (%d requests)", n)
	}
}
