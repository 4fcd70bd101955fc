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

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
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
	// Text is, for output events, one line including its "\n". The last
	// line of a stream that ends without a newline comes without one, and
	// so does a line longer than [StreamOptions.MaxLineSize], which is
	// delivered in pieces of that size. For EventError, it is the server's
	// message.
	Text string
	// Process is set for EventResult.
	Process *Process
}

// ExecStream starts a command and follows its output: stdout and stderr
// lines as the process writes them, then the ended process as the last
// event ([EventResult]).
//
// The request is never sent twice (that would run the command twice).
// If the connection drops before the result, the stream goes on from the
// process's log stream instead (see [Client.StreamLogs] for what resuming
// can and cannot promise), then reads the result with GET /process/{id}.
// To find the process again the request needs a name: when
// [ExecRequest.Name] is empty and reconnecting is allowed
// ([StreamOptions.MaxReconnects] not negative), a unique name
// "sandboxkit-<random>" is sent. A name the caller chooses should be
// unique too, or a reconnection may find another process of that name.
//
// The real server answers a request with Accept: text/event-stream with
// newline-delimited JSON, which this reads (its log keepalive, which leaks
// into that stream as a stdout chunk "[keepalive]\n", is dropped); if a
// server answers with the
// process object instead, its output is replayed as events (stdout first,
// then stderr) before the result.
//
// POST /process
func (c *Client) ExecStream(ctx context.Context, req ExecRequest, opts *StreamOptions) (*Stream[ProcessEvent], error) {
	const op = "ExecStream"
	if err := req.validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	if req.Name == "" && o.MaxReconnects > 0 {
		req.Name = uniqueName()
	}
	ps := newProcStream(c, req.Name, o)
	s := newStream(ctx, op, ps.next)
	ps.s = s

	var body bodyOwner
	res, err := c.api.ExecProcess(s.ctx, execRequestTo(&req), body.option(nil),
		sandboxapi.WithEditRequest(func(r *http.Request) error {
			r.Header.Set("Accept", "text/event-stream")
			return nil
		}))
	if err != nil {
		body.close()
		s.Close()
		return nil, wrap(ctx, op, err)
	}
	switch r := res.(type) {
	case *sandboxapi.ExecProcessOKRawApplicationXNdjson:
		if err := ps.read(r.Response.Body, modeExec); err != nil {
			s.Close()
			return nil, wrap(ctx, op, err)
		}
	case *sandboxapi.ProcessResponse:
		body.close()
		ps.replayProcess(processFrom(r))
	default:
		body.close()
		s.Close()
		return nil, wrap(ctx, op, unexpected(res))
	}
	return s, nil
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
// the current body line by line, turns what the server sends into whole
// output lines (outputAssembler) and, when the connection drops, reopens
// the log stream of the process and skips what it has already seen.
type procStream struct {
	c    *Client
	s    *Stream[ProcessEvent]
	id   string // pid or name for reconnecting; "" if impossible
	opts StreamOptions

	mode  streamMode
	lr    *lineReader
	dec   jx.Decoder
	out   outputAssembler
	queue []ProcessEvent // events ready to be returned

	fresh      bool  // no line read yet on the current log stream
	skip       int64 // replayed lines still to skip
	lastStream int   // stream of the last prefix seen in the log stream
	failures   int   // reconnection attempts since the last good line
	lastErr    error // why the last connection ended
	ended      bool  // nothing more will come
	errSeen    bool  // the server reported an error in the stream
}

func newProcStream(c *Client, id string, o StreamOptions) *procStream {
	ps := &procStream{c: c, id: id, opts: o}
	ps.out.max = o.MaxLineSize
	return ps
}

// read makes body the one being read, in the given format.
func (ps *procStream) read(body io.ReadCloser, mode streamMode) error {
	if err := ps.s.attach(body); err != nil {
		return err
	}
	ps.mode = mode
	ps.lr = newLineReader(body, ps.opts.MaxLineSize)
	ps.fresh = true
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
		if ps.lr == nil {
			if err := ps.recover(ctx); err != nil {
				return ProcessEvent{}, err
			}
			continue
		}
		line, complete, err := ps.lr.next()
		if err != nil {
			if ctx.Err() != nil {
				// A read that ended because ctx did (even at EOF) is
				// not a normal end of the stream.
				return ProcessEvent{}, ctx.Err()
			}
			if errors.Is(err, ErrLineTooLong) {
				return ProcessEvent{}, err
			}
			ps.lr = nil
			ps.lastErr = err
			if err == io.EOF {
				ps.atEOF()
			}
			continue
		}
		ps.failures = 0
		var herr error
		if ps.mode == modeExec {
			herr = ps.execLine(line)
		} else {
			ps.logLine(line, complete)
		}
		ps.fresh = false
		if herr != nil {
			return ProcessEvent{}, herr
		}
	}
}

