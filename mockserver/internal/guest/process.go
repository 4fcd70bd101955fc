package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// Process statuses.
const (
	statusRunning   = "running"
	statusCompleted = "completed"
	statusFailed    = "failed"
	statusStopped   = "stopped"
	statusKilled    = "killed"
)

// keepAliveTimeout is the timeout of a keepAlive process that names none.
const keepAliveTimeout = 600

// restartDelay is the pause before a failed process is started again.
const restartDelay = time.Second

// outLine is one complete line a process wrote.
type outLine struct {
	stream string // "stdout" or "stderr"
	text   string // without the newline
}

// process is one process started through POST /process. The pid stays the
// same across restarts.
type process struct {
	pid, name, command, dir string
	env                     map[string]string
	status                  string
	exitCode                int
	startedAt, completedAt  time.Time

	stdout, stderr, logs strings.Builder
	partial              map[string]string // incomplete last line per stream
	lines                []outLine
	changed              chan struct{} // closed and replaced at every change
	done                 chan struct{} // closed when the process has ended for good
	final                bool

	ports                       []int
	restartOnFailure, keepAlive bool
	maxRestarts, restartCount   int
	timeoutTimer, restartTimer  *trackedTimer
	run                         int           // changes at every (re)start and end; stale callbacks compare it
	sleep                       *trackedTimer // a pending sleep of the current run
	cancel                      context.CancelFunc
}

// ended reports whether the process has ended for good.
func (p *process) ended() bool { return p.final }

// active reports whether the process runs or will be restarted.
func (p *process) active() bool { return !p.final }

func (p *process) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// writeLocked records output of the current run.
func (p *process) writeLocked(stream string, b []byte) {
	if p.final || len(b) == 0 {
		return
	}
	if stream == "stderr" {
		p.stderr.Write(b)
	} else {
		p.stdout.Write(b)
	}
	p.logs.Write(b)
	s := p.partial[stream] + string(b)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, outLine{stream, s[:i]})
		s = s[i+1:]
	}
	p.partial[stream] = s
	p.broadcastLocked()
}

// noteLocked adds a server message such as "[Process is being gracefully
// terminated]" on a line of its own to stdout, as the real server does.
func (p *process) noteLocked(msg string) {
	p.flushPartialLocked()
	p.stdout.WriteString("\n" + msg + "\n")
	p.logs.WriteString("\n" + msg + "\n")
	p.lines = append(p.lines, outLine{"stdout", msg})
	p.broadcastLocked()
}

func (p *process) flushPartialLocked() {
	for _, st := range []string{"stdout", "stderr"} {
		if s := p.partial[st]; s != "" {
			p.lines = append(p.lines, outLine{st, s})
			p.partial[st] = ""
		}
	}
}

// apiError is an error answer decided while holding g.mu.
type apiError struct {
	code int
	msg  string
}

// startProcessLocked creates and starts the process req describes.
func (g *Guest) startProcessLocked(req *sandboxsrv.ProcessRequest) (*process, *apiError) {
	if g.closed {
		return nil, &apiError{http.StatusServiceUnavailable, "sandbox API is shut down"}
	}
	if strings.TrimSpace(req.Command) == "" {
		return nil, &apiError{http.StatusBadRequest, "invalid request body: command is required"}
	}
	name := req.Name.Or("")
	if name != "" {
		if q := g.lookupProcessLocked(name); q != nil && q.active() {
			return nil, &apiError{http.StatusBadRequest, fmt.Sprintf("process with name '%s' already exists and is running", name)}
		}
	}
	dir := g.cfg.WorkDir
	if d := req.WorkingDir.Or(""); d != "" {
		dir = g.abs(d)
	}
	if n, err := g.lookupLocked(dir); err != nil || !n.dir {
		return nil, &apiError{http.StatusUnprocessableEntity, fmt.Sprintf("failed to start process: chdir %s: no such file or directory", dir)}
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": g.cfg.WorkDir}
	for k, v := range g.procEnv {
		env[k] = v
	}
	for k, v := range req.Env.Or(nil) {
		env[k] = v
	}
	p := &process{
		pid:              strconv.Itoa(g.nextPID),
		name:             name,
		command:          req.Command,
		dir:              dir,
		env:              env,
		partial:          map[string]string{},
		changed:          make(chan struct{}),
		done:             make(chan struct{}),
		ports:            slices.Clone(req.WaitForPorts),
		restartOnFailure: req.RestartOnFailure.Or(false),
		maxRestarts:      req.MaxRestarts.Or(0),
		keepAlive:        req.KeepAlive.Or(false),
	}
	g.nextPID++
	g.procs[p.pid] = p
	g.order = append(g.order, p)
	timeout := req.Timeout.Or(0)
	if p.keepAlive && (!req.Timeout.Set || timeout < 0) {
		timeout = keepAliveTimeout
	}
	if p.keepAlive && timeout > 0 {
		p.timeoutTimer = g.afterLocked(seconds(timeout), func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if p.active() {
				g.endRunLocked(p, statusKilled, -1)
			}
		})
	}
	g.beginRunLocked(p)
	return p, nil
}

