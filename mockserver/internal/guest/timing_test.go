package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// streamReader collects what a stream delivers, so a test can see what
// arrived by each point of the manual clock.
type streamReader struct {
	t   *testing.T
	ch  chan []byte
	buf []byte
}

func readStream(t *testing.T, body io.Reader) *streamReader {
	sr := &streamReader{t: t, ch: make(chan []byte, 1024)}
	go func() {
		defer close(sr.ch)
		b := make([]byte, 1<<20)
		for {
			n, err := body.Read(b)
			if n > 0 {
				sr.ch <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return sr
}

// now returns what has arrived so far (call after synctest.Wait).
func (sr *streamReader) now() string {
	for {
		select {
		case b, ok := <-sr.ch:
			if !ok {
				return string(sr.buf)
			}
			sr.buf = append(sr.buf, b...)
		default:
			return string(sr.buf)
		}
	}
}

// The tailer reads each log file at most 4 KiB per 50 ms tick while the
// process runs, counting ticks from its start; once it ends, the rest
// comes at once.
func TestStreamingSpeed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("burst", func(ctx context.Context, c *Cmd) (int, error) {
			if err := c.Sleep(ctx, 20*time.Millisecond); err != nil {
				return 1, err
			}
			fmt.Fprint(c.Stdout, strings.Repeat("x", 10000))
			fmt.Fprint(c.Stderr, "e")
			if err := c.Sleep(ctx, time.Second); err != nil {
				return 1, err
			}
			fmt.Fprint(c.Stdout, strings.Repeat("y", 9000))
			return 0, nil
		})
		resp := e.open(t, http.MethodPost, "/process", `{"command":"burst"}`, "Accept", "text/event-stream")
		sr := readStream(t, resp.Body)
		var got []string
		step := func(d time.Duration) {
			e.clock.Advance(d)
			synctest.Wait()
			var sizes []string
			for _, ev := range ndjson(t, []byte(sr.now())) {
				sizes = append(sizes, fmt.Sprintf("%s:%d", ev.Type, len(ev.Data)))
			}
			got = append(got, strings.Join(sizes, " "))
		}
		synctest.Wait()
		step(20 * time.Millisecond)  // written at 20 ms, not read yet
		step(30 * time.Millisecond)  // 50 ms: 4 KiB of stdout, stderr's byte
		step(50 * time.Millisecond)  // 100 ms
		step(50 * time.Millisecond)  // 150 ms: the rest
		step(870 * time.Millisecond) // 1.02 s: the process writes 9000 bytes and exits
		step(30 * time.Millisecond)  // 1.05 s: the tailer's last round reads them at once
		want := []string{
			"",
			"stdout:4096 stderr:1",
			"stdout:4096 stderr:1 stdout:4096",
			"stdout:4096 stderr:1 stdout:4096 stdout:1808",
			"stdout:4096 stderr:1 stdout:4096 stdout:1808",
			"stdout:4096 stderr:1 stdout:4096 stdout:1808 stdout:4096 stdout:4096 stdout:808 result:" + resultLen(t, sr),
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("events by time (-want +got):\n%s", d)
		}
	})
}

func resultLen(t *testing.T, sr *streamReader) string {
	evs := ndjson(t, []byte(sr.now()))
	return fmt.Sprint(len(evs[len(evs)-1].Data))
}

// Keepalives: {"type":"keepalive"} every 5 s on the exec stream, and the
// server's "[keepalive]\n" every 30 s on both process streams (as a
// stdout event on the exec stream), only while the process runs.
func TestStreamKeepalives(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		resp := e.open(t, http.MethodPost, "/process", `{"command":"sleep 31.5","name":"s"}`, "Accept", "text/event-stream")
		logs := e.open(t, http.MethodGet, "/process/s/logs/stream", "")
		exec, text := readStream(t, resp.Body), readStream(t, logs.Body)
		for range 6 {
			synctest.Wait()
			e.clock.Advance(5 * time.Second)
		}
		synctest.Wait()
		e.clock.Advance(1550 * time.Millisecond) // the exit at 31.5 s, the tailer's last round at 31.55 s
		synctest.Wait()
		var types []string
		for _, ev := range ndjson(t, []byte(exec.now())) {
			types = append(types, ev.Type+":"+ev.Data)
		}
		want := []string{"keepalive:", "keepalive:", "keepalive:", "keepalive:", "keepalive:", "stdout:[keepalive]\n", "keepalive:"}
		if len(types) != len(want)+1 || !strings.HasPrefix(types[len(types)-1], "result:") {
			t.Fatalf("exec stream: %q", types)
		}
		if d := cmp.Diff(want, types[:len(want)]); d != "" {
			t.Errorf("exec stream keepalives (-want +got):\n%s", d)
		}
		if got := text.now(); got != "[keepalive]\n" {
			t.Errorf("logs stream: %q", got)
		}
	})
}

