package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Terminal defaults.
const (
	// DefaultTerminalDialTimeout bounds each connection attempt of a
	// [Terminal]: the WebSocket handshake and, on a reconnection, the
	// wait for the server's replay.
	DefaultTerminalDialTimeout = 30 * time.Second
	// DefaultTerminalKeepAlive is the interval of a [Terminal]'s pings; a
	// ping unanswered within the interval drops the connection (and the
	// terminal reconnects).
	DefaultTerminalKeepAlive = 30 * time.Second
	// DefaultTerminalMaxMessage bounds one message from the server. The
	// largest the real server sends is a replay: up to 100 KiB of output,
	// up to six times that once JSON-escaped.
	DefaultTerminalMaxMessage = 4 << 20
)

// Terminal timings that are not options.
const (
	// termWriteTimeout bounds the sending of one message.
	termWriteTimeout = 30 * time.Second
	// termProbeDelay: this long after the last input (and after each
	// connection is made) the terminal sends an empty input message. The
	// real server notices that its shell has exited only when a message
	// arrives; it then drops the connection without a close frame.
	termProbeDelay = time.Second
	// termEndWindow: a connection the server ends cleanly (EOF, no close
	// frame) within this time after the terminal sent a message was ended
	// because the shell has exited.
	termEndWindow = 2 * time.Second
	// termOutputLimit is how much unread output a Terminal holds before it
	// stops reading from the connection.
	termOutputLimit = 1 << 20
	// termInputChunk bounds the input sent in one message.
	termInputChunk = 16 << 10
	// maxSessionID bounds the length of a session id.
	maxSessionID = 256
)

// Errors of a [Terminal].
var (
	// ErrTerminalEnded is returned by [Terminal.Write] and
	// [Terminal.Resize] once the session has ended (its shell exited) or
	// the terminal was closed. [Terminal.Read] returns io.EOF instead.
	ErrTerminalEnded = errors.New("sandboxkit: terminal ended")
	// ErrTerminalLost ends a [Terminal] that could not get back to its
	// session after the connection dropped: the reconnection attempts
	// failed, or the session had ended meanwhile and the server started a
	// new shell under the same id (which the terminal does not use).
	ErrTerminalLost = errors.New("sandboxkit: terminal session lost")
)

// TerminalServerError is an error the server reported on the terminal
// connection, such as a shell or working directory that does not exist
// ("fork/exec /bin/fish: no such file or directory").
type TerminalServerError struct {
	// Message is the server's text.
	Message string
}

// Error returns e.g. "sandboxkit: terminal: fork/exec /bin/fish: no such
// file or directory".
func (e *TerminalServerError) Error() string { return "sandboxkit: terminal: " + e.Message }

// TerminalOptions configures [Client.Terminal]. The zero value (or nil)
// opens a new session with the server's shell, size and directory.
type TerminalOptions struct {
	// Cols and Rows are the initial size of the terminal, both or
	// neither, each 1 to 65535. Zero leaves the size to the server (80×24
	// on sandbox-api).
	Cols, Rows int
	// Shell is the program to run, e.g. "/bin/bash". Empty: the server's
	// choice ($SHELL, else zsh, bash, sh on sandbox-api).
	Shell string
	// WorkingDir is the directory the shell starts in. Empty: the
	// server's working directory.
	WorkingDir string
	// SessionID names the session. A terminal opened with the id of a
	// session that is still running attaches to it: the shell, size and
	// directory of the options are then ignored, and the session's recent
	// output (up to 100 KiB on sandbox-api) is read first. Empty: a new
	// unique id ([Terminal.SessionID] tells it). The server's own default,
	// "default", is never used implicitly, so two programs do not share a
	// shell by accident.
	SessionID string
	// DialTimeout bounds each connection attempt
	// ([DefaultTerminalDialTimeout] if zero).
	DialTimeout time.Duration
	// KeepAlive is the interval of pings ([DefaultTerminalKeepAlive] if
	// zero, negative: no pings). A ping unanswered within the interval
	// drops the connection. Each ping also probes whether the shell has
	// exited (see [Terminal]).
	KeepAlive time.Duration
	// MaxReconnects is how many times in a row the terminal tries to
	// reconnect after its connection dropped ([DefaultMaxReconnects] if
	// zero; negative: never). A successful reconnection resets the count.
	MaxReconnects int
	// ReconnectDelay is the first pause before reconnecting (250ms if
	// zero); it doubles with each failed attempt up to 5s.
	ReconnectDelay time.Duration
	// MaxMessageSize bounds one message from the server in bytes
	// ([DefaultTerminalMaxMessage] if zero).
	MaxMessageSize int64
}

