package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	noTimeout := template()
	noTimeout.Timeout = 0
	labelled := template()
	labelled.Metadata[fleet.PoolLabel] = "x"
	tokened := template()
	tokened.Metadata[lifecycle.ClientTokenKey] = "t"
	for name, o := range map[string]*fleet.Options{
		"nil options":              nil,
		"no name":                  {Template: template()},
		"name with a brace":        {Name: "a{b}", Template: template()},
		"no template":              {Name: "p"},
		"template without timeout": {Name: "p", Template: noTimeout},
		"pool label in template":   {Name: "p", Template: labelled},
		"client token in template": {Name: "p", Template: tokened},
		"negative size":            {Name: "p", Template: template(), Size: -1},
		"bad node name":            {Name: "p", Template: template(), Node: "a b"},
		"unknown fallback":         {Name: "p", Template: template(), Fallback: 7},
		"negative cap":             {Name: "p", Template: template(), MaxLeased: -1},
		"negative lease TTL":       {Name: "p", Template: template(), LeaseTTL: -time.Second},
		"margin above extension":   {Name: "p", Template: template(), RenewMargin: 20 * time.Minute, RenewExtension: 10 * time.Minute},
		"margin above timeout":     {Name: "p", Template: template(), RenewMargin: 11 * time.Minute, RenewExtension: time.Hour},
		"min remaining too high":   {Name: "p", Template: template(), MinRemaining: 6 * time.Minute},
		"negative refill rate":     {Name: "p", Template: template(), RefillRate: -1},
	} {
		p, err := fleet.New(t.Context(), lc, o)
		if !errors.Is(err, sandboxkit.ErrInvalidInput) {
			if p != nil {
				p.Close()
			}
			t.Errorf("%s: %v, want invalid input", name, err)
		}
	}
	if _, err := fleet.New(t.Context(), nil, &fleet.Options{Name: "p", Template: template()}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("nil api: %v", err)
	}
	if n := len(srv.Journal()); n != 0 {
		t.Errorf("%d requests sent for invalid options", n)
	}
}

func TestWarmPoolAcquireAndRelease(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		p := e.newPool("warm", "node-a", fleet.Options{Size: 3}, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("warm").Idle == 3 })
		if n := len(e.srv.Creations()); n != 3 {
			t.Fatalf("%d sandboxes created for a pool of 3", n)
		}

		l, err := p.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		sb := l.Sandbox()
		if sb.State() != lifecycle.StateRunning || sb.Metadata[fleet.PoolLabel] != "warm" || sb.Metadata["team"] != "tests" || sb.ClientToken() == "" {
			t.Fatalf("handed out %+v", sb)
		}
		if l.SandboxID() != sb.ID || l.ID() == "" || l.Err() != nil {
			t.Fatalf("lease %s on %s, err %v", l.ID(), l.SandboxID(), l.Err())
		}
		waitFor(t, "refill after acquire", time.Minute, func() bool { return e.stats("warm").Idle == 3 })

		// The pool is full again: a released sandbox is deleted.
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !e.deleted(sb.ID) {
			t.Fatalf("released sandbox into a full pool was not deleted")
		}
		if err := l.Release(t.Context()); !errors.Is(err, fleet.ErrLeaseLost) {
			t.Fatalf("second release: %v", err)
		}

		// Below its target, the pool takes a released sandbox back.
		l2, err := p.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Resize(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
		if err := l2.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(e.snapshot("warm").Idle, func(it fleet.Item) bool { return it.SandboxID == l2.SandboxID() }) {
			t.Fatalf("released sandbox %s not idle again", l2.SandboxID())
		}
		waitFor(t, "resized pool", time.Minute, func() bool { return e.stats("warm").Idle == 10 })

		l3, err := p.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l3.Delete(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !e.deleted(l3.SandboxID()) {
			t.Fatalf("deleted lease's sandbox was not deleted")
		}
		synctest.Wait()
		e.checkAccounting("warm")
		if d := e.duplicateCreates(); len(d) > 0 {
			t.Errorf("tokens used by more than one create: %v", d)
		}
	})
}

