package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// watchStream is an open GET /watch/filesystem stream.
type watchStream struct {
	resp   <-chan *http.Response
	cancel context.CancelFunc
	body   io.Closer
	r      *bufio.Reader
}

// watch opens a watch. The real server answers only with its first
// event, so the request runs in the background until then.
func (tg *target) watch(t *testing.T, path string) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.url+path, nil)
		defer close(ch)
		if resp, err := tg.http.Do(req); err == nil {
			ch <- resp
		}
	}()
	ws := &watchStream{resp: ch, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		for resp := range ch {
			resp.Body.Close()
		}
		if ws.body != nil {
			ws.body.Close()
		}
	})
	// Let the watch reach the server before anything changes.
	tg.elapse(300 * time.Millisecond)
	return ws
}

// next returns the next n lines, events reduced to "OP name path".
func (ws *watchStream) next(t *testing.T, n int, dirPrefix string) []string {
	t.Helper()
	if ws.r == nil {
		select {
		case resp, ok := <-ws.resp:
			if !ok {
				t.Fatal("watch request failed")
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("watch answer: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			ws.r, ws.body = bufio.NewReader(resp.Body), resp.Body
		case <-time.After(20 * time.Second):
			t.Fatal("no answer to the watch")
		}
	}
	var out []string
	for range n {
		line, err := ws.r.ReadString('\n')
		if err != nil {
			t.Fatalf("watch stream: %q %v (after %q)", line, err, out)
		}
		var e fileEvent
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil && e.Error == nil {
			line = e.Op + " " + e.Name + " " + strings.Replace(e.Path, dirPrefix, "D", 1)
		} else {
			line = strings.TrimSuffix(line, "\n")
		}
		out = append(out, line)
	}
	return out
}

// events reads lines until n distinct consecutive events have come.
func (ws *watchStream) events(t *testing.T, n int, dirPrefix string) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		l := ws.next(t, 1, dirPrefix)[0]
		if len(out) > 0 && out[len(out)-1] == l {
			continue
		}
		out = append(out, l)
	}
	return out
}

func TestWatch(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxw")
		tg.mkdir(t, d+"/sub")
		abs := tg.workdir + "/" + d
		flat := tg.watch(t, "/watch/filesystem/"+d)
		deep := tg.watch(t, "/watch/filesystem/"+d+"/**?ignore=skip")
		put := func(p, body string) {
			if resp, b := tg.call(t, "PUT", "/filesystem/"+d+"/"+p, body); resp.StatusCode != 200 {
				t.Fatalf("PUT %s: %d %s", p, resp.StatusCode, b)
			}
			tg.elapse(100 * time.Millisecond) // keep the real server's events apart
		}
		put("a.txt", `{"content":"hello"}`)
		put("a.txt", `{"content":"hello2","permissions":"0600"}`) // no CHMOD: the mode is not changed
		put("empty.txt", `{"content":""}`)
		put("sub/f.txt", `{"content":"x"}`)
		put("skip.txt", `{"content":"x"}`)
		tg.call(t, "DELETE", "/filesystem/"+d+"/a.txt", "")
		tg.call(t, "DELETE", "/filesystem/"+d+"/sub?recursive=true", "")
		// Rewriting a.txt truncates it, then writes: the kernel reports
		// one or two modifications depending on when the server reads
		// its events (the mock: one). Runs of the same event count once.
		wantFlat := []string{"CREATE a.txt D", "WRITE a.txt D", "CREATE empty.txt D", "CREATE skip.txt D", "WRITE skip.txt D", "REMOVE a.txt D", "REMOVE sub D"}
		if diff := cmp.Diff(wantFlat, flat.events(t, len(wantFlat), abs)); diff != "" {
			t.Errorf("watch of the directory (-want +got):\n%s", diff)
		}
		wantDeep := []string{"CREATE a.txt D", "WRITE a.txt D", "CREATE empty.txt D", "CREATE f.txt D/sub", "WRITE f.txt D/sub", "REMOVE a.txt D", "REMOVE f.txt D/sub", "REMOVE sub D"}
		if diff := cmp.Diff(wantDeep, deep.events(t, len(wantDeep), abs)); diff != "" {
			t.Errorf("recursive watch ignoring 'skip' (-want +got):\n%s", diff)
		}
		// A keepalive line every 30 s.
		if tg.mock != nil {
			tg.elapse(30 * time.Second)
			if got := flat.next(t, 1, abs); got[0] != "[keepalive]" {
				t.Errorf("after 30 s: %q", got)
			}
		}
		// Errors come before the stream.
		for _, tc := range []struct {
			path string
			want answer
		}{
			{"/watch/filesystem/" + d + "/empty.txt", answer{400, errObj("path is not a directory")}},
			{"/watch/filesystem/" + d + "-none", answer{400, errObj("path is not a directory")}},
		} {
			if diff := cmp.Diff(tc.want, tg.answer(t, "GET", tc.path, "")); diff != "" {
				t.Errorf("watch %s (-want +got):\n%s", tc.path, diff)
			}
		}
	})
}
