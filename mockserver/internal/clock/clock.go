package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d has passed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Manual is a clock that moves only when Advance or Set is called. Due
// functions run synchronously inside Advance, in time order (ties in the
// order they were scheduled), with the clock set to their due time while
// they run, so a test sees every intermediate state deterministically.
// It is safe for concurrent use.
type Manual struct {
	mu    sync.Mutex
	now   time.Time
	seq   uint64
	queue timerQueue
	// advancing serialises Advance calls so timers never run concurrently
	// with each other.
	advancing sync.Mutex
}

// NewManual returns a manual clock that reads start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc schedules f to run when the clock has been advanced by d.
// A non-positive d runs f at the next Advance (even Advance(0)).
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t := &manualTimer{m: m, at: m.now.Add(max(d, 0)), seq: m.seq, f: f, index: -1}
	heap.Push(&m.queue, t)
	return t
}

// Advance moves the clock forward by d, running every function that falls
// due on the way.
func (m *Manual) Advance(d time.Duration) {
	m.Set(m.Now().Add(max(d, 0)))
}

// Set moves the clock to t (never backwards), running every function due
// by then.
func (m *Manual) Set(t time.Time) {
	m.advancing.Lock()
	defer m.advancing.Unlock()
	for {
		m.mu.Lock()
		if len(m.queue) == 0 || m.queue[0].at.After(t) {
			if t.After(m.now) {
				m.now = t
			}
			m.mu.Unlock()
			return
		}
		next := heap.Pop(&m.queue).(*manualTimer)
		if next.at.After(m.now) {
			m.now = next.at
		}
		m.mu.Unlock()
		next.f()
	}
}

// Reset sets the clock to t (backwards too) and drops every scheduled
// function: their Stop then reports false.
func (m *Manual) Reset(t time.Time) {
	m.advancing.Lock()
	defer m.advancing.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tm := range m.queue {
		tm.index = -1
	}
	m.queue, m.now = nil, t
}

// Pending reports how many functions are scheduled and not yet run.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}

type manualTimer struct {
	m     *Manual
	at    time.Time
	seq   uint64
	f     func()
	index int
}

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.m.queue, t.index)
	return true
}

type timerQueue []*manualTimer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q timerQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *timerQueue) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *timerQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}
