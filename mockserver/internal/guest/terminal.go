package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path"
	"slices"
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
// The shell is the guest's simulated one (shell_*.go), interactive as
// dash is when the server starts it as /bin/sh on a pseudo-terminal in
// canonical mode. The line discipline echoes typed characters, lets
// Backspace and Ctrl-U edit the line, turns output line ends into "\r\n",
// and on Ctrl-C echoes ^C, drops what was typed ahead and interrupts the
// command line running in the foreground (background jobs run on). The
// shell prints "# " (root's prompt) and "> " while a command is
// unfinished (an open quote, do without done, a trailing backslash...),
// keeps its state from line to line (directory, variables, functions,
// traps, options, $?), numbers its error messages by the lines it has
// read ("/bin/sh: 3: foo: not found"), returns to the prompt after an
// error, and ends at exit, exec, a failure under set -e, or Ctrl-D on an
// empty line. Lines typed while a command runs wait for it; commands read
// no terminal input. The environment has TERM, COLUMNS and LINES, which
// follow resizes.
//
// Unlike sandbox-api, the simulation sends output in chunks of whole
// characters, never drops output for a slow client, and takes the replay
// and the subscription to live output atomically.

const (
	termReplayCap   = 100 << 10 // output kept per session for replays
	termTrimSearch  = 256       // how far past the cut a trim looks for a line start
	termIdleTimeout = 10 * time.Minute
	termChunk       = 4096 // largest output message, in bytes of output
	termPrompt      = "# " // dash's PS1 for root
	termPrompt2     = "> " // dash's PS2
	termReplayReset = "\x1b[0m"
	termDefaultCols = 80
	termDefaultRows = 24
	termDefaultSh   = "/bin/sh"
	termReadLimit   = 64 << 20
	// termInterrupted is $? after Ctrl-C.
	termInterrupted = 128 + 2
)

// termShells are the shells the simulation knows by base name.
var termShells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true}

// termSession is one terminal session. Guarded by g.mu.
type termSession struct {
	id         string
	boot       int // g.bootID at creation: a restart ends the session
	cols, rows int
	buf        []byte // replay buffer
	subs       map[*termSub]struct{}
	dead       bool
	lastActive time.Time
	idle       *trackedTimer

	proc *process // the shell's process: its output comes here (tty)
	sh   *shell   // the shell, whose state lasts from line to line

	line     []byte   // the line being typed
	typed    []string // lines entered that the shell has not read yet
	read     int      // lines the shell has read
	pending  string   // an unfinished command (the shell prompts "> ")
	first    int      // the number of its first line
	fg       *flow    // the command line running in the foreground
	starting bool     // startLocked is running fg: it reads the next line
	esc      escState
	started  bool // the first prompt has been printed
}

