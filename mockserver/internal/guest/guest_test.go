package guest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// errorBody decodes the {"error": ...} body of an error answer.
func errorBody(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q, body %q", ct, body)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil {
		t.Fatalf("error answer %q is not {\"error\": ...}: %v", body, err)
	}
	return *e.Error
}

func TestState(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct {
		state State
		code  int
	}{
		{Paused, http.StatusServiceUnavailable},
		{Pending, http.StatusServiceUnavailable},
		{Running, http.StatusOK},
		{Terminated, http.StatusNotFound},
		{Running, http.StatusOK},
	} {
		e.g.SetState(tc.state)
		resp, body := e.do(t, http.MethodGet, "/health", "")
		if resp.StatusCode != tc.code {
			t.Fatalf("%v: GET /health = %d %s, want %d", tc.state, resp.StatusCode, body, tc.code)
		}
		if tc.code != http.StatusOK {
			if msg := errorBody(t, resp, body); msg == "" {
				t.Errorf("%v: empty error message", tc.state)
			}
		}
	}
	if got := Terminated.String(); got != "Terminated" {
		t.Errorf("Terminated.String() = %q", got)
	}
}

func TestTerminateDropsStreams(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.exec(t, `{"command":"sleep 100","name":"s"}`)
	resp := e.open(t, http.MethodGet, "/process/s/logs/stream", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logs stream: %d", resp.StatusCode)
	}
	e.g.SetState(Terminated)
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("logs stream still open after termination")
	}
	waitNoStreams(t, e.g)
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Token: "s3cret"})
	for _, tc := range []struct {
		name   string
		header []string
		code   int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"Authorization", []string{"Authorization", "Bearer s3cret"}, http.StatusOK},
		{"lowercase scheme", []string{"Authorization", "bearer s3cret"}, http.StatusOK},
		{"X-Blaxel-Authorization", []string{"X-Blaxel-Authorization", "Bearer s3cret"}, http.StatusOK},
		{"wrong token", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"wrong scheme", []string{"Authorization", "Basic s3cret"}, http.StatusUnauthorized},
		{"wrong X-Blaxel", []string{"X-Blaxel-Authorization", "Bearer nope"}, http.StatusUnauthorized},
	} {
		resp, body := e.do(t, http.MethodGet, "/health", "", tc.header...)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.code)
		}
		if tc.code == http.StatusUnauthorized {
			errorBody(t, resp, body)
		}
	}
	// The generated client sends Authorization: Bearer.
	if _, err := e.client.GetHealth(t.Context()); err != nil {
		t.Fatalf("GetHealth with token: %v", err)
	}
	anon, err := sandboxapi.NewClient(e.url, tokenSource(""), sandboxapi.WithClient(e.http))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.GetHealth(t.Context()); err == nil {
		t.Fatal("GetHealth without token succeeded")
	}
}

func TestUnknownRouteIsPlainText404(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodPost, "/health"},        // known path, other method
		{http.MethodPatch, "/filesystem/a"}, // idem, with a file system path
		{http.MethodPut, "/health"},
	} {
		resp, body := e.do(t, tc.method, tc.path, "")
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s %s = %d %q %q, want plain-text 404", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestMalformedBodyIsJSONError(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/process", `{"command":`},
		{http.MethodPost, "/process", `{"name":"x"}`}, // command is required
		{http.MethodPut, "/filesystem/a", `[]`},
		{http.MethodGet, "/network/process/abc/ports", ``},
	} {
		resp, body := e.do(t, tc.method, tc.path, tc.body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s %s = %d %s, want 400", tc.method, tc.path, tc.body, resp.StatusCode, body)
			continue
		}
		errorBody(t, resp, body)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	stopped := make(chan struct{})
	e.g.RegisterCommand("forever", func(ctx context.Context, c *Cmd) (int, error) {
		<-ctx.Done()
		close(stopped)
		return 0, ctx.Err()
	})
	for _, cmd := range []string{"sleep 100", "forever"} {
		if resp, body := e.do(t, http.MethodPost, "/process", `{"command":"`+cmd+`"}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("exec %s: %d %s", cmd, resp.StatusCode, body)
		}
	}
	watch := e.open(t, http.MethodPost, "/process", `{"command":"sleep 200"}`, "Accept", "text/event-stream")
	if _, body := e.do(t, http.MethodPost, "/upgrade", ""); body == "" {
		t.Fatal("no upgrade answer")
	}
	if e.clock.Pending() == 0 {
		t.Fatal("no timers pending before Close")
	}
	e.g.Close()
	<-stopped
	if _, err := io.ReadAll(watch.Body); err != nil {
		t.Errorf("exec stream after Close: %v, want a clean end", err)
	}
	if n := e.clock.Pending(); n != 0 {
		t.Errorf("%d timers still pending after Close", n)
	}
	resp, body := e.do(t, http.MethodGet, "/health", "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /health after Close = %d %s, want 503", resp.StatusCode, body)
	}
	e.g.Close() // idempotent
	e.g.mu.Lock()
	defer e.g.mu.Unlock()
	for _, p := range e.g.order {
		if p.status != statusKilled {
			t.Errorf("process %s %q is %s after Close, want killed", p.pid, p.command, p.status)
		}
	}
}

func TestAbs(t *testing.T) {
	t.Parallel()
	g := New(Config{WorkDir: "/work"})
	defer g.Close()
	got := []string{g.abs("a"), g.abs("."), g.abs("/tmp/../etc"), g.abs("../x"), g.abs("/")}
	want := []string{"/work/a", "/work", "/etc", "/x", "/"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}

func TestRestartWindowWithoutHijacker(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.upgrade(t, "v0.2.0")
	e.clock.Advance(1100 * time.Millisecond)
	// A ResponseWriter that cannot be hijacked gets http.ErrAbortHandler,
	// which servers and in-memory transports turn into a failed request.
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	e.g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/health", nil))
	t.Error("ServeHTTP returned during the restart")
}

func TestRestartWindowInMemory(t *testing.T) {
	t.Parallel()
	e := setupMem(t, Config{})
	e.upgrade(t, "v0.2.0")
	e.clock.Advance(1100 * time.Millisecond)
	if _, err := e.client.GetHealth(t.Context()); !errors.Is(err, errConnReset) {
		t.Errorf("GetHealth during the restart: %v, want a reset connection", err)
	}
	e.clock.Advance(200 * time.Millisecond)
	if h := e.health(t); h.UpgradeCount != 1 {
		t.Errorf("upgradeCount %d", h.UpgradeCount)
	}
}