// On Kubernetes a create answers Running while the workload still reads
// Pending or Allocated: the pool publishes a sandbox only once a read
// shows it Running, and hands out nothing before.
func TestPoolPublishesOnlyRunningSandboxes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
			mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual()))
		p := e.newPool("ready", "node-a", fleet.Options{Size: 2}, nil)
		waitFor(t, "creates", time.Minute, func() bool { return len(e.srv.Creations()) == 2 })
		time.Sleep(30 * time.Second) // several leader ticks, well within CreateTimeout
		if st := e.stats("ready"); st.Idle != 0 || st.Pending != 2 {
			t.Fatalf("idle %d, pending %d while the sandboxes are not ready; want 0 and 2", st.Idle, st.Pending)
		}
		for _, s := range e.live("ready") {
			if s.State != "Allocated" {
				t.Fatalf("sandbox %s is %s, want Allocated (not ready yet)", s.ID, s.State)
			}
		}
		if _, err := p.Acquire(t.Context(), nil); !errors.Is(err, fleet.ErrEmpty) {
			t.Fatalf("acquire before any sandbox is ready: %v, want ErrEmpty", err)
		}
		if n := e.srv.StepAll(); n != 2 {
			t.Fatalf("%d transitions stepped, want the 2 provisions", n)
		}
		waitFor(t, "published once Running", time.Minute, func() bool { return e.stats("ready").Idle == 2 })
		if n := len(e.srv.Creations()); n != 2 {
			t.Errorf("%d sandboxes created, want 2", n)
		}
		e.checkAccounting("ready")
	})
}

// A Kubernetes pod that restarts reads Allocated (an IP, not ready) for a
// while. Acquire waits for such an idle sandbox to read Running again
// instead of deleting it, and hands it out then.
func TestAcquireWaitsForARestartingSandbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
		var (
			mu         sync.Mutex
			restarting string // the sandbox reads Allocated ...
			reads      int    // ... for this many more reads
		)
		api := &hookAPI{API: e.lc}
		api.afterGet = func(s *lifecycle.Sandbox) {
			mu.Lock()
			defer mu.Unlock()
			if s.ID == restarting && reads > 0 {
				reads--
				s.Status.State, s.Status.Reason = "Allocated", "IP_ASSIGNED"
			}
		}
		p := e.newPool("restart", "node-a", fleet.Options{Size: 1}, api)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("restart").Idle == 1 })
		id := e.snapshot("restart").Idle[0].SandboxID
		mu.Lock()
		restarting, reads = id, 3
		mu.Unlock()
		l, err := p.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatalf("acquire of a restarting sandbox: %v", err)
		}
		mu.Lock()
		left := reads
		mu.Unlock()
		if l.SandboxID() != id || l.Sandbox().State() != lifecycle.StateRunning || left != 0 {
			t.Fatalf("acquired %s (%s) with %d Allocated reads left; want %s, Running, after all 3", l.SandboxID(), l.Sandbox().State(), left, id)
		}
		if e.deleted(id) {
			t.Errorf("the restarting sandbox was deleted")
		}
		e.checkAccounting("restart")
	})
}

