package sandboxkit

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// APIError.RetryAfter carries the final answer's Retry-After, read by the
// same parser as the transport's retries, relative to the (fake) clock.
func TestAPIErrorRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		header func() string // "" sends no Retry-After
		want   time.Duration
	}{
		{"seconds", 429, func() string { return "3" }, 3 * time.Second},
		{"seconds with spaces", 429, func() string { return " 7 " }, 7 * time.Second},
		{"not capped by RetryAfterCap", 429, func() string { return "3600" }, time.Hour},
		{"clamped to 24h by the parser", 429, func() string { return "999999999999" }, 24 * time.Hour},
		{"HTTP-date", 503, func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }, 90 * time.Second},
		// Issue 12: this used to be 2562047h (time.Until saturated).
		{"HTTP-date in the year 9999 clamped to 24h", 503, func() string { return "Fri, 31 Dec 9999 23:59:59 GMT" }, 24 * time.Hour},
		{"HTTP-date in two days clamped to 24h", 503, func() string { return time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat) }, 24 * time.Hour},
		{"HTTP-date in the past", 429, func() string { return time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat) }, 0},
		{"absent", 429, func() string { return "" }, 0},
		{"garbage", 429, func() string { return "soon" }, 0},
		{"negative", 429, func() string { return "-5" }, 0},
		{"fractional", 429, func() string { return "1.5" }, 0},
		{"on another status", 404, func() string { return "4" }, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := http.Header{}
				if v := tt.header(); v != "" {
					h.Set("Retry-After", v)
				}
				s := newScript(reply{status: tt.status, header: h})
				// No transport retries: the first answer is the final one.
				cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(RetryPolicy{}))
				_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
				apiErr, ok := errors.AsType[*APIError](err)
				if !ok {
					t.Fatalf("err = %v, want *APIError", err)
				}
				if apiErr.StatusCode != tt.status || apiErr.RetryAfter != tt.want {
					t.Errorf("status %d, RetryAfter = %v; want %d, %v", apiErr.StatusCode, apiErr.RetryAfter, tt.status, tt.want)
				}
				if s.calls() != 1 {
					t.Errorf("%d calls, want 1", s.calls())
				}
			})
		})
	}
}

// After transport retries, RetryAfter is the final answer's, not the first.
func TestAPIErrorRetryAfterIsFinalAnswers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newScript(
			reply{status: 429, header: hdr("Retry-After", "1")},
			reply{status: 429, header: hdr("Retry-After", "7")},
		)
		cfg := mockConfig(t, Lifecycle, mockTransport(s), WithRetry(RetryPolicy{MaxRetries: 1}))
		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
		apiErr, ok := errors.AsType[*APIError](err)
		if !ok {
			t.Fatalf("err = %v, want *APIError", err)
		}
		if apiErr.Retries != 1 || apiErr.RetryAfter != 7*time.Second {
			t.Errorf("Retries = %d, RetryAfter = %v; want 1, 7s", apiErr.Retries, apiErr.RetryAfter)
		}
		// Wrap's copy keeps it.
		wrapped, _ := errors.AsType[*APIError](wrap(t.Context(), "lifecycle.List", err))
		if wrapped == nil || wrapped.RetryAfter != 7*time.Second {
			t.Errorf("Wrap lost RetryAfter: %+v", wrapped)
		}
	})
}
