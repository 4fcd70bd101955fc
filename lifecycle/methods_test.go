package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jarcoal/httpmock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// captured is one request seen by a canned responder.
type captured struct {
	method, path, rawQuery string
	header                 http.Header
	body                   string
}

// env is a client whose every request is answered by one canned response
// and recorded.
type env struct {
	c   *lifecycle.Client
	mt  *httpmock.MockTransport
	mu  sync.Mutex
	got []captured
}

// setup returns a client over a per-test httpmock transport answering
// every request with status and body (and an X-Request-ID header).
// Transport retries are off, so each call is one request.
func setup(t *testing.T, status int, body string) *env {
	t.Helper()
	return setupFunc(t, func(*http.Request) (int, string) { return status, body })
}

// setupFunc is setup with the answer chosen per request.
func setupFunc(t *testing.T, answer func(r *http.Request) (int, string)) *env {
	t.Helper()
	e := &env{mt: httpmock.NewMockTransport()}
	e.mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
		}
		e.mu.Lock()
		e.got = append(e.got, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
		e.mu.Unlock()
		status, body := answer(r)
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("X-Request-ID", "req-42")
		if body != "" {
			resp.Header.Set("Content-Type", "application/json")
		}
		resp.Request = r
		return resp, nil
	})
	e.c = newClient(t, e.mt, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
	t.Cleanup(func() { e.mt.Reset() })
	return e
}

func (e *env) requests() []captured {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]captured(nil), e.got...)
}

var (
	t0  = time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	t1  = time.Date(2026, 3, 1, 10, 31, 0, 0, time.UTC)
	exp = time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC)
)

const sandboxJSON = `{
  "id": "sandbox-abc123",
  "image": {"uri": "python:3.11"},
  "platform": {"os": "linux", "arch": "amd64"},
  "status": {"state": "Running", "reason": "running", "message": "Sandbox is running", "lastTransitionAt": "2026-03-01T10:31:00Z"},
  "metadata": {"name": "My Python Sandbox"},
  "entrypoint": ["python", "/app/main.py"],
  "expiresAt": "2026-03-01T11:30:00Z",
  "createdAt": "2026-03-01T10:30:00Z",
  "someFutureField": {"x": 1}
}`

var wantSandbox = &lifecycle.Sandbox{
	ID:         "sandbox-abc123",
	Image:      &lifecycle.Image{URI: "python:3.11"},
	Platform:   &lifecycle.Platform{OS: "linux", Arch: "amd64"},
	Status:     lifecycle.Status{State: lifecycle.StateRunning, Reason: "running", Message: "Sandbox is running", LastTransitionAt: t1},
	Metadata:   map[string]string{"name": "My Python Sandbox"},
	Entrypoint: []string{"python", "/app/main.py"},
	ExpiresAt:  exp,
	CreatedAt:  t0,
}

const snapshotJSON = `{"id":"snap-1","sandboxId":"sandbox-abc123","name":"before-upgrade",
  "status":{"state":"Ready","reason":"done","lastTransitionAt":"2026-03-01T10:31:00Z"},"createdAt":"2026-03-01T10:30:00Z"}`

