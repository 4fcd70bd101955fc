package main

import (
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
)

// TestScript plays the scripted session on the embedded mock, in memory,
// as `go run ./examples/terminal` does without a terminal.
func TestScript(t *testing.T) {
	t.Setenv(sandboxkit.EnvLifecycleBaseURL, "")
	env := demo.Start("terminal", sandboxkit.Lifecycle)
	defer env.Close()
	if err := run(t.Context(), env, false); err != nil {
		t.Fatal(err)
	}
}
