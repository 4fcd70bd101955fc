package guest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// Keepalive periods of the streams, on the guest's clock.
const (
	execKeepalive  = 5 * time.Second  // POST /process NDJSON stream: {"type":"keepalive"}
	logsKeepalive  = 30 * time.Second // any process stream, while the process runs: "[keepalive]\n"
	watchKeepalive = 30 * time.Second // GET /watch/filesystem/{path}
)

// stream is one streaming response in progress. Whatever feeds it (a
// process, the file system) only queues and signals; all writing happens
// in the request's goroutine, so timer callbacks (which run inside
// clock.Manual.Advance) never block on a slow client.
type stream struct {
	g       *Guest
	ctx     context.Context
	w       http.ResponseWriter
	rc      *http.ResponseController
	closing <-chan struct{} // the guest is closing: end cleanly
	boot    <-chan struct{} // the server instance went away: drop the connection
	tickers []*ticker
	failed  bool // a write failed: the client is gone
	// header is the content type of a header not sent yet: the watch
	// stream answers only with its first line.
	header string
}

// openStreamLocked registers a stream. The caller sends the header (at
// once with start, or with the first line with lazyStart) and must call
// end.
func (g *Guest) openStreamLocked(ctx context.Context, w http.ResponseWriter) *stream {
	g.streams++
	close(g.streamsChanged)
	g.streamsChanged = make(chan struct{})
	return &stream{
		g: g, ctx: ctx, w: w, rc: http.NewResponseController(w),
		closing: g.closing, boot: g.bootDone,
	}
}

// tickerLocked adds a keepalive ticker of period d to the stream.
func (s *stream) tickerLocked(d time.Duration) *ticker {
	tk := s.g.newTickerLocked(d)
	s.tickers = append(s.tickers, tk)
	return tk
}

// start sends the 200 header now.
func (s *stream) start(contentType string) {
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	s.flush()
}

// lazyStart sets the header to be sent with the first write.
func (s *stream) lazyStart(contentType string) {
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Accel-Buffering", "no")
	s.header = contentType
}

// end unregisters the stream. If the server instance went away it then
// drops the connection (it panics with http.ErrAbortHandler).
func (s *stream) end() {
	g := s.g
	g.mu.Lock()
	for _, tk := range s.tickers {
		tk.stopLocked()
	}
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
	if s.failed || len(b) == 0 {
		return
	}
	if s.header != "" {
		s.header = ""
		s.w.WriteHeader(http.StatusOK)
	}
	if _, err := s.w.Write(b); err != nil {
		s.failed = true
	}
}

func (s *stream) flush() {
	if s.failed || s.header != "" {
		return
	}
	if err := s.rc.Flush(); err != nil && err != http.ErrNotSupported {
		s.failed = true
	}
}

