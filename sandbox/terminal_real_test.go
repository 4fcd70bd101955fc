package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// envRealSandboxAPI names the real sandbox-api started by
// ../shared/real/up (SANDBOX_API_REAL_URL in its environment file).
const envRealSandboxAPI = "SANDBOX_API_REAL_URL"

// realTerminalClient returns a client for the real sandbox-api over a
// transport whose connections the test can cut, or skips the test.
func realTerminalClient(t *testing.T) (*sandbox.Client, *cutter) {
	t.Helper()
	base := os.Getenv(envRealSandboxAPI)
	if base == "" {
		t.Skip("$" + envRealSandboxAPI + " is not set: no real sandbox-api to test the terminal against (eval \"$(../shared/real/up sandbox-api)\")")
	}
	cut := newCutter()
	tr := &http.Transport{DialContext: cut.dial((&net.Dialer{}).DialContext)}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cut.cut()
	})
	sb, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(base), sandboxkit.WithToken("unused"),
		sandboxkit.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return sb, cut
}

// TestTerminalRealServer runs a terminal session on the real sandbox-api:
// input, resize, a dropped connection with output written while the
// terminal is away, and the shell's exit. Every line of output is read
// exactly once.
func TestTerminalRealServer(t *testing.T) {
	sb, cut := realTerminalClient(t)
	api, _ := realTerminalClient(t) // for the file checks while sb cannot connect
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	marker := fmt.Sprintf("/tmp/sandboxkit-term-%d", time.Now().UnixNano())
	term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/bin/sh", Cols: 100, Rows: 30, WorkingDir: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	out := readAll(term)

	// Typed input is echoed; "mark""1" prints mark1, which the echo of
	// the command line does not contain.
	typeLine(t, term, `echo mark""1; stty size`)
	out.waitN(t, ctx, "30 100\r\n", 1)
	if err := term.Resize(120, 40); err != nil {
		t.Fatal(err)
	}
	typeLine(t, term, `stty size`)
	out.waitN(t, ctx, "40 120\r\n", 1)

	// Drop the connection while the shell writes, and keep the terminal
	// away until the output is there (the command creates marker after
	// printing).
	cut.block()
	typeLine(t, term, `sleep 1; echo late""2; touch `+marker)
	cut.cut()
	waitFile(t, ctx, api, marker)
	cut.unblock()
	typeLine(t, term, `echo mark""3; stty size`)
	out.waitN(t, ctx, "mark3\r\n", 1)
	out.waitN(t, ctx, "40 120\r\n", 2) // the size survived the reconnection
	typeLine(t, term, "exit")
	got, err := out.wait(ctx)
	if err != nil {
		t.Fatalf("Read ended with %v after %q, want io.EOF", err, got)
	}
	t.Logf("transcript: %q", got)
	for _, want := range []string{"mark1\r\n", "late2\r\n", "mark3\r\n", "echo late\"\"2; touch " + marker, "30 100\r\n"} {
		if n := strings.Count(got, want); n != 1 {
			t.Errorf("%q appears %d times in the output, want once:\n%q", want, n, got)
		}
	}
	if n := strings.Count(got, "40 120\r\n"); n != 2 {
		t.Errorf("%q appears %d times in the output, want twice:\n%q", "40 120", n, got)
	}
	if cut.dials() < 2 {
		t.Errorf("%d connections, want a reconnection", cut.dials())
	}
	if _, err := term.Write([]byte("echo\r")); !errors.Is(err, sandbox.ErrTerminalEnded) {
		t.Errorf("Write after the shell exited = %v, want ErrTerminalEnded", err)
	}
}

