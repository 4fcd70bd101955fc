package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// benchAcquirers is how many goroutines acquire at once.
const benchAcquirers = 8

// BenchmarkAcquireRedis measures Acquire from a warm pool on a real
// redis-server with 8 concurrent acquirers: each acquires, then releases
// the sandbox back into the pool (not timed). It reports the latency
// percentiles of Acquire and the Redis round trips per Acquire (the Take
// script), besides all Redis commands per acquire-release cycle
// (including the pool's background work). Sandboxes come from the
// in-process mock server (no network), so the figures are the pool's
// own cost plus one GET of the health check.
//
//	SANDBOXKIT_TEST_REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench AcquireRedis -benchtime 4000x ./fleet/
func BenchmarkAcquireRedis(b *testing.B) {
	rdb := realRedis(b)
	hook := &countHook{bySha: map[string]int{}}
	rdb.AddHook(hook)
	store, err := NewRedisStore(rdb, &RedisStoreOptions{Prefix: "sandboxkit-bench"})
	if err != nil {
		b.Fatal(err)
	}
	pool := uniquePool("bench")
	b.Cleanup(func() { rdb.Del(context.Background(), store.keys(pool)...) })
	benchAcquire(b, store, pool, hook)
}

// BenchmarkAcquireMemory is BenchmarkAcquireRedis on the in-memory store,
// for comparison.
func BenchmarkAcquireMemory(b *testing.B) {
	benchAcquire(b, NewMemoryStore(nil), uniquePool("bench"), nil)
}

func benchAcquire(b *testing.B, store Store, pool string, hook *countHook) {
	srv, err := mockserver.New(mockserver.WithTransitionDelay(0))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		b.Fatal(err)
	}
	const size = 4 * benchAcquirers
	p, err := New(b.Context(), lc, &Options{
		Name: pool, Store: store, Size: size,
		Template: &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sleep", "infinity"},
			Timeout: time.Hour, ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"}},
		RefillRate: 1000, RefillBurst: size, MaxCreating: size,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := b.Context()
	for deadline := time.Now().Add(time.Minute); ; { // warm up
		st, err := p.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Idle == size {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("pool not warm: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		wg        sync.WaitGroup
	)
	if hook != nil {
		hook.reset()
	}
	b.ResetTimer()
	for range benchAcquirers {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/benchAcquirers+1)
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				l, err := p.Acquire(ctx, nil)
				d := time.Since(start)
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, d)
				if err := l.Release(ctx); err != nil {
					b.Error(err)
					return
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	pct := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if hook != nil {
		takes := hook.scriptCalls(scriptTake.Hash())
		b.ReportMetric(float64(takes)/float64(len(latencies)), "take-rtt/acquire")
		b.ReportMetric(float64(hook.total.Load())/float64(len(latencies)), "redis-cmds/cycle")
	}
}

// countHook counts the commands a go-redis client sends, and the script
// calls by SHA.
type countHook struct {
	total atomic.Int64
	mu    sync.Mutex
	bySha map[string]int
}

func (h *countHook) reset() {
	h.total.Store(0)
	h.mu.Lock()
	clear(h.bySha)
	h.mu.Unlock()
}

func (h *countHook) scriptCalls(sha string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bySha[sha]
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.total.Add(1)
		if args := cmd.Args(); len(args) > 1 && strings.EqualFold(fmt.Sprint(args[0]), "evalsha") {
			h.mu.Lock()
			h.bySha[fmt.Sprint(args[1])]++
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.total.Add(1)
		return next(ctx, cmds)
	}
}
