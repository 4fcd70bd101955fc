package controlplane

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sandboxkit/sandboxkit"
)

// Not parallel: it sets environment variables.
func TestNewReadsTheEnvironment(t *testing.T) {
	f := &rawServer{status: http.StatusOK, body: []byte(`{"metadata":{"name":"sbx"},"spec":{},"status":"DEPLOYED"}`)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)

	t.Setenv(sandboxkit.EnvToken, testToken)
	t.Setenv(sandboxkit.EnvWorkspace, testWorkspace)
	t.Setenv(sandboxkit.EnvControlPlaneBaseURL, srv.URL+"/v0")
	c, err := New(sandboxkit.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config().BaseURL().String(); got != srv.URL+"/v0" {
		t.Errorf("base URL = %s", got)
	}
	if _, err := c.Get(t.Context(), "sbx", nil); err != nil {
		t.Fatal(err)
	}
	req := f.request()
	if req.Method != http.MethodGet || req.Path != "/v0/sandboxes/sbx" {
		t.Fatalf("request = %+v", req)
	}
	checkHeaders(t, req, false)

	// Options win over the environment.
	c, err = New(sandboxkit.WithBaseURL("https://other.test/v0"), sandboxkit.WithWorkspace("mine"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Config().BaseURL().Host != "other.test" || c.Config().Workspace() != "mine" || !c.Config().HasCredential() {
		t.Errorf("config = %v", c.Config())
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(sandboxkit.WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config().BaseURL().String(); got != sandboxkit.DefaultControlPlaneBaseURL {
		t.Errorf("base URL = %s, want %s", got, sandboxkit.DefaultControlPlaneBaseURL)
	}
	if _, err := New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("ftp://x")); err == nil {
		t.Error("a bad option was accepted")
	}
}
