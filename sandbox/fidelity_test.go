package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Regression tests for what the real sandbox API does and the client must
// handle (issue 11). The conformance suite runs the same behaviours
// against the mock and the real server.

// TestErrorsNameTheMethodCalled: an error names the method the caller
// called, not the request it made on the way (Waiter.Wait polls
// GetProcess, HealthWaiter.Wait polls Health, Upload writes, ...).
func TestErrorsNameTheMethodCalled(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, reply(http.StatusBadRequest, `{"error":"refused"}`))
	calls := map[string]func(ctx context.Context) error{
		"Health":            func(ctx context.Context) error { _, err := c.Health(ctx); return err },
		"HealthWaiter.Wait": func(ctx context.Context) error { _, err := sandbox.NewHealthWaiter(c, nil).Wait(ctx); return err },
		"StartUpgrade":      func(ctx context.Context) error { _, err := c.StartUpgrade(ctx, nil); return err },
		"Upgrade":           func(ctx context.Context) error { _, err := c.Upgrade(ctx, &sandbox.UpgradeOptions{}); return err },
		"WatchUpgrade":      func(ctx context.Context) error { _, err := c.WatchUpgrade(ctx, nil); return err },
		"Exec": func(ctx context.Context) error {
			_, err := c.Exec(ctx, &sandbox.ExecRequest{Command: "true"})
			return err
		},
		"ExecStream": func(ctx context.Context) error {
			_, err := c.ExecStream(ctx, &sandbox.ExecRequest{Command: "true"}, nil)
			return err
		},
		"Run":           func(ctx context.Context) error { _, err := c.Run(ctx, "true", nil); return err },
		"GetProcess":    func(ctx context.Context) error { _, err := c.GetProcess(ctx, "p"); return err },
		"ListProcesses": func(ctx context.Context) error { _, err := c.ListProcesses(ctx); return err },
		"StopProcess":   func(ctx context.Context) error { return c.StopProcess(ctx, "p") },
		"KillProcess":   func(ctx context.Context) error { return c.KillProcess(ctx, "p") },
		"Waiter.Wait":   func(ctx context.Context) error { _, err := sandbox.NewWaiter(c, nil).Wait(ctx, "p"); return err },
		"Logs":          func(ctx context.Context) error { _, err := c.Logs(ctx, "p"); return err },
		"StreamLogs":    func(ctx context.Context) error { _, err := c.StreamLogs(ctx, "p", nil); return err },
		"Read":          func(ctx context.Context) error { _, err := c.Read(ctx, "a"); return err },
		"Open":          func(ctx context.Context) error { _, err := c.Open(ctx, "a"); return err },
		"ListDirectory": func(ctx context.Context) error { _, err := c.ListDirectory(ctx, "a"); return err },
		"Tree":          func(ctx context.Context) error { _, err := c.Tree(ctx, "/a"); return err },
		"Write":         func(ctx context.Context) error { return c.Write(ctx, "a", "x", nil) },
		"Upload":        func(ctx context.Context) error { _, err := c.Upload(ctx, "a", strings.NewReader("x"), nil); return err },
		"WriteTree": func(ctx context.Context) error {
			_, err := c.WriteTree(ctx, "/a", map[string]string{"b": "c"})
			return err
		},
		"Mkdir":          func(ctx context.Context) error { return c.Mkdir(ctx, "a", nil) },
		"Remove":         func(ctx context.Context) error { return c.Remove(ctx, "a", nil) },
		"RemoveTree":     func(ctx context.Context) error { return c.RemoveTree(ctx, "/a", nil) },
		"Find":           func(ctx context.Context) error { _, err := c.Find(ctx, "a", nil); return err },
		"Search":         func(ctx context.Context) error { _, err := c.Search(ctx, "a", nil); return err },
		"Grep":           func(ctx context.Context) error { _, err := c.Grep(ctx, "a", "q", nil); return err },
		"Watch":          func(ctx context.Context) error { _, err := c.Watch(ctx, "a", nil); return err },
		"InitiateUpload": func(ctx context.Context) error { _, err := c.InitiateUpload(ctx, "a", nil); return err },
		"UploadPart": func(ctx context.Context) error {
			_, err := c.UploadPart(ctx, "u", 1, strings.NewReader("x"), 1)
			return err
		},
		"ListUploadedParts": func(ctx context.Context) error { _, err := c.ListUploadedParts(ctx, "u"); return err },
		"CompleteUpload":    func(ctx context.Context) error { return c.CompleteUpload(ctx, "u", nil) },
		"AbortUpload":       func(ctx context.Context) error { return c.AbortUpload(ctx, "u") },
		"ResumeUpload": func(ctx context.Context) error {
			_, err := c.ResumeUpload(ctx, "u", strings.NewReader("x"), 1, nil)
			return err
		},
		"ListMultipartUploads": func(ctx context.Context) error { _, err := c.ListMultipartUploads(ctx); return err },
		"ListPorts":            func(ctx context.Context) error { _, err := c.ListPorts(ctx, 1); return err },
		"MonitorPorts":         func(ctx context.Context) error { return c.MonitorPorts(ctx, 1, "http://cb.test/") },
		"StopMonitoringPorts": func(ctx context.Context) error {
			return c.StopMonitoringPorts(ctx, 1)
		},
		"UpdateTunnel":     func(ctx context.Context) error { return c.UpdateTunnel(ctx, []byte("{}")) },
		"DisconnectTunnel": func(ctx context.Context) error { return c.DisconnectTunnel(ctx) },
		"ListDrives":       func(ctx context.Context) error { _, err := c.ListDrives(ctx); return err },
		"MountDrive": func(ctx context.Context) error {
			_, err := c.MountDrive(ctx, &sandbox.DriveMount{DriveName: "d", MountPath: "/mnt"})
			return err
		},
		"UnmountDrive":      func(ctx context.Context) error { return c.UnmountDrive(ctx, "/mnt") },
		"ReloadEnvironment": func(ctx context.Context) error { _, err := c.ReloadEnvironment(ctx); return err },
		"FastApply":         func(ctx context.Context) error { _, err := c.FastApply(ctx, "a", "edit", nil); return err },
		"Rerank":            func(ctx context.Context) error { _, err := c.Rerank(ctx, "a", "q", nil); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := call(t.Context())
			apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
			if !ok {
				t.Fatalf("error %v (%T) holds no *sandboxkit.APIError", err, err)
			}
			if want := "sandbox." + name; apiErr.Operation != want {
				t.Errorf("Operation = %q, want %q (error %v)", apiErr.Operation, want, err)
			}
		})
	}
}

