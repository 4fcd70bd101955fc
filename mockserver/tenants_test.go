package mockserver_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestTenants(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTenant("key-a", "a"), mockserver.WithTenant("key-a2", "a"), mockserver.WithTenant("key-b", "b"),
		mockserver.WithTransitionDelay(0))
	ctx := t.Context()
	a, a2, b := lifecycleClient(t, e.srv, "key-a"), lifecycleClient(t, e.srv, "key-a2"), lifecycleClient(t, e.srv, "key-b")
	none, wrong := lifecycleClient(t, e.srv, ""), lifecycleClient(t, e.srv, "key-x")

	id := createSandbox(t, a, nil)
	if got := stateOf(t, a2, id); got != mockserver.StateRunning {
		t.Errorf("second key of the tenant sees %s", got)
	}
	_, err := b.GetSandbox(ctx, lifecycleapi.GetSandboxParams{SandboxID: id})
	wantLifecycleError(t, err, http.StatusNotFound)
	err = b.PauseSandbox(ctx, lifecycleapi.PauseSandboxParams{SandboxID: id})
	wantLifecycleError(t, err, http.StatusNotFound)
	l, err := b.ListSandboxes(ctx, lifecycleapi.ListSandboxesParams{})
	if err != nil || len(l.Items) != 0 || l.Pagination.TotalItems != 0 {
		t.Errorf("tenant b lists %+v %v", l, err)
	}
	for name, c := range map[string]*lifecycleapi.Client{"MISSING_API_KEY": none, "INVALID_API_KEY": wrong} {
		_, err := c.GetSandbox(ctx, lifecycleapi.GetSandboxParams{SandboxID: id})
		if body := wantLifecycleError(t, err, http.StatusUnauthorized); body.Code != name {
			t.Errorf("code %q, want %s", body.Code, name)
		}
		_, err = c.CreateSandbox(ctx, &lifecycleapi.CreateSandboxRequest{Image: lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "x"}), Entrypoint: []string{"sh"}, ResourceLimits: limits})
		wantLifecycleError(t, err, http.StatusUnauthorized)
	}
	if n := len(e.srv.Sandboxes()); n != 1 {
		t.Errorf("%d sandboxes after unauthenticated creates", n)
	}
	if n := e.srv.Count(mockserver.Filter{API: mockserver.APILifecycle, Status: 401}); n != 4 {
		t.Errorf("journal has %d lifecycle 401s, want 4", n)
	}

	// Control plane: same names in two tenants do not collide.
	cpA, cpB := controlPlaneClient(t, e.srv, "key-a"), controlPlaneClient(t, e.srv, "key-b")
	for _, c := range []*controlplaneapi.Client{cpA, cpB} {
		if _, err := c.CreateSandbox(ctx, cpSandbox("web"), controlplaneapi.CreateSandboxParams{}); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	if _, err := cpA.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "web"}); err != nil {
		t.Fatal(err)
	}
	if sb, err := cpB.GetSandbox(ctx, controlplaneapi.GetSandboxParams{SandboxName: "web"}); err != nil || sb.Status.Or("") != mockserver.StatusDeployed {
		t.Errorf("tenant b's web after tenant a deleted its own: %+v %v", sb, err)
	}
	if _, err := controlPlaneClient(t, e.srv, "").ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{}); gatewayCode(t, err, http.StatusUnauthorized) != "AUTHENTICATION_FAILED" {
		t.Errorf("control plane without token: %v", err)
	}
	resp, _ := do(t, e.srv, http.MethodGet, "/v0/sandboxes", "", http.Header{"X-Blaxel-Authorization": {"Bearer key-b"}})
	if resp.StatusCode != 200 {
		t.Errorf("X-Blaxel-Authorization: %d", resp.StatusCode)
	}
	resp, _ = do(t, e.srv, http.MethodGet, "/v0/sandboxes", "", http.Header{"Open-Sandbox-Api-Key": {"key-b"}})
	if resp.StatusCode != 401 {
		t.Errorf("control plane with the lifecycle header: %d, want 401", resp.StatusCode)
	}

	// Sandbox API: the owner's key as a bearer token (or the lifecycle
	// header, for proxied endpoints); other tenants get 404.
	health := "/sandboxes/" + id + "/port/8080/health"
	for _, c := range []struct {
		header http.Header
		want   int
	}{
		{nil, 401},
		{http.Header{"Authorization": {"Bearer key-x"}}, 401},
		{http.Header{"Authorization": {"Bearer key-b"}}, 404},
		{http.Header{"Authorization": {"Bearer key-a"}}, 200},
		{http.Header{"Authorization": {"bearer key-a2"}}, 200},
		{http.Header{"X-Blaxel-Authorization": {"Bearer key-a"}}, 200},
		{http.Header{"Open-Sandbox-Api-Key": {"key-a"}}, 200},
	} {
		resp, body := do(t, e.srv, http.MethodGet, health, "", c.header)
		if resp.StatusCode != c.want {
			t.Errorf("sandbox API with %v: %d %s, want %d", c.header, resp.StatusCode, body, c.want)
		}
		if c.want == 401 && !strings.Contains(body, `"error"`) {
			t.Errorf("sandbox API 401 body %s", body)
		}
	}
	resp, _ = do(t, e.srv, http.MethodGet, "/cp/a/web/health", "", http.Header{"Authorization": {"Bearer key-b"}})
	if resp.StatusCode != 404 {
		t.Errorf("tenant b on tenant a's control plane sandbox: %d, want 404", resp.StatusCode)
	}
	resp, _ = do(t, e.srv, http.MethodGet, "/cp/b/web/health", "", http.Header{"Authorization": {"Bearer key-b"}})
	if resp.StatusCode != 200 {
		t.Errorf("tenant b on its own control plane sandbox: %d, want 200", resp.StatusCode)
	}
}