func (o *TerminalOptions) withDefaults() (TerminalOptions, error) {
	var out TerminalOptions
	if o != nil {
		out = *o
	}
	bad := func(field, value, reason string) (TerminalOptions, error) {
		return out, &sandboxkit.ValidationError{Field: field, Value: value, Reason: reason}
	}
	switch {
	case (out.Cols == 0) != (out.Rows == 0):
		return bad("Cols", fmt.Sprintf("%dx%d", out.Cols, out.Rows), "give both Cols and Rows, or neither")
	case out.Cols < 0 || out.Cols > 65535:
		return bad("Cols", strconv.Itoa(out.Cols), "must be between 1 and 65535")
	case out.Rows < 0 || out.Rows > 65535:
		return bad("Rows", strconv.Itoa(out.Rows), "must be between 1 and 65535")
	case strings.ContainsRune(out.Shell, 0):
		return bad("Shell", out.Shell, "must not contain a NUL byte")
	case strings.ContainsRune(out.WorkingDir, 0):
		return bad("WorkingDir", out.WorkingDir, "must not contain a NUL byte")
	case len(out.SessionID) > maxSessionID:
		return bad("SessionID", out.SessionID[:32]+"...", "longer than "+strconv.Itoa(maxSessionID)+" bytes")
	case strings.ContainsFunc(out.SessionID, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }):
		return bad("SessionID", out.SessionID, "must be printable UTF-8")
	case out.DialTimeout < 0:
		return bad("DialTimeout", out.DialTimeout.String(), "must not be negative")
	case out.ReconnectDelay < 0:
		return bad("ReconnectDelay", out.ReconnectDelay.String(), "must not be negative")
	case out.MaxMessageSize < 0:
		return bad("MaxMessageSize", strconv.FormatInt(out.MaxMessageSize, 10), "must not be negative")
	}
	if out.SessionID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		out.SessionID = "sandboxkit-" + hex.EncodeToString(b[:])
	}
	if out.DialTimeout == 0 {
		out.DialTimeout = DefaultTerminalDialTimeout
	}
	switch {
	case out.KeepAlive == 0:
		out.KeepAlive = DefaultTerminalKeepAlive
	case out.KeepAlive < 0:
		out.KeepAlive = 0
	}
	switch {
	case out.MaxReconnects == 0:
		out.MaxReconnects = DefaultMaxReconnects
	case out.MaxReconnects < 0:
		out.MaxReconnects = 0
	}
	if out.ReconnectDelay == 0 {
		out.ReconnectDelay = poll.DefaultMinDelay
	}
	if out.MaxMessageSize == 0 {
		out.MaxMessageSize = DefaultTerminalMaxMessage
	}
	return out, nil
}

// TerminalOpener opens interactive terminals.
type TerminalOpener interface {
	// Terminal opens a terminal session; see [Client.Terminal].
	Terminal(ctx context.Context, opts *TerminalOptions) (*Terminal, error)
}

var _ TerminalOpener = (*Client)(nil)

// Terminal opens an interactive terminal: a shell on a pseudo-terminal
// inside the sandbox, reached over a WebSocket. It returns once the
// connection is made; the shell's output is then read from the
// [Terminal] and input written to it, so io.Copy works both ways (see the
// [Terminal] documentation, and examples/terminal for a local terminal in
// raw mode attached to it).
//
// ctx bounds the whole life of the terminal: when it ends, the terminal
// closes. Each connection attempt is bounded by
// [TerminalOptions.DialTimeout]; a connected terminal has no overall
// timeout, only the keepalive of [TerminalOptions.KeepAlive]. The request
// goes to the client's base URL with its credentials, through its HTTP
// client (retries of the handshake, redirect rules and all). A sandbox
// whose server has no terminal (sandbox-api with DISABLE_TERMINAL set)
// answers 404: the error matches sandboxkit.ErrNotFound.
//
// GET /terminal/ws
func (c *Client) Terminal(ctx context.Context, opts *TerminalOptions) (*Terminal, error) {
	const op = "Terminal"
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	t := &Terminal{
		c: c, opts: o, parent: ctx, ctx: tctx, cancel: cancel,
		done:     make(chan struct{}),
		cols:     o.Cols,
		rows:     o.Rows,
		outWake:  make(chan struct{}),
		roomWake: make(chan struct{}),
		connWake: make(chan struct{}),
		wrote:    make(chan struct{}, 1),
	}
	conn, err := t.dial(true)
	if err != nil {
		cancel(nil)
		return nil, wrap(ctx, op, err)
	}
	t.setConn(conn)
	go t.run(conn)
	return t, nil
}

