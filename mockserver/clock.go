package mockserver

import (
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// Clock is the server's clock as code outside the server sees it. Its
// method set is that of lifecycle.Clock, so a Clock can be given to a
// lifecycle.Renewer or lifecycle.RenewerPool (RenewerOptions.Clock) as it
// is; mockserver defines its own type so that it imports none of the
// façade packages.
type Clock interface {
	// Now returns the time on the server's clock.
	Now() time.Time
	// AfterFunc arranges for f to be called once d has passed on the
	// server's clock and returns a function that cancels the call and
	// reports whether it was still pending. f may be called from any
	// goroutine.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Clock returns the server's clock. Give it to a lifecycle.Renewer or
// lifecycle.RenewerPool (RenewerOptions.Clock) so that renewers and
// server agree on the time: on a server made [WithManualClock], renewals
// then fall due inside [Server.Advance], and an hour of renewals takes as
// long as the test advances the clock. The renewers react from their own
// goroutines, so advance in steps shorter than RenewerOptions.Margin and
// give them a moment (or synctest.Wait) between steps. After a
// [Server.Reset] that changes the clock, the returned clock reads the new
// one; functions scheduled on the old one never run.
func (s *Server) Clock() Clock { return serverClock{s.clock} }

// serverClock adapts the internal clock to [Clock].
type serverClock struct{ c clock.Clock }

func (c serverClock) Now() time.Time { return c.c.Now() }

func (c serverClock) AfterFunc(d time.Duration, f func()) func() bool {
	return c.c.AfterFunc(d, f).Stop
}

// switchClock is the server's clock: the wall clock or a manual one,
// replaced by Reset. Everything that holds the server's clock holds this
// one, so a reset that changes the clock needs to update nothing else.
type switchClock struct {
	mu    sync.RWMutex
	inner clock.Clock
}

func (c *switchClock) current() clock.Clock {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.inner
}

func (c *switchClock) set(inner clock.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inner = inner
}

func (c *switchClock) Now() time.Time { return c.current().Now() }

func (c *switchClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.current().AfterFunc(d, f)
}

// manual returns the manual clock, or nil on the wall clock.
func (c *switchClock) manual() *clock.Manual {
	m, _ := c.current().(*clock.Manual)
	return m
}
