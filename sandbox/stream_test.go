package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// scriptedBody yields data, then ends with end, or blocks until closed
// when end is nil.
type scriptedBody struct {
	data   string
	end    error
	closed chan struct{}
	once   sync.Once
}

func newBody(data string, end error) *scriptedBody {
	return &scriptedBody{data: data, end: end, closed: make(chan struct{})}
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, errors.New("read on closed body")
	default:
	}
	if b.data != "" {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	if b.end != nil {
		return 0, b.end
	}
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *scriptedBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (b *scriptedBody) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// ndjson renders exec stream events.
func ndjson(events ...[2]string) string {
	var b strings.Builder
	for _, e := range events {
		if e[1] == "" && e[0] == "keepalive" {
			fmt.Fprintf(&b, "{\"type\":%q}\n", e[0])
			continue
		}
		fmt.Fprintf(&b, "{\"type\":%q,\"data\":%q}\n", e[0], e[1])
	}
	return b.String()
}

const doneProcess = `{"pid":"77","name":"n","command":"c","status":"completed","startedAt":"Sun, 22 Nov 2026 22:49:06 GMT",
	"completedAt":"Sun, 22 Nov 2026 22:49:07 GMT","exitCode":0,"workingDir":"","logs":"","stdout":"","stderr":""}`

// collect reads a stream to its end.
func collect(t *testing.T, s *sandbox.Stream[sandbox.ProcessEvent]) (events []string, result *sandbox.Process, err error) {
	t.Helper()
	for s.Next() {
		ev := s.Event()
		switch ev.Type {
		case sandbox.EventResult:
			result = ev.Process
			events = append(events, "result:"+string(ev.Process.Status))
		default:
			events = append(events, string(ev.Type)+":"+ev.Text)
		}
	}
	return events, result, s.Err()
}

func TestExecStreamLines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var req *http.Request
		var reqBody string
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			req = r
			b, _ := io.ReadAll(r.Body)
			reqBody = string(b)
			body := ndjson(
				[2]string{"stdout", "hi\n"},
				[2]string{"keepalive", ""},
				[2]string{"stdout", "[keepalive]\n"}, // the log keepalive leaking in
				[2]string{"stderr", "warn\n"},
				[2]string{"stdout", "a\nb\n"},
				[2]string{"stdout", "par"},
				[2]string{"mystery", "ignored"},
				[2]string{"stdout", "tial\nlast"},
				[2]string{"result", doneProcess},
			)
			return streamResponse(r, "application/x-ndjson", newBody(body, io.EOF)), nil
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "echo hi"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		events, result, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"stdout:hi\n", "stderr:warn\n", "stdout:a\n", "stdout:b\n", "stdout:partial\n", "stdout:last", "result:completed"}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if result.PID != "77" || result.ExitCode != 0 {
			t.Errorf("result %+v", result)
		}
		if got := req.Header.Get("Accept"); got != "text/event-stream" {
			t.Errorf("Accept = %q", got)
		}
		if !strings.Contains(reqBody, `"name":"sandboxkit-`) {
			t.Errorf("request %s gives the process no name to resume with", reqBody)
		}
	})
}

// TestExecStreamResume: the exec stream drops mid-line; the stream goes
// on from the log stream, skipping what it has seen, then reads the result.
func TestExecStreamResume(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []string
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path)
			mu.Unlock()
			switch {
			case r.Method == "POST":
				body := ndjson([2]string{"stdout", "one\n"}, [2]string{"stderr", "e1\n"}, [2]string{"stdout", "tw"})
				return streamResponse(r, "application/x-ndjson", newBody(body, io.ErrUnexpectedEOF)), nil
			case strings.HasSuffix(r.URL.Path, "/logs/stream"):
				body := "stdout:one\nstderr:e1\nstdout:two\n[keepalive]\nstderr:oops\nstdout:three\n"
				return streamResponse(r, "text/plain; charset=utf-8", newBody(body, io.EOF)), nil
			default:
				return jsonResponse(r, 200, doneProcess), nil
			}
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x", Name: "job-1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"stdout:one\n", "stderr:e1\n", "stdout:two\n", "stderr:oops\n", "stdout:three\n", "result:completed"}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		wantReqs := []string{"POST /process", "GET /process/job-1/logs/stream", "GET /process/job-1"}
		if diff := cmp.Diff(wantReqs, seen); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// TestStreamLogsResume: the log stream drops; the replay of the next
