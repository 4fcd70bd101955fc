package controlplane

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
)

// cmpSandbox compares sandboxes including their unknown fields; empty and
// nil maps and slices are equal.
var cmpSandbox = []cmp.Option{
	cmp.AllowUnexported(Sandbox{}, Metadata{}, Spec{}, Runtime{}, Port{}, Env{}, Volume{}, Lifecycle{}, ExpirationPolicy{},
		Network{}, Egress{}, EgressPolicy{}, Firewall{}, Proxy{}, ProxyRoute{}),
	cmpopts.EquateEmpty(),
}

// rawServer answers every request with status and body and records the
// last request.
type rawServer struct {
	status int
	body   []byte
	mu     sync.Mutex
	last   call
}

func (s *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.last = call{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: string(b)}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}

func (s *rawServer) request() call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// checkHeaders checks the credentials and the JSON content type of a
// request.
func checkHeaders(t *testing.T, c call, withBody bool) {
	t.Helper()
	if got, want := c.Header.Get("Authorization"), "Bearer "+testToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got := c.Header.Get("X-Blaxel-Workspace"); got != testWorkspace {
		t.Errorf("X-Blaxel-Workspace = %q, want %q", got, testWorkspace)
	}
	if got := c.Header.Get("User-Agent"); !strings.HasPrefix(got, "sandboxkit-go/") {
		t.Errorf("User-Agent = %q", got)
	}
	if withBody && !strings.HasPrefix(c.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type = %q, want application/json", c.Header.Get("Content-Type"))
	}
}

// seed004 is the sandbox of seed 004 as this package reads it.
func seed004() *Sandbox {
	return &Sandbox{
		Metadata: Metadata{
			Name: "my-resource", DisplayName: "My Resource", Labels: map[string]string{}, Plan: "<string>",
			Workspace: "<string>", URL: "<string>", CreatedBy: "<string>", UpdatedBy: "<string>",
		},
		Spec: Spec{
			Enabled: ptr(true),
			Region:  "us-pdx-1",
			Runtime: &Runtime{
				Image:   "blaxel/base-image:latest",
				Memory:  4096,
				Ports:   []Port{{Name: "http", Target: 8080, Protocol: "HTTP"}},
				Envs:    []Env{{Name: "MY_ENV_VAR", Value: "my-value", Secret: true}},
				TTL:     "24h",
				Expires: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
			},
			Lifecycle: &Lifecycle{ExpirationPolicies: []ExpirationPolicy{{Type: PolicyTTLIdle, Value: "24h", Action: ActionDelete}}},
			Volumes:   []Volume{{Name: "my-volume", MountPath: "/mnt/data", ReadOnly: false}},
		},
		Status: StatusDeleting,
		Events: []Event{{
			Type: "deployment", Status: StatusDeployed, Message: "Deployment successful",
			Revision: "rev-abc123", CanaryRevision: "<string>", Time: time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC),
		}},
		ExpiresIn: ptr(123 * time.Second),
	}
}

func TestListDecodesSeed004PlainArray(t *testing.T) {
	t.Parallel()
	srv := &rawServer{status: http.StatusOK, body: testdata(t, "seed004_list.json")}
	c := newHTTPClient(t, srv)
	got, err := c.List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.request()
	if req.Method != http.MethodGet || req.Path != "/v0/sandboxes" {
		t.Errorf("request = %s %s, want GET /v0/sandboxes", req.Method, req.Path)
	}
	checkHeaders(t, req, false)
	if got.Unpaged != true || got.HasMore || req.Header.Get("Blaxel-Version") != PagedAPIVersion {
		t.Errorf("page = %+v, Blaxel-Version %q", got, req.Header.Get("Blaxel-Version"))
	}
	if diff := cmp.Diff([]*Sandbox{seed004()}, got.Items, cmpSandbox...); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}

