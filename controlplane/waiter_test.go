package controlplane

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

const plain = `{"metadata":{"name":"sbx"},"spec":{"runtime":{"image":"img"}}}`

func TestWaitDeployed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.deployAfter = 4
		f.add("DEPLOYING", plain)
		start := time.Now()
		sb, err := c.WaitDeployed(t.Context(), "sbx", &WaitOptions{MinDelay: time.Second, MaxDelay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != StatusDeployed || sb.Metadata.Name != "sbx" {
			t.Errorf("got %s %s", sb.Metadata.Name, sb.Status)
		}
		if n := f.count(http.MethodGet, "/v0/sandboxes/sbx"); n != 4 {
			t.Errorf("%d GETs, want 4", n)
		}
		if took := time.Since(start); took < 3*time.Second || took > 4*time.Second {
			t.Errorf("took %v, want about 3 s (three 1 s pauses)", took)
		}
	})
}

func TestWaitDeployedFailsFastOnTerminalStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []Status{StatusFailed, StatusTerminated, StatusDeactivated, StatusDeleting} {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, f := setup(t)
				f.add("DEPLOYING", plain, "BUILDING", "DEPLOYING", string(status))
				start := time.Now()
				sb, err := c.WaitDeployed(t.Context(), "sbx", &WaitOptions{MinDelay: time.Second, MaxDelay: time.Second})
				if sb != nil {
					t.Errorf("got a sandbox with the error: %+v", sb)
				}
				se, ok := errors.AsType[*StateError](err)
				if !ok {
					t.Fatalf("err = %v, want a *StateError", err)
				}
				if se.Name != "sbx" || se.Status != status || se.Want != "DEPLOYED" || se.Message != "now "+string(status) || se.Sandbox == nil {
					t.Errorf("StateError = %+v", se)
				}
				if msg := err.Error(); !strings.Contains(msg, "controlplane.WaitDeployed") || !strings.Contains(msg, string(status)) {
					t.Errorf("message %q", msg)
				}
				if n := f.count(http.MethodGet, ""); n != 3 {
					t.Errorf("%d GETs, want 3 (no poll after the terminal status)", n)
				}
				if took := time.Since(start); took != 2*time.Second {
					t.Errorf("took %v, want 2 s", took)
				}
			})
		})
	}
}

func TestWaitDeployedKeepsWaitingThroughUnknownAndDeactivating(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("UPLOADING", plain, "UPLOADING", "HIBERNATING", "DEACTIVATING", "DEPLOYED")
		sb, err := c.WaitDeployed(t.Context(), "sbx", nil)
		if err != nil || sb.Status != StatusDeployed {
			t.Fatalf("got %v, %v", sb, err)
		}
	})
}

func TestWaitDeployedTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.deployAfter = 1 << 30
		f.add("DEPLOYING", plain)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := c.WaitDeployed(ctx, "sbx", nil)
		if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrWaitTimeout and DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), `"sbx" is still DEPLOYING`) {
			t.Errorf("message %q should give the last status", err)
		}
		if n := f.count(http.MethodGet, ""); n > 15 {
			t.Errorf("%d GETs in 30 s: backoff too eager", n)
		}

		// A waiter's own maxWait.
		start := time.Now()
		err = NewDeployedWaiter(c, nil).Wait(t.Context(), "sbx", 5*time.Second)
		if !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("err = %v, want ErrWaitTimeout", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("waited %v, more than maxWait", took)
		}
	})
}

func TestWaitDeployedCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.deployAfter = 1 << 30
		f.add("DEPLOYING", plain)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(3*time.Second, cancel)
		_, err := c.WaitDeployed(ctx, "sbx", nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestWaitDeployedToleratesTransientErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYING", plain)
		fails := 6 // three per GET (the transport retries twice): two 500s reach the waiter
		f.fail = func(*http.Request) (int, string) {
			if fails > 0 {
				fails--
				return http.StatusInternalServerError, "hiccup"
			}
			return 0, ""
		}
		sb, err := c.WaitDeployed(t.Context(), "sbx", nil)
		if err != nil || sb.Status != StatusDeployed {
			t.Fatalf("got %v, %v", sb, err)
		}

		// Without tolerance the first 500 that reaches the waiter ends the
		// wait (more failures than the transport's own retries of a GET).
		fails = 100
		f.add("DEPLOYING", `{"metadata":{"name":"other"},"spec":{}}`)
		_, err = c.WaitDeployed(t.Context(), "other", &WaitOptions{MaxTransient: -1})
		if !errors.Is(err, sandboxkit.ErrServer) {
			t.Fatalf("err = %v, want the 500", err)
		}
		if fails < 90 {
			t.Errorf("%d requests for a wait that tolerates no error", 100-fails)
		}
	})
}

func TestWaitDeployedNotFound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, _ := setup(t)
		_, err := c.WaitDeployed(t.Context(), "nope", nil)
		if !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestWaitDeleted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DELETING", plain, "DELETING", "DELETING", "TERMINATED")
		sb, err := c.WaitDeleted(t.Context(), "sbx", nil)
		if err != nil || sb == nil || sb.Status != StatusTerminated {
			t.Fatalf("TERMINATED: got %+v, %v", sb, err)
		}

		// A sandbox the service forgets counts as deleted: nil, nil.
		f.add("DELETING", `{"metadata":{"name":"gone"},"spec":{}}`, "DELETING", "GONE")
		sb, err = c.WaitDeleted(t.Context(), "gone", &WaitOptions{MinDelay: time.Second})
		if err != nil || sb != nil {
			t.Fatalf("gone: got %+v, %v", sb, err)
		}
		sb, err = c.WaitDeleted(t.Context(), "never-was", nil)
		if err != nil || sb != nil {
			t.Fatalf("never was: got %+v, %v", sb, err)
		}
	})
}

func TestCreateAndWaitThenDeleteAndWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.deployAfter = 3
		sb, err := c.CreateAndWait(t.Context(), &Sandbox{Metadata: Metadata{Name: "sbx"}, Spec: Spec{Runtime: &Runtime{Image: "img"}}}, nil)
		if err != nil || sb.Status != StatusDeployed {
			t.Fatalf("CreateAndWait: %+v, %v", sb, err)
		}
		sb, err = c.DeleteAndWait(t.Context(), "sbx", nil)
		if err != nil || sb == nil || sb.Status != StatusTerminated {
			t.Fatalf("DeleteAndWait: %+v, %v", sb, err)
		}
		if f.count(http.MethodDelete, "/v0/sandboxes/sbx") != 1 || f.count(http.MethodPost, "/v0/sandboxes") != 1 {
			t.Errorf("calls: %+v", f.seen())
		}
		// Deleting what does not exist is done at once.
		sb, err = c.DeleteAndWait(t.Context(), "never-was", nil)
		if err != nil || sb != nil {
			t.Fatalf("DeleteAndWait(missing) = %+v, %v", sb, err)
		}
	})
}

func TestCreateAndWaitReportsFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.gate = func(r *http.Request) {
			// The sandbox fails to deploy right after the create.
			if r.Method == http.MethodGet {
				f.mu.Lock()
				if sb := f.sandboxes["sbx"]; sb != nil && sb.status == "DEPLOYING" {
					sb.script = []string{"FAILED"}
				}
				f.mu.Unlock()
			}
		}
		_, err := c.CreateAndWait(t.Context(), &Sandbox{Metadata: Metadata{Name: "sbx"}}, nil)
		var se *StateError
		if !errors.As(err, &se) || se.Status != StatusFailed {
			t.Fatalf("err = %v, want a FAILED StateError", err)
		}
	})
}
