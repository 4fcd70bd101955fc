package mockserver

import (
	"time"

	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// Clock returns the server's clock as a [lifecycle.Clock]. Give it to a
// [lifecycle.Renewer] or [lifecycle.RenewerPool] (RenewerOptions.Clock)
// so that renewers and server agree on the time: on a server made
// [WithManualClock], renewals then fall due inside [Server.Advance], and
// an hour of renewals takes as long as the test advances the clock. The
// renewers react from their own goroutines, so advance in steps shorter
// than RenewerOptions.Margin and give them a moment (or
// synctest.Wait) between steps.
func (s *Server) Clock() lifecycle.Clock { return serverClock{s.clock} }

// serverClock adapts the internal clock to lifecycle.Clock.
type serverClock struct{ c clock.Clock }

func (c serverClock) Now() time.Time { return c.c.Now() }

func (c serverClock) AfterFunc(d time.Duration, f func()) func() bool {
	return c.c.AfterFunc(d, f).Stop
}
