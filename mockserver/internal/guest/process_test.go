package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// exec runs POST /process with a JSON body and decodes the process.
func (e *env) exec(t *testing.T, body string) *sandboxapi.ProcessResponse {
	t.Helper()
	resp, b := e.do(t, http.MethodPost, "/process", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /process %s = %d %s", body, resp.StatusCode, b)
	}
	return decodeProcess(t, b)
}

func decodeProcess(t *testing.T, b string) *sandboxapi.ProcessResponse {
	t.Helper()
	var p sandboxapi.ProcessResponse
	if err := p.UnmarshalJSON([]byte(b)); err != nil {
		t.Fatalf("decoding process %s: %v", b, err)
	}
	return &p
}

func (e *env) getProcess(t *testing.T, id string) *sandboxapi.ProcessResponse {
	t.Helper()
	res, err := e.client.GetProcess(t.Context(), sandboxapi.GetProcessParams{Identifier: id})
	if err != nil {
		t.Fatalf("GetProcess(%s): %v", id, err)
	}
	p, ok := res.(*sandboxapi.ProcessResponse)
	if !ok {
		t.Fatalf("GetProcess(%s) = %#v", id, res)
	}
	return p
}

// outcome is the part of a process the command tests look at.
type outcome struct {
	Status         string
	ExitCode       int
	Stdout, Stderr string
}

func outcomeOf(p *sandboxapi.ProcessResponse) outcome {
	return outcome{p.Status, p.ExitCode, p.Stdout.Value, p.Stderr.Value}
}

func TestExecJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.clock.Advance(time.Hour)
	p := e.exec(t, `{"command":"echo hi","name":"greeter"}`)
	want := sandboxapi.ProcessResponse{
		Pid: "1000", Name: "greeter", Command: "echo hi", Status: "completed",
		StartedAt: "Thu, 29 Jan 2026 19:45:49 GMT", CompletedAt: sandboxapi.NewNilString("Thu, 29 Jan 2026 19:45:49 GMT"),
		ExitCode: 0, WorkingDir: DefaultWorkDir,
		Logs: sandboxapi.NewNilString("hi\n"), Stdout: sandboxapi.NewNilString("hi\n"), Stderr: sandboxapi.NewNilString(""),
		RestartOnFailure: sandboxapi.NewOptBool(false), MaxRestarts: sandboxapi.NewOptInt(0),
		RestartCount: sandboxapi.NewOptInt(0), KeepAlive: sandboxapi.NewOptBool(false),
	}
	if d := cmp.Diff(&want, p); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A running process has no completedAt; pids grow.
	q := e.exec(t, `{"command":"sleep 5"}`)
	if q.Pid != "1001" || q.Status != "running" || !q.CompletedAt.Null {
		t.Errorf("running process: pid %s, status %s, completedAt %+v", q.Pid, q.Status, q.CompletedAt)
	}
	list, err := e.client.ListProcesses(t.Context())
	if err != nil || len(list) != 2 || list[0].Pid != "1000" || list[1].Pid != "1001" {
		t.Fatalf("ListProcesses = %+v, %v", list, err)
	}
	if got := e.getProcess(t, "greeter"); got.Pid != "1000" {
		t.Errorf("by name: pid %s", got.Pid)
	}
	res, err := e.client.GetProcess(t.Context(), sandboxapi.GetProcessParams{Identifier: "nope"})
	if _, ok := res.(*sandboxapi.ErrorResponse); err != nil || !ok {
		t.Errorf("unknown process: %#v, %v", res, err)
	}
	logs, err := e.client.GetProcessLogs(t.Context(), sandboxapi.GetProcessLogsParams{Identifier: "1000"})
	if l, ok := logs.(*sandboxapi.ProcessLogs); err != nil || !ok || l.Stdout != "hi\n" || l.Logs != "hi\n" {
		t.Errorf("logs = %#v, %v", logs, err)
	}
}

