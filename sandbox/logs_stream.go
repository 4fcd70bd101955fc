package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/go-faster/jx"
)

// StreamLogs follows the output of a process: the output so far, then
// lines as the process writes them, then the ended process
// ([EventResult]) once it has ended.
//
// # Resuming
//
// When the connection drops (or ends while the process still runs), the
// log stream is opened again, up to [StreamOptions.MaxReconnects] times in
// a row with a growing pause. The server has no offsets: it replays the
// process's whole output on every connection. The stream counts the lines
// it has received and skips that many of the replay, so no line is
// delivered twice or lost, with these limits:
//
//   - The server keeps a bounded log per process; once it has cut the
//     start of it, the replay no longer lines up and lines may be skipped
//     or repeated after a reconnection.
//   - The server writes output in chunks prefixed "stdout:" or "stderr:"
//     and marks a chunk that does not start a line only by that prefix.
//     Lines are rebuilt from the prefixes, so output that itself contains
//     "stdout:" or "stderr:" may be split or attributed to the wrong
//     stream. Its keepalive ("[keepalive]" and a newline, every 30 s) is
//     written between chunks, also in the middle of a line; it is taken
//     out, and so is output that itself ends a line with "[keepalive]".
//   - What the server replays (the output so far when the stream opens)
//     has no "\r" before a newline, and an unfinished last line gets a
//     newline; output that arrives live comes as the process wrote it.
//
// Lines are read in pieces, so a line of any length (the server sends a
// whole output line as one line of its own) costs at most
// [StreamOptions.MaxLineSize] and comes, like in [Client.ExecStream], in
// pieces of that size when it is longer.
//
// When the log stream ends, the process is read with GET
// /process/{identifier} to tell its end from a cut connection.
//
// GET /process/{identifier}/logs/stream
func (c *Client) StreamLogs(ctx context.Context, id string, opts *StreamOptions) (*Stream[ProcessEvent], error) {
	const op = "StreamLogs"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkProcessID(id); err != nil {
		return nil, wrap(ctx, op, err)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	ps := newProcStream(c, id, o)
	s := newStream(ctx, op, ps.next)
	ps.s = s
	if err := ps.openLogs(s.ctx); err != nil {
		s.Close()
		return nil, wrap(ctx, op, err)
	}
	return s, nil
}

// Tokens of the log stream.
var (
	prefixStdout  = []byte("stdout:")
	prefixStderr  = []byte("stderr:")
	errorLine     = []byte(`{"error":`)
	keepaliveText = []byte("[keepalive]")
	newline       = []byte{'\n'}
)

// pieceReader reads a body line by line, in pieces of at most
// readBufferSize bytes.
type pieceReader struct {
	br *bufio.Reader
}

func newPieceReader(r io.Reader) *pieceReader {
	return &pieceReader{br: bufio.NewReaderSize(r, readBufferSize)}
}

// next returns the next piece of a line, without its newline, and whether
// the line ends with it. The piece is valid until the following call. A
// last piece without a newline comes before io.EOF; a piece cut by another
// read error is dropped and the error returned.
func (r *pieceReader) next() (piece []byte, end bool, err error) {
	frag, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
		return frag[:len(frag)-1], true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return frag, false, nil
	case err == io.EOF && len(frag) > 0:
		return frag, false, nil
	}
	return nil, false, err
}

// logParser turns the pieces of GET /process/{id}/logs/stream into output
// of the procStream: it splits them at the stream prefixes, takes out
// keepalives and, after a reconnection, skips the lines already seen.
type logParser struct {
	ps *procStream

	first   bool   // the connection may start with an error object
	stream  int    // stream of the last prefix seen (0 stdout, 1 stderr)
	skip    int64  // replayed lines still to skip
	carry   []byte // end of the last piece, which may begin a token
	scratch []byte
}

// reset prepares for a new connection.
func (l *logParser) reset() {
	l.first = true
	l.carry = l.carry[:0]
}

// maxErrorLine bounds the error object the real server writes for an
// unknown process, which may be all the body (without a newline).
const maxErrorLine = 64 << 10

// piece handles a piece of a line; end reports that the line ended.
func (l *logParser) piece(p []byte, end bool) {
	w := p
	if len(l.carry) > 0 {
		l.scratch = append(append(l.scratch[:0], l.carry...), p...)
		w = l.scratch
		l.carry = l.carry[:0]
	}
	if l.first {
		// The first line may be an error object: hold it until it ends.
		if len(w) <= maxErrorLine && (bytes.HasPrefix(w, errorLine) || bytes.HasPrefix(errorLine, w)) {
			if !end {
				l.carry = append(l.carry, w...)
				return
			}
			if bytes.HasPrefix(w, errorLine) {
				l.first = false
				l.errorObject(w)
				return
			}
		}
		l.first = false
	}
	if !end {
		// The last bytes may begin a prefix or a keepalive: keep them
		// for the next piece.
		l.text(w, len(w)-min(len(w), len(keepaliveText)))
		return
	}
	complete := true
	if bytes.HasSuffix(w, keepaliveText) {
		// The keepalive and its newline are not output.
		w = w[:len(w)-len(keepaliveText)]
		complete = false
	}
	l.text(w, len(w))
	if complete {
		if l.skip > 0 {
			l.skip--
		} else {
			l.ps.output(l.stream, newline)
		}
	}
}

// eof handles the clean end of a connection: what was kept back is
// output, or the error object it is.
func (l *logParser) eof() {
	if len(l.carry) == 0 {
		return
	}
	l.scratch = append(l.scratch[:0], l.carry...)
	l.carry = l.carry[:0]
	if l.first && bytes.HasPrefix(l.scratch, errorLine) {
		l.first = false
		l.errorObject(l.scratch)
		return
	}
	l.text(l.scratch, len(l.scratch))
}

// text handles w up to limit and keeps the rest in carry: the text
// between prefixes goes to the stream of the prefix before it.
func (l *logParser) text(w []byte, limit int) {
	pos := 0
	for {
		at, stream := nextPrefix(w[pos:])
		at += pos
		if at >= limit {
			break
		}
		l.output(w[pos:at])
		l.stream = stream
		pos = at + len(prefixStdout)
	}
	if pos < limit {
		l.output(w[pos:limit])
	}
	l.carry = append(l.carry[:0], w[max(pos, limit):]...)
}

// output passes text of the current stream on, unless it is being
// skipped.
func (l *logParser) output(text []byte) {
	if l.skip == 0 {
		l.ps.output(l.stream, text)
	}
}

// errorObject handles the error object the real server writes for an
// unknown process (it answers 200 before it looks the process up).
func (l *logParser) errorObject(line []byte) {
	ps := l.ps
	ps.dec.ResetBytes(line)
	msg := string(line)
	_ = ps.dec.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if string(key) == "error" {
			s, err := d.Str()
			msg = s
			return err
		}
		return d.Skip()
	})
	ps.out.flush(ps.emit)
	ps.queue = append(ps.queue, ProcessEvent{Type: EventError, Text: msg})
	ps.errSeen = true
}

// nextPrefix finds the first "stdout:" or "stderr:" in w: its index
// (len(w) if none) and the stream it starts.
func nextPrefix(w []byte) (at, stream int) {
	at = len(w)
	if k := bytes.Index(w, prefixStdout); k >= 0 {
		at, stream = k, 0
	}
	if k := bytes.Index(w[:at], prefixStderr); k >= 0 {
		at, stream = k, 1
	}
	return at, stream
}
