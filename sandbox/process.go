package sandbox

import (
	"context"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// ProcessStatus is the state of a process. Values other than the
// constants may appear with later servers.
type ProcessStatus string

// Process states.
const (
	StatusRunning   ProcessStatus = "running"
	StatusCompleted ProcessStatus = "completed"
	StatusFailed    ProcessStatus = "failed"
	StatusStopped   ProcessStatus = "stopped"
	StatusKilled    ProcessStatus = "killed"
)

// Terminal reports whether s is one of the statuses a process ends with:
// completed, failed, stopped or killed. A process is "stopped" (or
// "killed") as soon as it was sent the signal, and may go on running for
// a while, or for good: [Process.Ended] tells.
func (s ProcessStatus) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusStopped, StatusKilled:
		return true
	}
	return false
}

// Process is a process the server started.
type Process struct {
	// PID is the operating-system process id, as a string. Together with
	// Name it identifies the process in every process call.
	PID string
	// Name is the name given at start, or one the server made up.
	Name string
	// Command is the command line.
	Command string
	// Status is the process state.
	Status ProcessStatus
	// StartedAt is when it started (second precision).
	StartedAt time.Time
	// CompletedAt is when it ended; zero while it runs.
	CompletedAt time.Time
	// ExitCode is the exit status once ended; -1 for a process that a
	// signal ended (killed, or stopped by SIGTERM without handling it).
	ExitCode int
	// WorkingDir is the directory it runs in ("" for the server's).
	WorkingDir string
	// Stdout, Stderr and Logs (both interleaved) are the output so far.
	// The real server includes only the last 64 KiB of each; see
	// [Client.Logs] and [Client.StreamLogs] for more.
	Stdout, Stderr, Logs string
	// RestartOnFailure, MaxRestarts and RestartCount describe restarts.
	RestartOnFailure bool
	MaxRestarts      int
	RestartCount     int
	// KeepAlive reports whether the process keeps the sandbox awake.
	KeepAlive bool
}

// Ended reports whether the process has ended: its status is terminal
// and, for a stopped or killed process, it has really exited. The real
// server marks a process "stopped" when it sends SIGTERM (and "killed"
// when it sends SIGKILL) before the process exits, with an empty
// completedAt and exit code 0 until it has; a process that ignores
// SIGTERM keeps running, stopped. Once it has exited, completedAt and the
// exit code are set (-1 for a signal).
//
// With RestartOnFailure, a process shows "failed" for about a second
// before each restart; Ended cannot tell that pause from the end.
func (p *Process) Ended() bool {
	if p == nil || !p.Status.Terminal() {
		return false
	}
	switch p.Status {
	case StatusStopped, StatusKilled:
		return !p.CompletedAt.IsZero() || p.ExitCode != 0
	}
	return true
}

// ExecRequest describes a command to start.
type ExecRequest struct {
	// Command is the shell command line; required.
	Command string
	// Name, if set, lets later calls address the process by name. The
	// server refuses a name already used by a running process.
	Name string
	// WorkingDir is the directory to run in; the server's if empty.
	WorkingDir string
	// Env holds extra environment variables.
	Env map[string]string
	// WaitForCompletion makes the server answer only once the process has
	// ended.
	WaitForCompletion bool
	// Timeout is sent in whole seconds (rounded up); what it does depends
	// on the other fields, as the real server reads it:
	//   - with WaitForCompletion or WaitForPorts it bounds the wait: when it
	//     runs out the server answers 422 ("process timed out after N
	//     seconds") and the process keeps running;
	//   - with KeepAlive the server kills the process after it (600 s when
	//     zero);
	//   - otherwise the server ignores it.
	// Zero means none; negative is invalid. [Client.Run] kills the
	// process itself when its Timeout runs out.
	Timeout time.Duration
	// WaitForPorts makes the server answer once the process listens on
	// these ports (1..65535).
	WaitForPorts []int
	// RestartOnFailure restarts the command when it fails, up to
	// MaxRestarts times (negative: without limit).
	RestartOnFailure bool
	MaxRestarts      int
	// KeepAlive keeps the sandbox from scaling to zero while the process
	// runs.
	KeepAlive bool
}

// validate checks req before anything is sent.
func (r *ExecRequest) validate() error {
	// A command may span lines and hold tabs: only emptiness and NUL
	// (which no shell can receive) are errors.
	switch {
	case r == nil:
		return &sandboxkit.ValidationError{Field: "request", Reason: "must not be nil"}
	case strings.TrimSpace(r.Command) == "":
		return &sandboxkit.ValidationError{Field: "command", Reason: "must not be empty"}
	case strings.IndexByte(r.Command, 0) >= 0:
		return &sandboxkit.ValidationError{Field: "command", Value: r.Command, Reason: "contains a NUL byte"}
	}
	if r.Name != "" {
		if err := glue.ValidateID("process name", r.Name); err != nil {
			return err
		}
	}
	if r.WorkingDir != "" {
		if err := checkPath("working directory", r.WorkingDir); err != nil {
			return err
		}
	}
	if r.Timeout < 0 {
		return &sandboxkit.ValidationError{Field: "timeout", Value: r.Timeout.String(), Reason: "must not be negative"}
	}
	for k := range r.Env {
		if err := glue.ValidateName("environment variable name", k); err != nil {
			return err
		}
	}
	for _, p := range r.WaitForPorts {
		if err := glue.ValidatePort(p); err != nil {
			return err
		}
	}
	return nil
}

