package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// pipeListener hands the server ends of in-memory connections to an
// http.Server.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// mockTerminal starts a mock server with one running sandbox, served by
// an http.Server over connections the test can cut (net.Pipe, which works
// inside a synctest bubble where a socket would not; the mock's own
// HTTPClient carries terminals too but has no connection to drop). It
// returns a client for the sandbox's API and the cutter of its
// connections.
func mockTerminal(t *testing.T) (*sandbox.Client, *cutter) {
	t.Helper()
	srv := mockserver.Start(t, mockserver.WithTenant("key", "me"))
	if _, err := srv.AddSandbox("me", mockserver.SandboxSeed{ID: "sbx-1"}); err != nil {
		t.Fatal(err)
	}
	ln := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	hs := &http.Server{Handler: srv.Handler()}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	cut := newCutter()
	tr := &http.Transport{DialContext: cut.dial(func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		select {
		case ln.conns <- s:
			return c, nil
		case <-ln.closed:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = hs.Close()
		cut.cut() // the hijacked connections http.Server does not know
		<-served
	})
	sbOpts, err := srv.SandboxAPIOptions("sbx-1")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(append(sbOpts, sandboxkit.WithHTTPClient(&http.Client{Transport: tr}))...)
	if err != nil {
		t.Fatal(err)
	}
	return sb, cut
}

// TestTerminalSession types into a session, resizes it, drops the
// connection while the shell writes, reconnects and checks that every
// byte of output was read exactly once, in order.
func TestTerminalSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Cols: 100, Rows: 30, MaxReconnects: 10})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)

		typeLine(t, term, "echo one; echo $COLUMNS x $LINES")
		out.waitN(t, ctx, "100 x 30\r\n", 1)
		if err := term.Resize(120, 40); err != nil {
			t.Fatal(err)
		}
		typeLine(t, term, "echo $COLUMNS x $LINES")
		out.waitN(t, ctx, "120 x 40\r\n", 1)

		// The shell prints "late" while the terminal cannot connect: the
		// replay brings it, after what was read before.
		cut.block()
		typeLine(t, term, "sleep 5; echo late")
		synctest.Wait()
		cut.cut()
		time.Sleep(6 * time.Second)
		cut.unblock()
		typeLine(t, term, "echo three; echo $COLUMNS x $LINES")
		out.waitN(t, ctx, "three\r\n", 1)
		typeLine(t, term, "exit")
		got, err := out.wait(ctx)
		if err != nil {
			t.Fatalf("Read: %v, want io.EOF at the shell's exit", err)
		}
		want := "# echo one; echo $COLUMNS x $LINES\r\none\r\n100 x 30\r\n" +
			"# echo $COLUMNS x $LINES\r\n120 x 40\r\n" +
			"# sleep 5; echo late\r\nlate\r\n" +
			"# echo three; echo $COLUMNS x $LINES\r\nthree\r\n120 x 40\r\n" +
			"# exit\r\n"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		if n := cut.dials(); n != 2 {
			t.Errorf("%d connections, want 2 (one reconnection)", n)
		}
		if _, err := term.Write([]byte("x")); !errors.Is(err, sandbox.ErrTerminalEnded) {
			t.Errorf("Write after exit = %v, want ErrTerminalEnded", err)
		}
		if err := term.Resize(80, 24); !errors.Is(err, sandbox.ErrTerminalEnded) {
			t.Errorf("Resize after exit = %v, want ErrTerminalEnded", err)
		}
	})
}