// Terminal is an interactive shell session inside the sandbox, opened by
// [Client.Terminal]. Its methods are safe for concurrent use; Read is
// meant for one reader.
//
// Read returns the shell's output as the server sends it (bytes for a
// terminal emulator: escape sequences, "\r\n" line ends); Write sends
// input (keystrokes: "\r" is Enter, "\x03" is Ctrl-C); Resize changes the
// size. The terminal reads from its connection in a goroutine of its own,
// also while nobody calls Read, and holds up to 1 MiB of unread output
// before it stops reading; it ends with [Terminal.Close] or the context
// it was opened with, and leaves no goroutine behind.
//
// # Reconnection
//
// When the connection drops, the terminal reconnects to the same session
// ([TerminalOptions.MaxReconnects] times in a row at most, with a growing
// pause) and carries on; Read and Write wait meanwhile. The server keeps
// a session running without clients (on sandbox-api, for 10 minutes) and
// replays its recent output to every client that attaches; the terminal
// delivers only the part of the replay it has not delivered before (see
// below), so the output read is the session's output once, in order.
// Limits, all from the server's protocol, which numbers nothing and
// acknowledges nothing:
//
//   - Output is replayed from the server's buffer of the session's last
//     100 KiB: of more output written while the terminal was away, only
//     the end arrives.
//   - The terminal lines the replay up with the output it has delivered
//     by content; a replay of the same lines over and over (a loop
//     printing the same text) may line up at the wrong place, and then
//     output is skipped, never repeated.
//   - Input written just before a connection dropped may have been lost
//     with it. Input whose sending failed is sent again on the new
//     connection (a message that did not go out whole never reached the
//     shell).
//   - sandbox-api drops live output for a client whose connection does
//     not keep up (64 chunks pending), and, in a narrow race at the moment
//     a client attaches, may send one chunk both in the replay and live.
//     It also closes the pseudo-terminal as soon as the shell exits, so
//     output written just before (echo done; exit) is sometimes lost.
//
// When the shell has exited, sandbox-api keeps the connection open and
// silent until the client sends something, then closes it without a
// close frame; the terminal therefore sends an empty input message a
// second after each input and on every keepalive, and takes such a close
// that follows one of its messages within two seconds as the end of the
// session: Read then returns io.EOF. A reconnection that finds a new shell
// under the session id (the old one ended while the terminal was away)
// ends the terminal with [ErrTerminalLost]. That new shell stays on the
// server until its idle timeout.
//
// The protocol carries text: input and output are UTF-8. Input bytes that
// are not UTF-8 reach the shell as U+FFFD; a character split across two
// Writes is sent whole. Output bytes that are not UTF-8, including a
// character the server cut between two chunks, are read as U+FFFD.
type Terminal struct {
	c      *Client
	opts   TerminalOptions
	parent context.Context // the caller's, for errors
	ctx    context.Context // the terminal's life
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when run has returned

	wmu  sync.Mutex // serializes Write: input stays in order
	held []byte     // the start of a UTF-8 sequence the next Write may complete

	wrote chan struct{} // a message was sent: (re)arm the end probe

	mu         sync.Mutex
	out        []byte        // output not read yet
	outWake    chan struct{} // closed when out grows or the terminal ends
	roomWake   chan struct{} // closed when Read takes from out
	conn       *websocket.Conn
	connWake   chan struct{} // closed when conn is set or the terminal ends
	cols, rows int           // the size asked for last (0: the server's)
	connSize   [2]int        // the size conn was opened or last resized with
	hist       termHistory
	lastSent   time.Time // when a message last went out
	ended      bool
	endErr     error // nil: the session ended or the terminal was closed (Read returns io.EOF)
}