// connection is skipped up to what was seen.
func TestStreamLogsResume(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		connections, gets := 0, 0
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if !strings.HasSuffix(r.URL.Path, "/logs/stream") {
				if gets++; gets == 1 { // after the clean cut
					return jsonResponse(r, 200, strings.Replace(doneProcess, `"completed"`, `"running"`, 1)), nil
				}
				return jsonResponse(r, 200, doneProcess), nil
			}
			connections++
			n := connections
			switch n {
			case 1:
				return streamResponse(r, "text/plain", newBody("stdout:1\nstdout:2\nstdout:3-", io.ErrUnexpectedEOF)), nil
			case 2: // a proxy cuts it cleanly while the process runs
				return streamResponse(r, "text/plain", newBody("stdout:1\nstdout:2\n", io.EOF)), nil
			default:
				return streamResponse(r, "text/plain", newBody("stdout:1\nstdout:2\nstdout:3-and-a-half\n[keepalive]\nstdout:4\n", io.EOF)), nil
			}
		})
		s, err := c.StreamLogs(t.Context(), "77", &sandbox.StreamOptions{ReconnectDelay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		events, result, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"stdout:1\n", "stdout:2\n", "stdout:3-and-a-half\n", "stdout:4\n", "result:completed"}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if result == nil || connections != 3 {
			t.Errorf("result %v after %d connections, want 3", result, connections)
		}
	})
}

// TestStreamLogsProcessStillRunning: a log stream that ends while the
// process runs is reopened.
func TestStreamLogsProcessStillRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		streams, gets := 0, 0
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if strings.HasSuffix(r.URL.Path, "/logs/stream") {
				streams++
				if streams == 1 {
					return streamResponse(r, "text/plain", newBody("stdout:a\n", io.EOF)), nil
				}
				return streamResponse(r, "text/plain", newBody("stdout:a\nstdout:b\n", io.EOF)), nil
			}
			gets++
			if gets == 1 {
				return jsonResponse(r, 200, strings.Replace(doneProcess, `"completed"`, `"running"`, 1)), nil
			}
			return jsonResponse(r, 200, doneProcess), nil
		})
		s, err := c.StreamLogs(t.Context(), "77", nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"stdout:a\n", "stdout:b\n", "result:completed"}, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestStreamLogsRebuildsLines: the real server prefixes every chunk, not
// every line, and a chunk that does not start a line shows only as a
// prefix in the middle of one.
func TestStreamLogsRebuildsLines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if !strings.HasSuffix(r.URL.Path, "/logs/stream") {
				return jsonResponse(r, 200, doneProcess), nil
			}
			body := "stdout:abcstderr:err\nstdout:def\nmore\nstderr:x\ny\n"
			return streamResponse(r, "text/plain", newBody(body, io.EOF)), nil
		})
		s, err := c.StreamLogs(t.Context(), "77", nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"stderr:err\n", "stdout:abcdef\n", "stdout:more\n", "stderr:x\n", "stderr:y\n", "result:completed"}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestStreamLogsUnknownProcess: the real server answers 200 before it
// looks the process up, then writes an error object.
func TestStreamLogsUnknownProcess(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return streamResponse(r, "text/plain", newBody(`{"error":"process with Identifier x not found"}`, io.EOF)), nil
		})
		s, err := c.StreamLogs(t.Context(), "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"error:process with Identifier x not found"}, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestStreamReconnectsGiveUp: a stream that keeps dropping ends with an
// error after MaxReconnects attempts.
func TestStreamReconnectsGiveUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		opened := 0
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			opened++
			mu.Unlock()
			return streamResponse(r, "text/plain", newBody("", io.ErrUnexpectedEOF)), nil
		})
		s, err := c.StreamLogs(t.Context(), "77", &sandbox.StreamOptions{MaxReconnects: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = collect(t, s)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "2 reconnections failed") {
			t.Errorf("error %v", err)
		}
		if opened != 3 {
			t.Errorf("%d connections, want 3", opened)
		}
	})
}

