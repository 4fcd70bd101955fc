package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialTerm opens GET /terminal/ws?query on e's guest.
func dialTerm(t *testing.T, e *env, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, e.url+"/terminal/ws?"+query, &websocket.DialOptions{HTTPClient: e.http})
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	conn.SetReadLimit(-1)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// nextMsg reads one message.
func nextMsg(t *testing.T, conn *websocket.Conn) termMessage {
	t.Helper()
	m, err := tryMsg(t, conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func tryMsg(t *testing.T, conn *websocket.Conn) (termMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return termMessage{}, err
	}
	var m termMessage
	if typ != websocket.MessageText || json.Unmarshal(b, &m) != nil {
		t.Fatalf("message %v %q is not JSON text", typ, b)
	}
	return m, nil
}

// readOutput reads output messages until their text contains until, and
// returns the text.
func readOutput(t *testing.T, conn *websocket.Conn, until string) string {
	t.Helper()
	var b strings.Builder
	for !strings.Contains(b.String(), until) {
		m := nextMsg(t, conn)
		if m.Type != "output" {
			t.Fatalf("message %+v after %q, want output up to %q", m, b.String(), until)
		}
		b.WriteString(m.Data)
	}
	return b.String()
}

func sendMsg(t *testing.T, conn *websocket.Conn, m termMessage) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := conn.Write(t.Context(), websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func typeIn(t *testing.T, conn *websocket.Conn, s string) {
	t.Helper()
	sendMsg(t, conn, termMessage{Type: "input", Data: s})
}

// closeAndWait closes conn and waits until the guest has let it go.
func closeAndWait(t *testing.T, e *env, conn *websocket.Conn) {
	t.Helper()
	_ = conn.CloseNow()
	waitNoStreams(t, e.g)
}

// TestTerminalProtocol follows one session through the protocol as
// sandbox-api speaks it: the first prompt live, echo and "\r\n", resize,
// the replay (ESC[0m first) to a client attaching again, the resize to the
// query's size (80×24 by default) on attaching, and the exit of the shell.
func TestTerminalProtocol(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "sessionId=s1&cols=100&rows=30")
	if m := nextMsg(t, conn); m != (termMessage{Type: "output", Data: "# "}) {
		t.Fatalf("first message %+v, want the prompt", m)
	}
	typeIn(t, conn, "echo $COLUMNS x $LINES $TERM\r")
	got := "# " + readOutput(t, conn, "\r\n# ")
	sendMsg(t, conn, termMessage{Type: "resize", Cols: 120, Rows: 40})
	sendMsg(t, conn, termMessage{Type: "resize", Cols: 0, Rows: 10}) // ignored
	typeIn(t, conn, "echo $COLUMNS x $LINES\r")
	got += readOutput(t, conn, "\r\n# ")
	want := "# echo $COLUMNS x $LINES $TERM\r\n100 x 30 xterm-256color\r\n# echo $COLUMNS x $LINES\r\n120 x 40\r\n# "
	if got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	closeAndWait(t, e, conn)

	conn = dialTerm(t, e, "sessionId=s1")
	if m := nextMsg(t, conn); m != (termMessage{Type: "output", Data: "\x1b[0m" + want}) {
		t.Fatalf("first message on attaching %+v, want the replay of %q", m, want)
	}
	typeIn(t, conn, "echo $COLUMNS x $LINES\r")
	if got := readOutput(t, conn, "\r\n# "); got != "echo $COLUMNS x $LINES\r\n80 x 24\r\n# " {
		t.Errorf("after attaching without a size: %q, want 80 x 24", got)
	}

	// The shell exits: the connection stays open until the next message,
	// which closes it without a close frame.
	typeIn(t, conn, "exit\r")
	readOutput(t, conn, "exit\r\n")
	if n, _ := e.g.streamCount(); n != 1 {
		t.Fatalf("%d connections open after the exit, want 1", n)
	}
	typeIn(t, conn, "")
	if _, err := tryMsg(t, conn); !errors.Is(err, io.EOF) || websocket.CloseStatus(err) != -1 {
		t.Fatalf("read after the exit: %v, want EOF without a close frame", err)
	}
	waitNoStreams(t, e.g)

	// The id now names a new session.
	conn = dialTerm(t, e, "sessionId=s1")
	if m := nextMsg(t, conn); m != (termMessage{Type: "output", Data: "# "}) {
		t.Errorf("first message after the exit %+v, want a new prompt", m)
	}
}

// TestTerminalDefaultSession: without sessionId the session is "default".
func TestTerminalDefaultSession(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "")
	nextMsg(t, conn)
	typeIn(t, conn, "cd /tmp\r")
	readOutput(t, conn, "\r\n# ")
	closeAndWait(t, e, conn)
	conn = dialTerm(t, e, "sessionId=default")
	nextMsg(t, conn) // replay
	typeIn(t, conn, "pwd\r")
	if got := readOutput(t, conn, "\r\n# "); got != "pwd\r\n/tmp\r\n# " {
		t.Errorf("pwd in the default session: %q", got)
	}
}

