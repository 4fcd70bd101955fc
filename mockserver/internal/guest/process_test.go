package guest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var procName = regexp.MustCompile(`^proc-[a-z0-9]{8}$`)

func TestProcessObjects(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		// The answer of POST: the process has just started.
		p := tg.start(t, map[string]any{"command": "echo hi; echo err >&2"})
		if !procName.MatchString(p.Name) {
			t.Errorf("unnamed process got name %q, want proc-xxxxxxxx", p.Name)
		}
		got := []string{p.Status, str(p.CompletedAt), str(p.Logs), str(p.Stdout), str(p.Stderr), p.WorkingDir}
		want := []string{"running", "", "<null>", "", "", ""}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("POST answer (-want +got):\n%s", d)
		}
		// GET once it has ended: output from the log files, logs is
		// stdout then stderr.
		q := tg.waitEnded(t, p.Pid)
		got = []string{q.Status, str(q.Logs), str(q.Stdout), str(q.Stderr)}
		want = []string{"completed", "hi\nerr\n", "hi\n", "err\n"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("GET after the end (-want +got):\n%s", d)
		}
		if q.Name != p.Name || tg.get(t, p.Name).Pid != p.Pid {
			t.Errorf("lookup by name: %+v", q)
		}
		// workingDir is reported as given.
		dir := unique("gxwd")
		tg.mkdir(t, dir)
		for given, shown := range map[string]string{dir: dir, "//tmp//": "/tmp/", "./" + dir: "./" + dir} {
			r := tg.run(t, map[string]any{"command": "pwd", "workingDir": given})
			wantPwd := tg.workdir + "/" + dir + "\n"
			if given == "//tmp//" {
				wantPwd = "/tmp\n"
			}
			if r.WorkingDir != shown || str(r.Stdout) != wantPwd {
				t.Errorf("workingDir %q: shown %q, pwd %q", given, r.WorkingDir, str(r.Stdout))
			}
		}
		// A running process: completedAt "" in GET, null in the list.
		s := tg.start(t, map[string]any{"command": "sleep 30", "name": unique("gxsleep")})
		if g := tg.get(t, s.Pid); g.CompletedAt == nil || *g.CompletedAt != "" {
			t.Errorf("GET of a running process: completedAt %s", str(g.CompletedAt))
		}
		_, body := tg.call(t, http.MethodGet, "/process", "")
		var list []proc
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range list {
			if l.Pid == s.Pid {
				found = true
				if l.CompletedAt != nil {
					t.Errorf("list entry of a running process: completedAt %s, want null", str(l.CompletedAt))
				}
			}
		}
		if !found {
			t.Errorf("process %s not listed", s.Pid)
		}
		// Its name is taken while it runs.
		resp, body := tg.call(t, http.MethodPost, "/process", jsonBody(map[string]any{"command": "true", "name": s.Name}))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already exists and is running") {
			t.Errorf("name of a running process: %d %s", resp.StatusCode, body)
		}
		tg.call(t, http.MethodDelete, "/process/"+s.Pid+"/kill", "")
		tg.waitEnded(t, s.Pid)
	})
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, tc := range []struct {
			method, path, body string
			code               int
			want               string
		}{
			{http.MethodPost, "/process", `{"name":"x"}`, 400, `{"error":"invalid request body: Key: 'ProcessRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag"}`},
			{http.MethodPost, "/process", `{"command":"pwd","workingDir":"/nope-gx"}`, 422, `{"error":"failed to start process: could not execute command 'pwd' because folder '/nope-gx' does not exist"}`},
			{http.MethodGet, "/process/gx-nope", "", 404, `{"error":"process not found"}`},
			{http.MethodGet, "/process/gx-nope/logs", "", 404, `{"error":"process with PID gx-nope not found"}`},
			{http.MethodDelete, "/process/gx-nope", "", 404, `{"error":"process with Identifier gx-nope not found"}`},
			{http.MethodDelete, "/process/gx-nope/kill", "", 404, `{"error":"process with Identifier gx-nope not found"}`},
		} {
			resp, body := tg.call(t, tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.code || body != tc.want {
				t.Errorf("%s %s %s = %d %s, want %d %s", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.code, tc.want)
			}
		}
		// The logs stream of an unknown process is a 200 with an error.
		resp, body := tg.call(t, http.MethodGet, "/process/gx-nope/logs/stream", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || body != `{"error":"process with Identifier gx-nope not found"}` {
			t.Errorf("logs stream of an unknown process: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		// An exec stream that cannot start: an error event.
		resp, body = tg.call(t, http.MethodPost, "/process", `{"command":"pwd","workingDir":"/nope-gx"}`, "Accept", "text/event-stream")
		if resp.StatusCode != 200 || body != `{"type":"error","data":"failed to start process: could not execute command 'pwd' because folder '/nope-gx' does not exist"}`+"\n" {
			t.Errorf("exec stream of a bad working dir: %d %s", resp.StatusCode, body)
		}
		// waitForCompletion with a timeout: 422, the process runs on.
		name := unique("gxslow")
		resp, body = tg.call(t, http.MethodPost, "/process", jsonBody(map[string]any{"command": "sleep 2", "name": name, "waitForCompletion": true, "timeout": 1}))
		if resp.StatusCode != 422 || body != `{"error":"process timed out after 1 seconds"}` {
			t.Errorf("timeout: %d %s", resp.StatusCode, body)
		}
		if p := tg.get(t, name); p.Status != "running" {
			t.Errorf("after the timeout: %s", p.Status)
		}
		// A timeout without waitForCompletion or keepAlive does nothing.
		p := tg.start(t, map[string]any{"command": "sleep 1.5", "timeout": 1})
		if q := tg.waitEnded(t, p.Pid); q.Status != "completed" {
			t.Errorf("timeout without keepAlive: %s %d", q.Status, q.ExitCode)
		}
	})
}

func TestStopAndKill(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		// A stop is SIGTERM: a shell and its sleep die at once.
		a := tg.start(t, map[string]any{"command": "echo start; sleep 30", "name": unique("gxstop")})
		tg.elapse(200 * time.Millisecond)
		resp, body := tg.call(t, http.MethodDelete, "/process/"+a.Name, "")
		if resp.StatusCode != 200 || body != `{"message":"Process stopped successfully"}` {
			t.Fatalf("stop: %d %s", resp.StatusCode, body)
		}
		pa := tg.waitEnded(t, a.Pid)
		got := []any{pa.Status, pa.ExitCode, str(pa.Stdout)}
		if d := cmp.Diff([]any{"stopped", -1, "start\n"}, got); d != "" {
			t.Errorf("stopped process (-want +got):\n%s", d)
		}
		_, body = tg.call(t, http.MethodDelete, "/process/"+a.Name, "")
		if body != `{"error":"process with Identifier `+a.Name+` is not running"}` {
			t.Errorf("stop of a stopped process: %s", body)
		}
		done := tg.run(t, map[string]any{"command": "true"})
		tg.elapse(100 * time.Millisecond)
		_, body = tg.call(t, http.MethodDelete, "/process/"+done.Pid+"/kill", "")
		if body != `{"error":"failed to kill process with Identifier `+done.Pid+`: no such process"}` {
			t.Errorf("kill of an ended process: %s", body)
		}

		// A process that ignores TERM keeps running, shown stopped with
		// no completedAt, and ends with its own exit status.
		b := tg.start(t, map[string]any{"command": `trap "" TERM; sleep 1; echo done`})
		tg.elapse(200 * time.Millisecond)
		tg.call(t, http.MethodDelete, "/process/"+b.Pid, "")
		if pb := tg.get(t, b.Pid); pb.Status != "stopped" || str(pb.CompletedAt) != "" {
			t.Errorf("after stopping a process that ignores TERM: %s completedAt %q", pb.Status, str(pb.CompletedAt))
		}
		if _, body := tg.call(t, http.MethodDelete, "/process/"+b.Pid, ""); !strings.Contains(body, "is not running") {
			t.Errorf("second stop: %s", body)
		}
		pb := tg.waitEnded(t, b.Pid)
		if pb.Status != "completed" || pb.ExitCode != 0 || str(pb.Stdout) != "done\n" {
			t.Errorf("process that ignored TERM: %+v", pb)
		}

		// A TERM trap decides the exit status.
		c := tg.start(t, map[string]any{"command": `trap "echo got; exit 3" TERM; sleep 2 & wait`})
		tg.elapse(200 * time.Millisecond)
		tg.call(t, http.MethodDelete, "/process/"+c.Pid, "")
		pc := tg.waitEnded(t, c.Pid)
		if pc.Status != "stopped" || pc.ExitCode != 3 || str(pc.Stdout) != "got\n" {
			t.Errorf("trapped TERM: %+v", pc)
		}

		// A kill is SIGKILL.
		d := tg.start(t, map[string]any{"command": `trap "" TERM; sleep 30`})
		tg.elapse(200 * time.Millisecond)
		resp, body = tg.call(t, http.MethodDelete, "/process/"+d.Pid+"/kill", "")
		if resp.StatusCode != 200 || body != `{"message":"Process killed successfully"}` {
			t.Errorf("kill: %d %s", resp.StatusCode, body)
		}
		if pd := tg.waitEnded(t, d.Pid); pd.Status != "killed" || pd.ExitCode != -1 {
			t.Errorf("killed process: %+v", pd)
		}

		// keepAlive with a timeout: killed when it runs out.
		e := tg.start(t, map[string]any{"command": "sleep 30", "keepAlive": true, "timeout": 1})
		if pe := tg.waitEnded(t, e.Pid); pe.Status != "killed" || pe.ExitCode != -1 || pe.KeepAlive {
			t.Errorf("keepAlive timeout: %+v", pe)
		}
	})
}

