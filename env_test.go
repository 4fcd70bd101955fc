package sandboxkit

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// These tests use t.Setenv and so cannot run in parallel.

// sentHeaders makes one GET through cfg and returns the request headers
// the server saw.
func sentHeaders(t *testing.T, cfg *Config) http.Header {
	t.Helper()
	s := newScript(reply{status: 200})
	cfg, err := derivedWithTransport(cfg, mockTransport(s))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(t.Context(), cfg, http.MethodGet, "/x", ""); err != nil {
		t.Fatal(err)
	}
	return s.request(0).Header
}

// derivedWithTransport rebuilds cfg with its settings but another base
// transport (the environment is not read again).
func derivedWithTransport(cfg *Config, rt http.RoundTripper) (*Config, error) {
	s := cfg.s.clone()
	s.httpClient = &http.Client{Transport: rt}
	return newConfig(s)
}

func TestEnvironmentLifecycle(t *testing.T) {
	t.Setenv(EnvLifecycleAPIKey, testAPIKey)
	t.Setenv(EnvLifecycleBaseURL, "https://sandboxes.example/v1/")
	t.Setenv(EnvToken, testToken) // not for this API

	cfg, err := NewConfig(Lifecycle)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL().String() != "https://sandboxes.example/v1" || !cfg.HasCredential() {
		t.Errorf("base %s, credential %v", cfg.BaseURL(), cfg.HasCredential())
	}
	h := sentHeaders(t, cfg)
	if h.Get(HeaderAPIKey) != testAPIKey || h.Get("Authorization") != "" {
		t.Errorf("headers %v; want the key from %s only", h, EnvLifecycleAPIKey)
	}

	// Options beat the environment.
	cfg, err = NewConfig(Lifecycle, WithAPIKey("from-option"), WithBaseURL("http://127.0.0.1:1/v1"))
	if err != nil {
		t.Fatal(err)
	}
	if h := sentHeaders(t, cfg); h.Get(HeaderAPIKey) != "from-option" || cfg.BaseURL().Host != "127.0.0.1:1" {
		t.Errorf("options did not win over the environment: %v %s", h, cfg.BaseURL())
	}

	// WithoutEnvironment ignores it.
	cfg, err = NewConfig(Lifecycle, WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HasCredential() || cfg.BaseURL().String() != DefaultLifecycleBaseURL {
		t.Errorf("WithoutEnvironment: credential %v, base %s", cfg.HasCredential(), cfg.BaseURL())
	}
}

func TestEnvironmentControlPlaneAndSandbox(t *testing.T) {
	t.Setenv(EnvToken, testToken)
	t.Setenv(EnvWorkspace, "team-env")
	t.Setenv(EnvControlPlaneBaseURL, "https://cp.example/v0")
	t.Setenv(EnvLifecycleAPIKey, testAPIKey) // not for these APIs

	cp, err := NewConfig(ControlPlane)
	if err != nil {
		t.Fatal(err)
	}
	if cp.BaseURL().String() != "https://cp.example/v0" || cp.Workspace() != "team-env" {
		t.Errorf("base %s, workspace %q", cp.BaseURL(), cp.Workspace())
	}
	h := sentHeaders(t, cp)
	if h.Get("Authorization") != "Bearer "+testToken || h.Get(HeaderWorkspace) != "team-env" || h.Get(HeaderAPIKey) != "" {
		t.Errorf("control plane headers %v", h)
	}

	if _, err := NewConfig(Sandbox); err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("sandbox without base URL: err = %v", err)
	}
	// BL_API_KEY and BL_WORKSPACE are the control plane's: a sandbox
	// configuration sends them only when asked to.
	sbx, err := NewConfig(Sandbox, WithBaseURL("https://sbx.example"))
	if err != nil {
		t.Fatal(err)
	}
	if sbx.HasCredential() || sbx.Workspace() != "" {
		t.Errorf("sandbox config took %s/%s without WithEnvCredentials", EnvToken, EnvWorkspace)
	}
	if h := sentHeaders(t, sbx); h.Get("Authorization") != "" || h.Get(HeaderWorkspace) != "" {
		t.Errorf("sandbox headers %v; want no credential from the environment", h)
	}
	sbx, err = NewConfig(Sandbox, WithBaseURL("https://sbx.example"), WithEnvCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if h := sentHeaders(t, sbx); h.Get("Authorization") != "Bearer "+testToken || h.Get(HeaderWorkspace) != "team-env" {
		t.Errorf("sandbox headers with WithEnvCredentials %v", h)
	}
	if sbx.BaseURL().Host != "sbx.example" {
		t.Errorf("sandbox base URL taken from %s: %s", EnvControlPlaneBaseURL, sbx.BaseURL())
	}
	// The plain-http rule holds for environment credentials too.
	if _, err := NewConfig(Sandbox, WithBaseURL("http://sbx.example"), WithEnvCredentials()); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("environment token over plain http: err = %v, want ErrInvalidInput", err)
	}
}

func TestEnvironmentNotReadByForSandbox(t *testing.T) {
	t.Setenv(EnvToken, "token-from-env")
	t.Setenv(EnvWorkspace, "ws-from-env")
	parent, err := NewConfig(ControlPlane, WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	sbx, err := parent.ForSandbox("https://sbx-1-ws.us-pdx-1.bl.run")
	if err != nil {
		t.Fatal(err)
	}
	if sbx.HasCredential() || sbx.Workspace() != "" {
		t.Errorf("ForSandbox read the environment")
	}
	if h := sentHeaders(t, sbx); h.Get("Authorization") != "" {
		t.Errorf("Authorization sent: %q", h.Get("Authorization"))
	}
}

func TestEnvironmentErrors(t *testing.T) {
	t.Setenv(EnvControlPlaneBaseURL, "ftp://cp.example")
	_, err := NewConfig(ControlPlane)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), EnvControlPlaneBaseURL) {
		t.Errorf("bad %s: err = %v", EnvControlPlaneBaseURL, err)
	}

	t.Setenv(EnvControlPlaneBaseURL, "")
	t.Setenv(EnvToken, testToken+"\r\n")
	_, err = NewConfig(ControlPlane)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), EnvToken) {
		t.Errorf("bad %s: err = %v", EnvToken, err)
	}
	if leaks(err.Error()) != nil {
		t.Errorf("error shows the token: %v", err)
	}

	// Empty counts as unset.
	t.Setenv(EnvToken, "")
	cfg, err := NewConfig(ControlPlane)
	if err != nil || cfg.HasCredential() || cfg.BaseURL().String() != DefaultControlPlaneBaseURL {
		t.Errorf("empty variables: cfg %v, err %v", cfg, err)
	}
}
