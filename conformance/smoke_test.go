package conformance

import (
	"context"
	"testing"
)

// TestSmoke checks that every target answers: a sandbox is created and
// read back, and the sandbox API reports itself healthy.
func TestSmoke(t *testing.T) {
	t.Run("lifecycle", func(t *testing.T) {
		forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
			sb := tg.create(t, tg.request(t))
			ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
			defer cancel()
			got, err := tg.lc.Get(ctx, sb.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.ID != sb.ID {
				t.Fatalf("Get returned sandbox %q, want %q", got.ID, sb.ID)
			}
		})
	})
	t.Run("sandbox", func(t *testing.T) {
		forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
			h, err := tg.sb.Health(t.Context())
			if err != nil {
				t.Fatalf("Health: %v", err)
			}
			if !h.OK() {
				t.Fatalf("Health = %+v, want ok", h)
			}
		})
	})
}
