package lifecycle_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// rateLimitFirstCreate makes b answer the first create with a 429 carrying
// Retry-After: after; later creates go through.
func rateLimitFirstCreate(b *fakeBackend, after string) {
	var first atomic.Bool
	b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !isCreate(r) || first.Swap(true) {
			return false
		}
		w.Header().Set("Retry-After", after)
		writeErr(w, http.StatusTooManyRequests, "RATE_LIMITED", "slow down")
		return true
	}
}

// A 429 is sent again no sooner than its Retry-After, capped at the
// client's RetryPolicy().RetryAfterCap, and makes exactly one sandbox.
func TestCreateHonoursRetryAfterOn429(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter string
		opts       []sandboxkit.Option
		min, max   time.Duration // bounds of the fake time Create took
	}{
		// The loop's own first backoff is at most 250ms, so the wait is
		// the Retry-After (or the cap) exactly; allow a little slack above.
		{name: "Retry-After 3", retryAfter: "3", min: 3 * time.Second, max: 3*time.Second + 500*time.Millisecond},
		{name: "Retry-After 3600, default cap 30s", retryAfter: "3600", min: 30 * time.Second, max: 30 * time.Second},
		{name: "Retry-After 3600, cap 10s", retryAfter: "3600",
			opts: []sandboxkit.Option{sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 4, RetryAfterCap: 10 * time.Second})},
			min:  10 * time.Second, max: 10 * time.Second},
		{name: "Retry-After below own backoff", retryAfter: "0", min: 200 * time.Millisecond, max: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := newFakeBackend()
				rateLimitFirstCreate(b, tt.retryAfter)
				c := b.client(t, tt.opts...)

				start := time.Now()
				sb, err := c.Create(t.Context(), pythonReq, nil)
				took := time.Since(start)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				if took < tt.min || took > tt.max {
					t.Errorf("Create took %v of fake time, want within [%v, %v]", took, tt.min, tt.max)
				}
				if live := b.live(); len(live) != 1 || live[0] != sb.ID {
					t.Errorf("service holds %v, want exactly [%s]", live, sb.ID)
				}
				if n := b.count("POST", "/sandboxes"); n != 2 {
					t.Errorf("%d creates reached the service, want 2", n)
				}
				if n := b.count("GET", "/sandboxes"); n != 0 {
					t.Errorf("%d lookups after a 429, want 0", n)
				}
			})
		})
	}
}

// When the Retry-After wait would pass ctx's deadline, Create returns the
// 429 at once instead of sleeping into a timeout.
func TestCreateRetryAfterPastDeadlineReturns429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		rateLimitFirstCreate(b, "3")
		c := b.client(t)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()

		start := time.Now()
		_, err := c.Create(ctx, pythonReq, nil)
		took := time.Since(start)

		apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrRateLimited) {
			t.Fatalf("err = %v, want the 429 as *client.APIError", err)
		}
		if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
			t.Errorf("a 429 reported as an unknown outcome: %v", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the 429, not the deadline", err)
		}
		if apiErr.RetryAfter != 3*time.Second || apiErr.Operation != "lifecycle.Create" {
			t.Errorf("APIError = %+v", apiErr)
		}
		if took != 0 || ctx.Err() != nil {
			t.Errorf("returned after %v (ctx.Err %v); want at once, before the deadline", took, ctx.Err())
		}
		if n := b.count("POST", "/sandboxes"); n != 1 {
			t.Errorf("%d creates reached the service, want 1", n)
		}
		if live := b.live(); len(live) != 0 {
			t.Errorf("service holds %v, want none", live)
		}
	})
}

// The capped wait, not the raw Retry-After, is what is checked against the
// deadline: Retry-After 3600 capped to 10s fits in a 60s deadline.
func TestCreateRetryAfterCapFitsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		rateLimitFirstCreate(b, "3600")
		c := b.client(t, sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 4, RetryAfterCap: 10 * time.Second}))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()

		start := time.Now()
		sb, err := c.Create(ctx, pythonReq, nil)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("Create took %v, want the 10s cap", took)
		}
		if live := b.live(); len(live) != 1 || live[0] != sb.ID {
			t.Errorf("service holds %v, want exactly [%s]", live, sb.ID)
		}
	})
}
