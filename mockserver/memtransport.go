package mockserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// memTransport is an http.RoundTripper that hands each request straight to
// an http.Handler in the same process: no socket, no listener. The handler
// runs in its own goroutine for the duration of the request only, and the
// response body is an io.Pipe fed by the handler, so streaming answers
// (NDJSON, log tails) reach the client as they are written. Everything it
// uses (goroutines, pipes, context.AfterFunc) belongs to the caller's
// goroutine tree, so it works inside a testing/synctest bubble.
//
// The handler can take the connection over (http.Hijacker), as a
// WebSocket server does: the connection is a net.Pipe. After a 101
// Switching Protocols answer the client gets the other end as the
// response body, readable and writable like net/http's; a handler that
// hijacks before answering writes a raw HTTP response there, which the
// client reads (closing it unanswered is a connection reset). Once the
// connection is taken over, canceling the request's context no longer
// reaches the handler (as with net/http, the caller owns the connection).
type memTransport struct {
	h http.Handler
}

// errConnReset is what a client sees when the handler aborts the
// connection (an injected Reset fault): a *net.OpError wrapping ECONNRESET,
// as from a real socket, so errors.Is(err, syscall.ECONNRESET) holds.
func errConnReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Source: memAddr("client"), Addr: memAddr("mockserver"), Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// RoundTrip implements http.RoundTripper.
func (t *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("mockserver: request has no URL")
	}
	if err := req.Context().Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	// The handler's context follows the request's until the handler
	// takes the connection over (unlink).
	ctx, cancelCause := context.WithCancelCause(context.WithoutCancel(req.Context()))
	cancel := func() { cancelCause(context.Canceled) }
	unlink := context.AfterFunc(req.Context(), func() { cancelCause(context.Cause(req.Context())) })
	sreq := serverRequest(context.WithValue(ctx, inMemoryKey{}, true), req)

	pr, pw := io.Pipe()
	w := &memResponseWriter{
		ctx:      ctx,
		header:   make(http.Header),
		pw:       pw,
		ready:    make(chan struct{}),
		aborted:  make(chan struct{}),
		hijacked: make(chan struct{}),
	}
	// A client that gives up (context canceled) unblocks the handler's
	// writes and the reader alike, as a closed connection would.
	stopBody := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	stop := func() bool { unlink(); return stopBody() }

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeBody(req)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					w.abort(errConnReset())
					return
				}
				w.abort(fmt.Errorf("mockserver: handler panic: %v", p))
				return
			}
			w.finish()
		}()
		t.h.ServeHTTP(w, sreq)
	}()

	select {
	case <-w.ready:
	case <-w.hijacked:
	case <-w.aborted:
		stop()
		cancel()
		<-done
		return nil, w.err
	case <-ctx.Done():
		// The client gave up before the answer: like a transport, return
		// its context's error (after the handler noticed and returned).
		<-done
		stop()
		cancel()
		return nil, req.Context().Err()
	}
	if w.takeOver(done) {
		stop()
		return w.upgraded(req, done)
	}
	resp := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		ContentLength: -1,
		Request:       req,
	}
	if cl := w.sent.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			resp.ContentLength = n
		}
	}
	body := &memBody{pr: pr, cancel: cancel, stop: stop, done: done}
	if req.Method == http.MethodHead || w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		resp.ContentLength = 0
	}
	resp.Body = body
	return resp, nil
}

// inMemoryKey marks the context of a request the in-memory transport
// carries (the control API trusts it as it trusts loopback clients).
type inMemoryKey struct{}

// inMemory reports whether ctx is a request's from the in-memory
// transport.
func inMemory(ctx context.Context) bool {
	v, _ := ctx.Value(inMemoryKey{}).(bool)
	return v
}

// serverRequest builds the request as a server would see it.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	r := req.Clone(ctx)
	u := *req.URL
	u.Scheme, u.Host, u.User = "", "", nil
	r.URL = &u
	r.RequestURI = u.RequestURI()
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.RemoteAddr = "192.0.2.1:49152"
	if req.Body == nil {
		r.Body = http.NoBody
	} else {
		// The handler reads the client's body directly; RoundTrip closes
		// it once the handler is done.
		r.Body = io.NopCloser(req.Body)
		if req.ContentLength == 0 && req.Body != http.NoBody {
			// A client body of unknown length (a pipe, as multipart
			// encoders use) goes chunked on a wire, and a server sees
			// its length as -1, not 0 (which means "no body").
			r.ContentLength = -1
			r.TransferEncoding = []string{"chunked"}
		}
	}
	r.GetBody = nil
	r.Close = false
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// memResponseWriter is the handler's side of an in-memory exchange.
type memResponseWriter struct {
	ctx    context.Context
	header http.Header
	pw     *io.PipeWriter

	mu      sync.Mutex
	status  int
	sent    http.Header // snapshot of header at WriteHeader
	ready   chan struct{}
	aborted chan struct{}
	err     error
	// hijacked is closed when the handler takes the connection over;
	// client is the client's end of it, server the handler's.
	hijacked       chan struct{}
	client, server net.Conn
}

var (
	_ http.ResponseWriter = (*memResponseWriter)(nil)
	_ http.Flusher        = (*memResponseWriter)(nil)
	_ http.Hijacker       = (*memResponseWriter)(nil)
)

func (w *memResponseWriter) Header() http.Header { return w.header }

func (w *memResponseWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeaderLocked(code)
}