// SessionID returns the id of the session, for attaching to it again
// ([TerminalOptions.SessionID]).
func (t *Terminal) SessionID() string { return t.opts.SessionID }

// Read reads output of the session. It blocks until there is some, and
// returns io.EOF once the session has ended or the terminal was closed
// and all output received before has been read. When the terminal ended
// for another reason (the context ended, the session was lost, the server
// reported an error), Read returns that error instead of io.EOF.
func (t *Terminal) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		t.mu.Lock()
		if len(t.out) > 0 {
			n := copy(p, t.out)
			t.out = t.out[n:]
			if len(t.out) == 0 {
				t.out = nil
			}
			wakeLocked(&t.roomWake)
			t.mu.Unlock()
			return n, nil
		}
		if t.ended {
			err := t.endErr
			t.mu.Unlock()
			if err == nil {
				return 0, io.EOF
			}
			return 0, err
		}
		wake := t.outWake
		t.mu.Unlock()
		<-wake
	}
}

// Write sends p to the shell as typed input. It returns len(p) once the
// input has been handed to the connection (nothing tells whether the shell
// has read it), waiting for a reconnection if the connection is down. It
// fails with [ErrTerminalEnded] once the terminal has ended, or with the
// error that ended it.
func (t *Terminal) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.usable(); err != nil {
		return 0, err
	}
	data := append(t.held, p...)
	cut := utf8Split(data)
	t.held = append([]byte(nil), data[cut:]...)
	data = data[:cut]
	for len(data) > 0 {
		n := min(len(data), termInputChunk)
		for n < len(data) && n > 0 && !utf8.RuneStart(data[n]) {
			n--
		}
		if n == 0 {
			n = min(len(data), termInputChunk)
		}
		msg, _ := json.Marshal(termMessage{Type: "input", Data: string(data[:n])})
		if err := t.send(msg); err != nil {
			return 0, err
		}
		data = data[n:]
	}
	select {
	case t.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Resize changes the size of the terminal (columns and rows, each 1 to
// 65535). The size is also sent again with every reconnection. It fails
// with [ErrTerminalEnded] once the terminal has ended.
func (t *Terminal) Resize(cols, rows int) error {
	if cols < 1 || cols > 65535 || rows < 1 || rows > 65535 {
		return wrap(t.parent, "Terminal.Resize", &sandboxkit.ValidationError{Field: "size", Value: fmt.Sprintf("%dx%d", cols, rows), Reason: "columns and rows must be between 1 and 65535"})
	}
	if err := t.usable(); err != nil {
		return err
	}
	t.mu.Lock()
	t.cols, t.rows = cols, rows
	conn := t.conn
	t.mu.Unlock()
	if conn != nil {
		t.sendResize(conn, cols, rows)
	}
	return nil
}

// Close ends the terminal: it closes the connection and stops its
// goroutines. The session itself keeps running on the server (until its
// shell exits or the server's idle timeout, 10 minutes on sandbox-api) and
// can be attached again with its [Terminal.SessionID]; to end the shell,
// write "exit\r" first. Output received before Close can still be read;
// then Read returns io.EOF. Close may be called more than once.
func (t *Terminal) Close() error {
	t.cancel(errTerminalClosed)
	<-t.done
	return nil
}

// errTerminalClosed is the cause of the context of a closed terminal.
var errTerminalClosed = errors.New("terminal closed")

// usable returns nil while the terminal has not ended.
func (t *Terminal) usable() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ended {
		return nil
	}
	if t.endErr != nil {
		return t.endErr
	}
	return wrap(t.parent, "Terminal", ErrTerminalEnded)
}

// termMessage is a message of the terminal protocol.
type termMessage struct {
	Type string `json:"type"`
	Data string `json:"data,omitempty"`
	Cols int    `json:"cols,omitempty"`
	Rows int    `json:"rows,omitempty"`
}

// url returns the WebSocket URL (http or https) of the session with the
// given size (0 leaves it to the server).
func (t *Terminal) url(cols, rows int) string {
	q := url.Values{}
	if cols > 0 && rows > 0 {
		q.Set("cols", strconv.Itoa(cols))
		q.Set("rows", strconv.Itoa(rows))
	}
	if t.opts.Shell != "" {
		q.Set("shell", t.opts.Shell)
	}
	if t.opts.WorkingDir != "" {
		q.Set("workingDir", t.opts.WorkingDir)
	}
	q.Set("sessionId", t.opts.SessionID)
	u := t.c.cfg.BaseURL()
	u.Path = strings.TrimSuffix(u.Path, "/") + "/terminal/ws"
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return u.String()
}

// dial opens a connection with the current size. The first connection's
// handshake is retried by the client's transport like any request; a
// reconnection's is not (retry false), reconnect has its own loop.
func (t *Terminal) dial(retry bool) (*websocket.Conn, error) {
	t.mu.Lock()
	cols, rows := t.cols, t.rows
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.DialTimeout)
	defer cancel()
	ctx = glue.Streaming(ctx)
	if !retry {
		ctx = glue.WithoutRetries(ctx)
	}
	conn, _, err := websocket.Dial(ctx, t.url(cols, rows), &websocket.DialOptions{
		HTTPClient: t.c.cfg.HTTPClient(),
	})
	if err != nil {
		if cerr := context.Cause(t.ctx); cerr != nil {
			return nil, t.ctxErr()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no connection within %v (see TerminalOptions.DialTimeout): %w", t.opts.DialTimeout, err)
		}
		return nil, err
	}
	conn.SetReadLimit(t.opts.MaxMessageSize)
	t.mu.Lock()
	t.connSize = [2]int{cols, rows}
	t.mu.Unlock()
	return conn, nil
}

