package lifecycle

import (
	"context"
	"time"
)

// Clock is the time source of a [Renewer] or a [RenewerPool]
// ([RenewerOptions.Clock]): what "now" is when a renewal is computed, and
// when a scheduled check falls due. Nil means the wall clock. Another
// clock lets tests and demonstrations run a schedule of hours in moments,
// e.g. the manual clock of a mockserver.Server (its Clock method), so that
// the renewer and the service agree on the time. The renewer's clock is
// used throughout: [Client.Renew], called by a renewer, checks "in the
// future" on it too, so a clock set to any date works.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to be called once d (always positive) has
	// passed on this clock and returns a function that cancels the call
	// and reports whether it was still pending. f does not block; the
	// clock may call it from any goroutine.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// clockKey is the context key under which a renewer hands its clock to
// [Client.Renew].
type clockKey struct{}

// withClock returns ctx carrying clk for [Client.Renew]'s "in the future"
// check.
func withClock(ctx context.Context, clk Clock) context.Context {
	return context.WithValue(ctx, clockKey{}, clk)
}

// clockFrom returns the clock ctx carries, or the wall clock.
func clockFrom(ctx context.Context) Clock {
	if clk, ok := ctx.Value(clockKey{}).(Clock); ok && clk != nil {
		return clk
	}
	return wallClock{}
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// sleepUntil waits on clk until t, or until ctx or wake (which may be
// nil) fire first. It reports whether t was reached.
func sleepUntil(ctx context.Context, clk Clock, t time.Time, wake <-chan struct{}) bool {
	d := t.Sub(clk.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	fired := make(chan struct{})
	stop := clk.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
		return true
	case <-wake:
	case <-ctx.Done():
	}
	stop()
	return false
}
