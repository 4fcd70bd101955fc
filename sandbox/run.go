package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
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

// killWait polls a killed process until it has exited.
var killWait = &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond}

// RunKillTimeout bounds the kill [Client.Run] sends after its context
// ended: Run returns at once, and the kill runs in the background for at
// most this long.
const RunKillTimeout = 10 * time.Second

// RunOptions tunes [Client.Run]. The zero value is usable.
type RunOptions struct {
	// WorkingDir is the directory to run in; the server's if empty.
	WorkingDir string
	// Env holds extra environment variables.
	Env map[string]string
	// Name, if set, names the process.
	Name string
	// Timeout, if positive, bounds the command's run: when it runs out,
	// Run kills the process and returns a [*RunTimeoutError] with the
	// output so far. Negative is invalid.
	Timeout time.Duration
	// CheckExit makes Run return an [*ExitError] (with the result) when
	// the command did not complete with exit code 0.
	CheckExit bool
	// Wait tunes the polling used when the server answers before the
	// command has ended (nil: the defaults). Its OnTransition sees the
	// process's changes of status while Run polls.
	Wait *sandboxkit.WaitOptions
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
// opts.CheckExit is set. Without opts.Name the process gets a unique name
// "sandboxkit-<random>", so that it can be found before its pid is known.
//
// Like exec.CommandContext, Run kills the process when ctx ends first: it
// returns the context's error at once and sends the kill in the
// background, bounded by [RunKillTimeout]. When opts.Timeout runs out,
// Run kills the process, reads its output so far and returns a
// [*RunTimeoutError] (the real server only reports the timeout, with 422,
// and lets the process run).
//
// The request asks the server to answer once the command has ended, but
// for no longer than the client's per-attempt timeout allows
// ([sandboxkit.WithTimeout]; the wait is capped 10 s below it): a command
// that runs longer is waited for by polling (a [Waiter]), as is one
// the server answers for earlier. When the output may have been cut from
// the process object (64 KiB per stream on the real server), Run reads it
// with GET /process/{id}/logs.
//
// Run never starts a command twice on its own. With the name it makes up,
// an exec whose outcome is unknown (the connection dropped after the
// request was sent, or a 5xx) is followed by a lookup of the process by
// that name: if the server started it, Run carries on with that process
// (waits for it and collects its output); only if the server does not
// know the name (404) is the request sent again, at most four requests in
// all. When the lookup fails otherwise, the error is a
// [*sandboxkit.OutcomeError] (Kind "process", Token the name; errors.Is
// sees both the exec's and the lookup's errors through it).
// With opts.Name, which may belong to an earlier process, an ambiguous
// exec is returned as it is.
//
// POST /process, GET /process/{identifier}, GET /process/{identifier}/logs
func (c *Client) Run(ctx context.Context, command string, opts *RunOptions) (*RunResult, error) {
	const op = "Run"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	// A name lets Run find the process before it knows the pid.
	name := o.Name
	if name == "" {
		name = uniqueName()
	}
	req := ExecRequest{
		Command:           command,
		Name:              name,
		WorkingDir:        o.WorkingDir,
		Env:               o.Env,
		Timeout:           o.Timeout,
		WaitForCompletion: true,
	}
	// The server's wait stays within the client's per-attempt timeout.
	window := serverWait(c.cfg.Timeout())
	if window > 0 && (req.Timeout == 0 || req.Timeout > window) {
		req.Timeout = window
	}
	if err := req.validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if err := o.Wait.Validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	start := time.Now()
	var deadline time.Time
	if o.Timeout > 0 {
		deadline = start.Add(o.Timeout)
	}
	timedOut := func(p *Process, cause error) (*RunResult, error) {
		return nil, c.runTimedOut(ctx, command, name, p, o.Timeout, cause)
	}

	var p *Process
	found, err := c.execSettled(ctx, "sandbox."+op, name, o.Name == "", func() error {
		var err error
		p, err = c.Exec(ctx, &req)
		return err
	})
	if found != nil {
		p = found
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		c.killDetached(ctx, name)
		return nil, wrap(ctx, op, err)
	case req.Timeout > 0 && waitTimedOut(err):
		// The server's wait ran out, and the process runs on.
		q, lerr := c.GetProcess(ctx, name)
		switch {
		case lerr != nil:
			return nil, named(err, "sandbox."+op)
		case q.Ended():
			p = q
		case req.Timeout == o.Timeout:
			return timedOut(q, err)
		default:
			p = q // Run's own wait takes over
		}
	default:
		if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
			return nil, err
		}
		return nil, wrap(ctx, op, err)
	}
	if !p.Ended() {
		pid := p.PID
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, deadline)
		}
		var last *Process
		last, err = NewWaiter(c, o.Wait).Wait(wctx, pid)
		cancel()
		// Wait gives up a little before a deadline, so neither context
		// may be done yet when it returns for one.
		switch {
		case err == nil:
			p = last
		case ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded):
			return nil, wrap(ctx, op, err)
		case ctx.Err() == nil && ownDeadline(ctx, deadline):
			return timedOut(cmp.Or(observedProcess(err), p), context.DeadlineExceeded)
		default:
			c.killDetached(ctx, pid)
			return nil, wrap(ctx, op, err)
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
			return nil, wrap(ctx, op, err)
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

