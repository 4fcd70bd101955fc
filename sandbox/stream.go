package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Stream limits and defaults.
const (
	// DefaultMaxLineSize bounds one line of a stream unless
	// [StreamOptions.MaxLineSize] says otherwise. The real server's longest
	// lines are the final process object of an exec stream, which inlines
	// at most 64 KiB of each output stream (about 1 MiB once JSON-escaped
	// twice), and replayed log lines, which it cuts at 1 MiB.
	DefaultMaxLineSize = 4 << 20
	// DefaultMaxReconnects is how many times in a row a dropped process
	// stream is reopened unless [StreamOptions.MaxReconnects] says
	// otherwise.
	DefaultMaxReconnects = 5

	readBufferSize = 64 << 10
)

// StreamOptions tunes [Client.ExecStream], [Client.StreamLogs] and
// [Client.Watch]. The zero value is usable.
type StreamOptions struct {
	// MaxLineSize bounds one line of output in bytes ([DefaultMaxLineSize]
	// if zero): a longer line is delivered in pieces of MaxLineSize bytes
	// (see [ProcessEvent.Text]), so memory use stays below about twice
	// this. The exec stream's own protocol lines (its result event carries
	// the process object) may be up to max(MaxLineSize,
	// DefaultMaxLineSize); a longer one ends the stream with
	// [ErrLineTooLong].
	MaxLineSize int
	// MaxReconnects is how many times in a row a process stream whose
	// connection dropped is reopened ([DefaultMaxReconnects] if zero;
	// negative: never). A successful reopening resets the count. Watch
	// streams are not reopened.
	MaxReconnects int
	// ReconnectDelay is the first pause before reopening (250ms if zero);
	// it doubles with each failed attempt up to 5s. It is also the least
	// time between two openings of a process's log stream, so a server
	// that ends every stream at once is not asked again and again.
	ReconnectDelay time.Duration
}

func (o *StreamOptions) withDefaults() (StreamOptions, error) {
	var out StreamOptions
	if o != nil {
		out = *o
	}
	switch {
	case out.MaxLineSize < 0:
		return out, &sandboxkit.ValidationError{Field: "MaxLineSize", Value: fmt.Sprint(out.MaxLineSize), Reason: "must not be negative"}
	case out.ReconnectDelay < 0:
		return out, &sandboxkit.ValidationError{Field: "ReconnectDelay", Value: out.ReconnectDelay.String(), Reason: "must not be negative"}
	}
	if out.MaxLineSize == 0 {
		out.MaxLineSize = DefaultMaxLineSize
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
	return out, nil
}

// Stream is a sequence of events read from a long-lived answer. Read it
// like a bufio.Scanner:
//
//	for s.Next() {
//		ev := s.Event()
//		...
//	}
//	if err := s.Err(); err != nil { ... }
//
// or with a range loop over [Stream.All]. A Stream reads in the goroutine
// that calls Next and starts no goroutine of its own (but see
// [Client.Watch] for the time before its answer arrives). Next must not be
// called from several goroutines at once; Close may be called from any
// goroutine at any time, also while Next is blocked, and makes it return
// false. When the context the stream was opened with ends, Next returns
// false and Err the context's error.
type Stream[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	stop   func() bool // stops the AfterFunc that closes the body
	next   func(ctx context.Context) (T, error)
	op     string

	mu     sync.Mutex
	body   io.Closer // the answer being read, closed by Close
	closed bool      // Close was called

	cur  T
	err  error
	done bool
}

// newStream makes a stream whose events come from next; next returns
// io.EOF at the end. op names the operation in errors.
func newStream[T any](ctx context.Context, op string, next func(ctx context.Context) (T, error)) *Stream[T] {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream[T]{ctx: ctx, cancel: cancel, next: next, op: op}
	// Whatever the transport, a read blocked on the body ends when the
	// context does: closing the body unblocks it.
	s.stop = context.AfterFunc(ctx, s.closeBody)
	return s
}

// NewStream returns a stream whose events come from next, called by
// [Stream.Next] with a context that ends when the stream is closed or ctx
// ends. next returns io.EOF after the last event. It lets fakes and tests
// produce streams. A nil ctx or next gives a stream that ends at once with
// an error matching [sandboxkit.ErrInvalidInput].
func NewStream[T any](ctx context.Context, next func(ctx context.Context) (T, error)) *Stream[T] {
	var bad error
	switch {
	case ctx == nil:
		bad = &sandboxkit.ValidationError{Field: "context", Reason: "must not be nil"}
		ctx = context.Background()
	case next == nil:
		bad = &sandboxkit.ValidationError{Field: "next", Reason: "must not be nil"}
	}
	s := newStream(ctx, "Stream", next)
	if bad != nil {
		s.finish(bad)
	}
	return s
}

// StreamOf returns a stream of the given events, for fakes and tests.
func StreamOf[T any](events ...T) *Stream[T] {
	return NewStream(context.Background(), func(context.Context) (T, error) {
		var zero T
		if len(events) == 0 {
			return zero, io.EOF
		}
		ev := events[0]
		events = events[1:]
		return ev, nil
	})
}

// Next waits for the next event and reports whether there is one. After
// it returns false, Err tells why.
func (s *Stream[T]) Next() bool {
	if s == nil {
		return false
	}
	if s.done {
		return false
	}
	if s.next == nil {
		// A zero Stream, not made by NewStream or a Client.
		s.done = true
		s.err = &sandboxkit.ValidationError{Field: "stream", Reason: "not made by NewStream or a Client method"}
		return false
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.finish(nil)
		return false
	}
	ev, err := s.next(s.ctx)
	if err == nil {
		s.cur = ev
		return true
	}
	s.finish(err)
	return false
}

// finish ends the stream with err, which is dropped if it is io.EOF or
// the result of Close.
func (s *Stream[T]) finish(err error) {
	s.done = true
	var zero T
	s.cur = zero
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case err == nil, err == io.EOF, closed:
	default:
		s.err = wrap(s.ctx, s.op, err)
	}
	s.release()
}

