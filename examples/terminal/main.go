// Command terminal opens an interactive shell inside a sandbox: it
// creates a sandbox, connects a sandbox.Terminal to it, and attaches the
// local terminal.
//
// Run from a terminal, it puts the local terminal in raw mode, passes
// every keystroke through (Ctrl-C included), follows window size changes,
// and ends when the remote shell exits (type exit or Ctrl-D). Run with
// stdin that is not a terminal (a pipe, CI), it plays a short scripted
// session instead and prints what it saw: commands, a resize, and a
// second terminal attaching to the same session to read its output and
// carry on in the same shell.
//
// With no configuration it runs against the mock server embedded in the
// process, in memory (the WebSocket too):
//
//	go run ./examples/terminal
//
// Against a lifecycle server, set its URL and key as for
// examples/quickstart:
//
//	OPEN_SANDBOX_BASE_URL=https://sandboxes.example.com/v1 OPEN_SANDBOX_API_KEY=... go run ./examples/terminal
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

func main() {
	interactive := term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	env := demo.Start("terminal", sandboxkit.Lifecycle)
	timeout := 2 * time.Minute
	if interactive {
		timeout = 8 * time.Hour
	}
	ctx, cancel := env.Context(timeout)
	defer cancel()
	env.Exit(run(ctx, env, interactive))
}

func run(ctx context.Context, env *demo.Env, interactive bool) error {
	sb, cleanup, err := newSandbox(ctx, env)
	if err != nil {
		return err
	}
	defer cleanup()
	if interactive {
		return attach(ctx, env, sb)
	}
	return script(ctx, env, sb)
}

// newSandbox creates a sandbox and returns a client for the API inside it,
// and a function that deletes the sandbox.
func newSandbox(ctx context.Context, env *demo.Env) (*sandbox.Client, func(), error) {
	lc, err := lifecycle.New(env.Options(sandboxkit.Lifecycle)...)
	if err != nil {
		return nil, nil, err
	}
	env.Logf("creating a sandbox")
	sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"sleep", "infinity"},
		Timeout:        30 * time.Minute,
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
		Metadata:       map[string]string{"example": "terminal"},
	}, &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
	if err != nil {
		return nil, nil, fmt.Errorf("create: %w", err)
	}
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycle.CleanupTimeout)
		defer cancel()
		if err := lc.Delete(cctx, sb.ID); err == nil {
			env.Logf("sandbox %s deleted", sb.ID)
		}
	}
	api, err := lc.SandboxClient(ctx, sb.ID, env.Options(sandboxkit.Sandbox)...)
	if err == nil {
		_, err = sandbox.NewHealthWaiter(api, nil).Wait(ctx)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	env.Logf("sandbox %s is running; its API is at %s", sb.ID, api.Config().BaseURL())
	return api, cleanup, nil
}

// attach connects the local terminal to a shell in the sandbox until the
// shell exits.
func attach(ctx context.Context, env *demo.Env, sb *sandbox.Client) error {
	in, out := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	cols, rows, err := term.GetSize(out)
	if err != nil {
		return err
	}
	t, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Cols: cols, Rows: rows})
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer t.Close()
	env.Logf("attached to session %s; type exit or Ctrl-D to leave", t.SessionID())

	old, err := term.MakeRaw(in)
	if err != nil {
		return err
	}
	defer term.Restore(in, old)
	stop := followSize(out, t)
	defer stop()
	// Keystrokes go to the shell. This goroutine ends with the process:
	// a read of a terminal cannot be interrupted.
	go func() { _, _ = io.Copy(t, os.Stdin) }()
	_, err = io.Copy(os.Stdout, t) // until the shell exits
	term.Restore(in, old)
	fmt.Println()
	return err
}