// waitTimedOut reports the real server's answer to an exec whose
// waitForCompletion ran out of time: 422 "process timed out after N
// seconds" (other 422s are commands that could not start).
func waitTimedOut(err error) bool {
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	return ok && apiErr.StatusCode == http.StatusUnprocessableEntity && strings.Contains(apiErr.Message, "timed out")
}

// ownDeadline reports whether Run's own deadline (zero if none) comes
// before ctx's.
func ownDeadline(ctx context.Context, deadline time.Time) bool {
	if deadline.IsZero() {
		return false
	}
	d, ok := ctx.Deadline()
	return !ok || deadline.Before(d)
}

// serverWait is how long Run lets the server wait for a command under a
// per-attempt timeout of t: 10 s less (half of it when it is shorter than
// 20 s), in whole seconds; 0 (no limit) when t is 0.
func serverWait(t time.Duration) time.Duration {
	if t <= 0 {
		return 0
	}
	w := t - 10*time.Second
	if t < 20*time.Second {
		w = t / 2
	}
	return max(time.Second, w.Truncate(time.Second))
}

// runTimedOut kills a process whose Run timeout ran out and reads what it
// left.
func (c *Client) runTimedOut(ctx context.Context, command, name string, p *Process, timeout time.Duration, cause error) error {
	e := &RunTimeoutError{Command: command, Name: name, Timeout: timeout, Process: p, Err: cause}
	id := name
	if p != nil {
		e.PID, id = p.PID, p.PID
	}
	kctx, cancel := context.WithTimeout(ctx, RunKillTimeout)
	defer cancel()
	var q *Process
	if err := c.KillProcess(kctx, id); err != nil {
		e.KillErr = named(err, "sandbox.Run")
		q, _ = c.GetProcess(kctx, id)
	} else {
		// The server reports the kill before the process has exited.
		var err error
		q, err = NewWaiter(c, killWait).Wait(kctx, id)
		if err != nil {
			q = observedProcess(err)
		}
	}
	if q == nil {
		return e
	}
	e.Process, e.PID = q, q.PID
	e.Killed = q.Ended()
	e.Stdout, e.Stderr = q.Stdout, q.Stderr
	if len(q.Stdout) >= inlinedOutput || len(q.Stderr) >= inlinedOutput {
		if logs, err := c.Logs(ctx, id); err == nil {
			e.Stdout, e.Stderr = logs.Stdout, logs.Stderr
		}
	}
	return e
}

// execSettled sends an exec (send) and, with unique (name is the
// client's own, made up for this call), settles an ambiguous outcome by
// looking the process up by name: found, an earlier attempt started it
// and it is returned; not found (404), the request is sent again, at most
// runAttempts requests in all. A refusal after an ambiguous attempt may
// be the server saying that the name is taken (409, or 400 from the real
// server), most likely by that attempt's process: it is looked up too.
// It returns (nil, nil) when send succeeded. When the lookup fails
// otherwise, the error is a *sandboxkit.OutcomeError for op.
func (c *Client) execSettled(ctx context.Context, op, name string, unique bool, send func() error) (*Process, error) {
	var ambiguous bool
	for attempt := 1; ; attempt++ {
		err := send()
		if err == nil {
			return nil, nil
		}
		resend := execAmbiguous(err)
		taken := ambiguous && (errors.Is(err, sandboxkit.ErrConflict) || errors.Is(err, sandboxkit.ErrBadRequest))
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
		case !errors.Is(lerr, sandboxkit.ErrNotFound):
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, &sandboxkit.OutcomeError{Op: op, Kind: "process", Token: name,
				Err: fmt.Errorf("%w (after %s; looking the process up by name: %w)", named(err, op), requests(attempt), lerr)}
		case !resend || attempt >= runAttempts:
			return nil, err
		}
		// Not found: the attempt did not start it; sending again is safe.
	}
}

// requests says how many exec requests were sent.
func requests(n int) string {
	if n == 1 {
		return "1 exec request"
	}
	return fmt.Sprintf("%d exec requests", n)
}

// execAmbiguous reports an exec error after which the process may have
// started: a connection lost after the request was sent, or a 5xx (the
// transport has already retried 429, 503 and refused connections). The
// call's own context ending is not ambiguity to settle: Run returns it.
func execAmbiguous(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	return glue.ClassifyFailure(err) == glue.Ambiguous
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

// killDetached kills a process whose Run gave up when ctx ended: in a
// goroutine of its own, bounded by RunKillTimeout, so that Run returns at
// once. Errors (the process may never have started) are ignored.
func (c *Client) killDetached(ctx context.Context, id string) {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RunKillTimeout)
	go func() {
		defer cancel()
		_ = c.KillProcess(kctx, id)
	}()
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
