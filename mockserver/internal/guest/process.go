package guest

import (
	"bytes"
	"context"
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

// Timings and sizes of the real server's process handling.
const (
	// keepAliveTimeout is the timeout of a keepAlive process that names
	// none.
	keepAliveTimeout = 600
	// restartDelay is the pause before a failed process is started again.
	restartDelay = time.Second
	// tailInterval and tailChunk: the server tails a process's log files
	// every 50 ms, reading at most 4 KiB of each per round, while the
	// process runs; once it has ended it reads what is left at once.
	tailInterval = 50 * time.Millisecond
	tailChunk    = 4096
	// maxInlinedLog is how much of each stream a process object carries;
	// maxLogsResponse how much GET /process/{id}/logs and a completed
	// waitForCompletion answer carry.
	maxInlinedLog   = 64 * 1024
	maxLogsResponse = 4 * 1024 * 1024
	// maxLogReplay is how much of the combined log a stream replays;
	// maxReplayLine the longest line it can replay (a longer one ends the
	// replay, as the server's line scanner gives up).
	maxLogReplay  = 32 * 1024 * 1024
	maxReplayLine = 1024 * 1024
	// maxPendingStream bounds what a slow stream reader may leave queued.
	maxPendingStream = 16 * 1024 * 1024
	// maxLogFile is what the server keeps of each log file: it releases
	// the head of a longer one (the mock once it is a quarter longer).
	maxLogFile = 32 * 1024 * 1024
)

// Texts the server writes into process output.
const (
	truncationMarker = "[... truncated, see the process log file for the full output ...]\n"
	streamGapMarker  = "[output truncated: the stream fell behind]\n"
	msgTerminated    = "\n[Process is being gracefully terminated]\n"
	msgKilled        = "\n[Process is being forcefully killed]\n"
)

// logBuffer keeps the last maxInlinedLog bytes written to it, like the
// server's in-memory copy of what it has tailed.
type logBuffer struct {
	buf     []byte
	written int
}

func (b *logBuffer) write(p []byte) {
	b.written += len(p)
	b.buf = append(b.buf, p...)
	if len(b.buf) > maxInlinedLog {
		b.buf = append(b.buf[:0:0], b.buf[len(b.buf)-maxInlinedLog:]...)
	}
}

func (b *logBuffer) String() string {
	if b.written > len(b.buf) {
		return truncationMarker + string(b.buf)
	}
	return string(b.buf)
}

// outEvent is one piece of output for a stream: a chunk of a stream the
// tailer read (stream "stdout" or "stderr"), or text the server writes to
// the stream as is (stream "").
type outEvent struct {
	stream string
	data   []byte
}

// procWriter is a stream attached to a process: the tailer queues what it
// reads; the request's goroutine takes it.
type procWriter struct {
	events  []outEvent
	queued  int
	dropped bool
	notify  chan struct{} // capacity 1: "events are queued"
	runDone chan struct{} // the run the stream follows
}

func newProcWriter() *procWriter { return &procWriter{notify: make(chan struct{}, 1)} }

func (w *procWriter) push(e outEvent) {
	if w.queued+len(e.data) > maxPendingStream {
		w.dropped = true
		return
	}
	if w.dropped {
		w.dropped = false
		w.events = append(w.events, outEvent{"stdout", []byte(streamGapMarker)})
	}
	w.events = append(w.events, e)
	w.queued += len(e.data)
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *procWriter) take() []outEvent {
	evs := w.events
	w.events, w.queued = nil, 0
	return evs
}

// process is one process started through POST /process. The pid stays the
// same across restarts.
type process struct {
	g                  *Guest
	pid, name, command string
	dir                string // workingDir as given (formatted)
	absDir             string
	env                map[string]string
	status             string
	exitCode           int
	startedAt          time.Time
	completedAt        time.Time // zero while running

	restartOnFailure, keepAlive bool
	maxRestarts, restartCount   int
	timeout                     int

	// The log files: what the command wrote to each stream, and the
	// combined file the tailer writes ("stdout:"/"stderr:" before each
	// line it reads).
	outFile, errFile, combined []byte
	// outBase, errBase, combinedBase: how much of each file's head was
	// released; offsets into a file count from its real start.
	outBase, errBase, combinedBase int
	// What the tailer has read, as the server keeps it in memory.
	memOut, memErr, memLogs logBuffer
	outOff, errOff          int
	tailStart               time.Time
	tailTimer               *trackedTimer
	live                    bool // a run is in progress: its commands can be signaled
	tailing                 bool // the tailer reads: from a run's start to its last round
	writers                 map[*procWriter]struct{}

	run     int           // changes at every (re)start; stale callbacks compare it
	runDone chan struct{} // closed when the current run ends, before any restart
	done    chan struct{} // closed when the process has ended for good
	changed chan struct{} // closed and replaced at every change
	final   bool

	flows []*flow // the process group: the shell and its background jobs
	cmds  map[*Cmd]struct{}

	keepAliveTimer, restartTimer *trackedTimer

	// tty, when set, takes all output instead of the log files: the
	// process is the shell of a terminal (terminal.go).
	tty func(b []byte)
}

func (p *process) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// writeLocked appends output of the process to the log file of stream.
func (p *process) writeLocked(stream string, b []byte) {
	if len(b) == 0 {
		return
	}
	if p.tty != nil {
		p.tty(b)
		return
	}
	if stream == "stderr" {
		appendLog(&p.errFile, &p.errBase, b)
	} else {
		appendLog(&p.outFile, &p.outBase, b)
	}
	p.broadcastLocked()
	if p.live && p.tailTimer == nil && p.g != nil {
		p.g.scheduleTailLocked(p)
	}
}

// appendLog appends b to a log file whose released head is base bytes
// long, and releases its head past maxLogFile, so that an endless writer
// holds bounded memory.
func appendLog(file *[]byte, base *int, b []byte) {
	*file = append(*file, b...)
	if len(*file) > maxLogFile+maxLogFile/4 {
		drop := len(*file) - maxLogFile
		*file = append([]byte(nil), (*file)[drop:]...)
		*base += drop
	}
}

// formatPath is the real server's clean-up of a path from a request: ""
// means ".", ~ is the home directory, runs of slashes collapse.
func (g *Guest) formatPath(p string) string {
	if p == "" {
		p = "."
	}
	if strings.HasPrefix(p, "~") {
		p = g.home() + p[1:]
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// home is the server's home directory.
func (g *Guest) home() string { return g.cfg.WorkDir }

// startProcessLocked creates and starts the process req describes. w, if
// not nil, is attached before the command runs (an exec stream).
func (g *Guest) startProcessLocked(req *sandboxsrv.ProcessRequest, w *procWriter) (*process, *sandboxsrv.ErrorStatusCode) {
	if g.closed {
		return nil, failure(http.StatusServiceUnavailable, "sandbox API is shut down")
	}
	dir := req.WorkingDir.Or("")
	if dir != "" {
		dir = g.formatPath(dir)
	}
	absDir := g.cfg.WorkDir
	if dir != "" {
		absDir = g.abs(dir)
		n, err := g.lookupLocked(absDir)
		if err != nil {
			return nil, failure(http.StatusUnprocessableEntity, fmt.Sprintf("failed to start process: could not execute command '%s' because folder '%s' does not exist", req.Command, dir))
		}
		if !n.dir {
			return nil, failure(http.StatusUnprocessableEntity, fmt.Sprintf("failed to start process: chdir %s: not a directory", dir))
		}
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": g.home()}
	for k, v := range g.procEnv {
		env[k] = v
	}
	for k, v := range req.Env.Or(nil) {
		env[k] = v
	}
	name := req.Name.Or("")
	if name == "" {
		name = g.randomName()
	}
	timeout := req.Timeout.Or(0)
	keepAlive := req.KeepAlive.Or(false)
	if keepAlive && (!req.Timeout.Set || timeout < 0) {
		timeout = keepAliveTimeout
	}
	p := &process{
		g:                g,
		pid:              g.newPIDLocked(),
		name:             name,
		command:          req.Command,
		dir:              dir,
		absDir:           absDir,
		env:              env,
		done:             make(chan struct{}),
		changed:          make(chan struct{}),
		writers:          map[*procWriter]struct{}{},
		cmds:             map[*Cmd]struct{}{},
		restartOnFailure: req.RestartOnFailure.Or(false),
		maxRestarts:      req.MaxRestarts.Or(0),
		keepAlive:        keepAlive,
		timeout:          timeout,
	}
	g.procs[p.pid] = p
	g.order = append(g.order, p)
	if w != nil {
		p.writers[w] = struct{}{}
	}
	g.beginRunLocked(p, w)
	return p, nil
}

// randomName is the name the server gives an unnamed process.
func (g *Guest) randomName() string {
	const charset = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("proc-")
	for range 8 {
		b = append(b, charset[g.rand.IntN(len(charset))])
	}
	return string(b)
}

// newPIDLocked returns the next process id.
func (g *Guest) newPIDLocked() string {
	pid := strconv.Itoa(g.nextPID)
	g.nextPID++
	return pid
}

// seconds converts a count of seconds to a duration, saturating.
func seconds(n int) time.Duration {
	const maxSec = int(time.Duration(1<<63-1) / time.Second)
	return time.Duration(min(max(n, 0), maxSec)) * time.Second
}

// beginRunLocked (re)starts the command of p. As on the server, a new
// tailer reads the log files from their beginning, so a restarted
// process's streams and combined log see the earlier output again. w is
// the exec stream that follows this run, if any.
func (g *Guest) beginRunLocked(p *process, w *procWriter) {
	p.run++
	run := p.run
	p.status = statusRunning
	p.exitCode = 0
	p.startedAt = g.clk.Now()
	p.completedAt = time.Time{}
	p.runDone = make(chan struct{})
	if w != nil {
		w.runDone = p.runDone
	}
	p.live, p.tailing = true, true
	p.tailStart = p.startedAt
	p.outOff, p.errOff = p.outBase, p.errBase
	// The tailer's first read happens as it starts, before the command
	// has written anything: it only finds earlier runs' output.
	g.tailReadLocked(p, "stdout")
	g.tailReadLocked(p, "stderr")
	if p.unreadLocked() {
		g.scheduleTailLocked(p)
	}
	if p.keepAlive && p.timeout > 0 {
		p.keepAliveTimer = g.afterLocked(seconds(p.timeout), func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if p.run == run && p.live {
				g.killLocked(p)
			}
		})
	}
	p.broadcastLocked()
	f := &flow{p: p, top: true}
	p.flows = append(p.flows, f)
	sh := g.newTopShell(f, p.absDir, p.env)
	f.co = startCoroutineLocked(func(co *coroutine) {
		f.co = co
		status := 0
		died := false
		defer func() {
			r := recover()
			if _, ok := r.(killed); ok {
				died = true
			} else if r != nil {
				panic(r)
			}
			f.done = true
			f.status = status
			for _, fn := range f.onDone {
				fn()
			}
			g.endRunLocked(p, run, status, died)
		}()
		status = sh.runScript(p.command)
		died = sh.died
	})
}

// scheduleTailLocked arranges the tailer's next read: at the first 50 ms
// tick (counted from the run's start) after now.
func (g *Guest) scheduleTailLocked(p *process) {
	if p.tailTimer != nil || !p.live {
		return
	}
	since := g.clk.Now().Sub(p.tailStart)
	next := (since/tailInterval + 1) * tailInterval
	run := p.run
	p.tailTimer = g.afterLocked(next-since, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if p.run != run {
			return
		}
		p.tailTimer = nil
		g.tailReadLocked(p, "stdout")
		g.tailReadLocked(p, "stderr")
		if p.unreadLocked() {
			g.scheduleTailLocked(p)
		}
	})
}

// tailReadLocked reads up to tailChunk bytes of one log file, as the
// server's tailer does: it records them in memory and in the combined
// log, and sends them to every attached stream. It returns the number
// of bytes read.
func (g *Guest) tailReadLocked(p *process, stream string) int {
	file, off, base := p.outFile, &p.outOff, p.outBase
	mem := &p.memOut
	if stream == "stderr" {
		file, off, base, mem = p.errFile, &p.errOff, p.errBase, &p.memErr
	}
	// What was released before the tailer read it is skipped.
	*off = max(*off, base)
	n := min(tailChunk, base+len(file)-*off)
	if n <= 0 {
		return 0
	}
	chunk := slices.Clone(file[*off-base : *off-base+n])
	*off += n
	mem.write(chunk)
	p.memLogs.write(chunk)
	prefix := []byte(stream + ":")
	for rest := chunk; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		appendLog(&p.combined, &p.combinedBase, append(prefix[:len(prefix):len(prefix)], line...))
	}
	for w := range p.writers {
		w.push(outEvent{stream, chunk})
	}
	return n
}

// unreadLocked reports whether the log files hold output the tailer has
// not read.
func (p *process) unreadLocked() bool {
	return p.outOff < p.outBase+len(p.outFile) || p.errOff < p.errBase+len(p.errFile)
}

// drainLocked reads everything the tailer has not read yet, as the server
// does once a process has ended.
func (g *Guest) drainLocked(p *process) {
	for {
		n1 := g.tailReadLocked(p, "stdout")
		n2 := g.tailReadLocked(p, "stderr")
		if n1 == 0 && n2 == 0 {
			return
		}
	}
}

// rawLocked writes text to every attached stream as is.
func (p *process) rawLocked(msg string) {
	for w := range p.writers {
		w.push(outEvent{"", []byte(msg)})
	}
}

// endRunLocked records the exit of run of p: the exit status of its
// shell, or death by a signal. The status shows at once; the tailer
// notices the exit at its next tick and only then reads the rest of the
// output and ends the run (its streams, a waitForCompletion). A failed
// process that may be restarted is, a second after that; otherwise it
// has ended for good.
func (g *Guest) endRunLocked(p *process, run, status int, signaled bool) {
	if p.run != run || !p.live {
		return
	}
	p.live = false
	p.completedAt = g.clk.Now()
	switch {
	case signaled:
		if p.status != statusStopped && p.status != statusKilled {
			p.status = statusFailed
		}
		p.exitCode = -1
	case status != 0:
		if p.status != statusStopped && p.status != statusKilled {
			p.status = statusFailed
		}
		p.exitCode = status
	default:
		p.status = statusCompleted
		p.exitCode = 0
	}
	g.stopTimerLocked(p.keepAliveTimer)
	p.keepAliveTimer = nil
	restart := p.status == statusFailed && p.restartOnFailure && (p.maxRestarts < 0 || p.restartCount < p.maxRestarts)
	if restart {
		limit := "unlimited"
		if p.maxRestarts >= 0 {
			limit = strconv.Itoa(p.maxRestarts)
		}
		msg := fmt.Sprintf("\n[Process failed with exit code %d. Attempting restart %d/%s...]\n", p.exitCode, p.restartCount+1, limit)
		p.memOut.write([]byte(msg))
		p.memLogs.write([]byte(msg))
		appendLog(&p.outFile, &p.outBase, []byte(msg))
		p.rawLocked(msg)
		p.restartCount++
	}
	p.broadcastLocked()
	g.stopTimerLocked(p.tailTimer)
	p.tailTimer = nil
	if g.closed {
		g.finishRunLocked(p, false)
		return
	}
	since := g.clk.Now().Sub(p.tailStart)
	next := (since/tailInterval + 1) * tailInterval
	p.tailTimer = g.afterLocked(next-since, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if p.run == run {
			p.tailTimer = nil
			g.finishRunLocked(p, restart)
		}
	})
}

