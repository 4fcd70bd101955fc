package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-faster/jx"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// ProcessEventType tells the kinds of [ProcessEvent] apart.
type ProcessEventType string

// Kinds of process events. Keepalives are never shown.
const (
	// EventStdout and EventStderr carry one line of output.
	EventStdout ProcessEventType = "stdout"
	EventStderr ProcessEventType = "stderr"
	// EventResult carries the process once it has ended; it is the last
	// event of a stream that ends normally.
	EventResult ProcessEventType = "result"
	// EventError carries an error the server reported in the stream (the
	// command could not be started, the process is unknown, ...). Output
	// the server sends after it is still delivered, not dropped.
	EventError ProcessEventType = "error"
)

// ProcessEvent is one event of a process stream.
type ProcessEvent struct {
	// Type is the kind of event.
	Type ProcessEventType
	// Text is, for output events, one line including its "\n" (and a "\r"
	// before it, if the process wrote one), however the server cut the
	// output into chunks. The last line of a stream that ends without a
	// newline comes without one, and so does a line longer than
	// [StreamOptions.MaxLineSize], which is delivered in pieces of that
	// size. For EventError, it is the server's message.
	Text string
	// Process is set for EventResult.
	Process *Process
}

// ExecStream starts a command and follows its output: stdout and stderr
// lines as the process writes them, then the ended process as the last
// event ([EventResult]).
//
// The command is never started twice. To find the process again the
// request needs a name: when [ExecRequest.Name] is empty and reconnecting
// is allowed ([StreamOptions.MaxReconnects] not negative), a unique name
// "sandboxkit-<random>" is sent. A name the caller chooses should be
// unique too, or a reconnection may find another process of that name.
//
// If the connection drops before the result, the stream goes on from the
// process's log stream instead (see [Client.StreamLogs] for what resuming
// can and cannot promise), then reads the result with GET /process/{id}.
// If the request's answer is lost after it was sent (the connection
// dropped, or a 5xx), ExecStream settles it as [Client.Run] does, with the
// name it made up: it looks the process up by name and, when the server
// started it, follows its log stream; only when the server does not know
// the name is the request sent again (at most four requests in all); when
// the lookup fails otherwise, the error is a [*sandboxkit.OutcomeError]. With a name
// of the caller's, or without reconnecting, such an error is returned as
// it is.
//
// The real server answers a request with Accept: text/event-stream with
// newline-delimited JSON, which this reads: raw chunks of output (several
// lines, or part of one), which are joined and split into lines; for a
// command that ended before anything was streamed, one event per line
// without its newline, which are told apart by the result and given their
// newlines back; and its log keepalive, which leaks into that stream as a
// stdout chunk "[keepalive]\n" and is dropped. If a server answers with
// the process object instead, its output is replayed as events (stdout
// first, then stderr) before the result.
//
// POST /process
func (c *Client) ExecStream(ctx context.Context, request *ExecRequest, opts *StreamOptions) (*Stream[ProcessEvent], error) {
	const op = "ExecStream"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := request.validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	req := *request // the name may be filled in
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	own := false
	if req.Name == "" && o.MaxReconnects > 0 {
		req.Name = uniqueName()
		own = true
	}
	ps := newProcStream(c, req.Name, o)
	s := newStream(ctx, op, ps.next)
	ps.s = s

	found, err := c.execSettled(s.ctx, "sandbox."+op, req.Name, own, func() error {
		return ps.openExec(s.ctx, &req)
	})
	if err != nil {
		s.Close()
		if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
			return nil, err
		}
		return nil, wrap(ctx, op, err)
	}
	if found != nil {
		// An earlier attempt started it: follow its log stream (if that
		// fails, the stream's own reconnection takes over).
		ps.id = found.PID
		if err := ps.openLogs(s.ctx); err != nil {
			if ctx.Err() != nil || !sandboxkit.IsTransient(err) {
				s.Close()
				return nil, wrap(ctx, op, err)
			}
			ps.lastErr = err
		}
	}
	return s, nil
}

