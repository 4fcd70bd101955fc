package lifecycle_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind (a
// renewer, a pool worker, a request in flight).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
