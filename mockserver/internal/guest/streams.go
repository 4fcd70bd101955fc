package guest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Keepalive periods of the streams, on the guest's clock.
const (
	execKeepalive  = 5 * time.Second  // POST /process NDJSON stream
	logsKeepalive  = 30 * time.Second // GET /process/{id}/logs/stream
	watchKeepalive = 30 * time.Second // GET /watch/filesystem/{path}
)

// stream is one streaming response in progress. Whatever feeds it (a
// process, the file system) only signals channels; all writing happens in
// the request's goroutine, so timer callbacks (which run inside
// clock.Manual.Advance) never block on a slow client.
type stream struct {
	g       *Guest
	ctx     context.Context
	w       http.ResponseWriter
	rc      *http.ResponseController
	closing <-chan struct{} // the guest is closing: end cleanly
	boot    <-chan struct{} // the server instance went away: drop the connection
	ka      *ticker
	failed  bool // a write failed: the client is gone
}

// openStreamLocked registers a stream, with a keepalive ticker of period
// ka. The caller then writes the header with start, and must call end.
func (g *Guest) openStreamLocked(ctx context.Context, w http.ResponseWriter, ka time.Duration) *stream {
	g.streams++
	close(g.streamsChanged)
	g.streamsChanged = make(chan struct{})
	return &stream{
		g: g, ctx: ctx, w: w, rc: http.NewResponseController(w),
		closing: g.closing, boot: g.bootDone,
		ka: g.newTickerLocked(ka),
	}
}

// start sends the 200 header at once, so that a client knows the stream
// is registered when its request returns.
func (s *stream) start(contentType string) {
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	s.flush()
}

// end unregisters the stream. If the server instance went away it then
// drops the connection (it panics with http.ErrAbortHandler).
func (s *stream) end() {
	g := s.g
	g.mu.Lock()
	s.ka.stopLocked()
	g.streams--
	close(g.streamsChanged)
	g.streamsChanged = make(chan struct{})
	g.mu.Unlock()
	select {
	case <-s.boot:
		if !isDone(s.closing) {
			panic(http.ErrAbortHandler)
		}
	default:
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *stream) write(b []byte) {
	if s.failed {
		return
	}
	if _, err := s.w.Write(b); err != nil {
		s.failed = true
	}
}

func (s *stream) flush() {
	if s.failed {
		return
	}
	if err := s.rc.Flush(); err != nil && err != http.ErrNotSupported {
		s.failed = true
	}
}

// wait blocks until changed is closed (true), the keepalive period
// elapses (keepalive set), or the stream must end (false).
func (s *stream) wait(changed <-chan struct{}) (more, keepalive bool) {
	if s.failed {
		return false, false
	}
	select {
	case <-changed:
		return true, false
	case <-s.ka.C:
		return true, true
	case <-s.ctx.Done():
	case <-s.closing:
	case <-s.boot:
	}
	return false, false
}

// streamCount returns how many streams are open and a channel closed at
// the next change of that number.
func (g *Guest) streamCount() (int, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.streams, g.streamsChanged
}

// ticker signals C every d of the guest's clock. It re-arms itself from
// its own callback, so with a manual clock the ticks fall exactly every d
// whatever the reader does; ticks the reader has not taken yet coalesce.
type ticker struct {
	g       *Guest
	d       time.Duration
	C       chan struct{}
	t       *trackedTimer
	stopped bool
}

func (g *Guest) newTickerLocked(d time.Duration) *ticker {
	tk := &ticker{g: g, d: d, C: make(chan struct{}, 1)}
	tk.t = g.afterLocked(d, tk.fire)
	return tk
}

func (tk *ticker) fire() {
	tk.g.mu.Lock()
	defer tk.g.mu.Unlock()
	if tk.stopped {
		return
	}
	select {
	case tk.C <- struct{}{}:
	default:
	}
	tk.t = tk.g.afterLocked(tk.d, tk.fire)
}

func (tk *ticker) stopLocked() {
	tk.stopped = true
	tk.g.stopTimerLocked(tk.t)
}

// execEvent is one line of the NDJSON stream of POST /process (the
// ProcessStreamEvent of the spec).
type execEvent struct {
	Type string `json:"type"`
	Data string `json:"data,omitempty"`
}

// streamExec answers POST /process with Accept: text/event-stream: the
// process's output lines as NDJSON events (those written before the
// request included), keepalives every 5 s, and a final result event.
func (g *Guest) streamExec(ctx context.Context, w http.ResponseWriter, p *process) {
	g.mu.Lock()
	s := g.openStreamLocked(ctx, w, execKeepalive)
	g.mu.Unlock()
	defer s.end()
	s.start("application/x-ndjson")
	event := func(typ, data string) {
		b, _ := json.Marshal(execEvent{Type: typ, Data: data})
		s.write(append(b, '\n'))
	}
	g.followProcess(s, p, func(l outLine) { event(l.stream, l.text) }, func() { event("keepalive", "") },
		func(final []byte) { event("result", string(final)) })
}

// streamLogs answers GET /process/{id}/logs/stream: "stdout:"/"stderr:"
// lines (history first), "[keepalive]" every 30 s, until the process ends.
func (g *Guest) streamLogs(ctx context.Context, w http.ResponseWriter, p *process) {
	g.mu.Lock()
	s := g.openStreamLocked(ctx, w, logsKeepalive)
	g.mu.Unlock()
	defer s.end()
	s.start("text/plain; charset=utf-8")
	g.followProcess(s, p, func(l outLine) { s.write([]byte(l.stream + ":" + l.text + "\n")) },
		func() { s.write([]byte("[keepalive]\n")) }, nil)
}

// followProcess feeds the output lines of p to line until p has ended,
// then calls result (if not nil) with the final process object.
func (g *Guest) followProcess(s *stream, p *process, line func(outLine), keepalive func(), result func([]byte)) {
	next, ka := 0, false
	for {
		g.mu.Lock()
		lines := p.lines[next:len(p.lines):len(p.lines)]
		next = len(p.lines)
		ended := p.ended()
		changed := p.changed
		var final []byte
		if ended && result != nil {
			final, _ = g.processAPILocked(p).MarshalJSON()
		}
		g.mu.Unlock()
		// Lines written before a keepalive tick go out before it.
		for _, l := range lines {
			line(l)
		}
		if ended {
			if result != nil {
				result(final)
			}
			s.flush()
			return
		}
		if ka {
			keepalive()
		}
		s.flush()
		var more bool
		if more, ka = s.wait(changed); !more {
			return
		}
	}
}
