package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Interactive terminals: GET /terminal/ws, a WebSocket that sandbox-api
// serves beside its published API. The simulation follows the real
// server's protocol and session rules:
//
//   - Query: cols and rows (unsigned 16-bit, 80×24 when absent or not a
//     number), shell, workingDir, sessionId ("default" when absent).
//   - Messages are JSON text: {"type":"input","data":…} and
//     {"type":"resize","cols":…,"rows":…} from the client (a resize with a
//     zero dimension is ignored, as is a message that does not decode);
//     {"type":"output","data":…} and {"type":"error","data":…} from the
//     server.
//   - A session outlives its connections. A client attaching to a live
//     session first gets a replay: one output message of ESC[0m and the
//     session's last output (at most 100 KiB, trimmed at a line start),
//     then the session is resized to the query's size. A dead session's id
//     gets a new session.
//   - When the shell exits, output stops; the connection stays open until
//     the client sends a message, and is then closed without a close
//     frame. A shell that cannot start gets an error message, then the
//     same close.
//   - A session without clients ends after 10 minutes without activity.
//     A restart of the server (upgrade) or the end of the sandbox ends
//     every session and drops the connections.
//
// The shell is the guest's simulated one (the command runner of POST
// /process) on a simulated pseudo-terminal in canonical mode: typed
// characters are echoed, Backspace and Ctrl-U edit the line, Enter runs it,
// Ctrl-C interrupts the running command, Ctrl-D on an empty line ends the
// shell, lines typed while a command runs wait for it, and output line ends
// become "\r\n". The prompt is "$ ". The shell's environment has TERM,
// COLUMNS and LINES, which follow resizes.
//
// Unlike sandbox-api, the simulation sends output in chunks of whole
// characters, never drops output for a slow client, and takes the replay
// and the subscription to live output atomically.

const (
	termReplayCap   = 100 << 10 // output kept per session for replays
	termTrimSearch  = 256       // how far past the cut a trim looks for a line start
	termIdleTimeout = 10 * time.Minute
	termChunk       = 4096 // largest output message, in bytes of output
	termPrompt      = "$ "
	termReplayReset = "\x1b[0m"
	termDefaultCols = 80
	termDefaultRows = 24
	termDefaultSh   = "/bin/sh"
	termReadLimit   = 64 << 20
)

// termShells are the shells the simulation knows by base name.
var termShells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true}

// termSession is one terminal session. Guarded by g.mu.
type termSession struct {
	id         string
	boot       int // g.bootID at creation: a restart ends the session
	cols, rows int
	dir        string
	env        map[string]string
	buf        []byte // replay buffer
	subs       map[*termSub]struct{}
	dead       bool
	lastActive time.Time
	idle       *trackedTimer

	line    []byte   // the line being typed
	typed   []string // lines typed while a command runs
	run     *termRun // the command running, if any
	esc     escState
	started bool // the first prompt has been printed
}

// termSub is one connection's queue of messages to send.
type termSub struct {
	pending [][]byte
	wake    chan struct{} // closed and replaced when pending grows or the session ends
}

// termRun is one command line running in a session.
type termRun struct {
	p    *process // collects the output; not in g.procs
	sh   *shell
	sent int           // bytes of p.logs already sent
	done chan struct{} // closed when the run is over
}

// escState follows escape sequences in the input, which the simulated
// line discipline drops.
type escState int

const (
	escNone escState = iota
	escStart
	escCSI
	escOSC
	escOSCEnd
)

