package conformance

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestSandboxAcceptance is issue 11's acceptance scenario: a user's test
// that streams a command and reads files by relative path sees the same
// events and paths on the mock as on the real server.
func TestSandboxAcceptance(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.dir(t)
		if err := tg.sb.Mkdir(ctx, dir, nil); err != nil {
			t.Fatal(err)
		}
		s, err := tg.sb.ExecStream(ctx, &sandbox.ExecRequest{
			Command: `printf 'a\nb\n'; sleep 1; printf c; printf 'out\n' > ` + dir + `/out.txt`,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, p := events(t, s)
		want := []string{"stdout:a\n", "stdout:b\n", "stdout:c", "result:completed/0"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if p == nil || p.Stdout != "a\nb\nc" || !p.Ended() || p.CompletedAt.IsZero() {
			t.Errorf("result %+v", p)
		}
		// The file the command wrote, by relative path.
		if text, err := tg.sb.Read(ctx, dir+"/out.txt"); err != nil || text != "out\n" {
			t.Errorf("Read(%s/out.txt) = %q, %v", dir, text, err)
		}
		d, err := tg.sb.ListDirectory(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if d.Path != dir || len(d.Files) != 1 || d.Files[0].Path != dir+"/out.txt" || d.Files[0].Name != "out.txt" || d.Files[0].Size != 4 {
			t.Errorf("List(%s) = %+v", dir, d)
		}
	})
}

// TestSandboxExecStreamFraming: output reaches the stream as the process
// wrote it, however the server cuts it: several lines at once, a command
// so fast that nothing was streamed live (the real server then sends
// each line without its newline), "\r" before the newline, stderr apart.
func TestSandboxExecStreamFraming(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		for _, tc := range []struct {
			name, command string
			want          []string
		}{
			{"fast", "echo a; echo b; echo c", []string{"stdout:a\n", "stdout:b\n", "stdout:c\n", "result:completed/0"}},
			{"empty line", "printf 'a\\n\\nb'", []string{"stdout:a\n", "stdout:\n", "stdout:b", "result:completed/0"}},
			{"carriage return", `printf 'x\r\ny\r\n'; sleep 0.3; printf 'z\r\n'`, []string{"stdout:x\r\n", "stdout:y\r\n", "stdout:z\r\n", "result:completed/0"}},
			{"stderr and exit code", `echo out; sleep 0.3; echo err >&2; exit 3`, []string{"stdout:out\n", "stderr:err\n", "result:failed/3"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, err := tg.sb.ExecStream(ctx, &sandbox.ExecRequest{Command: tc.command}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := events(t, s)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestSandboxLongLine: a 600,000-byte line comes in pieces of
// MaxLineSize from ExecStream and from StreamLogs alike (the log stream
// sends a whole output line as one line of its own). Both follow the
// output live: the real server keeps at most 256 KiB of a finished
// process's log once many processes share its log budget, so a replay
// may start in the middle of the line.
func TestSandboxLongLine(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		const size, max = 600_000, 256 << 10
		opts := &sandbox.StreamOptions{MaxLineSize: max}
		s, err := tg.sb.ExecStream(ctx, &sandbox.ExecRequest{Command: `printf '%0600000d\n' 0; echo end`}, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"stdout:" + strings.Repeat("0", max), "stdout:" + strings.Repeat("0", max),
			"stdout:" + strings.Repeat("0", size-2*max) + "\n", "stdout:end\n", "result:completed/0"}
		got, p := events(t, s)
		if diff := cmp.Diff(want, got, cmp.Transformer("short", short)); diff != "" {
			t.Errorf("ExecStream events (-want +got):\n%s", diff)
		}
		if p == nil {
			t.Fatal("no result")
		}
		q, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: `sleep 1; printf '%0600000d\n' 0; echo end`})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, q.PID)
		s, err = tg.sb.StreamLogs(ctx, q.PID, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = events(t, s)
		if diff := cmp.Diff(want, got, cmp.Transformer("short", short)); diff != "" {
			t.Errorf("StreamLogs events (-want +got):\n%s", diff)
		}
	})
}

// TestSandboxStreamLogs follows a running process by pid and by name: the
// output so far, then live lines, then the result. A process the server
// does not know is an error event (the real server answers 200 and then
// an error object).
func TestSandboxStreamLogs(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		name := tg.procName(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name, Command: `echo one; sleep 1; echo two >&2; sleep 0.5; echo three`})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		for _, id := range []string{p.PID, name} {
			s, err := tg.sb.StreamLogs(ctx, id, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, res := events(t, s)
			want := []string{"stdout:one\n", "stderr:two\n", "stdout:three\n", "result:completed/0"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("StreamLogs(%s) events (-want +got):\n%s", id, diff)
			}
			if res == nil || res.PID != p.PID || res.Name != name {
				t.Errorf("result %+v", res)
			}
		}
		s, err := tg.sb.StreamLogs(ctx, tg.procName(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := events(t, s)
		if len(got) != 1 || !strings.HasPrefix(got[0], "error:") || !strings.Contains(got[0], "not found") {
			t.Errorf("StreamLogs of an unknown process: %q", got)
		}
	})
}

// TestSandboxExecStreamRefused: a name a running process holds is refused
// before anything is streamed.
func TestSandboxExecStreamRefused(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		name := tg.procName(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name, Command: "sleep 30"})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		_, err = tg.sb.ExecStream(ctx, &sandbox.ExecRequest{Name: name, Command: "echo again"}, nil)
		assertAPIError(t, err, 400, "sandbox.ExecStream", "already exists")
	})
}