// atEOF decides what a cleanly ended body means.
func (ps *procStream) atEOF() {
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
func (ps *procStream) recover(ctx context.Context) error {
	if ps.id == "" {
		return fmt.Errorf("stream ended before the result and cannot be resumed: %w", cause(ps.lastErr))
	}
	for {
		if ps.lastErr == io.EOF {
			// The log stream ended: has the process?
			p, err := ps.c.GetProcess(ctx, ps.id)
			switch {
			case err == nil && p.Ended():
				ps.end(p)
				return nil
			case err != nil && !client.IsTransient(err):
				return err
			}
		}
		if ps.failures >= ps.opts.MaxReconnects {
			return fmt.Errorf("stream ended and %d reconnections failed: %w", ps.failures, cause(ps.lastErr))
		}
		ps.failures++
		// A log stream that ended while the process runs (a proxy cut
		// it) is reopened at once the first time.
		if ps.failures > 1 || ps.lastErr != io.EOF {
			d := poll.Delay(ps.opts.ReconnectDelay, max(ps.opts.ReconnectDelay, 5*time.Second), ps.failures)
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
		err := ps.openLogs(ctx)
		if err == nil {
			// Whatever arrived after the last newline comes again.
			ps.out.rewind()
			ps.skip = ps.out.newlines
			return nil
		}
		if ctx.Err() != nil || !client.IsTransient(err) {
			return err
		}
		ps.lastErr = err
	}
}

// openLogs opens GET /process/{id}/logs/stream.
func (ps *procStream) openLogs(ctx context.Context) error {
	var body bodyOwner
	res, err := ps.c.api.StreamProcessLogs(ctx, sandboxapi.StreamProcessLogsParams{Identifier: ps.id},
		body.option(forceContentType("text/plain")))
	if err != nil {
		body.close()
		return err
	}
	r, ok := res.(*sandboxapi.StreamProcessLogsOKRawTextPlain)
	if !ok {
		body.close()
		return unexpected(res)
	}
	return ps.read(r.Response.Body, modeLogs)
}

// end queues the rest of the output and, if p is not nil, the result.
func (ps *procStream) end(p *Process) {
	ps.out.flush(ps.emit)
	if p != nil {
		ps.queue = append(ps.queue, ProcessEvent{Type: EventResult, Process: p})
	}
	ps.ended = true
	ps.s.closeBody()
	ps.lr = nil
}

// emit queues one output line of stream i (0 stdout, 1 stderr).
func (ps *procStream) emit(i int, text string) {
	typ := EventStdout
	if i == 1 {
		typ = EventStderr
	}
	ps.queue = append(ps.queue, ProcessEvent{Type: typ, Text: text})
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
		return fmt.Errorf("malformed stream event: %w", err)
	}
	switch ProcessEventType(typ) {
	case EventStdout:
		if bytes.Equal(data, keepaliveData) {
			return nil
		}
		ps.out.add(0, data, ps.emit)
	case EventStderr:
		ps.out.add(1, data, ps.emit)
	case EventError:
		ps.out.flush(ps.emit)
		ps.queue = append(ps.queue, ProcessEvent{Type: EventError, Text: string(data)})
		ps.errSeen = true
	case EventResult:
		var r sandboxapi.ProcessResponse
		ps.dec.ResetBytes(data)
		if err := r.Decode(&ps.dec); err != nil {
			return fmt.Errorf("malformed result event: %w", err)
		}
		ps.end(processFrom(&r))
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

// outputAssembler turns the pieces of output the server sends into whole
// lines, one buffer per stream. It counts the newlines received, which is
// the number of lines the server's combined log holds so far: after a
// reconnection the replayed log is skipped up to that count.
type outputAssembler struct {
	max      int
	buf      [2][]byte // unfinished line of stdout and stderr
	tail     [2]int    // bytes of buf received after the last newline of either stream
	newlines int64
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
					emit(i, string(a.buf[i]))
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
			emit(i, string(line[:a.max]))
			line = line[a.max:]
		}
		emit(i, string(line))
		a.buf[i] = a.buf[i][:0]
		a.newlines++
		a.tail = [2]int{}
		data = data[j+1:]
	}
}

// rewind drops what arrived after the last newline: a replay sends it
// again.
func (a *outputAssembler) rewind() {
	for i := range a.buf {
		a.buf[i] = a.buf[i][:len(a.buf[i])-a.tail[i]]
		a.tail[i] = 0
	}
}

// flush emits unfinished lines as they are.
func (a *outputAssembler) flush(emit func(int, string)) {
	for i := range a.buf {
		if len(a.buf[i]) > 0 {
			emit(i, string(a.buf[i]))
			a.buf[i] = a.buf[i][:0]
			a.tail[i] = 0
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
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
