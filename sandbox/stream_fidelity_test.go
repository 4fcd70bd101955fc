package sandbox_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// chunk is output as the real server reads it from a process: up to 4 KiB
// of one stream, cut anywhere.
type chunk struct {
	stream, data string
}

// chunked cuts data of stream into 4 KiB chunks.
func chunked(stream, data string) []chunk {
	var out []chunk
	for len(data) > 0 {
		n := min(len(data), 4096)
		out = append(out, chunk{stream, data[:n]})
		data = data[n:]
	}
	return out
}

// execWire renders chunks as the live exec stream: one event per chunk.
func execWire(chunks []chunk, result string) string {
	var b strings.Builder
	for _, c := range chunks {
		fmt.Fprintf(&b, "{\"type\":%q,\"data\":%q}\n", c.stream, c.data)
	}
	fmt.Fprintf(&b, "{\"type\":\"result\",\"data\":%q}\n", result)
	return b.String()
}

// logsWire renders chunks as the live log stream: each chunk prefixed,
// whatever it holds, with the keepalive written between two chunks after
// the chunks numbered in keepaliveAfter.
func logsWire(chunks []chunk, keepaliveAfter ...int) string {
	var b strings.Builder
	for i, c := range chunks {
		b.WriteString(c.stream + ":" + c.data)
		for _, k := range keepaliveAfter {
			if k == i {
				b.WriteString("[keepalive]\n")
			}
		}
	}
	return b.String()
}

// TestExecStreamAndStreamLogsAgree: the two streams frame output
// differently (exec: JSON events of raw chunks; logs: a prefix per chunk
// only) and deliver the same lines: lines split across chunks, several
// lines in one chunk, "\r" kept, a 600,000-byte line in pieces of
// MaxLineSize, a last line without newline, no keepalive.
func TestExecStreamAndStreamLogsAgree(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 600_000)
	chunks := []chunk{{"stdout", "a\nb\n"}, {"stdout", "par"}, {"stderr", "e1\n"}, {"stdout", "tial\r\n"}}
	chunks = append(chunks, chunked("stdout", long+"\n")...)
	chunks = append(chunks, chunk{"stderr", "e2\r\ne3"}, chunk{"stdout", "end"})
	const max = 256 << 10
	want := []string{"stdout:a\n", "stdout:b\n", "stderr:e1\n", "stdout:partial\r\n",
		"stdout:" + long[:max], "stdout:" + long[:max], "stdout:" + long[:600_000-2*max] + "\n",
		"stderr:e2\r\n", "stdout:end", "stderr:e3", "result:completed"}

	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			switch {
			case r.Method == http.MethodPost:
				return streamResponse(r, "application/x-ndjson", newBody(execWire(chunks, doneProcess), io.EOF)), nil
			case strings.HasSuffix(r.URL.Path, "/logs/stream"):
				return streamResponse(r, "text/plain; charset=utf-8", newBody(logsWire(chunks, 1, 5, 100), io.EOF)), nil
			}
			return jsonResponse(r, 200, doneProcess), nil
		})
		opts := &sandbox.StreamOptions{MaxLineSize: max}
		s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "x"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := collect(t, s)
		if diff := cmp.Diff(want, events); err != nil || diff != "" {
			t.Errorf("ExecStream events (-want +got):\n%s\nerror %v", abbreviate(diff), err)
		}
		s, err = c.StreamLogs(t.Context(), "77", opts)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err = collect(t, s)
		if diff := cmp.Diff(want, events); err != nil || diff != "" {
			t.Errorf("StreamLogs events (-want +got):\n%s\nerror %v", abbreviate(diff), err)
		}
	})
}

// abbreviate shortens runs of x in a diff.
func abbreviate(s string) string {
	for strings.Contains(s, strings.Repeat("x", 64)) {
		s = strings.ReplaceAll(s, strings.Repeat("x", 64), "x…")
	}
	return s
}

