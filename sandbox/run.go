package sandbox

import (
	"context"
	"errors"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
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
	// ExitCode is the exit status (-1 for a stopped process).
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
	p, err := c.Exec(ctx, ExecRequest{
		Command:           command,
		Name:              name,
		WorkingDir:        o.WorkingDir,
		Env:               o.Env,
		Timeout:           o.Timeout,
		WaitForCompletion: true,
	})
	if err != nil {
		if ctx.Err() != nil || (o.Timeout > 0 && errors.Is(err, client.ErrUnprocessable)) {
			c.killQuietly(ctx, name)
		}
		return nil, rename(err, "sandbox.Exec", "sandbox."+op)
	}
	if !p.Status.Terminal() {
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
