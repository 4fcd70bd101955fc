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

// resourceLimits returns the resource limits every create carries: the
// lifecycle server (and the mock, which follows it) refuses a create
// without them (422).
func resourceLimits() map[string]string {
	return map[string]string{"cpu": "500m", "memory": "256Mi"}
}