// ctxErr is the error of a terminal whose context ended: the context's
// own error, or ErrTerminalEnded after Close.
func (t *Terminal) ctxErr() error {
	if errors.Is(context.Cause(t.ctx), errTerminalClosed) {
		return ErrTerminalEnded
	}
	return t.ctx.Err()
}

// setConn makes conn the connection input goes to, and sends the size if
// it changed since conn was opened.
func (t *Terminal) setConn(conn *websocket.Conn) {
	t.mu.Lock()
	t.conn = conn
	wakeLocked(&t.connWake)
	cols, rows, sent := t.cols, t.rows, t.connSize
	t.mu.Unlock()
	if cols > 0 && (sent != [2]int{cols, rows}) {
		t.sendResize(conn, cols, rows)
	}
}

// sendResize sends a resize message; a failure drops the connection (the
// reconnection carries the size).
func (t *Terminal) sendResize(conn *websocket.Conn, cols, rows int) {
	msg, _ := json.Marshal(termMessage{Type: "resize", Cols: cols, Rows: rows})
	if err := t.writeConn(conn, msg); err != nil {
		t.dropConn(conn)
		return
	}
	t.mu.Lock()
	if t.conn == conn {
		t.connSize = [2]int{cols, rows}
	}
	t.mu.Unlock()
}

// send sends one message on the current connection, waiting for one if
// there is none, and sends it again on the next connection if sending
// fails.
func (t *Terminal) send(msg []byte) error {
	for {
		conn, err := t.waitConn()
		if err != nil {
			return err
		}
		if err := t.writeConn(conn, msg); err == nil {
			return nil
		}
		t.dropConn(conn)
	}
}

// writeConn writes one text message with the write timeout.
func (t *Terminal) writeConn(conn *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(t.ctx, termWriteTimeout)
	defer cancel()
	err := conn.Write(ctx, websocket.MessageText, msg)
	if err == nil {
		t.mu.Lock()
		t.lastSent = time.Now()
		t.mu.Unlock()
	}
	return err
}

// waitConn returns the current connection, waiting while there is none.
func (t *Terminal) waitConn() (*websocket.Conn, error) {
	for {
		t.mu.Lock()
		conn, ended, wake := t.conn, t.ended, t.connWake
		t.mu.Unlock()
		if ended {
			return nil, t.usable()
		}
		if conn != nil {
			return conn, nil
		}
		<-wake
	}
}

// dropConn closes conn after a failed write; the reader then reconnects.
func (t *Terminal) dropConn(conn *websocket.Conn) {
	t.mu.Lock()
	if t.conn == conn {
		t.conn = nil
	}
	t.mu.Unlock()
	_ = conn.CloseNow()
}

