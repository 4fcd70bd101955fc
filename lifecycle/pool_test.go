package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// Not parallel: it counts the process's goroutines.
func TestRenewerPoolTenThousandSandboxes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10_000
		api := newMemAPI()
		start := time.Now()
		for i := range n {
			api.exp[fmt.Sprintf("sbx-%05d", i)] = start.Add(time.Hour + time.Duration(i)*time.Millisecond)
		}
		var (
			mu     sync.Mutex
			renews int
		)
		p, err := lifecycle.NewRenewerPool(t.Context(), api, &lifecycle.RenewerPoolOptions{
			RenewerOptions: lifecycle.RenewerOptions{
				OnRenew: func(lifecycle.RenewEvent) { mu.Lock(); renews++; mu.Unlock() },
				OnError: func(id string, err error) { t.Errorf("%s: %v", id, err) },
				OnStop:  func(e *lifecycle.RenewStoppedError) { t.Errorf("stopped: %v", e) },
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for id := range api.exp {
			if err := p.Add(id); err != nil {
				t.Fatal(err)
			}
		}
		peak := runtime.NumGoroutine()
		for range 3 * 60 { // three hours of fake time, sampled every minute
			time.Sleep(time.Minute)
			peak = max(peak, runtime.NumGoroutine())
		}
		p.Close()

		t.Logf("peak goroutines: %d for %d sandboxes", peak, n)
		if peak >= 50 {
			t.Errorf("%d goroutines at the peak, want fewer than 50", peak)
		}
		if p.Len() != n {
			t.Errorf("pool holds %d sandboxes, want %d", p.Len(), n)
		}
		api.mu.Lock()
		defer api.mu.Unlock()
		for id, k := range api.renewals {
			if k != 3 { // at ~50m, ~1h50m, ~2h50m
				t.Errorf("%s renewed %d times in 3h, want 3", id, k)
				break
			}
		}
		if len(api.renewals) != n || renews != 3*n {
			t.Errorf("%d sandboxes renewed, %d renewals reported", len(api.renewals), renews)
		}
		if len(api.violations) > 0 {
			t.Errorf("%d violations, e.g. %s", len(api.violations), api.violations[0])
		}
	})
}

func TestRenewerPoolAddRemove(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := newMemAPI()
		for _, id := range []string{"a", "b", "c"} {
			api.exp[id] = time.Now().Add(time.Hour)
		}
		var (
			mu    sync.Mutex
			stops []*lifecycle.RenewStoppedError
		)
		p, err := lifecycle.NewRenewerPool(t.Context(), api, &lifecycle.RenewerPoolOptions{
			Workers: 2,
			RenewerOptions: lifecycle.RenewerOptions{OnStop: func(e *lifecycle.RenewStoppedError) {
				mu.Lock()
				stops = append(stops, e)
				mu.Unlock()
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, id := range []string{"a", "b", "c", "a"} {
			if err := p.Add(id); err != nil {
				t.Fatal(err)
			}
		}
		if p.Len() != 3 {
			t.Errorf("Len = %d after adding a twice, want 3", p.Len())
		}
		if err := p.Add("bad/id"); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("Add(bad/id) = %v", err)
		}

		time.Sleep(30 * time.Minute)
		if !p.Remove("b") || p.Remove("b") {
			t.Error("Remove(b) should report true once")
		}
		api.mu.Lock()
		api.gone["c"] = true
		api.mu.Unlock()

		time.Sleep(2 * time.Hour)
		api.mu.Lock()
		ra, rb := api.renewals["a"], api.renewals["b"]
		api.mu.Unlock()
		if ra != 2 || rb != 0 {
			t.Errorf("renewals a=%d b=%d, want 2 and 0", ra, rb)
		}
		mu.Lock()
		if len(stops) != 1 || stops[0].ID != "c" || stops[0].Reason != lifecycle.StopNotFound || !errors.Is(stops[0], sandboxkit.ErrNotFound) {
			t.Errorf("stops = %v, want c not found", stops)
		}
		mu.Unlock()
		if p.Len() != 1 {
			t.Errorf("Len = %d, want 1 (a)", p.Len())
		}

		// Added later, renewed on its own schedule.
		api.mu.Lock()
		api.exp["d"] = time.Now().Add(20 * time.Minute)
		api.mu.Unlock()
		if err := p.Add("d"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Minute)
		api.mu.Lock()
		rd := api.renewals["d"]
		api.mu.Unlock()
		if rd != 1 {
			t.Errorf("d renewed %d times, want 1", rd)
		}

		p.Close()
		if err := p.Add("e"); !errors.Is(err, lifecycle.ErrPoolClosed) {
			t.Errorf("Add after Close = %v", err)
		}
	})
}

func TestRenewerPoolStopsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := newMemAPI()
		api.exp["a"] = time.Now().Add(time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		p, err := lifecycle.NewRenewerPool(ctx, api, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Add("a"); err != nil {
			t.Fatal(err)
		}
		cancel()
		synctest.Wait()
		if err := p.Add("b"); !errors.Is(err, lifecycle.ErrPoolClosed) {
			t.Errorf("Add after the context ended = %v", err)
		}
		p.Close()
	})
}
