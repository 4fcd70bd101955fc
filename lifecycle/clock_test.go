package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// manualClock is a lifecycle.Clock that moves only in Advance, which calls
// the functions that fall due, in time order, with the clock set to their
// due time.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]manualTimer
}

type manualTimer struct {
	at time.Time
	f  func()
}

func newManualClock(start time.Time) *manualClock {
	return &manualClock{now: start, timers: map[int]manualTimer{}}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = manualTimer{at: c.now.Add(d), f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		ids := make([]int, 0, len(c.timers))
		for id, t := range c.timers {
			if !t.at.After(end) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			break
		}
		sort.Slice(ids, func(i, j int) bool { return c.timers[ids[i]].at.Before(c.timers[ids[j]].at) })
		t := c.timers[ids[0]]
		delete(c.timers, ids[0])
		c.now = later(c.now, t.at)
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

func (c *manualClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// clockAPI is an in-memory lifecycle service that tells time by a
// manualClock: sandboxes expire on it, and renewals must lie in its
// future.
type clockAPI struct {
	clk *manualClock
	mu  sync.Mutex
	exp map[string]time.Time
}

func (a *clockAPI) Get(_ context.Context, id string) (*lifecycle.Sandbox, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.exp[id]
	if !ok || !a.clk.Now().Before(exp) {
		return nil, &sandboxkit.APIError{StatusCode: 404, Message: "sandbox not found"}
	}
	return &lifecycle.Sandbox{ID: id, Status: lifecycle.Status{State: lifecycle.StateRunning}, ExpiresAt: exp}, nil
}

func (a *clockAPI) Renew(_ context.Context, id string, t time.Time) (time.Time, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.exp[id]
	switch {
	case !ok || !a.clk.Now().Before(exp):
		return time.Time{}, &sandboxkit.APIError{StatusCode: 404, Message: "sandbox not found"}
	case !t.After(a.clk.Now()) || !t.After(exp):
		return time.Time{}, &sandboxkit.APIError{StatusCode: 409, Message: "not later"}
	}
	a.exp[id] = t
	return t, nil
}

func (a *clockAPI) delete(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.exp, id)
}

// A Renewer with a Clock follows that clock alone: a renewal an hour away
// happens when the clock is advanced, with no real (or bubble) time
// passing.
func TestRenewerFollowsItsClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bubbleStart := time.Now()
		start := time.Date(2031, 5, 1, 9, 0, 0, 0, time.UTC)
		clk := newManualClock(start)
		api := &clockAPI{clk: clk, exp: map[string]time.Time{"s": start.Add(time.Hour)}}
		var (
			mu     sync.Mutex
			events []lifecycle.RenewEvent
		)
		r, err := lifecycle.NewRenewer(t.Context(), api, "s", &lifecycle.RenewerOptions{
			Extension: time.Hour, Margin: 10 * time.Minute, Jitter: -1, Clock: clk,
			OnRenew: func(e lifecycle.RenewEvent) { mu.Lock(); events = append(events, e); mu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		renewals := func() []lifecycle.RenewEvent {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(events)
		}
		if got := renewals(); len(got) != 0 || clk.pending() != 1 {
			t.Fatalf("before any time passed: %d renewals, %d timers; want 0 and 1", len(got), clk.pending())
		}
		clk.Advance(49 * time.Minute)
		if got := renewals(); len(got) != 0 {
			t.Fatalf("renewed %v before the margin", got)
		}
		clk.Advance(time.Minute)
		want := []lifecycle.RenewEvent{{ID: "s", Previous: start.Add(time.Hour), ExpiresAt: start.Add(2 * time.Hour), At: start.Add(50 * time.Minute)}}
		if diff := cmp.Diff(want, renewals()); diff != "" {
			t.Errorf("renewals (-want +got):\n%s", diff)
		}
		// The renewer reacts to the clock from its own goroutine, so the
		// clock moves in steps, each after the renewer went back to sleep.
		for range 18 {
			clk.Advance(10 * time.Minute)
			renewals()
		}
		if n := len(renewals()); n != 4 {
			t.Errorf("%d renewals after 3h50m, want 4", n)
		}
		r.Stop()
		if clk.pending() != 0 {
			t.Errorf("Stop left %d timers on the clock", clk.pending())
		}
		if d := time.Since(bubbleStart); d != 0 {
			t.Errorf("the renewer waited %v of bubble time; want none", d)
		}
	})
}

// A RenewerPool with a Clock renews every sandbox on that clock and
// reports a sandbox deleted behind its back at its next check.
func TestRenewerPoolFollowsItsClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2031, 5, 1, 9, 0, 0, 0, time.UTC)
		clk := newManualClock(start)
		api := &clockAPI{clk: clk, exp: map[string]time.Time{}}
		ids := []string{"a", "b", "c"}
		for _, id := range ids {
			api.exp[id] = start.Add(30 * time.Minute)
		}
		var (
			mu     sync.Mutex
			counts = map[string]int{}
			stops  []*lifecycle.RenewStoppedError
		)
		p, err := lifecycle.NewRenewerPool(t.Context(), api, &lifecycle.RenewerPoolOptions{
			RenewerOptions: lifecycle.RenewerOptions{
				Extension: 30 * time.Minute, Margin: 10 * time.Minute, Clock: clk,
				OnRenew: func(e lifecycle.RenewEvent) { mu.Lock(); counts[e.ID]++; mu.Unlock() },
				OnStop:  func(e *lifecycle.RenewStoppedError) { mu.Lock(); stops = append(stops, e); mu.Unlock() },
			},
			Workers: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, id := range ids {
			if err := p.Add(id); err != nil {
				t.Fatal(err)
			}
		}
		// Two hours in steps of a minute; "b" is deleted after one.
		for i := range 120 {
			synctest.Wait()
			if i == 60 {
				api.delete("b")
			}
			clk.Advance(time.Minute)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// Renewals every 30 minutes, 9–10 minutes before expiry.
		if counts["a"] != 4 || counts["c"] != 4 {
			t.Errorf("renewals %v, want 4 each for a and c", counts)
		}
		if len(stops) != 1 || stops[0].ID != "b" || stops[0].Reason != lifecycle.StopNotFound || !errors.Is(stops[0], sandboxkit.ErrNotFound) {
			t.Fatalf("stops = %v, want b not found", stops)
		}
		if p.Len() != 2 {
			t.Errorf("pool holds %d sandboxes, want 2", p.Len())
		}
	})
}