// TestTerminalReconnectsRepeatedly drops the connection after every
// command; the output stays whole.
func TestTerminalReconnectsRepeatedly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		var want strings.Builder
		want.WriteString("# ")
		for i, word := range []string{"alpha", "beta", "gamma", "delta"} {
			typeLine(t, term, "echo "+word)
			out.waitN(t, ctx, word+"\r\n# ", 1)
			want.WriteString("echo " + word + "\r\n" + word + "\r\n# ")
			if i%2 == 0 {
				synctest.Wait() // the output is in; now drop the connection idle
			}
			cut.cut()
		}
		term.Close()
		got, err := out.wait(ctx)
		if err != nil {
			t.Fatalf("Read: %v, want io.EOF after Close", err)
		}
		if diff := cmp.Diff(want.String(), got); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		if n := cut.dials(); n < 4 {
			t.Errorf("%d connections, want at least 4", n)
		}
	})
}

// TestTerminalSessionLost: the shell exits while the terminal is away;
// the reconnection finds a new shell under the id and the terminal ends
// with ErrTerminalLost instead of typing into it.
func TestTerminalSessionLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{MaxReconnects: 10})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		cut.block()
		typeLine(t, term, "sleep 2; exit")
		synctest.Wait()
		cut.cut()
		time.Sleep(3 * time.Second)
		cut.unblock()
		got, err := out.wait(ctx)
		if !errors.Is(err, sandbox.ErrTerminalLost) {
			t.Fatalf("Read ended with %v, want ErrTerminalLost", err)
		}
		if want := "# sleep 2; exit\r\n"; got != want {
			t.Errorf("output = %q, want %q", got, want)
		}
		if _, err := term.Write([]byte("ls\r")); !errors.Is(err, sandbox.ErrTerminalLost) {
			t.Errorf("Write = %v, want ErrTerminalLost", err)
		}
	})
}

// TestTerminalGivesUp: a terminal that cannot reconnect ends with
// ErrTerminalLost after MaxReconnects attempts, and a Write waiting for
// the connection returns.
func TestTerminalGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{MaxReconnects: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		out.waitN(t, ctx, "# ", 1)
		cut.block()
		cut.cut()
		start := time.Now()
		_, werr := term.Write([]byte("echo hi\r"))
		_, err = out.wait(ctx)
		if !errors.Is(err, sandbox.ErrTerminalLost) || !errors.Is(werr, sandbox.ErrTerminalLost) {
			t.Fatalf("Read: %v, Write: %v; want ErrTerminalLost", err, werr)
		}
		// 250ms + 500ms + 1s between the attempts.
		if d := time.Since(start); d != 1750*time.Millisecond {
			t.Errorf("gave up after %v, want 1.75s", d)
		}
		if n := cut.dials(); n != 1 {
			t.Errorf("%d connections made, want 1", n)
		}
	})
}

// TestTerminalResendsFailedInput: input whose sending failed (it never
// reached the server) is sent again on the next connection, once.
func TestTerminalResendsFailedInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		out.waitN(t, ctx, "# ", 1)
		cut.breakWrites()
		typeLine(t, term, "echo again")
		out.waitN(t, ctx, "again\r\n# ", 1)
		term.Close()
		got, _ := out.wait(ctx)
		if want := "# echo again\r\nagain\r\n# "; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		if n := cut.dials(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
}

// TestTerminalKeepAlive: a connection that stops answering is noticed by
// its unanswered ping and replaced; the session carries on.
func TestTerminalKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, cut := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{KeepAlive: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		typeLine(t, term, "echo one")
		out.waitN(t, ctx, "one\r\n# ", 1)
		synctest.Wait()
		cut.freeze()
		start := time.Now()
		for cut.dials() < 2 {
			time.Sleep(time.Second)
		}
		// A ping within 10s, then 10s without a pong.
		if d := time.Since(start); d < 10*time.Second || d > 22*time.Second {
			t.Errorf("reconnected %v after the connection froze, want within two keepalive intervals", d)
		}
		typeLine(t, term, "echo two")
		out.waitN(t, ctx, "two\r\n# ", 1)
		term.Close()
		got, _ := out.wait(ctx)
		if want := "# echo one\r\none\r\n# echo two\r\ntwo\r\n# "; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	})
}

