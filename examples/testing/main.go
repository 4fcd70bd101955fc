// Command testing runs the example's "downstream" package, jobrunner,
// the way a program would use it. Its tests, in jobrunner_test.go, are
// the point of the example: they test jobrunner against sandboxkit's
// mock server with injected faults, and against gomock mocks.
//
//	go run ./examples/testing            # this program
//	go test ./examples/testing/...       # the tests
//
// Against the embedded mock server this program injects the same two
// faults the tests do: the first create succeeds but its answer is lost
// (503 after commit), and the first command fails with a 502. Against a
// standalone sandboxmock (SANDBOXMOCK_URL set as well, see package demo)
// it injects them through the mock's control API. With
// OPEN_SANDBOX_BASE_URL and OPEN_SANDBOX_API_KEY set alone it runs the
// job on a real lifecycle server, without faults.
package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/examples/testing/jobrunner"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

func main() {
	env := demo.Start("testing", sandboxkit.Lifecycle)
	ctx, cancel := env.Context(2 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	lc, err := lifecycle.New(env.Options(sandboxkit.Lifecycle)...)
	if err != nil {
		return err
	}
	r := &jobrunner.Runner{
		Lifecycle: lc,
		Connect: func(ep *lifecycle.Endpoint) (sandbox.Executor, error) {
			opts := append(env.Options(sandboxkit.Sandbox), sandboxkit.WithBaseURL(lc.Config().BaseURL().Scheme+"://"+ep.Address))
			for k, v := range ep.Headers {
				opts = append(opts, sandboxkit.WithHeader(k, v))
			}
			return sandbox.New(opts...)
		},
		Logf: env.Logf,
	}

	if env.Mock != nil {
		for _, f := range []mockserver.Fault{
			{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox, AfterCommit: true, Status: http.StatusServiceUnavailable, Times: 1},
			{API: mockserver.APISandbox, Operation: mockserver.OpExecProcess, Status: http.StatusBadGateway, Times: 1},
		} {
			if _, err := env.Mock.InjectFault(ctx, f); err != nil {
				return err
			}
		}
		env.Logf("injected: the first create commits but answers 503; the first command answers 502")
	}

	jobID := fmt.Sprintf("job-%d", time.Now().Unix())
	res, err := r.Run(ctx, jobID, "echo tests passed")
	if err != nil {
		return err
	}
	env.Logf("job %s ran in sandbox %s: %q, exit %d, %d attempt(s)", jobID, res.SandboxID, res.Stdout, res.ExitCode, res.Attempts)
	if env.Mock != nil {
		// The mock's journal shows what happened on the wire: the lost
		// create was followed by a lookup of the token, not a second
		// create; the failed command was run again.
		journal, err := env.Mock.Journal(ctx)
		if err != nil {
			return err
		}
		counts, err := env.Mock.CreationCounts(ctx, lifecycle.ClientTokenKey)
		if err != nil {
			return err
		}
		env.Logf("requests the mock saw:")
		for _, e := range journal {
			note := ""
			if e.Fault != 0 {
				note = "  ← injected fault"
			}
			env.Logf("   %-6s %-70s %d%s", e.Method, pathAndQuery(e), e.Status, note)
		}
		env.Logf("sandboxes created for token %s: %d", jobID, counts[jobID])
		if counts[jobID] != 1 {
			return fmt.Errorf("the mock created %d sandboxes for job %s, want exactly 1", counts[jobID], jobID)
		}
	}
	env.Logf("now run the tests: go test ./examples/testing/...")
	return nil
}

// pathAndQuery abbreviates a journal entry's path for the log.
func pathAndQuery(e mockserver.Entry) string {
	p := e.Path
	if e.Query != "" {
		p += "?" + e.Query
	}
	if len(p) > 70 {
		p = p[:67] + "..."
	}
	return p
}