func TestRestartOnFailure(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		p := tg.start(t, map[string]any{"command": "echo try; sleep 0.3; exit 7", "restartOnFailure": true, "maxRestarts": 1})
		// The stream of the first run ends at its failure.
		resp, body := tg.call(t, http.MethodGet, "/process/"+p.Pid+"/logs/stream", "")
		want := "stdout:try\n\n[Process failed with exit code 7. Attempting restart 1/1...]\nstdout:\n[Process failed with exit code 7. Attempting restart 1/1...]\n"
		if resp.StatusCode != 200 || body != want {
			t.Errorf("logs stream of the first run:\n got %q\nwant %q", body, want)
		}
		// During the pause before the restart: failed, completedAt set.
		if q := tg.get(t, p.Pid); q.Status != "failed" || q.ExitCode != 7 || q.RestartCnt != 1 || str(q.CompletedAt) == "" {
			t.Errorf("during the pause: %+v", q)
		}
		q := tg.waitFor(t, p.Pid, func(q proc) bool { return strings.Count(str(q.Stdout), "try") == 2 && q.Status != "running" })
		wantOut := "try\n\n[Process failed with exit code 7. Attempting restart 1/1...]\ntry\n"
		if q.Status != "failed" || q.ExitCode != 7 || q.RestartCnt != 1 || str(q.Stdout) != wantOut {
			t.Errorf("after the restart: %+v %q", q, str(q.Stdout))
		}
		// The combined log holds the first run's output twice: the new
		// run's tailer read the log file from its start.
		_, body = tg.call(t, http.MethodGet, "/process/"+p.Pid+"/logs/stream", "")
		wantReplay := "stdout:try\nstdout:\nstdout:[Process failed with exit code 7. Attempting restart 1/1...]\n" +
			"stdout:try\nstdout:\nstdout:[Process failed with exit code 7. Attempting restart 1/1...]\nstdout:try\n"
		if body != wantReplay {
			t.Errorf("replay after the restart:\n got %q\nwant %q", body, wantReplay)
		}
	})
}

