package guest

import (
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// watcher is one GET /watch/filesystem/{path} stream's subscription.
type watcher struct {
	dir       string // clean absolute path of the watched directory
	recursive bool
	ignore    []string
	queue     []fileEvent
	notify    chan struct{} // capacity 1: "queue is not empty"
}

// fileEvent is one line of the watch stream (the FileEvent of the spec):
// what happened (op), to which entry (name) in which directory (path).
type fileEvent struct {
	Op    string  `json:"op"`
	Name  string  `json:"name"`
	Path  string  `json:"path"`
	Error *string `json:"error"`
}

// emitLocked reports a change of the entry at p to the watchers it
// concerns: those of its directory, and the recursive ones above it.
func (g *Guest) emitLocked(op, p string) {
	if len(g.watchers) == 0 {
		return
	}
	dir, name := path.Dir(p), path.Base(p)
	for w := range g.watchers {
		// The watched directory's own removal is reported too.
		self := p == w.dir && op == "REMOVE"
		if !self && dir != w.dir && !(w.recursive && under(dir, w.dir)) {
			continue
		}
		if w.ignored(p) {
			continue
		}
		w.queue = append(w.queue, fileEvent{Op: op, Name: name, Path: dir})
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

// under reports whether p is root or below it.
func under(p, root string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

func (w *watcher) ignored(p string) bool {
	// Patterns are plain substrings of the changed entry's absolute path.
	for _, s := range w.ignore {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// WatchFilesystem implements GET /watch/filesystem/{path}: one JSON line
// per change in the directory (the whole subtree with a trailing /**),
// "[keepalive]" every 30 s of the guest's clock. As on the real server the
// 200 header goes out with the first line, and the stream ends only when
// the client goes away or the guest closes (it drops the connection when
// the server restarts or the sandbox terminates).
func (h handler) WatchFilesystem(ctx context.Context, params sandboxsrv.WatchFilesystemParams, w http.ResponseWriter) error {
	raw, recursive := h.formatPath(params.Path), false
	if r, ok := strings.CutSuffix(raw, "/**"); ok {
		raw, recursive = r, true
		if raw == "" {
			raw = "/"
		}
	}
	dir := h.abs(raw)
	var ignore []string
	for _, s := range strings.Split(params.Ignore.Or(""), ",") {
		if s != "" {
			ignore = append(ignore, s)
		}
	}
	h.mu.Lock()
	n, err := h.lookupLocked(dir)
	switch {
	case err != nil && !isNotExist(err):
		h.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return nil
	case err != nil || !n.dir:
		h.mu.Unlock()
		writeError(w, http.StatusBadRequest, "path is not a directory")
		return nil
	}
	wt := &watcher{dir: dir, recursive: recursive, ignore: ignore, notify: make(chan struct{}, 1)}
	h.watchers[wt] = struct{}{}
	s := h.openStreamLocked(ctx, w)
	ka := s.tickerLocked(watchKeepalive)
	h.mu.Unlock()
	defer s.end()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, wt)
		h.mu.Unlock()
	}()

	s.lazyStart("text/plain; charset=utf-8")
	for {
		h.mu.Lock()
		events := wt.queue
		wt.queue = nil
		h.mu.Unlock()
		for _, e := range events {
			b, _ := json.Marshal(e)
			s.write(append(b, '\n'))
		}
		s.flush()
		select {
		case <-wt.notify:
		case <-ka.C:
			// Changes queued before the tick go out first.
			h.mu.Lock()
			events := wt.queue
			wt.queue = nil
			h.mu.Unlock()
			for _, e := range events {
				b, _ := json.Marshal(e)
				s.write(append(b, '\n'))
			}
			s.write([]byte("[keepalive]\n"))
		case <-ctx.Done():
		case <-s.closing:
		case <-s.boot:
		}
		if s.over() {
			return nil
		}
	}
}