// over reports whether the stream must end: the client left, the guest
// closes or its server instance went away.
func (s *stream) over() bool {
	return s.failed || s.ctx.Err() != nil || isDone(s.closing) || isDone(s.boot)
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

func execLine(typ, data string) []byte {
	b, _ := json.Marshal(execEvent{Type: typ, Data: data})
	return append(b, '\n')
}

// execStream answers POST /process with Accept: text/event-stream. The
// header goes out at once; then the process's output as the server's
// tailer reads it (raw chunks of up to 4 KiB, several lines each, every
// 50 ms while it runs), {"type":"keepalive"} every 5 s, and once the run
// has ended a result event with the process object. Text the server
// writes to the stream itself (the stop and restart messages, the 30 s
// "[keepalive]\n") comes as stdout events.
func (g *Guest) execStream(ctx context.Context, req *sandboxsrv.ProcessRequest, w http.ResponseWriter, expired <-chan struct{}, timeout int) {
	g.mu.Lock()
	s := g.openStreamLocked(ctx, w)
	g.mu.Unlock()
	defer s.end()
	s.start("application/x-ndjson")

	// Without waitForPorts the stream is attached before the command
	// runs, as the server's is before the command has written anything.
	pw := newProcWriter()
	if len(req.WaitForPorts) > 0 {
		pw = nil
	}
	g.mu.Lock()
	p, aerr := g.startProcessLocked(req, pw)
	g.mu.Unlock()
	if aerr != nil {
		s.write(execLine("error", aerr.Response.Error))
		s.flush()
		return
	}
	if len(req.WaitForPorts) > 0 {
		if !g.waitPorts(ctx, p, req.WaitForPorts, expired) {
			if ctx.Err() == nil {
				s.write(execLine("error", "failed to start process: process timed out waiting for ports after "+itoa(timeout)+" seconds"))
				s.flush()
			}
			return
		}
		g.mu.Lock()
		pw = g.attachLocked(p)
		g.mu.Unlock()
	}
	g.mu.Lock()
	ka30 := s.tickerLocked(logsKeepalive)
	ka5 := s.tickerLocked(execKeepalive)
	g.mu.Unlock()
	defer g.detach(p, pw)

	sent := false
	emit := func(evs []outEvent) {
		for _, e := range evs {
			typ := e.stream
			if typ == "" {
				typ = "stdout"
			}
			sent = true
			s.write(execLine(typ, string(e.data)))
		}
	}
	for {
		g.mu.Lock()
		evs := pw.take()
		ended := isDone(pw.runDone)
		g.mu.Unlock()
		emit(evs)
		if ended {
			break
		}
		s.flush()
		select {
		case <-pw.notify:
		case <-pw.runDone:
		case <-ka30.C:
			g.mu.Lock()
			running := p.status == statusRunning
			if !running {
				ka30.stopLocked()
			}
			g.mu.Unlock()
			if running {
				emit([]outEvent{{"", []byte("[keepalive]\n")}})
			}
		case <-ka5.C:
			s.write(execLine("keepalive", ""))
		case <-ctx.Done():
		case <-s.closing:
		case <-s.boot:
		}
		if s.over() {
			return
		}
	}
	g.mu.Lock()
	final := g.processAPILocked(p, viewGet)
	g.mu.Unlock()
	// The server's fallback for a command whose output it streamed none
	// of: its output, one event per line, without the newline.
	if !sent {
		for _, st := range []struct{ typ, text string }{{"stdout", final.Stdout.Value}, {"stderr", final.Stderr.Value}} {
			for _, line := range strings.Split(st.text, "\n") {
				if line != "" {
					s.write(execLine(st.typ, line))
				}
			}
		}
	}
	b, _ := final.MarshalJSON()
	s.write(execLine("result", string(b)))
	s.flush()
}

// detach removes a stream from its process.
func (g *Guest) detach(p *process, w *procWriter) {
	if w == nil {
		return
	}
	g.mu.Lock()
	delete(p.writers, w)
	g.mu.Unlock()
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// streamLogs answers GET /process/{id}/logs/stream: the header at once;
// the combined log replayed a line at a time ("stdout:"/"stderr:" before
// each); then each chunk the tailer reads with the prefix before its
// first line only; "[keepalive]" every 30 s while the process runs;
// until the run ends. An unknown process is a 200 with an {"error"} body,
// as on the real server, whose header has gone out by then.
func (g *Guest) streamLogs(ctx context.Context, w http.ResponseWriter, id string) {
	g.mu.Lock()
	s := g.openStreamLocked(ctx, w)
	p := g.lookupProcessLocked(id)
	g.mu.Unlock()
	defer s.end()
	s.start("text/plain; charset=utf-8")
	if p == nil {
		b, _ := json.Marshal(struct {
			Error string `json:"error"`
		}{"process with Identifier " + id + " not found"})
		s.write(b)
		s.flush()
		return
	}
	g.mu.Lock()
	pw := g.attachLocked(p)
	ka30 := s.tickerLocked(logsKeepalive)
	g.mu.Unlock()
	defer g.detach(p, pw)

	sent := false
	emit := func(evs []outEvent) {
		for _, e := range evs {
			if e.stream != "" {
				s.write([]byte(e.stream + ":"))
			}
			s.write(e.data)
			sent = true
		}
	}
	for {
		g.mu.Lock()
		evs := pw.take()
		ended := isDone(pw.runDone)
		g.mu.Unlock()
		emit(evs)
		if ended {
			break
		}
		s.flush()
		select {
		case <-pw.notify:
		case <-pw.runDone:
		case <-ka30.C:
			g.mu.Lock()
			running := p.status == statusRunning
			if !running {
				ka30.stopLocked()
			}
			g.mu.Unlock()
			if running {
				emit([]outEvent{{"", []byte("[keepalive]\n")}})
			}
		case <-ctx.Done():
		case <-s.closing:
		case <-s.boot:
		}
		if s.over() {
			return
		}
	}
	if !sent {
		g.mu.Lock()
		combined := p.combined
		g.mu.Unlock()
		s.write(combined)
	}
	s.flush()
}