// TestTerminalAttach opens a second terminal on the session of the first:
// it reads the session's output so far, and both see what follows.
func TestTerminalAttach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := mockTerminal(t)
		ctx := t.Context()
		first, err := sb.Terminal(ctx, &sandbox.TerminalOptions{SessionID: "shared"})
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		out1 := readAll(first)
		typeLine(t, first, "cd /tmp; echo before")
		out1.waitN(t, ctx, "before\r\n# ", 1)

		second, err := sb.Terminal(ctx, &sandbox.TerminalOptions{SessionID: first.SessionID(), Cols: 90, Rows: 20})
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		out2 := readAll(second)
		typeLine(t, second, "pwd; echo $COLUMNS")
		out1.waitN(t, ctx, "90\r\n# ", 1)
		out2.waitN(t, ctx, "90\r\n# ", 1)
		second.Close()
		first.Close()
		got1, _ := out1.wait(ctx)
		got2, _ := out2.wait(ctx)
		tail := "pwd; echo $COLUMNS\r\n/tmp\r\n90\r\n# "
		if want := "# cd /tmp; echo before\r\nbefore\r\n# " + tail; got1 != want {
			t.Errorf("first terminal read %q, want %q", got1, want)
		}
		// The second starts with the replay, without the server's reset.
		if want := "# cd /tmp; echo before\r\nbefore\r\n# " + tail; got2 != want {
			t.Errorf("second terminal read %q, want %q", got2, want)
		}
	})
}

// TestTerminalServerError: a shell that does not exist ends the terminal
// with the server's message.
func TestTerminalServerError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := mockTerminal(t)
		term, err := sb.Terminal(t.Context(), &sandbox.TerminalOptions{Shell: "/bin/fish"})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		_, err = io.ReadAll(term)
		var se *sandbox.TerminalServerError
		if !errors.As(err, &se) || se.Message != "fork/exec /bin/fish: no such file or directory" {
			t.Fatalf("Read: %v, want the server's error", err)
		}
		if _, werr := term.Write([]byte("x")); !errors.As(werr, &se) {
			t.Errorf("Write: %v, want the server's error", werr)
		}
	})
}

// TestTerminalInput checks what reaches the shell: a character split
// across two writes arrives whole, Backspace edits the line, Ctrl-C
// interrupts a command.
func TestTerminalInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := mockTerminal(t)
		ctx := t.Context()
		term, err := sb.Terminal(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		e := []byte("é")
		for _, w := range [][]byte{[]byte("echo caf"), e[:1], e[1:], []byte("s\x7f!\r")} {
			if _, err := term.Write(w); err != nil {
				t.Fatal(err)
			}
		}
		out.waitN(t, ctx, "café!\r\n", 1)
		typeLine(t, term, "sleep 100; echo never")
		synctest.Wait()
		if _, err := term.Write([]byte{3}); err != nil { // Ctrl-C
			t.Fatal(err)
		}
		out.waitN(t, ctx, "^C\r\n# ", 1)
		time.Sleep(200 * time.Second)
		term.Close()
		got, _ := out.wait(ctx)
		want := "# echo café" + "s\b \b!\r\ncafé!\r\n# sleep 100; echo never\r\n^C\r\n# "
		if got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	})
}

// TestTerminalContext: the end of the context the terminal was opened
// with ends it; Read reports the context's error.
func TestTerminalContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := mockTerminal(t)
		ctx, cancel := context.WithCancel(t.Context())
		term, err := sb.Terminal(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		out := readAll(term)
		out.waitN(t, t.Context(), "# ", 1)
		cancel()
		if _, err := out.wait(t.Context()); !errors.Is(err, context.Canceled) {
			t.Errorf("Read: %v, want context.Canceled", err)
		}
		if _, err := term.Write([]byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Write: %v, want context.Canceled", err)
		}
	})
}

