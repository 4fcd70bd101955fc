package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// cutter wraps a dial function so that a test can cut every connection
// made so far, freeze them (the peer seems to vanish without closing
// anything), and refuse new ones for a while.
type cutter struct {
	mu      sync.Mutex
	conns   []*cutConn
	n       int
	blocked bool
}

// cutConn is a connection a cutter can freeze: then reads wait until it
// is closed, and writes vanish.
type cutConn struct {
	net.Conn
	frozen    chan struct{}
	freezeOne sync.Once
	broken    chan struct{} // writes fail
	breakOne  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *cutConn) Read(p []byte) (int, error) {
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Read(p)
}

func (c *cutConn) Write(p []byte) (int, error) {
	select {
	case <-c.frozen:
		return len(p), nil
	case <-c.broken:
		return 0, syscall.EPIPE
	default:
	}
	return c.Conn.Write(p)
}

func (c *cutConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func newCutter() *cutter { return &cutter{} }

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// dial returns next wrapped.
func (c *cutter) dial(next dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.mu.Lock()
		blocked := c.blocked
		c.mu.Unlock()
		if blocked {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		raw, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := &cutConn{Conn: raw, frozen: make(chan struct{}), broken: make(chan struct{}), closed: make(chan struct{})}
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.n++
		c.mu.Unlock()
		return conn, nil
	}
}

// cut closes every connection made so far.
func (c *cutter) cut() {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
}

// freeze makes every connection made so far stop delivering anything,
// in either direction, without being closed.
func (c *cutter) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.freezeOne.Do(func() { close(conn.frozen) })
	}
}

// breakWrites makes writes on every connection made so far fail, as
// on a connection the peer has reset.
func (c *cutter) breakWrites() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.breakOne.Do(func() { close(conn.broken) })
	}
}

func (c *cutter) block()   { c.setBlocked(true) }
func (c *cutter) unblock() { c.setBlocked(false) }

func (c *cutter) setBlocked(b bool) {
	c.mu.Lock()
	c.blocked = b
	c.mu.Unlock()
}

// dials returns how many connections were made.
func (c *cutter) dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// output collects everything read from a terminal, in a goroutine that
// ends when Read fails (at the latest when the terminal is closed).
type output struct {
	mu      sync.Mutex
	buf     strings.Builder
	changed chan struct{}
	done    chan struct{}
	err     error
}

func readAll(r io.Reader) *output {
	o := &output{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		p := make([]byte, 512)
		for {
			n, err := r.Read(p)
			o.mu.Lock()
			o.buf.Write(p[:n])
			if err != nil && !errors.Is(err, io.EOF) {
				o.err = err
			}
			close(o.changed)
			o.changed = make(chan struct{})
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

// String returns the output so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitN waits until s occurs n times in the output.
func (o *output) waitN(t *testing.T, ctx context.Context, s string, n int) {
	t.Helper()
	for {
		o.mu.Lock()
		got, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		if strings.Count(got, s) >= n {
			return
		}
		select {
		case <-changed:
		case <-o.done:
			t.Fatalf("output ended (%v) before %q appeared %d times:\n%q", o.err, s, n, got)
		case <-ctx.Done():
			t.Fatalf("%v before %q appeared %d times in the output:\n%q", ctx.Err(), s, n, got)
		}
	}
}

// wait waits until Read has failed, and returns the whole output and the
// error (nil for io.EOF).
func (o *output) wait(ctx context.Context) (string, error) {
	select {
	case <-o.done:
	case <-ctx.Done():
		return o.String(), ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.err
}

// typeLine types line and Enter.
func typeLine(t *testing.T, term *sandbox.Terminal, line string) {
	t.Helper()
	if _, err := io.WriteString(term, line+"\r"); err != nil {
		t.Fatalf("typing %q: %v", line, err)
	}
}
