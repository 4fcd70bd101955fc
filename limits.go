package sandboxkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Default limits of every configuration; see [WithTimeout],
// [WithStreamIdleTimeout], [WithoutTimeouts] and [WithMaxResponseSize].
const (
	// DefaultTimeout bounds each attempt of a unary call: from the moment
	// its request has been sent (the last byte of its body) until its
	// answer has been read to the end. A call that the server leaves
	// hanging fails with [ErrTimeout] after this long.
	DefaultTimeout = 2 * time.Minute
	// DefaultStreamIdleTimeout bounds the silences of a stream (a request
	// that are streams): the wait for the first byte of the answer
	// and each read's wait for more. The sandbox API sends a keepalive
	// line every 30 s on its streams, so three in a row would have to be
	// lost.
	DefaultStreamIdleTimeout = 90 * time.Second
	// DefaultMaxResponseSize caps the size of a unary call's answer after
	// decompression (64 MiB): the generated decoders hold a whole answer,
	// and about three times its size, in memory.
	DefaultMaxResponseSize int64 = 64 << 20
)

// ErrTimeout is matched by the error of an attempt that one of the SDK's
// own timeouts ended ([DefaultTimeout], [DefaultStreamIdleTimeout] or
// what [WithTimeout] and [WithStreamIdleTimeout] set): the server did not
// answer, or a stream went quiet, for too long. The error is a
// [*TimeoutError]. The caller's own context deadline is reported as
// context.DeadlineExceeded instead, never as ErrTimeout.
var ErrTimeout = errors.New("sandboxkit: timed out")

// ErrResponseTooLarge is matched by the error of a call whose answer was
// larger than [WithMaxResponseSize] allows (or [DefaultMaxResponseSize]).
// Nothing beyond the limit is read.
var ErrResponseTooLarge = errors.New("sandboxkit: answer too large")

// errUnexpectedUpgrade ends a call that did not ask to switch protocols
// but was answered 101 Switching Protocols: the connection now belongs to
// another protocol, and reading it as an HTTP answer would block until
// the server closes it.
var errUnexpectedUpgrade = errors.New("sandboxkit: unexpected 101 Switching Protocols answer to a request that asked for no upgrade")

// TimeoutError is the error of an attempt that an SDK timeout ended. It
// matches [ErrTimeout] and is a net.Error whose Timeout method reports
// true, so [IsTransient] holds for it. The transport does not retry it: a
// server that stayed silent for the whole timeout is not asked again
// within the same call, so a call never takes much more than its timeout.
type TimeoutError struct {
	// After is the timeout that ran out.
	After time.Duration
	// Stream is true for a stream's idle timeout, false for the timeout
	// of an attempt of a unary call.
	Stream bool
}

// Error returns e.g. "sandboxkit: no complete answer within 2m0s (see
// sandboxkit.WithTimeout)".
func (e *TimeoutError) Error() string {
	if e.Stream {
		return fmt.Sprintf("sandboxkit: stream silent for %v (see sandboxkit.WithStreamIdleTimeout)", e.After)
	}
	return fmt.Sprintf("sandboxkit: no complete answer within %v (see sandboxkit.WithTimeout)", e.After)
}

// Is reports whether target is [ErrTimeout].
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Timeout reports true: the error is a timeout (net.Error).
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true (net.Error): another attempt may succeed.
func (e *TimeoutError) Temporary() bool { return true }

// isStreaming reports whether ctx came from glue.Streaming, the mark the
// façades put on requests that are streams: answers read incrementally
// for as long as the server sends them (process output, log and watch
// streams, file downloads and uploads of any size). For such requests the
// per-attempt timeout ([WithTimeout]) and the answer size limit
// ([WithMaxResponseSize]) do not apply; the stream idle timeout
// ([WithStreamIdleTimeout]) does instead: the wait for the answer's first
// byte and every wait between two reads of the answer (or of the request
// body, while it is being sent) is bounded, however long the whole
// transfer takes. Time the reader spends between two reads does not
// count.
//
// Without the mark, a request is treated as a stream anyway when its
// Accept header asks for something other than JSON (text/event-stream,
// application/octet-stream, ...), and from the moment its answer arrives
// when that answer is a success that is not JSON (a text/plain log
// stream, say): only JSON answers are decoded whole, so only they are
// capped. Until that answer arrives, such a request has the per-attempt
// timeout. Callers of [Config.HTTPClient] get the same treatment for
// their own streams by setting such an Accept header.
func isStreaming(ctx context.Context) bool { return glue.IsStreaming(ctx) }

