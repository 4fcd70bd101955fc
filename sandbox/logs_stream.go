package sandbox

import (
	"bytes"
	"context"

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
//     stream.
//
// When the log stream ends, the process is read with GET
// /process/{identifier} to tell its end from a cut connection.
//
// GET /process/{identifier}/logs/stream
func (c *Client) StreamLogs(ctx context.Context, id string, opts *StreamOptions) (*Stream[ProcessEvent], error) {
	const op = "StreamLogs"
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

var (
	prefixStdout = []byte("stdout:")
	prefixStderr = []byte("stderr:")
	errorLine    = []byte(`{"error":`)
)

// logLine handles one line of GET /process/{id}/logs/stream.
func (ps *procStream) logLine(line []byte, complete bool) {
	if isKeepalive(line) {
		return
	}
	if ps.fresh && bytes.HasPrefix(line, errorLine) {
		// The real server answers 200 before it looks the process up, so
		// an unknown process shows as an error object in the body.
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
		return
	}
	if ps.skip > 0 {
		// Seen before the reconnection; only the stream of its last
		// prefix matters, for a next line without one.
		if complete {
			ps.skip--
		}
		if k := max(bytes.LastIndex(line, prefixStdout), bytes.LastIndex(line, prefixStderr)); k >= 0 {
			ps.lastStream = 0
			if bytes.HasPrefix(line[k:], prefixStderr) {
				ps.lastStream = 1
			}
		}
		return
	}
	// Split the line at every stream prefix; text before the first one
	// continues the stream of the previous line.
	i := ps.lastStream
	for len(line) > 0 {
		j, next, plen := nextPrefix(line)
		if j > 0 {
			ps.out.add(i, line[:j], ps.emit)
		}
		if j == len(line) {
			break
		}
		i = next
		line = line[j+plen:]
	}
	ps.lastStream = i
	if complete {
		ps.out.add(i, newline, ps.emit)
	}
}

var newline = []byte{'\n'}

// nextPrefix finds the first "stdout:" or "stderr:" in line: its index
// (len(line) if none), the stream it starts and its length.
func nextPrefix(line []byte) (at, stream, length int) {
	at = len(line)
	if k := bytes.Index(line, prefixStdout); k >= 0 {
		at, stream = k, 0
	}
	if k := bytes.Index(line[:at], prefixStderr); k >= 0 {
		at, stream = k, 1
	}
	return at, stream, len(prefixStdout)
}