// TestExecStreamFastCommandReplay: for a command that ended before
// anything was streamed, the real server sends each line of its output
// as an event without newline (empty lines left out), stdout first; the
// stream gives the lines back as the process wrote them.
func TestExecStreamFastCommandReplay(t *testing.T) {
	t.Parallel()
	result := func(stdout, stderr string) string {
		return fmt.Sprintf(`{"pid":"77","name":"n","command":"c","status":"completed","startedAt":"Sun, 22 Nov 2026 22:49:06 GMT",
			"completedAt":"Sun, 22 Nov 2026 22:49:07 GMT","exitCode":0,"workingDir":"","logs":"","stdout":%q,"stderr":%q}`, stdout, stderr)
	}
	tests := []struct {
		name   string
		events [][2]string
		result string
		want   []string
	}{
		{"three lines", [][2]string{{"stdout", "a"}, {"stdout", "b"}, {"stdout", "c"}}, result("a\nb\nc\n", ""),
			[]string{"stdout:a\n", "stdout:b\n", "stdout:c\n"}},
		{"empty line and no final newline", [][2]string{{"stdout", "a"}, {"stdout", "c"}, {"stderr", "oops"}}, result("a\n\nc", "oops\n"),
			[]string{"stdout:a\n", "stdout:\n", "stdout:c", "stderr:oops\n"}},
		// Live chunks without newline are one line: the result shows it.
		{"live chunks", [][2]string{{"stdout", "a"}, {"stdout", "b"}}, result("ab", ""),
			[]string{"stdout:ab"}},
		{"live then replayed", [][2]string{{"stdout", "a\n"}, {"stdout", "b"}}, result("a\nb", ""),
			[]string{"stdout:a\n", "stdout:b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := mockClient(t, func(r *http.Request) (*http.Response, error) {
					body := ndjson(append(tc.events, [2]string{"result", tc.result})...)
					return streamResponse(r, "application/x-ndjson", newBody(body, io.EOF)), nil
				})
				s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "c"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				events, _, err := collect(t, s)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(append(tc.want, "result:completed"), events); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestStreamLogsReconnectFloor: a server that ends every log stream after
// one line while the process runs is not asked again at once (today's
// main reconnected ~6,000 times a second); connections are at least
// ReconnectDelay apart.
func TestStreamLogsReconnectFloor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var connections atomic.Int32
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			running := time.Since(start) < 10*time.Second && connections.Load() < 1000
			if strings.HasSuffix(r.URL.Path, "/logs/stream") {
				n := connections.Add(1)
				// The replay, one new line, and the end.
				var b strings.Builder
				for i := range n {
					fmt.Fprintf(&b, "stdout:line %d\n", i)
				}
				return streamResponse(r, "text/plain", newBody(b.String(), io.EOF)), nil
			}
			if running {
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
		n := int(connections.Load())
		t.Logf("%d connections in 10 s", n)
		// 10 s at one connection per 250 ms at most.
		if n > 42 {
			t.Errorf("%d connections in 10 s, want at most 42", n)
		}
		if len(events) != n+1 || events[n-1] != fmt.Sprintf("stdout:line %d\n", n-1) {
			t.Errorf("%d events for %d connections: %q ... %q", len(events), n, events[0], events[len(events)-1])
		}
	})
}

// streamServer is procServer with the stream routes: POST /process with
// Accept: text/event-stream answers NDJSON, and the log stream replays
// the process's output.
type streamServer struct {
	procServer
}

func (s *streamServer) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/logs/stream") {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lookups++
		return streamResponse(r, "text/plain; charset=utf-8", newBody("stdout:hi\n", io.EOF)), nil
	}
	resp, err := s.procServer.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || resp.StatusCode != 200 {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	body := ndjson([2]string{"stdout", "hi\n"}, [2]string{"result", string(b)})
	return streamResponse(r, "application/x-ndjson", newBody(body, io.EOF)), nil
}

// TestExecStreamRecoversAmbiguousExec: the exec's answer is lost after it
// was sent; ExecStream settles it as Run does and never starts the
// command twice nor leaves it running unseen.
func TestExecStreamRecoversAmbiguousExec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		commit       bool
		drop         int
		wantRequests []string
	}{
		// Started, then the connection dropped: found by name, followed
		// through its log stream.
		{"reset after commit", true, 1, []string{"POST", "GET", "GET logs", "GET"}},
		// Dropped before the server saw it: not found, sent again.
		{"reset before commit", false, 1, []string{"POST", "GET", "POST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &streamServer{procServer{commit: tt.commit, dropExec: tt.drop, started: map[string]int{}}}
				var mu sync.Mutex
				var seen []string
				c, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(mockBase),
					sandboxkit.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
						mu.Lock()
						label := r.Method
						if strings.HasSuffix(r.URL.Path, "/logs/stream") {
							label += " logs"
						}
						seen = append(seen, label)
						mu.Unlock()
						return srv.RoundTrip(r)
					})}))
				if err != nil {
					t.Fatal(err)
				}
				s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "echo hi"}, nil)
				if err != nil {
					t.Fatalf("ExecStream: %v", err)
				}
				events, _, err := collect(t, s)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"stdout:hi\n", "result:completed"}, events); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantRequests, seen); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
				srv.mu.Lock()
				defer srv.mu.Unlock()
				for name, n := range srv.started {
					if n != 1 {
						t.Errorf("%d processes named %q started", n, name)
					}
				}
			})
		})
	}
}

// TestExecStreamAmbiguousLookupFails: when the lookup cannot tell, the
// error is an *OutcomeError naming ExecStream.
func TestExecStreamAmbiguousLookupFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost {
				return nil, errConnReset()
			}
			return jsonResponse(r, 403, `{"error":"forbidden"}`), nil
		})
		_, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "echo hi"}, nil)
		oe, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || oe.Op != "sandbox.ExecStream" || oe.Kind != "process" || oe.ID != "" || !strings.HasPrefix(oe.Token, "sandboxkit-") {
			t.Fatalf("ExecStream = %v, want an *OutcomeError of sandbox.ExecStream", err)
		}
		if !errors.Is(err, sandboxkit.ErrOutcomeUnknown) || !errors.Is(err, sandboxkit.ErrForbidden) {
			t.Errorf("errors.Is(%v): want ErrOutcomeUnknown and the lookup's ErrForbidden", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
