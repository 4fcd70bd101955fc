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
		if dir != w.dir && !(w.recursive && under(dir, w.dir)) {
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
	for _, s := range w.ignore {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// WatchFilesystem implements GET /watch/filesystem/{path}: one JSON line
// per change in the directory (the whole subtree with a trailing /**),
// "[keepalive]" every 30 s of the guest's clock. It ends only when the
// client goes away or the guest closes (and drops the connection when the
// server restarts or the sandbox terminates).
func (h handler) WatchFilesystem(ctx context.Context, params sandboxsrv.WatchFilesystemParams, w http.ResponseWriter) error {
	raw, recursive := params.Path, false
	if r, ok := strings.CutSuffix(raw, "/**"); ok {
		raw, recursive = r, true
		if raw == "" {
			raw = "/"
		}
	} else if raw == "**" {
		raw, recursive = ".", true
	}
	dir := h.abs(raw)
	h.mu.Lock()
	n, err := h.lookupLocked(dir)
	if err != nil || !n.dir {
		h.mu.Unlock()
		writeError(w, http.StatusBadRequest, "path is not a directory")
		return nil
	}
	wt := &watcher{dir: dir, recursive: recursive, ignore: splitList(params.Ignore.Or("")), notify: make(chan struct{}, 1)}
	h.watchers[wt] = struct{}{}
	s := h.openStreamLocked(ctx, w, watchKeepalive)
	h.mu.Unlock()
	defer s.end()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, wt)
		h.mu.Unlock()
	}()

	s.start("text/plain; charset=utf-8")
	keepalive := false
	for {
		// Changes queued before a keepalive tick go out before it.
		h.mu.Lock()
		events := wt.queue
		wt.queue = nil
		h.mu.Unlock()
		for _, e := range events {
			b, _ := json.Marshal(e)
			s.write(append(b, '\n'))
		}
		if keepalive {
			s.write([]byte("[keepalive]\n"))
		}
		s.flush()
		var more bool
		if more, keepalive = s.wait(wt.notify); !more {
			return nil
		}
	}
}
