package sandboxkit

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// pipeNet is an in-memory network for tests inside a testing/synctest
// bubble (where a socket would keep the bubble from ever idling): every
// dial gets one end of a net.Pipe, and serve runs on the other end. The
// transport is a real *http.Transport, so framing, decompression and
// 101 handling are net/http's own.
type pipeNet struct {
	t     *testing.T
	serve func(conn net.Conn, br *bufio.Reader)

	mu    sync.Mutex
	dials int
	conns []net.Conn
	wg    sync.WaitGroup
}

// newPipeNet returns a network whose server runs serve for each
// connection; everything is closed when the test ends.
func newPipeNet(t *testing.T, serve func(conn net.Conn, br *bufio.Reader)) (*pipeNet, *http.Transport) {
	n := &pipeNet{t: t, serve: serve}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, s := net.Pipe()
			n.mu.Lock()
			n.dials++
			n.conns = append(n.conns, c, s)
			n.mu.Unlock()
			n.wg.Go(func() {
				defer s.Close()
				n.serve(s, bufio.NewReader(s))
			})
			return c, nil
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		n.mu.Lock()
		for _, c := range n.conns {
			_ = c.Close()
		}
		n.mu.Unlock()
		n.wg.Wait()
	})
	return n, tr
}

func (n *pipeNet) dialCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials
}

// silent reads whatever the client sends and never answers: a server
// that accepted the connection and hangs.
func silent(conn net.Conn, _ *bufio.Reader) { _, _ = io.Copy(io.Discard, conn) }

// readRequest reads one request and its body, as a server would before
// answering.
func readRequest(br *bufio.Reader) (*http.Request, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, false
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return req, true
}

// pipeConfig returns a configuration of api whose requests go over tr.
func pipeConfig(t *testing.T, api API, tr http.RoundTripper, opts ...Option) *Config {
	t.Helper()
	return mockConfig(t, api, tr, opts...)
}