// TestExecStreamWithoutResume: with reconnecting off, no name is added
// and a drop is an error.
func TestExecStreamWithoutResume(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var reqBody string
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			reqBody = string(b)
			return streamResponse(r, "application/x-ndjson", newBody(ndjson([2]string{"stdout", "x\n"}), io.ErrUnexpectedEOF)), nil
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, &sandbox.StreamOptions{MaxReconnects: -1})
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(events) != 1 {
			t.Errorf("events %q, error %v", events, err)
		}
		if strings.Contains(reqBody, "name") {
			t.Errorf("request %s names the process", reqBody)
		}
	})
}

// TestExecStreamJSONAnswer: a server that ignores the Accept header.
func TestExecStreamJSONAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return jsonResponse(r, 200, strings.Replace(strings.Replace(doneProcess, `"stdout":""`, `"stdout":"a\nb\n"`, 1), `"stderr":""`, `"stderr":"c"`, 1)), nil
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"stdout:a\n", "stdout:b\n", "stderr:c", "result:completed"}, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestStreamClose: Close from another goroutine ends a blocked Next, with
// no error, and closes the body.
func TestStreamClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := newBody(ndjson([2]string{"stdout", "first\n"}), nil)
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return streamResponse(r, "application/x-ndjson", body), nil
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Next() || s.Event().Text != "first\n" {
			t.Fatalf("first event: %+v, %v", s.Event(), s.Err())
		}
		done := make(chan bool)
		go func() { done <- s.Next() }()
		synctest.Wait() // Next is blocked on the body
		s.Close()
		if <-done {
			t.Error("Next returned true after Close")
		}
		if s.Err() != nil || !body.isClosed() {
			t.Errorf("Err = %v, body closed %v", s.Err(), body.isClosed())
		}
	})
}

// TestStreamContextEnds: the end of the context ends a blocked Next with
// the context's error.
func TestStreamContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := newBody("", nil)
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return streamResponse(r, "text/plain", body), nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		s, err := c.Watch(ctx, "/tmp", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Next() {
			t.Fatal("Next returned an event")
		}
		if !errors.Is(s.Err(), context.DeadlineExceeded) || !body.isClosed() {
			t.Errorf("Err = %v, body closed %v", s.Err(), body.isClosed())
		}
		s.Close()
	})
}

// TestStreamLineTooLong: a watch event line over MaxLineSize ends the
// stream; process output over it comes in pieces instead.
func TestStreamLineTooLong(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if strings.HasPrefix(r.URL.Path, "/watch/") {
				body := `{"op":"CREATE","name":"a","path":"/tmp"}` + "\n" + `{"op":"CREATE","name":"` + strings.Repeat("x", 200) + `","path":"/tmp"}` + "\n"
				return streamResponse(r, "text/plain", newBody(body, nil)), nil
			}
			body := ndjson([2]string{"stdout", "ok\n"}, [2]string{"stdout", strings.Repeat("x", 200)}, [2]string{"result", doneProcess})
			return streamResponse(r, "application/x-ndjson", newBody(body, nil)), nil
		})
		w, err := c.Watch(t.Context(), "/tmp", &sandbox.WatchOptions{MaxLineSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for w.Next() {
			n++
		}
		if !errors.Is(w.Err(), sandbox.ErrLineTooLong) || n != 1 {
			t.Errorf("%d watch events, error %v; want 1 and ErrLineTooLong", n, w.Err())
		}
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, &sandbox.StreamOptions{MaxLineSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		want := []string{"stdout:ok\n", "stdout:" + strings.Repeat("x", 100), "stdout:" + strings.Repeat("x", 100), "result:completed"}
		if diff := cmp.Diff(want, events); err != nil || diff != "" {
			t.Errorf("events (-want +got):\n%s\nerror %v", diff, err)
		}
	})
}

