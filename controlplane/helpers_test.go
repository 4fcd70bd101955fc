package controlplane

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"

	"github.com/sandboxkit/sandboxkit"
)

// Credentials and addresses used by the tests.
const (
	testToken     = "bl-tok-7c1e9a4d2b8f6e3a"
	testWorkspace = "ws-research"
	mockBase      = "https://cp.test/v0"
)

// call is one request the fake control plane saw.
type call struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// fakeSandbox is one sandbox of the fake control plane.
type fakeSandbox struct {
	obj        map[string]any // metadata, spec and unknown members as last written
	status     string
	script     []string // statuses the next GETs move to, in order
	gets       int      // GETs since the last status change
	createdAt  time.Time
	lastUsedAt time.Time
}

// fakeCP is an in-memory control plane: enough of the service to test
// request mapping, waiters, read-modify-write cycles and EnsureSandbox.
// Statuses advance per GET, so tests need no clock: DEPLOYING becomes
// DEPLOYED on the deployAfter-th GET, DELETING becomes TERMINATED on the
// next GET, and a TERMINATED sandbox disappears after reapAfter GETs (never
// if zero). A script of statuses overrides this; "GONE" in a script
// removes the sandbox.
type fakeCP struct {
	mu          sync.Mutex
	sandboxes   map[string]*fakeSandbox
	order       []string
	calls       []call
	deployAfter int
	reapAfter   int
	// putConflicts is how many of the next PUTs are answered 409.
	putConflicts int
	// fail, if set, may answer a request instead of the fake (status,
	// body); status 0 lets the fake answer.
	fail func(r *http.Request) (int, string)
	// gate, if set, runs before each request is handled, outside the
	// lock; tests block in it to force an interleaving.
	gate func(r *http.Request)
	// after, if set, runs once the answer is written, outside the lock.
	after func(r *http.Request)
}

func newFakeCP() *fakeCP {
	return &fakeCP{sandboxes: map[string]*fakeSandbox{}, deployAfter: 1}
}

func (f *fakeCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: string(body)})
	gate, fail, after := f.gate, f.fail, f.after
	f.mu.Unlock()
	if after != nil {
		defer after(r)
	}
	if gate != nil {
		gate(r)
	}
	if fail != nil {
		if status, msg := fail(r); status != 0 {
			writeJSON(w, status, map[string]any{"error": msg})
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v0")
	name, one := strings.CutPrefix(path, "/sandboxes/")
	switch {
	case path == "/sandboxes" && r.Method == http.MethodGet:
		out := []any{}
		for _, n := range f.order {
			out = append(out, f.view(f.sandboxes[n]))
		}
		writeJSON(w, http.StatusOK, out)
	case path == "/sandboxes" && r.Method == http.MethodPost:
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		name, _ := obj["metadata"].(map[string]any)["name"].(string)
		if _, ok := f.sandboxes[name]; ok {
			writeJSON(w, http.StatusConflict, map[string]any{"error": fmt.Sprintf("sandbox %q already exists", name)})
			return
		}
		now := time.Now().UTC().Truncate(time.Second)
		sb := &fakeSandbox{obj: obj, status: "DEPLOYING", createdAt: now, lastUsedAt: now}
		f.sandboxes[name] = sb
		f.order = append(f.order, name)
		writeJSON(w, http.StatusOK, f.view(sb))
	case one:
		sb := f.sandboxes[name]
		if sb == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("sandbox %q not found", name)})
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.advance(name, sb)
			if f.sandboxes[name] == nil {
				writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("sandbox %q not found", name)})
				return
			}
			writeJSON(w, http.StatusOK, f.view(sb))
		case http.MethodPut:
			if f.putConflicts > 0 {
				f.putConflicts--
				writeJSON(w, http.StatusConflict, map[string]any{"error": "the sandbox was changed concurrently"})
				return
			}
			var obj map[string]any
			if err := json.Unmarshal(body, &obj); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
				return
			}
			sb.obj = obj
			writeJSON(w, http.StatusOK, f.view(sb))
		case http.MethodDelete:
			if sb.status != "DELETING" && sb.status != "TERMINATED" {
				f.setStatus(sb, "DELETING")
			}
			writeJSON(w, http.StatusOK, f.view(sb))
		}
	default:
		http.Error(w, "404 page not found", http.StatusNotFound)
	}
}