func TestExecStreamFraming(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		type ev struct{ Type, Data string }
		events := func(cmd string) []ev {
			resp, body := tg.call(t, http.MethodPost, "/process", jsonBody(map[string]any{"command": cmd}), "Accept", "text/event-stream")
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
				t.Fatalf("exec stream: %d %s", resp.StatusCode, ct)
			}
			var out []ev
			for _, e := range ndjson(t, []byte(body)) {
				if e.Type == "result" {
					var p proc
					if err := json.Unmarshal([]byte(e.Data), &p); err != nil {
						t.Fatal(err)
					}
					e.Data = p.Status + " " + str(p.Stdout) + "|" + str(p.Stderr)
				}
				if e.Type != "keepalive" {
					out = append(out, ev(e))
				}
			}
			return out
		}
		for _, tc := range []struct {
			cmd  string
			want []ev
		}{
			// A command that ends at once: one chunk with all its lines.
			{"echo a; echo b; echo c", []ev{{"stdout", "a\nb\nc\n"}, {"result", "completed a\nb\nc\n|"}}},
			// Output while it runs comes as the tailer reads it; a last
			// line without a newline comes without one.
			{`printf 'a\nb\n'; sleep 1; printf c`, []ev{{"stdout", "a\nb\n"}, {"stdout", "c"}, {"result", "completed a\nb\nc|"}}},
			{`printf 'a\r\nb\nc'; sleep 1; printf 'd\ne\n'; printf 'x\ny' >&2; sleep 1; printf z`, []ev{
				{"stdout", "a\r\nb\nc"}, {"stdout", "d\ne\n"}, {"stderr", "x\ny"}, {"stdout", "z"}, {"result", "completed a\r\nb\ncd\ne\nz|x\ny"}}},
			{"exit 3", []ev{{"result", "failed |"}}},
		} {
			if d := cmp.Diff(tc.want, events(tc.cmd)); d != "" {
				t.Errorf("%q (-want +got):\n%s", tc.cmd, d)
			}
		}
		// Stopping a streamed process: the server's message as stdout.
		name := unique("gxstream")
		resp := tg.open(t, http.MethodPost, "/process", jsonBody(map[string]any{"command": "sleep 30", "name": name}), "Accept", "text/event-stream")
		tg.elapse(300 * time.Millisecond)
		tg.call(t, http.MethodDelete, "/process/"+name, "")
		body, _ := io.ReadAll(resp.Body)
		evs := ndjson(t, body)
		if len(evs) != 2 || evs[0] != (execEvent{"stdout", msgTerminated}) || evs[1].Type != "result" || !strings.Contains(evs[1].Data, `"status":"stopped","startedAt"`) {
			t.Errorf("stopped stream: %q", body)
		}
	})
}