// seed003_delete.json is seed 003's example with runtime.envs as objects
// (see testdata/README.md).
func TestDeleteDecodesSeed003(t *testing.T) {
	t.Parallel()
	seed := testdata(t, "seed003_delete.json")
	srv := &rawServer{status: http.StatusOK, body: seed}
	c := newHTTPClient(t, srv)
	got, err := c.Delete(t.Context(), "my-sandbox")
	if err != nil {
		t.Fatal(err)
	}
	req := srv.request()
	if req.Method != http.MethodDelete || req.Path != "/v0/sandboxes/my-sandbox" || req.Body != "" {
		t.Errorf("request = %s %s %q, want DELETE /v0/sandboxes/my-sandbox without a body", req.Method, req.Path, req.Body)
	}
	checkHeaders(t, req, false)

	// The modelled fields; placeholders that are not times read as zero.
	if got.Metadata.Name != "<string>" || got.Status != "<string>" || got.Status.Known() {
		t.Errorf("name %q, status %q", got.Metadata.Name, got.Status)
	}
	if got.Spec.Enabled == nil || !*got.Spec.Enabled || got.Spec.Runtime.Memory != 123 || string(got.Spec.Runtime.extra["cpu"]) != "123" {
		t.Errorf("spec = %+v, runtime = %+v", got.Spec, got.Spec.Runtime)
	}
	if diff := cmp.Diff([]Port{{Name: "<string>", Target: 123, Protocol: "<string>"}}, got.Spec.Runtime.Ports, cmpSandbox...); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if !got.ExpiresAt.Equal(time.Unix(123, 0)) || got.ExpiresIn != nil {
		t.Errorf("ExpiresAt = %v, ExpiresIn = %v", got.ExpiresAt, got.ExpiresIn)
	}

	// What is not modelled is kept, and written back as it came; only the
	// read-only members (and runtime.expires, whose placeholder is no
	// time) are left out.
	out, err := toAPI(got).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := jsonOf(t, string(seed)).(map[string]any)
	for _, k := range []string{"status", "events", "lastUsedAt", "ttl"} {
		delete(want, k)
	}
	md := want["metadata"].(map[string]any)
	for _, k := range []string{"createdAt", "updatedAt", "createdBy", "updatedBy", "workspace", "plan"} {
		delete(md, k)
	}
	delete(want["spec"].(map[string]any)["runtime"].(map[string]any), "expires")
	if diff := cmp.Diff(want, jsonOf(t, string(out))); diff != "" {
		t.Errorf("written back (-want +got):\n%s", diff)
	}
}