func TestBuiltinCommands(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Env: map[string]string{"GREETING": "hello"}})
	if err := e.g.WriteFile("notes/a.txt", []byte("line 1\nline 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.g.WriteFile("notes/.hidden", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd  string
		want outcome
	}{
		{"echo hi", outcome{"completed", 0, "hi\n", ""}},
		{"echo -n 'a  b' \"c $GREETING\" \\$x", outcome{"completed", 0, "a  b c hello $x", ""}},
		{"exit 3", outcome{"failed", 3, "", ""}},
		{"true", outcome{"completed", 0, "", ""}},
		{"false", outcome{"failed", 1, "", ""}},
		{"frobnicate --now", outcome{"failed", 127, "", "frobnicate: command not found\n"}},
		{"pwd", outcome{"completed", 0, "/home/user\n", ""}},
		{"cd notes && pwd", outcome{"completed", 0, "/home/user/notes\n", ""}},
		{"cat notes/a.txt", outcome{"completed", 0, "line 1\nline 2\n", ""}},
		{"cat missing", outcome{"failed", 1, "", "cat: missing: No such file or directory\n"}},
		{"ls notes", outcome{"completed", 0, "a.txt\n", ""}},
		{"ls -a /home/user/notes", outcome{"completed", 0, ".hidden\na.txt\n", ""}},
		{"false && echo no || echo yes; echo done", outcome{"completed", 0, "yes\ndone\n", ""}},
		{"echo a; exit 4; echo b", outcome{"failed", 4, "a\n", ""}},
		{"sh -c 'echo in; exit 5'; echo after", outcome{"completed", 0, "in\nafter\n", ""}},
		{"bash -c 'exit 6'", outcome{"failed", 6, "", ""}},
		{"echo a | grep a", outcome{"failed", 2, "", "sh: '|' is not supported by the simulated shell\n"}},
	} {
		body, _ := json.Marshal(map[string]any{"command": tc.cmd, "waitForCompletion": true})
		if got := outcomeOf(e.exec(t, string(body))); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
	// sleep runs on the clock.
	p := e.exec(t, `{"command":"sleep 0.5; echo woke"}`)
	if p.Status != "running" {
		t.Fatalf("sleep 0.5: %s at once", p.Status)
	}
	e.clock.Advance(499 * time.Millisecond)
	if q := e.getProcess(t, p.Pid); q.Status != "running" {
		t.Fatalf("sleep 0.5: %s after 499 ms", q.Status)
	}
	e.clock.Advance(time.Millisecond)
	if got := outcomeOf(e.getProcess(t, p.Pid)); got != (outcome{"completed", 0, "woke\n", ""}) {
		t.Errorf("sleep 0.5 after 500 ms: %+v", got)
	}
}

func TestEnvAndWorkingDir(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Env: map[string]string{"A": "1", "B": "2"}})
	p := e.exec(t, `{"command":"env","env":{"B":"3","C":"4"},"workingDir":"/tmp"}`)
	want := "A=1\nB=3\nC=4\nHOME=/home/user\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if p.Stdout.Value != want || p.WorkingDir != "/tmp" {
		t.Errorf("env in /tmp: %q in %s", p.Stdout.Value, p.WorkingDir)
	}
	resp, body := e.do(t, http.MethodPost, "/process", `{"command":"pwd","workingDir":"/nope"}`)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("missing working dir: %d %s", resp.StatusCode, body)
	}
}

func TestExecWaitForCompletionTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		type answer struct {
			code int
			body string
		}
		ch := make(chan answer)
		go func() {
			resp, body := e.do(t, http.MethodPost, "/process", `{"command":"sleep 10","name":"slow","waitForCompletion":true,"timeout":2}`)
			ch <- answer{resp.StatusCode, body}
		}()
		synctest.Wait() // the request waits on the clock
		e.clock.Advance(1999 * time.Millisecond)
		synctest.Wait()
		select {
		case a := <-ch:
			t.Fatalf("answered before the timeout: %+v", a)
		default:
		}
		e.clock.Advance(time.Millisecond)
		a := <-ch
		if a.code != http.StatusUnprocessableEntity || !strings.Contains(a.body, "process timed out after 2 seconds") {
			t.Fatalf("timeout answer = %+v", a)
		}
		if p := e.getProcess(t, "slow"); p.Status != "running" {
			t.Errorf("after the timeout the process is %s, want running", p.Status)
		}

		// Without a timeout it answers once the process has ended.
		go func() {
			resp, body := e.do(t, http.MethodPost, "/process", `{"command":"sleep 10 && echo done","waitForCompletion":true}`)
			ch <- answer{resp.StatusCode, body}
		}()
		synctest.Wait()
		e.clock.Advance(10 * time.Second)
		a = <-ch
		if p := decodeProcess(t, a.body); a.code != http.StatusOK || p.Status != "completed" || p.Stdout.Value != "done\n" {
			t.Errorf("waitForCompletion = %d %s", a.code, a.body)
		}
	})
}