// finishRunLocked is the tailer's last round for a run that has exited:
// it reads what is left, ends the run's streams, and restarts the process
// a second later or ends it for good.
func (g *Guest) finishRunLocked(p *process, restart bool) {
	if !p.tailing {
		return
	}
	g.drainLocked(p)
	p.tailing = false
	p.run++ // stale timers of this run must not fire
	close(p.runDone)
	if restart && !g.closed {
		p.restartTimer = g.afterLocked(restartDelay, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if !p.final {
				p.restartTimer = nil
				g.beginRunLocked(p, nil)
			}
		})
	} else {
		p.final = true
		close(p.done)
		// Nothing runs it again: what is left is the record GET /process
		// shows, not the shells that ran (the server keeps every record,
		// so each must stay small).
		p.flows = slices.DeleteFunc(p.flows, func(f *flow) bool { return f.done })
		p.env = nil
	}
	p.broadcastLocked()
}

// signalLocked sends SIGTERM (term) or SIGKILL to the process group of p.
func (g *Guest) signalLocked(p *process, term bool) {
	for c := range p.cmds {
		c.signalLocked(term)
	}
	w := wakeKill
	if term {
		w = wakeTerm
	}
	for {
		for _, f := range slices.Clone(p.flows) {
			if f.done {
				continue
			}
			if term {
				f.deliverTerm()
			}
			f.co.signalLocked(w)
		}
		p.flows = slices.DeleteFunc(p.flows, func(f *flow) bool { return f.done })
		// A flow that a dying one woke (its pipe closed) may have started
		// others: a SIGKILL reaches them too.
		if term || len(p.flows) == 0 {
			return
		}
	}
}

