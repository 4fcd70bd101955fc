// Command fleet runs a warm pool of sandboxes shared by two workers
// (two fleet.Pool nodes, as two processes would have): it waits until
// the pool is warm, runs six jobs on sandboxes borrowed from it, shuts
// the leading worker down so the other takes over, resizes the pool and
// destroys it.
//
// With no configuration it runs on the embedded defaults: the in-memory
// store and the mock server inside the process.
//
//	go run ./examples/fleet
//
// To share the pool through Redis (as separate processes on separate
// machines would), give the server's URL; to use a real lifecycle
// server, its URL and key (and an image it has, SANDBOX_IMAGE):
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/fleet
//	OPEN_SANDBOX_BASE_URL=http://127.0.0.1:8080/v1 OPEN_SANDBOX_API_KEY=... SANDBOX_IMAGE=... go run ./examples/fleet
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func main() {
	env := demo.Start("fleet", sandboxkit.Lifecycle, mockserver.WithTransitionDelay(200*time.Millisecond))
	ctx, cancel := env.Context(5 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	lc, err := lifecycle.New(env.Options(sandboxkit.Lifecycle)...)
	if err != nil {
		return err
	}

	// The store: Redis when REDIS_URL is set, else process memory (then
	// the two nodes below share it because they share this process).
	var store fleet.Store = fleet.NewMemoryStore(nil)
	if u := os.Getenv("REDIS_URL"); u != "" {
		ro, err := redis.ParseURL(u)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(ro)
		defer rdb.Close()
		if store, err = fleet.NewRedisStore(rdb, nil); err != nil {
			return err
		}
		env.Logf("store: Redis at %s", ro.Addr)
	} else {
		env.Logf("store: in memory (set REDIS_URL to share the pool through Redis)")
	}

	image := cmp(os.Getenv("SANDBOX_IMAGE"), "python:3.12")
	name := "example-" + strings.ToLower(rand.Text()[:8])
	opts := func(node string) *fleet.Options {
		return &fleet.Options{
			Name: name, Node: node, Store: store, Size: 3,
			Template: &lifecycle.CreateRequest{
				Image:          &lifecycle.Image{URI: image},
				Entrypoint:     []string{"sleep", "3600"},
				Timeout:        10 * time.Minute,
				ResourceLimits: map[string]string{"cpu": "250m", "memory": "256Mi"},
				Metadata:       map[string]string{"example": "fleet"},
			},
			LeaderTTL:    3 * time.Second, // quick takeover for the demonstration
			ReapInterval: 10 * time.Second,
		}
	}

	// 1. Two workers join the pool; the first one to campaign leads and
	// fills the pool.
	a, err := fleet.New(ctx, lc, opts("worker-a"))
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := fleet.New(ctx, lc, opts("worker-b"))
	if err != nil {
		return err
	}
	defer b.Close()
	env.Logf("1. pool %s: two workers joined, target 3 idle sandboxes", name)
	start := env.Now()
	st, err := waitStats(ctx, a, func(st *fleet.Stats) bool { return st.Idle == 3 })
	if err != nil {
		return err
	}
	env.Logf("   warm after %s: %d idle, leader %s (term %d)", env.Since(start), st.Idle, st.Leader.Node, st.Leader.Token)

	// 2. Six jobs, three on each worker, at most four at a time: each
	// borrows a sandbox (exactly one holder in the fleet), uses it and
	// gives it back. The leader refills behind them.
	env.Logf("2. six jobs borrow sandboxes")
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
		mu   sync.Mutex
		errs []error
	)
	for i := range 6 {
		node := []*fleet.Pool{a, b}[i%2]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := job(ctx, env, node, i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if st, err = a.Stats(ctx); err != nil {
		return err
	}
	env.Logf("   after the jobs: %d idle, %d leased, %d being created", st.Idle, st.Leased, st.Pending)

	// 3. The leader stops; the other worker takes over at its next tick.
	leader, other := a, b
	if b.Leader() {
		leader, other = b, a
	}
	env.Logf("3. %s (the leader) shuts down", leader.Node())
	if err := leader.Close(); err != nil {
		return err
	}
	if st, err = waitStats(ctx, other, func(st *fleet.Stats) bool { return st.Leader.Node == other.Node() }); err != nil {
		return err
	}
	env.Logf("   %s leads now (term %d)", st.Leader.Node, st.Leader.Token)

	// 4. Resize for the whole fleet, then destroy the pool.
	env.Logf("4. resize to 1")
	if err := other.Resize(ctx, 1); err != nil {
		return err
	}
	if st, err = waitStats(ctx, other, func(st *fleet.Stats) bool { return st.Idle == 1 && st.Doomed == 0 }); err != nil {
		return err
	}
	env.Logf("   %d idle", st.Idle)
	env.Logf("5. destroy the pool")
	if err := other.Destroy(ctx); err != nil {
		return err
	}
	if _, err := other.Acquire(ctx, nil); errors.Is(err, fleet.ErrDestroyed) {
		env.Logf("   acquire now fails: %v", err)
	} else {
		return fmt.Errorf("acquire from a destroyed pool: %v", err)
	}
	if st, err = waitStats(ctx, other, func(st *fleet.Stats) bool { return st.Idle+st.Pending+st.Doomed == 0 }); err != nil {
		return err
	}
	orphans, err := other.Reap(ctx)
	if err != nil {
		return err
	}
	env.Logf("   nothing left: %d idle, %d doomed, %d orphans", st.Idle, st.Doomed, orphans)
	return nil
}

// job borrows a sandbox, "works" on it and gives it back.
func job(ctx context.Context, env *demo.Env, p *fleet.Pool, n int) error {
	var l *fleet.Lease
	for { // a job waits for a sandbox when all are borrowed
		var err error
		l, err = p.Acquire(ctx, &fleet.AcquireOptions{Lifetime: 15 * time.Minute})
		if err == nil {
			break
		}
		if !errors.Is(err, fleet.ErrEmpty) {
			return fmt.Errorf("job %d: %w", n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	env.Logf("   job %d on %s: sandbox %s (expires %s)", n, p.Node(), l.SandboxID(), l.Sandbox().ExpiresAt.Local().Format("15:04:05"))
	select { // the work
	case <-ctx.Done():
	case <-time.After(300 * time.Millisecond):
	}
	if err := l.Release(ctx); err != nil {
		return fmt.Errorf("job %d: %w", n, err)
	}
	return nil
}

// waitStats polls the pool until ok holds.
func waitStats(ctx context.Context, p *fleet.Pool, ok func(*fleet.Stats) bool) (*fleet.Stats, error) {
	for {
		st, err := p.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if ok(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the pool: %w (last %+v)", ctx.Err(), st)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