// openExec sends the exec request of ExecStream and starts reading its
// answer.
func (ps *procStream) openExec(ctx context.Context, req *ExecRequest) error {
	var body bodyOwner
	res, err := ps.c.api.ExecProcess(glue.Streaming(ctx), execRequestTo(req), body.option(nil),
		sandboxapi.WithEditRequest(func(r *http.Request) error {
			r.Header.Set("Accept", "text/event-stream")
			return nil
		}))
	if err != nil {
		body.close()
		return err
	}
	switch r := res.(type) {
	case *sandboxapi.ExecProcessOKRawApplicationXNdjson:
		return ps.read(r.Response.Body, modeExec)
	case *sandboxapi.ProcessResponse:
		body.close()
		ps.replayProcess(processFrom(r))
		return nil
	default:
		body.close()
		return errAnswerShape("neither a stream nor JSON")
	}
}

// uniqueName returns a process name no other process has.
func uniqueName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "sandboxkit-" + hex.EncodeToString(b[:])
}

// streamMode is the format of the body a procStream is reading.
type streamMode int

const (
	modeExec streamMode = iota + 1 // NDJSON events of POST /process
	modeLogs                       // "stdout:"/"stderr:" lines of /logs/stream
)

// procStream produces the events of ExecStream and StreamLogs. It reads
// the current body, turns what the server sends into whole output lines
// (outputAssembler) and, when the connection drops, reopens the log
// stream of the process and skips what it has already seen.
type procStream struct {
	c    *Client
	s    *Stream[ProcessEvent]
	id   string // pid or name for reconnecting; "" if impossible
	opts StreamOptions

	mode  streamMode
	lr    *lineReader  // exec mode
	pr    *pieceReader // logs mode
	dec   jx.Decoder
	out   outputAssembler
	log   logParser
	queue []ProcessEvent // events ready to be returned

	opened   time.Time // when the current connection was opened
	progress bool      // the current connection brought output not seen before
	failures int       // reconnection attempts since the last progress
	lastErr  error     // why the last connection ended
	ended    bool      // nothing more will come
	errSeen  bool      // the server reported an error in the stream
}

func newProcStream(c *Client, id string, o StreamOptions) *procStream {
	ps := &procStream{c: c, id: id, opts: o}
	ps.out.max = o.MaxLineSize
	ps.log.ps = ps
	return ps
}

// reading reports whether a body is being read.
func (ps *procStream) reading() bool { return ps.lr != nil || ps.pr != nil }

// read makes body the one being read, in the given format.
func (ps *procStream) read(body io.ReadCloser, mode streamMode) error {
	if err := ps.s.attach(body); err != nil {
		return err
	}
	ps.mode = mode
	ps.lr, ps.pr = nil, nil
	if mode == modeExec {
		// Protocol lines hold escaped output and, in the result, the
		// process object: they may be longer than an output line.
		ps.lr = newLineReader(body, max(ps.opts.MaxLineSize, DefaultMaxLineSize))
	} else {
		ps.pr = newPieceReader(body)
		ps.log.reset()
	}
	ps.opened = time.Now()
	ps.progress = false
	return nil
}