// TestStreamAllBreakCloses: leaving a range loop early closes the stream.
func TestStreamAllBreakCloses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := newBody(ndjson([2]string{"stdout", "1\n"}, [2]string{"stdout", "2\n"}), nil)
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return streamResponse(r, "application/x-ndjson", body), nil
		})
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for ev, err := range s.All() {
			if err != nil || ev.Text != "1\n" {
				t.Fatalf("event %+v, %v", ev, err)
			}
			break
		}
		if !body.isClosed() {
			t.Error("body still open after break")
		}
	})
}

func TestWatchEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			body := `{"op":"CREATE","name":"a.txt","path":"/tmp/w","error":null}` + "\n[keepalive]\n" +
				`{"op":"CREATE|WRITE","name":"b","path":"/tmp/w/sub","error":null,"extra":1}` + "\n"
			return streamResponse(r, "text/plain; charset=utf-8", newBody(body, io.EOF)), nil
		})
		s, err := c.Watch(t.Context(), "/tmp/w", &sandbox.WatchOptions{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []sandbox.FileEvent
		for s.Next() {
			got = append(got, s.Event())
		}
		want := []sandbox.FileEvent{
			{Op: sandbox.OpCreate, Name: "a.txt", Dir: "/tmp/w"},
			{Op: "CREATE|WRITE", Name: "b", Dir: "/tmp/w/sub"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if !got[1].Op.Has(sandbox.OpWrite) || got[1].Op.Has(sandbox.OpRemove) || got[1].Path() != "/tmp/w/sub/b" {
			t.Errorf("Has/Path of %+v", got[1])
		}
		// The server never ends a watch: the end of the body is a drop.
		if !errors.Is(s.Err(), io.ErrUnexpectedEOF) {
			t.Errorf("Err = %v", s.Err())
		}
	})
}

// TestWatchAnswersLate: the real server sends its headers only with the
// first event, so Watch must return before they come.
func TestWatchAnswersLate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			select {
			case <-release:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
			return streamResponse(r, "text/plain", newBody(`{"op":"REMOVE","name":"x","path":"/w"}`+"\n", nil)), nil
		})
		// With httpmock no request is ever "written", so Watch waits for
		// the answer or the context.
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			s, err := c.Watch(ctx, "/w", nil)
			if err == nil {
				defer s.Close()
				if !s.Next() || s.Event().Op != sandbox.OpRemove {
					err = fmt.Errorf("no event: %v", s.Err())
				}
			}
			done <- err
		}()
		synctest.Wait()
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cancel()
	})
}

// TestExecStreamCloseLeavesNoGoroutine streams from a real HTTP server,
// closes the stream mid-way and checks that no goroutine is left. It does
// not run in parallel: goleak looks at every goroutine of the process.
func TestExecStreamCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, srv := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range 3 {
			fmt.Fprintf(w, "{\"type\":\"stdout\",\"data\":\"line %d\\n\"}\n", i)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the process runs on; the client goes away
	})
	s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "yes"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !s.Next() || s.Event().Text != fmt.Sprintf("line %d\n", i) {
			t.Fatalf("event %d: %+v, %v", i, s.Event(), s.Err())
		}
	}
	s.Close()
	if s.Next() || s.Err() != nil {
		t.Errorf("after Close: Next true or Err %v", s.Err())
	}
	srv.Close()
	c.Config().HTTPClient().CloseIdleConnections()
}

// TestStreamNextAfterClose: a closed stream yields nothing more, even
// events it already holds.
func TestStreamNextAfterClose(t *testing.T) {
	t.Parallel()
	s := sandbox.StreamOf(sandbox.FileEvent{Name: "a"}, sandbox.FileEvent{Name: "b"})
	if !s.Next() || s.Event().Name != "a" {
		t.Fatal("first event missing")
	}
	s.Close()
	if s.Next() || s.Err() != nil {
		t.Errorf("Next after Close: true or Err %v", s.Err())
	}
}
