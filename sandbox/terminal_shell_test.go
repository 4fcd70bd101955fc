package sandbox_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// shellSession is a session of /bin/sh (dash) typed line by line, each
// line once the shell prompts for it, and the transcript both the mock
// and the real sandbox-api give: echo, prompts ("# ", and "> " inside an
// unfinished command), state kept between lines, error messages numbered
// by the lines read (a line with a syntax error is not counted), stderr
// on the terminal, Ctrl-C (a line ending in \x03 is typed without
// Enter). After it, exit ends the session.
var shellSession = []struct{ line, out string }{
	{"foo", "foo\r\n/bin/sh: 1: foo: not found\r\n# "},
	{`X=1; cd /tmp; f() { echo "f:$1"; }`, "X=1; cd /tmp; f() { echo \"f:$1\"; }\r\n# "},
	{"f $X; pwd; echo err >&2", "f $X; pwd; echo err >&2\r\nf:1\r\n/tmp\r\nerr\r\n# "},
	{"for i in 1 2; do", "for i in 1 2; do\r\n> "},
	{`echo "$i`, "echo \"$i\r\n> "},
	{`"; done`, "\"; done\r\n1\r\n\r\n2\r\n\r\n# "},
	{"shift 5", "shift 5\r\n/bin/sh: 7: shift: can't shift that many\r\n# "},
	{"echo $? $0", "echo $? $0\r\n2 /bin/sh\r\n# "},
	{"echo a; fi", "echo a; fi\r\n/bin/sh: 9: Syntax error: \"fi\" unexpected\r\n# "},
	{"sleep 1; echo slept; bar", "sleep 1; echo slept; bar\r\nslept\r\n/bin/sh: 9: bar: not found\r\n# "},
	{"sleep 100; echo never", "sleep 100; echo never\r\n"},
	{"\x03", "^C\r\n# "},
	{"echo $?", "echo $?\r\n130\r\n# "},
}

// playShellSession plays shellSession on sb and returns the transcript.
func playShellSession(t *testing.T, sb *sandbox.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	term, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Shell: "/bin/sh", WorkingDir: "/"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	out := readAll(term)
	out.waitN(t, ctx, "# ", 1)
	prompts := 0
	for _, step := range shellSession {
		if strings.HasSuffix(step.line, "\x03") {
			if _, err := io.WriteString(term, step.line); err != nil {
				t.Fatal(err)
			}
		} else {
			typeLine(t, term, step.line)
		}
		if strings.HasSuffix(step.out, "# ") || strings.HasSuffix(step.out, "> ") {
			prompts++
			waitPrompts(t, ctx, out, prompts)
		} else {
			out.waitN(t, ctx, step.out, 1)
		}
	}
	transcript := out.String()
	// The real server may lose what comes just before the shell's end
	// (the echo of exit): only the end of the output is checked.
	typeLine(t, term, "exit 3")
	if got, err := out.wait(ctx); err != nil {
		t.Fatalf("Read ended with %v after %q, want io.EOF at the shell's exit", err, got)
	}
	return transcript
}

// waitPrompts waits until the shell has prompted for n lines after the
// first one.
func waitPrompts(t *testing.T, ctx context.Context, o *output, n int) {
	t.Helper()
	for {
		o.mu.Lock()
		got, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		if strings.Count(got, "\r\n# ")+strings.Count(got, "\r\n> ") >= n {
			return
		}
		select {
		case <-changed:
		case <-o.done:
			t.Fatalf("output ended (%v) before prompt %d:\n%q", o.err, n, got)
		case <-ctx.Done():
			t.Fatalf("%v before prompt %d:\n%q", ctx.Err(), n, got)
		}
	}
}

// TestTerminalShellSession plays the same dash session on the mock and,
// when $SANDBOX_API_REAL_URL is set, on the real sandbox-api.
func TestTerminalShellSession(t *testing.T) {
	var want strings.Builder
	want.WriteString("# ")
	for _, step := range shellSession {
		want.WriteString(step.out)
	}
	t.Run("mock", func(t *testing.T) {
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
			if diff := cmp.Diff(want.String(), playShellSession(t, sb)); diff != "" {
				t.Errorf("transcript (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("real", func(t *testing.T) {
		sb, _ := realTerminalClient(t)
		if diff := cmp.Diff(want.String(), playShellSession(t, sb)); diff != "" {
			t.Errorf("transcript (-want +got):\n%s", diff)
		}
	})
}
