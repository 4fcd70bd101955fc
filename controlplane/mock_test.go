package controlplane_test

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// tap sits between a client and the mock server's in-memory transport:
// it counts and keeps the requests a client sends and lets a test hold
// one (before) or act once it is answered (after), to force an
// interleaving. It is not a fake: the mock server answers.
type tap struct {
	next http.RoundTripper

	mu     sync.Mutex
	sent   []sentRequest
	before func(*http.Request)
	after  func(*http.Request)
}

// sentRequest is one request a tap saw.
type sentRequest struct {
	Method, Path string
	Body         string
}

func (tp *tap) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil && r.GetBody != nil {
		if rc, err := r.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	tp.mu.Lock()
	tp.sent = append(tp.sent, sentRequest{Method: r.Method, Path: r.URL.EscapedPath(), Body: string(bytes.TrimSpace(body))})
	before, after := tp.before, tp.after
	tp.mu.Unlock()
	if before != nil {
		before(r)
	}
	resp, err := tp.next.RoundTrip(r)
	if after != nil {
		after(r)
	}
	return resp, err
}

// count returns how many requests of method the tap saw.
func (tp *tap) count(method string) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	n := 0
	for _, s := range tp.sent {
		if s.Method == method {
			n++
		}
	}
	return n
}

func (tp *tap) set(before, after func(*http.Request)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.before, tp.after = before, after
}

// tappedClient returns another client of srv whose requests pass through
// a new tap.
func tappedClient(t *testing.T, srv *mockserver.Server) (*controlplane.Client, *tap) {
	t.Helper()
	tp := &tap{next: srv.HTTPClient().Transport}
	c, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane),
		sandboxkit.WithWorkspace("acme-ws"), sandboxkit.WithHTTPClient(&http.Client{Transport: tp}))...)
	if err != nil {
		t.Fatal(err)
	}
	return c, tp
}

// seed adds a control plane sandbox to srv.
func seed(t *testing.T, srv *mockserver.Server, s mockserver.ControlPlaneSeed) {
	t.Helper()
	if err := srv.AddControlPlaneSandbox("acme", s); err != nil {
		t.Fatal(err)
	}
}
