package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// processWith returns doneProcess with fields replaced.
func processWith(t *testing.T, fields map[string]any) string {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(doneProcess), &p); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		p[k] = v
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func TestRunEchoHi(t *testing.T) {
	t.Parallel()
	var answer string
	c, srv := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
	answer = processWith(t, map[string]any{"command": "echo hi", "stdout": "hi\n", "logs": "hi\n"})
	res, err := c.Run(t.Context(), "echo hi", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &sandbox.RunResult{
		Stdout: "hi\n", ExitCode: 0,
		StartedAt:   time.Date(2026, 11, 22, 22, 49, 6, 0, time.UTC),
		CompletedAt: time.Date(2026, 11, 22, 22, 49, 7, 0, time.UTC),
	}
	got := *res
	got.Process, got.Duration = nil, 0
	if diff := cmp.Diff(want, &got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if res.Duration <= 0 || res.Process.PID != "77" {
		t.Errorf("Duration %v, process %+v", res.Duration, res.Process)
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(srv.requests()[0].Body), &body)
	name, _ := body["name"].(string)
	if body["command"] != "echo hi" || body["waitForCompletion"] != true || !strings.HasPrefix(name, "sandboxkit-") {
		t.Errorf("request body %v", body)
	}
}

func TestRunCheckExit(t *testing.T) {
	t.Parallel()
	answer := processWith(t, map[string]any{"command": "make", "status": "failed", "exitCode": 2, "stderr": "no rule\n"})
	c, _ := setup(t, reply(200, answer))

	res, err := c.Run(t.Context(), "make", nil)
	if err != nil || res.ExitCode != 2 {
		t.Fatalf("without CheckExit: %+v, %v", res, err)
	}
	res, err = c.Run(t.Context(), "make", &sandbox.RunOptions{CheckExit: true})
	ee, ok := errors.AsType[*sandbox.ExitError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *ExitError", err, err)
	}
	want := &sandbox.ExitError{Command: "make", PID: "77", Status: sandbox.StatusFailed, ExitCode: 2, Stderr: "no rule\n"}
	if diff := cmp.Diff(want, ee); diff != "" {
		t.Errorf("ExitError (-want +got):\n%s", diff)
	}
	if res == nil || res.Stderr != "no rule\n" {
		t.Errorf("result with the error: %+v", res)
	}
	if got := err.Error(); got != `sandboxkit: sandbox.Run: "make" exited with code 2 (failed): no rule` {
		t.Errorf("message %q", got)
	}
}

// TestRunLongOutput: output as long as what the process object inlines
// is read again from the logs.
func TestRunLongOutput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 64<<10)
	full := strings.Repeat("y", 100<<10) + long
	c, srv := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/logs") {
			b, _ := json.Marshal(map[string]string{"stdout": full, "stderr": "", "logs": full})
			_, _ = w.Write(b)
			return
		}
		_, _ = io.WriteString(w, processWith(t, map[string]any{"stdout": long}))
	})
	res, err := c.Run(t.Context(), "cat big", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != full {
		t.Errorf("stdout has %d bytes, want %d", len(res.Stdout), len(full))
	}
	if reqs := srv.requests(); len(reqs) != 2 || reqs[1].URI != "/process/77/logs" {
		t.Errorf("requests %+v", reqs)
	}
}

