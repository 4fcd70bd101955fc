package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Bounds of Run's recovery from an ambiguous exec.
const (
	runAttempts = 4 // exec requests sent at most
	runMinDelay = 250 * time.Millisecond
	runMaxDelay = 5 * time.Second
)

// inlinedOutput is how much of each output stream the real server puts in
// a process object; output this long may have been cut.
const inlinedOutput = 64 << 10

// RunOptions tunes [Client.Run]. The zero value is usable.
type RunOptions struct {
	// WorkingDir is the directory to run in; the server's if empty.
	WorkingDir string
	// Env holds extra environment variables.
	Env map[string]string
	// Name, if set, names the process.
	Name string
	// Timeout, if positive, has the server kill the command after it; see
	// [ExecRequest.Timeout]. Negative is invalid.
	Timeout time.Duration
	// CheckExit makes Run return an [*ExitError] (with the result) when
	// the command did not complete with exit code 0.
	CheckExit bool
	// Wait tunes the polling used when the server answers before the
	// command has ended.
	Wait *WaitOptions
}

// RunResult is what a command left behind.
type RunResult struct {
	// Process is the ended process.
	Process *Process
	// Stdout and Stderr are the output. The real server keeps the last
	// 4 MiB of each for this; use [Client.ExecStream] for all of it.
	Stdout, Stderr string
	// ExitCode is the exit status (-1 when a signal ended the process).
	ExitCode int
	// StartedAt and CompletedAt are the server's times (second
	// precision).
	StartedAt, CompletedAt time.Time
	// Duration is the time the call took, measured by the client.
	Duration time.Duration
}

// Run executes a shell command, waits for it to end and returns its
// output and exit code. A non-zero exit code is not an error unless
// opts.CheckExit is set. Like exec.CommandContext, Run kills the process
// when ctx ends first, and also when opts.Timeout runs out (the server
// only reports that with 422 and lets the process run). Without
// opts.Name the process gets a unique name "sandboxkit-<random>", so that
// it can be found before its pid is known.
//
// The request asks the server to answer once the command has ended; if
// an answer comes earlier, Run polls the process ([Client.Wait]). When the
// output may have been cut from the process object (64 KiB per stream on
// the real server), Run reads it with GET /process/{id}/logs.
//
// Run never starts a command twice on its own. With the name it makes up,
// an exec whose outcome is unknown (the connection dropped after the
// request was sent, or a 5xx) is followed by a lookup of the process by
// that name: if the server started it, Run carries on with that process
// (waits for it and collects its output); only if the server does not
// know the name (404) is the request sent again, at most four requests in
// all. When the lookup fails otherwise, the error is an [*OutcomeError].
// With opts.Name, which may belong to an earlier process, an ambiguous
// exec is returned as it is.
//
// POST /process, GET /process/{identifier}, GET /process/{identifier}/logs
func (c *Client) Run(ctx context.Context, command string, opts *RunOptions) (*RunResult, error) {
	const op = "Run"
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	// A name lets Run find the process before it knows the pid.
	name := o.Name
	if name == "" {
		name = uniqueName()
	}
	start := time.Now()
	req := ExecRequest{
		Command:           command,
		Name:              name,
		WorkingDir:        o.WorkingDir,
		Env:               o.Env,
		Timeout:           o.Timeout,
		WaitForCompletion: true,
	}
	var p *Process
	found, err := c.execSettled(ctx, "sandbox."+op, name, o.Name == "", func() error {
		var err error
		p, err = c.Exec(ctx, req)
		return err
	})
	if found != nil {
		p = found
	}
	if err != nil {
		if ctx.Err() != nil || (o.Timeout > 0 && errors.Is(err, client.ErrUnprocessable)) {
			c.killQuietly(ctx, name)
		}
		if _, ok := errors.AsType[*OutcomeError](err); ok {
			return nil, err
		}
		return nil, rename(err, "sandbox.Exec", "sandbox."+op)
	}
	if !p.Ended() {
		pid := p.PID
		if p, err = c.Wait(ctx, pid, o.Wait); err != nil {
			// Wait gives up a little before the deadline, so ctx may not
			// be done yet.
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				c.killQuietly(ctx, pid)
			}
			return nil, rename(err, "sandbox.Wait", "sandbox."+op)
		}
	}
	res := &RunResult{
		Process:     p,
		Stdout:      p.Stdout,
		Stderr:      p.Stderr,
		ExitCode:    p.ExitCode,
		StartedAt:   p.StartedAt,
		CompletedAt: p.CompletedAt,
	}
	if len(p.Stdout) >= inlinedOutput || len(p.Stderr) >= inlinedOutput {
		logs, err := c.Logs(ctx, p.PID)
		if err != nil {
			return nil, rename(err, "sandbox.Logs", "sandbox."+op)
		}
		res.Stdout, res.Stderr = logs.Stdout, logs.Stderr
	}
	res.Duration = time.Since(start)
	if o.CheckExit && (p.Status != StatusCompleted || p.ExitCode != 0) {
		return res, &ExitError{
			Command:  p.Command,
			PID:      p.PID,
			Status:   p.Status,
			ExitCode: p.ExitCode,
			Stderr:   lastBytes(res.Stderr, 1<<10),
		}
	}
	return res, nil
}

