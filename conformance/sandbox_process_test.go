package conformance

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestSandboxProcesses: a process started without waiting is found by
// pid and by name, listed, waited for and its output read.
func TestSandboxProcesses(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		name := tg.procName(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name, Command: "sleep 0.5; echo done; echo warn >&2"})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		if p.PID == "" || p.Name != name || p.Status != sandbox.StatusRunning || p.Ended() || !p.CompletedAt.IsZero() {
			t.Errorf("Exec = %+v", p)
		}
		for _, id := range []string{p.PID, name} {
			got, err := tg.sb.GetProcess(ctx, id)
			if err != nil || got.PID != p.PID || got.Name != name {
				t.Errorf("GetProcess(%s) = %+v, %v", id, got, err)
			}
		}
		list, err := tg.sb.ListProcesses(ctx)
		if err != nil || !slices.ContainsFunc(list, func(q *sandbox.Process) bool { return q.PID == p.PID }) {
			t.Errorf("ListProcesses has no %s (%d processes, %v)", p.PID, len(list), err)
		}
		done, err := sandbox.NewWaiter(tg.sb, nil).Wait(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != sandbox.StatusCompleted || done.ExitCode != 0 || !done.Ended() || done.CompletedAt.IsZero() ||
			done.Stdout != "done\n" || done.Stderr != "warn\n" {
			t.Errorf("Wait = %+v", done)
		}
		logs, err := tg.sb.Logs(ctx, p.PID)
		if err != nil || logs.Stdout != "done\n" || logs.Stderr != "warn\n" || !strings.Contains(logs.Logs, "done\n") {
			t.Errorf("Logs = %+v, %v", logs, err)
		}

		// A process without a name gets one from the server.
		q, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: "echo x", WaitForCompletion: true})
		if err != nil || q.Name == "" || !q.Ended() || q.Stdout != "x\n" {
			t.Errorf("Exec without a name, waiting = %+v, %v", q, err)
		}
	})
}

// TestSandboxProcessNotFound: every process call on an unknown process is
// a 404 naming the method called.
func TestSandboxProcessNotFound(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		id := tg.procName(t)
		_, err := tg.sb.GetProcess(ctx, id)
		assertAPIError(t, err, 404, "sandbox.GetProcess", "")
		_, err = sandbox.NewWaiter(tg.sb, nil).Wait(ctx, id)
		assertAPIError(t, err, 404, "sandbox.Waiter.Wait", "")
		_, err = tg.sb.Logs(ctx, id)
		assertAPIError(t, err, 404, "sandbox.Logs", "")
		assertAPIError(t, tg.sb.StopProcess(ctx, id), 404, "sandbox.StopProcess", "")
		assertAPIError(t, tg.sb.KillProcess(ctx, id), 404, "sandbox.KillProcess", "")
		if err := tg.sb.KillProcess(ctx, id); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("KillProcess: %v, want ErrNotFound", err)
		}
	})
}

// TestSandboxStopWaitsForExit: StopProcess sends SIGTERM and the server
// reports "stopped" at once, with no completion time while the process
// runs on (here its trap takes a second); Wait returns once it has
// exited, with the exit code it chose.
func TestSandboxStopWaitsForExit(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		name := tg.procName(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name,
			Command: `trap 'echo term; sleep 1; exit 7' TERM; echo ready; while :; do sleep 0.1; done`})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		waitForOutput(t, tg, p.PID, "ready\n")
		if err := tg.sb.StopProcess(ctx, name); err != nil {
			t.Fatal(err)
		}
		q, err := tg.sb.GetProcess(ctx, p.PID)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != sandbox.StatusStopped || q.Ended() {
			t.Errorf("right after StopProcess: %s, ended %v (completed at %v)", q.Status, q.Ended(), q.CompletedAt)
		}
		done, err := sandbox.NewWaiter(tg.sb, &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond}).Wait(ctx, p.PID)
		if err != nil {
			t.Fatal(err)
		}
		if !done.Ended() || done.ExitCode != 7 || !strings.Contains(done.Stdout, "term\n") {
			t.Errorf("Wait after StopProcess = status %s, exit %d, stdout %q", done.Status, done.ExitCode, done.Stdout)
		}
		if d := done.CompletedAt.Sub(done.StartedAt); d < time.Second {
			t.Errorf("completed %v after it started, before its trap ended", d)
		}
	})
}

// TestSandboxKill: KillProcess ends a process at once: killed, -1.
func TestSandboxKill(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: "sleep 30"})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		if err := tg.sb.KillProcess(ctx, p.PID); err != nil {
			t.Fatal(err)
		}
		done, err := sandbox.NewWaiter(tg.sb, nil).Wait(ctx, p.PID)
		if err != nil || done.Status != sandbox.StatusKilled || done.ExitCode != -1 {
			t.Errorf("after KillProcess: %+v, %v", done, err)
		}
	})
}

// TestSandboxRun: Run's result, CheckExit, Timeout (the process is killed
// and its output so far returned), working directory, environment and
// output longer than the 64 KiB the server inlines.
func TestSandboxRun(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		res, err := tg.sb.Run(ctx, "echo hi", nil)
		if err != nil || res.Stdout != "hi\n" || res.ExitCode != 0 || res.Process.Status != sandbox.StatusCompleted {
			t.Errorf("Run(echo hi) = %+v, %v", res, err)
		}

		res, err = tg.sb.Run(ctx, "echo oops >&2; exit 3", &sandbox.RunOptions{CheckExit: true})
		var ee *sandbox.ExitError
		if !errors.As(err, &ee) || ee.ExitCode != 3 || ee.Status != sandbox.StatusFailed || ee.Stderr != "oops\n" || res == nil || res.Stderr != "oops\n" {
			t.Errorf("Run(exit 3) = %+v, %v", res, err)
		}

		start := time.Now()
		_, err = tg.sb.Run(ctx, "echo started; sleep 30", &sandbox.RunOptions{Timeout: time.Second})
		var te *sandbox.RunTimeoutError
		if !errors.As(err, &te) || !te.Killed || te.Stdout != "started\n" || te.Process == nil || !te.Process.Ended() {
			t.Errorf("Run with a 1s timeout = %v (%+v)", err, te)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Run with a 1s timeout took %v", d)
		}

		dir := tg.dir(t)
		if err := tg.sb.Mkdir(ctx, dir, nil); err != nil {
			t.Fatal(err)
		}
		res, err = tg.sb.Run(ctx, `pwd; echo "$GREETING"`, &sandbox.RunOptions{WorkingDir: dir, Env: map[string]string{"GREETING": "hello"}})
		if err != nil || !strings.HasSuffix(res.Stdout, "/"+dir+"\nhello\n") || res.Process.WorkingDir != dir {
			t.Errorf("Run in %s = %+v, %v", dir, res, err)
		}

		res, err = tg.sb.Run(ctx, `printf '%070000d\n' 0`, nil)
		if err != nil || len(res.Stdout) != 70_001 || res.Stdout != strings.Repeat("0", 70_000)+"\n" {
			t.Errorf("Run with 70,001 bytes of output: %d bytes, %v", len(res.Stdout), err)
		}
	})
}

// waitForOutput polls the logs of a process until its stdout is want.
func waitForOutput(t *testing.T, tg *sandboxTarget, id, want string) {
	t.Helper()
	ctx := tg.ctx(t)
	for {
		logs, err := tg.sb.Logs(ctx, id)
		if err != nil {
			t.Fatalf("Logs(%s): %v", id, err)
		}
		if logs.Stdout == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stdout of %s is %q, never %q", id, logs.Stdout, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
