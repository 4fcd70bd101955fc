package sandboxkit

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
)

// Credentials used by the tests; long and distinctive so a leak is
// unmistakable in any output.
const (
	testAPIKey = "osk-live-4f9c2d7e1a8b6c3f"
	testToken  = "bl-tok-9e8d7c6b5a4f3e2d/+x"
)

// Base URLs of the mock servers.
const (
	lifecycleBase = "http://lifecycle.test/v1"
	sandboxBase   = "https://sbx-1.sandbox.test"
	cpBase        = "https://cp.test/v0"
)

// reply is one scripted outcome of an attempt: a response or an error.
type reply struct {
	status int
	header http.Header
	body   string
	err    error
}

// script answers attempts with replies in order, repeating the last one,
// and records every request it saw.
type script struct {
	mu      sync.Mutex
	replies []reply
	seen    []*http.Request
	bodies  []string
}

func newScript(replies ...reply) *script { return &script{replies: replies} }

func (s *script) respond(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, req)
	s.bodies = append(s.bodies, string(body))
	r := s.replies[min(len(s.seen), len(s.replies))-1]
	if r.err != nil {
		return nil, r.err
	}
	resp := httpmock.NewStringResponse(r.status, r.body)
	for k, v := range r.header {
		resp.Header[k] = v
	}
	resp.Request = req
	return resp, nil
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *script) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[i]
}

// mockConfig returns a configuration for api whose requests go to mt and
// ignore the environment; lifecycle gets testAPIKey, the others testToken.
func mockConfig(t *testing.T, api API, rt http.RoundTripper, opts ...Option) *Config {
	t.Helper()
	base := []Option{WithoutEnvironment(), WithHTTPClient(&http.Client{Transport: rt})}
	switch api {
	case Lifecycle:
		base = append(base, WithBaseURL(lifecycleBase), WithAPIKey(testAPIKey))
	case Sandbox:
		base = append(base, WithBaseURL(sandboxBase), WithToken(testToken))
	case ControlPlane:
		base = append(base, WithBaseURL(cpBase), WithToken(testToken))
	}
	cfg, err := NewConfig(api, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewConfig: %v", err)
	}
	return cfg
}

// send makes one call through cfg's client to cfg's base URL + path. The
// response body is read and closed; its text is returned.
func send(ctx context.Context, cfg *Config, method, path, body string) (string, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cfg.BaseURL().String()+path, r)
	if err != nil {
		return "", err
	}
	resp, err := cfg.HTTPClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// hdr builds a header from key, value pairs.
func hdr(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// x509UnknownAuthority returns a certificate error as crypto/tls reports
// an untrusted server.
func x509UnknownAuthority() error { return x509.UnknownAuthorityError{} }