// termMessage is a message of the protocol; the sizes are 16-bit on the
// real server, so a larger number makes the message undecodable.
type termMessage struct {
	Type string `json:"type"`
	Data string `json:"data,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
}

// serveTerminal serves GET /terminal/ws.
func (g *Guest) serveTerminal(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodHead:
		w.WriteHeader(http.StatusOK)
		return
	default:
		notFound(w, r)
		return
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if !canHijack(w) {
		writeError(w, http.StatusNotImplemented, "the mock serves terminals only on a real connection: start the server with mockserver.WithListener")
		return
	}
	q := r.URL.Query()
	cols, rows := termDim(q.Get("cols"), termDefaultCols), termDim(q.Get("rows"), termDefaultRows)
	id := "default"
	if q.Has("sessionId") {
		id = q.Get("sessionId")
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	defer conn.CloseNow()
	conn.SetReadLimit(termReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	g.mu.Lock()
	s, isNew, msg := g.termSessionLocked(id, q.Get("shell"), q.Get("workingDir"), cols, rows)
	if s == nil {
		g.mu.Unlock()
		_ = conn.Write(ctx, websocket.MessageText, termJSON(termMessage{Type: "error", Data: msg}))
		return // closes without a close frame
	}
	sub := s.subscribeLocked(g)
	if !isNew && cols > 0 && rows > 0 {
		s.resizeLocked(int(cols), int(rows))
	}
	if !s.started {
		s.started = true
		s.emitLocked(g, termPrompt) // after the subscription: a new session's prompt arrives live
	}
	g.streams++
	wakeLocked(&g.streamsChanged)
	boot, closing := g.bootDone, g.closing
	g.mu.Unlock()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		g.termWriter(ctx, conn, s, sub, boot, closing)
	}()
	g.termReader(ctx, conn, s)
	cancel()
	_ = conn.CloseNow()
	<-writerDone
	g.mu.Lock()
	s.unsubscribeLocked(g, sub)
	g.streams--
	wakeLocked(&g.streamsChanged)
	g.mu.Unlock()
}

// termReader reads the client's messages until the connection fails or,
// after the session has ended, a message arrives.
func (g *Guest) termReader(ctx context.Context, conn *websocket.Conn, s *termSession) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var msg termMessage
		if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil {
			continue
		}
		g.mu.Lock()
		if s.ended(g) {
			g.mu.Unlock()
			return
		}
		switch msg.Type {
		case "input":
			s.inputLocked(g, []byte(msg.Data))
		case "resize":
			if msg.Cols > 0 && msg.Rows > 0 {
				s.resizeLocked(int(msg.Cols), int(msg.Rows))
			}
		}
		g.mu.Unlock()
	}
}

// termWriter sends the queued messages of sub. After the session has
// ended it sends what is left and returns, leaving the connection open;
// when the server instance goes away it drops the connection.
func (g *Guest) termWriter(ctx context.Context, conn *websocket.Conn, s *termSession, sub *termSub, boot, closing <-chan struct{}) {
	for {
		g.mu.Lock()
		msgs := sub.pending
		sub.pending = nil
		dead, wake := s.dead, sub.wake
		g.mu.Unlock()
		for _, m := range msgs {
			if conn.Write(ctx, websocket.MessageText, m) != nil {
				_ = conn.CloseNow()
				return
			}
		}
		if len(msgs) > 0 {
			continue
		}
		if dead {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-boot:
			g.mu.Lock()
			s.endLocked(g)
			g.mu.Unlock()
			_ = conn.CloseNow()
			return
		case <-closing:
			g.mu.Lock()
			s.endLocked(g)
			g.mu.Unlock()
			_ = conn.CloseNow()
			return
		}
	}
}

// termSessionLocked returns the live session id, or a new one. A shell or
// directory that does not exist gives a nil session and the message the
// real server sends.
func (g *Guest) termSessionLocked(id, shellPath, dir string, cols, rows uint16) (s *termSession, isNew bool, msg string) {
	if g.terms == nil {
		g.terms = map[string]*termSession{}
	}
	if s := g.terms[id]; s != nil && !s.ended(g) {
		return s, false, ""
	}
	if old := g.terms[id]; old != nil {
		old.endLocked(g)
		delete(g.terms, id)
	}
	if shellPath != "" && !termShells[path.Base(shellPath)] {
		if !strings.Contains(shellPath, "/") {
			return nil, false, `exec: "` + shellPath + `": executable file not found in $PATH`
		}
		return nil, false, "fork/exec " + shellPath + ": no such file or directory"
	}
	abs := g.cfg.WorkDir
	if dir != "" {
		abs = g.abs(dir)
		if n, err := g.lookupLocked(abs); err != nil || !n.dir {
			return nil, false, "fork/exec " + cmpOrStr(shellPath, termDefaultSh) + ": no such file or directory"
		}
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": g.cfg.WorkDir}
	for k, v := range g.procEnv {
		env[k] = v
	}
	if env["TERM"] == "" {
		env["TERM"] = "xterm-256color"
	}
	s = &termSession{
		id: id, boot: g.bootID, dir: abs, env: env,
		subs:       map[*termSub]struct{}{},
		lastActive: g.clk.Now(),
	}
	s.resizeLocked(int(cols), int(rows))
	g.terms[id] = s
	return s, true, ""
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ended reports whether the session is over: its shell exited, or the
// server instance it ran in is gone.
func (s *termSession) ended(g *Guest) bool { return s.dead || s.boot != g.bootID || g.closed }

// replay returns the output a new connection gets first: the last
// termReplayCap bytes at most, starting after a line end if there is one
// within termTrimSearch bytes of the cut.
func (s *termSession) replay() []byte {
	if len(s.buf) <= termReplayCap {
		return s.buf
	}
	cut := len(s.buf) - termReplayCap
	if i := bytes.IndexByte(s.buf[cut:min(cut+termTrimSearch, len(s.buf))], '\n'); i >= 0 {
		cut += i + 1
	}
	return s.buf[cut:]
}

// subscribeLocked adds a connection; its queue starts with the replay.
func (s *termSession) subscribeLocked(g *Guest) *termSub {
	sub := &termSub{wake: make(chan struct{})}
	if r := s.replay(); len(r) > 0 {
		sub.pending = append(sub.pending, termJSON(termMessage{Type: "output", Data: termReplayReset + string(r)}))
	}
	s.subs[sub] = struct{}{}
	g.stopTimerLocked(s.idle)
	s.idle = nil
	return sub
}

// unsubscribeLocked removes a connection; a session left without
// connections ends after termIdleTimeout without activity, or at once if
// it is over.
func (s *termSession) unsubscribeLocked(g *Guest, sub *termSub) {
	delete(s.subs, sub)
	s.lastActive = g.clk.Now()
	if len(s.subs) > 0 {
		return
	}
	if s.ended(g) {
		if g.terms[s.id] == s {
			delete(g.terms, s.id)
		}
		return
	}
	s.scheduleIdleLocked(g, termIdleTimeout)
}

func (s *termSession) scheduleIdleLocked(g *Guest, d time.Duration) {
	g.stopTimerLocked(s.idle)
	s.idle = g.afterLocked(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		s.idle = nil
		if len(s.subs) > 0 || s.dead {
			return
		}
		if rest := termIdleTimeout - g.clk.Now().Sub(s.lastActive); rest > 0 {
			s.scheduleIdleLocked(g, rest)
			return
		}
		s.endLocked(g)
		if g.terms[s.id] == s {
			delete(g.terms, s.id)
		}
	})
}

// resizeLocked records the size and shows it in COLUMNS and LINES.
func (s *termSession) resizeLocked(cols, rows int) {
	s.cols, s.rows = cols, rows
	s.env["COLUMNS"] = strconv.Itoa(cols)
	s.env["LINES"] = strconv.Itoa(rows)
}

// emitLocked sends output to every connection and keeps it for replays.
func (s *termSession) emitLocked(g *Guest, out string) {
	if out == "" || s.dead {
		return
	}
	s.lastActive = g.clk.Now()
	s.buf = append(s.buf, out...)
	if len(s.buf) > 2*termReplayCap {
		s.buf = append(s.buf[:0:0], s.replay()...)
	}
	for len(out) > 0 {
		n := min(len(out), termChunk)
		for n < len(out) && n > 0 && !utf8.RuneStart(out[n]) {
			n--
		}
		if n == 0 {
			n = min(len(out), termChunk)
		}
		b := termJSON(termMessage{Type: "output", Data: out[:n]})
		for sub := range s.subs {
			sub.pending = append(sub.pending, b)
			wakeLocked(&sub.wake)
		}
		out = out[n:]
	}
}

// endLocked ends the session: the running command is interrupted, output
// stops and the connections' writers finish.
func (s *termSession) endLocked(g *Guest) {
	if s.dead {
		return
	}
	if s.run != nil {
		s.interruptLocked(g)
	}
	s.dead = true
	g.stopTimerLocked(s.idle)
	s.idle = nil
	for sub := range s.subs {
		wakeLocked(&sub.wake)
	}
}

// inputLocked runs typed input through the simulated line discipline.
func (s *termSession) inputLocked(g *Guest, in []byte) {
	for len(in) > 0 && !s.dead {
		c := in[0]
		size := 1
		if c >= utf8.RuneSelf {
			_, size = utf8.DecodeRune(in)
		}
		ch := in[:size]
		in = in[size:]
		switch s.esc {
		case escStart:
			switch c {
			case '[':
				s.esc = escCSI
			case ']':
				s.esc = escOSC
			default:
				s.esc = escNone
			}
			continue
		case escCSI:
			if c >= 0x40 && c <= 0x7e {
				s.esc = escNone
			}
			continue
		case escOSC:
			switch c {
			case 0x07:
				s.esc = escNone
			case 0x1b:
				s.esc = escOSCEnd
			}
			continue
		case escOSCEnd:
			s.esc = escNone
			if c == '[' {
				s.esc = escCSI
			} else if c == ']' {
				s.esc = escOSC
			}
			continue
		}
		switch c {
		case 0x1b:
			s.esc = escStart
		case '\r', '\n':
			s.emitLocked(g, "\r\n")
			line := string(s.line)
			s.line = nil
			if s.run != nil {
				s.typed = append(s.typed, line)
				continue
			}
			s.runLineLocked(g, line)
		case 0x7f, 0x08:
			if len(s.line) > 0 {
				_, n := utf8.DecodeLastRune(s.line)
				s.line = s.line[:len(s.line)-n]
				s.emitLocked(g, "\b \b")
			}
		case 0x15: // Ctrl-U
			s.emitLocked(g, strings.Repeat("\b \b", utf8.RuneCount(s.line)))
			s.line = nil
		case 0x03: // Ctrl-C
			s.emitLocked(g, "^C\r\n")
			s.line, s.typed = nil, nil
			if s.run != nil {
				s.interruptLocked(g)
			}
			s.emitLocked(g, termPrompt)
		case 0x04: // Ctrl-D
			if len(s.line) == 0 && s.run == nil {
				s.endLocked(g)
			}
		default:
			if c < 0x20 && c != '\t' {
				continue // other control characters do nothing
			}
			s.line = append(s.line, ch...)
			s.emitLocked(g, string(ch))
		}
	}
}

// runLineLocked runs a command line with the guest's shell, then prints
// the prompt and runs the next line typed meanwhile.
func (s *termSession) runLineLocked(g *Guest, line string) {
	for {
		if strings.TrimSpace(line) != "" {
			if !s.startLocked(g, line) {
				return // runs on; its end continues the queue
			}
			if s.dead {
				return
			}
		}
		s.emitLocked(g, termPrompt)
		if len(s.typed) == 0 {
			return
		}
		line = s.typed[0]
		s.typed = s.typed[1:]
	}
}

// startLocked starts a command line. It reports whether the command has
// already finished (then the caller prints the prompt).
func (s *termSession) startLocked(g *Guest, line string) (finished bool) {
	p := &process{
		dir: s.dir, env: s.env, status: statusRunning, run: 1,
		partial: map[string]string{},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	sh := &shell{g: g, p: p, run: 1, dir: s.dir, env: copyEnv(s.env)}
	r := &termRun{p: p, sh: sh, done: make(chan struct{})}
	s.run = r
	var res result
	inline, over := true, false
	sh.runScript(line, func(rs result) {
		s.flushLocked(g, r)
		if s.run != r {
			return // interrupted
		}
		s.run = nil
		p.final = true
		close(r.done)
		s.dir = sh.dir
		res, over = rs, true
		if !inline {
			s.afterRunLocked(g, res)
		}
	})
	inline = false
	if over {
		if res.exit {
			s.endLocked(g)
		}
		return true
	}
	// Output of later steps (sleeps, registered commands) comes from
	// timers and goroutines: forward it as it is written.
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		s.pump(g, r)
	}()
	return false
}

// afterRunLocked continues after a command that finished asynchronously.
func (s *termSession) afterRunLocked(g *Guest, res result) {
	if res.exit {
		s.endLocked(g)
		return
	}
	s.emitLocked(g, termPrompt)
	if len(s.typed) > 0 {
		line := s.typed[0]
		s.typed = s.typed[1:]
		s.runLineLocked(g, line)
	}
}

// pump forwards the output of a running command until it is over, the
// session ends or the guest closes (which interrupts it).
func (s *termSession) pump(g *Guest, r *termRun) {
	for {
		g.mu.Lock()
		s.flushLocked(g, r)
		if g.closed && s.run == r {
			s.endLocked(g)
		}
		changed := r.p.changed
		over := isDone(r.done)
		g.mu.Unlock()
		if over {
			return
		}
		select {
		case <-changed:
		case <-r.done:
		case <-g.closing:
		}
	}
}

// flushLocked sends the output r has written since the last flush.
func (s *termSession) flushLocked(g *Guest, r *termRun) {
	out := r.p.logs.String()[r.sent:]
	r.sent += len(out)
	s.emitLocked(g, strings.ReplaceAll(out, "\n", "\r\n"))
}

// interruptLocked stops the running command: its pending steps never run.
func (s *termSession) interruptLocked(g *Guest) {
	r := s.run
	s.run = nil
	s.flushLocked(g, r)
	p := r.p
	p.run++ // the shell's continuations see that they are stale
	g.stopTimerLocked(p.sleep)
	p.sleep = nil
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.final = true
	close(r.done)
}

// termJSON encodes a message as sandbox-api does, with a newline after
// the JSON.
func termJSON(m termMessage) []byte {
	b, _ := json.Marshal(m)
	return append(b, '\n')
}

// termDim parses a size parameter as the real server does: an unsigned
// 16-bit number, else the default.
func termDim(v string, def uint16) uint16 {
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return def
	}
	return uint16(n)
}

// headerHasToken reports whether a comma-separated header has token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// canHijack reports whether w (or a writer it wraps) can hand over its
// connection, as a WebSocket needs.
func canHijack(w http.ResponseWriter) bool {
	for {
		switch x := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return false
		}
	}
}

// wakeLocked closes *c and replaces it.
func wakeLocked(c *chan struct{}) {
	close(*c)
	*c = make(chan struct{})
}