// stoppedProcess is a process the real server reports stopped: SIGTERM
// sent, completedAt empty until it exits.
func stoppedProcess(completedAt string, exitCode int) string {
	return fmt.Sprintf(`{"pid":"77","name":"trap","command":"trap '' TERM; sleep 9","status":"stopped",
		"startedAt":"Sun, 22 Nov 2026 22:49:06 GMT","completedAt":%q,"exitCode":%d,
		"workingDir":"","logs":"","stdout":"","stderr":""}`, completedAt, exitCode)
}

// TestWaitAfterStopWaitsForTheExit: "stopped" with an empty completedAt is
// a process that was sent SIGTERM and still runs; Wait returns once it
// has exited.
func TestWaitAfterStopWaitsForTheExit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var polls atomic.Int32
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			if polls.Add(1) < 4 {
				return jsonResponse(r, 200, stoppedProcess("", 0)), nil
			}
			return jsonResponse(r, 200, stoppedProcess("Sun, 22 Nov 2026 22:49:09 GMT", 7)), nil
		})
		p, err := sandbox.NewWaiter(c, nil).Wait(t.Context(), "trap")
		if err != nil {
			t.Fatal(err)
		}
		if polls.Load() != 4 || p.Status != sandbox.StatusStopped || p.ExitCode != 7 || p.CompletedAt.IsZero() || !p.Ended() {
			t.Errorf("after %d polls Wait = %+v", polls.Load(), p)
		}
	})
}