// finish ends the terminal with err (nil: the session ended normally).
func (t *Terminal) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.ended, t.endErr, t.conn = true, err, nil
	wakeLocked(&t.outWake)
	wakeLocked(&t.connWake)
	wakeLocked(&t.roomWake)
}

// wakeLocked closes *c and replaces it.
func wakeLocked(c *chan struct{}) {
	close(*c)
	*c = make(chan struct{})
}

// run owns the connection: it reads it, keeps it alive, and reconnects
// when it drops, until the session ends or the terminal is closed.
func (t *Terminal) run(conn *websocket.Conn) {
	defer close(t.done)
	defer t.cancel(nil)
	first := true // a replay may open the first connection: deliver it whole
	for {
		end, err := t.serve(conn, first)
		_ = conn.CloseNow()
		t.mu.Lock()
		if t.conn == conn {
			t.conn = nil
		}
		t.mu.Unlock()
		if t.ctx.Err() != nil {
			t.finishCtx()
			return
		}
		if end {
			t.finish(err)
			return
		}
		conn, err = t.reconnect(err)
		switch {
		case t.ctx.Err() != nil:
			if conn != nil {
				_ = conn.CloseNow()
			}
			t.finishCtx()
			return
		case err != nil:
			t.finish(err)
			return
		}
		// Nothing delivered yet: the first message may be a replay to
		// deliver whole.
		t.mu.Lock()
		first = t.hist.seen == 0
		t.mu.Unlock()
	}
}

// finishCtx ends a terminal whose context ended.
func (t *Terminal) finishCtx() {
	if errors.Is(context.Cause(t.ctx), errTerminalClosed) {
		t.finish(nil)
		return
	}
	t.finish(wrap(t.parent, "Terminal", t.ctx.Err()))
}

// serve reads conn until it fails. end reports that the terminal is over
// (err nil: the session ended normally); otherwise err is why the
// connection dropped and the terminal reconnects.
func (t *Terminal) serve(conn *websocket.Conn, first bool) (end bool, err error) {
	ctx, cancel := context.WithCancel(t.ctx)
	var pinger sync.WaitGroup
	reading := &readState{}
	pinger.Go(func() { t.keepAlive(ctx, conn, reading) })
	defer pinger.Wait()
	defer cancel() // first: stops the pinger
	for {
		reading.set(true)
		typ, data, err := conn.Read(ctx)
		reading.set(false)
		if err != nil {
			return t.classify(err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var msg termMessage
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		switch msg.Type {
		case "output":
			out := []byte(msg.Data)
			if first {
				out = bytes.TrimPrefix(out, []byte(replayPrefix))
			}
			first = false
			if !t.deliver(ctx, out) {
				return false, ctx.Err()
			}
		case "error":
			return true, wrap(t.parent, "Terminal", &TerminalServerError{Message: msg.Data})
		}
	}
}

// classify decides what the end of a connection means.
func (t *Terminal) classify(err error) (end bool, _ error) {
	if t.ctx.Err() != nil {
		return true, err
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure:
		return true, nil
	case -1:
	default:
		return false, err
	}
	if errors.Is(err, io.EOF) {
		t.mu.Lock()
		recent := time.Since(t.lastSent) <= termEndWindow
		t.mu.Unlock()
		if recent {
			return true, nil
		}
	}
	return false, err
}

// readState tells the pinger whether the reader is waiting for the server
// (a pong can then arrive) or for room in the output buffer.
type readState struct {
	mu      sync.Mutex
	reading bool
}

func (r *readState) set(v bool) {
	r.mu.Lock()
	r.reading = v
	r.mu.Unlock()
}

func (r *readState) get() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reading
}

// keepAlive sends the end probe termProbeDelay after the connection is
// made and after each input, and pings the connection at the keepalive
// interval. It returns when ctx ends.
func (t *Terminal) keepAlive(ctx context.Context, conn *websocket.Conn, reading *readState) {
	probe := time.NewTimer(termProbeDelay)
	defer probe.Stop()
	var tick <-chan time.Time
	if t.opts.KeepAlive > 0 {
		tk := time.NewTicker(t.opts.KeepAlive)
		defer tk.Stop()
		tick = tk.C
	}
	probeMsg, _ := json.Marshal(termMessage{Type: "input"})
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wrote:
			probe.Reset(termProbeDelay)
		case <-probe.C:
			if t.writeConn(conn, probeMsg) != nil {
				t.dropConn(conn)
				return
			}
		case <-tick:
			if !reading.get() {
				continue // Read is behind: the reader is not reading pongs
			}
			pctx, cancel := context.WithTimeout(ctx, t.opts.KeepAlive)
			err := conn.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil || t.writeConn(conn, probeMsg) != nil {
				t.dropConn(conn)
				return
			}
		}
	}
}