func (w *memResponseWriter) writeHeaderLocked(code int) {
	if w.status != 0 || w.client != nil {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return // informational answers are not forwarded
	}
	w.status = code
	w.sent = w.header.Clone()
	close(w.ready)
}

func (w *memResponseWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.client != nil {
		w.mu.Unlock()
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		if w.header.Get("Content-Type") == "" && len(p) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.writeHeaderLocked(http.StatusOK)
	}
	status := w.status
	w.mu.Unlock()
	if !bodyAllowed(status) {
		return 0, http.ErrBodyNotAllowed
	}
	return w.pw.Write(p)
}

// Flush sends the header if not yet sent; the pipe has no buffer, so
// written bytes are already with the reader.
func (w *memResponseWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeaderLocked(http.StatusOK)
}

// Hijack hands the connection over to the handler: before any answer, or
// after a 101 Switching Protocols header.
func (w *memResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.client != nil:
		return nil, nil, http.ErrHijacked
	case w.status != 0 && w.status != http.StatusSwitchingProtocols:
		return nil, nil, errors.New("mockserver: Hijack after a response header other than 101 Switching Protocols")
	}
	w.client, w.server = net.Pipe()
	close(w.hijacked)
	return w.server, bufio.NewReadWriter(bufio.NewReader(w.server), bufio.NewWriter(w.server)), nil
}

// takeOver reports whether the handler took the connection over, waiting
// for it after a 101 header until the handler hijacks or returns (done).
func (w *memResponseWriter) takeOver(done <-chan struct{}) bool {
	w.mu.Lock()
	status := w.status
	w.mu.Unlock()
	if status == http.StatusSwitchingProtocols {
		select {
		case <-w.hijacked:
		case <-done:
		}
	}
	select {
	case <-w.hijacked:
		return true
	default:
		return false
	}
}

// upgraded is the answer of an exchange whose connection the handler
// took over: after a 101 header the connection itself is the body;
// otherwise the handler writes a raw response on it.
func (w *memResponseWriter) upgraded(req *http.Request, done <-chan struct{}) (*http.Response, error) {
	body := &memConn{c: w.client, done: done}
	w.mu.Lock()
	status, header := w.status, w.sent
	w.mu.Unlock()
	if status == http.StatusSwitchingProtocols {
		return &http.Response{
			Status:        "101 " + http.StatusText(http.StatusSwitchingProtocols),
			StatusCode:    http.StatusSwitchingProtocols,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        header,
			ContentLength: -1,
			Body:          body,
			Request:       req,
		}, nil
	}
	// The caller may give up while the handler has not answered yet.
	stop := context.AfterFunc(req.Context(), func() { _ = w.client.Close() })
	br := bufio.NewReader(w.client)
	resp, err := http.ReadResponse(br, req)
	if !stop() {
		_ = body.Close()
		return nil, req.Context().Err()
	}
	if err != nil {
		_ = body.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) {
			return nil, errConnReset() // closed unanswered: a dropped connection
		}
		return nil, err
	}
	body.r = br
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &memRawBody{ReadCloser: resp.Body, conn: body}
	} else {
		resp.Body = body
	}
	return resp, nil
}

func (w *memResponseWriter) finish() {
	w.mu.Lock()
	if w.client != nil {
		// The handler owns the connection: nothing to finish.
		w.mu.Unlock()
		return
	}
	if w.status == 0 && w.ctx.Err() != nil {
		// The handler gave up on a client that had gone: no answer.
		w.mu.Unlock()
		w.abort(w.ctx.Err())
		return
	}
	w.writeHeaderLocked(http.StatusOK)
	w.mu.Unlock()
	_ = w.pw.Close()
}

// abort ends the exchange like a dropped connection: before the header was
// sent, RoundTrip returns err; after, the body read fails with err.
func (w *memResponseWriter) abort(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.server != nil {
		// A handler that panics after taking the connection over drops
		// it.
		_ = w.server.Close()
		return
	}
	w.err = err
	if w.status == 0 {
		close(w.aborted)
	}
	w.pw.CloseWithError(err)
}

func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// memBody is the client's side of the response body.
type memBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	stop   func() bool
	done   chan struct{}
	once   sync.Once
}

func (b *memBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close discards the rest of the body and cancels the handler's context,
// as closing a connection would, then waits for the handler to return so
// no goroutine outlives the exchange.
func (b *memBody) Close() error {
	b.once.Do(func() {
		b.stop()
		b.cancel()
		_ = b.pr.CloseWithError(errBodyClosed)
		<-b.done
	})
	return nil
}

var errBodyClosed = errors.New("mockserver: response body closed")

// memConn is the client's end of a connection the handler took over,
// as a response body: readable and writable (io.ReadWriteCloser, as a
// WebSocket client requires). Close closes the connection, then waits for
// the handler to return, so no goroutine outlives the exchange.
type memConn struct {
	c    net.Conn
	r    *bufio.Reader // what the client read ahead, if anything
	done <-chan struct{}
	once sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p[:min(len(p), c.r.Buffered())])
		}
		c.r = nil
	}
	return c.c.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) { return c.c.Write(p) }

func (c *memConn) Close() error {
	c.once.Do(func() {
		_ = c.c.Close()
		<-c.done
	})
	return nil
}

// memRawBody is the body of a raw response a handler wrote on a
// connection it took over; closing it closes the connection.
type memRawBody struct {
	io.ReadCloser
	conn *memConn
}

func (b *memRawBody) Close() error {
	_ = b.ReadCloser.Close()
	return b.conn.Close()
}