// next returns the next event; it is the Stream's source.
func (ps *procStream) next(ctx context.Context) (ProcessEvent, error) {
	for {
		if len(ps.queue) > 0 {
			ev := ps.queue[0]
			ps.queue[0] = ProcessEvent{}
			ps.queue = ps.queue[1:]
			return ev, nil
		}
		if ps.ended {
			return ProcessEvent{}, io.EOF
		}
		if !ps.reading() {
			if err := ps.recover(ctx); err != nil {
				return ProcessEvent{}, err
			}
			continue
		}
		var err error
		if ps.mode == modeExec {
			var line []byte
			if line, _, err = ps.lr.next(); err == nil {
				err = ps.execLine(line)
				if errors.Is(err, errMalformed) {
					return ProcessEvent{}, err
				}
			}
		} else {
			var piece []byte
			var end bool
			if piece, end, err = ps.pr.next(); err == nil {
				ps.log.piece(piece, end)
			}
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			// A read that ended because ctx did (even at EOF) is not a
			// normal end of the stream.
			return ProcessEvent{}, ctx.Err()
		}
		if errors.Is(err, ErrLineTooLong) {
			return ProcessEvent{}, err
		}
		ps.lr, ps.pr = nil, nil
		ps.lastErr = err
		if err == io.EOF {
			ps.atEOF()
		}
	}
}

// errMalformed marks an exec stream event that cannot be read.
var errMalformed = errors.New("malformed stream event")

// atEOF decides what a cleanly ended body means.
func (ps *procStream) atEOF() {
	if ps.mode == modeLogs {
		ps.log.eof()
	}
	switch {
	case ps.errSeen:
		ps.end(nil)
	case ps.mode == modeExec:
		// The exec stream ends after its result; without one, follow
		// the log stream (recover).
		ps.lastErr = io.ErrUnexpectedEOF
	default:
		// The log stream ends when the process has ended, or when a
		// proxy cut it: recover asks the process first.
		ps.lastErr = io.EOF
	}
}

