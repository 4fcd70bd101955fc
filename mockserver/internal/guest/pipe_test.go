package guest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The stages of a pipeline run at the same time: what one writes reaches
// the next at once, a stage that sleeps does not hold the others back,
// and an endless writer ends (SIGPIPE) when its reader is gone.
func TestPipelineStagesRunTogether(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	p := e.exec(t, `{"command":"(echo a; sleep 5; echo b) | cat"}`)
	if got := e.getProcess(t, p.Pid); got.Status != "running" || got.Stdout.Value != "a\n" {
		t.Errorf("before the sleep ends: %s %q", got.Status, got.Stdout.Value)
	}
	e.clock.Advance(5 * time.Second)
	if got := e.getProcess(t, p.Pid); got.Status != "completed" || got.Stdout.Value != "a\nb\n" {
		t.Errorf("after it: %s %q", got.Status, got.Stdout.Value)
	}

	// yes fills the pipe and waits; when sleep ends, yes dies of SIGPIPE.
	q := e.exec(t, `{"command":"(yes; echo yes: $? >&2) | sleep 1; echo sleep: $?"}`)
	if got := e.getProcess(t, q.Pid); got.Status != "running" {
		t.Errorf("yes | sleep 1: %s", got.Status)
	}
	e.clock.Advance(time.Second)
	if got := e.getProcess(t, q.Pid); got.Status != "completed" || got.Stdout.Value != "sleep: 0\n" || got.Stderr.Value != "yes: 141\n" {
		t.Errorf("yes | sleep 1 after 1s: %s %q %q", got.Status, got.Stdout.Value, got.Stderr.Value)
	}
}

// An endless producer keeps running on the clock without holding the
// guest, and ends when stopped or killed, in a pipeline or alone.
func TestEndlessProducers(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct{ cmd, signal, status string }{
		{"yes > /dev/null", "", "stopped"},
		{"yes | cat | wc -c", "", "stopped"},
		{"cat /dev/zero | sleep 100", "/kill", "killed"},
		{"tr '\\\\0' x < /dev/urandom | grep -c nothing", "/kill", "killed"},
		{"head -c 10 /dev/zero | sort", "", "completed"},
	} {
		p := e.exec(t, jsonBody(map[string]string{"command": tc.cmd}))
		e.clock.Advance(10 * time.Millisecond)
		if tc.status == "completed" {
			if got := e.getProcess(t, p.Pid); got.Status != "completed" {
				t.Errorf("%s: %s", tc.cmd, got.Status)
			}
			continue
		}
		if got := e.getProcess(t, p.Pid); got.Status != "running" {
			t.Errorf("%s after 10ms: %s", tc.cmd, got.Status)
		}
		if resp, body := e.do(t, http.MethodDelete, "/process/"+p.Pid+tc.signal, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: DELETE%s: %d %s", tc.cmd, tc.signal, resp.StatusCode, body)
		}
		e.clock.Advance(100 * time.Millisecond)
		if got := e.getProcess(t, p.Pid); got.Status != tc.status || got.ExitCode != -1 || got.CompletedAt.Value == "" {
			t.Errorf("%s after DELETE%s: %s %d %q", tc.cmd, tc.signal, got.Status, got.ExitCode, got.CompletedAt.Value)
		}
	}
	// Every flow of every process has ended.
	e.g.mu.Lock()
	defer e.g.mu.Unlock()
	for _, p := range e.g.order {
		for _, f := range p.flows {
			if !f.done {
				t.Errorf("process %s (%s) has a flow still running", p.pid, p.command)
			}
		}
	}
}

// Registered commands read and write pipes as the data flows.
func TestRegisteredCommandsInPipelines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("upper", func(ctx context.Context, c *Cmd) (int, error) {
			r := bufio.NewReader(c.Stdin)
			for {
				l, err := r.ReadString('\n')
				if _, werr := io.WriteString(c.Stdout, strings.ToUpper(l)); werr != nil {
					return 1, werr
				}
				if err != nil {
					return 0, nil
				}
			}
		})
		e.g.RegisterCommand("gen", func(ctx context.Context, c *Cmd) (int, error) {
			for i := 0; ; i++ {
				if _, err := c.Stdout.Write(bytes.Repeat([]byte("g\n"), 1000)); err != nil {
					return 7, nil // killed by SIGPIPE: the status does not count
				}
			}
		})
		p := e.exec(t, `{"command":"yes abc | upper | head -n 2; (gen; echo gen: $? >&2) | head -c 5"}`)
		synctest.Wait()
		if got := e.getProcess(t, p.Pid); got.Status != "completed" || got.Stdout.Value != "ABC\nABC\ng\ng\ng" || got.Stderr.Value != "gen: 141\n" {
			t.Errorf("%s %q %q", got.Status, got.Stdout.Value, got.Stderr.Value)
		}
	})
}

// An endless writer's log files keep their last 32 MiB, as the server's
// do: memory stays bounded, the output shows its tail after the marker.
func TestLogFilesAreCapped(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	p := e.exec(t, `{"command":"yes"}`)
	for range 80 {
		e.clock.Advance(time.Millisecond)
	}
	e.g.mu.Lock()
	q := e.g.procs[p.Pid]
	written, held := q.outBase+len(q.outFile), len(q.outFile)
	e.g.mu.Unlock()
	if written < 2*maxLogFile || held > maxLogFile+maxLogFile/4 {
		t.Errorf("written %d bytes, %d held", written, held)
	}
	got := e.getProcess(t, p.Pid)
	if want := truncationMarker + strings.Repeat("y\n", maxInlinedLog/2); got.Status != "running" || got.Stdout.Value != want {
		t.Errorf("%s, stdout of %d bytes", got.Status, len(got.Stdout.Value))
	}
	if resp, body := e.do(t, http.MethodDelete, "/process/"+p.Pid+"/kill", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("kill: %s", body)
	}
}