// TestRunKillsOnTimeout: the server answers 422 when the timeout runs
// out and lets the process run; Run kills it and returns a typed error
// that says so and carries the output so far.
func TestRunKillsOnTimeout(t *testing.T) {
	t.Parallel()
	killed := false
	c, srv := setup(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete:
			killed = true
			reply(200, `{"message":"Process killed successfully"}`)(w, r)
		case r.Method == http.MethodGet && killed:
			reply(200, processWith(t, map[string]any{"name": "slow", "status": "killed", "exitCode": -1, "stdout": "tick\ntick\n"}))(w, r)
		case r.Method == http.MethodGet:
			reply(200, processWith(t, map[string]any{"name": "slow", "status": "running", "completedAt": "", "stdout": "tick\n"}))(w, r)
		default:
			reply(422, `{"error":"process timed out after 1 seconds"}`)(w, r)
		}
	})
	_, err := c.Run(t.Context(), "sleep 60", &sandbox.RunOptions{Name: "slow", Timeout: time.Second})
	te, ok := errors.AsType[*sandbox.RunTimeoutError](err)
	if !ok {
		t.Fatalf("error %v, want a *RunTimeoutError", err)
	}
	if !te.Killed || te.KillErr != nil || te.Stdout != "tick\ntick\n" || te.PID != "77" || te.Timeout != time.Second ||
		te.Process.Status != sandbox.StatusKilled || !errors.Is(err, sandboxkit.ErrUnprocessable) {
		t.Errorf("RunTimeoutError %+v", te)
	}
	if got, want := err.Error(), `sandboxkit: sandbox.Run: "sleep 60" timed out after 1s (killed)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.Method+" "+r.URI)
	}
	want := []string{"POST /process", "GET /process/slow", "DELETE /process/77/kill", "GET /process/77"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestRunPollsAndKillsWhenContextEnds: an early answer makes Run poll;
// when ctx ends first the process is killed.
func TestRunPollsAndKillsWhenContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		running := processWith(t, map[string]any{"status": "running", "completedAt": nil})
		var mu sync.Mutex
		var seen []string
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path)
			mu.Unlock()
			if r.Method == http.MethodDelete {
				return jsonResponse(r, 200, success), nil
			}
			return jsonResponse(r, 200, running), nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := c.Run(ctx, "sleep 60", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
		synctest.Wait() // the kill runs in the background
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 4 || seen[0] != "POST /process" || seen[1] != "GET /process/77" || seen[len(seen)-1] != "DELETE /process/77/kill" {
			t.Errorf("requests %v", seen)
		}
	})
}

// TestWait polls through transient errors to a terminal state.
func TestWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		n := 0
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			switch {
			case n <= 2:
				return jsonResponse(r, 200, processWith(t, map[string]any{"status": "running"})), nil
			case n <= 4:
				return jsonResponse(r, 500, `{"error":"busy"}`), nil
			default:
				return jsonResponse(r, 200, processWith(t, map[string]any{"status": "killed", "exitCode": -1})), nil
			}
		}, sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 0}))
		start := time.Now()
		p, err := sandbox.NewWaiter(c, &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: 2 * time.Second}).Wait(t.Context(), "77")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != sandbox.StatusKilled || p.ExitCode != -1 {
			t.Errorf("process %+v", p)
		}
		if waited := time.Since(start); waited < 5*time.Second || waited > 9*time.Second {
			t.Errorf("waited %v for 5 checks 1s..2s apart", waited)
		}
	})
}

// TestWaitDeadline: when ctx ends first, the error is a
// *sandboxkit.WaitTimeoutError carrying the process as last seen.
func TestWaitDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			return jsonResponse(r, 200, processWith(t, map[string]any{"status": "running"})), nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		p, err := sandbox.NewWaiter(c, nil).Wait(ctx, "77")
		te, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok || p != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %+v, %v; want a *WaitTimeoutError wrapping DeadlineExceeded", p, err)
		}
		if last, _ := te.Observed.(*sandbox.Process); last == nil || last.Status != sandbox.StatusRunning || te.State != "running" {
			t.Errorf("WaitTimeoutError %+v: want the running process as last seen", te)
		}
	})
}

// procServer is a small process API for Run's recovery tests: POST
// /process starts (and at once completes) a named command, GET
// /process/{name} finds it. In front of it, the first dropExec execs lose
// their connection: after the server started the process (commit) or
// before it saw the request.
type procServer struct {
	mu       sync.Mutex
	started  map[string]int // name -> processes started under it
	execs    int            // exec requests the server saw
	lookups  int
	commit   bool
	dropExec int
	conflict bool // answer every exec 409
	running  int  // lookups that still see the process running
}

func (s *procServer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/process":
		var req struct {
			Name, Command string
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		drop := s.dropExec > 0
		s.dropExec--
		if drop && !s.commit {
			return nil, errConnReset()
		}
		s.execs++
		if s.conflict {
			return jsonResponse(r, 409, `{"error":"busy"}`), nil
		}
		if s.started[req.Name] > 0 {
			return jsonResponse(r, 400, `{"error":"process with name already exists and is running"}`), nil
		}
		s.started[req.Name]++
		if drop {
			return nil, errConnReset()
		}
		return jsonResponse(r, 200, s.process(req.Name)), nil
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/process/"):
		s.lookups++
		name := strings.TrimPrefix(r.URL.Path, "/process/")
		if name == "77" { // the pid
			for n := range s.started {
				name = n
			}
		}
		if s.started[name] == 0 {
			return jsonResponse(r, 404, `{"error":"not found"}`), nil
		}
		if s.running > 0 {
			s.running--
			return jsonResponse(r, 200, strings.Replace(s.process(name), `"completed"`, `"running"`, 1)), nil
		}
		return jsonResponse(r, 200, s.process(name)), nil
	}
	return jsonResponse(r, 404, `{"error":"no route"}`), nil
}

func (s *procServer) process(name string) string {
	b, _ := json.Marshal(map[string]any{"pid": "77", "name": name, "command": "echo hi", "status": "completed",
		"startedAt": "Sun, 22 Nov 2026 22:49:06 GMT", "completedAt": "Sun, 22 Nov 2026 22:49:07 GMT",
		"exitCode": 0, "workingDir": "", "logs": "hi\n", "stdout": "hi\n", "stderr": ""})
	return string(b)
}

func errConnReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

func procClient(t *testing.T, s *procServer) *sandbox.Client {
	t.Helper()
	s.started = map[string]int{}
	c, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(mockBase), sandboxkit.WithToken(testToken),
		sandboxkit.WithHTTPClient(&http.Client{Transport: s}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunRecoversAmbiguousExec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		commit              bool
		drop, running       int
		wantExecs, wantLook int
	}{
		// The server started the command, then the connection dropped:
		// Run finds the process by name and does not start it again.
		{"reset after commit", true, 1, 0, 1, 1},
		// The connection dropped before the server saw the exec: the
		// lookup finds nothing and the exec is sent again.
		{"reset before commit", false, 1, 0, 1, 1},
		// Twice before the commit: two lookups, the third exec lands.
		{"two resets before commit", false, 2, 0, 1, 2},
		// Found still running: Run waits for it (two more polls).
		{"reset after commit, still running", true, 1, 2, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &procServer{commit: tt.commit, dropExec: tt.drop, running: tt.running}
				c := procClient(t, srv)
				res, err := c.Run(t.Context(), "echo hi", nil)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if res.Stdout != "hi\n" || res.ExitCode != 0 {
					t.Errorf("result %+v", res)
				}
				srv.mu.Lock()
				defer srv.mu.Unlock()
				if len(srv.started) != 1 {
					t.Errorf("started %v, want one process", srv.started)
				}
				for name, n := range srv.started {
					if n != 1 || name != res.Process.Name {
						t.Errorf("started %d processes named %q; Run returned %q", n, name, res.Process.Name)
					}
				}
				if srv.execs != tt.wantExecs || srv.lookups != tt.wantLook {
					t.Errorf("%d execs and %d lookups reached the server, want %d and %d", srv.execs, srv.lookups, tt.wantExecs, tt.wantLook)
				}
			})
		})
	}
}

// A 409 to the first exec is not ambiguous: returned as it is, with no
// lookup and no resend.
func TestRunConflictUnchanged(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := &procServer{conflict: true}
		c := procClient(t, srv)
		_, err := c.Run(t.Context(), "echo hi", nil)
		ae, ok := errors.AsType[*sandboxkit.APIError](err)
		if !ok || ae.StatusCode != 409 || ae.Operation != "sandbox.Run" {
			t.Fatalf("Run = %v, want the 409 named sandbox.Run", err)
		}
		if srv.execs != 1 || srv.lookups != 0 {
			t.Errorf("%d execs, %d lookups; want 1 and 0", srv.execs, srv.lookups)
		}
	})
}

// With a caller's name, which an earlier process may hold, an ambiguous
// exec is returned as it is.
func TestRunWithCallerNameDoesNotRecover(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := &procServer{commit: true, dropExec: 1}
		c := procClient(t, srv)
		_, err := c.Run(t.Context(), "echo hi", &sandbox.RunOptions{Name: "mine"})
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Run = %v, want the reset", err)
		}
		if srv.lookups != 0 {
			t.Errorf("%d lookups, want 0", srv.lookups)
		}
	})
}

// TestRunReturnsWhenContextEnds: when ctx ends, Run returns at once and
// kills the process in the background, however long the kill takes (it
// used to give the kill 5 s of its own before returning).
func TestRunReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		running := processWith(t, map[string]any{"status": "running", "completedAt": ""})
		var kills sync.WaitGroup
		kills.Add(1)
		var killEnded time.Time
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete {
				// A server that never answers the kill.
				defer kills.Done()
				<-r.Context().Done()
				killEnded = time.Now()
				return nil, r.Context().Err()
			}
			return jsonResponse(r, 200, running), nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Run(ctx, "sleep 60", nil)
		returned := time.Since(start)
		t.Logf("Run returned %v after its deadline", returned-10*time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
		if returned > 10*time.Second {
			t.Errorf("Run returned %v after it started, %v after its deadline", returned, returned-10*time.Second)
		}
		kills.Wait()
		if d := killEnded.Sub(start); d < 10*time.Second+sandbox.RunKillTimeout-time.Second || d > 10*time.Second+sandbox.RunKillTimeout {
			t.Errorf("the kill ended %v after Run started, want about %v", d, 10*time.Second+sandbox.RunKillTimeout)
		}
	})
}

// TestRunTimeoutLongerThanServerWait: a Timeout longer than what the
// server may wait under the client's per-attempt timeout is enforced by
// Run's own polling; the server's 422 for its shorter wait is not the
// end.
func TestRunTimeoutLongerThanServerWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var seen []string
		var sentTimeout float64
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.Method)
			switch {
			case r.Method == http.MethodPost:
				var body map[string]any
				_ = json.NewDecoder(r.Body).Decode(&body)
				sentTimeout, _ = body["timeout"].(float64)
				return jsonResponse(r, 422, `{"error":"process timed out after 20 seconds"}`), nil
			case time.Since(start) < 45*time.Second:
				return jsonResponse(r, 200, processWith(t, map[string]any{"status": "running", "completedAt": ""})), nil
			default:
				return jsonResponse(r, 200, processWith(t, map[string]any{"stdout": "done\n"})), nil
			}
		}, sandboxkit.WithTimeout(30*time.Second))
		res, err := c.Run(t.Context(), "sleep 45", &sandbox.RunOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Stdout != "done\n" || sentTimeout != 20 {
			t.Errorf("result %+v; the server was asked to wait %vs, want 20s", res, sentTimeout)
		}
		// The same Timeout running out in Run's own wait.
		start = time.Now()
		_, err = c.Run(t.Context(), "sleep 45", &sandbox.RunOptions{Timeout: 30 * time.Second})
		te, ok := errors.AsType[*sandbox.RunTimeoutError](err)
		if !ok || !errors.Is(err, context.DeadlineExceeded) || te.Timeout != 30*time.Second {
			t.Fatalf("Run = %v, want a *RunTimeoutError of Run's own wait", err)
		}
		if d := time.Since(start); d > 31*time.Second {
			t.Errorf("Run with a 30s timeout took %v", d)
		}
	})
}
