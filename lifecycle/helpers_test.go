package lifecycle_test

import (
	"net/http"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// Test configuration of clients that talk to a test's own round tripper.
const (
	testBase   = "http://lifecycle.test/v1"
	testAPIKey = "osk-test-6b1f0c9e"
)

// newClient returns a client that sends every request to rt (a test's
// httpmock transport or scripted round tripper), with the test key.
func newClient(t testing.TB, rt http.RoundTripper, opts ...sandboxkit.Option) *lifecycle.Client {
	t.Helper()
	base := []sandboxkit.Option{
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL(testBase),
		sandboxkit.WithAPIKey(testAPIKey),
		sandboxkit.WithHTTPClient(&http.Client{Transport: rt}),
	}
	c, err := lifecycle.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("lifecycle.New: %v", err)
	}
	return c
}

// mockClient returns a client of srv's lifecycle API (its in-memory
// transport and first tenant's key); opts are applied after those.
func mockClient(t testing.TB, srv *mockserver.Server, opts ...sandboxkit.Option) *lifecycle.Client {
	t.Helper()
	c, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), opts...)...)
	if err != nil {
		t.Fatalf("lifecycle.New: %v", err)
	}
	return c
}
