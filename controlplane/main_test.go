package controlplane

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (a waiter, an
// EnsureSandbox flight or a server connection).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