func TestAcquireHandsEachSandboxToOneCallerAcrossNodes(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		var nodes []*fleet.Pool
		for i := range 3 {
			nodes = append(nodes, e.newPool("shared", fmt.Sprintf("node-%d", i), fleet.Options{Size: 6}, nil))
		}
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("shared").Idle == 6 })
		var (
			mu     sync.Mutex
			holder = map[string]string{}
			leases []*fleet.Lease
			empty  int
			wg     sync.WaitGroup
		)
		for i := range 12 {
			wg.Go(func() {
				l, err := nodes[i%3].Acquire(t.Context(), nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, fleet.ErrEmpty):
					empty++
				case err != nil:
					t.Errorf("acquire: %v", err)
				default:
					if prev, dup := holder[l.SandboxID()]; dup {
						t.Errorf("sandbox %s handed to %s and %s", l.SandboxID(), prev, l.ID())
					}
					holder[l.SandboxID()] = l.ID()
					leases = append(leases, l)
				}
			})
		}
		wg.Wait()
		if len(leases) < 6 || len(leases)+empty != 12 {
			t.Fatalf("%d acquired, %d empty", len(leases), empty)
		}
		snap := e.snapshot("shared")
		for _, l := range snap.Leases {
			if holder[l.SandboxID] != l.ID {
				t.Errorf("store lease %+v does not match what Acquire returned", l)
			}
		}
		for _, l := range leases {
			if err := l.Release(t.Context()); err != nil {
				t.Error(err)
			}
		}
		waitFor(t, "pool back to size", time.Minute, func() bool { return e.stats("shared").Idle == 6 })
		synctest.Wait()
		e.checkAccounting("shared")
	})
}

// A leader crashes after its create request went out and before it
// published the sandbox: the next leader finds the sandbox by the
// intent's client token and adopts it. Nothing is created twice and
// nothing leaks.
func TestLeaderCrashAfterCreateNextLeaderAdopts(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		storeA := &cutStore{Store: e.store}
		apiA := &hookAPI{API: e.lc}
		apiA.afterCreate = func(ctx context.Context, _ *lifecycle.Sandbox) error {
			<-ctx.Done() // the process stops here
			return ctx.Err()
		}
		opts := fleet.Options{Size: 2, LeaderTTL: 3 * time.Second}
		optsA := opts
		optsA.Store = storeA
		a := e.newPool("adopt", "node-a", optsA, apiA)
		synctest.Wait()
		if !a.Leader() {
			t.Fatal("node-a did not become leader")
		}
		waitFor(t, "node-a's creates reached the server", time.Minute, func() bool { return len(e.srv.Creations()) == 2 })
		storeA.cut.Store(true) // node-a is dead
		apiA.cut.Store(true)

		b := e.newPool("adopt", "node-b", opts, nil)
		waitFor(t, "node-b adopts node-a's sandboxes", time.Minute, func() bool { return e.stats("adopt").Idle == 2 })
		if !b.Leader() {
			t.Fatal("node-b does not lead")
		}
		if n := len(e.srv.Creations()); n != 2 {
			t.Fatalf("%d sandboxes created, want the 2 node-a made", n)
		}
		if n := e.logs.count("fleet intent adopted"); n != 2 {
			t.Fatalf("%d adoptions logged", n)
		}
		for _, c := range e.srv.Creations() {
			if !slices.ContainsFunc(e.snapshot("adopt").Idle, func(it fleet.Item) bool { return it.SandboxID == c.ID }) {
				t.Errorf("sandbox %s made by node-a is not idle", c.ID)
			}
		}
		if n, err := b.Reap(t.Context()); err != nil || n != 0 {
			t.Fatalf("reap: %d orphans, %v", n, err)
		}
		e.checkAccounting("adopt")
	})
}

