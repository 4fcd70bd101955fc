package mockserver_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// A renewer on the server's manual clock keeps a sandbox alive for two
// hours of that clock; no real (or bubble) time passes.
func TestRenewerOnServerClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bubbleStart := time.Now()
		srv := mockserver.Start(t, mockserver.WithManualClock(t0), mockserver.WithTransitionDelay(0))
		lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := lc.Create(t.Context(), &lifecycle.CreateRequest{
			Image: &lifecycle.Image{URI: "python:3.11"}, Entrypoint: []string{"python"}, Timeout: 30 * time.Minute,
			ResourceLimits: map[string]string{"cpu": "1"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := lifecycle.NewRenewer(t.Context(), lc, sb.ID, &lifecycle.RenewerOptions{
			Extension: 30 * time.Minute, Margin: 10 * time.Minute, Jitter: -1, Clock: srv.Clock(),
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 120 {
			synctest.Wait()
			if err := srv.Advance(time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		r.Stop()

		var got []time.Duration
		for _, rn := range srv.Renewals(sb.ID) {
			if rn.New.Sub(rn.Old) != 30*time.Minute {
				t.Errorf("renewal at %v: %v -> %v, want +30m", rn.Time, rn.Old, rn.New)
			}
			got = append(got, rn.Time.Sub(t0))
		}
		want := []time.Duration{20 * time.Minute, 50 * time.Minute, 80 * time.Minute, 110 * time.Minute}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("renewal times after start (-want +got):\n%s", diff)
		}
		if info, _ := srv.Sandbox(sb.ID); info.State != mockserver.StateRunning {
			t.Errorf("after 2h: state %s, want Running", info.State)
		}
		if d := time.Since(bubbleStart); d != 0 {
			t.Errorf("%v of bubble time passed, want none", d)
		}
	})
}
