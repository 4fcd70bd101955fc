package mockserver

import (
	"context"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// remoteClock follows a remote server's clock as a [Remote] sees it. On a
// server with a manual clock it reads the time of the Remote's last
// answer about the clock, and its functions run when the Remote moves the
// clock past their time ([Remote.Advance], [Remote.SetTime]). On a server
// on the wall clock it reads the server's time of the last answer plus
// the wall time since, and its functions run on wall-clock timers.
type remoteClock struct {
	r *Remote

	mu     sync.Mutex
	known  bool
	manual bool
	now    time.Time // server time at the last answer (real clocks)
	at     time.Time // wall time of the last answer (real clocks)
	// m holds the server's time and the scheduled functions while the
	// server's clock is manual.
	m *clock.Manual
}

func newRemoteClock(r *Remote) *remoteClock {
	return &remoteClock{r: r, m: clock.NewManual(time.Time{})}
}

// Clock returns a clock that follows the server's, for renewers
// (RenewerOptions.Clock) that should agree with the server on the time.
// It asks the server for its clock first. On a server with a manual clock,
// functions scheduled on the returned clock run when this Remote moves
// the server's clock past their time (Advance and SetTime run them
// before they return); moves made by other clients are seen at this
// Remote's next call about the clock, and a [Remote.Reset] drops the
// functions still scheduled.
func (r *Remote) Clock(ctx context.Context) (Clock, error) {
	if _, err := r.Now(ctx); err != nil {
		return nil, err
	}
	return r.clock, nil
}

// seen records an answer about the server's clock and runs the functions
// that fell due.
func (c *remoteClock) seen(now time.Time, manual bool) {
	c.mu.Lock()
	c.known, c.manual, c.at = true, manual, time.Now()
	if !manual {
		c.now = now
	}
	c.mu.Unlock()
	if manual {
		c.m.Set(now) // never backwards; runs what fell due
	}
}

// reset forgets the scheduled functions after a server reset.
func (c *remoteClock) reset(now time.Time, manual bool) {
	c.mu.Lock()
	c.known, c.manual, c.now, c.at = true, manual, now, time.Now()
	c.mu.Unlock()
	c.m.Reset(now)
}

// Now returns the server's time as last seen (plus the wall time since,
// on a server on the wall clock).
func (c *remoteClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *remoteClock) nowLocked() time.Time {
	switch {
	case !c.known:
		return time.Now()
	case c.manual:
		return c.m.Now()
	}
	return c.now.Add(time.Since(c.at))
}

// AfterFunc runs f once d has passed on the server's clock.
func (c *remoteClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known && !c.manual {
		return time.AfterFunc(d, f).Stop
	}
	return c.m.AfterFunc(d, f).Stop
}