// stopLocked is DELETE /process/{id}: SIGTERM to the process group. The
// status is stopped at once; the process ends when (if) its commands die.
func (g *Guest) stopLocked(p *process) {
	p.rawLocked(msgTerminated)
	p.memOut.write([]byte(msgTerminated))
	p.keepAlive = false
	g.stopTimerLocked(p.keepAliveTimer)
	p.keepAliveTimer = nil
	p.status = statusStopped
	p.broadcastLocked()
	g.signalLocked(p, true)
}

// killLocked is DELETE /process/{id}/kill: SIGKILL to the process group.
func (g *Guest) killLocked(p *process) {
	p.rawLocked(msgKilled)
	p.memOut.write([]byte(msgKilled))
	p.keepAlive = false
	g.stopTimerLocked(p.keepAliveTimer)
	p.keepAliveTimer = nil
	p.status = statusKilled
	p.broadcastLocked()
	g.signalLocked(p, false)
}

// lookupProcessLocked finds a process as the server does: a numeric
// identifier is a pid, anything else the name of the latest started
// process of that name.
func (g *Guest) lookupProcessLocked(id string) *process {
	if _, err := strconv.Atoi(id); err == nil {
		return g.procs[id]
	}
	var latest *process
	for _, p := range g.order {
		if p.name == id && (latest == nil || !p.startedAt.Before(latest.startedAt)) {
			latest = p
		}
	}
	return latest
}

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// logTail is the server's readLogTail: the last max bytes of a log file,
// after a marker when the head was cut. NUL bytes at the start of a
// shorter file are taken for a head the server released (they read back
// as zeros): they are dropped, and the marker says so.
func logTail(file []byte, max int) string {
	if len(file) > max {
		return truncationMarker + string(file[len(file)-max:])
	}
	if rest := bytes.TrimLeft(file, "\x00"); len(rest) < len(file) {
		return truncationMarker + string(rest)
	}
	return string(file)
}