// Registered commands: standard input from a pipe, output into the next
// stage, graceful shutdown on SIGTERM, and dying of it by default.
func TestRegisteredCommands(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("upper", func(ctx context.Context, c *Cmd) (int, error) {
			b, _ := io.ReadAll(c.Stdin)
			fmt.Fprint(c.Stdout, strings.ToUpper(string(b)))
			return 0, nil
		})
		e.g.RegisterCommand("server", func(ctx context.Context, c *Cmd) (int, error) {
			fmt.Fprintln(c.Stdout, "listening", c.Args[1:])
			select {
			case <-c.Terminated():
				fmt.Fprintln(c.Stdout, "shutting down")
				return 0, nil
			case <-ctx.Done():
				return 1, nil
			}
		})
		e.g.RegisterCommand("worker", func(ctx context.Context, c *Cmd) (int, error) {
			<-ctx.Done()
			_, err := c.Stdout.Write([]byte("late"))
			if err != io.ErrClosedPipe {
				t.Errorf("write after death: %v", err)
			}
			return 0, nil
		})
		p := e.exec(t, `{"command":"echo abc | upper | wc -c; echo hi | upper > f; cat f"}`)
		synctest.Wait()
		if q := e.getProcess(t, p.Pid); q.Status != "completed" || q.Stdout.Value != "4\nHI\n" {
			t.Errorf("pipeline: %s %q", q.Status, q.Stdout.Value)
		}
		// A command that handles TERM decides its exit status.
		s := e.exec(t, `{"command":"server --port 80"}`)
		synctest.Wait()
		e.do(t, http.MethodDelete, "/process/"+s.Pid, "")
		synctest.Wait()
		got := e.getProcess(t, s.Pid)
		if got.Status != "completed" || got.ExitCode != 0 || got.Stdout.Value != "listening [--port 80]\nshutting down\n" {
			t.Errorf("graceful stop: %s %d %q", got.Status, got.ExitCode, got.Stdout.Value)
		}
		// Others die of it.
		w := e.exec(t, `{"command":"worker"}`)
		synctest.Wait()
		e.do(t, http.MethodDelete, "/process/"+w.Pid, "")
		synctest.Wait()
		if got := e.getProcess(t, w.Pid); got.Status != "stopped" || got.ExitCode != -1 {
			t.Errorf("stopped worker: %s %d", got.Status, got.ExitCode)
		}
	})
}

// Background jobs: they start at once, wait waits for them, and one still
// running when the shell exits goes on writing to the log files (the
// stream has ended with the process).
func TestBackgroundJobs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		p := e.exec(t, `{"command":"(sleep 1; echo a) & (sleep 2; echo b) & wait; echo done $!"}`)
		e.clock.Advance(2 * time.Second)
		if got := e.getProcess(t, p.Pid); got.Status != "completed" || got.Stdout.Value != "a\nb\ndone 1002\n" {
			t.Errorf("wait: %s %q", got.Status, got.Stdout.Value)
		}
		q := e.exec(t, `{"command":"(sleep 5; echo orphan) & echo parent"}`)
		synctest.Wait()
		e.clock.Advance(time.Second)
		if got := e.getProcess(t, q.Pid); got.Status != "completed" || got.Stdout.Value != "parent\n" {
			t.Fatalf("parent: %s %q", got.Status, got.Stdout.Value)
		}
		e.clock.Advance(5 * time.Second)
		if got := e.getProcess(t, q.Pid); got.Stdout.Value != "parent\norphan\n" {
			t.Errorf("orphan's output: %q", got.Stdout.Value)
		}
	})
}

// A command line that never sleeps keeps running, a millisecond of the
// clock per thousand commands, and can be killed.
func TestBusyLoop(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	p := e.exec(t, `{"command":"i=0; while :; do i=$((i+1)); done"}`)
	e.clock.Advance(50 * time.Millisecond)
	if got := e.getProcess(t, p.Pid); got.Status != "running" {
		t.Fatalf("busy loop: %s", got.Status)
	}
	if resp, body := e.do(t, http.MethodDelete, "/process/"+p.Pid+"/kill", ""); resp.StatusCode != 200 {
		t.Fatalf("kill: %s", body)
	}
	if got := e.getProcess(t, p.Pid); got.Status != "killed" || got.ExitCode != -1 {
		t.Errorf("after kill: %s %d", got.Status, got.ExitCode)
	}
	var list []map[string]any
	_, body := e.do(t, http.MethodGet, "/process", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 {
		t.Errorf("list: %s", body)
	}
}