var wantSnapshot = &lifecycle.Snapshot{
	ID: "snap-1", SandboxID: "sandbox-abc123", Name: "before-upgrade",
	Status:    lifecycle.SnapshotStatus{State: lifecycle.SnapshotReady, Reason: "done", LastTransitionAt: t1},
	CreatedAt: t0,
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, want, got string) {
	t.Helper()
	if want == "" && got == "" {
		return
	}
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want body: %v", err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("request body %q: %v", got, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestMethodsRequestAndResponse(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()
	tests := []struct {
		name       string
		status     int
		respBody   string
		call       func(ctx context.Context, c *lifecycle.Client) (any, error)
		wantMethod string
		wantPath   string
		wantQuery  url.Values
		wantBody   string // JSON; "" for none
		want       any
	}{
		{
			name: "Get", status: 200, respBody: sandboxJSON,
			call:       func(ctx context.Context, c *lifecycle.Client) (any, error) { return c.Get(ctx, "sandbox-abc123") },
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123",
			want: wantSandbox,
		},
		{
			name: "List", status: 200,
			respBody: `{"items":[` + sandboxJSON + `],"pagination":{"page":2,"pageSize":50,"totalItems":51,"totalPages":2,"hasNextPage":false}}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.List(ctx, &lifecycle.ListOptions{
					States:   []lifecycle.State{lifecycle.StateRunning, "paused"},
					Metadata: map[string]string{"project": "Apollo", "note": "Demo Test"},
					Page:     2, PageSize: 50,
				})
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes",
			wantQuery: url.Values{
				"state":    {"Running", "Paused"},
				"metadata": {"note=Demo%20Test&project=Apollo"},
				"page":     {"2"}, "pageSize": {"50"},
			},
			want: &lifecycle.SandboxPage{Items: []*lifecycle.Sandbox{wantSandbox},
				Pagination: lifecycle.Pagination{Page: 2, PageSize: 50, TotalItems: 51, TotalPages: 2}},
		},
		{
			name: "List defaults", status: 200,
			respBody:   `{"items":[],"pagination":{"page":1,"pageSize":20,"totalItems":0,"totalPages":0,"hasNextPage":false}}`,
			call:       func(ctx context.Context, c *lifecycle.Client) (any, error) { return c.List(ctx, nil) },
			wantMethod: "GET", wantPath: "/v1/sandboxes", wantQuery: url.Values{},
			want: &lifecycle.SandboxPage{Items: []*lifecycle.Sandbox{}, Pagination: lifecycle.Pagination{Page: 1, PageSize: 20}},
		},
		{
			name: "Delete 204", status: 204,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return nil, c.Delete(ctx, "sandbox-abc123")
			},
			wantMethod: "DELETE", wantPath: "/v1/sandboxes/sandbox-abc123",
		},
		{
			name: "Pause 202", status: 202,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return nil, c.Pause(ctx, "sandbox-abc123")
			},
			wantMethod: "POST", wantPath: "/v1/sandboxes/sandbox-abc123/pause",
		},
		{
			name: "Resume 202", status: 202,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return nil, c.Resume(ctx, "sandbox-abc123")
			},
			wantMethod: "POST", wantPath: "/v1/sandboxes/sandbox-abc123/resume",
		},
		{
			name: "Renew", status: 200, respBody: `{"expiresAt":"` + future.Add(-299998*time.Microsecond).Format(time.RFC3339Nano) + `"}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				// Microseconds go on the wire, in UTC; a finer time
				// rounds up to the next microsecond.
				return c.Renew(ctx, "sandbox-abc123", future.Add(-300*time.Millisecond+1500*time.Nanosecond).In(time.FixedZone("X", 3600)))
			},
			wantMethod: "POST", wantPath: "/v1/sandboxes/sandbox-abc123/renew-expiration",
			wantBody: `{"expiresAt":"` + future.Add(-time.Second).Format("2006-01-02T15:04:05") + `.700002Z"}`,
			want:     future.Add(-299998 * time.Microsecond),
		},
		{
			name: "Endpoint direct", status: 200, respBody: `{"endpoint":"gw.test/sandboxes/abc/port/8080"}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.Endpoint(ctx, "sandbox-abc123", 8080, nil)
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123/endpoints/8080", wantQuery: url.Values{},
			want: &lifecycle.Endpoint{Address: "gw.test/sandboxes/abc/port/8080"},
		},
		{
			name: "Endpoint server proxy", status: 200, respBody: `{"endpoint":"lc.test/v1/sandboxes/abc/proxy/80","headers":{"X-Route":"abc"}}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.Endpoint(ctx, "sandbox-abc123", 80, &lifecycle.EndpointOptions{UseServerProxy: true})
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123/endpoints/80", wantQuery: url.Values{"use_server_proxy": {"true"}},
			want: &lifecycle.Endpoint{Address: "lc.test/v1/sandboxes/abc/proxy/80", Headers: map[string]string{"X-Route": "abc"}},
		},
		{
			name: "Endpoint signed", status: 200, respBody: `{"endpoint":"gw.test/s/abc?sig=1"}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.Endpoint(ctx, "sandbox-abc123", 65535, &lifecycle.EndpointOptions{SignedUntil: future.Add(500 * time.Millisecond)})
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123/endpoints/65535",
			wantQuery: url.Values{"expires": {fmt.Sprint(future.Unix())}},
			want:      &lifecycle.Endpoint{Address: "gw.test/s/abc?sig=1"},
		},
		{
			name: "PatchMetadata", status: 200, respBody: sandboxJSON,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.PatchMetadata(ctx, "sandbox-abc123", &lifecycle.MetadataPatch{
					Set: map[string]string{"team": "ml"}, Delete: []string{"old"}})
			},
			wantMethod: "PATCH", wantPath: "/v1/sandboxes/sandbox-abc123/metadata",
			wantBody: `{"team":"ml","old":null}`,
			want:     wantSandbox,
		},
		{
			// An empty patch is not sent: the real server rewrites the
			// metadata on any patch (resurrecting deleted creation keys).
			name: "PatchMetadata empty reads instead", status: 200, respBody: sandboxJSON,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.PatchMetadata(ctx, "sandbox-abc123", nil)
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123",
			want: wantSandbox,
		},
		{
			name: "PatchMetadata empty non-nil reads instead", status: 200, respBody: sandboxJSON,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.PatchMetadata(ctx, "sandbox-abc123", &lifecycle.MetadataPatch{Set: map[string]string{}, Delete: []string{}})
			},
			wantMethod: "GET", wantPath: "/v1/sandboxes/sandbox-abc123",
			want: wantSandbox,
		},
		{
			name: "CreateSnapshot 202", status: 202, respBody: snapshotJSON,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.CreateSnapshot(ctx, "sandbox-abc123", &lifecycle.CreateSnapshotOptions{Name: "before-upgrade"})
			},
			wantMethod: "POST", wantPath: "/v1/sandboxes/sandbox-abc123/snapshots",
			wantBody: `{"name":"before-upgrade"}`,
			want:     wantSnapshot,
		},
		{
			name: "CreateSnapshot unnamed", status: 202, respBody: snapshotJSON,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.CreateSnapshot(ctx, "sandbox-abc123", nil)
			},
			wantMethod: "POST", wantPath: "/v1/sandboxes/sandbox-abc123/snapshots",
			want: wantSnapshot,
		},
		{
			name: "GetSnapshot", status: 200, respBody: snapshotJSON,
			call:       func(ctx context.Context, c *lifecycle.Client) (any, error) { return c.GetSnapshot(ctx, "snap-1") },
			wantMethod: "GET", wantPath: "/v1/snapshots/snap-1",
			want: wantSnapshot,
		},
		{
			name: "ListSnapshots", status: 200,
			respBody: `{"items":[` + snapshotJSON + `],"pagination":{"page":1,"pageSize":10,"totalItems":1,"totalPages":1,"hasNextPage":false}}`,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return c.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{SandboxID: "sandbox-abc123",
					States: []lifecycle.SnapshotState{lifecycle.SnapshotReady, "creating"}, PageSize: 10})
			},
			wantMethod: "GET", wantPath: "/v1/snapshots",
			wantQuery: url.Values{"sandboxId": {"sandbox-abc123"}, "state": {"Ready", "Creating"}, "pageSize": {"10"}},
			want: &lifecycle.SnapshotPage{Items: []*lifecycle.Snapshot{wantSnapshot},
				Pagination: lifecycle.Pagination{Page: 1, PageSize: 10, TotalItems: 1, TotalPages: 1}},
		},
		{
			name: "DeleteSnapshot 204", status: 204,
			call: func(ctx context.Context, c *lifecycle.Client) (any, error) {
				return nil, c.DeleteSnapshot(ctx, "snap-1")
			},
			wantMethod: "DELETE", wantPath: "/v1/snapshots/snap-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tt.status, tt.respBody)
			got, err := tt.call(t.Context(), e.c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); tt.want != nil && diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			reqs := e.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != tt.wantMethod || r.path != tt.wantPath {
				t.Errorf("request %s %s, want %s %s", r.method, r.path, tt.wantMethod, tt.wantPath)
			}
			if tt.wantQuery != nil {
				q, _ := url.ParseQuery(r.rawQuery)
				if diff := cmp.Diff(tt.wantQuery, q); diff != "" {
					t.Errorf("query %q (-want +got):\n%s", r.rawQuery, diff)
				}
			}
			jsonEqual(t, tt.wantBody, r.body)
			if got := r.header.Get("OPEN-SANDBOX-API-KEY"); got != testAPIKey {
				t.Errorf("API key header = %q", got)
			}
			if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "sandboxkit-go/") {
				t.Errorf("User-Agent = %q", ua)
			}
			if r.body != "" && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestCreateRequestBody(t *testing.T) {
	t.Parallel()
	resp := `{"id":"sbx-9","status":{"state":"Pending"},"metadata":{"team":"ml","sandboxkit.dev/client-token":"TOK"},
	  "expiresAt":"2026-03-01T11:30:00Z","createdAt":"2026-03-01T10:30:00Z","entrypoint":["python","app.py"]}`
	e := setupFunc(t, func(r *http.Request) (int, string) {
		if r.Method == http.MethodGet { // the lookup of the caller's token: nothing yet
			return 200, `{"items":[],"pagination":{"page":1,"pageSize":10,"totalItems":0,"totalPages":0,"hasNextPage":false}}`
		}
		return 202, resp
	})
	yes := false
	sb, err := e.c.Create(t.Context(), &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "registry.test/app:1", Auth: &lifecycle.ImageAuth{Username: "u", Password: "p"}},
		Entrypoint:     []string{"python", "app.py"},
		Platform:       &lifecycle.Platform{OS: "linux", Arch: "arm64"},
		Timeout:        time.Hour + 500*time.Millisecond,
		ResourceLimits: map[string]string{"cpu": "500m"},
		Env:            map[string]string{"A": "1"},
		Metadata:       map[string]string{"team": "ml"},
		NetworkPolicy: &lifecycle.NetworkPolicy{DefaultAction: lifecycle.NetworkDeny,
			Egress: []lifecycle.NetworkRule{{Action: lifecycle.NetworkAllow, Target: "*.pypi.org"}}},
		CredentialProxy: true,
		SecureAccess:    true,
		Volumes: []lifecycle.Volume{
			{Name: "data", MountPath: "/data", ReadOnly: true, Host: &lifecycle.HostVolume{Path: "/srv/data"}},
			{Name: "cache", MountPath: "/cache", PVC: &lifecycle.PVCVolume{ClaimName: "c1", CreateIfNotExists: &yes, Storage: "1Gi"}},
		},
		Extensions: map[string]string{"k": "v"},
	}, &lifecycle.CreateOptions{ClientToken: "TOK", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A caller-supplied token is looked up first (it may belong to an
	// earlier call); nothing is found, so the POST follows.
	reqs := e.requests()
	if len(reqs) != 2 || reqs[0].method != "GET" || reqs[1].method != "POST" {
		t.Fatalf("requests = %+v, want the lookup then the POST", reqs)
	}
	if q, _ := url.ParseQuery(reqs[0].rawQuery); q.Get("metadata") != "sandboxkit.dev%2Fclient-token=TOK" {
		t.Errorf("lookup query = %q", reqs[0].rawQuery)
	}
	post := reqs[1]
	jsonEqual(t, `{
	  "image":{"uri":"registry.test/app:1","auth":{"username":"u","password":"p"}},
	  "entrypoint":["python","app.py"],
	  "platform":{"os":"linux","arch":"arm64"},
	  "timeout":3600,
	  "resourceLimits":{"cpu":"500m"},
	  "env":{"A":"1"},
	  "metadata":{"team":"ml","sandboxkit.dev/client-token":"TOK"},
	  "networkPolicy":{"defaultAction":"deny","egress":[{"action":"allow","target":"*.pypi.org"}]},
	  "credentialProxy":{"enabled":true},
	  "secureAccess":true,
	  "volumes":[
	    {"name":"data","mountPath":"/data","readOnly":true,"host":{"path":"/srv/data"}},
	    {"name":"cache","mountPath":"/cache","pvc":{"claimName":"c1","createIfNotExists":false,"storage":"1Gi"}}
	  ],
	  "extensions":{"k":"v"}
	}`, post.body)
	want := &lifecycle.Sandbox{
		ID: "sbx-9", Image: &lifecycle.Image{URI: "registry.test/app:1"},
		Status:     lifecycle.Status{State: lifecycle.StatePending},
		Metadata:   map[string]string{"team": "ml", lifecycle.ClientTokenKey: "TOK"},
		Entrypoint: []string{"python", "app.py"}, ExpiresAt: exp, CreatedAt: t0,
	}
	if diff := cmp.Diff(want, sb); diff != "" {
		t.Errorf("sandbox (-want +got):\n%s", diff)
	}
	if sb.ClientToken() != "TOK" {
		t.Errorf("ClientToken() = %q", sb.ClientToken())
	}
}

func TestCreateGeneratesTokenAndFromSnapshot(t *testing.T) {
	t.Parallel()
	e := setup(t, 202, `{"id":"sbx-1","status":{"state":"Pending"},"createdAt":"2026-03-01T10:30:00Z","entrypoint":["tail","-f","/dev/null"]}`)
	sb, err := e.c.CreateFromSnapshot(t.Context(), "snap-1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sb.SnapshotID != "snap-1" || sb.Image != nil {
		t.Errorf("sandbox source = %q %v", sb.SnapshotID, sb.Image)
	}
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want only the POST (no lookup for a fresh token)", len(reqs))
	}
	var body struct {
		SnapshotID string            `json:"snapshotId"`
		Image      any               `json:"image"`
		Metadata   map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(reqs[0].body), &body); err != nil {
		t.Fatal(err)
	}
	tok := body.Metadata[lifecycle.ClientTokenKey]
	if body.SnapshotID != "snap-1" || body.Image != nil || len(tok) < 20 {
		t.Errorf("body = %s", reqs[0].body)
	}
}

// documentedErrors lists, per operation, the error statuses the
// reference documents.
func TestDocumentedErrorStatuses(t *testing.T) {
	t.Parallel()
	sentinel := map[int]error{
		400: sandboxkit.ErrBadRequest, 401: sandboxkit.ErrUnauthorized, 403: sandboxkit.ErrForbidden,
		404: sandboxkit.ErrNotFound, 409: sandboxkit.ErrConflict, 500: sandboxkit.ErrServer,
	}
	future := time.Now().Add(time.Hour)
	ops := []struct {
		op       string
		statuses []int
		call     func(ctx context.Context, c *lifecycle.Client) error
	}{
		{"lifecycle.List", []int{400, 401, 500}, func(ctx context.Context, c *lifecycle.Client) error { _, err := c.List(ctx, nil); return err }},
		{"lifecycle.Create", []int{400, 401, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "x"}, Entrypoint: []string{"x"}}, &lifecycle.CreateOptions{MaxAttempts: 1})
			return err
		}},
		{"lifecycle.Get", []int{401, 403, 404, 500}, func(ctx context.Context, c *lifecycle.Client) error { _, err := c.Get(ctx, "s"); return err }},
		{"lifecycle.Delete", []int{401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error { return c.Delete(ctx, "s") }},
		{"lifecycle.PatchMetadata", []int{400, 401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.PatchMetadata(ctx, "s", &lifecycle.MetadataPatch{Set: map[string]string{"a": "1"}})
			return err
		}},
		{"lifecycle.CreateSnapshot", []int{400, 401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.CreateSnapshot(ctx, "s", nil)
			return err
		}},
		{"lifecycle.Pause", []int{401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error { return c.Pause(ctx, "s") }},
		{"lifecycle.Resume", []int{401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error { return c.Resume(ctx, "s") }},
		{"lifecycle.Renew", []int{400, 401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Renew(ctx, "s", future)
			return err
		}},
		{"lifecycle.Endpoint", []int{400, 401, 403, 404, 500}, func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Endpoint(ctx, "s", 80, nil)
			return err
		}},
		{"lifecycle.ListSnapshots", []int{400, 401, 500}, func(ctx context.Context, c *lifecycle.Client) error { _, err := c.ListSnapshots(ctx, nil); return err }},
		{"lifecycle.GetSnapshot", []int{401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error { _, err := c.GetSnapshot(ctx, "p"); return err }},
		{"lifecycle.DeleteSnapshot", []int{401, 403, 404, 409, 500}, func(ctx context.Context, c *lifecycle.Client) error { return c.DeleteSnapshot(ctx, "p") }},
	}
	for _, op := range ops {
		for _, status := range op.statuses {
			t.Run(fmt.Sprintf("%s/%d", op.op, status), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					e := setup(t, status, `{"code":"CODE_`+fmt.Sprint(status)+`","message":"it went wrong"}`)
					err := op.call(t.Context(), e.c)
					if !errors.Is(err, sentinel[status]) {
						t.Fatalf("err = %v, want %v", err, sentinel[status])
					}
					apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
					if !ok {
						t.Fatalf("err = %T %v, want an *sandboxkit.APIError inside", err, err)
					}
					wantOp := op.op
					if op.op == "lifecycle.Create" && status == 500 {
						// A 500 is ambiguous: the token lookup (a List) ran
						// and got the 500 too.
						wantOp = "lifecycle.List"
						if ce, ok := errors.AsType[*sandboxkit.OutcomeError](err); !ok || ce.Token == "" {
							t.Errorf("err = %v, want a *sandboxkit.OutcomeError naming the token", err)
						}
					}
					if apiErr.StatusCode != status || apiErr.Code != fmt.Sprintf("CODE_%d", status) ||
						apiErr.Message != "it went wrong" || apiErr.RequestID != "req-42" || apiErr.Operation != wantOp {
						t.Errorf("APIError = %+v", apiErr)
					}
				})
			})
		}
	}
}

func TestBadInputFailsBeforeTheNetwork(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Minute)
	img := &lifecycle.Image{URI: "python:3.12"}
	ep := []string{"python"}
	tests := []struct {
		name string
		call func(ctx context.Context, c *lifecycle.Client) error
	}{
		{"empty id", func(ctx context.Context, c *lifecycle.Client) error { _, err := c.Get(ctx, ""); return err }},
		{"id with slash", func(ctx context.Context, c *lifecycle.Client) error { return c.Delete(ctx, "a/../b") }},
		{"dot-dot id", func(ctx context.Context, c *lifecycle.Client) error { return c.Pause(ctx, "..") }},
		{"id with percent", func(ctx context.Context, c *lifecycle.Client) error { return c.Resume(ctx, "a%2Fb") }},
		{"id with query", func(ctx context.Context, c *lifecycle.Client) error { _, err := c.GetSnapshot(ctx, "a?b"); return err }},
		{"port 0", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Endpoint(ctx, "s", 0, nil)
			return err
		}},
		{"port 65536", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Endpoint(ctx, "s", 65536, nil)
			return err
		}},
		{"proxy and signed", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Endpoint(ctx, "s", 80, &lifecycle.EndpointOptions{UseServerProxy: true, SignedUntil: time.Now().Add(time.Hour)})
			return err
		}},
		{"signed in the past", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Endpoint(ctx, "s", 80, &lifecycle.EndpointOptions{SignedUntil: past})
			return err
		}},
		{"renew to the past", func(ctx context.Context, c *lifecycle.Client) error { _, err := c.Renew(ctx, "s", past); return err }},
		{"renew to now", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Renew(ctx, "s", time.Time{})
			return err
		}},
		{"pageSize 0 is default, -1 is not", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.List(ctx, &lifecycle.ListOptions{PageSize: -1})
			return err
		}},
		{"negative page", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{Page: -2})
			return err
		}},
		{"unknown state", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.List(ctx, &lifecycle.ListOptions{States: []lifecycle.State{"Runing"}})
			return err
		}},
		{"unknown snapshot state", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{States: []lifecycle.SnapshotState{"Done"}})
			return err
		}},
		{"empty metadata key", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.List(ctx, &lifecycle.ListOptions{Metadata: map[string]string{"": "x"}})
			return err
		}},
		{"patch sets and deletes a key", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.PatchMetadata(ctx, "s", &lifecycle.MetadataPatch{Set: map[string]string{"a": "1"}, Delete: []string{"a"}})
			return err
		}},
		{"create nil", func(ctx context.Context, c *lifecycle.Client) error { _, err := c.Create(ctx, nil, nil); return err }},
		{"create without source", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Entrypoint: ep}, nil)
			return err
		}},
		{"create with two sources", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, SnapshotID: "snap", Entrypoint: ep}, nil)
			return err
		}},
		{"image without entrypoint", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img}, nil)
			return err
		}},
		{"timeout under a minute", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep, Timeout: 30 * time.Second}, nil)
			return err
		}},
		{"reserved metadata key", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep,
				Metadata: map[string]string{lifecycle.ClientTokenKey: "mine"}}, nil)
			return err
		}},
		{"bad client token", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep}, &lifecycle.CreateOptions{ClientToken: "has space"})
			return err
		}},
		{"bad volume name", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep,
				Volumes: []lifecycle.Volume{{Name: "Data", MountPath: "/d", Host: &lifecycle.HostVolume{Path: "/x"}}}}, nil)
			return err
		}},
		{"volume with two backends", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep,
				Volumes: []lifecycle.Volume{{Name: "d", MountPath: "/d", Host: &lifecycle.HostVolume{Path: "/x"}, PVC: &lifecycle.PVCVolume{ClaimName: "c"}}}}, nil)
			return err
		}},
		{"bad network action", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.Create(ctx, &lifecycle.CreateRequest{Image: img, Entrypoint: ep,
				NetworkPolicy: &lifecycle.NetworkPolicy{DefaultAction: "block"}}, nil)
			return err
		}},
		{"from snapshot with image", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := c.CreateFromSnapshot(ctx, "snap", &lifecycle.CreateRequest{Image: img}, nil)
			return err
		}},
		{"wait without targets", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := lifecycle.NewWaiter(c, nil).Wait(ctx, "s")
			return err
		}},
		{"wait with MinDelay above MaxDelay", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: time.Minute, MaxDelay: time.Second}).
				Wait(ctx, "s", lifecycle.StateRunning)
			return err
		}},
		{"renewer margin above extension", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := lifecycle.NewRenewer(ctx, c, "s", &lifecycle.RenewerOptions{Extension: time.Minute, Margin: time.Hour})
			return err
		}},
		{"renewer bad id", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := lifecycle.NewRenewer(ctx, c, "", nil)
			return err
		}},
		{"pool negative workers", func(ctx context.Context, c *lifecycle.Client) error {
			_, err := lifecycle.NewRenewerPool(ctx, c, &lifecycle.RenewerPoolOptions{Workers: -1})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, 200, `{}`)
			err := tt.call(t.Context(), e.c)
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if n := e.mt.GetTotalCallCount(); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
			if !strings.Contains(err.Error(), "invalid") {
				t.Errorf("message %q does not say what is invalid", err)
			}
		})
	}
}

func TestUnknownStatePassesThrough(t *testing.T) {
	t.Parallel()
	e := setup(t, 200, strings.Replace(sandboxJSON, `"Running"`, `"Hibernating"`, 1))
	sb, err := e.c.Get(t.Context(), "sandbox-abc123")
	if err != nil {
		t.Fatal(err)
	}
	if sb.State() != "Hibernating" || sb.State().Known() {
		t.Errorf("state = %q (known %v), want Hibernating passed through", sb.State(), sb.State().Known())
	}
	for _, s := range lifecycle.States() {
		if !s.Known() {
			t.Errorf("%s not known", s)
		}
		if got, err := lifecycle.ParseState(strings.ToUpper(string(s))); err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v", strings.ToUpper(string(s)), got, err)
		}
	}
	if len(lifecycle.States()) != 8 {
		t.Errorf("%d states, want 8", len(lifecycle.States()))
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	req := lifecycle.CreateRequest{
		Image:   &lifecycle.Image{URI: "x", Auth: &lifecycle.ImageAuth{Username: "u", Password: "hunter2"}},
		Volumes: []lifecycle.Volume{{OSSFS: &lifecycle.OSSFSVolume{AccessKeySecret: "s3cr3t"}}},
	}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		for _, v := range []any{*req.Image.Auth, req.Image.Auth, *req.Volumes[0].OSSFS} {
			if s := fmt.Sprintf(format, v); strings.Contains(s, "hunter2") || strings.Contains(s, "s3cr3t") {
				t.Errorf("%s printed a secret: %s", format, s)
			}
		}
	}
}
