package mockserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// lcAPI talks to the lifecycle API of a mock at the JSON level, as a
// client of the real server would see it.
type lcAPI struct {
	t   *testing.T
	srv *mockserver.Server
}

// newLC starts a server on the manual clock (t0) with opts.
func newLC(t *testing.T, opts ...mockserver.Option) lcAPI {
	t.Helper()
	srv := mockserver.Start(t, append([]mockserver.Option{mockserver.WithManualClock(t0)}, opts...)...)
	return lcAPI{t: t, srv: srv}
}

// jsonObj is a decoded JSON object with path access.
type jsonObj map[string]any

// s returns the string at a dotted path ("status.state"), or "".
func (o jsonObj) s(path string) string {
	v, _ := o.at(path).(string)
	return v
}

func (o jsonObj) at(path string) any {
	var cur any = map[string]any(o)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// has reports whether the dotted path exists.
func (o jsonObj) has(path string) bool { return o.at(path) != nil }

// call sends a request and decodes a JSON object answer.
func (a lcAPI) call(method, path, body string) (int, jsonObj, http.Header, string) {
	a.t.Helper()
	resp, raw := do(a.t, a.srv, method, path, body, nil)
	var m jsonObj
	_ = json.Unmarshal([]byte(raw), &m)
	return resp.StatusCode, m, resp.Header, raw
}

// want checks a call's status and, for errors, its code.
func (a lcAPI) want(method, path, body string, status int, code string) jsonObj {
	a.t.Helper()
	st, m, _, raw := a.call(method, path, body)
	if st != status || m.s("code") != code {
		a.t.Fatalf("%s %s: %d %s, want %d %s", method, path, st, raw, status, code)
	}
	return m
}

// createBody is a valid create body with extra fields (a JSON fragment
// without braces, or "").
func createBody(extra string) string {
	b := `{"image":{"uri":"python:3.11"},"entrypoint":["python","-m","http.server"],"resourceLimits":{"cpu":"500m"}`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

// create creates a sandbox and returns its id and the create answer.
func (a lcAPI) create(extra string) (string, jsonObj) {
	a.t.Helper()
	m := a.want("POST", "/v1/sandboxes", createBody(extra), http.StatusAccepted, "")
	id := m.s("id")
	if id == "" {
		a.t.Fatalf("create answer without id: %v", m)
	}
	return id, m
}

// get reads a sandbox that must exist.
func (a lcAPI) get(id string) jsonObj {
	a.t.Helper()
	return a.want("GET", "/v1/sandboxes/"+id, "", http.StatusOK, "")
}

// state returns a sandbox's state, or "gone" when it answers 404.
func (a lcAPI) state(id string) string {
	a.t.Helper()
	st, m, _, raw := a.call("GET", "/v1/sandboxes/"+id, "")
	switch st {
	case http.StatusOK:
		return m.s("status.state")
	case http.StatusNotFound:
		return "gone"
	}
	a.t.Fatalf("GET %s: %d %s", id, st, raw)
	return ""
}

func (a lcAPI) wantState(id, want string) {
	a.t.Helper()
	if got := a.state(id); got != want {
		a.t.Fatalf("sandbox %s is %s, want %s", id, got, want)
	}
}

func (a lcAPI) advance(d time.Duration) {
	a.t.Helper()
	if err := a.srv.Advance(d); err != nil {
		a.t.Fatal(err)
	}
}

// bothRuntimes runs f as a subtest for each runtime.
func bothRuntimes(t *testing.T, f func(t *testing.T, rt mockserver.Runtime)) {
	for _, rt := range []mockserver.Runtime{mockserver.RuntimeDocker, mockserver.RuntimeKubernetes} {
		t.Run(rt.String(), func(t *testing.T) {
			t.Parallel()
			f(t, rt)
		})
	}
}

// notFoundCode is the runtime's 404 code for sandboxes.
func notFoundCode(rt mockserver.Runtime) string {
	if rt == mockserver.RuntimeDocker {
		return "DOCKER::SANDBOX_NOT_FOUND"
	}
	return "KUBERNETES::SANDBOX_NOT_FOUND"
}