// TestTerminalCredentials: the handshake carries the client's token to
// the sandbox's origin, and a redirect to another origin gets none of it.
func TestTerminalCredentials(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 2)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer other.Close()
	sb, srv := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sessionId") == "moved" {
			http.Redirect(w, r, other.URL+"/terminal/ws", http.StatusTemporaryRedirect)
			return
		}
		got <- r.Header.Clone()
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	term, err := sb.Terminal(t.Context(), &sandbox.TerminalOptions{SessionID: "here", Shell: "/bin/bash", WorkingDir: "/tmp", Cols: 90, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(term); err != nil {
		t.Errorf("Read after a normal close: %v, want io.EOF", err)
	}
	term.Close()
	if h := <-got; h.Get("Authorization") != "Bearer "+testToken || !strings.HasPrefix(h.Get("User-Agent"), "sandboxkit-go/") {
		t.Errorf("handshake headers %v, want the bearer token and the SDK's User-Agent", h)
	}
	want := "/terminal/ws?cols=90&rows=30&sessionId=here&shell=%2Fbin%2Fbash&workingDir=%2Ftmp"
	if r := srv.requests(); len(r) != 1 || r[0].Method != "GET" || r[0].URI != want {
		t.Errorf("requests %+v, want GET %s", r, want)
	}

	_, err = sb.Terminal(t.Context(), &sandbox.TerminalOptions{SessionID: "moved"})
	if !errors.Is(err, sandboxkit.ErrForbidden) {
		t.Errorf("Terminal through a redirect: %v, want the other server's 403", err)
	}
	if h := <-got; h.Get("Authorization") != "" {
		t.Errorf("the redirect's target got Authorization %q", h.Get("Authorization"))
	}
}

// TestTerminalOptionsChecked: bad options fail before anything is sent.
func TestTerminalOptionsChecked(t *testing.T) {
	t.Parallel()
	sb := mockClient(t, func(req *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", req.Method, req.URL)
		return nil, errors.New("unexpected")
	})
	for _, opts := range []sandbox.TerminalOptions{
		{Cols: 80},
		{Cols: 70000, Rows: 10},
		{Cols: -1, Rows: 10},
		{Shell: "a\x00b"},
		{WorkingDir: "\x00"},
		{SessionID: "line\nbreak"},
		{SessionID: strings.Repeat("x", 300)},
		{DialTimeout: -time.Second},
		{ReconnectDelay: -time.Second},
		{MaxMessageSize: -1},
	} {
		if _, err := sb.Terminal(t.Context(), &opts); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("Terminal(%+v) = %v, want ErrInvalidInput", opts, err)
		}
	}
}

// TestTerminalInMemoryTransport: the mock's in-memory client carries a
// terminal too (no listener), inside a synctest bubble: the session runs
// on the bubble's clock and ends with io.EOF when the shell exits.
func TestTerminalInMemoryTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithTenant("key", "me"))
		if _, err := srv.AddSandbox("me", mockserver.SandboxSeed{ID: "sbx-1"}); err != nil {
			t.Fatal(err)
		}
		sbOpts, err := srv.SandboxAPIOptions("sbx-1")
		if err != nil {
			t.Fatal(err)
		}
		sb, err := sandbox.New(sbOpts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Cols: 100, Rows: 30})
		if err != nil {
			t.Fatalf("Terminal over the in-memory transport: %v", err)
		}
		defer term.Close()
		out := readAll(term)
		typeLine(t, term, "sleep 3; echo $COLUMNS")
		synctest.Wait()
		if got := out.String(); strings.Contains(got, "100") {
			t.Fatalf("output %q before the sleep is over", got)
		}
		time.Sleep(3 * time.Second)
		out.waitN(t, ctx, "100\r\n# ", 1)
		typeLine(t, term, "exit")
		got, err := out.wait(ctx)
		if err != nil {
			t.Fatalf("Read: %v, want io.EOF at the shell's exit", err)
		}
		if want := "# sleep 3; echo $COLUMNS\r\n100\r\n# exit\r\n"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	})
}