// execEvents reads the NDJSON stream of POST /process.
func execEvents(t *testing.T, body io.Reader) <-chan execEvent {
	ch := make(chan execEvent)
	go func() {
		defer close(ch)
		dec := json.NewDecoder(body)
		for {
			var ev execEvent
			if err := dec.Decode(&ev); err != nil {
				return
			}
			ch <- ev
		}
	}()
	return ch
}

func TestExecStream(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("chat", func(ctx context.Context, c *Cmd) (int, error) {
			fmt.Fprintln(c.Stdout, "hello")
			fmt.Fprint(c.Stderr, "warn")
			if err := c.Sleep(ctx, 7*time.Second); err != nil {
				return 1, err
			}
			fmt.Fprintln(c.Stderr, "ing")
			fmt.Fprint(c.Stdout, "bye")
			return 2, nil
		})
		resp := e.open(t, http.MethodPost, "/process", `{"command":"chat"}`, "Accept", "text/event-stream")
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
			t.Fatalf("stream answer: %d %s", resp.StatusCode, ct)
		}
		events := execEvents(t, resp.Body)
		next := func() execEvent {
			t.Helper()
			ev, ok := <-events
			if !ok {
				t.Fatal("stream ended early")
			}
			return ev
		}
		if ev := next(); ev != (execEvent{"stdout", "hello"}) {
			t.Fatalf("first event %+v", ev)
		}
		synctest.Wait()
		e.clock.Advance(5 * time.Second)
		if ev := next(); ev != (execEvent{Type: "keepalive"}) {
			t.Fatalf("want keepalive, got %+v", ev)
		}
		e.clock.Advance(2 * time.Second)
		if ev := next(); ev != (execEvent{"stderr", "warning"}) {
			t.Fatalf("want stderr warning, got %+v", ev)
		}
		if ev := next(); ev != (execEvent{"stdout", "bye"}) {
			t.Fatalf("want stdout bye, got %+v", ev)
		}
		ev := next()
		if ev.Type != "result" {
			t.Fatalf("want result, got %+v", ev)
		}
		p := decodeProcess(t, ev.Data)
		if got := outcomeOf(p); got != (outcome{"failed", 2, "hello\nbye", "warning\n"}) {
			t.Errorf("result %+v", got)
		}
		if _, ok := <-events; ok {
			t.Error("events after the result")
		}
	})
}

