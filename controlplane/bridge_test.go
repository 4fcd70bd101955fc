package controlplane

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/sandboxkit/sandboxkit/client"
)

func TestSandboxClientUsesTheSameCredentials(t *testing.T) {
	t.Parallel()
	c, _ := setupHTTP(t)

	var mu sync.Mutex
	var seen http.Header
	guest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(guest.Close)

	sc, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx", URL: guest.URL}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := sc.Config()
	if cfg.API() != client.Sandbox || cfg.BaseURL().String() != guest.URL || !cfg.HasCredential() || cfg.Workspace() != testWorkspace {
		t.Errorf("bridged config = %v", cfg)
	}
	_, _ = sc.Health(t.Context()) // only the request matters here
	t.Cleanup(func() { sc.Config().HTTPClient().CloseIdleConnections() })
	mu.Lock()
	defer mu.Unlock()
	if got := seen.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want the control plane's token", got)
	}
	if got := seen.Get("X-Blaxel-Workspace"); got != testWorkspace {
		t.Errorf("X-Blaxel-Workspace = %q", got)
	}
}

func TestSandboxClientRefusals(t *testing.T) {
	t.Parallel()
	c, _ := setup(t) // https control plane
	if _, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx"}}); !errors.Is(err, ErrNoURL) {
		t.Errorf("no URL: err = %v, want ErrNoURL", err)
	}
	if _, err := c.SandboxClient(nil); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("nil: err = %v, want ErrInvalidInput", err)
	}
	// The token must not leave an https control plane in clear text.
	_, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx", URL: "http://sbx.sandbox.test"}})
	if !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("plain http: err = %v, want ErrInvalidInput", err)
	}
	if _, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx", URL: "https://sbx.sandbox.test"}}); err != nil {
		t.Errorf("https: %v", err)
	}
	if _, err := NewFromConfig(nil); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("NewFromConfig(nil) = %v", err)
	}
	lc, err := client.NewConfig(client.Lifecycle, client.WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFromConfig(lc); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("NewFromConfig(lifecycle) = %v", err)
	}
}
