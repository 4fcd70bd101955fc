package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit/sandbox"
	"github.com/sandboxkit/sandboxkit/sandbox/mocksandbox"
)

// buildAndTest is code under test that needs only an Executor.
func buildAndTest(ctx context.Context, ex sandbox.Executor) (string, error) {
	for _, cmd := range []string{"make build", "make test"} {
		res, err := ex.Run(ctx, cmd, &sandbox.RunOptions{CheckExit: true})
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmd, err)
		}
		if cmd == "make test" {
			return res.Stdout, nil
		}
	}
	return "", nil
}

// TestExecutorMock shows the typed gomock mocks of package mocksandbox.
func TestExecutorMock(t *testing.T) {
	t.Parallel()
	ctrl := gomock.NewController(t)
	ex := mocksandbox.NewMockExecutor(ctrl)
	gomock.InOrder(
		ex.EXPECT().Run(gomock.Any(), "make build", gomock.Any()).Return(&sandbox.RunResult{}, nil),
		ex.EXPECT().Run(gomock.Any(), "make test", gomock.Any()).
			DoAndReturn(func(_ context.Context, _ string, o *sandbox.RunOptions) (*sandbox.RunResult, error) {
				if !o.CheckExit {
					t.Error("CheckExit not set")
				}
				return &sandbox.RunResult{Stdout: "PASS\n"}, nil
			}),
	)
	out, err := buildAndTest(t.Context(), ex)
	if err != nil || out != "PASS\n" {
		t.Fatalf("buildAndTest = %q, %v", out, err)
	}

	// A failing step, and a stream from a fake.
	ex.EXPECT().Run(gomock.Any(), "make build", gomock.Any()).Return(nil, &sandbox.ExitError{Command: "make build", ExitCode: 2})
	if _, err := buildAndTest(t.Context(), ex); !errors.As(err, new(*sandbox.ExitError)) {
		t.Errorf("error %v", err)
	}
	ex.EXPECT().ExecStream(gomock.Any(), gomock.Any(), gomock.Any()).
		Return(sandbox.StreamOf(sandbox.ProcessEvent{Type: sandbox.EventStdout, Text: "hi\n"}), nil)
	s, err := ex.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "echo hi"}, nil)
	if err != nil || !s.Next() || s.Event().Text != "hi\n" || s.Next() || s.Err() != nil {
		t.Errorf("stream from StreamOf: %v", err)
	}
}