// A leader crashes before its create request went out: the next leader
// finds nothing under the token, keeps counting the intent as pending
// until its deadline (so it does not create too many), then drops it and
// creates the sandbox itself.
func TestLeaderCrashBeforeCreateIntentDroppedAtDeadline(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		storeA := &cutStore{Store: e.store}
		apiA := &hookAPI{API: e.lc}
		apiA.beforeCreate = func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}
		opts := fleet.Options{Size: 2, LeaderTTL: 3 * time.Second, CreateTimeout: 30 * time.Second}
		optsA := opts
		optsA.Store = storeA
		e.newPool("drop", "node-a", optsA, apiA)
		synctest.Wait()
		if st := e.stats("drop"); st.Pending != 2 {
			t.Fatalf("node-a wrote %d intents", st.Pending)
		}
		storeA.cut.Store(true)
		apiA.cut.Store(true)
		killed := time.Now()

		e.newPool("drop", "node-b", opts, nil)
		// Until the intents' deadline (CreateTimeout + LeaderTTL after
		// they were written) node-b must not replace them.
		time.Sleep(30 * time.Second)
		if n := len(e.srv.Creations()); n != 0 {
			t.Fatalf("%d sandboxes created while node-a's intents were pending", n)
		}
		waitFor(t, "node-b refills", time.Minute, func() bool { return e.stats("drop").Idle == 2 })
		if time.Since(killed) < 33*time.Second {
			t.Errorf("intents replaced %v after the crash, before their deadline", time.Since(killed))
		}
		if n := e.logs.count("fleet intent dropped: nothing was created"); n != 2 {
			t.Errorf("%d intents dropped, want 2", n)
		}
		if n := len(e.srv.Creations()); n != 2 {
			t.Fatalf("%d sandboxes created, want 2", n)
		}
		e.checkAccounting("drop")
	})
}

// A leader cut off from the store loses its lock; when it comes back it
// cannot publish what it created meanwhile (the fencing token changed),
// and the new leader adopts that sandbox instead.
func TestDeposedLeaderCannotPublish(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		storeA := &cutStore{Store: e.store}
		apiA := &hookAPI{API: e.lc}
		release := make(chan struct{})
		apiA.afterCreate = func(ctx context.Context, _ *lifecycle.Sandbox) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		opts := fleet.Options{Size: 1, LeaderTTL: 3 * time.Second}
		optsA := opts
		optsA.Store = storeA
		a := e.newPool("fence", "node-a", optsA, apiA)
		waitFor(t, "node-a's create", time.Minute, func() bool { return len(e.srv.Creations()) == 1 })
		storeA.cut.Store(true) // partitioned from the store
		b := e.newPool("fence", "node-b", opts, nil)
		waitFor(t, "node-b takes over and adopts", time.Minute, func() bool { return e.stats("fence").Idle == 1 })
		storeA.cut.Store(false) // back, still believing it leads
		close(release)
		waitFor(t, "node-a's publish is refused", time.Minute, func() bool {
			return e.logs.count("fleet publish fenced: leadership lost; the next leader resolves the intent")+
				e.logs.count("fleet publish: the intent was resolved by another leader") == 1
		})
		waitFor(t, "node-a learns it lost the lock", time.Minute, func() bool { return !a.Leader() })
		if !b.Leader() {
			t.Fatal("node-b does not lead")
		}
		if snap := e.snapshot("fence"); len(snap.Idle) != 1 || len(e.srv.Creations()) != 1 {
			t.Fatalf("idle %v after %d creations", snap.Idle, len(e.srv.Creations()))
		}
		e.checkAccounting("fence")
	})
}

func TestLapsedLeaseIsReclaimed(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		opts := fleet.Options{Size: 2, LeaseTTL: 6 * time.Second, LeaderTTL: 3 * time.Second}
		e.newPool("lapse", "node-a", opts, nil)
		synctest.Wait()
		storeB := &cutStore{Store: e.store}
		apiB := &hookAPI{API: e.lc}
		optsB := opts
		optsB.Store = storeB
		b := e.newPool("lapse", "node-b", optsB, apiB)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("lapse").Idle == 2 })
		l, err := b.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second) // heartbeats keep the lease
		if l.Err() != nil || len(e.snapshot("lapse").Leases) != 1 {
			t.Fatalf("lease lost while its node lives: %v", l.Err())
		}
		storeB.cut.Store(true) // node-b dies
		apiB.cut.Store(true)
		select {
		case <-l.Lost():
		case <-time.After(time.Minute):
			t.Fatal("the holder never learned it lost the lease")
		}
		if !errors.Is(l.Err(), fleet.ErrLeaseLost) {
			t.Errorf("lost lease error %v", l.Err())
		}
		waitFor(t, "the leader reclaims and deletes the sandbox", time.Minute, func() bool { return e.deleted(l.SandboxID()) })
		if e.logs.count("fleet reclaimed lapsed leases") == 0 {
			t.Error("no reclaim logged")
		}
		if err := l.Release(t.Context()); !errors.Is(err, fleet.ErrLeaseLost) {
			t.Errorf("release of a lost lease: %v", err)
		}
		waitFor(t, "refill", time.Minute, func() bool { return e.stats("lapse").Idle == 2 })
		e.checkAccounting("lapse")
	})
}

