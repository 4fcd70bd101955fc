// Package fleet keeps warm pools of sandboxes that a fleet of worker
// processes shares: a caller anywhere in the fleet borrows a Running
// sandbox in milliseconds instead of waiting for a create, no sandbox is
// ever handed to two callers, and no crash — of a worker, of the node
// refilling the pool, of a worker holding sandboxes — leaks or loses one.
// The shared state lives in a [Store]: [RedisStore] for a real fleet,
// [MemoryStore] (the default) for one process and for tests.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	store, err := fleet.NewRedisStore(rdb, nil)
//	lc, err := lifecycle.New()
//	pool, err := fleet.New(ctx, lc, &fleet.Options{
//		Name:  "python-workers",
//		Size:  10,
//		Store: store,
//		Template: &lifecycle.CreateRequest{
//			Image:          &lifecycle.Image{URI: "python:3.12"},
//			Entrypoint:     []string{"sleep", "infinity"},
//			Timeout:        30 * time.Minute,
//			ResourceLimits: map[string]string{"cpu": "1", "memory": "2Gi"},
//		},
//	})
//	defer pool.Close()
//
//	lease, err := pool.Acquire(ctx, &fleet.AcquireOptions{Lifetime: time.Hour})
//	// ... use lease.Sandbox() ...
//	err = lease.Release(ctx) // or lease.Delete(ctx)
//
// Every process of the fleet runs one [Pool] per pool name with the same
// Store; together they are the pool. [Pool.Resize] and [Pool.Destroy]
// act for the whole fleet.
//
// # How it works
//
// Leader. Every node campaigns for the pool's leader lock every
// LeaderTTL/3. The lock carries a fencing token that grows with every new
// term; every step the leader takes in the store (writing an intent,
// publishing a sandbox, maintenance) checks, atomically, that the lock
// still belongs to it with that token. A leader that lost the lock —
// paused, partitioned, or replaced after a crash — can therefore no
// longer publish or change anything. The leader refills the pool (rate
// limited by RefillRate/RefillBurst and MaxCreating; a 429 answer pauses
// refills for its Retry-After), resolves leftover create intents,
// reclaims lapsed leases, deletes doomed sandboxes, trims idle ones beyond
// the target size, and runs the orphan reaper.
//
// Runtimes. OpenSandbox's Docker runtime answers a create with a Running
// sandbox and removes a deleted one at once; its Kubernetes runtime also
// answers Running, but the workload reads Pending or Allocated until it
// is ready, and a deleted one keeps its last state until it is gone. The
// pool publishes a sandbox only once a read shows it Running, and keeps
// a deleted sandbox in its doomed set (deleting it again on later ticks)
// until it is no longer found, so the reaper does not take it for an
// orphan.
//
// Exactly-once refill. Before each create the leader records a create
// intent (pool, slot, client token) in the store; the create carries the
// token ([lifecycle.CreateOptions.ClientToken], which package lifecycle
// keeps in the sandbox's metadata), and the intent and the new idle
// sandbox swap places in one atomic publish. Intents no live goroutine
// handles — the leader died, lost its lock, or its publish failed — are
// resolved by the current leader: it looks the token up (a
// metadata-filtered list) and adopts what it finds (waits for Running and
// publishes it), deletes it if it failed or the pool was destroyed, or,
// finding nothing once the intent's deadline (CreateTimeout + LeaderTTL)
// has passed, drops the intent. Until then the intent counts as pending,
// so the pool does not create twice for one slot.
//
// Leases. [Pool.Acquire] takes, in one atomic step, the idle sandbox
// expiring last (among those with at least MinRemaining left) and records
// a lease for the caller; then it checks the sandbox (GET: Running, enough
// lifetime, the optional HealthCheck; one read Pending or Allocated, as a
// restarting Kubernetes pod is, is waited for up to LeaseTTL/2) and, if
// the caller asked for a longer Lifetime than it has left, renews it. A
// sandbox that fails is deleted and [Fallback] decides: the next idle one
// ([FallbackNext], the default), an error at once ([FallbackFail]), or a
// direct create for the caller ([FallbackCreate]), itself under an
// intent. The holder's node heartbeats the lease every LeaseTTL/3; when
// the node dies the lease lapses, the leader reclaims it and deletes the
// sandbox. [Lease.Release] puts a healthy sandbox back (when the pool is
// short of idle ones) or deletes it; [Lease.Delete] deletes it. A
// released sandbox has been used: call Delete when the next caller must
// get a fresh one.
//
// Renewals. Idle and leased sandboxes are renewed RenewMargin before they
// expire, by RenewExtension past max(expiry, now) — only ever later than
// the expiry in force, so a renewal never shortens a life (the real
// lifecycle server would accept a shorter one). The schedule is a sorted
// set in the store; every node claims due renewals for ClaimTTL, and a
// node that dies holding claims only delays them: they come due again.
//
// Orphans. Sandboxes labelled with the pool ([PoolLabel]) that the pool
// holds neither idle nor leased, nor has doomed, nor is creating under a
// pending intent are orphans; the leader's reaper finds them every
// ReapInterval with a metadata-filtered list and deletes them. They only
// arise when something outside the pool's bookkeeping happened (a create
// that reached the service after its intent was dropped, a store that was
// wiped).
//
// Cap. [Options.MaxLeased] caps the sandboxes leased at once in the whole
// fleet: a semaphore whose holders are the live leases and direct
// creations, each expiring unless its node keeps it alive.
//
// Destroy. [Pool.Destroy] fences the pool in the store: from then on no
// node can publish into it, take from it or return to it, whatever it
// believes; its sandboxes are deleted as they come back (idle ones at
// once, creates in flight when they end, leases when released or lapsed).
//
// # Redis
//
// [RedisStore] runs every step as one Lua script (atomic, one round trip;
// the scripts read the time from the server's TIME, so node clocks do not
// matter) and keeps all of one pool's keys in one Redis Cluster hash slot
// ({pool name} hash tag). An Acquire costs one Redis round trip; the
// benchmark BenchmarkAcquireRedis measures it. Scripts are loaded with
// EVALSHA, falling back to EVAL once per server.
//
// # Observability
//
// Options.Logger receives slog records (message prefix "fleet") with the
// attributes pool and node, and where they apply slot, token, term,
// sandbox, lease: leadership changes, refills (creating, created,
// published), adoptions and dropped intents, reclaimed leases, deleted
// doomed sandboxes and orphans, and every failure. Options.MeterProvider
// receives these OpenTelemetry instruments (meter [MeterName], attribute
// pool): the gauges sandboxkit.fleet.idle, sandboxkit.fleet.leased and
// sandboxkit.fleet.creating (reported by the leader only, so they do not
// add up across nodes), the histogram sandboxkit.fleet.acquire.duration
// (seconds, attribute outcome: ok, empty, capacity, unhealthy, destroyed,
// error), and the counters sandboxkit.fleet.refill.errors,
// sandboxkit.fleet.renewals, sandboxkit.fleet.leases.reclaimed and
// sandboxkit.fleet.orphans.deleted.
//
// # Testing code that uses a pool
//
// Use a [MemoryStore] and the in-process mock server
// (github.com/sandboxkit/sandboxkit/mockserver); several Pool values
// sharing one MemoryStore behave as several nodes. Inside a
// testing/synctest bubble the store, the pools and the mock all run on
// the bubble's clock, so leases lapse and leaders change without waiting.
// The package's own tests do exactly that; its store-compliance suite
// runs against MemoryStore, a real redis-server
// (SANDBOXKIT_TEST_REDIS_ADDR) and miniredis, and a multi-process test
// kills workers and leaders with SIGKILL against the sandboxmock command
// and a real redis-server.
//
// # Limits
//
// A create that reaches the lifecycle service after its intent was
// dropped (possible only when a node stalls for longer than
// CreateTimeout + LeaderTTL in the middle of a request) makes an orphan,
// which the reaper deletes. A renewal claim outlives a stalled worker's
// renewal request only by ClaimTTL/2; a request delayed longer than that
// in the network could still arrive after a later renewal. Gauges are
// only as fresh as the leader's last tick (LeaderTTL/3).
package fleet