// TestProcessEnded covers the statuses and the stopped-but-running case.
func TestProcessEnded(t *testing.T) {
	t.Parallel()
	done := time.Date(2026, 11, 22, 22, 49, 9, 0, time.UTC)
	for _, tc := range []struct {
		p    *sandbox.Process
		want bool
	}{
		{nil, false},
		{&sandbox.Process{Status: sandbox.StatusRunning}, false},
		{&sandbox.Process{Status: sandbox.StatusStopped}, false},
		{&sandbox.Process{Status: sandbox.StatusStopped, CompletedAt: done}, true},
		{&sandbox.Process{Status: sandbox.StatusCompleted, CompletedAt: done}, true},
		{&sandbox.Process{Status: sandbox.StatusFailed, CompletedAt: done}, true},
		{&sandbox.Process{Status: sandbox.StatusKilled, CompletedAt: done}, true},
		{&sandbox.Process{Status: sandbox.StatusKilled}, false},
		{&sandbox.Process{Status: sandbox.StatusKilled, ExitCode: -1}, true},
		{&sandbox.Process{Status: sandbox.StatusStopped, ExitCode: 143}, true},
		{&sandbox.Process{Status: "paused"}, false},
	} {
		if got := tc.p.Ended(); got != tc.want {
			t.Errorf("%+v Ended() = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// TestFindTypeAndExcludeDirs: the real server finds only files when no
// type is sent, and reads an empty excludeDirs as "use the default list";
// the client sends type=file explicitly and "," for "exclude nothing".
func TestFindTypeAndExcludeDirs(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(http.StatusOK, `{"query":"q","matches":[],"total":0}`))
	ctx := t.Context()
	if _, err := c.Find(ctx, "src", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Find(ctx, "src", &sandbox.FindOptions{Type: sandbox.TypeDirectory, ExcludeDirs: []string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Grep(ctx, "src", "q", &sandbox.GrepOptions{ExcludeDirs: []string{""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Search(ctx, "src", &sandbox.SearchOptions{ExcludeDirs: []string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Find(ctx, "src", &sandbox.FindOptions{Type: "all"}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("Find with type all: %v, want ErrInvalidInput", err)
	}
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.URI)
	}
	want := []string{
		"/filesystem-find/src?type=file",
		"/filesystem-find/src?excludeDirs=%2C&type=directory",
		"/filesystem-content-search/src?excludeDirs=%2C&query=q",
		"/filesystem-search/src?excludeDirs=%2C",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestHealthOfOlderServers: older servers answer /health with
// {"status":"ok"} only; a missing field is not an error. (No server sends
// null for a field: the real server's health fields are plain values.)
func TestHealthOfOlderServers(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"status":"ok"}`,
		`{"status":"ok","version":"v0.0.9","lastUpgrade":{"status":"idle"}}`,
	} {
		c, _ := setup(t, reply(http.StatusOK, body))
		h, err := c.Health(t.Context())
		if err != nil || !h.OK() {
			t.Errorf("Health of %s = %+v, %v", body, h, err)
			continue
		}
		h, err = sandbox.NewHealthWaiter(c, nil).Wait(t.Context())
		if err != nil || !h.OK() {
			t.Errorf("WaitReady of %s = %+v, %v", body, h, err)
		}
	}
	// What is there is still read.
	c, _ := setup(t, reply(http.StatusOK, `{"status":"ok","version":"v0.0.9","upgradeCount":3,"lastUpgrade":{"status":"failed","error":"boom"}}`))
	h, err := c.Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &sandbox.Health{Status: "ok", Version: "v0.0.9", UpgradeCount: 3,
		LastUpgrade: sandbox.UpgradeStatus{State: sandbox.UpgradeFailed, Error: "boom"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("Health (-want +got):\n%s", diff)
	}
	// A wrong type is still an error.
	c, _ = setup(t, reply(http.StatusOK, `{"status":"ok","upgradeCount":"three"}`))
	if _, err := c.Health(t.Context()); err == nil {
		t.Error("Health with a string upgradeCount succeeded")
	}
}
