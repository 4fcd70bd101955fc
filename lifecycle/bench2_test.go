package lifecycle_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// Measurements that need fake time. testing/synctest bubbles exist only
// for tests (there is no synctest for *testing.B), so these are tests that
// log their numbers (run them with -v):
//
//	SANDBOXKIT_MEASURE=1 go test -run '^TestMeasure' -v ./lifecycle/
//
// TestMeasureRenewerPool runs only with SANDBOXKIT_MEASURE=1 (it takes
// a few seconds); TestWaiterPollsPerWait always runs and checks the poll
// schedule.

// measuring reports whether the long measurements were asked for.
func measuring(t *testing.T) {
	t.Helper()
	if os.Getenv("SANDBOXKIT_MEASURE") == "" {
		t.Skip("set SANDBOXKIT_MEASURE=1 to run this measurement")
	}
}

// cpuTime returns the CPU time (user + system) the process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingAPI is memAPI (renewer_test.go) with call counters.
type countingAPI struct {
	*memAPI
	gets, renews atomic.Int64
}

func (c *countingAPI) Get(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
	c.gets.Add(1)
	return c.memAPI.Get(ctx, id)
}

func (c *countingAPI) Renew(ctx context.Context, id string, t time.Time) (time.Time, error) {
	c.renews.Add(1)
	return c.memAPI.Renew(ctx, id, t)
}

