package guest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CommandFunc simulates a command. It runs in a goroutine of its own and
// returns the command's exit code (a non-nil error is written to stderr
// and turns an exit code of 0 into 1). ctx is canceled when a signal kills
// the command (a stop, unless the command called [Cmd.Terminated]; a
// kill; the guest closing); the function must then return promptly
// (Close waits for it), and what it returns no longer counts: the command
// died of the signal. Use c.Sleep to let time pass on the guest's clock.
type CommandFunc func(ctx context.Context, c *Cmd) (exitCode int, err error)

// Cmd is what a [CommandFunc] gets: its arguments, environment and
// standard streams.
type Cmd struct {
	// Args holds the command line split into words; Args[0] is the
	// command name.
	Args []string
	// Env is the exported environment of the shell that runs the command
	// (a copy).
	Env map[string]string
	// Dir is the working directory (absolute).
	Dir string
	// Stdin is the command's standard input: what a pipe, a redirection
	// or a here-document feeds it; empty otherwise (processes of the real
	// server read /dev/null).
	Stdin io.Reader
	// Stdout and Stderr write where the shell points them: the process's
	// output (which streams read as the real server tails it), a file, or
	// the next stage of a pipeline. Writes after the command has ended
	// fail with io.ErrClosedPipe.
	Stdout, Stderr io.Writer

	g      *Guest
	p      *process
	cancel context.CancelFunc
	term   chan struct{}
	// trapped: the command handles SIGTERM itself (it called Terminated).
	trapped, termed bool
	// signal is the status of the signal that killed the command (143,
	// 137), 0 while none did.
	signal int
	ended  bool
}

// Now returns the time on the guest's clock.
func (c *Cmd) Now() time.Time { return c.g.clk.Now() }

// Sleep waits for d to pass on the guest's clock. It returns ctx.Err() if
// ctx is done first.
func (c *Cmd) Sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	c.g.mu.Lock()
	tm := c.g.afterLocked(d, func() { close(done) })
	c.g.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.g.mu.Lock()
		c.g.stopTimerLocked(tm)
		c.g.mu.Unlock()
		return ctx.Err()
	}
}

// Terminated returns a channel closed when the process is stopped
// (DELETE /process/{id} sends SIGTERM to its process group). Calling it
// says the command handles SIGTERM itself, the way a server shuts down
// gracefully: a stop then no longer cancels ctx, and the command decides
// when to return and with which exit code (a command that never returns
// keeps running, as a process that ignores SIGTERM does; a kill still
// ends it).
func (c *Cmd) Terminated() <-chan struct{} {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.trapped = true
	if c.termed {
		select {
		case <-c.term:
		default:
			close(c.term)
		}
	}
	return c.term
}

// OpenPort makes the process appear to listen on port (see GET
// /network/process/{pid}/ports and waitForPorts).
func (c *Cmd) OpenPort(port int) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	if !c.ended && !slices.Contains(c.p.ports, port) {
		c.p.ports = append(c.p.ports, port)
		c.p.broadcastLocked()
	}
}

// signalLocked delivers SIGTERM (term) or SIGKILL to the command.
func (c *Cmd) signalLocked(term bool) {
	if c.ended {
		return
	}
	if term {
		c.termed = true
		if c.trapped {
			select {
			case <-c.term:
			default:
				close(c.term)
			}
			return
		}
		c.signal = statusTerm
	} else {
		c.signal = statusKill
	}
	c.cancel()
}

// writeLocked writes b to the descriptor d of the shell that runs c.
func (c *Cmd) writeLocked(d *fileDesc, b []byte) {
	if d == nil || len(b) == 0 {
		return
	}
	switch d.kind {
	case fdOut:
		c.p.writeLocked(d.stream, b)
	case fdFile:
		c.g.appendNodeLocked(d.n, d.path, b)
	case fdBuf:
		d.buf.Write(b)
	}
}

// cmdWriter is one output stream of a registered command.
type cmdWriter struct {
	c  *Cmd
	d  *fileDesc
	sh *shell
}

func (w cmdWriter) Write(b []byte) (int, error) {
	g := w.c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.c.ended || w.c.signal != 0 {
		return 0, io.ErrClosedPipe
	}
	w.c.writeLocked(w.d, b)
	return len(b), nil
}

// RegisterCommand makes h run whenever a command line runs a command
// called name. It takes precedence over the simulated utilities and shell
// builtins of that name (not over shell functions).
func (g *Guest) RegisterCommand(name string, h CommandFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.commands[name] = h
}

// parseSleep reads an operand of sleep(1): seconds, or a number with an
// s, m, h or d suffix.
func parseSleep(a string) (time.Duration, error) {
	unit := time.Second
	switch {
	case strings.HasSuffix(a, "s"):
		a = a[:len(a)-1]
	case strings.HasSuffix(a, "m"):
		a, unit = a[:len(a)-1], time.Minute
	case strings.HasSuffix(a, "h"):
		a, unit = a[:len(a)-1], time.Hour
	case strings.HasSuffix(a, "d"):
		a, unit = a[:len(a)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(a, 64)
	if err != nil || f < 0 || f != f || strings.ContainsAny(a, "xXpP") {
		return 0, errors.New("invalid time interval")
	}
	const maxDur = float64(1<<63 - 1)
	return time.Duration(min(f*float64(unit), maxDur/2)), nil
}