// cutExecStream lets the exec stream's answer through until its first
// line, then drops the connection.
type cutExecStream struct{ next http.RoundTripper }

func (c cutExecStream) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && r.Header.Get("Accept") == "text/event-stream" {
		resp.Body = &cutAfterLine{ReadCloser: resp.Body}
	}
	return resp, err
}

type cutAfterLine struct {
	io.ReadCloser
	done bool
}

func (c *cutAfterLine) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.ReadCloser.Read(p)
	if i := bytes.IndexByte(p[:n], '\n'); i >= 0 {
		c.done = true
		return i + 1, nil
	}
	return n, err
}

// loseExecAnswer delivers the exec request to the server, then loses its
// answer: the connection "resets" before the client sees it.
type loseExecAnswer struct {
	next http.RoundTripper
	lost atomic.Int32
}

func (l *loseExecAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/process") {
		if l.lost.Add(1) == 1 {
			_ = resp.Body.Close()
			return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		}
	}
	return resp, err
}

// TestSandboxExecStreamResumes: the exec stream's connection drops after
// its first line; the stream goes on from the process's log stream
// without losing or repeating a line.
func TestSandboxExecStreamResumes(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		sb := tg.through(t, func(rt http.RoundTripper) http.RoundTripper { return cutExecStream{rt} })
		s, err := sb.ExecStream(tg.ctx(t), &sandbox.ExecRequest{Command: "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done"},
			&sandbox.StreamOptions{ReconnectDelay: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := events(t, s)
		want := []string{"stdout:line1\n", "stdout:line2\n", "stdout:line3\n", "stdout:line4\n", "stdout:line5\n", "result:completed/0"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestSandboxExecStreamLostAnswer: the server started the command but
// its answer was lost; ExecStream finds the process by the name it gave
// it and follows it, without starting the command again.
func TestSandboxExecStreamLostAnswer(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.dir(t)
		if err := tg.sb.Mkdir(ctx, dir, nil); err != nil {
			t.Fatal(err)
		}
		lose := &loseExecAnswer{}
		sb := tg.through(t, func(rt http.RoundTripper) http.RoundTripper { lose.next = rt; return lose })
		s, err := sb.ExecStream(ctx, &sandbox.ExecRequest{Command: "echo run >> " + dir + "/runs; echo one; sleep 0.5; echo two"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, p := events(t, s)
		want := []string{"stdout:one\n", "stdout:two\n", "result:completed/0"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if p == nil || !strings.HasPrefix(p.Name, "sandboxkit-") {
			t.Errorf("result %+v", p)
		}
		if runs, err := tg.sb.Read(ctx, dir+"/runs"); err != nil || runs != "run\n" {
			t.Errorf("the command ran %q times (%v), want once", runs, err)
		}
		if n := lose.lost.Load(); n != 1 {
			t.Errorf("%d exec requests, want 1", n)
		}
	})
}
