package lifecycle_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// headerLog records the headers of the requests a transport sends, by
// URL path.
type headerLog struct {
	mu   sync.Mutex
	next http.RoundTripper
	reqs map[string]http.Header
}

func (l *headerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	if l.reqs == nil {
		l.reqs = map[string]http.Header{}
	}
	l.reqs[r.URL.Host+r.URL.Path] = r.Header.Clone()
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

// On the mock, SandboxClient reaches the sandbox API at the endpoint's
// address, with the token opts give and without the lifecycle API key.
func TestSandboxClientOnTheMock(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant("key-1", "team-1"))
	id, err := srv.AddSandbox("team-1", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	lc := mockClient(t, srv)
	log := &headerLog{next: srv.HTTPClient().Transport}
	// The mock's gateway wants the tenant's key as a bearer token; a user
	// gives it, as ClientOptions(Sandbox) does.
	opts := append(srv.ClientOptions(sandboxkit.Sandbox), sandboxkit.WithHTTPClient(&http.Client{Transport: log}))
	sc, err := lc.SandboxClient(t.Context(), id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Config().BaseURL().String(), srv.URL()+"/sandboxes/"+id+"/port/8080"; got != want {
		t.Errorf("base URL %s, want %s", got, want)
	}
	if _, err := sc.Health(t.Context()); err != nil {
		t.Fatalf("Health through the endpoint: %v", err)
	}
	h, ok := log.reqs[strings.TrimPrefix(srv.URL(), "http://")+"/sandboxes/"+id+"/port/8080/health"]
	if !ok {
		t.Fatalf("no health request seen: %v", log.reqs)
	}
	if h.Get("OPEN-SANDBOX-API-KEY") != "" {
		t.Errorf("the lifecycle API key went to the sandbox API")
	}
	if h.Get("Authorization") != "Bearer key-1" {
		t.Errorf("the token given in opts was not sent")
	}
	// Without it the mock's gateway refuses the request.
	bare, err := lc.SandboxClient(t.Context(), id, sandboxkit.WithHTTPClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Health(t.Context()); !errors.Is(err, sandboxkit.ErrUnauthorized) {
		t.Errorf("Health without a token: %v, want 401", err)
	}

	if _, err := lc.SandboxClient(t.Context(), "no-such-sandbox", opts...); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("missing sandbox: %v, want not found", err)
	}
	before := srv.Count(mockserver.Filter{})
	if _, err := lc.SandboxClient(t.Context(), "../x", opts...); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("bad id: %v, want invalid input", err)
	}
	if n := srv.Count(mockserver.Filter{}); n != before {
		t.Errorf("a bad id sent %d requests", n-before)
	}
}

// The endpoint's headers go to the sandbox API as credential headers of
// its origin only; the lifecycle API key never does, and the sandbox
// client's errors do not show the header's value.
func TestSandboxClientCarriesEndpointHeaders(t *testing.T) {
	t.Parallel()
	const secret = "sig-2f8a91c7e4"
	var (
		mu   sync.Mutex
		seen = map[string]http.Header{}
	)
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		seen[r.URL.Host+r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		body, status := `{"error":"nope"}`, http.StatusForbidden
		if r.URL.Host == "lifecycle.test" {
			body, status = `{"endpoint":"sbx-1.gateway.test/route","headers":{"OpenSandbox-Secure-Access":"`+secret+`"}}`, http.StatusOK
		}
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})
	lc := newClient(t, rt)
	sc, err := lc.SandboxClient(t.Context(), "sbx-1", sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Config().BaseURL().String(); got != "http://sbx-1.gateway.test/route" {
		t.Errorf("base URL %s", got)
	}
	_, err = sc.Health(t.Context())
	if !errors.Is(err, sandboxkit.ErrForbidden) {
		t.Fatalf("Health = %v, want the 403", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(sc.Config().String(), secret) {
		t.Errorf("the endpoint's credential shows: %v / %s", err, sc.Config())
	}
	h := seen["sbx-1.gateway.test/route/health"]
	if h.Get("OpenSandbox-Secure-Access") != secret {
		t.Errorf("endpoint header not sent: %v", h)
	}
	if h.Get("OPEN-SANDBOX-API-KEY") != "" || h.Get("Authorization") != "" {
		t.Errorf("credentials the sandbox API must not get: %v", h)
	}
	if !strings.Contains(seen["lifecycle.test/v1/sandboxes/sbx-1/endpoints/8080"].Get("OPEN-SANDBOX-API-KEY"), testAPIKey) {
		t.Errorf("the endpoint lookup did not carry the API key")
	}
}

// TestSandboxClientWithEnvCredentials: opts may ask for the environment's
// sandbox credentials (WithEnvCredentials); SandboxClient does not
// contradict them. (t.Setenv: not parallel.)
func TestSandboxClientWithEnvCredentials(t *testing.T) {
	t.Setenv(sandboxkit.EnvToken, "key-1")
	srv := mockserver.Start(t, mockserver.WithTenant("key-1", "team-1"))
	id, err := srv.AddSandbox("team-1", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := mockClient(t, srv).SandboxClient(t.Context(), id, sandboxkit.WithEnvCredentials(), sandboxkit.WithHTTPClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Health(t.Context()); err != nil {
		t.Fatalf("Health with the environment's token: %v", err)
	}
}
