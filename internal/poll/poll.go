package poll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// Defaults used when a field of [Options] is zero.
const (
	DefaultMinDelay     = 250 * time.Millisecond
	DefaultMaxDelay     = 5 * time.Second
	DefaultMaxTransient = 5
)

// Options configures one poll loop. The zero value is usable.
type Options struct {
	// MinDelay is the first delay between two checks (DefaultMinDelay if zero).
	MinDelay time.Duration
	// MaxDelay caps the delay between two checks (DefaultMaxDelay if zero).
	MaxDelay time.Duration
	// MaxTransient is how many transient errors in a row are tolerated before
	// the loop gives up with the last of them (DefaultMaxTransient if zero;
	// negative means none are tolerated).
	MaxTransient int
	// IsTransient reports whether a check error is worth another check. If
	// nil, no error is transient.
	IsTransient func(error) bool
	// Timeout bounds the whole loop when positive (zero or negative: only
	// the context does).
	Timeout time.Duration
}

// Validate reports an error for settings that cannot work.
func (o Options) Validate() error {
	switch {
	case o.MinDelay < 0:
		return fmt.Errorf("poll: MinDelay %v is negative", o.MinDelay)
	case o.MaxDelay < 0:
		return fmt.Errorf("poll: MaxDelay %v is negative", o.MaxDelay)
	case o.MaxDelay != 0 && o.MinDelay > o.MaxDelay:
		return fmt.Errorf("poll: MinDelay %v is greater than MaxDelay %v", o.MinDelay, o.MaxDelay)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.MinDelay == 0 {
		o.MinDelay = DefaultMinDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = max(DefaultMaxDelay, o.MinDelay)
	}
	if o.MaxTransient == 0 {
		o.MaxTransient = DefaultMaxTransient
	}
	return o
}

// ErrTimeout is returned (wrapping the context's error or
// context.DeadlineExceeded) when the loop ends because time ran out before
// the condition held.
var ErrTimeout = errors.New("condition not reached before the deadline")

// Check looks once at the world. It returns the value it saw, whether the
// wait is over, and an error. A non-nil error ends the loop unless
// Options.IsTransient says it is transient.
type Check[T any] func(ctx context.Context) (value T, done bool, err error)

// Until runs check until it reports done, returns a non-transient error, or
// ctx ends. It returns the last value a check returned (also on error, so
// callers can report the last observed state) and the number of checks made.
//
// When ctx has a deadline, a sleep that would end too close to it is trimmed
// so that a last check still runs MinDelay before the deadline; when not even
// that fits, Until stops at once with an error wrapping both ErrTimeout and
// context.DeadlineExceeded rather than sleeping into a certain failure.
func Until[T any](ctx context.Context, o Options, check Check[T]) (last T, checks int, err error) {
	if err := o.Validate(); err != nil {
		return last, 0, err
	}
	o = o.withDefaults()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	transient := 0
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return last, checks, timeout(err)
		}
		v, done, err := check(ctx)
		checks++
		last = v
		switch {
		case err == nil && done:
			return last, checks, nil
		case err == nil:
			transient = 0
		case ctx.Err() != nil:
			return last, checks, timeout(ctx.Err())
		case o.IsTransient != nil && o.IsTransient(err) && transient < o.MaxTransient:
			transient++
		default:
			return last, checks, err
		}

		delay := Delay(o.MinDelay, o.MaxDelay, attempt)
		if deadline, ok := ctx.Deadline(); ok {
			remaining := time.Until(deadline)
			if remaining <= o.MinDelay {
				return last, checks, timeout(context.DeadlineExceeded)
			}
			delay = min(delay, remaining-o.MinDelay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, checks, timeout(ctx.Err())
		case <-t.C:
		}
	}
}

func timeout(cause error) error {
	return fmt.Errorf("%w: %w", ErrTimeout, cause)
}

// Delay is the sleep before check attempt+1: MinDelay doubled per attempt,
// capped at MaxDelay, with the top fifth jittered away so that many waiters
// started together spread out.
func Delay(minDelay, maxDelay time.Duration, attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := minDelay
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
	return max(d-jitter, minDelay)
}

// FromWaitOptions converts the SDK's public wait options (nil means the
// defaults) into loop options; it reports an invalid setting as
// w.Validate does.
func FromWaitOptions(w *sandboxkit.WaitOptions) (Options, error) {
	if err := w.Validate(); err != nil {
		return Options{}, err
	}
	o := Options{IsTransient: sandboxkit.IsTransient, Timeout: sandboxkit.DefaultWaitTimeout}
	if w != nil {
		o.MinDelay, o.MaxDelay, o.MaxTransient = w.MinDelay, w.MaxDelay, w.MaxTransient
		if w.Timeout != 0 {
			o.Timeout = w.Timeout
		}
		if w.Retryable != nil {
			o.IsTransient = w.Retryable
		}
	}
	return o, nil
}