// limits are the per-attempt bounds of a configuration. Zero fields are
// off.
type limits struct {
	timeout time.Duration // unary calls, per attempt
	idle    time.Duration // streams, per silence
	maxBody int64         // unary answers, decompressed bytes
}

// limitTransport applies the limits to each attempt (each redirect hop is
// one). It sits under the inner client, so its timer runs per attempt
// rather than per call, and over the base transport, so the bytes it
// counts are decompressed ones.
type limitTransport struct {
	next http.RoundTripper
	lim  limits
}

// watches reports whether an attempt of req that starts now needs a
// watchdog: not when req asks to switch protocols (see RoundTrip), nor
// when the configuration turned its timeouts off, nor when the caller's
// deadline comes before any timeout the watchdog could set from now on
// (every timer it arms runs from then for at least the shorter of the
// two timeouts), since the caller's context then ends the attempt first.
func (t *limitTransport) watches(req *http.Request) bool {
	d := t.lim.timeout
	if d == 0 || (t.lim.idle > 0 && t.lim.idle < d) {
		d = t.lim.idle
	}
	if d == 0 || asksUpgrade(req) {
		return false
	}
	deadline, ok := req.Context().Deadline()
	return !ok || time.Until(deadline) > d
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if asksUpgrade(req) {
		// The caller means to switch protocols and takes the connection.
		resp, err := t.next.RoundTrip(req)
		if err == nil {
			err = checkAnswer(req, resp)
		}
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	stream := isStreaming(req.Context()) || acceptsOnlyNonJSON(req.Header)
	var w *watchdog
	var a *attempt
	st := callStateFrom(req.Context())
	switch {
	case st != nil && st.prepared != nil && st.prepared == req.Context():
		// The transport made this attempt's context (its first), having
		// checked watches.
		a, st.prepared = &st.first, nil
		if req.Body != nil && req.Body != http.NoBody {
			req = req.WithContext(req.Context()) // a copy to change
		}
	case t.watches(req):
		ctx, cancel := context.WithCancelCause(req.Context())
		if a = st.takeFirst(); a == nil {
			a = new(attempt)
		}
		a.w.cancel = cancel
		req = req.WithContext(ctx) // a shallow copy, ours to change
	}
	if a != nil {
		w = &a.w
		w.arm(t.durationFor(stream), stream)
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = &progressBody{rc: req.Body, w: w}
			if getBody := req.GetBody; getBody != nil {
				// net/http rewinds a body with GetBody when it resends a
				// request on a new connection: keep watching that one too.
				req.GetBody = func() (io.ReadCloser, error) {
					rc, err := getBody()
					if err != nil || rc == nil || rc == http.NoBody {
						return rc, err
					}
					return &progressBody{rc: rc, w: w}, nil
				}
			}
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		err = checkAnswer(req, resp)
	}
	if err != nil {
		w.stop()
		if te := w.expired(); te != nil {
			return nil, te
		}
		return nil, err
	}
	fail := func(err error) (*http.Response, error) {
		_ = resp.Body.Close()
		w.stop()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errUnexpectedUpgrade)
	}
	var limit int64
	switch {
	case resp.StatusCode >= 400:
		// Error answers are read by newAPIError with a cap of its own.
	case !stream && !isJSON(resp.Header.Get("Content-Type")) && resp.ContentLength != 0:
		// Not for a generated decoder: the façade reads it as a stream.
		stream = true
		w.arm(t.durationFor(true), true)
	case !stream:
		limit = t.lim.maxBody
	}
	if limit > 0 && resp.ContentLength > limit {
		return fail(tooLarge(limit))
	}
	if w == nil && limit == 0 {
		return resp, nil
	}
	if stream {
		w.pause() // until the reader asks for data
	}
	if a == nil {
		a = st.takeFirst()
	}
	if a != nil {
		a.body = limitedBody{rc: resp.Body, w: w, stream: stream, limit: limit} // in the attempt's allocation
		resp.Body = &a.body
	} else {
		resp.Body = &limitedBody{rc: resp.Body, stream: stream, limit: limit}
	}
	return resp, nil
}

// checkAnswer holds a caller's transport to what net/http's Client
// checks of it: an answer, and one with a body (nil is taken for an empty
// one where the request and its Content-Length allow it).
func checkAnswer(req *http.Request, resp *http.Response) error {
	switch {
	case resp == nil:
		return errors.New("sandboxkit: the HTTP transport returned neither an answer nor an error")
	case resp.Body != nil:
		return nil
	case resp.ContentLength > 0 && req.Method != http.MethodHead:
		return fmt.Errorf("sandboxkit: the HTTP transport returned an answer with Content-Length %d but no body", resp.ContentLength)
	}
	resp.Body = http.NoBody
	return nil
}

