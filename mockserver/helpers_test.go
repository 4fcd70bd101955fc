package mockserver_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// limits is a resourceLimits every create must carry.
var limits = lifecycleapi.NewOptResourceLimits(lifecycleapi.ResourceLimits{"cpu": "500m", "memory": "512Mi"})

// t0 is the start of every manual clock in these tests.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// env is one server and generated clients pointed at it.
type env struct {
	srv *mockserver.Server
	lc  *lifecycleapi.Client
	cp  *controlplaneapi.Client
}

// setup starts a server on a manual clock (unless opts choose another)
// and generated clients that use its in-memory transport.
func setup(t *testing.T, opts ...mockserver.Option) *env {
	t.Helper()
	srv := mockserver.Start(t, append([]mockserver.Option{mockserver.WithManualClock(t0)}, opts...)...)
	return &env{srv: srv, lc: lifecycleClient(t, srv, ""), cp: controlPlaneClient(t, srv, "")}
}

// keySource is a SecuritySource for both generated clients; "" sends no
// credential.
type keySource string

func (k keySource) APIKeyAuth(context.Context, lifecycleapi.OperationName) (lifecycleapi.APIKeyAuth, error) {
	if k == "" {
		return lifecycleapi.APIKeyAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return lifecycleapi.APIKeyAuth{APIKey: string(k)}, nil
}

func (k keySource) BearerAuth(context.Context, controlplaneapi.OperationName) (controlplaneapi.BearerAuth, error) {
	if k == "" {
		return controlplaneapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return controlplaneapi.BearerAuth{Token: string(k)}, nil
}

func lifecycleClient(t *testing.T, srv *mockserver.Server, key string) *lifecycleapi.Client {
	t.Helper()
	c, err := lifecycleapi.NewClient(srv.URL()+"/v1", keySource(key), lifecycleapi.WithClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func controlPlaneClient(t *testing.T, srv *mockserver.Server, key string) *controlplaneapi.Client {
	t.Helper()
	c, err := controlplaneapi.NewClient(srv.URL()+"/v0", keySource(key), controlplaneapi.WithClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createSandbox creates a sandbox from an image and returns its id.
func createSandbox(t *testing.T, c *lifecycleapi.Client, req *lifecycleapi.CreateSandboxRequest) string {
	t.Helper()
	if req == nil {
		req = &lifecycleapi.CreateSandboxRequest{}
	}
	if !req.Image.Set && !req.SnapshotID.Set {
		req.Image = lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "python:3.11"})
	}
	if req.Entrypoint == nil && req.Image.Set {
		req.Entrypoint = []string{"python", "-m", "http.server"}
	}
	if !req.ResourceLimits.Set {
		req.ResourceLimits = limits
	}
	res, err := c.CreateSandbox(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	return res.Response.ID
}

// getSandbox fetches a sandbox that must exist.
func getSandbox(t *testing.T, c *lifecycleapi.Client, id string) lifecycleapi.Sandbox {
	t.Helper()
	res, err := c.GetSandbox(t.Context(), lifecycleapi.GetSandboxParams{SandboxID: id})
	if err != nil {
		t.Fatalf("GetSandbox(%s): %v", id, err)
	}
	return *res
}

func stateOf(t *testing.T, c *lifecycleapi.Client, id string) string {
	t.Helper()
	return string(getSandbox(t, c, id).Status.State)
}

// wantLifecycleError checks that err is the API's error answer with
// status, and returns its body.
func wantLifecycleError(t *testing.T, err error, status int) lifecycleapi.ErrorResponse {
	t.Helper()
	e, ok := errors.AsType[*lifecycleapi.ErrorStatusCodeWithHeaders](err)
	if !ok {
		t.Fatalf("want %d answer, got error %v", status, err)
	}
	if e.StatusCode != status {
		t.Fatalf("status %d (%+v), want %d", e.StatusCode, e.Response, status)
	}
	if e.Response.Code == "" || e.Response.Message == "" {
		t.Errorf("error body %+v lacks code or message", e.Response)
	}
	return e.Response
}

// do sends a raw request through the server's in-memory client.
func do(t *testing.T, srv *mockserver.Server, method, path string, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// doRaw sends a request with exactly the given headers (a nil value
// removes a header) and body through the server's in-memory client.
func doRaw(t *testing.T, srv *mockserver.Server, method, path string, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range header {
		if vs == nil {
			req.Header.Del(k)
			continue
		}
		req.Header[k] = vs
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}