// seconds converts a count of seconds to a duration, saturating.
func seconds(n int) time.Duration {
	const maxSec = int(time.Duration(1<<63-1) / time.Second)
	return time.Duration(min(max(n, 0), maxSec)) * time.Second
}

// beginRunLocked (re)starts the command of p.
func (g *Guest) beginRunLocked(p *process) {
	p.run++
	p.status = statusRunning
	p.exitCode = 0
	p.startedAt = g.clk.Now()
	p.completedAt = time.Time{}
	p.broadcastLocked()
	run := p.run
	sh := &shell{g: g, p: p, run: run, dir: p.dir, env: copyEnv(p.env)}
	sh.runScript(p.command, func(r result) { g.finishRunLocked(p, run, r.code) })
}

// finishRunLocked records the end of run of p with exit code code, and
// restarts the process when it failed and may be restarted.
func (g *Guest) finishRunLocked(p *process, run, code int) {
	if p.run != run || p.final {
		return
	}
	if code != 0 && p.restartOnFailure && (p.maxRestarts < 0 || p.restartCount < p.maxRestarts) {
		limit := "unlimited"
		if p.maxRestarts >= 0 {
			limit = strconv.Itoa(p.maxRestarts)
		}
		p.noteLocked(fmt.Sprintf("[Process failed with exit code %d. Attempting restart %d/%s...]", code, p.restartCount+1, limit))
		p.restartCount++
		p.run++
		p.status = statusFailed
		p.exitCode = code
		p.completedAt = g.clk.Now()
		p.restartTimer = g.afterLocked(restartDelay, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if p.active() {
				p.restartTimer = nil
				g.beginRunLocked(p)
			}
		})
		return
	}
	status := statusCompleted
	if code != 0 {
		status = statusFailed
	}
	g.endRunLocked(p, status, code)
}

// endRunLocked ends p for good.
func (g *Guest) endRunLocked(p *process, status string, code int) {
	p.flushPartialLocked()
	p.run++
	p.status = status
	p.exitCode = code
	p.completedAt = g.clk.Now()
	g.stopTimerLocked(p.sleep)
	g.stopTimerLocked(p.restartTimer)
	g.stopTimerLocked(p.timeoutTimer)
	p.sleep, p.restartTimer, p.timeoutTimer = nil, nil, nil
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.ports = nil
	p.final = true
	close(p.done)
	p.broadcastLocked()
}

// lookupProcessLocked finds a process by pid, else by name (the latest
// started of that name).
func (g *Guest) lookupProcessLocked(id string) *process {
	if p, ok := g.procs[id]; ok {
		return p
	}
	for i := len(g.order) - 1; i >= 0; i-- {
		if p := g.order[i]; p.name != "" && p.name == id {
			return p
		}
	}
	return nil
}

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// processAPILocked is the JSON shape of p.
func (g *Guest) processAPILocked(p *process) *sandboxsrv.ProcessResponse {
	completed := sandboxsrv.NilString{Null: true}
	if !p.completedAt.IsZero() {
		completed = sandboxsrv.NewNilString(httpDate(p.completedAt))
	}
	return &sandboxsrv.ProcessResponse{
		Pid:              p.pid,
		Name:             p.name,
		Command:          p.command,
		Status:           p.status,
		StartedAt:        httpDate(p.startedAt),
		CompletedAt:      completed,
		ExitCode:         p.exitCode,
		WorkingDir:       p.dir,
		Logs:             sandboxsrv.NewNilString(p.logs.String()),
		Stdout:           sandboxsrv.NewNilString(p.stdout.String()),
		Stderr:           sandboxsrv.NewNilString(p.stderr.String()),
		RestartOnFailure: sandboxsrv.NewOptBool(p.restartOnFailure),
		MaxRestarts:      sandboxsrv.NewOptInt(p.maxRestarts),
		RestartCount:     sandboxsrv.NewOptInt(p.restartCount),
		KeepAlive:        sandboxsrv.NewOptBool(p.keepAlive),
	}
}