func TestLogsStreamFraming(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		cmd := `printf 'a\r\nb\nc'; sleep 1; printf 'd\ne\n'; printf 'x\ny' >&2; sleep 1; printf z`
		p := tg.start(t, map[string]any{"command": cmd})
		tg.elapse(300 * time.Millisecond)
		// Live: the replay of what was read (a line at a time, \r
		// dropped, a newline added to the unfinished line), then raw
		// chunks with the prefix before their first line only.
		_, live := tg.call(t, http.MethodGet, "/process/"+p.Pid+"/logs/stream", "")
		if want := "stdout:a\nstdout:b\nstdout:c\nstdout:d\ne\nstderr:x\nystdout:z"; live != want {
			t.Errorf("live logs stream:\n got %q\nwant %q", live, want)
		}
		// After the end: the combined log replayed.
		_, replay := tg.call(t, http.MethodGet, "/process/"+p.Pid+"/logs/stream", "")
		if want := "stdout:a\nstdout:b\nstdout:cstdout:d\nstdout:e\nstderr:x\nstderr:ystdout:z\n"; replay != want {
			t.Errorf("replayed logs stream:\n got %q\nwant %q", replay, want)
		}
		_, body := tg.call(t, http.MethodGet, "/process/"+p.Pid+"/logs", "")
		var logs map[string]string
		if err := json.Unmarshal([]byte(body), &logs); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]string{"stdout": "a\r\nb\ncd\ne\nz", "stderr": "x\ny", "logs": "a\r\nb\ncd\ne\nzx\ny"}, logs); d != "" {
			t.Errorf("logs (-want +got):\n%s", d)
		}
		// A stop: the message, unprefixed.
		q := tg.start(t, map[string]any{"command": "echo start; sleep 30"})
		tg.elapse(200 * time.Millisecond)
		resp := tg.open(t, http.MethodGet, "/process/"+q.Pid+"/logs/stream", "")
		tg.elapse(100 * time.Millisecond)
		tg.call(t, http.MethodDelete, "/process/"+q.Pid, "")
		stopped, _ := io.ReadAll(resp.Body)
		if want := "stdout:start\n" + msgTerminated; string(stopped) != want {
			t.Errorf("logs stream of a stopped process: %q", stopped)
		}
	})
}

func TestOutputTail(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		// 70 000 bytes of output: objects carry the last 64 KiB after a
		// marker line, GET /logs all of it.
		p := tg.run(t, map[string]any{"command": `i=0; while [ $i -lt 7000 ]; do echo 123456789; i=$((i+1)); done`})
		out := str(p.Stdout)
		if len(out) != 70000 {
			t.Fatalf("waitForCompletion answer: %d bytes of stdout", len(out))
		}
		g := tg.get(t, p.Pid)
		want := truncationMarker + strings.Repeat("123456789\n", 7000)[70000-65536:]
		if str(g.Stdout) != want || str(g.Logs) != want {
			t.Errorf("GET stdout: %d bytes starting %q", len(str(g.Stdout)), str(g.Stdout)[:80])
		}
	})
}