// TestTerminalStartErrors: a shell or directory that cannot be used gets
// an error message, then the connection closes without a close frame.
func TestTerminalStartErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for query, want := range map[string]string{
		"shell=/bin/fish":               "fork/exec /bin/fish: no such file or directory",
		"shell=fish":                    `exec: "fish": executable file not found in $PATH`,
		"workingDir=/nonexistent":       "fork/exec /bin/sh: no such file or directory",
		"shell=/bin/bash&workingDir=/x": "fork/exec /bin/bash: no such file or directory",
	} {
		conn := dialTerm(t, e, query)
		if m := nextMsg(t, conn); m != (termMessage{Type: "error", Data: want}) {
			t.Errorf("%s: message %+v, want error %q", query, m, want)
		}
		if _, err := tryMsg(t, conn); !errors.Is(err, io.EOF) || websocket.CloseStatus(err) != -1 {
			t.Errorf("%s: then %v, want EOF without a close frame", query, err)
		}
	}
	for _, query := range []string{"shell=/bin/bash&workingDir=/tmp", "shell=zsh&cols=x&rows=-1"} {
		conn := dialTerm(t, e, query+"&sessionId="+query)
		if m := nextMsg(t, conn); m.Type != "output" {
			t.Errorf("%s: %+v, want the prompt", query, m)
		}
	}
}

// TestTerminalHTTP: what the route answers to requests that are not
// WebSocket handshakes.
func TestTerminalHTTP(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct {
		method string
		status int
	}{
		{http.MethodGet, http.StatusBadRequest},
		{http.MethodHead, http.StatusOK},
		{http.MethodPost, http.StatusNotFound},
	} {
		if resp, _ := e.do(t, tc.method, "/terminal/ws", ""); resp.StatusCode != tc.status {
			t.Errorf("%s /terminal/ws = %d, want %d", tc.method, resp.StatusCode, tc.status)
		}
	}
}

// TestTerminalLineDiscipline: editing keys, escape sequences, lines typed
// while a command runs, and Ctrl-C.
func TestTerminalLineDiscipline(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "sessionId=ld")
	nextMsg(t, conn)
	// Backspace, an arrow key (dropped), Ctrl-U, a tab.
	typeIn(t, conn, "echo abd\x7fc\x1b[A\x1b]0;title\x07\r")
	if got := readOutput(t, conn, "\r\n# "); got != "echo abd\b \bc\r\nabc\r\n# " {
		t.Errorf("editing: %q", got)
	}
	typeIn(t, conn, "junk\x15echo\tok\r")
	if got := readOutput(t, conn, "ok\r\n# "); got != "junk\b \b\b \b\b \b\b \becho\tok\r\nok\r\n# " {
		t.Errorf("Ctrl-U: %q", got)
	}
	// A line typed while a command runs is echoed at once and runs after.
	typeIn(t, conn, "sleep 5\recho next\r")
	readOutput(t, conn, "echo next\r\n")
	e.clock.Advance(5 * time.Second)
	if got := readOutput(t, conn, "next\r\n# "); got != "# next\r\n# " {
		t.Errorf("typeahead: %q", got)
	}
	// Ctrl-C interrupts a command, and drops what was typed ahead.
	stopped := make(chan struct{})
	e.g.RegisterCommand("wait", func(ctx context.Context, c *Cmd) (int, error) {
		fmt.Fprintln(c.Stdout, "waiting")
		<-ctx.Done()
		close(stopped)
		return 0, nil
	})
	typeIn(t, conn, "wait; echo never\r")
	readOutput(t, conn, "waiting\r\n")
	typeIn(t, conn, "echo ahead\r\x03")
	if got := readOutput(t, conn, "^C\r\n# "); got != "echo ahead\r\n^C\r\n# " {
		t.Errorf("Ctrl-C: %q", got)
	}
	<-stopped
	typeIn(t, conn, "echo after\r")
	if got := readOutput(t, conn, "after\r\n# "); got != "echo after\r\nafter\r\n# " {
		t.Errorf("after Ctrl-C: %q", got)
	}
	// Ctrl-D on an empty line ends the shell, which prints a newline.
	typeIn(t, conn, "\x04")
	typeIn(t, conn, "")
	if got := readOutput(t, conn, "\r\n"); got != "\r\n" {
		t.Errorf("Ctrl-D: %q, want a newline", got)
	}
	if _, err := tryMsg(t, conn); !errors.Is(err, io.EOF) {
		t.Errorf("after Ctrl-D: %v, want the connection closed", err)
	}
}