// TestMeasureRenewerPool keeps 10,000 sandboxes alive for 24 simulated
// hours with a default RenewerPool over an in-process fake API (Get
// returns the expiry, Renew records it) and reports peak goroutines, heap
// per sandbox, CPU time per simulated hour and renewals per hour. The
// expiries start spread over one hour. CPU time is the process's
// (getrusage), so it includes the fake API and the garbage collector.
//
// Not parallel: it counts the process's goroutines and CPU time.
func TestMeasureRenewerPool(t *testing.T) {
	measuring(t)
	const (
		n     = 10_000
		hours = 24
	)
	synctest.Test(t, func(t *testing.T) {
		api := &countingAPI{memAPI: newMemAPI()}
		start := time.Now()
		for i := range n {
			api.exp[fmt.Sprintf("sbx-%05d", i)] = start.Add(time.Hour + time.Duration(i)*(time.Hour/n))
		}
		var renewed atomic.Int64
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapAlloc
		goroutines0 := runtime.NumGoroutine()

		p, err := lifecycle.NewRenewerPool(t.Context(), api, &lifecycle.RenewerPoolOptions{
			RenewerOptions: lifecycle.RenewerOptions{
				OnRenew: func(lifecycle.RenewEvent) { renewed.Add(1) },
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
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heapPer := (float64(ms.HeapAlloc) - float64(heap0)) / n

		cpu0, sim0 := cpuTime(t), time.Now()
		peak := runtime.NumGoroutine()
		for range hours * 60 { // sampled every simulated minute
			time.Sleep(time.Minute)
			peak = max(peak, runtime.NumGoroutine())
		}
		cpu := cpuTime(t) - cpu0
		simulated := time.Since(sim0)
		p.Close()

		perHour := func(v float64) float64 { return v / simulated.Hours() }
		t.Logf("RenewerPool, %d sandboxes, %v simulated, default options (Extension 1h, Margin 10m, %d workers)", n, simulated, lifecycle.DefaultPoolWorkers)
		t.Logf("  goroutines: process peak %d, %d before the pool (the pool's own: scheduler + %d workers)",
			peak, goroutines0, lifecycle.DefaultPoolWorkers)
		t.Logf("  heap: %.0f B per sandbox after Add", heapPer)
		t.Logf("  CPU: %.1f ms per simulated hour (%.2f µs per renewal)",
			perHour(float64(cpu.Microseconds()))/1000, float64(cpu.Nanoseconds())/float64(max(renewed.Load(), 1))/1000)
		t.Logf("  renewals: %.0f per hour; Get %.0f per hour, Renew %.0f per hour",
			perHour(float64(renewed.Load())), perHour(float64(api.gets.Load())), perHour(float64(api.renews.Load())))
		if len(api.violations) > 0 {
			t.Errorf("%d violations, e.g. %s", len(api.violations), api.violations[0])
		}
		if got, want := renewed.Load(), int64(n*(hours-1)); got < want {
			t.Errorf("%d renewals in %dh, want at least %d", got, hours, want)
		}
	})
}

// pendingThenRunning is a Getter whose sandbox is Pending until at, then
// Running; it counts the polls.
type pendingThenRunning struct {
	at    time.Time
	polls int
}

func (g *pendingThenRunning) Get(_ context.Context, id string) (*lifecycle.Sandbox, error) {
	g.polls++
	st := lifecycle.StatePending
	if !time.Now().Before(g.at) {
		st = lifecycle.StateRunning
	}
	return &lifecycle.Sandbox{ID: id, Status: lifecycle.Status{State: st}}, nil
}

// expectedPolls returns the polls a wait for a transition after d makes
// when every pause is the nominal delay times f (f = 1: no jitter; f =
// 0.8: the most jitter takes away), following internal/poll's schedule.
func expectedPolls(d, minDelay, maxDelay time.Duration, f float64) int {
	var elapsed time.Duration
	polls := 1
	delay := minDelay
	for elapsed < d {
		step := max(time.Duration(float64(min(delay, maxDelay))*f), minDelay)
		elapsed += step
		polls++
		delay *= 2
	}
	return polls
}

// TestWaiterPollsPerWait measures how many polls Waiter.Wait makes for
// a sandbox that becomes Running after 2s, 10s and 60s, with the default
// options and with MinDelay 100ms / MaxDelay 2s, and how late the wait
// notices the change. It checks the counts against the documented
// schedule (pauses doubling from MinDelay to MaxDelay, jittered down by up
// to a fifth).
func TestWaiterPollsPerWait(t *testing.T) {
	t.Parallel()
	const reps = 20
	type result struct {
		name              string
		after             time.Duration
		mean, lo, hi      float64
		wantLo, wantHi    int
		lateMean, lateMax time.Duration
	}
	var (
		mu      sync.Mutex
		results []result
	)
	for _, opts := range []struct {
		name     string
		min, max time.Duration
	}{
		{"default (250ms..5s)", 0, 0},
		{"MinDelay 100ms, MaxDelay 2s", 100 * time.Millisecond, 2 * time.Second},
	} {
		for _, after := range []time.Duration{2 * time.Second, 10 * time.Second, 60 * time.Second} {
			synctest.Test(t, func(t *testing.T) {
				r := result{name: opts.name, after: after, lo: math.Inf(1)}
				minD, maxD := opts.min, opts.max
				if minD == 0 {
					minD, maxD = sandboxkit.DefaultWaitMinDelay, sandboxkit.DefaultWaitMaxDelay
				}
				r.wantLo = expectedPolls(after, minD, maxD, 1)
				r.wantHi = expectedPolls(after, minD, maxD, 0.8)
				var total float64
				var lateSum time.Duration
				for range reps {
					g := &pendingThenRunning{at: time.Now().Add(after)}
					w := lifecycle.NewWaiter(g, &sandboxkit.WaitOptions{MinDelay: opts.min, MaxDelay: opts.max})
					if _, err := w.Wait(t.Context(), "sbx", lifecycle.StateRunning); err != nil {
						t.Fatal(err)
					}
					late := time.Since(g.at)
					lateSum += late
					r.lateMax = max(r.lateMax, late)
					total += float64(g.polls)
					r.lo = min(r.lo, float64(g.polls))
					r.hi = max(r.hi, float64(g.polls))
					if g.polls < r.wantLo || g.polls > r.wantHi {
						t.Errorf("%s, Running after %v: %d polls, want %d to %d", opts.name, after, g.polls, r.wantLo, r.wantHi)
					}
				}
				r.mean = total / reps
				r.lateMean = lateSum / reps
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "polls per Waiter.Wait (%d waits each):\n", reps)
	fmt.Fprintf(&b, "  %-28s %-9s %-22s %s\n", "options", "Running", "polls/wait mean (min-max)", "noticed late by mean (max)")
	for _, r := range results {
		polls := fmt.Sprintf("%5.1f (%g-%g)", r.mean, r.lo, r.hi)
		fmt.Fprintf(&b, "  %-28s %-9v %-25s %v (%v)\n", r.name, r.after, polls,
			r.lateMean.Round(time.Millisecond), r.lateMax.Round(time.Millisecond))
	}
	t.Log(b.String())
}
