package mockserver

import (
	"container/heap"
	"context"
	"sync"
	"time"
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
	now    time.Time // server time at the last answer
	at     time.Time // wall time of the last answer (real clocks)
	seq    uint64
	queue  remoteTimers
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
	var due []func()
	c.mu.Lock()
	c.known, c.manual, c.at = true, manual, time.Now()
	if now.After(c.now) || !manual {
		c.now = now
	}
	if manual {
		for len(c.queue) > 0 && !c.queue[0].when.After(c.now) {
			t := heap.Pop(&c.queue).(*remoteTimer)
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// reset forgets the scheduled functions after a server reset.
func (c *remoteClock) reset(now time.Time, manual bool) {
	c.mu.Lock()
	for _, t := range c.queue {
		t.index = -1
	}
	c.queue = nil
	c.known, c.manual, c.now, c.at = true, manual, now, time.Now()
	c.mu.Unlock()
}

// Now returns the server's time as last seen (plus the wall time since,
// on a server on the wall clock).
func (c *remoteClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *remoteClock) nowLocked() time.Time {
	if !c.known {
		return time.Now()
	}
	if c.manual {
		return c.now
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
	c.seq++
	t := &remoteTimer{c: c, when: c.nowLocked().Add(max(d, 0)), seq: c.seq, f: f, index: -1}
	heap.Push(&c.queue, t)
	return t.stop
}

type remoteTimer struct {
	c     *remoteClock
	when  time.Time
	seq   uint64
	f     func()
	index int
}

func (t *remoteTimer) stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.queue, t.index)
	return true
}

type remoteTimers []*remoteTimer

func (q remoteTimers) Len() int { return len(q) }
func (q remoteTimers) Less(i, j int) bool {
	if q[i].when.Equal(q[j].when) {
		return q[i].seq < q[j].seq
	}
	return q[i].when.Before(q[j].when)
}
func (q remoteTimers) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *remoteTimers) Push(x any) {
	t := x.(*remoteTimer)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *remoteTimers) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}
