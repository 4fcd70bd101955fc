package jobrunner_test

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"

	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/testing/jobrunner"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/lifecycle/mocklifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
	"github.com/sandboxkit/sandboxkit/sandbox/mocksandbox"
)

// setup starts a mock server for one test and a Runner that talks to it
// the way production code would: a lifecycle client, and sandbox API
// clients built from endpoints. Call it inside a synctest bubble: the
// mock's transitions, the waiter's polls and the runner's backoff then
// take no real time.
func setup(t *testing.T) (*mockserver.Server, *jobrunner.Runner) {
	t.Helper()
	srv := mockserver.Start(t) // in-process, closed when the test ends
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, &jobrunner.Runner{
		Lifecycle: lc,
		Connect: func(ep *lifecycle.Endpoint) (sandbox.Executor, error) {
			opts := append(srv.ClientOptions(sandboxkit.Sandbox), sandboxkit.WithBaseURL("http://"+ep.Address))
			return sandbox.New(opts...)
		},
		Logf: t.Logf,
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, r := setup(t)
		res, err := r.Run(t.Context(), "job-1", "echo done")
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "done\n" || res.ExitCode != 0 || res.Attempts != 1 {
			t.Errorf("result = %+v, want stdout \"done\\n\", exit 0, 1 attempt", res)
		}
		// The journal and the domain records say what the code did.
		if d := srv.Deletions(); len(d) != 1 || d[0].ID != res.SandboxID {
			t.Errorf("deletions = %+v, want the job's sandbox", d)
		}
		if info, _ := srv.Sandbox(res.SandboxID); info.Metadata["job"] != "job-1" {
			t.Errorf("sandbox metadata = %v, want job=job-1", info.Metadata)
		}
	})
}

// A 502 from the sandbox API is ambiguous: the command may have started.
// sandbox.Client.Run settles it by looking the process up by name; the
// server never started it, so Run sends the exec again itself and the
// runner's first attempt succeeds.
func TestRunRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, r := setup(t)
		fault, err := srv.InjectFault(mockserver.Fault{
			API: mockserver.APISandbox, Operation: "ExecProcess", Status: http.StatusBadGateway, Times: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(t.Context(), "job-2", "echo again")
		if err != nil {
			t.Fatal(err)
		}
		if res.Attempts != 1 || res.Stdout != "again\n" {
			t.Errorf("result = %+v, want 1 attempt and the output", res)
		}
		if n := srv.FaultFired(fault); n != 1 {
			t.Errorf("fault fired %d times, want 1", n)
		}
		if n := srv.Count(mockserver.Filter{Operation: "ExecProcess"}); n != 2 {
			t.Errorf("%d exec requests, want 2", n)
		}
	})
}

// A create that succeeds on the server but whose answer is lost (503
// after commit) is ambiguous. The lifecycle client looks the job's token
// up instead of creating again: one sandbox, not two.
func TestRunAmbiguousCreateMakesOneSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, r := setup(t)
		if _, err := srv.InjectFault(mockserver.Fault{
			API: mockserver.APILifecycle, Operation: "CreateSandbox",
			AfterCommit: true, Status: http.StatusServiceUnavailable, Times: 1,
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(t.Context(), "job-3", "true"); err != nil {
			t.Fatal(err)
		}
		if got := srv.CreationCounts(lifecycle.ClientTokenKey); got["job-3"] != 1 || len(got) != 1 {
			t.Errorf("sandboxes created per token = %v, want job-3: 1", got)
		}
		if n := srv.Count(mockserver.Filter{Operation: "CreateSandbox"}); n != 1 {
			t.Errorf("%d create requests, want 1 (then a lookup)", n)
		}
		if n := len(srv.Deletions()); n != 1 {
			t.Errorf("%d deletions, want 1", n)
		}
	})
}

