package controlplane

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// Credentials used by the tests of this package's wire mapping. Tests of
// behaviour against a stateful control plane use mockserver, in package
// controlplane_test.
const (
	testToken     = "bl-tok-7c1e9a4d2b8f6e3a"
	testWorkspace = "ws-research"
)

// call is one request a rawServer saw.
type call struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// testOptions are the options of a client of baseURL: no environment, a
// token, a workspace and short retry waits.
func testOptions(baseURL string, rt http.RoundTripper) []sandboxkit.Option {
	return []sandboxkit.Option{
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL(baseURL),
		sandboxkit.WithToken(testToken),
		sandboxkit.WithWorkspace(testWorkspace),
		sandboxkit.WithHTTPClient(&http.Client{Transport: rt}),
		sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 2, MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}),
	}
}

// offlineClient returns a client of baseURL whose transport fails the
// test if a request is sent.
func offlineClient(t *testing.T, baseURL string) *Client {
	t.Helper()
	c, err := New(testOptions(baseURL, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		return nil, http.ErrServerClosed
	}))...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newHTTPClient serves h over a real httptest server and returns a client
// of it with its own transport.
func newHTTPClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := New(testOptions(srv.URL+"/v0", tr)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// testdata returns the contents of testdata/name.
func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonOf decodes a JSON text into generic values.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func ptr[T any](v T) *T { return &v }
