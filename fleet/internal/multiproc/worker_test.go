package multiproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// The worker's configuration, passed by the test in the environment.
const (
	envRole     = "FLEET_MP_ROLE" // "worker" runs this file's worker instead of the tests
	envRedis    = "FLEET_MP_REDIS"
	envURL      = "FLEET_MP_URL"
	envKey      = "FLEET_MP_KEY"
	envPool     = "FLEET_MP_POOL"
	envNode     = "FLEET_MP_NODE"
	envFallback = "FLEET_MP_FALLBACK"
	envHolders  = "FLEET_MP_HOLDERS"
)

// Worker events (slog messages on stdout, JSON, one per line), beside
// the pool's own records.
const (
	evAcquired  = "worker acquired"
	evReleasing = "worker releasing"
	evReleased  = "worker released"
	evLost      = "worker lease lost"
	evUnusable  = "worker got an unusable sandbox"
	evDrained   = "worker drained"
	evLeaks     = "worker leak check"
	evReady     = "worker ready"
)

// poolOptions are the timings of the test's pool: short enough that
// leaders, leases, renewals and the reaper all act within seconds.
func poolOptions(name, node string, fallback fleet.Fallback, store fleet.Store, log *slog.Logger) *fleet.Options {
	return &fleet.Options{
		Name: name, Node: node, Store: store, Logger: log, Fallback: fallback,
		Template: &lifecycle.CreateRequest{
			Image:          &lifecycle.Image{URI: "sbx-local/busybox:latest"},
			Entrypoint:     []string{"sleep", "3600"},
			Timeout:        time.Minute,
			ResourceLimits: map[string]string{"cpu": "100m", "memory": "64Mi"},
		},
		Size:           6,
		MaxLeased:      10,
		LeaderTTL:      1500 * time.Millisecond,
		LeaseTTL:       2 * time.Second,
		CreateTimeout:  8 * time.Second,
		RefillRate:     20,
		RefillBurst:    6,
		MaxCreating:    6,
		RenewMargin:    57 * time.Second, // a sandbox of 1 minute is due 3 s after it was made
		RenewExtension: time.Minute,
		MinRemaining:   20 * time.Second,
		ClaimTTL:       4 * time.Second,
		RenewInterval:  time.Second,
		ReapInterval:   2 * time.Second,
	}
}

// worker is the main of a worker process: holders acquire, use and
// release sandboxes until "stop" arrives on stdin; "exit" (or the end of
// stdin) closes everything and reports leaked goroutines.
func worker() int {
	ignore := goleak.IgnoreCurrent()
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With(slog.String("node", os.Getenv(envNode)))
	fail := func(err error) int {
		log.Error("worker failed", slog.Any("error", err))
		return 1
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis)})
	store, err := fleet.NewRedisStore(rdb, nil)
	if err != nil {
		return fail(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	hc := &http.Client{Transport: transport}
	lc, err := lifecycle.New(sandboxkit.WithBaseURL(os.Getenv(envURL)), sandboxkit.WithAPIKey(os.Getenv(envKey)),
		sandboxkit.WithHTTPClient(hc), sandboxkit.WithoutEnvironment())
	if err != nil {
		return fail(err)
	}
	fallback := fleet.FallbackNext
	if os.Getenv(envFallback) == "create" {
		fallback = fleet.FallbackCreate
	}
	ctx := context.Background()
	p, err := fleet.New(ctx, lc, poolOptions(os.Getenv(envPool), os.Getenv(envNode), fallback, store, log))
	if err != nil {
		return fail(err)
	}
	holders, _ := strconv.Atoi(os.Getenv(envHolders))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range max(holders, 1) {
		wg.Go(func() { hold(ctx, p, lc, log, stop) })
	}
	log.Info(evReady)
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "exit" {
		if in.Text() == "stop" {
			stopAll()
			log.Info(evDrained)
		}
	}
	stopAll()
	if err := p.Close(); err != nil {
		log.Warn("worker close", slog.Any("error", err))
	}
	rdb.Close()
	hc.CloseIdleConnections()
	leaks := ""
	if err := goleak.Find(ignore); err != nil {
		leaks = err.Error()
	}
	log.Info(evLeaks, slog.String("leaks", leaks))
	return 0
}

// hold is one holder: acquire, use for a while, release or delete.
func hold(ctx context.Context, p *fleet.Pool, lc *lifecycle.Client, log *slog.Logger, stop <-chan struct{}) {
	pause := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		// Some callers need the sandbox for longer than it has left: Acquire
		// renews those, racing the fleet's renewals.
		var opts *fleet.AcquireOptions
		if rand.IntN(4) == 0 {
			opts = &fleet.AcquireOptions{Lifetime: 90 * time.Second}
		}
		l, err := p.Acquire(ctx, opts)
		if err != nil {
			if !errors.Is(err, fleet.ErrEmpty) && !errors.Is(err, fleet.ErrAtCapacity) {
				log.Warn("worker acquire failed", slog.Any("error", err))
			}
			if !pause(time.Duration(20+rand.IntN(60)) * time.Millisecond) {
				return
			}
			continue
		}
		id := l.SandboxID()
		log.Info(evAcquired, slog.String("sandbox", id), slog.String("lease", l.ID()), slog.Int64("at", time.Now().UnixNano()))
		if s, err := lc.Get(ctx, id); err != nil || s.State() != lifecycle.StateRunning {
			log.Error(evUnusable, slog.String("sandbox", id), slog.Any("error", err))
		}
		select {
		case <-l.Lost():
			log.Warn(evLost, slog.String("sandbox", id), slog.String("lease", l.ID()), slog.Int64("at", time.Now().UnixNano()))
			continue
		case <-stop:
		case <-time.After(holdTime()):
		}
		how := "release"
		if rand.IntN(3) == 0 {
			how = "delete"
		}
		log.Info(evReleasing, slog.String("sandbox", id), slog.String("lease", l.ID()), slog.String("how", how),
			slog.Int64("at", time.Now().UnixNano()))
		if how == "delete" {
			err = l.Delete(ctx)
		} else {
			err = l.Release(ctx)
		}
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		log.Info(evReleased, slog.String("sandbox", id), slog.String("lease", l.ID()), slog.String("error", errText))
	}
}

// workerEnv is the environment of a worker process.
func workerEnv(redisAddr, url, key, pool, node, fallback string, holders int) []string {
	return append(os.Environ(),
		envRole+"=worker", envRedis+"="+redisAddr, envURL+"="+url, envKey+"="+key, envPool+"="+pool,
		envNode+"="+node, envFallback+"="+fallback, fmt.Sprintf("%s=%d", envHolders, holders))
}

// holdTime is how long a holder uses a sandbox: mostly briefly, now and
// then long enough for the sandbox to come due for renewal while leased.
func holdTime() time.Duration {
	if rand.IntN(8) == 0 {
		return 3500 * time.Millisecond
	}
	return time.Duration(100+rand.IntN(300)) * time.Millisecond
}