// processView selects how a process object is shown.
type processView int

const (
	viewGet    processView = iota // GET /process/{id}: completedAt "" while running, output from the log files
	viewList                      // GET /process: completedAt null while running
	viewStart                     // POST /process: what the tailer has read so far, logs null if nothing
	viewWaited                    // POST /process with waitForCompletion: the log files, up to 4 MiB
)

// processAPILocked is the JSON shape of p as view shows it.
func (g *Guest) processAPILocked(p *process, view processView) *sandboxsrv.ProcessResponse {
	completed := sandboxsrv.NewNilString("")
	if !p.completedAt.IsZero() {
		completed = sandboxsrv.NewNilString(httpDate(p.completedAt))
	} else if view == viewList {
		completed = sandboxsrv.NilString{Null: true}
	}
	var logs, stdout, stderr sandboxsrv.NilString
	switch view {
	case viewStart:
		logs = sandboxsrv.NilString{Null: true}
		if p.memLogs.written > 0 {
			logs = sandboxsrv.NewNilString(p.memLogs.String())
		}
		stdout, stderr = sandboxsrv.NewNilString(p.memOut.String()), sandboxsrv.NewNilString(p.memErr.String())
	default:
		limit := maxInlinedLog
		if view == viewWaited {
			limit = maxLogsResponse
		}
		o, e := logTail(p.outFile, limit), logTail(p.errFile, limit)
		logs, stdout, stderr = sandboxsrv.NewNilString(o+e), sandboxsrv.NewNilString(o), sandboxsrv.NewNilString(e)
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
		Logs:             logs,
		Stdout:           stdout,
		Stderr:           stderr,
		RestartOnFailure: sandboxsrv.NewOptBool(p.restartOnFailure),
		MaxRestarts:      sandboxsrv.NewOptInt(p.maxRestarts),
		RestartCount:     sandboxsrv.NewOptInt(p.restartCount),
		KeepAlive:        sandboxsrv.NewOptBool(p.keepAlive),
	}
}