func TestFallbackPolicies(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		ctx := t.Context()

		fail := e.newPool("fb-fail", "node-a", fleet.Options{Fallback: fleet.FallbackFail}, nil)
		if _, err := fail.Acquire(ctx, nil); !errors.Is(err, fleet.ErrEmpty) {
			t.Fatalf("fail fast on an empty pool: %v", err)
		}
		if err := fail.Resize(ctx, 1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "one idle", time.Minute, func() bool { return e.stats("fb-fail").Idle == 1 })
		bad := e.snapshot("fb-fail").Idle[0].SandboxID
		if err := e.srv.FailSandbox(bad, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := fail.Acquire(ctx, nil); !errors.Is(err, fleet.ErrUnhealthy) {
			t.Fatalf("fail fast on a failed sandbox: %v", err)
		}
		waitFor(t, "the failed sandbox is deleted", time.Minute, func() bool { return e.deleted(bad) })

		// FallbackNext skips unhealthy sandboxes (here by HealthCheck) and
		// deletes them.
		unhealthy := map[string]bool{}
		var hmu sync.Mutex
		next := e.newPool("fb-next", "node-a", fleet.Options{Size: 3, HealthCheck: func(_ context.Context, s *lifecycle.Sandbox) error {
			hmu.Lock()
			defer hmu.Unlock()
			if unhealthy[s.ID] {
				return errors.New("sandbox API does not answer")
			}
			return nil
		}}, nil)
		waitFor(t, "three idle", time.Minute, func() bool { return e.stats("fb-next").Idle == 3 })
		idle := e.snapshot("fb-next").Idle // Acquire takes them from the end
		hmu.Lock()
		unhealthy[idle[1].SandboxID], unhealthy[idle[2].SandboxID] = true, true
		hmu.Unlock()
		l, err := next.Acquire(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.SandboxID() != idle[0].SandboxID {
			t.Fatalf("acquired %s, want the healthy %s", l.SandboxID(), idle[0].SandboxID)
		}
		synctest.Wait()
		for _, it := range idle[1:] {
			if !e.deleted(it.SandboxID) {
				t.Errorf("unhealthy %s was not deleted", it.SandboxID)
			}
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}

		// FallbackCreate creates directly when nothing is idle.
		create := e.newPool("fb-create", "node-a", fleet.Options{Fallback: fleet.FallbackCreate}, nil)
		l, err = create.Acquire(ctx, &fleet.AcquireOptions{Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if n := e.srv.CreationCounts(fleet.PoolLabel)["fb-create"]; n != 1 {
			t.Fatalf("%d creations for a direct acquire", n)
		}
		if l.Sandbox().Metadata[fleet.PoolLabel] != "fb-create" || time.Until(l.Sandbox().ExpiresAt) < time.Hour {
			t.Fatalf("directly created %+v", l.Sandbox())
		}
		snap := e.snapshot("fb-create")
		if len(snap.Leases) != 1 || snap.Leases[0].SandboxID != l.SandboxID() || len(snap.Intents) != 0 {
			t.Fatalf("store after a direct acquire: %+v", snap)
		}
		if err := l.Release(ctx); err != nil { // size 0: deleted
			t.Fatal(err)
		}
		e.checkAccounting("fb-fail")
		e.checkAccounting("fb-next")
		e.checkAccounting("fb-create")
	})
}

func TestMaxLeasedCapsTheFleet(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		opts := fleet.Options{Size: 3, MaxLeased: 2}
		a := e.newPool("cap", "node-a", opts, nil)
		b := e.newPool("cap", "node-b", opts, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("cap").Idle == 3 })
		l1, err := a.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Acquire(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Acquire(t.Context(), nil); !errors.Is(err, fleet.ErrAtCapacity) {
			t.Fatalf("third acquire in the fleet: %v", err)
		}
		if err := l1.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Acquire(t.Context(), nil); err != nil {
			t.Fatalf("acquire after a release: %v", err)
		}
	})
}

