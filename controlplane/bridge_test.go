package controlplane

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sandboxkit/sandboxkit"
)

func TestSandboxClientUsesTheSameCredentials(t *testing.T) {
	t.Parallel()
	// A loopback control plane (never called here) lets the token reach
	// a loopback sandbox.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := New(testOptions("http://127.0.0.1:1/v0", tr)...)
	if err != nil {
		t.Fatal(err)
	}

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
	if cfg.API() != sandboxkit.Sandbox || cfg.BaseURL().String() != guest.URL || !cfg.HasCredential() || cfg.Workspace() != testWorkspace {
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
	c := offlineClient(t, "https://cp.test/v0")
	if _, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx"}}); !errors.Is(err, ErrNoURL) {
		t.Errorf("no URL: err = %v, want ErrNoURL", err)
	}
	if _, err := c.SandboxClient(nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("nil: err = %v, want ErrInvalidInput", err)
	}
	// The token must not leave an https control plane in clear text.
	_, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx", URL: "http://sbx.sandbox.test"}})
	if !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("plain http: err = %v, want ErrInvalidInput", err)
	}
	if _, err := c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "sbx", URL: "https://sbx.sandbox.test"}}); err != nil {
		t.Errorf("https: %v", err)
	}
	if _, err := NewFromConfig(nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("NewFromConfig(nil) = %v", err)
	}
	lc, err := sandboxkit.NewConfig(sandboxkit.Lifecycle, sandboxkit.WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFromConfig(lc); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("NewFromConfig(lifecycle) = %v", err)
	}
}

// TestSandboxClientTokenDestinations: the control plane names a sandbox's
// URL, and the token follows it only where the rules of
// sandboxkit.Config.ForSandbox allow (issue 12: any https host and the cloud
// metadata address used to get it).
func TestSandboxClientTokenDestinations(t *testing.T) {
	t.Parallel()
	newCP := func(t *testing.T, base string, opts ...sandboxkit.Option) *Client {
		t.Helper()
		c, err := New(append(testOptions(base, http.DefaultTransport), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	hosted := newCP(t, sandboxkit.DefaultControlPlaneBaseURL)
	custom := newCP(t, "https://cp.example.com/v0")
	allowing := newCP(t, "https://cp.example.com/v0", sandboxkit.WithSandboxHosts("*.sandboxes.example.com", "box.example.net"))
	local := newCP(t, "http://127.0.0.1:8999/v0")
	tests := []struct {
		name string
		c    *Client
		url  string
		opts []sandboxkit.Option
		ok   bool
	}{
		{"hosted: Blaxel sandbox host", hosted, "https://sbx-quiet-fox-ws1.us-pdx-1.bl.run", nil, true},
		{"hosted: Blaxel run gateway", hosted, "https://run.blaxel.ai/ws1/sandboxes/quiet-fox", nil, true},
		{"hosted: plain http to a Blaxel host", hosted, "http://sbx-1.us-pdx-1.bl.run", nil, false},
		{"hosted: a look-alike domain", hosted, "https://sbx-1.bl.run.evil.example", nil, false},
		{"hosted: another https host", hosted, "https://collector.example.com", nil, false},
		{"hosted: cloud metadata", hosted, "http://169.254.169.254/latest", nil, false},
		{"hosted: cloud metadata over https", hosted, "https://169.254.169.254", []sandboxkit.Option{sandboxkit.WithSandboxHosts("169.254.169.254")}, false},
		{"hosted: loopback", hosted, "http://127.0.0.1:8080", nil, false},
		{"hosted: a base URL option cannot redirect it", hosted, "https://sbx-1.us-pdx-1.bl.run", []sandboxkit.Option{sandboxkit.WithBaseURL("https://collector.example.com")}, false},
		{"custom: its own origin", custom, "https://cp.example.com/sandboxes/quiet-fox", nil, true},
		{"custom: a sibling host needs allowing", custom, "https://quiet-fox.sandboxes.example.com", nil, false},
		{"custom: allowed by a pattern", allowing, "https://quiet-fox.sandboxes.example.com", nil, true},
		{"custom: the pattern's domain itself", allowing, "https://sandboxes.example.com", nil, false},
		{"custom: allowed host", allowing, "https://box.example.net:8443", nil, true},
		{"custom: allowed in the call's options", custom, "https://box.example.org", []sandboxkit.Option{sandboxkit.WithSandboxHosts("box.example.org")}, true},
		{"custom: allowed host over plain http", allowing, "http://box.example.net", nil, false},
		{"custom: allowed host over plain http, accepted", allowing, "http://box.example.net", []sandboxkit.Option{sandboxkit.WithInsecureHTTP()}, true},
		{"local: another loopback port", local, "http://127.0.0.1:9001/sandboxes/x", nil, true},
		{"local: localhost", local, "http://localhost:9001", nil, true},
		{"local: a remote host", local, "https://sbx-1.us-pdx-1.bl.run", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.c.SandboxClient(&Sandbox{Metadata: Metadata{Name: "quiet-fox", URL: tt.url}}, tt.opts...)
			switch {
			case tt.ok && err != nil:
				t.Errorf("SandboxClient(%s) = %v, want it allowed", tt.url, err)
			case !tt.ok && !errors.Is(err, sandboxkit.ErrInvalidInput):
				t.Errorf("SandboxClient(%s) = %v, want a refusal matching ErrInvalidInput", tt.url, err)
			case !tt.ok && strings.Contains(err.Error(), testToken):
				t.Errorf("refusal shows the token: %v", err)
			}
		})
	}
}
