package clock

import (
	"slices"
	"testing"
	"time"
)

func TestManualRunsDueFunctionsInOrderAtTheirTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	var got []string
	var seen []time.Duration
	record := func(name string) func() {
		return func() { got = append(got, name); seen = append(seen, m.Now().Sub(start)) }
	}
	m.AfterFunc(3*time.Second, record("c"))
	m.AfterFunc(time.Second, record("a"))
	m.AfterFunc(time.Second, record("b"))
	stopped := m.AfterFunc(2*time.Second, record("never"))
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}

	m.Advance(2 * time.Second)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after 2s ran %v", got)
	}
	m.Advance(5 * time.Second)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("after 7s ran %v", got)
	}
	if !slices.Equal(seen, []time.Duration{time.Second, time.Second, 3 * time.Second}) {
		t.Errorf("functions saw times %v", seen)
	}
	if now := m.Now().Sub(start); now != 7*time.Second {
		t.Errorf("clock at %v, want 7s", now)
	}
}

func TestManualTimersScheduledByTimersRunInSameAdvance(t *testing.T) {
	t.Parallel()
	m := NewManual(time.Unix(0, 0))
	n := 0
	var tick func()
	tick = func() {
		n++
		m.AfterFunc(time.Second, tick)
	}
	m.AfterFunc(time.Second, tick)
	m.Advance(10 * time.Second)
	if n != 10 {
		t.Errorf("chained timer ran %d times in 10s, want 10", n)
	}
	if m.Pending() != 1 {
		t.Errorf("Pending = %d, want 1", m.Pending())
	}
}

// TestManualReset: Reset moves the clock (backwards too) and drops what
// was scheduled; a dropped function never runs and its Stop reports false.
func TestManualReset(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	ran := false
	tm := m.AfterFunc(time.Minute, func() { ran = true })
	m.Reset(start.Add(-time.Hour))
	if got := m.Now(); !got.Equal(start.Add(-time.Hour)) {
		t.Errorf("Now after Reset = %v, want %v", got, start.Add(-time.Hour))
	}
	if m.Pending() != 0 || tm.Stop() {
		t.Errorf("after Reset: %d pending, Stop = true; want none and false", m.Pending())
	}
	m.Advance(2 * time.Hour)
	if ran {
		t.Error("a function scheduled before Reset ran")
	}
}
