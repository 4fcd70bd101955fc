package guest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"
	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is where manual clocks start.
var epoch = time.Date(2026, 1, 29, 18, 45, 49, 0, time.UTC)

// env is one guest under test with the ways to reach it.
type env struct {
	g      *Guest
	clock  *clock.Manual
	url    string       // base URL
	http   *http.Client // plain client
	client *sandboxapi.Client
}

// tokenSource feeds the generated client a bearer token (none if empty).
type tokenSource string

func (s tokenSource) BearerAuth(context.Context, sandboxapi.OperationName) (sandboxapi.BearerAuth, error) {
	if s == "" {
		return sandboxapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return sandboxapi.BearerAuth{Token: string(s)}, nil
}

// setup starts a guest with a manual clock (unless cfg has a clock) behind
// an httptest server.
func setup(t *testing.T, cfg Config) *env {
	t.Helper()
	e := newEnv(cfg)
	srv := httptest.NewServer(e.g)
	tr := &http.Transport{}
	e.http = &http.Client{Transport: tr}
	e.url = srv.URL
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	t.Cleanup(e.g.Close)
	e.initClient(t, cfg.Token)
	return e
}

// setupMem is setup with an in-memory transport, for use inside a
// testing/synctest bubble (httptest's sockets are not durably blocking).
func setupMem(t *testing.T, cfg Config) *env {
	t.Helper()
	e := newEnv(cfg)
	e.http = &http.Client{Transport: memTransport{e.g}}
	e.url = "http://sandbox.test"
	t.Cleanup(e.g.Close)
	e.initClient(t, cfg.Token)
	return e
}

func newEnv(cfg Config) *env {
	e := &env{}
	if cfg.Clock == nil {
		e.clock = clock.NewManual(epoch)
		cfg.Clock = e.clock
	}
	e.g = New(cfg)
	return e
}

func (e *env) initClient(t *testing.T, token string) {
	t.Helper()
	c, err := sandboxapi.NewClient(e.url, tokenSource(token), sandboxapi.WithClient(e.http))
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
}

// do sends a request and returns the response with its body read.
func (e *env) do(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	resp := e.open(t, method, path, body, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// open sends a request and returns the response with its body unread;
// the body is closed at cleanup.
func (e *env) open(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	resp, err := e.try(t.Context(), method, path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// try sends a request; header holds name, value pairs.
func (e *env) try(ctx context.Context, method, path, body string, header ...string) (*http.Response, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.http.Do(req)
}

// waitNoStreams waits until no stream is open on g.
func waitNoStreams(t *testing.T, g *Guest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		n, changed := g.streamCount()
		if n == 0 {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%d streams still open", n)
		}
	}
}

// memTransport hands requests straight to a handler: no socket. The
// response body is a pipe fed by the handler's goroutine; closing it
// cancels the handler's context and waits for the handler to return. A
// handler panic with http.ErrAbortHandler is a failed request.
type memTransport struct{ h http.Handler }

var errConnReset = errors.New("connection reset by peer")

func (t memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	sreq := req.Clone(ctx)
	u := *req.URL
	u.Scheme, u.Host = "", ""
	sreq.URL = &u
	sreq.RequestURI = u.RequestURI()
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &memWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Canceled) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sreq.Body.Close()
		defer func() {
			p := recover()
			switch {
			case p == nil:
				w.WriteHeader(http.StatusOK)
				pw.Close()
			case p == http.ErrAbortHandler:
				w.abort()
				pw.CloseWithError(errConnReset)
			default:
				w.abort()
				pw.CloseWithError(errors.New("handler panic"))
				panic(p)
			}
		}()
		t.h.ServeHTTP(w, sreq)
	}()
	<-w.ready
	if w.aborted {
		stop()
		cancel()
		<-done
		return nil, errConnReset
	}
	return &http.Response{
		Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, ContentLength: -1, Request: req,
		Body: &memBody{pr: pr, stop: stop, cancel: cancel, done: done},
	}, nil
}

type memWriter struct {
	header  http.Header
	sent    http.Header
	pw      *io.PipeWriter
	mu      sync.Mutex
	status  int
	aborted bool
	ready   chan struct{}
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status != 0 || w.aborted {
		return
	}
	w.status, w.sent = code, w.header.Clone()
	close(w.ready)
}

func (w *memWriter) abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 && !w.aborted {
		w.aborted = true
		close(w.ready)
	}
}

func (w *memWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

func (w *memWriter) Flush() { w.WriteHeader(http.StatusOK) }

type memBody struct {
	pr     *io.PipeReader
	stop   func() bool
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (b *memBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *memBody) Close() error {
	b.once.Do(func() {
		b.stop()
		b.cancel()
		b.pr.Close()
		<-b.done
	})
	return nil
}

// exec runs POST /process with a JSON body and decodes the answer.
func (e *env) exec(t *testing.T, body string) *sandboxapi.ProcessResponse {
	t.Helper()
	resp, b := e.do(t, http.MethodPost, "/process", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /process %s = %d %s", body, resp.StatusCode, b)
	}
	var p sandboxapi.ProcessResponse
	if err := p.UnmarshalJSON([]byte(b)); err != nil {
		t.Fatalf("decoding process %s: %v", b, err)
	}
	return &p
}

func (e *env) getProcess(t *testing.T, id string) *sandboxapi.ProcessResponse {
	t.Helper()
	p, err := e.client.GetProcess(t.Context(), sandboxapi.GetProcessParams{Identifier: id})
	if err != nil {
		t.Fatalf("GetProcess(%s): %v", id, err)
	}
	return p
}

// statusOf is the status of the server's error answer in err, 0 if err is
// not one.
func statusOf(err error) int {
	var se *sandboxapi.ErrorStatusCode
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}
