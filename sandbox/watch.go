package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptrace"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-faster/jx"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// FileOp says what happened to a watched entry. The server may combine
// several, such as "CREATE|WRITE"; use [FileOp.Has].
type FileOp string

// File operations.
const (
	OpCreate FileOp = "CREATE"
	OpWrite  FileOp = "WRITE"
	OpRemove FileOp = "REMOVE"
	OpRename FileOp = "RENAME"
	OpChmod  FileOp = "CHMOD"
)

// Has reports whether o includes op.
func (o FileOp) Has(op FileOp) bool {
	for part := range strings.SplitSeq(string(o), "|") {
		if FileOp(part) == op {
			return true
		}
	}
	return false
}

// FileEvent is a change in a watched directory.
type FileEvent struct {
	// Op is what happened.
	Op FileOp
	// Name is the base name of the entry that changed.
	Name string
	// Dir is the directory holding it.
	Dir string
	// Error is a watcher error the server reported, normally "".
	Error string
}

// Path is the path of the entry that changed.
func (e FileEvent) Path() string { return path.Join(e.Dir, e.Name) }

// WatchOptions tunes [Client.Watch]. The zero value is usable.
type WatchOptions struct {
	// Recursive watches the whole tree below the directory.
	Recursive bool
	// Ignore skips changes whose path contains one of these substrings.
	Ignore []string
	// MaxLineSize bounds one event line ([DefaultMaxLineSize] if zero).
	MaxLineSize int
}

// watchSetupGrace is how long Watch waits for the answer's headers once
// the request is sent. The real server sends them only with the first
// event, so Watch cannot wait for them; it waits this long so that an
// error answer (no such directory) comes from Watch itself and the
// server has a moment to set the watcher up.
const watchSetupGrace = 250 * time.Millisecond

// watchSendFallback is how long Watch waits at most when the transport
// does not report that the request was written (httptrace), as an
// in-memory transport may not.
const watchSendFallback = time.Second

// Watch follows the changes in a directory until ctx ends or the stream
// is closed; the server never ends it by itself. A dropped connection
// ends the stream with an error rather than reconnecting, since changes
// in between would be lost unnoticed.
//
// The real server answers only when the first change happens, so Watch
// returns once the request is sent and a short moment has passed (or an
// answer came; or after a second, when the transport does not report
// sending, as an in-memory one may not); until the answer arrives a
// goroutine holds the request,
// and Close or the end of ctx ends it. Changes made right after Watch
// returns may still race the server's setting up of the watcher.
//
// GET /watch/filesystem/{path}
func (c *Client) Watch(ctx context.Context, dir string, opts *WatchOptions) (*Stream[FileEvent], error) {
	const op = "Watch"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("path", dir); err != nil {
		return nil, wrap(ctx, op, err)
	}
	var o WatchOptions
	if opts != nil {
		o = *opts
	}
	so, err := (&StreamOptions{MaxLineSize: o.MaxLineSize}).withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	params := sandboxapi.WatchFilesystemParams{Path: dir, Ignore: optStrings(o.Ignore)}
	if o.Recursive {
		params.Path = strings.TrimSuffix(dir, "/") + "/**"
	}

	answer := make(chan watchAnswer, 1)
	w := &watchStream{max: so.MaxLineSize, answer: answer}
	s := newStream(ctx, op, w.next)
	sent := make(chan struct{})
	var once sync.Once
	tctx := httptrace.WithClientTrace(s.ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(sent) }) },
	})
	go func() {
		var body bodyOwner
		res, err := c.api.WatchFilesystem(glue.Streaming(tctx), params, fsPathOpt, body.option(forceContentType("text/plain")))
		var rc io.ReadCloser
		if err == nil {
			rc, err = watchBody(res)
			if err == nil {
				err = s.attach(rc) // fails, closing rc, if the stream is closed
			}
		}
		if err != nil {
			body.close()
		}
		answer <- watchAnswer{body: rc, err: err}
	}()

	fail := func(err error) (*Stream[FileEvent], error) {
		s.Close()
		return nil, wrap(ctx, op, err)
	}
	// A transport that does not report writing (an in-memory one)
	// leaves only the fallback.
	fallback := time.NewTimer(watchSendFallback)
	defer fallback.Stop()
	select {
	case a := <-w.answer:
		if err := w.take(a); err != nil {
			return fail(err)
		}
	case <-sent:
		t := time.NewTimer(watchSetupGrace)
		defer t.Stop()
		select {
		case a := <-w.answer:
			if err := w.take(a); err != nil {
				return fail(err)
			}
		case <-t.C:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	case <-fallback.C:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return s, nil
}

// watchAnswer is the outcome of the watch request.
type watchAnswer struct {
	body io.ReadCloser
	err  error
}

// watchStream reads the JSON lines of a watch answer.
type watchStream struct {
	max    int
	answer chan watchAnswer // the request's outcome, until taken
	lr     *lineReader
	dec    jx.Decoder
}

// take starts reading the answer.
func (w *watchStream) take(a watchAnswer) error {
	w.answer = nil
	if a.err != nil {
		return a.err
	}
	w.lr = newLineReader(a.body, w.max)
	return nil
}

func (w *watchStream) next(ctx context.Context) (FileEvent, error) {
	if w.answer != nil {
		select {
		case a := <-w.answer:
			if err := w.take(a); err != nil {
				return FileEvent{}, err
			}
		case <-ctx.Done():
			return FileEvent{}, ctx.Err()
		}
	}
	for {
		line, _, err := w.lr.next()
		if err != nil {
			if err == io.EOF {
				// The server never ends a watch: the connection was cut.
				err = io.ErrUnexpectedEOF
			}
			return FileEvent{}, err
		}
		if len(line) == 0 || isKeepalive(line) {
			continue
		}
		var ev FileEvent
		w.dec.ResetBytes(line)
		err = w.dec.ObjBytes(func(d *jx.Decoder, key []byte) error {
			if d.Next() == jx.Null {
				return d.Null()
			}
			var err error
			switch string(key) {
			case "op":
				var s string
				s, err = d.Str()
				ev.Op = FileOp(s)
			case "name":
				ev.Name, err = d.Str()
			case "path":
				ev.Dir, err = d.Str()
			case "error":
				ev.Error, err = d.Str()
			default:
				err = d.Skip()
			}
			return err
		})
		if err != nil {
			return FileEvent{}, fmt.Errorf("malformed watch event: %w", err)
		}
		return ev, nil
	}
}

// isKeepalive reports a keepalive line of the watch stream.
func isKeepalive(line []byte) bool {
	return bytes.Equal(bytes.TrimSpace(line), keepaliveText)
}
