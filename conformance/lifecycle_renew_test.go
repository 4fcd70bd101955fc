package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecycleRenew: Renew sets the expiry to the time asked for (to the
// microsecond, rounded up), later or earlier, as long as it is in the
// future; a time in the past is refused before sending; a sandbox that
// never expires cannot be renewed.
func TestLifecycleRenew(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		req := tg.request(t)
		req.Timeout, req.NeverExpires = 0, true
		sbs := tg.createAll(t, tg.request(t), req)
		sb, forever := sbs[0], sbs[1] // expires in 10 minutes, never
		expiry := func() time.Time {
			t.Helper()
			got, err := tg.lc.Get(ctx, sb.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.ExpiresAt
		}

		later := time.Now().Add(20 * time.Minute).Truncate(time.Second).Add(300*time.Millisecond + 1500*time.Nanosecond)
		want := later.Add(500 * time.Nanosecond) // .300002
		got, err := tg.lc.Renew(ctx, sb.ID, later)
		if err != nil || !got.Equal(want) {
			t.Fatalf("Renew(+20m) = %v, %v; want %v (rounded up)", got, err, want)
		}
		if e := expiry(); !e.Equal(want) {
			t.Errorf("after Renew(+20m): expiresAt %v, want %v", e, want)
		}

		earlier := time.Now().Add(5 * time.Minute).Truncate(time.Microsecond)
		got, err = tg.lc.Renew(ctx, sb.ID, earlier)
		if err != nil || !got.Equal(earlier) {
			t.Fatalf("Renew(+5m), before the current expiry = %v, %v; want %v (a renewal may shorten)", got, err, earlier)
		}
		if e := expiry(); !e.Equal(earlier) {
			t.Errorf("after Renew(+5m): expiresAt %v, want %v", e, earlier)
		}

		tg.requestsSent()
		if _, err := tg.lc.Renew(ctx, sb.ID, time.Now().Add(-time.Minute)); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("Renew(past) = %v, want ErrInvalidInput", err)
		}
		if n, ok := tg.requestsSent(); ok && n != 0 {
			t.Errorf("%d requests sent for a renewal into the past", n)
		}
		if _, err := tg.lc.Renew(ctx, "no-such-sandbox-"+tg.run, time.Now().Add(time.Hour)); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Renew of an unknown sandbox = %v, want not found", err)
		}

		if _, err := tg.lc.Renew(ctx, forever.ID, time.Now().Add(time.Hour)); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("Renew of a sandbox without expiry = %v, want a conflict", err)
		}
		if got, err := tg.lc.Get(ctx, forever.ID); err != nil || !got.ExpiresAt.IsZero() {
			t.Errorf("after the refused renewal: %+v, %v; want still no expiry", got, err)
		}
	})
}

// TestLifecycleExpiry: a sandbox whose expiry passes is terminated by the
// service (gone on Docker, Terminated on Kubernetes). The expiry is
// brought near with Renew, which may shorten.
func TestLifecycleExpiry(t *testing.T) {
	forEachLifecycleWith(t, targetOptions{manualClock: true}, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))
		soon := tg.now().Add(2 * time.Second)
		if _, err := tg.lc.Renew(ctx, sb.ID, soon); err != nil {
			t.Fatalf("Renew(+2s): %v", err)
		}
		tg.sleep(t, 3*time.Second)
		// The service removes it within seconds of the expiry (the real
		// one checks every few seconds). On Docker the container is
		// killed before it is removed: a read in between shows Failed
		// (exit code 137), so this waits for the end, not for a state.
		var states []lifecycle.State
		for {
			got, err := tg.lc.Get(ctx, sb.ID)
			if errors.Is(err, sandboxkit.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatalf("Get after expiry: %v (states seen %v)", err, states)
			}
			if !slices.Contains(states, got.State()) {
				states = append(states, got.State())
			}
			if tg.runtime == kubernetes && got.State() == lifecycle.StateTerminated {
				break
			}
			tg.sleep(t, 250*time.Millisecond)
		}
		for _, st := range states {
			switch {
			case st == lifecycle.StateRunning, st == lifecycle.StateStopping && tg.runtime == kubernetes,
				st == lifecycle.StateFailed && tg.runtime == docker:
			default:
				t.Errorf("%s: state %s seen while the sandbox expired (all: %v)", tg.runtime, st, states)
			}
		}
	})
}

// TestLifecycleRenewer: a Renewer whose margin covers the current expiry
// renews at once, and the service holds the new expiry.
func TestLifecycleRenewer(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t)) // 10 minutes
		renewed := make(chan lifecycle.RenewEvent, 1)
		r, err := lifecycle.NewRenewer(ctx, tg.lc, sb.ID, &lifecycle.RenewerOptions{
			Extension: time.Hour, Margin: 30 * time.Minute, Jitter: -1,
			OnRenew: func(e lifecycle.RenewEvent) {
				select {
				case renewed <- e:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		var ev lifecycle.RenewEvent
		select {
		case ev = <-renewed:
		case <-r.Done():
			t.Fatalf("renewer stopped: %v", r.Err())
		case <-ctx.Done():
			t.Fatal("no renewal")
		}
		if ev.ID != sb.ID || !ev.ExpiresAt.After(ev.Previous.Add(50*time.Minute)) {
			t.Errorf("renewal %+v, want about an hour added", ev)
		}
		got, err := tg.lc.Get(ctx, sb.ID)
		if err != nil || !got.ExpiresAt.Equal(ev.ExpiresAt) {
			t.Errorf("Get = %+v, %v; want expiresAt %v", got, err, ev.ExpiresAt)
		}
	})
}
