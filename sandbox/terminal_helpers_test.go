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
// made so far, and refuse new ones for a while.
type cutter struct {
	mu      sync.Mutex
	conns   []net.Conn
	n       int
	blocked bool
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
		conn, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
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