// durationFor returns the timeout that applies to a stream or not.
func (t *limitTransport) durationFor(stream bool) time.Duration {
	if stream {
		return t.lim.idle
	}
	return t.lim.timeout
}

func tooLarge(limit int64) error {
	return fmt.Errorf("%w: more than %d bytes (see sandboxkit.WithMaxResponseSize)", ErrResponseTooLarge, limit)
}

// asksUpgrade reports whether req asks to switch protocols (a WebSocket,
// say), the one case where a 101 answer is expected.
func asksUpgrade(req *http.Request) bool {
	for _, v := range req.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// acceptsOnlyNonJSON reports whether h has an Accept header none of whose
// media ranges admits JSON: the caller asks for a raw body or a stream.
func acceptsOnlyNonJSON(h http.Header) bool {
	values := h.Values("Accept")
	if len(values) == 0 {
		return false
	}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch mt = strings.ToLower(strings.TrimSpace(mt)); {
			case mt == "*/*", mt == "application/*", isJSON(mt):
				return false
			}
		}
	}
	return true
}

// isJSON reports whether a Content-Type (or media range) is JSON:
// application/json or a +json type. An absent type counts as JSON, so
// such an answer stays capped.
func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// watchdog ends an attempt when its timer runs out. Progress (a read of
// the request body, or for streams of the answer) restarts the timer; for
// streams, the timer is paused between reads of the answer, so that only
// the time spent waiting for the server counts, not the time the reader
// spends elsewhere. All its methods accept a nil *watchdog and then do
// nothing.
type watchdog struct {
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	d      time.Duration // 0: not armed
	stream bool
	timer  *time.Timer
	paused bool
	done   bool          // stopped: the attempt is over
	err    *TimeoutError // set when the timer ran out first
}

// attempt holds an attempt's watchdog and answer body in one allocation.
type attempt struct {
	w    watchdog
	body limitedBody
}

// arm (re)starts the timer with d (0 disarms it) for a stream or not.
func (w *watchdog) arm(d time.Duration, stream bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.err != nil {
		return
	}
	w.d, w.stream, w.paused = d, stream, false
	w.resetLocked()
}

// resetLocked restarts the timer, or stops it when disarmed or paused.
func (w *watchdog) resetLocked() {
	switch {
	case w.d == 0 || w.paused:
		if w.timer != nil {
			w.timer.Stop()
		}
	case w.timer == nil:
		w.timer = time.AfterFunc(w.d, w.fire)
	default:
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if w.done || w.err != nil || w.d == 0 || w.paused {
		w.mu.Unlock()
		return
	}
	w.err = &TimeoutError{After: w.d, Stream: w.stream}
	err := w.err
	w.mu.Unlock()
	w.cancel(err)
}

// kick restarts a running timer after progress.
func (w *watchdog) kick() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && w.err == nil && !w.paused {
		w.resetLocked()
	}
}

// pause stops the timer until resume: nobody is waiting for the server.
func (w *watchdog) pause() { w.setPaused(true) }

// resume restarts the timer from full: a read waits for the server.
func (w *watchdog) resume() { w.setPaused(false) }

func (w *watchdog) setPaused(p bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && w.err == nil {
		w.paused = p
		w.resetLocked()
	}
}

// stop ends the watch and releases the attempt's context. Safe to call
// more than once.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// expired returns the timeout error if the timer ran out first.
func (w *watchdog) expired() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		return nil
	}
	return w.err
}

// progressBody is a request body whose reads count as progress.
type progressBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 || err == io.EOF {
		b.w.kick()
	}
	return n, err
}

func (b *progressBody) Close() error { return b.rc.Close() }

// limitedBody is an answer's body under the attempt's limits: it stops
// the watchdog at the end of the body or on Close, runs it only during
// reads of a stream, reports the watchdog's timeout instead of the
// transport's "context canceled", and fails once more than limit bytes
// (if limit > 0) have been read.
type limitedBody struct {
	rc     io.ReadCloser
	w      *watchdog
	stream bool
	limit  int64
	n      int64
	err    error // sticky: the size error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // one byte more than allowed tells "too large" from "exactly the limit"
	}
	if b.stream {
		b.w.resume()
	}
	n, err := b.rc.Read(p)
	if b.stream {
		b.w.pause()
	}
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		n -= int(b.n - b.limit)
		b.n = b.limit
		b.err = tooLarge(b.limit)
		_ = b.rc.Close()
		b.w.stop()
		return n, b.err
	}
	switch {
	case err == io.EOF:
		b.w.stop()
	case err != nil:
		if te := b.w.expired(); te != nil {
			err = te
		}
	}
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.w.stop()
	return err
}
