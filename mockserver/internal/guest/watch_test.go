package guest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// watch opens a watch stream that is canceled through the returned
// function.
func (e *env) watch(t *testing.T, path string) (*lines, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	resp, err := e.try(ctx, http.MethodGet, "/watch/filesystem/"+path, "")
	if err != nil {
		cancel()
		t.Fatalf("watch %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("watch %s: %d", path, resp.StatusCode)
	}
	return newLines(t, resp.Body), cancel
}

func event(t *testing.T, l *lines) string {
	t.Helper()
	s := l.next()
	if s == "[keepalive]" {
		return s
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("event %q: %v", s, err)
	}
	if v, ok := ev["error"]; !ok || v != nil {
		t.Errorf("event %q: error should be null", s)
	}
	return ev["op"].(string) + " " + ev["path"].(string) + " " + ev["name"].(string)
}

func TestWatch(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.put(t, "/filesystem/proj/keep", "")
	flat, cancelFlat := e.watch(t, "proj")
	deep, cancelDeep := e.watch(t, "proj/**?ignore=skip,.tmp")

	e.put(t, "/filesystem/proj/a.txt", "x")
	e.put(t, "/filesystem/proj/a.txt", "y")
	e.put(t, "/filesystem/proj/sub/b.txt", "z")
	e.put(t, "/filesystem/proj/sub/skip.txt", "z")
	if resp, body := e.do(t, http.MethodPut, "/filesystem/proj/a.txt", `{"content":"y","permissions":"600"}`); resp.StatusCode != http.StatusOK {
		t.Fatal(body)
	}
	if resp, body := e.do(t, http.MethodDelete, "/filesystem/proj/sub?recursive=true", ""); resp.StatusCode != http.StatusOK {
		t.Fatal(body)
	}
	e.clock.Advance(30 * time.Second)

	var gotFlat, gotDeep []string
	for range 8 {
		gotFlat = append(gotFlat, event(t, flat))
	}
	for range 11 {
		gotDeep = append(gotDeep, event(t, deep))
	}
	const p = "/home/user/proj"
	wantFlat := []string{
		"CREATE " + p + " a.txt", "WRITE " + p + " a.txt",
		"WRITE " + p + " a.txt",
		"CREATE " + p + " sub",
		"CHMOD " + p + " a.txt", "WRITE " + p + " a.txt",
		"REMOVE " + p + " sub",
		"[keepalive]",
	}
	wantDeep := []string{
		"CREATE " + p + " a.txt", "WRITE " + p + " a.txt",
		"WRITE " + p + " a.txt",
		"CREATE " + p + " sub", "CREATE " + p + "/sub b.txt", "WRITE " + p + "/sub b.txt",
		"CHMOD " + p + " a.txt", "WRITE " + p + " a.txt",
		"REMOVE " + p + "/sub b.txt", "REMOVE " + p + " sub",
		"[keepalive]",
	}
	if d := cmp.Diff(wantFlat, gotFlat); d != "" {
		t.Errorf("watch proj (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantDeep, gotDeep); d != "" {
		t.Errorf("watch proj/** (-want +got):\n%s", d)
	}

	// Seeding through the Go API is seen too.
	if err := e.g.WriteFile("proj/c", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if got := event(t, flat); got != "CREATE "+p+" c" {
		t.Errorf("after WriteFile: %s", got)
	}

	// The streams never end by themselves; they end when the client goes.
	cancelFlat()
	cancelDeep()
	waitNoStreams(t, e.g)
	e.g.mu.Lock()
	n := len(e.g.watchers)
	e.g.mu.Unlock()
	if n != 0 {
		t.Errorf("%d watchers left", n)
	}
}

func TestWatchNotADirectory(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.put(t, "/filesystem/f", "x")
	for _, p := range []string{"f", "missing", "missing/**"} {
		resp, body := e.do(t, http.MethodGet, "/watch/filesystem/"+p, "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("watch %s: %d %s", p, resp.StatusCode, body)
		}
		errorBody(t, resp, body)
	}
}
