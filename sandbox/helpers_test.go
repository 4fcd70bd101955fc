package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// testToken is the bearer token of the test clients.
const testToken = "sbx-tok-7d1e9f"

// mockBase is the base URL of clients over an httpmock transport.
const mockBase = "https://sbx.test"

// seenRequest is what a test server received.
type seenRequest struct {
	Method string
	URI    string // RequestURI, as it came over the wire
	Header http.Header
	Body   string
}

// server is an httptest server that records requests and answers them
// with handler.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	seen    []seenRequest
	handler http.HandlerFunc
}

func (s *server) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// setup starts a test server answering with h (recording every request
// first) and returns a client for it.
func setup(t *testing.T, h http.HandlerFunc) (*sandbox.Client, *server) {
	t.Helper()
	s := &server{handler: h}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.handler(w, r)
	}))
	t.Cleanup(s.Close)
	c, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(s.URL), sandboxkit.WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// reply answers with a JSON body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// mockClient returns a client whose requests go to a fresh httpmock
// transport, answered by respond.
func mockClient(t *testing.T, respond httpmock.Responder, opts ...sandboxkit.Option) *sandbox.Client {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(respond)
	base := []sandboxkit.Option{
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL(mockBase),
		sandboxkit.WithToken(testToken),
		sandboxkit.WithHTTPClient(&http.Client{Transport: mt}),
	}
	c, err := sandbox.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jsonResponse builds an httpmock answer with a JSON body.
func jsonResponse(req *http.Request, status int, body string) *http.Response {
	resp := httpmock.NewStringResponse(status, body)
	resp.Header.Set("Content-Type", "application/json")
	resp.Request = req
	return resp
}

// streamResponse builds an httpmock answer whose body is r.
func streamResponse(req *http.Request, contentType string, r io.ReadCloser) *http.Response {
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {contentType}},
		Body:       r,
		Request:    req,
	}
}

// jsonEqual decodes a and b and reports whether they hold the same JSON
// value (both empty counts as equal).
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