// errCommandRequired is the server's (gin binding) answer to a request
// without a command.
const errCommandRequired = "invalid request body: Key: 'ProcessRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag"

// ExecProcess implements POST /process. The answer is the process as JSON
// right after it started (its command may still be running: the answer
// shows it running, with no output, as the real server's nearly always
// does), after its ports opened with waitForPorts, or once it has ended
// with waitForCompletion (422 if timeout seconds pass first, the process
// running on). With Accept: text/event-stream the answer is an NDJSON
// stream of its output ending with a result event.
func (h handler) ExecProcess(ctx context.Context, req *sandboxsrv.ProcessRequest, w http.ResponseWriter) error {
	r := requestFrom(ctx)
	streaming := r != nil && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if req.Command == "" {
		writeError(w, http.StatusBadRequest, errCommandRequired)
		return nil
	}
	h.mu.Lock()
	if name := req.Name.Or(""); name != "" {
		if q := h.lookupProcessLocked(name); q != nil && q.status == statusRunning {
			h.mu.Unlock()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("process with name '%s' already exists and is running", name))
			return nil
		}
	}
	h.mu.Unlock()

	timeout := req.Timeout.Or(0)
	if req.KeepAlive.Or(false) && (!req.Timeout.Set || timeout < 0) {
		timeout = keepAliveTimeout
	}
	// One deadline for the waits, counted from the start, as the server's
	// context is.
	var expired chan struct{}
	var deadline *trackedTimer
	if timeout > 0 {
		expired = make(chan struct{})
		h.mu.Lock()
		deadline = h.afterLocked(seconds(timeout), func() { close(expired) })
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.stopTimerLocked(deadline)
			h.mu.Unlock()
		}()
	}

	if streaming {
		h.execStream(ctx, req, w, expired, timeout)
		return nil
	}
	h.mu.Lock()
	p, aerr := h.startProcessLocked(req, nil)
	var answer []byte
	if aerr == nil {
		answer, _ = h.processAPILocked(p, viewStart).MarshalJSON()
		// The answer reflects the moment the command started: the
		// simulated command has already run as far as it could, but
		// the real server answers before the tailer reads anything.
		answer = h.startAnswerLocked(p, answer)
	}
	h.mu.Unlock()
	if aerr != nil {
		writeError(w, aerr.StatusCode, aerr.Response.Error)
		return nil
	}
	if ports := req.WaitForPorts; len(ports) > 0 {
		if !h.waitPorts(ctx, p, ports, expired) {
			if ctx.Err() == nil {
				writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("process timed out waiting for ports after %d seconds", timeout))
			}
			return nil
		}
		h.mu.Lock()
		answer, _ = h.processAPILocked(p, viewStart).MarshalJSON()
		h.mu.Unlock()
	}
	if req.WaitForCompletion.Or(false) {
		if !h.waitDone(ctx, p, expired) {
			if ctx.Err() == nil {
				writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("process timed out after %d seconds", timeout))
			}
			return nil
		}
		h.mu.Lock()
		answer, _ = h.processAPILocked(p, viewWaited).MarshalJSON()
		h.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// startAnswerLocked rewrites the answer of a just-started process to how
