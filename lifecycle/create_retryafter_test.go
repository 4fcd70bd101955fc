package lifecycle_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// rateLimitedServer starts a mock that answers the first create with a
// 429 carrying Retry-After: after; later creates go through.
func rateLimitedServer(t *testing.T, after time.Duration) *mockserver.Server {
	t.Helper()
	srv := mockserver.Start(t)
	if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox,
		Status: http.StatusTooManyRequests, RetryAfter: after, Times: 1}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// live returns the ids of the sandboxes srv holds.
func live(srv *mockserver.Server) []string {
	var ids []string
	for _, s := range srv.Sandboxes() {
		ids = append(ids, s.ID)
	}
	return ids
}

func creates(srv *mockserver.Server) int {
	return srv.Count(mockserver.Filter{Operation: mockserver.OpCreateSandbox})
}

func lookups(srv *mockserver.Server) int {
	return srv.Count(mockserver.Filter{Operation: "ListSandboxes"})
}

// A 429 is sent again no sooner than its Retry-After, capped at the
// client's RetryPolicy().RetryAfterCap, and makes exactly one sandbox.
func TestCreateHonoursRetryAfterOn429(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter time.Duration
		opts       []sandboxkit.Option
		min, max   time.Duration // bounds of the fake time Create took
	}{
		// The loop's own first backoff is at most 250ms, so the wait is
		// the Retry-After (or the cap) exactly; allow a little slack above.
		{name: "Retry-After 3", retryAfter: 3 * time.Second, min: 3 * time.Second, max: 3*time.Second + 500*time.Millisecond},
		{name: "Retry-After 3600, default cap 30s", retryAfter: time.Hour, min: 30 * time.Second, max: 30 * time.Second},
		{name: "Retry-After 3600, cap 10s", retryAfter: time.Hour,
			opts: []sandboxkit.Option{sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 4, RetryAfterCap: 10 * time.Second})},
			min:  10 * time.Second, max: 10 * time.Second},
		{name: "Retry-After below own backoff", retryAfter: 0, min: 200 * time.Millisecond, max: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := rateLimitedServer(t, tt.retryAfter)
				c := mockClient(t, srv, tt.opts...)

				start := time.Now()
				sb, err := c.Create(t.Context(), busyboxReq(), nil)
				took := time.Since(start)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				if took < tt.min || took > tt.max {
					t.Errorf("Create took %v of fake time, want within [%v, %v]", took, tt.min, tt.max)
				}
				if live := live(srv); len(live) != 1 || live[0] != sb.ID {
					t.Errorf("service holds %v, want exactly [%s]", live, sb.ID)
				}
				if n := creates(srv); n != 2 {
					t.Errorf("%d creates reached the service, want 2", n)
				}
				if n := lookups(srv); n != 0 {
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
		srv := rateLimitedServer(t, 3*time.Second)
		c := mockClient(t, srv)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()

		start := time.Now()
		_, err := c.Create(ctx, busyboxReq(), nil)
		took := time.Since(start)

		apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrRateLimited) {
			t.Fatalf("err = %v, want the 429 as *sandboxkit.APIError", err)
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
		if n := creates(srv); n != 1 {
			t.Errorf("%d creates reached the service, want 1", n)
		}
		if live := live(srv); len(live) != 0 {
			t.Errorf("service holds %v, want none", live)
		}
	})
}

// The capped wait, not the raw Retry-After, is what is checked against the
// deadline: Retry-After 3600 capped to 10s fits in a 60s deadline.
func TestCreateRetryAfterCapFitsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := rateLimitedServer(t, time.Hour)
		c := mockClient(t, srv, sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 4, RetryAfterCap: 10 * time.Second}))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()

		start := time.Now()
		sb, err := c.Create(ctx, busyboxReq(), nil)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("Create took %v, want the 10s cap", took)
		}
		if live := live(srv); len(live) != 1 || live[0] != sb.ID {
			t.Errorf("service holds %v, want exactly [%s]", live, sb.ID)
		}
	})
}
