package main

import (
	"testing"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestScript plays the scripted session on the embedded mock, as
// `go run ./examples/terminal` does without a terminal.
func TestScript(t *testing.T) {
	t.Setenv(client.EnvLifecycleBaseURL, "")
	env := demo.Start("terminal", client.Lifecycle, mockserver.WithListener("127.0.0.1:0"))
	defer env.Mock.Close()
	if err := run(t.Context(), env, false); err != nil {
		t.Fatal(err)
	}
}