// TestTerminalIdleTimeout: a session without clients ends after 10
// minutes without activity, on the guest's clock.
func TestTerminalIdleTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "sessionId=idle")
	nextMsg(t, conn)
	closeAndWait(t, e, conn)
	e.clock.Advance(termIdleTimeout - time.Second)
	conn = dialTerm(t, e, "sessionId=idle")
	if m := nextMsg(t, conn); m.Data != "\x1b[0m# " {
		t.Fatalf("attaching before the timeout: %+v, want the replay", m)
	}
	closeAndWait(t, e, conn)
	e.clock.Advance(termIdleTimeout)
	conn = dialTerm(t, e, "sessionId=idle")
	if m := nextMsg(t, conn); m.Data != "# " {
		t.Errorf("attaching after the timeout: %+v, want a new session", m)
	}
}

// TestTerminalReplayTrim: the replay holds the last 100 KiB of output at
// most, from a line start.
func TestTerminalReplayTrim(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.g.RegisterCommand("big", func(_ context.Context, c *Cmd) (int, error) {
		for i := range 3000 {
			fmt.Fprintf(c.Stdout, "line %04d %s\n", i, strings.Repeat("x", 40))
		}
		return 0, nil
	})
	conn := dialTerm(t, e, "sessionId=big")
	nextMsg(t, conn)
	typeIn(t, conn, "big\r")
	live := readOutput(t, conn, "line 2999 "+strings.Repeat("x", 40)+"\r\n# ")
	closeAndWait(t, e, conn)
	conn = dialTerm(t, e, "sessionId=big")
	m := nextMsg(t, conn)
	replay, ok := strings.CutPrefix(m.Data, "\x1b[0m")
	if !ok || len(replay) > termReplayCap || len(replay) < termReplayCap-termTrimSearch ||
		!strings.HasPrefix(replay, "line ") || !strings.HasSuffix(live, replay) {
		t.Errorf("replay of %d bytes starting %q: want the last 100 KiB of output from a line start", len(replay), replay[:min(20, len(replay))])
	}
}

// TestTerminalServerGoesAway: the end of the sandbox drops the
// connections and ends the sessions; Close ends running commands.
func TestTerminalServerGoesAway(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.g.RegisterCommand("wait", func(ctx context.Context, _ *Cmd) (int, error) {
		<-ctx.Done()
		return 0, nil
	})
	conn := dialTerm(t, e, "sessionId=a")
	nextMsg(t, conn)
	typeIn(t, conn, "wait\r")
	readOutput(t, conn, "wait\r\n")
	e.g.SetState(Terminated)
	if _, err := tryMsg(t, conn); err == nil || websocket.CloseStatus(err) != -1 {
		t.Errorf("read after the sandbox ended: %v, want the connection dropped", err)
	}
	waitNoStreams(t, e.g)
	e.g.SetState(Running)
	conn = dialTerm(t, e, "sessionId=a")
	if m := nextMsg(t, conn); m.Data != "# " {
		t.Errorf("after a restart: %+v, want a new session", m)
	}
	typeIn(t, conn, "wait\r")
	readOutput(t, conn, "wait\r\n")
	e.g.Close() // returns once the command has returned
	if _, err := tryMsg(t, conn); err == nil {
		t.Error("connection still open after Close")
	}
}