func TestCreateRequestMapping(t *testing.T) {
	t.Parallel()
	srv := &rawServer{status: http.StatusOK, body: []byte(`{"metadata":{"name":"agent-1","url":"https://agent-1.sandbox.test",
		"workspace":"ws-research","createdAt":"2026-01-01T00:00:00Z"},"spec":{},"status":"DEPLOYING",
		"lastUsedAt":"2026-01-01T00:00:00Z","events":[{"type":"deployment","status":"DEPLOYING"}]}`)}
	c := newHTTPClient(t, srv)
	in := &Sandbox{
		Metadata: Metadata{Name: "agent-1", DisplayName: "Agent 1", Labels: map[string]string{"team": "ml"}},
		Spec: Spec{
			Enabled: ptr(true),
			Region:  "us-pdx-1",
			Runtime: &Runtime{
				Image:   "blaxel/base-image:latest",
				Memory:  4096,
				Ports:   []Port{{Name: "http", Target: 8080, Protocol: "HTTP"}},
				Envs:    []Env{{Name: "A", Value: ""}, {Name: "TOKEN", Value: "s3cr3t", Secret: true}},
				TTL:     "24h",
				Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
			},
			Lifecycle: &Lifecycle{ExpirationPolicies: []ExpirationPolicy{TTLIdle(time.Hour), TTLMaxAge(7 * 24 * time.Hour)}},
			Volumes:   []Volume{{Name: "data", MountPath: "/mnt/data", ReadOnly: true}},
		},
		Status: StatusDeployed, // read-only: not sent
	}
	got, err := c.Create(t.Context(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.request()
	if req.Method != http.MethodPost || req.Path != "/v0/sandboxes" {
		t.Fatalf("request = %+v, want POST /v0/sandboxes", req)
	}
	checkHeaders(t, req, true)
	want := jsonOf(t, `{
		"metadata": {"name": "agent-1", "displayName": "Agent 1", "labels": {"team": "ml"}},
		"spec": {
			"enabled": true,
			"region": "us-pdx-1",
			"runtime": {
				"image": "blaxel/base-image:latest",
				"memory": 4096,
				"ports": [{"name": "http", "target": 8080, "protocol": "HTTP"}],
				"envs": [{"name": "A", "value": ""}, {"name": "TOKEN", "value": "s3cr3t", "secret": true}],
				"ttl": "24h",
				"expires": "2030-01-02T03:04:05Z"
			},
			"lifecycle": {"expirationPolicies": [
				{"type": "ttl-idle", "value": "1h", "action": "delete"},
				{"type": "ttl-max-age", "value": "1w", "action": "delete"}
			]},
			"volumes": [{"name": "data", "mountPath": "/mnt/data", "readOnly": true}]
		}
	}`)
	if diff := cmp.Diff(want, jsonOf(t, req.Body)); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	if got.Status != StatusDeploying || got.Metadata.URL != "https://agent-1.sandbox.test" || got.Metadata.Workspace != testWorkspace {
		t.Errorf("answer: status %q, url %q, workspace %q", got.Status, got.Metadata.URL, got.Metadata.Workspace)
	}
	if got.Metadata.CreatedAt.IsZero() || got.LastUsedAt.IsZero() || len(got.Events) != 1 {
		t.Errorf("answer lacks server fields: %+v", got)
	}
	if in.Status != StatusDeployed || in.Metadata.URL != "" {
		t.Error("Create changed its argument")
	}
}

func TestGetAndListRequestMapping(t *testing.T) {
	t.Parallel()
	one := &rawServer{status: http.StatusOK, body: []byte(`{"metadata":{"name":"a"},"spec":{"region":"eu"},"status":"DEPLOYED"}`)}
	all := &rawServer{status: http.StatusOK, body: []byte(`[{"metadata":{"name":"a"},"spec":{"region":"eu"},"status":"DEPLOYED"},
		{"metadata":{"name":"b"},"spec":{},"status":"DEPLOYING"}]`)}
	got, err := newHTTPClient(t, one).Get(t.Context(), "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Name != "a" || got.Spec.Region != "eu" || got.Status != StatusDeployed {
		t.Errorf("Get = %+v", got)
	}
	list, err := newHTTPClient(t, all).List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sb := range list.Items {
		names = append(names, sb.Metadata.Name+"="+sb.Status.String())
	}
	if diff := cmp.Diff([]string{"a=DEPLOYED", "b=DEPLOYING"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	calls := []call{one.request(), all.request()}
	for i, want := range []string{"GET /v0/sandboxes/a", "GET /v0/sandboxes"} {
		if got := calls[i].Method + " " + calls[i].Path; got != want {
			t.Errorf("call %d = %s, want %s", i, got, want)
		}
		if calls[i].Body != "" {
			t.Errorf("call %d has a body: %q", i, calls[i].Body)
		}
		checkHeaders(t, calls[i], false)
	}
}

// unknownEverywhere is a sandbox with members this package does not model
// at every level.
const unknownEverywhere = `{
	"metadata": {"name": "keep", "labels": {"a": "b"}, "x-meta": {"deep": [1, 2]}},
	"spec": {
		"region": "eu",
		"x-spec": "s",
		"runtime": {
			"image": "img", "memory": 2048, "x-runtime": true,
			"args": ["--flag"],
			"ports": [{"target": 80, "x-port": 1}],
			"envs": [{"name": "E", "value": "v", "x-env": null}],
			"ttl": "2h"
		},
		"lifecycle": {
			"x-lifecycle": {"k": "v"},
			"expirationPolicies": [{"type": "ttl-max-age", "value": "2h", "action": "delete", "x-policy": 7}]
		},
		"volumes": [{"name": "v", "mountPath": "/v", "readOnly": false, "x-volume": "y"}],
		"network": {
			"subnet": "s1", "x-network": 1,
			"egress": {"gateway": "gw", "x-egress": [], "policies": [{"name": "p", "destinations": ["d"], "x-egress-policy": 2}]},
			"firewall": {"rulesets": ["proxy"], "x-firewall": "f"},
			"proxy": {"bypass": ["b"], "x-proxy": {}, "routing": [{"destinations": ["*"], "headers": {"H": "v"}, "x-route": true}]}
		}
	},
	"x-top": {"nested": {"n": 1.5}}
}`

func TestUpdateRoundTripsUnknownFields(t *testing.T) {
	t.Parallel()
	// A service that knows more fields than this package: every answer
	// is the sandbox with members the package does not model.
	srv := &rawServer{status: http.StatusOK, body: []byte(unknownEverywhere)}
	c := newHTTPClient(t, srv)

	sb, err := c.Get(t.Context(), "keep", nil)
	if err != nil {
		t.Fatal(err)
	}
	sb.Spec.Runtime.Memory = 4096
	sb.Metadata.Labels["c"] = "d"
	if _, err := c.Update(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	put := srv.request()
	if put.Method != http.MethodPut || put.Path != "/v0/sandboxes/keep" {
		t.Fatalf("last call = %s %s, want PUT /v0/sandboxes/keep", put.Method, put.Path)
	}
	checkHeaders(t, put, true)
	want := jsonOf(t, unknownEverywhere).(map[string]any)
	want["spec"].(map[string]any)["runtime"].(map[string]any)["memory"] = 4096.0
	want["metadata"].(map[string]any)["labels"].(map[string]any)["c"] = "d"
	if diff := cmp.Diff(want, jsonOf(t, put.Body)); diff != "" {
		t.Errorf("PUT body (-want +got):\n%s", diff)
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	var orig Sandbox
	raw := toAPIFromJSON(t, unknownEverywhere)
	orig = *fromAPI(raw)
	cp := orig.Clone()
	if diff := cmp.Diff(&orig, cp, cmpSandbox...); diff != "" {
		t.Fatalf("clone differs (-orig +clone):\n%s", diff)
	}
	cp.Spec.Runtime.Ports[0].Target = 1
	cp.Spec.Lifecycle.ExpirationPolicies[0].Value = "1m"
	cp.Metadata.Labels["a"] = "z"
	cp.Spec.extra["x-spec"] = []byte(`"changed"`)
	if orig.Spec.Runtime.Ports[0].Target != 80 || orig.Spec.Lifecycle.ExpirationPolicies[0].Value != "2h" ||
		orig.Metadata.Labels["a"] != "b" || string(orig.Spec.extra["x-spec"]) != `"s"` {
		t.Error("changing the clone changed the original")
	}
}

func TestAPIErrorsAreTyped(t *testing.T) {
	t.Parallel()
	c := newHTTPClient(t, &rawServer{status: http.StatusNotFound, body: []byte(`{"error":"Sandbox not found","code":"WORKLOAD_NOT_FOUND"}`)})
	_, err := c.Get(t.Context(), "missing", nil)
	if !errors.Is(err, sandboxkit.ErrNotFound) || sandboxkit.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("err = %v, want a 404 APIError", err)
	}
	if !strings.Contains(err.Error(), "controlplane.Get") || strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q should name the operation and not the token", err)
	}
	_, err = c.Delete(t.Context(), "missing")
	if !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("Delete err = %v", err)
	}

	c2 := newHTTPClient(t, &rawServer{status: http.StatusConflict, body: []byte(`{"error":"sandbox dup already exists"}`)})
	_, err = c2.Create(t.Context(), &Sandbox{Metadata: Metadata{Name: "dup"}}, nil)
	if !errors.Is(err, sandboxkit.ErrConflict) || !strings.Contains(err.Error(), "controlplane.Create") {
		t.Errorf("Create err = %v, want a 409 naming controlplane.Create", err)
	}
}

func TestBadInputFailsBeforeTheNetwork(t *testing.T) {
	t.Parallel()
	c := offlineClient(t, "https://cp.test/v0")
	ctx := t.Context()
	sb := func(mod func(*Sandbox)) *Sandbox {
		s := &Sandbox{Metadata: Metadata{Name: "ok"}, Spec: Spec{Runtime: &Runtime{Image: "img"}}}
		if mod != nil {
			mod(s)
		}
		return s
	}
	policy := func(p ExpirationPolicy) *Sandbox {
		return sb(func(s *Sandbox) { s.Spec.Lifecycle = &Lifecycle{ExpirationPolicies: []ExpirationPolicy{p}} })
	}
	cases := map[string]func() error{
		"Create nil":        func() error { _, err := c.Create(ctx, nil, nil); return err },
		"Create empty name": func() error { _, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.Name = "" }), nil); return err },
		"Create slash name": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.Name = "a/b" }), nil)
			return err
		},
		"Create neg memory": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Memory = -1 }), nil)
			return err
		},
		"Create long name": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.Name = strings.Repeat("a", 50) }), nil)
			return err
		},
		"Create upper-case name": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.Name = "Web" }), nil)
			return err
		},
		"Create bad external id": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.ExternalID = "a_b" }), nil)
			return err
		},
		"Create long external id": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Metadata.ExternalID = strings.Repeat("x", 65) }), nil)
			return err
		},
		"Create go duration ttl": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.TTL = "1h30m" }), nil)
			return err
		},
		"Create port protocol": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Ports = []Port{{Target: 80, Protocol: "SCTP"}} }), nil)
			return err
		},
		"Create port without target": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Ports = []Port{{Name: "http"}} }), nil)
			return err
		},
		"Create ephemeral without size": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) {
				s.Spec.Volumes = []Volume{{Name: "scratch", MountPath: "/scratch", Type: VolumeEphemeral}}
			}), nil)
			return err
		},
		"Create volume type": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Volumes = []Volume{{Name: "v", MountPath: "/v", Type: "nfs"}} }), nil)
			return err
		},
		"Create retention": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Lifecycle = &Lifecycle{TerminatedRetention: "a while"} }), nil)
			return err
		},
		"Create extra args": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.ExtraArgs = map[string]string{"tun": "on"} }), nil)
			return err
		},
		"Create grace": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.TerminationGracePeriodSeconds = -1 }), nil)
			return err
		},
		"Create idle policy of -1h": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) {
				s.Spec.Lifecycle = &Lifecycle{ExpirationPolicies: []ExpirationPolicy{TTLIdle(-time.Hour)}}
			}), nil)
			return err
		},
		"Create max-age policy of 0": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Lifecycle = &Lifecycle{ExpirationPolicies: []ExpirationPolicy{TTLMaxAge(0)}} }), nil)
			return err
		},
		"Create options": func() error { _, err := c.Create(ctx, sb(nil), &CreateOptions{MaxAttempts: -1}); return err },
		"Create bad ttl": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.TTL = "1 day" }), nil)
			return err
		},
		"Create bad port": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Ports = []Port{{Target: 70000}} }), nil)
			return err
		},
		"Create env no name": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Envs = []Env{{Value: "v"}} }), nil)
			return err
		},
		"Create volume": func() error {
			_, err := c.Create(ctx, sb(func(s *Sandbox) { s.Spec.Volumes = []Volume{{Name: "v"}} }), nil)
			return err
		},
		"Create 24 hours": func() error {
			_, err := c.Create(ctx, policy(ExpirationPolicy{Type: PolicyTTLIdle, Value: "24 hours"}), nil)
			return err
		},
		"Create bad date": func() error {
			_, err := c.Create(ctx, policy(ExpirationPolicy{Type: PolicyDate, Value: "tomorrow"}), nil)
			return err
		},
		"Create bad type": func() error {
			_, err := c.Create(ctx, policy(ExpirationPolicy{Type: "ttl_idle", Value: "1h"}), nil)
			return err
		},
		"Create bad action": func() error {
			_, err := c.Create(ctx, policy(ExpirationPolicy{Type: PolicyTTLIdle, Value: "1h", Action: "stop"}), nil)
			return err
		},
		"Get empty":   func() error { _, err := c.Get(ctx, "", nil); return err },
		"Get dot dot": func() error { _, err := c.Get(ctx, "..", nil); return err },
		"Update neg memory": func() error {
			_, err := c.Update(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Memory = -1 }))
			return err
		},
		"Delete empty":      func() error { _, err := c.Delete(ctx, ""); return err },
		"SetTTL negative":   func() error { _, err := c.SetTTL(ctx, "ok", -time.Hour, nil); return err },
		"SetTTL empty name": func() error { _, err := c.SetTTL(ctx, "", time.Hour, nil); return err },
		"ExtendTTL zero":    func() error { _, err := c.ExtendTTL(ctx, "ok", 0, nil); return err },
		"Policies 24 hours": func() error {
			_, err := c.SetExpirationPolicies(ctx, "ok", []ExpirationPolicy{{Type: PolicyTTLIdle, Value: "24 hours"}}, nil)
			return err
		},
		"Ensure empty name": func() error {
			_, err := c.EnsureSandbox(ctx, sb(func(s *Sandbox) { s.Metadata.Name = "" }), nil)
			return err
		},
		"Ensure neg memory": func() error {
			_, err := c.EnsureSandbox(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Memory = -5 }), nil)
			return err
		},
		"Ensure bad wait": func() error {
			_, err := c.EnsureSandbox(ctx, sb(func(*Sandbox) {}), &EnsureOptions{Wait: &sandboxkit.WaitOptions{MinDelay: -1}})
			return err
		},
		"Wait empty name": func() error { _, err := NewWaiter(c, nil).Wait(ctx, "", StatusDeployed); return err },
		"Wait options": func() error {
			_, err := NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: 2, MaxDelay: 1}).Wait(ctx, "ok", StatusGone)
			return err
		},
		"CreateAndWait bad": func() error {
			_, err := c.CreateAndWait(ctx, sb(func(s *Sandbox) { s.Spec.Runtime.Memory = -1 }), nil)
			return err
		},
		"DeleteAndWait bad": func() error { _, err := c.DeleteAndWait(ctx, "ok", &sandboxkit.WaitOptions{MaxDelay: -1}); return err },
	}
	for name, fn := range cases {
		err := fn()
		if !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"30m": 30 * time.Minute, "24h": 24 * time.Hour, "90m": 90 * time.Minute, "90s": 90 * time.Second,
		"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
	}
	for s, want := range good {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "24 hours", "24", "0m", "-1h", "1.5d", "-1d", "+1d", "0d", "d", "1y", " 1h", "1h ", "99999999999999999w",
		"1h30m", "1d12h", "500ms", "2.5h"} {
		_, err := ParseDuration(s)
		if !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("ParseDuration(%q) err = %v, want ErrInvalidInput", s, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Nanosecond: "1s", time.Second: "1s", 1500 * time.Millisecond: "2s", time.Minute: "1m", 61 * time.Second: "61s",
		90 * time.Minute: "90m", time.Hour: "1h", 25 * time.Hour: "25h", 24 * time.Hour: "1d", 48 * time.Hour: "2d",
		7 * 24 * time.Hour: "1w", 14 * 24 * time.Hour: "2w", 8 * 24 * time.Hour: "8d",
	} {
		got, err := FormatDuration(d)
		if err != nil || got != want {
			t.Errorf("FormatDuration(%v) = %q, %v, want %q", d, got, err, want)
		}
		if back, err := ParseDuration(got); err != nil || back < d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v: must not be shorter", d, back, err)
		}
	}
}