// Event returns the event Next read.
func (s *Stream[T]) Event() T {
	if s == nil {
		var zero T
		return zero
	}
	return s.cur
}

// Err returns the error that ended the stream: nil at its normal end or
// after Close; the context's error (wrapped) when the context ended.
func (s *Stream[T]) Err() error {
	if s == nil {
		return nil
	}
	return s.err
}

// Close ends the stream and releases its connection. It may be called
// more than once and from any goroutine.
func (s *Stream[T]) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.release()
	return nil
}

// release closes the body and stops the context watch.
func (s *Stream[T]) release() {
	if s.stop != nil {
		s.stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.closeBody()
}

func (s *Stream[T]) closeBody() {
	s.mu.Lock()
	b := s.body
	s.body = nil
	s.mu.Unlock()
	if b != nil {
		_ = b.Close()
	}
}

// attach makes b the body Close closes. It fails (closing b) if the
// stream is already closed or its context done.
func (s *Stream[T]) attach(b io.Closer) error {
	s.mu.Lock()
	if s.closed || s.ctx.Err() != nil {
		s.mu.Unlock()
		_ = b.Close()
		if err := s.ctx.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	old := s.body
	s.body = b
	s.mu.Unlock()
	if old != nil && old != b {
		_ = old.Close()
	}
	return nil
}

// All returns an iterator over the events. An error that ends the stream
// (other than its normal end or Close) is yielded last with a zero event.
// Leaving the loop early closes the stream.
func (s *Stream[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		defer s.Close()
		for s.Next() {
			if !yield(s.Event(), nil) {
				return
			}
		}
		if err := s.Err(); err != nil {
			var zero T
			yield(zero, err)
		}
	}
}

// lineReader reads lines of at most max bytes from r.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, min(max+1, readBufferSize)), max: max}
}

// next returns the next line without its line ending, and whether it had
// one. The slice is valid until the following call. A last line without a
// newline is returned (complete false) before io.EOF; a line cut by a read
// error is dropped and the error returned.
func (l *lineReader) next() (line []byte, complete bool, err error) {
	l.buf = l.buf[:0]
	for {
		frag, err := l.br.ReadSlice('\n')
		n := len(l.buf) + len(frag)
		if err == nil {
			n-- // the newline does not count against the limit
		}
		if n > l.max {
			return nil, false, fmt.Errorf("%w: longer than %d bytes", ErrLineTooLong, l.max)
		}
		switch {
		case err == nil:
			if len(l.buf) > 0 {
				l.buf = append(l.buf, frag...)
				frag = l.buf
			}
			return bytes.TrimSuffix(frag[:len(frag)-1], []byte("\r")), true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			l.buf = append(l.buf, frag...)
		case err == io.EOF && n > 0:
			l.buf = append(l.buf, frag...)
			return l.buf, false, nil
		default:
			return nil, false, err
		}
	}
}