// TestTerminalShellState: the session's shell keeps its state from line
// to line, works on the guest's file system, returns to the prompt after
// an error (numbering its messages by the lines read, as an interactive
// dash does), and reads more lines while a command is unfinished.
func TestTerminalShellState(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "sessionId=state&workingDir=/tmp")
	nextMsg(t, conn)
	var got strings.Builder
	run := func(line string) {
		t.Helper()
		typeIn(t, conn, line+"\r")
		out := readOutput(t, conn, "\r\n") // the echo
		for !strings.HasSuffix(out, "# ") && !strings.HasSuffix(out, "> ") {
			out += readOutput(t, conn, " ")
		}
		got.WriteString(out)
	}
	run(`pwd; f() { echo "f:$1"; }; X=1; cd /; mkdir -p w`)
	run(`f $X; pwd; echo err >&2; echo hi > w/note`)
	run(`foo`)
	run(`shift 5`)
	run(`echo $? $0`)
	run("for i in 1 2; do")
	run(`echo "$i`)
	run(`"; done; echo \`)
	run(`done`)
	run(`echo a; fi`)
	run(`foo`)
	want := "pwd; f() { echo \"f:$1\"; }; X=1; cd /; mkdir -p w\r\n/tmp\r\n# " +
		"f $X; pwd; echo err >&2; echo hi > w/note\r\nf:1\r\n/\r\nerr\r\n# " +
		"foo\r\n/bin/sh: 3: foo: not found\r\n# " +
		"shift 5\r\n/bin/sh: 4: shift: can't shift that many\r\n# " +
		"echo $? $0\r\n2 /bin/sh\r\n# " +
		"for i in 1 2; do\r\n> " +
		"echo \"$i\r\n> " +
		"\"; done; echo \\\r\n> " +
		"done\r\n1\r\n\r\n2\r\n\r\ndone\r\n# " +
		"echo a; fi\r\n/bin/sh: 10: Syntax error: \"fi\" unexpected\r\n# " +
		"foo\r\n/bin/sh: 10: foo: not found\r\n# "
	if got.String() != want {
		t.Errorf("session:\n%q\nwant\n%q", got.String(), want)
	}
	// The file the shell wrote is on the guest's file system.
	if resp, body := e.do(t, http.MethodGet, "/filesystem/%2Fw%2Fnote", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"content":"hi\n"`) {
		t.Errorf("GET the file the shell wrote: %d %s", resp.StatusCode, body)
	}
}

// TestTerminalInterrupt: Ctrl-C abandons the command line in the
// foreground ($? 130), also at the prompt; background jobs run on.
func TestTerminalInterrupt(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	conn := dialTerm(t, e, "sessionId=int")
	nextMsg(t, conn)
	typeIn(t, conn, "(sleep 2; echo bg) &\r")
	readOutput(t, conn, "&\r\n# ")
	typeIn(t, conn, "sleep 100; echo never\r")
	readOutput(t, conn, "never\r\n")
	typeIn(t, conn, "\x03")
	readOutput(t, conn, "^C\r\n# ")
	e.clock.Advance(2 * time.Second)
	if got := readOutput(t, conn, "bg\r\n"); got != "bg\r\n" {
		t.Errorf("background job after Ctrl-C: %q", got)
	}
	typeIn(t, conn, "echo $?\r")
	if got := readOutput(t, conn, "\r\n# "); got != "echo $?\r\n130\r\n# " {
		t.Errorf("status after Ctrl-C: %q", got)
	}
	typeIn(t, conn, "false\r")
	readOutput(t, conn, "# ")
	typeIn(t, conn, "ab\x03")
	readOutput(t, conn, "^C\r\n# ")
	typeIn(t, conn, "echo $?\r")
	if got := readOutput(t, conn, "130\r\n# "); got != "echo $?\r\n130\r\n# " {
		t.Errorf("Ctrl-C at the prompt: %q", got)
	}
	e.clock.Advance(100 * time.Second)
	typeIn(t, conn, "echo ok\r")
	if got := readOutput(t, conn, "ok\r\n# "); got != "echo ok\r\nok\r\n# " {
		t.Errorf("after the interrupted sleep's time: %q", got)
	}
}

// TestTerminalExit: exit runs the EXIT trap and ends the session, as a
// failure under set -e does; Ctrl-D in the middle of a command is a
// syntax error, at the prompt the end of the shell.
func TestTerminalExit(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"exit", []string{`trap "echo bye" EXIT`, "echo ab; exit 3"}, "echo ab; exit 3\r\nab\r\nbye\r\n"},
		{"errexit", []string{"set -e", "false"}, "false\r\n"},
		{"eof", []string{"for i in 1; do", "\x04", "trap 'echo bye $?' EXIT", "\x04"},
			"> /bin/sh: 2: Syntax error: end of file unexpected (expecting \"done\")\r\n# trap 'echo bye $?' EXIT\r\n# \r\nbye 0\r\n"},
	} {
		conn := dialTerm(t, e, "sessionId="+tc.name)
		nextMsg(t, conn)
		var got strings.Builder
		for _, l := range tc.lines {
			if l != "\x04" {
				l += "\r"
			}
			typeIn(t, conn, l)
		}
		// The last message of the session, then the close at the next
		// message from the client.
		for !strings.HasSuffix(got.String(), tc.want) {
			m, err := tryMsg(t, conn)
			if err != nil {
				t.Fatalf("%s: %v after %q, want it to end with %q", tc.name, err, got.String(), tc.want)
			}
			got.WriteString(m.Data)
		}
		typeIn(t, conn, "")
		if m, err := tryMsg(t, conn); !errors.Is(err, io.EOF) {
			t.Errorf("%s: %+v %v after the end, want the connection closed", tc.name, m, err)
		}
	}
}