// ExecProcess implements POST /process. The answer is the process as JSON
// once it has started (once it has ended with waitForCompletion; 422 if
// timeout seconds pass first, the process running on), or with Accept:
// text/event-stream an NDJSON stream of its output ending with a result
// event. Built-in commands that take no time have completed by the time
// the answer is written.
func (h handler) ExecProcess(ctx context.Context, req *sandboxsrv.ProcessRequest, w http.ResponseWriter) error {
	r := requestFrom(ctx)
	stream := r != nil && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	h.mu.Lock()
	p, aerr := h.startProcessLocked(req)
	h.mu.Unlock()
	if aerr != nil {
		if stream && aerr.code == http.StatusUnprocessableEntity {
			// The real server has sent the stream's header by then.
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			b, _ := json.Marshal(execEvent{Type: "error", Data: aerr.msg})
			_, _ = w.Write(append(b, '\n'))
			return nil
		}
		writeError(w, aerr.code, aerr.msg)
		return nil
	}
	if stream {
		h.streamExec(ctx, w, p)
		return nil
	}
	if req.WaitForCompletion.Or(false) {
		timeout := req.Timeout.Or(0)
		if !h.waitProcess(ctx, p, timeout) {
			if ctx.Err() == nil {
				writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("process timed out after %d seconds", timeout))
			}
			return nil
		}
	}
	h.mu.Lock()
	b, _ := h.processAPILocked(p).MarshalJSON()
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, b)
	return nil
}

// waitProcess waits until p has ended (true), or timeout seconds have
// passed on the guest's clock (0: no limit) or ctx is done (false).
func (g *Guest) waitProcess(ctx context.Context, p *process, timeout int) bool {
	g.mu.Lock()
	done := p.done
	var expired chan struct{}
	var tm *trackedTimer
	if timeout > 0 {
		expired = make(chan struct{})
		tm = g.afterLocked(seconds(timeout), func() { close(expired) })
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.stopTimerLocked(tm)
		g.mu.Unlock()
	}()
	select {
	case <-done:
		return true
	case <-expired:
		return false
	case <-ctx.Done():
		return false
	}
}

// ListProcesses implements GET /process: every process, in start order.
func (h handler) ListProcesses(context.Context) ([]sandboxsrv.ProcessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]sandboxsrv.ProcessResponse, 0, len(h.order))
	for _, p := range h.order {
		out = append(out, *h.processAPILocked(p))
	}
	return out, nil
}

func notFoundMsg(id string) string { return fmt.Sprintf("process with Identifier %s not found", id) }

// GetProcess implements GET /process/{identifier} (pid or name).
func (h handler) GetProcess(_ context.Context, params sandboxsrv.GetProcessParams) (sandboxsrv.GetProcessRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	if p == nil {
		return &sandboxsrv.ErrorResponse{Error: notFoundMsg(params.Identifier)}, nil
	}
	return h.processAPILocked(p), nil
}

// StopProcess implements DELETE /process/{identifier}: the process ends as
// stopped with exit code -1. A process that is not running is a 404, as
// on the real server.
func (h handler) StopProcess(_ context.Context, params sandboxsrv.StopProcessParams) (sandboxsrv.StopProcessRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	switch {
	case p == nil:
		return &sandboxsrv.StopProcessNotFound{Error: notFoundMsg(params.Identifier)}, nil
	case !p.active():
		return &sandboxsrv.StopProcessNotFound{Error: fmt.Sprintf("process with Identifier %s is not running", params.Identifier)}, nil
	}
	p.noteLocked("[Process is being gracefully terminated]")
	h.endRunLocked(p, statusStopped, -1)
	return &sandboxsrv.SuccessResponse{Message: "Process stopped successfully"}, nil
}

// KillProcess implements DELETE /process/{identifier}/kill: the process
// ends as killed with exit code -1.
func (h handler) KillProcess(_ context.Context, params sandboxsrv.KillProcessParams) (sandboxsrv.KillProcessRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	switch {
	case p == nil:
		return &sandboxsrv.KillProcessNotFound{Error: notFoundMsg(params.Identifier)}, nil
	case !p.active():
		return &sandboxsrv.KillProcessNotFound{Error: fmt.Sprintf("failed to kill process with Identifier %s: no such process", params.Identifier)}, nil
	}
	p.noteLocked("[Process is being forcefully killed]")
	h.endRunLocked(p, statusKilled, -1)
	return &sandboxsrv.SuccessResponse{Message: "Process killed successfully"}, nil
}

// GetProcessLogs implements GET /process/{identifier}/logs.
func (h handler) GetProcessLogs(_ context.Context, params sandboxsrv.GetProcessLogsParams) (sandboxsrv.GetProcessLogsRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	if p == nil {
		return &sandboxsrv.GetProcessLogsNotFound{Error: notFoundMsg(params.Identifier)}, nil
	}
	return &sandboxsrv.ProcessLogs{Logs: p.logs.String(), Stdout: p.stdout.String(), Stderr: p.stderr.String()}, nil
}

// StreamProcessLogs implements GET /process/{identifier}/logs/stream.
func (h handler) StreamProcessLogs(ctx context.Context, params sandboxsrv.StreamProcessLogsParams, w http.ResponseWriter) error {
	h.mu.Lock()
	p := h.lookupProcessLocked(params.Identifier)
	h.mu.Unlock()
	if p == nil {
		writeError(w, http.StatusNotFound, notFoundMsg(params.Identifier))
		return nil
	}
	h.streamLogs(ctx, w, p)
	return nil
}