func TestExecStreamInstantAndFailing(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	// A process that has ended before the stream starts: its output, then
	// the result.
	resp := e.open(t, http.MethodPost, "/process", `{"command":"echo a; echo b; nope"}`, "Accept", "application/json, text/event-stream")
	var got []string
	for ev := range execEvents(t, resp.Body) {
		if ev.Type == "result" {
			p := decodeProcess(t, ev.Data)
			ev.Data = p.Status + " " + strconv.Itoa(p.ExitCode)
		}
		got = append(got, ev.Type+" "+ev.Data)
	}
	want := []string{"stdout a", "stdout b", "stderr nope: command not found", "result failed 127"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A process that cannot start: an error event.
	resp = e.open(t, http.MethodPost, "/process", `{"command":"ls","workingDir":"/nope"}`, "Accept", "text/event-stream")
	var evs []execEvent
	for ev := range execEvents(t, resp.Body) {
		evs = append(evs, ev)
	}
	if len(evs) != 1 || evs[0].Type != "error" || !strings.Contains(evs[0].Data, "/nope") {
		t.Errorf("events = %+v", evs)
	}
}

func TestLongRunningCommandLogsStream(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("ticker", func(ctx context.Context, c *Cmd) (int, error) {
			for i := range 3 {
				if err := c.Sleep(ctx, 25*time.Second); err != nil {
					return 1, err
				}
				fmt.Fprintf(c.Stdout, "tick %d at %s\n", i, c.Now().Format(time.TimeOnly))
			}
			fmt.Fprintln(c.Stderr, "done")
			return 0, nil
		})
		p := e.exec(t, `{"command":"echo start && ticker","name":"t"}`)
		resp := e.open(t, http.MethodGet, "/process/t/logs/stream", "")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Content-Type %s", ct)
		}
		l := newLines(t, resp.Body)
		got := []string{l.next()} // the history
		// Ticks at 25, 50 and 75 s; keepalives at 30 and 60 s.
		for _, d := range []time.Duration{25, 5, 20, 10, 15} {
			synctest.Wait()
			e.clock.Advance(d * time.Second)
			got = append(got, l.next())
		}
		got = append(got, l.next())
		l.eof()
		want := []string{"stdout:start", "stdout:tick 0 at 18:46:14", "[keepalive]", "stdout:tick 1 at 18:46:39", "[keepalive]", "stdout:tick 2 at 18:47:04", "stderr:done"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
		if q := e.getProcess(t, p.Pid); q.Status != "completed" || q.Stdout.Value != "start\ntick 0 at 18:46:14\ntick 1 at 18:46:39\ntick 2 at 18:47:04\n" {
			t.Errorf("process after the command: %+v", outcomeOf(q))
		}
		// A stream of a finished process is its history.
		resp = e.open(t, http.MethodGet, "/process/"+p.Pid+"/logs/stream", "")
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(b), "stdout:start\n") || !strings.HasSuffix(string(b), "stderr:done\n") {
			t.Errorf("history stream %q", b)
		}
	})
}