// termSub is one connection's queue of messages to send.
type termSub struct {
	pending [][]byte
	wake    chan struct{} // closed and replaced when pending grows or the session ends
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
	if g.termReader(ctx, conn, s) {
		<-writerDone // what the shell wrote last goes out before the close
	}
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
// after the session has ended, a message arrives (then it reports true).
func (g *Guest) termReader(ctx context.Context, conn *websocket.Conn, s *termSession) (ended bool) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return false
		}
		var msg termMessage
		if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil {
			continue
		}
		g.mu.Lock()
		if s.ended(g) {
			g.mu.Unlock()
			return true
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
		if isDone(boot) || isDone(closing) {
			_ = conn.CloseNow()
			return
		}
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
		case <-closing:
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
	if shellPath == "" {
		shellPath = termDefaultSh
	}
	abs := g.cfg.WorkDir
	if dir != "" {
		abs = g.abs(dir)
		if n, err := g.lookupLocked(abs); err != nil || !n.dir {
			return nil, false, "fork/exec " + shellPath + ": no such file or directory"
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
		id: id, boot: g.bootID,
		subs:       map[*termSub]struct{}{},
		lastActive: g.clk.Now(),
	}
	s.proc = &process{
		g: g, pid: g.newPIDLocked(), command: shellPath, absDir: abs, env: env,
		changed: make(chan struct{}), done: make(chan struct{}),
		writers: map[*procWriter]struct{}{}, cmds: map[*Cmd]struct{}{},
		tty: func(b []byte) { s.emitLocked(g, strings.ReplaceAll(string(b), "\n", "\r\n")) },
	}
	s.sh = g.newTopShell(&flow{p: s.proc, done: true}, abs, env)
	s.sh.name = shellPath // the shell's argv[0]
	s.resizeLocked(int(cols), int(rows))
	g.terms[id] = s
	return s, true, ""
}

// endTerminalsLocked ends every session: the server instance goes away.
func (g *Guest) endTerminalsLocked() {
	for id, s := range g.terms {
		s.endLocked(g)
		delete(g.terms, id)
	}
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
	for k, v := range map[string]int{"COLUMNS": cols, "LINES": rows} {
		s.sh.vars[k] = strconv.Itoa(v)
		s.sh.exported[k] = true
	}
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

// endLocked ends the session: the shell and everything it runs are
// killed, output stops and the connections' writers finish.
func (s *termSession) endLocked(g *Guest) {
	if s.dead {
		return
	}
	s.dead = true
	s.fg = nil
	g.signalLocked(s.proc, false)
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
			s.typed = append(s.typed, string(s.line))
			s.line = nil
			s.readLocked(g)
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
			s.line, s.typed, s.pending = nil, nil, ""
			if s.fg != nil {
				s.interruptLocked(g)
			}
			s.sh.status = termInterrupted
			s.emitLocked(g, termPrompt)
		case 0x04: // Ctrl-D
			if len(s.line) == 0 && s.fg == nil && len(s.typed) == 0 {
				s.eofLocked(g)
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

// readLocked lets the shell read the lines entered while it was busy,
// until one starts a command that takes time.
func (s *termSession) readLocked(g *Guest) {
	for s.fg == nil && !s.dead && len(s.typed) > 0 {
		line := s.typed[0]
		s.typed = s.typed[1:]
		s.read++
		src := line
		if s.pending != "" {
			src = s.pending + "\n" + line
		} else {
			s.first = s.read
		}
		l, err := parseScriptAt(src+"\n", s.first)
		if err == nil && !continued(line) || err != nil && !unfinished(err) {
			s.pending = ""
		} else {
			s.pending = src
			s.emitLocked(g, termPrompt2)
			continue
		}
		if err != nil {
			// dash drops the rest of its input buffer: the line's
			// newline is not counted.
			s.read--
			se := err.(*syntaxError)
			s.sh.line = se.line
			s.sh.errorf("Syntax error: %s", se.msg)
			s.sh.status = 2
			s.emitLocked(g, termPrompt)
			continue
		}
		if len(l.items) == 0 {
			s.emitLocked(g, termPrompt)
			continue
		}
		s.startLocked(g, l)
	}
}

// eofLocked is Ctrl-D at the start of a line: the shell reads the end of
// its input. In the middle of a command that is a syntax error; otherwise
// the shell exits as exit would (EXIT trap included), after a newline.
func (s *termSession) eofLocked(g *Guest) {
	if s.pending != "" {
		_, err := parseScriptAt(s.pending+"\n", s.first)
		s.pending = ""
		if se, ok := err.(*syntaxError); ok {
			s.sh.line = se.line
			s.sh.errorf("Syntax error: %s", se.msg)
			s.sh.status = 2
		}
		s.emitLocked(g, termPrompt)
		return
	}
	s.emitLocked(g, "\r\n")
	l, _ := parseScript("exit")
	s.startLocked(g, l)
}

// continued reports whether a line ends with an unquoted backslash: the
// command goes on on the next line.
func continued(line string) bool {
	n := len(line) - len(strings.TrimRight(line, `\`))
	return n%2 == 1
}

// unfinished reports whether a syntax error means that the command line
// stopped in the middle of a command: an interactive shell then reads
// more lines.
func unfinished(err error) bool {
	se, ok := err.(*syntaxError)
	if !ok {
		return false
	}
	return strings.HasPrefix(se.msg, "end of file unexpected") ||
		se.msg == "Unterminated quoted string" || se.msg == "EOF in backquote substitution"
}

// startLocked runs a command line in the session's shell, in a coroutine
// of the shell's process. When it has finished, the shell prints the
// prompt and reads the next line.
func (s *termSession) startLocked(g *Guest, l *list) {
	p, sh := s.proc, s.sh
	p.flows = slices.DeleteFunc(p.flows, func(f *flow) bool { return f.done })
	f := &flow{p: p}
	p.flows = append(p.flows, f)
	sh.f = f
	s.fg = f
	s.starting = true
	startCoroutineLocked(func(co *coroutine) {
		f.co = co
		exit, finished := false, false
		defer func() {
			f.done = true
			f.status = sh.status
			for _, fn := range f.onDone {
				fn()
			}
			if finished {
				s.lineDoneLocked(g, f, exit)
			}
		}()
		exit = sh.runInteractive(l)
		finished = true
	})
	s.starting = false
}

// lineDoneLocked follows the end of the command line f: the shell exits,
// or prompts and reads on (unless startLocked is still running f, which
// reads on itself).
func (s *termSession) lineDoneLocked(g *Guest, f *flow, exit bool) {
	if s.fg != f {
		return // interrupted, or the session ended
	}
	s.fg = nil
	if exit {
		s.endLocked(g)
		return
	}
	s.emitLocked(g, termPrompt)
	if !s.starting {
		s.readLocked(g)
	}
}

// interruptLocked is SIGINT to the foreground: the command line running
// is abandoned where it is; its registered commands see ctx canceled.
func (s *termSession) interruptLocked(g *Guest) {
	f := s.fg
	s.fg = nil
	for c := range s.proc.cmds {
		if c.f == f {
			c.signalLocked(false)
		}
	}
	f.co.signalLocked(wakeKill)
}

// runInteractive runs one command line as an interactive shell does: in
// the shell itself (no exec of the last command), an error returns to the
// prompt, and only exit, exec or set -e end the shell, after its EXIT
// trap. It reports whether the shell has ended.
func (sh *shell) runInteractive(l *list) (exit bool) {
	sh.cond, sh.depth = 0, 0 // left over by a line that was interrupted
	sh.execPos, sh.termSeen, sh.sigDied = false, false, false
	sh.f.shells = append(sh.f.shells, sh)
	defer func() {
		sh.f.shells = sh.f.shells[:len(sh.f.shells)-1]
	}()
	defer func() {
		switch v := recover().(type) {
		case nil:
		case exitSignal:
			sh.status = v.code
			if sh.exiting {
				sh.status = sh.runExitTrap(v.code)
				exit = true
			}
		case shellDeath:
			sh.status, exit = v.status, true
		case returnSignal:
			sh.status = v.code
		case loopSignal:
		default:
			panic(v)
		}
	}()
	sh.runList(l, false)
	return false
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

// wakeLocked closes *c and replaces it.
func wakeLocked(c *chan struct{}) {
	close(*c)
	*c = make(chan struct{})
}
