package poll

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

var errFlaky = errors.New("flaky")

func isFlaky(err error) bool { return errors.Is(err, errFlaky) }

func TestUntilReturnsWhenDone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		v, n, err := Until(t.Context(), Options{MinDelay: time.Second, MaxDelay: time.Second},
			func(context.Context) (int, bool, error) {
				return int(time.Since(start) / time.Second), time.Since(start) >= 3*time.Second, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if v != 3 || n != 4 {
			t.Errorf("got value %d after %d checks, want 3 after 4", v, n)
		}
	})
}

func TestUntilNeverSleepsPastDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		deadline, _ := ctx.Deadline()
		var lastCheck time.Time
		_, _, err := Until(ctx, Options{MinDelay: 100 * time.Millisecond, MaxDelay: 4 * time.Second},
			func(context.Context) (string, bool, error) {
				lastCheck = time.Now()
				return "Pending", false, nil
			})
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout wrapping DeadlineExceeded", err)
		}
		if time.Now().After(deadline) {
			t.Errorf("returned %v after the deadline", time.Since(deadline))
		}
		if gap := deadline.Sub(lastCheck); gap > 100*time.Millisecond {
			t.Errorf("last check %v before the deadline; the last sleep should be trimmed to leave only MinDelay", gap)
		}
	})
}

func TestUntilPollBudget(t *testing.T) {
	t.Parallel()
	// A 10 s wait with MinDelay 100 ms and MaxDelay 2 s must stay cheap.
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, n, _ := Until(ctx, Options{MinDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second},
				func(context.Context) (int, bool, error) { return 0, false, nil })
			if n > 15 {
				t.Errorf("%d checks in 10 s, want at most 15", n)
			}
		})
	}
}

func TestUntilToleratesTransientErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		v, _, err := Until(t.Context(), Options{MinDelay: time.Millisecond, MaxTransient: 3, IsTransient: isFlaky},
			func(context.Context) (int, bool, error) {
				calls++
				if calls <= 3 {
					return 0, false, errFlaky
				}
				return calls, true, nil
			})
		if err != nil || v != 4 {
			t.Fatalf("got %d, %v; want 4, nil", v, err)
		}
	})
}

func TestUntilGivesUpAfterTooManyTransientErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		_, _, err := Until(t.Context(), Options{MinDelay: time.Millisecond, MaxTransient: 2, IsTransient: isFlaky},
			func(context.Context) (int, bool, error) {
				calls++
				return 0, false, errFlaky
			})
		if !errors.Is(err, errFlaky) || calls != 3 {
			t.Fatalf("err %v after %d calls; want errFlaky after 3", err, calls)
		}
	})
}

func TestUntilStopsOnPermanentError(t *testing.T) {
	t.Parallel()
	permanent := errors.New("sandbox failed")
	calls := 0
	_, _, err := Until(t.Context(), Options{IsTransient: isFlaky},
		func(context.Context) (int, bool, error) { calls++; return 7, false, permanent })
	if !errors.Is(err, permanent) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestUntilReturnsLastValueOnCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		v, _, err := Until(ctx, Options{MinDelay: time.Second},
			func(context.Context) (string, bool, error) {
				cancel()
				return "Pausing", false, nil
			})
		if !errors.Is(err, context.Canceled) || v != "Pausing" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{MinDelay: -1},
		{MaxDelay: -1},
		{MinDelay: 2 * time.Second, MaxDelay: time.Second},
	} {
		if _, _, err := Until(t.Context(), o, func(context.Context) (int, bool, error) { return 0, true, nil }); err == nil {
			t.Errorf("%+v: want a validation error", o)
		}
	}
}

func TestDelayGrowsAndCaps(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 6: 2000, 30: 2000} {
		d := Delay(100*time.Millisecond, 2*time.Second, attempt)
		hi := want * time.Millisecond
		if d > hi || d < hi*4/5 {
			t.Errorf("Delay(attempt %d) = %v, want in [%v, %v]", attempt, d, hi*4/5, hi)
		}
	}
}

// A wait whose context has no deadline still ends: after
// DefaultWaitTimeout by default, after WaitOptions.Timeout when set, and
// only with the context when Timeout is negative.
func TestWaitOptionsTimeoutBoundsAWaitWithoutDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts *sandboxkit.WaitOptions
		want time.Duration
	}{
		{"nil options", nil, sandboxkit.DefaultWaitTimeout},
		{"zero timeout", &sandboxkit.WaitOptions{}, sandboxkit.DefaultWaitTimeout},
		{"own timeout", &sandboxkit.WaitOptions{Timeout: 90 * time.Second}, 90 * time.Second},
		{"no timeout", &sandboxkit.WaitOptions{Timeout: -1}, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o, err := FromWaitOptions(tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				// The caller's own bound, far beyond every timeout above but
				// the last: only there does the context end the wait.
				ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
				defer cancel()
				start := time.Now()
				_, _, err = Until(ctx, o, func(context.Context) (int, bool, error) { return 0, false, nil })
				if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want ErrTimeout wrapping DeadlineExceeded", err)
				}
				if got := time.Since(start); got > tc.want || got < tc.want-DefaultMaxDelay-DefaultMinDelay {
					t.Errorf("the wait lasted %v, want about %v", got, tc.want)
				}
			})
		})
	}
}