// the real server shows it at that moment: running, nothing read yet.
func (g *Guest) startAnswerLocked(p *process, _ []byte) []byte {
	v := g.processAPILocked(p, viewStart)
	v.Status = statusRunning
	v.ExitCode = 0
	v.CompletedAt = sandboxsrv.NewNilString("")
	v.Logs = sandboxsrv.NilString{Null: true}
	v.Stdout = sandboxsrv.NewNilString("")
	v.Stderr = sandboxsrv.NewNilString("")
	v.RestartCount = sandboxsrv.NewOptInt(0)
	b, _ := v.MarshalJSON()
	return b
}

// waitDone waits until p has ended for good (true), or the deadline
// passes or ctx is done (false).
func (g *Guest) waitDone(ctx context.Context, p *process, expired <-chan struct{}) bool {
	select {
	case <-p.done:
		return true
	case <-expired:
		return false
	case <-ctx.Done():
		return false
	}
}

// waitPorts waits until p (or a command it started) listens on every
// port on a routable address (true: a socket bound to loopback only does
// not count, as the server's gateway could not reach it), or the deadline
// passes or ctx is done (false). Like the server, it waits even after the
// process has ended.
func (g *Guest) waitPorts(ctx context.Context, p *process, ports []int, expired <-chan struct{}) bool {
	for {
		g.mu.Lock()
		open := true
		for _, port := range ports {
			if !g.servesLocked(p, port) {
				open = false
			}
		}
		changed := p.changed
		g.mu.Unlock()
		if open {
			return true
		}
		select {
		case <-changed:
		case <-expired:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// ListProcesses implements GET /process: every process, in start order.
func (h handler) ListProcesses(context.Context) ([]sandboxsrv.ProcessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]sandboxsrv.ProcessResponse, 0, len(h.order))
	for _, p := range h.order {
		out = append(out, *h.processAPILocked(p, viewList))
	}
	return out, nil
}

// GetProcess implements GET /process/{identifier} (pid or name).
func (h handler) GetProcess(_ context.Context, params sandboxsrv.GetProcessParams) (*sandboxsrv.ProcessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	if p == nil {
		return nil, failure(http.StatusNotFound, "process not found")
	}
	return h.processAPILocked(p, viewGet), nil
}

// StopProcess implements DELETE /process/{identifier}: SIGTERM. A process
// that is not running is a 404, as on the real server.
func (h handler) StopProcess(_ context.Context, params sandboxsrv.StopProcessParams) (*sandboxsrv.SuccessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	switch {
	case p == nil:
		return nil, failure(http.StatusNotFound, fmt.Sprintf("process with Identifier %s not found", params.Identifier))
	case p.status != statusRunning:
		return nil, failure(http.StatusNotFound, fmt.Sprintf("process with Identifier %s is not running", params.Identifier))
	}
	h.stopLocked(p)
	return &sandboxsrv.SuccessResponse{Message: "Process stopped successfully"}, nil
}

// KillProcess implements DELETE /process/{identifier}/kill: SIGKILL, to a
// process whatever its status says, as long as it still has a running
// command.
func (h handler) KillProcess(_ context.Context, params sandboxsrv.KillProcessParams) (*sandboxsrv.SuccessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	switch {
	case p == nil:
		return nil, failure(http.StatusNotFound, fmt.Sprintf("process with Identifier %s not found", params.Identifier))
	case !p.live:
		return nil, failure(http.StatusNotFound, fmt.Sprintf("failed to kill process with Identifier %s: no such process", params.Identifier))
	}
	h.killLocked(p)
	return &sandboxsrv.SuccessResponse{Message: "Process killed successfully"}, nil
}

// GetProcessLogs implements GET /process/{identifier}/logs: the log files,
// up to 4 MiB of each; logs is stdout followed by stderr.
func (h handler) GetProcessLogs(_ context.Context, params sandboxsrv.GetProcessLogsParams) (*sandboxsrv.ProcessLogs, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.lookupProcessLocked(params.Identifier)
	if p == nil {
		return nil, failure(http.StatusNotFound, fmt.Sprintf("process with PID %s not found", params.Identifier))
	}
	o, e := logTail(p.outFile, maxLogsResponse), logTail(p.errFile, maxLogsResponse)
	return &sandboxsrv.ProcessLogs{Logs: o + e, Stdout: o, Stderr: e}, nil
}

// StreamProcessLogs implements GET /process/{identifier}/logs/stream.
func (h handler) StreamProcessLogs(ctx context.Context, params sandboxsrv.StreamProcessLogsParams, w http.ResponseWriter) error {
	h.streamLogs(ctx, w, params.Identifier)
	return nil
}

// replayLocked is what a stream attaching to p gets first: the combined
// log replayed a line at a time, as the server's line scanner reads it (a
// line's \r before its newline dropped, a newline added to an unfinished
// last line, NUL bytes at a line's start dropped).
func replayLocked(p *process) []outEvent {
	data := p.combined
	var out []outEvent
	if len(data) > maxLogReplay || p.combinedBase > 0 {
		out = append(out, outEvent{"stdout", []byte(truncationMarker)})
		data = data[max(0, len(data)-maxLogReplay):]
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		if len(line)+1 > maxReplayLine {
			break
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		line = bytes.TrimLeft(line, "\x00")
		switch {
		case bytes.HasPrefix(line, []byte("stdout:")):
			out = append(out, outEvent{"stdout", append(slices.Clone(line[len("stdout:"):]), '\n')})
		case bytes.HasPrefix(line, []byte("stderr:")):
			out = append(out, outEvent{"stderr", append(slices.Clone(line[len("stderr:"):]), '\n')})
		case len(line) > 0:
			out = append(out, outEvent{"stdout", append(slices.Clone(line), '\n')})
		}
	}
	return out
}

// attachLocked attaches a stream to p: the replay of the combined log
// first, then what the tailer reads from now on.
func (g *Guest) attachLocked(p *process) *procWriter {
	w := newProcWriter()
	for _, e := range replayLocked(p) {
		w.push(e)
	}
	w.runDone = p.runDone
	p.writers[w] = struct{}{}
	return w
}