func TestAcquireRenewsToTheCallersLifetime(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		p := e.newPool("life", "node-a", fleet.Options{Size: 1}, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("life").Idle == 1 })
		l, err := p.Acquire(t.Context(), &fleet.AcquireOptions{Lifetime: 45 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := e.srv.Sandbox(l.SandboxID())
		if time.Until(s.ExpiresAt) < 45*time.Minute || !s.ExpiresAt.Equal(l.Sandbox().ExpiresAt) {
			t.Fatalf("expires in %v (lease says %v), want at least 45m", time.Until(s.ExpiresAt), l.Sandbox().ExpiresAt)
		}
		if r := e.srv.Renewals(l.SandboxID()); len(r) != 1 || !r[0].New.After(r[0].Old) {
			t.Fatalf("renewals %+v", r)
		}
		if _, err := p.Acquire(t.Context(), &fleet.AcquireOptions{Lifetime: -time.Second}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Fatalf("negative lifetime: %v", err)
		}
	})
}

func TestRefillIsRateLimitedAndHonoursRetryAfter(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		if _, err := e.srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "CreateSandbox",
			Status: 429, RetryAfter: 40 * time.Second, Times: 1}); err != nil {
			t.Fatal(err)
		}
		e.newPool("rate", "node-a", fleet.Options{Size: 4, RefillRate: 1, RefillBurst: 1, LeaderTTL: 1500 * time.Millisecond,
			CreateTimeout: 20 * time.Second}, nil)
		waitFor(t, "warm pool", 5*time.Minute, func() bool { return e.stats("rate").Idle == 4 })
		creates := e.srv.Requests(mockserver.Filter{Operation: "CreateSandbox"})
		if len(creates) != 5 || creates[0].Status != 429 {
			t.Fatalf("create requests: %+v", creates)
		}
		// The create got the 429 and, with no time left to wait inside
		// the call, returned it; the pool then paused refills for the
		// Retry-After.
		if gap := creates[1].Time.Sub(creates[0].Time); gap < 40*time.Second {
			t.Errorf("next create %v after a 429 with Retry-After 40s", gap)
		}
		for i := 2; i < len(creates); i++ {
			if gap := creates[i].Time.Sub(creates[i-1].Time); gap < 900*time.Millisecond {
				t.Errorf("creates %d and %d %v apart, faster than 1 per second", i-1, i, gap)
			}
		}
		if e.logs.count("fleet refill rate-limited: pausing refills") != 1 {
			t.Error("no pause logged")
		}
	})
}

