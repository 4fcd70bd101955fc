package resilience

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a
// workflow, a waiter, a request in flight or a server connection.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