func TestLogsStreamUnknownProcess(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	resp, body := e.do(t, http.MethodGet, "/process/404/logs/stream", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	errorBody(t, resp, body)
}

func TestStopAndKill(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ready, stopped := make(chan struct{}), make(chan error, 1)
	e.g.RegisterCommand("serve", func(ctx context.Context, c *Cmd) (int, error) {
		fmt.Fprint(c.Stdout, "listening")
		close(ready)
		<-ctx.Done()
		_, err := c.Stdout.Write([]byte("late"))
		stopped <- err
		return 0, nil
	})
	a := e.exec(t, `{"command":"serve","name":"web"}`)
	b := e.exec(t, `{"command":"sleep 60"}`)
	<-ready
	logs := e.open(t, http.MethodGet, "/process/web/logs/stream", "")

	res, err := e.client.StopProcess(t.Context(), sandboxapi.StopProcessParams{Identifier: "web"})
	if ok, isOK := res.(*sandboxapi.SuccessResponse); err != nil || !isOK || ok.Message != "Process stopped successfully" {
		t.Fatalf("StopProcess = %#v, %v", res, err)
	}
	if err := <-stopped; err == nil {
		t.Error("a stopped command could still write")
	}
	kres, err := e.client.KillProcess(t.Context(), sandboxapi.KillProcessParams{Identifier: b.Pid})
	if _, ok := kres.(*sandboxapi.SuccessResponse); err != nil || !ok {
		t.Fatalf("KillProcess = %#v, %v", kres, err)
	}
	pa, pb := e.getProcess(t, a.Pid), e.getProcess(t, b.Pid)
	if pa.Status != "stopped" || pa.ExitCode != -1 || pa.CompletedAt.Null || pa.Stdout.Value != "listening\n[Process is being gracefully terminated]\n" {
		t.Errorf("stopped: %+v", outcomeOf(pa))
	}
	if pb.Status != "killed" || pb.ExitCode != -1 || pb.Stdout.Value != "\n[Process is being forcefully killed]\n" {
		t.Errorf("killed: %+v", outcomeOf(pb))
	}
	body, _ := io.ReadAll(logs.Body)
	if string(body) != "stdout:listening\nstdout:[Process is being gracefully terminated]\n" {
		t.Errorf("logs stream of a stopped process: %q", body)
	}
	// Neither is running any more: 404, as on the real server.
	res, err = e.client.StopProcess(t.Context(), sandboxapi.StopProcessParams{Identifier: "web"})
	if _, ok := res.(*sandboxapi.StopProcessNotFound); err != nil || !ok {
		t.Errorf("second stop = %#v, %v", res, err)
	}
	kres, err = e.client.KillProcess(t.Context(), sandboxapi.KillProcessParams{Identifier: "nope"})
	if _, ok := kres.(*sandboxapi.KillProcessNotFound); err != nil || !ok {
		t.Errorf("kill unknown = %#v, %v", kres, err)
	}
	// The name is free again.
	if c := e.exec(t, `{"command":"sleep 1","name":"web"}`); c.Pid != "1002" {
		t.Errorf("reused name: pid %s", c.Pid)
	}
	resp, body2 := e.do(t, http.MethodPost, "/process", `{"command":"sleep 1","name":"web"}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("name of a running process: %d %s", resp.StatusCode, body2)
	}
}

func TestRestartOnFailure(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	p := e.exec(t, `{"command":"echo try; exit 7","restartOnFailure":true,"maxRestarts":2}`)
	if p.Status != "failed" || p.RestartCount.Value != 1 {
		t.Fatalf("after the first run: %s, %d restarts", p.Status, p.RestartCount.Value)
	}
	e.clock.Advance(time.Second)
	e.clock.Advance(time.Second)
	q := e.getProcess(t, p.Pid)
	want := "try\n\n[Process failed with exit code 7. Attempting restart 1/2...]\ntry\n\n[Process failed with exit code 7. Attempting restart 2/2...]\ntry\n"
	if q.Status != "failed" || q.ExitCode != 7 || q.RestartCount.Value != 2 || q.Stdout.Value != want {
		t.Errorf("after the restarts: %+v, %d restarts", outcomeOf(q), q.RestartCount.Value)
	}
	e.clock.Advance(time.Minute)
	if q := e.getProcess(t, p.Pid); q.RestartCount.Value != 2 {
		t.Errorf("restarted beyond maxRestarts: %d", q.RestartCount.Value)
	}
}

func TestKeepAliveTimeoutKills(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	a := e.exec(t, `{"command":"sleep 1000","keepAlive":true,"timeout":5}`)
	b := e.exec(t, `{"command":"sleep 1000","keepAlive":true}`) // 600 s
	c := e.exec(t, `{"command":"sleep 1000","timeout":5}`)      // no keepAlive: timeout only for waiting
	e.clock.Advance(5 * time.Second)
	if s := e.getProcess(t, a.Pid).Status; s != "killed" {
		t.Errorf("keepAlive timeout 5: %s after 5 s", s)
	}
	if s := e.getProcess(t, c.Pid).Status; s != "running" {
		t.Errorf("timeout without keepAlive: %s after 5 s", s)
	}
	e.clock.Advance(595 * time.Second)
	if s := e.getProcess(t, b.Pid).Status; s != "killed" {
		t.Errorf("keepAlive default timeout: %s after 600 s", s)
	}
}

// With the real clock inside a testing/synctest bubble, the guest runs on
// the bubble's fake time.
func TestRealClockInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{Clock: clock.Real()})
		start := time.Now()
		p := e.exec(t, `{"command":"sleep 5 && echo done","waitForCompletion":true}`)
		if elapsed := time.Since(start); p.Status != "completed" || p.Stdout.Value != "done\n" || elapsed != 5*time.Second {
			t.Errorf("sleep 5: %+v after %v", outcomeOf(p), elapsed)
		}
		e.upgrade(t, "v0.2.0")
		e.exec(t, `{"command":"sleep 2","waitForCompletion":true}`) // past the restart
		if h := e.health(t); h.UpgradeCount != 1 || h.Version != "v0.2.0" {
			t.Errorf("upgrade on the real clock: count %d, version %s", h.UpgradeCount, h.Version)
		}
	})
}