// ProcessLogs is the output of a process so far.
type ProcessLogs struct {
	// Stdout and Stderr are the two streams; Logs is both together.
	Stdout, Stderr, Logs string
}

// Exec starts a command and returns the process: as it is once started,
// or once ended with [ExecRequest.WaitForCompletion]. Such a wait is one
// request, bounded like any by the client's per-attempt timeout
// ([sandboxkit.WithTimeout], 2 minutes by default): for commands that may run
// longer, use [Client.Run], which polls beyond it, or a [Waiter].
//
// POST /process
func (c *Client) Exec(ctx context.Context, req *ExecRequest) (*Process, error) {
	if err := c.check(ctx, "Exec"); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, wrap(ctx, "Exec", err)
	}
	var body bodyOwner
	res, err := c.api.ExecProcess(ctx, execRequestTo(req), body.option(nil))
	defer body.close()
	if err != nil {
		return nil, wrap(ctx, "Exec", err)
	}
	r, err := execResult(res)
	if err != nil {
		return nil, wrap(ctx, "Exec", err)
	}
	return processFrom(r), nil
}

// GetProcess returns a process by pid or name.
//
// GET /process/{identifier}
func (c *Client) GetProcess(ctx context.Context, id string) (*Process, error) {
	if err := c.check(ctx, "GetProcess"); err != nil {
		return nil, err
	}
	if err := checkProcessID(id); err != nil {
		return nil, wrap(ctx, "GetProcess", err)
	}
	r, err := c.api.GetProcess(ctx, sandboxapi.GetProcessParams{Identifier: id})
	if err != nil {
		return nil, wrap(ctx, "GetProcess", err)
	}
	return processFrom(r), nil
}

// ListProcesses returns every process the server knows, running or ended.
//
// GET /process
func (c *Client) ListProcesses(ctx context.Context) ([]*Process, error) {
	if err := c.check(ctx, "ListProcesses"); err != nil {
		return nil, err
	}
	res, err := c.api.ListProcesses(ctx)
	if err != nil {
		return nil, wrap(ctx, "ListProcesses", err)
	}
	out := make([]*Process, len(res))
	for i := range res {
		out[i] = processFrom(&res[i])
	}
	return out, nil
}

// StopProcess asks a process to terminate: the server sends SIGTERM to its
// process group and reports it "stopped" at once, though it runs until it
// exits (a process may catch or ignore the signal). A [Waiter] waits
// for the exit; [Client.KillProcess] forces it.
//
// DELETE /process/{identifier}
func (c *Client) StopProcess(ctx context.Context, id string) error {
	if err := c.check(ctx, "StopProcess"); err != nil {
		return err
	}
	if err := checkProcessID(id); err != nil {
		return wrap(ctx, "StopProcess", err)
	}
	_, err := c.api.StopProcess(ctx, sandboxapi.StopProcessParams{Identifier: id})
	if err != nil {
		return wrap(ctx, "StopProcess", err)
	}
	return nil
}

// KillProcess ends a process at once (SIGKILL).
//
// DELETE /process/{identifier}/kill
func (c *Client) KillProcess(ctx context.Context, id string) error {
	if err := c.check(ctx, "KillProcess"); err != nil {
		return err
	}
	if err := checkProcessID(id); err != nil {
		return wrap(ctx, "KillProcess", err)
	}
	_, err := c.api.KillProcess(ctx, sandboxapi.KillProcessParams{Identifier: id})
	if err != nil {
		return wrap(ctx, "KillProcess", err)
	}
	return nil
}

// Logs returns the output of a process so far. The real server answers
// with at most the last 4 MiB; [Client.StreamLogs] replays everything.
//
// GET /process/{identifier}/logs
func (c *Client) Logs(ctx context.Context, id string) (*ProcessLogs, error) {
	if err := c.check(ctx, "Logs"); err != nil {
		return nil, err
	}
	if err := checkProcessID(id); err != nil {
		return nil, wrap(ctx, "Logs", err)
	}
	r, err := c.api.GetProcessLogs(ctx, sandboxapi.GetProcessLogsParams{Identifier: id})
	if err != nil {
		return nil, wrap(ctx, "Logs", err)
	}
	return &ProcessLogs{Stdout: r.Stdout, Stderr: r.Stderr, Logs: r.Logs}, nil
}