// execSettled sends an exec (send) and, with unique (name is the
// client's own, made up for this call), settles an ambiguous outcome by
// looking the process up by name: found, an earlier attempt started it
// and it is returned; not found (404), the request is sent again, at most
// runAttempts requests in all. A refusal after an ambiguous attempt may
// be the server saying that the name is taken (409, or 400 from the real
// server), most likely by that attempt's process: it is looked up too.
// It returns (nil, nil) when send succeeded. When the lookup fails
// otherwise, the error is an *OutcomeError for op.
func (c *Client) execSettled(ctx context.Context, op, name string, unique bool, send func() error) (*Process, error) {
	var ambiguous bool
	for attempt := 1; ; attempt++ {
		err := send()
		if err == nil {
			return nil, nil
		}
		resend := execAmbiguous(err)
		taken := ambiguous && (errors.Is(err, client.ErrConflict) || errors.Is(err, client.ErrBadRequest))
		if !unique || ctx.Err() != nil || !resend && !taken {
			return nil, err
		}
		ambiguous = true
		// Give the server time to start or drop the attempt.
		if sleepCtx(ctx, poll.Delay(runMinDelay, runMaxDelay, attempt)) != nil {
			return nil, err
		}
		found, lerr := c.GetProcess(ctx, name)
		switch {
		case lerr == nil:
			return found, nil
		case !errors.Is(lerr, client.ErrNotFound):
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, &OutcomeError{Op: op, Name: name, Attempts: attempt, LookupErr: lerr, Err: named(err, op)}
		case !resend || attempt >= runAttempts:
			return nil, err
		}
		// Not found: the attempt did not start it; sending again is safe.
	}
}

// execAmbiguous reports an exec error after which the process may have
// started: a connection lost after the request was sent, or a 5xx (the
// transport has already retried 429, 503 and refused connections). The
// call's own context ending is not ambiguity to settle: Run returns it.
func execAmbiguous(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	return client.ClassifyFailure(err) == client.Ambiguous
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// OutcomeError is returned by [Client.Run] when an exec's outcome was
// ambiguous and looking the process up by name failed, so Run cannot
// tell whether the command started. [Client.GetProcess] with Name tells.
// errors.Is and errors.As see the exec's error through Unwrap.
type OutcomeError struct {
	// Op is the call, "sandbox.Run".
	Op string
	// Name is the name the process was started under.
	Name string
	// Attempts is how many exec requests were sent.
	Attempts int
	// LookupErr is the lookup's error.
	LookupErr error
	// Err is the last exec's error.
	Err error
}

// Error returns e.g. `sandboxkit: sandbox.Run: outcome unknown after 1
// attempt (looking up process "sandboxkit-..." failed: ...): ...`.
func (e *OutcomeError) Error() string {
	attempts := "1 attempt"
	if e.Attempts != 1 {
		attempts = fmt.Sprintf("%d attempts", e.Attempts)
	}
	return fmt.Sprintf("sandboxkit: %s: outcome unknown after %s (looking up process %q failed: %v): %v", e.Op, attempts, e.Name, e.LookupErr, e.Err)
}

// Unwrap returns the last exec's error.
func (e *OutcomeError) Unwrap() error { return e.Err }

// killQuietly kills a process Run gave up on, with a few seconds of its
// own since ctx may be over; errors (the process may never have started)
// are ignored.
func (c *Client) killQuietly(ctx context.Context, id string) {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = c.KillProcess(kctx, id)
}

// lastBytes returns the end of s, at most n bytes, cut at a rune start.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && s[i]&0xC0 == 0x80 {
		i++
	}
	return s[i:]
}