// script plays a short session and prints what the shell printed.
func script(ctx context.Context, env *demo.Env, sb *sandbox.Client) error {
	env.Logf("stdin is not a terminal: playing a scripted session")
	t, err := sb.Terminal(ctx, &sandbox.TerminalOptions{Cols: 80, Rows: 24})
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer t.Close()
	out := follow(t)
	env.Logf("1. opened session %s (80x24)", t.SessionID())
	if err := do(ctx, env, t, out, 1, "echo hello from the sandbox; cd /tmp; pwd"); err != nil {
		return err
	}
	if err := t.Resize(120, 40); err != nil {
		return err
	}
	env.Logf("2. resized to 120x40")
	if err := do(ctx, env, t, out, 2, "echo size: $COLUMNS x $LINES"); err != nil {
		return err
	}

	// A terminal can go away and another attach to the same session: the
	// shell keeps running, and the newcomer reads its recent output first.
	t.Close()
	env.Logf("3. closed the terminal; the shell keeps running")
	t2, err := sb.Terminal(ctx, &sandbox.TerminalOptions{SessionID: t.SessionID(), Cols: 120, Rows: 40})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer t2.Close()
	out2 := follow(t2)
	if err := out2.waitFor(ctx, "__end2__\r\n"); err != nil {
		return err
	}
	env.Logf("4. attached a second terminal to %s; it read %d bytes of the session's output first", t2.SessionID(), len(out2.take()))
	if err := do(ctx, env, t2, out2, 3, "pwd"); err != nil {
		return err
	}
	if _, err := io.WriteString(t2, "exit\r"); err != nil {
		return err
	}
	if err := out2.wait(ctx); err != nil {
		return fmt.Errorf("after exit: %w", err)
	}
	env.Logf("5. the shell exited; the terminal's output ended")
	return nil
}

// do types command, followed by an echo of a marker that tells when its
// output is complete, and prints the output.
func do(ctx context.Context, env *demo.Env, t *sandbox.Terminal, out *collected, n int, command string) error {
	// "__end""N__" prints __endN__, which the echo of the typed line does
	// not contain.
	marker := fmt.Sprintf("__end%d__", n)
	if _, err := fmt.Fprintf(t, "%s; echo __end\"\"%d__\r", command, n); err != nil {
		return err
	}
	if err := out.waitFor(ctx, marker+"\r\n"); err != nil {
		return err
	}
	// Print the lines between the echo of the typed line and the marker.
	env.Logf("   $ %s", command)
	echoed := false
	for line := range strings.Lines(out.take()) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == marker:
			return nil
		case echoed:
			env.Logf("   | %s", line)
		case strings.Contains(line, `__end""`):
			echoed = true
		}
	}
	return nil
}

// collected is the output of a terminal read so far, filled by a
// goroutine that ends when Read fails (at the latest when the terminal is
// closed).
type collected struct {
	mu      sync.Mutex
	buf     strings.Builder
	changed chan struct{}
	done    chan struct{}
	err     error
}

func follow(r io.Reader) *collected {
	c := &collected{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		p := make([]byte, 4096)
		for {
			n, err := r.Read(p)
			c.mu.Lock()
			c.buf.Write(p[:n])
			close(c.changed)
			c.changed = make(chan struct{})
			if err != nil && !errors.Is(err, io.EOF) {
				c.err = err
			}
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

// waitFor waits until the output holds s.
func (c *collected) waitFor(ctx context.Context, s string) error {
	for {
		c.mu.Lock()
		ok, changed := strings.Contains(c.buf.String(), s), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-c.done:
			c.mu.Lock()
			defer c.mu.Unlock()
			if strings.Contains(c.buf.String(), s) {
				return nil
			}
			return fmt.Errorf("output ended (%v) before %q", c.err, s)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take returns the output so far and forgets it.
func (c *collected) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.buf.String()
	c.buf.Reset()
	return s
}

// wait waits until the output has ended, and returns its error (nil at
// the end of the session).
func (c *collected) wait(ctx context.Context) error {
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