func TestResizeAndDestroy(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		hold := make(chan struct{})
		var holding bool
		var hmu sync.Mutex
		api := &hookAPI{API: e.lc}
		api.afterCreate = func(ctx context.Context, _ *lifecycle.Sandbox) error {
			hmu.Lock()
			h := holding
			hmu.Unlock()
			if h {
				select {
				case <-hold:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		p := e.newPool("rd", "node-a", fleet.Options{Size: 2}, api)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("rd").Idle == 2 })
		if err := p.Resize(ctx, 4); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "grown", time.Minute, func() bool { return e.stats("rd").Idle == 4 })
		if err := p.Resize(ctx, 1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "shrunk", time.Minute, func() bool { return len(e.live("rd")) == 1 && e.stats("rd").Doomed == 0 })
		if err := p.Resize(ctx, -1); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Fatalf("negative size: %v", err)
		}

		l, err := p.Acquire(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Two creates are in flight (past the POST) when the pool is
		// destroyed: they must not be published.
		hmu.Lock()
		holding = true
		hmu.Unlock()
		if err := p.Resize(ctx, 3); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "creates in flight", time.Minute, func() bool { return e.stats("rd").Pending == 3 })
		if err := p.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		close(hold)
		if _, err := p.Acquire(ctx, nil); !errors.Is(err, fleet.ErrDestroyed) {
			t.Fatalf("acquire from a destroyed pool: %v", err)
		}
		if err := p.Resize(ctx, 2); !errors.Is(err, fleet.ErrDestroyed) {
			t.Fatalf("resize of a destroyed pool: %v", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		// Deleted and gone: on Kubernetes a deleted sandbox shows until
		// its deletion completes, and the reaper cannot tell it from an
		// orphan before.
		waitFor(t, "everything deleted", time.Minute, func() bool {
			st := e.stats("rd")
			return len(e.onServer("rd")) == 0 && st.Pending == 0 && st.Doomed == 0 && st.Idle == 0 && st.Leased == 0
		})
		if n, err := p.Reap(ctx); err != nil || n != 0 {
			t.Fatalf("reap after destroy: %d, %v", n, err)
		}
		if e.logs.count("fleet publish refused: pool destroyed; deleting") != 3 {
			t.Errorf("%d fenced publishes logged, want 3", e.logs.count("fleet publish refused: pool destroyed; deleting"))
		}
	})
}

func TestRenewalsAreSharedAndSurviveACrashedWorker(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		tpl := template()
		tpl.Timeout = 2 * time.Minute
		opts := fleet.Options{Size: 3, Template: tpl, RenewMargin: time.Minute, RenewExtension: 2 * time.Minute, ClaimTTL: 10 * time.Second}
		a := e.newPool("renew", "node-a", opts, nil)
		// node-b dies in the middle of its first renewal: its claims lapse
		// and node-a renews those sandboxes.
		var mu sync.Mutex
		hung := 0
		storeB := &cutStore{Store: e.store}
		apiB := &hookAPI{API: e.lc}
		apiB.beforeRenew = func(ctx context.Context, _ string) error {
			mu.Lock()
			hung++
			mu.Unlock()
			storeB.cut.Store(true)
			apiB.cut.Store(true)
			<-ctx.Done()
			return ctx.Err()
		}
		optsB := opts
		optsB.Store = storeB
		e.newPool("renew", "node-b", optsB, apiB)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("renew").Idle == 3 })
		l, err := a.Acquire(t.Context(), nil) // a leased sandbox is renewed too
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		if l.Err() != nil {
			t.Fatalf("lease lost: %v", l.Err())
		}
		if n := len(e.srv.Creations()); n != 4 {
			t.Errorf("%d sandboxes created in 20 minutes of 2-minute sandboxes, want 4 (nothing expired)", n)
		}
		for _, d := range e.srv.Deletions() {
			t.Errorf("sandbox %s ended (%s)", d.ID, d.Reason)
		}
		mu.Lock()
		if hung == 0 {
			t.Error("node-b never claimed a renewal")
		}
		mu.Unlock()
		r := e.srv.Renewals(l.SandboxID())
		if len(r) < 8 {
			t.Errorf("the leased sandbox was renewed %d times in 20 minutes", len(r))
		}
		e.checkAccounting("renew")
	})
}