func (f *fakeCP) setStatus(sb *fakeSandbox, s string) { sb.status, sb.gets = s, 0 }

// advance moves sb along on a GET.
func (f *fakeCP) advance(name string, sb *fakeSandbox) {
	sb.gets++
	if len(sb.script) > 0 {
		next := sb.script[0]
		sb.script = sb.script[1:]
		if next == "GONE" {
			f.remove(name)
			return
		}
		f.setStatus(sb, next)
		return
	}
	switch {
	case sb.status == "DEPLOYING" && sb.gets >= f.deployAfter:
		f.setStatus(sb, "DEPLOYED")
	case sb.status == "DELETING":
		f.setStatus(sb, "TERMINATED")
	case sb.status == "TERMINATED" && f.reapAfter > 0 && sb.gets > f.reapAfter:
		f.remove(name)
	}
}

func (f *fakeCP) remove(name string) {
	delete(f.sandboxes, name)
	f.order = slices.DeleteFunc(f.order, func(n string) bool { return n == name })
}

// view renders sb as the service would: the stored object plus the
// server-managed fields.
func (f *fakeCP) view(sb *fakeSandbox) map[string]any {
	var v map[string]any
	b, _ := json.Marshal(sb.obj)
	_ = json.Unmarshal(b, &v)
	md := v["metadata"].(map[string]any)
	md["workspace"] = testWorkspace
	md["url"] = "https://" + md["name"].(string) + ".sandbox.test"
	md["createdAt"] = sb.createdAt.Format(time.RFC3339)
	md["updatedAt"] = sb.createdAt.Format(time.RFC3339)
	v["status"] = sb.status
	v["lastUsedAt"] = sb.lastUsedAt.Format(time.RFC3339)
	v["events"] = []any{map[string]any{"type": "deployment", "status": sb.status, "message": "now " + sb.status}}
	return v
}

// add stores a sandbox directly, with the given status and JSON object.
func (f *fakeCP) add(status, obj string, script ...string) {
	var v map[string]any
	if err := json.Unmarshal([]byte(obj), &v); err != nil {
		panic(err)
	}
	name := v["metadata"].(map[string]any)["name"].(string)
	now := time.Now().UTC().Truncate(time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxes[name] = &fakeSandbox{obj: v, status: status, script: script, createdAt: now, lastUsedAt: now}
	f.order = append(f.order, name)
}

// stored returns the JSON object last written for name.
func (f *fakeCP) stored(name string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sandboxes[name].obj
}

// count returns how many requests matched method and path ("" matches
// every path).
func (f *fakeCP) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method && (path == "" || c.Path == path) {
			n++
		}
	}
	return n
}

func (f *fakeCP) seen() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// testOptions are the options of a client of the fake: no environment, a
// token, a workspace and short retry waits.
func testOptions(baseURL string, rt http.RoundTripper) []sandboxkit.Option {
	return []sandboxkit.Option{
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL(baseURL),
		sandboxkit.WithToken(testToken),
		sandboxkit.WithWorkspace(testWorkspace),
		sandboxkit.WithHTTPClient(&http.Client{Transport: rt}),
		sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 2, MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}),
	}
}

// setup returns a client whose requests reach a fresh fake through a
// per-test httpmock transport, without sockets; usable inside synctest.
func setup(t *testing.T) (*Client, *fakeCP) {
	t.Helper()
	f := newFakeCP()
	return newMockClient(t, f), f
}

// newMockClient returns another client of the fake f.
func newMockClient(t *testing.T, f *fakeCP) *Client {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, r)
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})
	c, err := New(testOptions(mockBase, mt)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// setupHTTP serves a fresh fake over a real httptest server, for tests
// that check what goes on the wire.
func setupHTTP(t *testing.T) (*Client, *fakeCP) {
	t.Helper()
	f := newFakeCP()
	return newHTTPClient(t, f), f
}

// newHTTPClient serves h over a real httptest server and returns a client
// of it with its own transport.
func newHTTPClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := New(testOptions(srv.URL+"/v0", tr)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// testdata returns the contents of testdata/name.
func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonOf decodes a JSON text into generic values.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// age makes name look created createdAgo and last used usedAgo.
func (f *fakeCP) age(name string, createdAgo, usedAgo time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	sb := f.sandboxes[name]
	sb.createdAt, sb.lastUsedAt = now.Add(-createdAgo), now.Add(-usedAgo)
}