// recover reopens the log stream after the connection ended, or reads the
// result when the log stream ended with the process.
//
// Reopening waits at least ReconnectDelay after the previous opening (a
// server that ends every stream at once is not asked again at once), and
// longer, doubling, while connections bring nothing new; a connection
// that brought new output resets the count of failures.
func (ps *procStream) recover(ctx context.Context) error {
	if ps.id == "" {
		return fmt.Errorf("stream ended before the result and cannot be resumed: %w", cause(ps.lastErr))
	}
	if ps.progress {
		ps.failures, ps.progress = 0, false
	}
	for {
		if ps.lastErr == io.EOF {
			// The log stream ended: has the process?
			p, err := ps.c.GetProcess(ctx, ps.id)
			switch {
			case err == nil && p.Ended():
				ps.end(p)
				return nil
			case err != nil && !sandboxkit.IsTransient(err):
				return err
			}
		}
		if ps.failures >= ps.opts.MaxReconnects {
			return fmt.Errorf("stream ended and %d reconnections failed: %w", ps.failures, cause(ps.lastErr))
		}
		ps.failures++
		// A log stream that ended while the process runs (a proxy cut
		// it) is reopened without backing off the first time.
		var d time.Duration
		if ps.failures > 1 || ps.lastErr != io.EOF {
			d = poll.Delay(ps.opts.ReconnectDelay, max(ps.opts.ReconnectDelay, 5*time.Second), ps.failures)
		}
		if !ps.opened.IsZero() {
			d = max(d, ps.opts.ReconnectDelay-time.Since(ps.opened))
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
		err := ps.openLogs(ctx)
		if err == nil {
			// Whatever arrived after the last newline comes again.
			ps.out.rewind()
			ps.log.skip = ps.out.newlines
			return nil
		}
		if ctx.Err() != nil || !sandboxkit.IsTransient(err) {
			return err
		}
		ps.opened = time.Now()
		ps.lastErr = err
	}
}

// openLogs opens GET /process/{id}/logs/stream.
func (ps *procStream) openLogs(ctx context.Context) error {
	var body bodyOwner
	res, err := ps.c.api.StreamProcessLogs(glue.Streaming(ctx), sandboxapi.StreamProcessLogsParams{Identifier: ps.id},
		body.option(forceContentType("text/plain")))
	if err != nil {
		body.close()
		return err
	}
	rc, err := logStreamBody(res)
	if err != nil {
		body.close()
		return err
	}
	return ps.read(rc, modeLogs)
}

// end queues the rest of the output and, if p is not nil, the result.
func (ps *procStream) end(p *Process) {
	if p != nil && ps.mode == modeExec {
		ps.out.restoreLines(p, ps.emit)
	}
	ps.out.flush(ps.emit)
	if p != nil {
		ps.queue = append(ps.queue, ProcessEvent{Type: EventResult, Process: p})
	}
	ps.ended = true
	ps.s.closeBody()
	ps.lr, ps.pr = nil, nil
}

// emit queues one output line of stream i (0 stdout, 1 stderr).
func (ps *procStream) emit(i int, text string) {
	typ := EventStdout
	if i == 1 {
		typ = EventStderr
	}
	ps.queue = append(ps.queue, ProcessEvent{Type: typ, Text: text})
}

// output passes output of stream i that was not seen before to the
// assembler.
func (ps *procStream) output(i int, data []byte) {
	if len(data) > 0 {
		ps.progress = true
		ps.out.add(i, data, ps.emit)
	}
}

// keepaliveData is what the real server's log keepalive looks like when it
// leaks into an exec stream as stdout.
var keepaliveData = []byte("[keepalive]\n")

// execLine handles one NDJSON event of POST /process.
func (ps *procStream) execLine(line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	var typ, data []byte
	ps.dec.ResetBytes(line)
	err := ps.dec.ObjBytes(func(d *jx.Decoder, key []byte) error {
		var err error
		switch string(key) {
		case "type":
			typ, err = d.StrAppend(typ[:0])
		case "data":
			if d.Next() == jx.Null {
				return d.Null()
			}
			data, err = d.StrAppend(data[:0])
		default:
			return d.Skip()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	switch ProcessEventType(typ) {
	case EventStdout:
		if bytes.Equal(data, keepaliveData) {
			return nil
		}
		ps.out.event(0, len(data))
		ps.output(0, data)
	case EventStderr:
		ps.out.event(1, len(data))
		ps.output(1, data)
	case EventError:
		ps.out.flush(ps.emit)
		ps.queue = append(ps.queue, ProcessEvent{Type: EventError, Text: string(data)})
		ps.errSeen = true
	case EventResult:
		p, err := resultProcessFrom(&ps.dec, data)
		if err != nil {
			return fmt.Errorf("%w: result: %w", errMalformed, err)
		}
		ps.end(p)
	}
	// "keepalive" and kinds this client does not know are skipped.
	return nil
}

// replayProcess queues the output and result of a process object, for a
// server that answered an exec stream request with plain JSON.
func (ps *procStream) replayProcess(p *Process) {
	ps.out.add(0, []byte(p.Stdout), ps.emit)
	ps.out.flush(ps.emit)
	ps.out.add(1, []byte(p.Stderr), ps.emit)
	ps.end(p)
}

// maxEventCuts bounds how many output events without a newline
// outputAssembler remembers per stream to tell the real server's
// fast-command replay apart (beyond that, it does not try).
const maxEventCuts = 4096

// outputAssembler turns the pieces of output the server sends into whole
// lines, one buffer per stream. It counts the newlines received, which is
// the number of lines the server's combined log holds so far: after a
// reconnection the replayed log is skipped up to that count.
//
// It also remembers, while a stream has had no newline and nothing was
// emitted, where each exec event's data started (cuts): for a command
// that ends before anything was streamed, the real server sends each line
// of its output as an event without the newline, which restoreLines
// recognizes against the result.
type outputAssembler struct {
	max      int
	buf      [2][]byte // unfinished line of stdout and stderr
	tail     [2]int    // bytes of buf received after the last newline of either stream
	newlines int64

	cuts    [2][]int // offsets in buf of the exec events without newline
	settled [2]bool  // a newline or an emitted piece: no replay to restore
}

// event notes that an exec event of n bytes of stream i starts at the end
// of the buffer.
func (a *outputAssembler) event(i, n int) {
	if a.settled[i] || n == 0 {
		return
	}
	if len(a.cuts[i]) >= maxEventCuts {
		a.settled[i] = true
		a.cuts[i] = nil
		return
	}
	a.cuts[i] = append(a.cuts[i], len(a.buf[i]))
}

// add appends data of stream i and emits the lines it completes.
func (a *outputAssembler) add(i int, data []byte, emit func(int, string)) {
	for len(data) > 0 {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			// No newline: buffer, cutting a piece off whenever the
			// unfinished line reaches the limit.
			for len(data) > 0 {
				take := min(a.max-len(a.buf[i]), len(data))
				a.buf[i] = append(a.buf[i], data[:take]...)
				a.tail[i] += take
				data = data[take:]
				if len(a.buf[i]) >= a.max {
					a.emit(i, a.buf[i], emit)
					a.buf[i] = a.buf[i][:0]
					a.tail[i] = 0
				}
			}
			return
		}
		line := data[:j+1]
		if len(a.buf[i]) > 0 {
			line = append(a.buf[i], line...)
		}
		for len(line) > a.max {
			a.emit(i, line[:a.max], emit)
			line = line[a.max:]
		}
		a.emit(i, line, emit)
		a.buf[i] = a.buf[i][:0]
		a.newlines++
		a.tail = [2]int{}
		data = data[j+1:]
	}
}

// emit emits text of stream i; from then on stream i has no fast-command
// replay to restore.
func (a *outputAssembler) emit(i int, text []byte, emit func(int, string)) {
	a.settled[i] = true
	a.cuts[i] = nil
	emit(i, string(text))
}

// rewind drops what arrived after the last newline: a replay sends it
// again.
func (a *outputAssembler) rewind() {
	for i := range a.buf {
		a.buf[i] = a.buf[i][:len(a.buf[i])-a.tail[i]]
		a.tail[i] = 0
		a.settled[i] = true
		a.cuts[i] = nil
	}
}

// restoreLines handles the real server's replay for commands that ended
// before anything was streamed: each line of the output as one event,
// without its newline, empty lines left out. When the events buffered for
// a stream are exactly the non-empty lines of the result's output for it,
// they were such a replay, and the output's own lines (with their
// newlines) are emitted instead.
func (a *outputAssembler) restoreLines(p *Process, emit func(int, string)) {
	for i, text := range [2]string{p.Stdout, p.Stderr} {
		if a.settled[i] || len(a.cuts[i]) == 0 || !replayOf(a.buf[i], a.cuts[i], text) {
			continue
		}
		for line := range bytes.Lines([]byte(text)) {
			for len(line) > a.max {
				a.emit(i, line[:a.max], emit)
				line = line[a.max:]
			}
			a.emit(i, line, emit)
		}
		a.buf[i] = a.buf[i][:0]
		a.tail[i] = 0
	}
}

// replayOf reports whether buf, cut at cuts, holds the non-empty lines of
// text in order, each without its newline.
func replayOf(buf []byte, cuts []int, text string) bool {
	k := 0
	for line := range bytes.Lines([]byte(text)) {
		line = bytes.TrimSuffix(line, newline)
		if len(line) == 0 {
			continue
		}
		if k >= len(cuts) {
			return false
		}
		end := len(buf)
		if k+1 < len(cuts) {
			end = cuts[k+1]
		}
		if !bytes.Equal(buf[cuts[k]:end], line) {
			return false
		}
		k++
	}
	return k == len(cuts)
}

// flush emits unfinished lines as they are.
func (a *outputAssembler) flush(emit func(int, string)) {
	for i := range a.buf {
		if len(a.buf[i]) > 0 {
			a.emit(i, a.buf[i], emit)
			a.buf[i] = a.buf[i][:0]
			a.tail[i] = 0
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cause describes why a connection ended.
func cause(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