func TestReaperDeletesOnlyThePoolsOrphans(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		seed := func(meta map[string]string) string {
			id, err := e.srv.AddSandbox(mockserver.DefaultTenant, mockserver.SandboxSeed{Metadata: meta, ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		orphan := seed(map[string]string{fleet.PoolLabel: "reap", lifecycle.ClientTokenKey: "t-lost"})
		other := seed(map[string]string{fleet.PoolLabel: "other"})
		plain := seed(nil)
		p := e.newPool("reap", "node-a", fleet.Options{Size: 2, ReapInterval: time.Minute}, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("reap").Idle == 2 })
		waitFor(t, "orphan deleted", 2*time.Minute, func() bool { return e.deleted(orphan) })
		for _, id := range []string{other, plain} {
			if s, _ := e.srv.Sandbox(id); s.State != "Running" {
				t.Errorf("sandbox %s of no concern to the pool is %s", id, s.State)
			}
		}
		if e.stats("reap").Idle != 2 {
			t.Error("the reaper touched idle sandboxes")
		}
		if recs := e.logs.find("fleet orphan deleted"); len(recs) != 1 || recs[0].attrs["sandbox"] != orphan {
			t.Errorf("orphan records %+v", recs)
		}
		if n, err := p.Reap(t.Context()); err != nil || n != 0 {
			t.Fatalf("second reap: %d, %v", n, err)
		}
	})
}

func TestCloseResignsAndEndsLeases(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		opts := fleet.Options{Size: 2, LeaderTTL: 30 * time.Second, LeaseTTL: 6 * time.Second}
		a := e.newPool("close", "node-a", opts, nil)
		synctest.Wait()
		b := e.newPool("close", "node-b", opts, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("close").Idle == 2 })
		l, err := a.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Leader() || b.Leader() {
			t.Fatal("node-a should lead")
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		select {
		case <-l.Lost():
		default:
			t.Fatal("a lease of a closed pool is not lost")
		}
		if !errors.Is(l.Err(), fleet.ErrClosed) {
			t.Errorf("lease error %v", l.Err())
		}
		if _, err := a.Acquire(t.Context(), nil); !errors.Is(err, fleet.ErrClosed) {
			t.Errorf("acquire on a closed pool: %v", err)
		}
		// node-b takes over at its next tick, not after the 30 s lock.
		closed := time.Now()
		waitFor(t, "node-b leads", 30*time.Second, b.Leader)
		if d := time.Since(closed); d > 11*time.Second {
			t.Errorf("takeover after %v", d)
		}
		waitFor(t, "the closed node's lease is reclaimed", time.Minute, func() bool { return e.deleted(l.SandboxID()) })
		waitFor(t, "refill", time.Minute, func() bool { return e.stats("close").Idle == 2 })
		e.checkAccounting("close")
	})
}

func TestCloseOfAPrivatePoolDeletesItsSandboxes(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *env) {
		hold := make(chan struct{})
		api := &hookAPI{API: e.lc}
		var mu sync.Mutex
		holding := false
		api.afterCreate = func(ctx context.Context, _ *lifecycle.Sandbox) error {
			mu.Lock()
			h := holding
			mu.Unlock()
			if h {
				select { // a create in flight when the pool closes
				case <-hold:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		p, err := fleet.New(t.Context(), api, &fleet.Options{Name: "private", Template: template(), Size: 2, Logger: e.logs.logger("solo")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() }) // also when the test stops early
		waitFor(t, "warm pool", time.Minute, func() bool {
			st, err := p.Stats(t.Context())
			return err == nil && st.Idle == 2
		})
		mu.Lock()
		holding = true
		mu.Unlock()
		l, err := p.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a refill in flight", time.Minute, func() bool { return len(e.live("private")) == 3 })
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		close(hold)
		if live := e.live("private"); len(live) != 0 {
			t.Fatalf("%d sandboxes left after closing a private pool", len(live))
		}
		if !errors.Is(l.Err(), fleet.ErrClosed) {
			t.Errorf("lease error %v", l.Err())
		}
		if n := len(e.srv.Creations()); n != 3 {
			t.Errorf("%d creations", n)
		}
	})
}
