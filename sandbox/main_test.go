package sandbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a stream
// that was not closed, an upload part still sending, an upgrade watcher.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