// deliver hands output to Read, waiting while too much is unread. It
// returns false if ctx ended first.
func (t *Terminal) deliver(ctx context.Context, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.out) >= termOutputLimit {
		wake := t.roomWake
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			t.mu.Lock()
			return false
		}
		t.mu.Lock()
	}
	t.out = append(t.out, p...)
	t.hist.add(p)
	wakeLocked(&t.outWake)
	return true
}

// reconnect opens a new connection to the session after the last one
// dropped with cause, and lines up the server's replay with the output
// delivered so far. When the terminal's context ends, run looks at that
// rather than at the result.
func (t *Terminal) reconnect(cause error) (*websocket.Conn, error) {
	delay := t.opts.ReconnectDelay
	for attempt := 1; ; attempt++ {
		if attempt > t.opts.MaxReconnects {
			return nil, wrap(t.parent, "Terminal", fmt.Errorf("%w: %d reconnection attempts failed: %w", ErrTerminalLost, attempt-1, cause))
		}
		if err := sleepCtx(t.ctx, delay); err != nil {
			return nil, t.ctx.Err()
		}
		delay = min(2*delay, poll.DefaultMaxDelay)
		conn, err := t.dial(false)
		if err != nil {
			if t.ctx.Err() != nil {
				return nil, t.ctx.Err()
			}
			if !retryableDial(err) {
				return nil, wrap(t.parent, "Terminal", fmt.Errorf("%w: %w", ErrTerminalLost, err))
			}
			cause = err
			continue
		}
		fatal, err := t.resume(conn)
		if err == nil {
			return conn, nil
		}
		_ = conn.CloseNow()
		switch {
		case t.ctx.Err() != nil:
			return nil, t.ctx.Err()
		case fatal:
			return nil, err
		}
		cause = err
	}
}

// retryableDial reports whether a failed connection attempt may succeed
// later: a transport failure or a 5xx/429, not an answer such as 404.
func retryableDial(err error) bool {
	if _, ok := errors.AsType[*sandboxkit.APIError](err); ok {
		return sandboxkit.IsTransient(err)
	}
	return true
}

// resume reads the first message of a new connection to the session. If
// output has been delivered before, it must be the server's replay: the
// part not delivered yet is delivered, and the connection becomes the
// current one. A first message that cannot come from the same session
// gives ErrTerminalLost. fatal reports an error that ends the terminal
// (ErrTerminalLost, an error from the server); other errors are failures
// of this attempt.
func (t *Terminal) resume(conn *websocket.Conn) (fatal bool, err error) {
	t.mu.Lock()
	seen := t.hist.seen
	t.mu.Unlock()
	for seen > 0 {
		ctx, cancel := context.WithTimeout(t.ctx, t.opts.DialTimeout)
		typ, data, err := conn.Read(ctx)
		cancel()
		if err != nil {
			return false, fmt.Errorf("no replay of the session: %w", err)
		}
		var msg termMessage
		if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil {
			continue
		}
		switch msg.Type {
		case "error":
			return true, wrap(t.parent, "Terminal", &TerminalServerError{Message: msg.Data})
		case "output":
		default:
			continue
		}
		replay, isReplay := bytes.CutPrefix([]byte(msg.Data), []byte(replayPrefix))
		t.mu.Lock()
		skip, same := t.hist.resume(replay)
		t.mu.Unlock()
		if !isReplay || !same {
			return true, wrap(t.parent, "Terminal", fmt.Errorf("%w: the session ended while the terminal was disconnected, and the server started a new shell under its id", ErrTerminalLost))
		}
		if !t.deliver(t.ctx, replay[skip:]) {
			return true, t.ctx.Err()
		}
		break
	}
	t.setConn(conn)
	return false, nil
}