// Issue 12: zero and negative durations were written as "1m", and
// TTLIdle(-time.Hour) made a one-minute idle policy. They are invalid
// input now, before anything is sent.
func TestNonPositiveDurationsAreRejected(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Nanosecond, -time.Hour} {
		if s, err := FormatDuration(d); !errors.Is(err, sandboxkit.ErrInvalidInput) || s != "" {
			t.Errorf("FormatDuration(%v) = %q, %v; want ErrInvalidInput", d, s, err)
		}
		for _, p := range []ExpirationPolicy{TTLIdle(d), TTLMaxAge(d)} {
			if err := p.Validate(); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("%s(%v) = %+v validates: %v", p.Type, d, p, err)
			}
		}
	}
	if err := ExpireAt(time.Time{}).Validate(); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("ExpireAt(zero) validates: %v", err)
	}
	c := offlineClient(t, "https://cp.test/v0")
	_, err := c.SetExpirationPolicies(t.Context(), "box", []ExpirationPolicy{TTLIdle(-time.Hour)}, nil)
	if !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("SetExpirationPolicies(TTLIdle(-1h)) = %v, want ErrInvalidInput", err)
	}
}

func TestStatusKnown(t *testing.T) {
	t.Parallel()
	for _, s := range []Status{StatusUploading, StatusBuilding, StatusBuilt, StatusDeploying, StatusDeployed, StatusFailed,
		StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated} {
		if !s.Known() {
			t.Errorf("%s not known", s)
		}
	}
	// An unknown status passes through a decode untouched.
	sb := fromAPI(toAPIFromJSON(t, `{"metadata":{"name":"x"},"spec":{},"status":"HIBERNATING"}`))
	if sb.Status != "HIBERNATING" || sb.Status.Known() {
		t.Errorf("status = %q", sb.Status)
	}
}

// toAPIFromJSON decodes a sandbox with the generated decoder.
func toAPIFromJSON(t *testing.T, s string) *apiSandbox {
	t.Helper()
	var v apiSandbox
	if err := v.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return &v
}

type apiSandbox = api.Sandbox