func TestTenantOptionsValidate(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]mockserver.Option{
		"empty key":    mockserver.WithTenant("", "a"),
		"empty name":   mockserver.WithTenant("k", ""),
		"negative":     mockserver.WithTransitionDelay(-1),
		"retention":    mockserver.WithRetention(-1),
		"kind":         mockserver.WithTransition("Teleport", mockserver.Immediate()),
		"mode":         mockserver.WithTransition(mockserver.TransitionPause, mockserver.After(-1)),
		"base URL":     mockserver.WithBaseURL("ftp://x"),
		"base path":    mockserver.WithBaseURL("http://x/v1"),
		"journal":      mockserver.WithJournalLimit(-1),
		"zero clock":   mockserver.WithManualClock(time.Time{}),
		"listen empty": mockserver.WithListener(""),
	} {
		if _, err := mockserver.New(opt); err == nil {
			t.Errorf("%s: New accepted an invalid option", name)
		}
	}
	if _, err := mockserver.New(mockserver.WithTenant("k", "a"), mockserver.WithTenant("k", "b")); err == nil {
		t.Error("one key for two tenants accepted")
	}
}

func TestRequestIDOnEveryResponse(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTenant("key", "t"))
	id, _ := e.srv.AddSandbox("t", mockserver.SandboxSeed{})
	if _, err := e.srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSnapshots", Status: 503}); err != nil {
		t.Fatal(err)
	}
	key := http.Header{"Open-Sandbox-Api-Key": {"key"}}
	bearer := http.Header{"Authorization": {"Bearer key"}}
	for _, c := range []struct {
		method, path, body string
		header             http.Header
		status             int
	}{
		{"GET", "/v1/sandboxes/" + id, "", key, 200},
		{"GET", "/v1/sandboxes/nope", "", key, 404},
		{"GET", "/v1/sandboxes/" + id, "", nil, 401},
		{"POST", "/v1/sandboxes/" + id + "/resume", "", key, 409},
		{"POST", "/v1/sandboxes", "{", key, 422},
		{"GET", "/v1/snapshots", "", key, 503},
		{"PUT", "/v1/sandboxes", "", key, 405},
		{"GET", "/v1/nowhere", "", key, 404},
		{"GET", "/v1/nowhere", "", nil, 401}, // the key is checked before routing
		{"GET", "/elsewhere", "", nil, 401},
		{"GET", "/health", "", nil, 200},
		{"GET", "/v0/sandboxes", "", bearer, 200},
		{"GET", "/v0/sandboxes/nope", "", bearer, 404},
		{"GET", "/sandboxes/" + id + "/port/8080/health", "", bearer, 200},
		{"GET", "/sandboxes/" + id + "/port/8080/nowhere", "", bearer, 404},
	} {
		resp, body := do(t, e.srv, c.method, c.path, c.body, c.header)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
		rid := resp.Header.Get("X-Request-ID")
		if !hex32.MatchString(rid) {
			t.Errorf("%s %s: X-Request-ID %q is not 32 hex digits", c.method, c.path, rid)
		}
		if got := e.srv.Requests(mockserver.Filter{Path: c.path, Method: c.method}); len(got) == 0 || got[len(got)-1].RequestID != rid || got[len(got)-1].Status != c.status {
			t.Errorf("%s %s: journal %+v, want request id %s status %d", c.method, c.path, got, rid, c.status)
		}
	}
	// A client's own request id is kept.
	resp, _ := do(t, e.srv, "GET", "/v1/sandboxes/"+id, "", http.Header{"Open-Sandbox-Api-Key": {"key"}, "X-Request-Id": {"my-trace-1"}})
	if got := resp.Header.Get("X-Request-ID"); got != "my-trace-1" {
		t.Errorf("X-Request-ID = %q, want the client's", got)
	}
}

func TestJournal(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithJournalLimit(3), mockserver.WithTenant("k", "t"))
	for _, p := range []string{"/v1/sandboxes/a", "/v1/sandboxes/b", "/v1/sandboxes/c", "/v1/sandboxes/d"} {
		do(t, e.srv, "GET", p, "", http.Header{"Open-Sandbox-Api-Key": {"k"}})
	}
	j := e.srv.Journal()
	var paths []string
	for _, en := range j {
		paths = append(paths, en.Path)
	}
	if strings.Join(paths, " ") != "/v1/sandboxes/b /v1/sandboxes/c /v1/sandboxes/d" {
		t.Errorf("journal keeps %v, want the newest three", paths)
	}
	en := j[2]
	if en.API != mockserver.APILifecycle || en.Operation != "GetSandbox" || en.Method != "GET" || en.Status != 404 ||
		en.Tenant != "t" || en.SandboxID != "d" || !en.Time.Equal(t0) || en.RequestID == "" {
		t.Errorf("entry = %+v", en)
	}
	if n := e.srv.Count(mockserver.Filter{Operation: "GetSandbox", Status: 404}); n != 3 {
		t.Errorf("Count = %d", n)
	}
	if n := len(e.srv.Requests(mockserver.Filter{SandboxID: "c"})); n != 1 {
		t.Errorf("Requests(SandboxID c) = %d", n)
	}
	e.srv.ResetJournal()
	if n := len(e.srv.Journal()); n != 0 {
		t.Errorf("after reset: %d entries", n)
	}
}

// hex32 is the lifecycle server's request id: a UUID as 32 hex digits.
var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
