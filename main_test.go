package sandboxkit

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind (a retry
// loop, a redirect-following request or a server connection).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