// When every attempt fails, the error says so, matches the sentinel of
// the last answer, and the sandbox is still deleted.
func TestRunGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, r := setup(t)
		if _, err := srv.InjectFault(mockserver.Fault{
			API: mockserver.APISandbox, Operation: "ExecProcess", Status: http.StatusBadGateway,
		}); err != nil {
			t.Fatal(err)
		}
		_, err := r.Run(t.Context(), "job-4", "echo never")
		if !errors.Is(err, sandboxkit.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		// Each attempt's Run sends the exec up to four times, looking the
		// process up by name between two.
		if n := srv.Count(mockserver.Filter{Operation: "ExecProcess"}); n != 4*jobrunner.DefaultAttempts {
			t.Errorf("%d exec requests, want %d", n, 4*jobrunner.DefaultAttempts)
		}
		if n := len(srv.Deletions()); n != 1 {
			t.Errorf("%d deletions, want 1", n)
		}
	})
}

// With gomock the test states every call the code must make: here, a
// sandbox that fails to start is deleted, and nothing is run.
func TestRunDeletesSandboxThatFailed(t *testing.T) {
	t.Parallel()
	ctrl := gomock.NewController(t)
	lc := mocklifecycle.NewMockAPI(ctrl)
	failed := &lifecycle.Sandbox{ID: "sbx-1", Status: lifecycle.Status{State: lifecycle.StateFailed, Reason: "image_pull", Message: "pull access denied"}}

	lc.EXPECT().Create(gomock.Any(), gomock.Any(), &lifecycle.CreateOptions{ClientToken: "job-5"}).
		Return(&lifecycle.Sandbox{ID: "sbx-1", Status: lifecycle.Status{State: lifecycle.StatePending}}, nil)
	lc.EXPECT().Get(gomock.Any(), "sbx-1").Return(failed, nil)
	lc.EXPECT().Delete(gomock.Any(), "sbx-1").Return(nil)
	r := &jobrunner.Runner{
		Lifecycle: lc,
		Connect: func(*lifecycle.Endpoint) (sandbox.Executor, error) {
			t.Error("Connect called for a failed sandbox")
			return nil, errors.New("unreachable")
		},
	}

	_, err := r.Run(t.Context(), "job-5", "true")
	var se *sandboxkit.StateError
	if !errors.As(err, &se) || se.State != string(lifecycle.StateFailed) || se.Reason != "image_pull" {
		t.Fatalf("err = %v, want a *sandboxkit.StateError for Failed (image_pull)", err)
	}
}

// A mock Executor: an error that is not transient (401) is not retried.
func TestRunDoesNotRetryPermanentErrors(t *testing.T) {
	t.Parallel()
	ctrl := gomock.NewController(t)
	lc := mocklifecycle.NewMockAPI(ctrl)
	exec := mocksandbox.NewMockExecutor(ctrl)
	running := &lifecycle.Sandbox{ID: "sbx-2", Status: lifecycle.Status{State: lifecycle.StateRunning}}

	lc.EXPECT().Create(gomock.Any(), gomock.Any(), gomock.Any()).Return(running, nil)
	lc.EXPECT().Get(gomock.Any(), "sbx-2").Return(running, nil)
	lc.EXPECT().Endpoint(gomock.Any(), "sbx-2", 8080, gomock.Nil()).Return(&lifecycle.Endpoint{Address: "gw.example/sbx-2/8080"}, nil)
	exec.EXPECT().Run(gomock.Any(), "make test", gomock.Nil()).
		Return(nil, &sandboxkit.APIError{StatusCode: http.StatusUnauthorized, Message: "bad token"}).Times(1)
	lc.EXPECT().Delete(gomock.Any(), "sbx-2").Return(nil)
	r := &jobrunner.Runner{
		Lifecycle: lc,
		Connect: func(ep *lifecycle.Endpoint) (sandbox.Executor, error) {
			if ep.Address != "gw.example/sbx-2/8080" {
				t.Errorf("Connect(%q)", ep.Address)
			}
			return exec, nil
		},
	}

	if _, err := r.Run(t.Context(), "job-6", "make test"); !errors.Is(err, sandboxkit.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}
