package mockserver_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestClientOptions(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant("key-1", "acme"), mockserver.WithTenant("key-2", "other"))
	if _, err := srv.AddSandbox("acme", mockserver.SandboxSeed{ID: "sbx-acme"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		api  sandboxkit.API
		path string
	}{
		{sandboxkit.Lifecycle, "/sandboxes/sbx-acme"},
		{sandboxkit.ControlPlane, "/sandboxes"},
	} {
		cfg, err := sandboxkit.NewConfig(c.api, srv.ClientOptions(c.api)...)
		if err != nil {
			t.Fatalf("%v: %v", c.api, err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", cfg.BaseURL().String()+c.path, nil)
		resp, err := cfg.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("%v: %v", c.api, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%v GET %s: %d %s", c.api, c.path, resp.StatusCode, b)
		}
	}
	if got := srv.Requests(mockserver.Filter{Tenant: "acme"}); len(got) != 2 {
		t.Errorf("requests as acme: %+v", got)
	}
	// The sandbox API takes its base URL from an endpoint.
	cfg, err := sandboxkit.NewConfig(sandboxkit.Sandbox, append(srv.ClientOptions(sandboxkit.Sandbox), sandboxkit.WithBaseURL(srv.URL()+"/sandboxes/sbx-acme/port/8080"))...)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", cfg.BaseURL().String()+"/health", nil)
	resp, err := cfg.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("sandbox API health: %d", resp.StatusCode)
	}
}