// waitFile polls the sandbox API until path exists.
func waitFile(t *testing.T, ctx context.Context, sb *sandbox.Client, path string) {
	t.Helper()
	for {
		if _, err := sb.Read(ctx, path); err == nil {
			return
		} else if !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("Read %s: %v", path, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", path)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestTerminalRealServerErrors checks what the real server answers to a
// shell that does not exist, and that a terminal attached to the id of a
// running session reads its output.
func TestTerminalRealServerErrors(t *testing.T) {
	sb, _ := realTerminalClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/nonexistent/shell"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(term)
	var se *sandbox.TerminalServerError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "/nonexistent/shell") {
		t.Errorf("Read = %v, want a TerminalServerError naming the shell", err)
	}
	term.Close()

	// The first terminal learns that the second ended the shell at its
	// next keepalive.
	first, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/bin/sh", KeepAlive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	out1 := readAll(first)
	typeLine(t, first, `echo attach""ed`)
	out1.waitN(t, ctx, "attached\r\n", 1)

	second, err := sb.Terminal(ctx, &sandbox.TerminalOptions{SessionID: first.SessionID()})
	if err != nil {
		t.Fatal(err)
	}
	out2 := readAll(second)
	out2.waitN(t, ctx, "attached\r\n", 1) // the replay
	typeLine(t, second, "exit")
	if _, err := out2.wait(ctx); err != nil {
		t.Errorf("second terminal: %v, want io.EOF", err)
	}
	if _, err := out1.wait(ctx); err != nil {
		t.Errorf("first terminal: %v, want io.EOF", err)
	}
	if got := out1.String(); strings.Contains(got, "\x1b[0m") {
		t.Errorf("output holds the replay's reset prefix: %q", got)
	}
}

// loopLine matches a line the loops of TestTerminalRealServerLongOutput
// print.
var loopLine = regexp.MustCompile(`(line|more) (\d+) x{40}\r\n`)

// TestTerminalRealServerLongOutput drops the connection after more
// output than sandbox-api keeps for replays (100 KiB): once with nothing
// new (the trimmed replay must add nothing), once with more than it keeps
// written while the terminal is away (the start of that is lost, the rest
// arrives once, in order). It also drops the connection after characters
// the server cut between two chunks.
func TestTerminalRealServerLongOutput(t *testing.T) {
	sb, cut := realTerminalClient(t)
	api, _ := realTerminalClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	marker := fmt.Sprintf("/tmp/sandboxkit-term-%d", time.Now().UnixNano())
	term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/bin/sh", MaxReconnects: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	out := readAll(term)
	// awk writes a line at a time to a terminal; cat passes the lines on in
	// large writes, so that sandbox-api, which drops live output for a
	// client that has 64 chunks pending, reads few chunks.
	const loop = `awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%s %%d %%s\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }' | cat; %s`

	typeLine(t, term, fmt.Sprintf(loop, "line", `echo do""ne1`))
	out.waitN(t, ctx, "done1\r\n", 1)
	cut.cut()
	typeLine(t, term, `echo af""ter1`)
	out.waitN(t, ctx, "after1\r\n", 1)

	cut.block()
	typeLine(t, term, fmt.Sprintf(loop, "more", `echo do""ne2; touch `+marker))
	cut.cut()
	waitFile(t, ctx, api, marker)
	cut.unblock()
	typeLine(t, term, `echo af""ter2`)
	out.waitN(t, ctx, "after2\r\n", 1)

	// 6000 bytes of é, cut by the server into live chunks of 4096 bytes.
	typeLine(t, term, `yes é | head -n 3000 | tr -d '\n'; echo; echo e""nd3`)
	out.waitN(t, ctx, "end3\r\n", 1)
	cut.cut()
	typeLine(t, term, `echo af""ter3`)
	out.waitN(t, ctx, "after3\r\n", 1)
	// (Not on the same line: sandbox-api closes the terminal as soon as
	// the shell exits, and output not read by then is lost.)
	typeLine(t, term, "exit")
	got, err := out.wait(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}

	// Every "line N" once, in order. (A line may start with the prompt.)
	var lines, more []int
	for _, m := range loopLine.FindAllStringSubmatch(got, -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "line" {
			lines = append(lines, n)
		} else {
			more = append(more, n)
		}
	}
	for i, n := range lines {
		if n != i {
			t.Fatalf("line %d of the first loop is %d (of %d), want every line once in order", i, n, len(lines))
		}
	}
	if len(lines) != 3000 {
		t.Errorf("%d lines of the first loop, want 3000", len(lines))
	}
	// The second loop: a gap at the start, then every line once up to the
	// last; about 100 KiB of it (a line is 51 to 54 bytes).
	if len(more) < 1800 || len(more) > 2100 || more[len(more)-1] != 2999 {
		t.Fatalf("second loop: %d lines ending with %v, want the last ~1950", len(more), more[max(0, len(more)-1):])
	}
	for i := 1; i < len(more); i++ {
		if more[i] != more[i-1]+1 {
			t.Fatalf("second loop: line %d after %d", more[i], more[i-1])
		}
	}
	for _, w := range []string{"done1\r\n", "after1\r\n", "done2\r\n", "after2\r\n", "end3\r\n", "after3\r\n"} {
		if n := strings.Count(got, w); n != 1 {
			t.Errorf("%q appears %d times, want once", w, n)
		}
	}
	_, tail, _ := strings.Cut(got, "end3\r\n")
	if strings.ContainsAny(tail, "é\ufffd") {
		t.Errorf("after the reconnection the replayed characters came again: %q", tail)
	}
	if n := cut.dials(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}

// TestTerminalRealServerSessionLost: the shell exits while the terminal
// is away; sandbox-api starts a new shell under the id when the terminal
// reconnects, and the terminal ends with ErrTerminalLost.
func TestTerminalRealServerSessionLost(t *testing.T) {
	sb, cut := realTerminalClient(t)
	api, _ := realTerminalClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	marker := fmt.Sprintf("/tmp/sandboxkit-term-%d", time.Now().UnixNano())
	term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	out := readAll(term)
	typeLine(t, term, `echo rea""dy`)
	out.waitN(t, ctx, "ready\r\n", 1)
	cut.block()
	typeLine(t, term, "sleep 1; touch "+marker+"; exit")
	cut.cut()
	waitFile(t, ctx, api, marker)
	cut.unblock()
	if _, err := out.wait(ctx); !errors.Is(err, sandbox.ErrTerminalLost) {
		t.Errorf("Read ended with %v, want ErrTerminalLost", err)
	}
	// End the shell the reconnection started.
	again, err := api.Terminal(ctx, &sandbox.TerminalOptions{SessionID: term.SessionID()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	typeLine(t, again, "exit")
	if _, err := io.Copy(io.Discard, again); err != nil {
		t.Errorf("ending the new shell: %v", err)
	}
}
