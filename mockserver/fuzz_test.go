package mockserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// The fuzz targets send arbitrary bytes where each API decodes a request
// (bodies, query strings, paths) and check the server never fails
// internally: no panic, no 500, an X-Request-ID on every answer, and
// error answers in the API's error shape. Seed corpora live in
// testdata/fuzz/<target>.

// fuzzServer is shared by the iterations of one target: state piles up
// across inputs, which explores more states.
func fuzzServer(f *testing.F) *mockserver.Server {
	srv := mockserver.Start(f, mockserver.WithManualClock(t0), mockserver.WithTransitionDelay(0), mockserver.WithJournalLimit(64))
	if _, err := srv.AddSandbox("", mockserver.SandboxSeed{ID: "sbx-1", ExpiresAt: t0.Add(1e12)}); err != nil {
		f.Fatal(err)
	}
	if _, err := srv.AddSnapshot("", mockserver.SnapshotSeed{ID: "snap-1", SandboxID: "sbx-1"}); err != nil {
		f.Fatal(err)
	}
	if err := srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "cp-1"}); err != nil {
		f.Fatal(err)
	}
	return srv
}

func send(t *testing.T, srv *mockserver.Server, method, target string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// Set the target raw, so inputs that are not valid URLs still reach
	// the server as far as a real client could send them.
	req.URL.Opaque = ""
	u, err := req.URL.Parse(target)
	if err != nil {
		t.Skip("not a URL reference")
	}
	req.URL = u
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, target, err)
	}
	// 502 (no service on that port) and 503 (sandbox not running) are
	// answers of the sandbox API routes; anything else 5xx is a failure.
	// The lifecycle server's unhandled errors (e.g. a NaN it cannot echo
	// back) are a plain-text 500, as on the real server.
	unhandled := resp.StatusCode == http.StatusInternalServerError && string(b) == "Internal Server Error"
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable && !unhandled {
		t.Fatalf("%s %s %q: %d %s", method, target, body, resp.StatusCode, b)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Fatalf("%s %s: no X-Request-ID", method, target)
	}
	return resp, b
}

// checkErrorShape checks a JSON error answer carries the given fields.
func checkErrorShape(t *testing.T, resp *http.Response, body []byte, fields ...string) {
	t.Helper()
	if resp.StatusCode < 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", body, err)
	}
	for _, f := range fields {
		if s, ok := m[f].(string); !ok || s == "" {
			t.Fatalf("error body %s lacks %q", body, f)
		}
	}
}

var lifecycleOps = []struct{ method, path string }{
	{"POST", "/v1/sandboxes"},
	{"PATCH", "/v1/sandboxes/sbx-1/metadata"},
	{"POST", "/v1/sandboxes/sbx-1/renew-expiration"},
	{"POST", "/v1/sandboxes/sbx-1/snapshots"},
	{"GET", "/v1/sandboxes?"},
	{"GET", "/v1/snapshots?"},
	{"GET", "/v1/sandboxes/sbx-1/endpoints/8080?"},
}

// FuzzLifecycleRequest decodes lifecycle request bodies and queries.
func FuzzLifecycleRequest(f *testing.F) {
	srv := fuzzServer(f)
	f.Add(uint8(0), []byte(`{"image":{"uri":"python:3.11"},"entrypoint":["python"],"timeout":60,"metadata":{"a":"b"},"resourceLimits":{"cpu":"1"}}`))
	f.Add(uint8(1), []byte(`{"a":"1","b":null}`))
	f.Add(uint8(2), []byte(`{"expiresAt":"2030-01-01T00:00:00Z"}`))
	f.Add(uint8(4), []byte(`state=Running&state=paused&metadata=a%3D1%26b%3D2&page=2&pageSize=5`))
	f.Fuzz(func(t *testing.T, op uint8, data []byte) {
		o := lifecycleOps[int(op)%len(lifecycleOps)]
		var resp *http.Response
		var body []byte
		if strings.HasSuffix(o.path, "?") {
			resp, body = send(t, srv, o.method, o.path+string(data), nil)
		} else {
			resp, body = send(t, srv, o.method, o.path, data)
		}
		checkLifecycleErrorShape(t, resp, body)
	})
}

// checkLifecycleErrorShape checks a lifecycle error answer has one of the
// real server's shapes: {"code","message"}, FastAPI's {"detail": "..."}
// or its validation errors {"detail":[{type, loc, msg, input}]}.
func checkLifecycleErrorShape(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode < 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", body, err)
	}
	switch d := m["detail"].(type) {
	case string:
		if d == "" || len(m) != 1 {
			t.Fatalf("error body %s", body)
		}
		return
	case []any:
		if resp.StatusCode != http.StatusUnprocessableEntity || len(d) == 0 {
			t.Fatalf("%d with validation errors %s", resp.StatusCode, body)
		}
		for _, it := range d {
			e, _ := it.(map[string]any)
			if _, ok := e["type"].(string); !ok {
				t.Fatalf("validation error without type: %s", body)
			}
			if loc, ok := e["loc"].([]any); !ok || len(loc) == 0 {
				t.Fatalf("validation error without loc: %s", body)
			}
			if _, ok := e["msg"].(string); !ok {
				t.Fatalf("validation error without msg: %s", body)
			}
			if _, ok := e["input"]; !ok {
				t.Fatalf("validation error without input: %s", body)
			}
		}
		return
	}
	checkErrorShape(t, resp, body, "code", "message")
}

// FuzzControlPlaneRequest decodes control plane request bodies.
func FuzzControlPlaneRequest(f *testing.F) {
	srv := fuzzServer(f)
	f.Add(false, []byte(`{"metadata":{"name":"web"},"spec":{"runtime":{"image":"x","memory":2048},"lifecycle":{"expirationPolicies":[{"type":"ttl-idle","value":"1h","action":"delete"}]}}}`))
	f.Add(true, []byte(`{"metadata":{"name":"cp-1","labels":{"a":"b"}},"spec":{"extra":[1,2]},"status":"DEPLOYED"}`))
	f.Fuzz(func(t *testing.T, update bool, data []byte) {
		method, path := "POST", "/v0/sandboxes"
		if update {
			method, path = "PUT", "/v0/sandboxes/cp-1"
		}
		resp, body := send(t, srv, method, path, data)
		checkCPErrorShape(t, resp, body)
	})
}

// FuzzSandboxRoute routes arbitrary paths to the sandbox API of the
// sandboxes (endpoints, proxy, signed routes, control plane URLs).
func FuzzSandboxRoute(f *testing.F) {
	srv := fuzzServer(f)
	for _, p := range []string{
		"/sandboxes/sbx-1/port/8080/health",
		"/v1/sandboxes/sbx-1/proxy/8080/filesystem/%2Ftmp%2Fa",
		"/signed/zz-00/sandboxes/sbx-1/port/8080//tmp",
		"/cp/default/cp-1/process?x=1",
		"/sandboxes/sbx-1/port/99999/",
	} {
		f.Add("GET", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " #\x00") {
			t.Skip()
		}
		if method == "" || strings.ContainsFunc(method, func(r rune) bool { return r <= ' ' || r > '~' || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
			t.Skip()
		}
		resp, body := send(t, srv, method, path, nil)
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") == "application/json" && !bytes.Contains(body, []byte(`"`)) {
			t.Fatalf("error body %q", body)
		}
	})
}
