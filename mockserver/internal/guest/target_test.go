package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// A target is a sandbox API a scenario runs against: the simulated guest
// (always), or the real server when SANDBOX_API_REAL_URL is set (see
// ../shared/real/README.md). Scenarios assert the same things on both, so
// a scenario that passes on the mock documents real behaviour.
type target struct {
	name    string
	url     string
	http    *http.Client
	workdir string // where relative paths land
	// mock is the simulated guest (nil for the real server). It runs on
	// the real clock inside a testing/synctest bubble: a scenario that
	// waits takes no wall-clock time on it.
	mock *Guest
}

// forEachTarget runs scenario on the mock and, when configured, on the
// real server.
func forEachTarget(t *testing.T, scenario func(t *testing.T, tg *target)) {
	t.Helper()
	t.Run("mock", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			g := New(Config{Clock: clock.Real(), WorkDir: "/home/user"})
			t.Cleanup(g.Close)
			tg := &target{name: "mock", url: "http://guest.test", http: &http.Client{Transport: memTransport{g}}, workdir: "/home/user", mock: g}
			scenario(t, tg)
		})
	})
	t.Run("real", func(t *testing.T) {
		url := os.Getenv("SANDBOX_API_REAL_URL")
		if url == "" {
			t.Skip("no real sandbox API: set -a; . /tmp/real.env (see ../shared/real/README.md)")
		}
		t.Parallel()
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		tg := &target{name: "real", url: url, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, workdir: os.Getenv("SANDBOX_API_REAL_WORKDIR")}
		scenario(t, tg)
	})
}

// elapse lets d pass. On the mock it is virtual time in the synctest
// bubble (the scenario takes no wall-clock time); on the real server it is
// real time, which its processes, watchers and keepalives run on. Every
// pause of a scenario goes through here, never through a bare time.Sleep.
func (tg *target) elapse(d time.Duration) { time.Sleep(d) }

// unique returns a name no other test (or engineer sharing the real
// server) uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%08x", prefix, os.Getpid(), rand.Uint32())
}

// call sends a request; header holds name, value pairs.
func (tg *target) call(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	resp := tg.open(t, method, path, body, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// open sends a request and returns the response with its body unread.
func (tg *target) open(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, tg.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := tg.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// jsonBody marshals v.
func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// proc is a process object as the API shows it; null fields are nil.
type proc struct {
	Pid         string  `json:"pid"`
	Name        string  `json:"name"`
	Command     string  `json:"command"`
	Status      string  `json:"status"`
	StartedAt   string  `json:"startedAt"`
	CompletedAt *string `json:"completedAt"`
	ExitCode    int     `json:"exitCode"`
	WorkingDir  string  `json:"workingDir"`
	Logs        *string `json:"logs"`
	Stdout      *string `json:"stdout"`
	Stderr      *string `json:"stderr"`
	RestartCnt  int     `json:"restartCount"`
	KeepAlive   bool    `json:"keepAlive"`
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// run runs a command to its end (waitForCompletion) and returns it.
func (tg *target) run(t *testing.T, req map[string]any) proc {
	t.Helper()
	req["waitForCompletion"] = true
	resp, body := tg.call(t, http.MethodPost, "/process", jsonBody(req))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /process %v = %d %s", req, resp.StatusCode, body)
	}
	var p proc
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return p
}

// start starts a command and returns the POST answer.
func (tg *target) start(t *testing.T, req map[string]any) proc {
	t.Helper()
	resp, body := tg.call(t, http.MethodPost, "/process", jsonBody(req))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /process %v = %d %s", req, resp.StatusCode, body)
	}
	var p proc
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return p
}

// get returns GET /process/{id}.
func (tg *target) get(t *testing.T, id string) proc {
	t.Helper()
	resp, body := tg.call(t, http.MethodGet, "/process/"+id, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /process/%s = %d %s", id, resp.StatusCode, body)
	}
	var p proc
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return p
}

// waitEnded polls a process until it is no longer running.
func (tg *target) waitEnded(t *testing.T, id string) proc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := tg.get(t, id)
		if p.CompletedAt != nil && *p.CompletedAt != "" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still running: %+v", id, p)
		}
		tg.elapse(20 * time.Millisecond)
	}
}

// waitFor polls a process until cond holds.
func (tg *target) waitFor(t *testing.T, id string, cond func(proc) bool) proc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := tg.get(t, id)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s: condition not met: %+v", id, p)
		}
		tg.elapse(20 * time.Millisecond)
	}
}

// cleanup deletes path (recursively) when the test ends.
func (tg *target) cleanup(t *testing.T, path string) {
	tg.atEnd(t, http.MethodDelete, path+"?recursive=true")
}

// atEnd sends a request when the test ends.
func (tg *target) atEnd(t *testing.T, method, path string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, tg.url+path, nil)
		if resp, err := tg.http.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

// mkdir makes a directory below the target's working directory.
func (tg *target) mkdir(t *testing.T, rel string) {
	t.Helper()
	resp, body := tg.call(t, http.MethodPut, "/filesystem/"+rel, `{"isDirectory":true}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mkdir %s = %d %s", rel, resp.StatusCode, body)
	}
	tg.cleanup(t, "/filesystem/"+strings.SplitN(rel, "/", 2)[0])
}

// ndjson splits an NDJSON body into events.
func ndjson(t *testing.T, body []byte) []execEvent {
	t.Helper()
	var out []execEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var ev execEvent
		if err := dec.Decode(&ev); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decoding NDJSON %q: %v", body, err)
		}
		out = append(out, ev)
	}
}
