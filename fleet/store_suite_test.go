package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/sandboxkit/sandboxkit"
)

// RedisAddrEnv names the environment variable with the address
// (host:port) of a real redis-server for the tests; .ci/run sets it.
const RedisAddrEnv = "SANDBOXKIT_TEST_REDIS_ADDR"

// storeHarness is one store under test with a private pool and a way
// to move the store's clock forward.
type storeHarness struct {
	Store
	pool    string
	advance func(time.Duration)
}

func (h *storeHarness) now(t *testing.T) time.Time {
	t.Helper()
	st, err := h.Stats(t.Context(), h.pool)
	if err != nil {
		t.Fatal(err)
	}
	return st.Now
}

func uniquePool(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:12])
}

func newMemHarness(t *testing.T) *storeHarness {
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewMemoryStore(&MemoryStoreOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	return &storeHarness{Store: s, pool: uniquePool("mem"), advance: func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}}
}

// realRedis returns a client of the real redis-server named by
// RedisAddrEnv, or skips the test.
func realRedis(t testing.TB) *redis.Client {
	t.Helper()
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		t.Skipf("%s is not set: no real redis-server for this test (.ci/run starts one; "+
			"or run `redis-server --port N --save ''` and set %s=127.0.0.1:N)", RedisAddrEnv, RedisAddrEnv)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("%s=%s: %v", RedisAddrEnv, addr, err)
	}
	return rdb
}

func newRedisHarness(t *testing.T, rdb redis.UniversalClient, prefix string) *storeHarness {
	s, err := NewRedisStore(rdb, &RedisStoreOptions{Prefix: "sandboxkit-test"})
	if err != nil {
		t.Fatal(err)
	}
	s.offset = new(atomic.Int64)
	pool := uniquePool(prefix)
	t.Cleanup(func() { rdb.Del(context.Background(), s.keys(pool)...) })
	return &storeHarness{Store: s, pool: pool, advance: func(d time.Duration) { s.offset.Add(d.Milliseconds()) }}
}

func TestStoreMemory(t *testing.T) {
	t.Parallel()
	runStoreSuite(t, newMemHarness)
}

func TestStoreRedis(t *testing.T) {
	t.Parallel()
	rdb := realRedis(t)
	runStoreSuite(t, func(t *testing.T) *storeHarness { return newRedisHarness(t, rdb, "redis") })
}

// TestStoreMiniredis runs the suite on miniredis too, in addition to the
// real server (it needs no server, so it always runs).
func TestStoreMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	runStoreSuite(t, func(t *testing.T) *storeHarness { return newRedisHarness(t, rdb, "mini") })
}

func runStoreSuite(t *testing.T, newHarness func(*testing.T) *storeHarness) {
	for _, c := range storeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newHarness(t))
		})
	}
}

var storeCases = []struct {
	name string
	run  func(*testing.T, *storeHarness)
}{
	{"InvalidArguments", testStoreInvalidArguments},
	{"TargetSize", testStoreTargetSize},
	{"LeaderElection", testStoreLeaderElection},
	{"Fencing", testStoreFencing},
	{"TakeExactlyOnce", testStoreTakeExactlyOnce},
	{"TakeOrderAndMinRemaining", testStoreTakeOrder},
	{"Cap", testStoreCap},
	{"LeaseLifecycle", testStoreLeaseLifecycle},
	{"Return", testStoreReturn},
	{"MaintainTrims", testStoreMaintainTrims},
	{"Intents", testStoreIntents},
	{"DirectIntents", testStoreDirectIntents},
	{"Renewals", testStoreRenewals},
	{"Destroy", testStoreDestroy},
}

// need(f())(t) returns f's value, failing t if f returned an error.
func need[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func lead(t *testing.T, h *storeHarness, node string) Term {
	t.Helper()
	term, ok, err := h.Campaign(t.Context(), h.pool, node, 10*time.Second)
	if err != nil || !ok {
		t.Fatalf("campaign %s: ok=%v err=%v (holder %+v)", node, ok, err, term)
	}
	return term
}

// publish makes id idle through a refill intent of term, expiring exp
// from now and due for renewal at due from now.
func publish(t *testing.T, h *storeHarness, term Term, id string, exp, due time.Duration) {
	t.Helper()
	ctx := t.Context()
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: term.Node, ClientToken: "tok-" + id, Term: term, TTL: time.Minute}))(t)
	now := h.now(t)
	item := Item{SandboxID: id}
	if exp > 0 {
		item.ExpiresAt = now.Add(exp)
	}
	if err := h.Publish(ctx, h.pool, term, in.Slot, item, now.Add(due)); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

func take(h *storeHarness, t *testing.T, lease string) (*Taken, error) {
	return h.Take(t.Context(), h.pool, TakeRequest{LeaseID: lease, Holder: "node-a", TTL: 10 * time.Second})
}

func snapshot(t *testing.T, h *storeHarness) *Snapshot {
	t.Helper()
	return need(h.Snapshot(t.Context(), h.pool))(t)
}

func idleIDs(s *Snapshot) []string {
	var ids []string
	for _, it := range s.Idle {
		ids = append(ids, it.SandboxID)
	}
	return ids
}

func testStoreInvalidArguments(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	for _, bad := range []string{"", "a b", "{x}", "-x", strings.Repeat("a", 64)} {
		if err := h.Init(ctx, bad, 1); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("Init(%q): %v, want invalid input", bad, err)
		}
	}
	checks := map[string]error{
		"negative size":   h.Resize(ctx, h.pool, -1),
		"empty node":      func() error { _, _, err := h.Campaign(ctx, h.pool, "", time.Second); return err }(),
		"zero leader TTL": func() error { _, _, err := h.Campaign(ctx, h.pool, "n", 0); return err }(),
		"bad kind": func() error {
			_, err := h.AddIntent(ctx, h.pool, IntentRequest{Kind: "x", Owner: "o", ClientToken: "t", TTL: time.Second})
			return err
		}(),
		"lease id with space": func() error {
			_, err := h.Take(ctx, h.pool, TakeRequest{LeaseID: "a b", Holder: "h", TTL: time.Second})
			return err
		}(),
		"negative min remaining": func() error {
			_, err := h.Take(ctx, h.pool, TakeRequest{LeaseID: "l", Holder: "h", TTL: time.Second, MinRemaining: -1})
			return err
		}(),
		"zero heartbeat TTL": func() error { _, err := h.Heartbeat(ctx, h.pool, "l", 0); return err }(),
	}
	for name, err := range checks {
		if !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("%s: %v, want invalid input", name, err)
		}
	}
}

func testStoreTargetSize(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	if err := h.Init(ctx, h.pool, 3); err != nil {
		t.Fatal(err)
	}
	if err := h.Init(ctx, h.pool, 7); err != nil { // a second node's Size does not win
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Target != 3 || st.Destroyed {
		t.Fatalf("after Init 3, Init 7: %+v", st)
	}
	if err := h.Resize(ctx, h.pool, 5); err != nil {
		t.Fatal(err)
	}
	if err := h.Init(ctx, h.pool, 1); err != nil {
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Target != 5 {
		t.Fatalf("after Resize 5, Init 1: target %d", st.Target)
	}
	if err := h.Destroy(ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Resize after Destroy", h.Resize(ctx, h.pool, 2), ErrDestroyed)
	if err := h.Init(ctx, h.pool, 2); err != nil {
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Target != 0 || !st.Destroyed {
		t.Fatalf("destroyed pool: %+v", st)
	}
}

func testStoreLeaderElection(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	a, ok, err := h.Campaign(ctx, h.pool, "node-a", 10*time.Second)
	if err != nil || !ok || a.Node != "node-a" || a.Token <= 0 {
		t.Fatalf("first campaign: %+v %v %v", a, ok, err)
	}
	now := h.now(t)
	if d := a.Expires.Sub(now); d <= 0 || d > 10*time.Second {
		t.Errorf("lock expires %v after now, want within 10s", d)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Leader.Node != "node-a" || st.Leader.Token != a.Token {
		t.Errorf("stats leader %+v", st.Leader)
	}

	b, ok, err := h.Campaign(ctx, h.pool, "node-b", 10*time.Second)
	if err != nil || ok || b.Node != "node-a" || b.Token != a.Token {
		t.Fatalf("campaign while held: %+v ok=%v err=%v, want holder node-a", b, ok, err)
	}
	h.advance(6 * time.Second)
	a2 := lead(t, h, "node-a") // renewal keeps the token
	if a2.Token != a.Token || !a2.Expires.After(a.Expires) {
		t.Fatalf("renewal: %+v, was %+v", a2, a)
	}
	h.advance(6 * time.Second) // within the renewed lock
	if _, ok, _ := h.Campaign(ctx, h.pool, "node-b", 10*time.Second); ok {
		t.Fatal("node-b took a renewed lock")
	}
	h.advance(5 * time.Second) // the renewed lock has lapsed
	b = lead(t, h, "node-b")
	if b.Token <= a.Token {
		t.Fatalf("new term token %d, not above %d", b.Token, a.Token)
	}
	if _, ok, _ := h.Campaign(ctx, h.pool, "node-a", 10*time.Second); ok {
		t.Fatal("the old leader took the lock back")
	}
	if err := h.Resign(ctx, h.pool, a); err != nil { // stale: no effect
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Leader.Node != "node-b" {
		t.Fatalf("stale resign removed the lock: %+v", st.Leader)
	}
	if err := h.Resign(ctx, h.pool, b); err != nil {
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Leader != (Term{}) {
		t.Fatalf("after resign: leader %+v", st.Leader)
	}
	a3 := lead(t, h, "node-a")
	if a3.Token <= b.Token {
		t.Fatalf("token after resign %d, not above %d", a3.Token, b.Token)
	}
}

func testStoreFencing(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 5))
	a := lead(t, h, "node-a")
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-1", Term: a, TTL: time.Minute}))(t)
	in2 := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-2", Term: a, TTL: time.Minute}))(t)

	h.advance(11 * time.Second) // a's lock lapses, b takes over
	b := lead(t, h, "node-b")
	now := h.now(t)
	item := Item{SandboxID: "sbx-1", ExpiresAt: now.Add(time.Hour)}
	wantErr(t, "publish by the old leader", h.Publish(ctx, h.pool, a, in.Slot, item, now.Add(time.Minute)), ErrFenced)
	_, err := h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-3", Term: a, TTL: time.Minute})
	wantErr(t, "intent by the old leader", err, ErrFenced)
	_, err = h.Maintain(ctx, h.pool, a)
	wantErr(t, "maintain by the old leader", err, ErrFenced)
	wantErr(t, "drop of another's intent by a stale term", h.DropIntent(ctx, h.pool, in.Slot, "node-c", a), ErrFenced)
	// A forged term (right node and token, but not the lock's) is fenced too.
	wantErr(t, "publish with a forged token", h.Publish(ctx, h.pool, Term{Node: "node-b", Token: b.Token + 1}, in.Slot, item, now), ErrFenced)
	if st := need(h.Stats(ctx, h.pool))(t); st.Idle != 0 || st.Pending != 2 {
		t.Fatalf("fenced steps changed the pool: %+v", st)
	}

	// The writer may still drop its own intent; the new leader publishes
	// the other (adoption).
	if err := h.DropIntent(ctx, h.pool, in2.Slot, "node-a", a); err != nil {
		t.Fatalf("owner drops its intent: %v", err)
	}
	if err := h.Publish(ctx, h.pool, b, in.Slot, item, now.Add(time.Minute)); err != nil {
		t.Fatalf("new leader adopts: %v", err)
	}
	if err := h.DropIntent(ctx, h.pool, in.Slot, "", b); err != nil { // gone: no error
		t.Fatal(err)
	}
	if got := idleIDs(snapshot(t, h)); !slices.Equal(got, []string{"sbx-1"}) {
		t.Fatalf("idle %v", got)
	}
}

func testStoreTakeExactlyOnce(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 3))
	a := lead(t, h, "node-a")
	for i := range 3 {
		publish(t, h, a, fmt.Sprintf("sbx-%d", i), time.Hour, 30*time.Minute)
	}
	const callers = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[string]string{}
		empty int
	)
	for i := range callers {
		wg.Go(func() {
			lease := fmt.Sprintf("lease-%d", i)
			tk, err := take(h, t, lease)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrEmpty):
				empty++
			case err != nil:
				t.Errorf("take: %v", err)
			default:
				if prev, dup := got[tk.SandboxID]; dup {
					t.Errorf("%s handed to %s and %s", tk.SandboxID, prev, lease)
				}
				got[tk.SandboxID] = lease
			}
		})
	}
	wg.Wait()
	if len(got) != 3 || empty != callers-3 {
		t.Fatalf("%d takes succeeded, %d empty; want 3 and %d", len(got), empty, callers-3)
	}
	snap := snapshot(t, h)
	if len(snap.Idle) != 0 || len(snap.Leases) != 3 || snap.Leased != 3 {
		t.Fatalf("after takes: %+v", snap)
	}
	for _, l := range snap.Leases {
		if got[l.SandboxID] != l.ID || l.Holder != "node-a" {
			t.Errorf("lease %+v does not match the take", l)
		}
	}
	// Every leased sandbox is still known (not an orphan).
	known := need(h.Known(ctx, h.pool, []SandboxRef{{ID: "sbx-0"}, {ID: "sbx-1"}, {ID: "sbx-2"}, {ID: "sbx-x"}}))(t)
	if diff := cmp.Diff([]bool{true, true, true, false}, known); diff != "" {
		t.Errorf("known (-want +got):\n%s", diff)
	}
}

func testStoreTakeOrder(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 3))
	a := lead(t, h, "node-a")
	publish(t, h, a, "short", 2*time.Minute, time.Minute)
	publish(t, h, a, "long", time.Hour, 30*time.Minute)
	publish(t, h, a, "mid", 30*time.Minute, 20*time.Minute)
	req := TakeRequest{LeaseID: "l1", Holder: "n", TTL: time.Minute, MinRemaining: 5 * time.Minute}
	now := h.now(t)
	tk := need(h.Take(ctx, h.pool, req))(t)
	if tk.SandboxID != "long" {
		t.Fatalf("first take %q, want the one expiring last", tk.SandboxID)
	}
	if d := tk.ExpiresAt.Sub(now); d < 59*time.Minute || d > time.Hour {
		t.Errorf("taken expiry %v from now, want about 1h", d)
	}
	if d := tk.LeaseExpires.Sub(now); d < 59*time.Second || d > 61*time.Second {
		t.Errorf("lease expires %v from now, want about 1m", d)
	}
	req.LeaseID = "l2"
	if tk := need(h.Take(ctx, h.pool, req))(t); tk.SandboxID != "mid" {
		t.Fatalf("second take %q, want mid", tk.SandboxID)
	}
	req.LeaseID = "l3"
	_, err := h.Take(ctx, h.pool, req)
	wantErr(t, "take with only a sandbox expiring too soon", err, ErrEmpty)
	req.MinRemaining = time.Minute
	if tk := need(h.Take(ctx, h.pool, req))(t); tk.SandboxID != "short" {
		t.Fatalf("third take %q, want short", tk.SandboxID)
	}
	req.LeaseID = "l1"
	publish(t, h, a, "again", time.Hour, time.Minute)
	_, err = h.Take(ctx, h.pool, req)
	if !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Fatalf("take with a lease id in use: %v, want invalid input", err)
	}
}

func testStoreCap(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 4))
	a := lead(t, h, "node-a")
	for i := range 4 {
		publish(t, h, a, fmt.Sprintf("sbx-%d", i), time.Hour, 30*time.Minute)
	}
	req := func(id string) TakeRequest {
		return TakeRequest{LeaseID: id, Holder: "n", TTL: 10 * time.Second, Cap: 3}
	}
	need(h.Take(ctx, h.pool, req("l1")))(t)
	need(h.Take(ctx, h.pool, req("l2")))(t)
	need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "l3", ClientToken: "tok-d", Cap: 3, TTL: 5 * time.Second}))(t)
	_, err := h.Take(ctx, h.pool, req("l4"))
	wantErr(t, "take at the cap (2 leases + 1 direct intent)", err, ErrAtCapacity)
	_, err = h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "l5", ClientToken: "tok-e", Cap: 3, TTL: time.Second})
	wantErr(t, "direct intent at the cap", err, ErrAtCapacity)

	h.advance(6 * time.Second) // the direct intent's deadline passes: it stops counting
	if _, err := h.Take(ctx, h.pool, req("l4")); err != nil {
		t.Fatalf("take after the intent expired: %v", err)
	}
	if _, err := h.Heartbeat(ctx, h.pool, "l4", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	h.advance(6 * time.Second) // l1 and l2 lapse (no heartbeat); l4 lives
	if _, err := h.Take(ctx, h.pool, req("l6")); err != nil {
		t.Fatalf("take after leases lapsed: %v", err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Direct != 1 {
		t.Errorf("the expired direct intent is still pending until resolved: %+v", st)
	}
}

func testStoreLeaseLifecycle(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 2))
	a := lead(t, h, "node-a")
	publish(t, h, a, "sbx-1", time.Hour, 30*time.Minute)
	publish(t, h, a, "sbx-2", time.Hour, 30*time.Minute)
	t1 := need(take(h, t, "l1"))(t)
	t2 := need(take(h, t, "l2"))(t)

	h.advance(8 * time.Second)
	now := h.now(t)
	exp := need(h.Heartbeat(ctx, h.pool, "l1", 10*time.Second))(t)
	if d := exp.Sub(now); d < 9*time.Second || d > 11*time.Second {
		t.Errorf("heartbeat: lease expires %v from now, want about 10s", d)
	}
	h.advance(5 * time.Second) // l2 lapsed, l1 lives
	_, err := h.Heartbeat(ctx, h.pool, "l2", 10*time.Second)
	wantErr(t, "heartbeat of a lapsed lease", err, ErrLeaseLost)
	_, err = h.Return(ctx, h.pool, "l2", now.Add(time.Hour), now)
	wantErr(t, "return of a lapsed lease", err, ErrLeaseLost)
	_, err = h.Heartbeat(ctx, h.pool, "nope", 10*time.Second)
	wantErr(t, "heartbeat of an unknown lease", err, ErrLeaseLost)

	a = lead(t, h, "node-a")
	m := need(h.Maintain(ctx, h.pool, a))(t)
	if m.Reclaimed != 1 || !slices.Equal(m.Doomed, []string{t2.SandboxID}) || m.Leased != 1 {
		t.Fatalf("maintain: %+v", m)
	}
	known := need(h.Known(ctx, h.pool, []SandboxRef{{ID: t1.SandboxID}, {ID: t2.SandboxID}}))(t)
	if !known[0] || !known[1] {
		t.Fatalf("leased and doomed sandboxes must be known: %v", known)
	}
	if err := h.Forget(ctx, h.pool, t2.SandboxID); err != nil {
		t.Fatal(err)
	}
	if known := need(h.Known(ctx, h.pool, []SandboxRef{{ID: t2.SandboxID}}))(t); known[0] {
		t.Fatal("a forgotten sandbox is still known")
	}

	id := need(h.Drop(ctx, h.pool, "l1"))(t)
	if id != t1.SandboxID {
		t.Fatalf("drop returned %q, want %q", id, t1.SandboxID)
	}
	_, err = h.Drop(ctx, h.pool, "l1")
	wantErr(t, "second drop", err, ErrLeaseLost)
	snap := snapshot(t, h)
	if !slices.Equal(snap.Doomed, []string{t1.SandboxID}) || len(snap.Leases) != 0 || len(snap.Renewals) != 0 {
		t.Fatalf("after drop: %+v", snap)
	}
}

func testStoreReturn(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 2))
	a := lead(t, h, "node-a")
	publish(t, h, a, "sbx-1", time.Hour, 30*time.Minute)
	publish(t, h, a, "sbx-2", time.Hour, 30*time.Minute)
	t1 := need(take(h, t, "l1"))(t)
	t2 := need(take(h, t, "l2"))(t)
	now := h.now(t)
	newExp := now.Add(2 * time.Hour)
	kept := need(h.Return(ctx, h.pool, "l1", newExp, now.Add(90*time.Minute)))(t)
	if !kept {
		t.Fatal("return below the target: not kept")
	}
	snap := snapshot(t, h)
	if len(snap.Idle) != 1 || snap.Idle[0].SandboxID != t1.SandboxID || !snap.Idle[0].ExpiresAt.Equal(newExp.Truncate(time.Millisecond)) {
		t.Fatalf("idle after return: %+v", snap.Idle)
	}
	if due := snap.Renewals[t1.SandboxID]; !due.Equal(now.Add(90 * time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("renewal due %v after return", due)
	}
	// One refill intent pending and one idle: the target of 2 is reached,
	// so the next return dooms its sandbox.
	need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-x", Term: a, TTL: time.Minute}))(t)
	kept = need(h.Return(ctx, h.pool, "l2", newExp, now))(t)
	if kept {
		t.Fatal("return at the target: kept")
	}
	snap = snapshot(t, h)
	if !slices.Equal(snap.Doomed, []string{t2.SandboxID}) || len(snap.Leases) != 0 {
		t.Fatalf("after a return at the target: %+v", snap)
	}
	_, err := h.Return(ctx, h.pool, "l2", newExp, now)
	wantErr(t, "second return", err, ErrLeaseLost)
}

func testStoreMaintainTrims(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 4))
	a := lead(t, h, "node-a")
	publish(t, h, a, "expiring", 5*time.Second, time.Second)
	publish(t, h, a, "early", 20*time.Minute, time.Minute)
	publish(t, h, a, "late", time.Hour, time.Minute)
	publish(t, h, a, "never", 0, time.Minute) // zero expiry: never expires
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-p", Term: a, TTL: time.Minute}))(t)
	if err := h.Resize(ctx, h.pool, 2); err != nil {
		t.Fatal(err)
	}
	h.advance(6 * time.Second)
	a = lead(t, h, "node-a")
	m := need(h.Maintain(ctx, h.pool, a))(t)
	// "expiring" has expired; of the other three, the one expiring first
	// goes to bring idle down to the target.
	if m.Trimmed != 2 || !slices.Equal(m.Doomed, []string{"early", "expiring"}) {
		t.Fatalf("maintain: trimmed %d, doomed %v", m.Trimmed, m.Doomed)
	}
	if m.Idle != 2 || m.Pending != 1 || m.Target != 2 || len(m.Intents) != 1 || m.Intents[0].Slot != in.Slot || m.Intents[0].ClientToken != "tok-p" {
		t.Fatalf("maintain: %+v", m)
	}
	snap := snapshot(t, h)
	if got := idleIDs(snap); !slices.Equal(got, []string{"late", "never"}) {
		t.Fatalf("idle %v", got)
	}
	if !snap.Idle[1].ExpiresAt.IsZero() {
		t.Errorf("a sandbox without expiry reads back as %v", snap.Idle[1].ExpiresAt)
	}
	if _, ok := snap.Renewals["early"]; ok {
		t.Error("a doomed sandbox is still scheduled for renewal")
	}
}

func testStoreIntents(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 2))
	a := lead(t, h, "node-a")
	now := h.now(t)
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-1", Term: a, TTL: time.Minute}))(t)
	if in.Slot <= 0 || in.Term != a.Token || in.Kind != IntentRefill || in.Owner != "node-a" {
		t.Fatalf("intent %+v", in)
	}
	if d := in.Deadline.Sub(now); d < time.Minute || d > time.Minute+5*time.Second {
		t.Errorf("deadline %v from now, want about 1m", d)
	}
	in2 := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-2", Term: a, TTL: time.Minute}))(t)
	if in2.Slot <= in.Slot {
		t.Errorf("slots %d then %d", in.Slot, in2.Slot)
	}
	_, err := h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-1", Term: a, TTL: time.Minute})
	if !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Fatalf("duplicate token: %v, want invalid input", err)
	}
	snap := snapshot(t, h)
	if diff := cmp.Diff([]Intent{in, in2}, snap.Intents); diff != "" {
		t.Fatalf("snapshot intents (-want +got):\n%s", diff)
	}
	// A sandbox created under a pending intent's token is known, by token.
	known := need(h.Known(ctx, h.pool, []SandboxRef{{ID: "new", ClientToken: "tok-1"}, {ID: "other", ClientToken: "tok-9"}, {ID: "x"}}))(t)
	if diff := cmp.Diff([]bool{true, false, false}, known); diff != "" {
		t.Errorf("known (-want +got):\n%s", diff)
	}
	now = h.now(t)
	if err := h.Publish(ctx, h.pool, a, in.Slot, Item{SandboxID: "new", ExpiresAt: now.Add(time.Hour)}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = h.Publish(ctx, h.pool, a, in.Slot, Item{SandboxID: "new2", ExpiresAt: now.Add(time.Hour)}, now)
	wantErr(t, "second publish of one intent", err, ErrIntentGone)
	if known := need(h.Known(ctx, h.pool, []SandboxRef{{ID: "new", ClientToken: "tok-1"}}))(t); !known[0] {
		t.Error("a published sandbox is not known")
	}
	wantErr(t, "drop by a stranger without a term", h.DropIntent(ctx, h.pool, in2.Slot, "node-z", Term{}), ErrFenced)
	if err := h.DropIntent(ctx, h.pool, in2.Slot, "", a); err != nil {
		t.Fatal(err)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Pending != 0 || st.Idle != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The token of a dropped intent can be used again.
	need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-2", Term: a, TTL: time.Minute}))(t)
}

func testStoreDirectIntents(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 1))
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "lease-1", ClientToken: "tok-d", TTL: time.Minute}))(t)
	if in.Kind != IntentDirect || in.Term != 0 {
		t.Fatalf("direct intent %+v", in)
	}
	if st := need(h.Stats(ctx, h.pool))(t); st.Direct != 1 || st.Pending != 0 {
		t.Fatalf("a direct intent is not a refill: %+v", st)
	}
	now := h.now(t)
	item := Item{SandboxID: "sbx-d", ExpiresAt: now.Add(time.Hour)}
	wrong := TakeRequest{LeaseID: "lease-2", Holder: "n", TTL: 10 * time.Second}
	_, err := h.ClaimIntent(ctx, h.pool, in.Slot, wrong, item, now.Add(time.Minute))
	wantErr(t, "claim by another lease", err, ErrIntentGone)
	right := TakeRequest{LeaseID: "lease-1", Holder: "n", TTL: 10 * time.Second}
	tk := need(h.ClaimIntent(ctx, h.pool, in.Slot, right, item, now.Add(time.Minute)))(t)
	if tk.SandboxID != "sbx-d" || !tk.LeaseExpires.After(now) {
		t.Fatalf("claimed %+v", tk)
	}
	snap := snapshot(t, h)
	if len(snap.Leases) != 1 || snap.Leases[0].SandboxID != "sbx-d" || len(snap.Intents) != 0 || snap.Renewals["sbx-d"].IsZero() {
		t.Fatalf("after claim: %+v", snap)
	}
	// A direct intent the leader resolved can no longer be claimed.
	a := lead(t, h, "node-a")
	in2 := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "lease-3", ClientToken: "tok-e", TTL: time.Minute}))(t)
	if err := h.DropIntent(ctx, h.pool, in2.Slot, "", a); err != nil {
		t.Fatal(err)
	}
	_, err = h.ClaimIntent(ctx, h.pool, in2.Slot, TakeRequest{LeaseID: "lease-3", Holder: "n", TTL: time.Second}, item, now)
	wantErr(t, "claim after the leader dropped it", err, ErrIntentGone)
	// Its writer may drop its own intent without a term.
	in3 := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "lease-4", ClientToken: "tok-f", TTL: time.Minute}))(t)
	if err := h.DropIntent(ctx, h.pool, in3.Slot, "lease-4", Term{}); err != nil {
		t.Fatal(err)
	}
	in4 := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentDirect, Owner: "lease-5", ClientToken: "tok-g", TTL: time.Minute}))(t)
	if err := h.Destroy(ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	_, err = h.ClaimIntent(ctx, h.pool, in4.Slot, TakeRequest{LeaseID: "lease-5", Holder: "n", TTL: time.Second}, Item{SandboxID: "sbx-g"}, now)
	wantErr(t, "claim after destroy", err, ErrDestroyed)
}

func testStoreRenewals(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 3))
	a := lead(t, h, "node-a")
	publish(t, h, a, "sbx-1", 10*time.Minute, 5*time.Minute)
	publish(t, h, a, "sbx-2", 10*time.Minute, 6*time.Minute)
	publish(t, h, a, "sbx-3", 10*time.Minute, time.Hour)
	if c := need(h.ClaimRenewals(ctx, h.pool, "w1", 10, 30*time.Second))(t); len(c) != 0 {
		t.Fatalf("claims before due: %+v", c)
	}
	need(take(h, t, "l1"))(t) // one of them is leased: leased sandboxes are renewed too
	h.advance(7 * time.Minute)
	c1 := need(h.ClaimRenewals(ctx, h.pool, "w1", 1, 30*time.Second))(t)
	if len(c1) != 1 || c1[0].SandboxID != "sbx-1" {
		t.Fatalf("w1 claims %+v, want sbx-1 (due first)", c1)
	}
	c2 := need(h.ClaimRenewals(ctx, h.pool, "w2", 10, 30*time.Second))(t)
	if len(c2) != 1 || c2[0].SandboxID != "sbx-2" {
		t.Fatalf("w2 claims %+v, want only sbx-2 (sbx-1 is claimed, sbx-3 not due)", c2)
	}
	now := h.now(t)
	ok := need(h.CompleteRenewal(ctx, h.pool, c2[0], RenewalResult{ExpiresAt: now.Add(20 * time.Minute), Next: now.Add(15 * time.Minute)}))(t)
	if !ok {
		t.Fatal("complete of a live claim: not ok")
	}
	if due := snapshot(t, h).Renewals["sbx-2"]; !due.Equal(now.Add(15 * time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("sbx-2 due %v", due)
	}

	// w1 crashes: after the claim TTL its item is due again and w2 gets it.
	h.advance(31 * time.Second)
	c3 := need(h.ClaimRenewals(ctx, h.pool, "w2", 10, 30*time.Second))(t)
	if len(c3) != 1 || c3[0].SandboxID != "sbx-1" || c3[0].Claim == c1[0].Claim {
		t.Fatalf("after w1's claim lapsed, w2 claims %+v", c3)
	}
	now = h.now(t)
	if ok := need(h.CompleteRenewal(ctx, h.pool, c1[0], RenewalResult{ExpiresAt: now.Add(time.Minute), Next: now}))(t); ok {
		t.Fatal("a lapsed claim completed")
	}
	if ok := need(h.CompleteRenewal(ctx, h.pool, c3[0], RenewalResult{ExpiresAt: now.Add(25 * time.Minute), Next: now.Add(20 * time.Minute)}))(t); !ok {
		t.Fatal("complete of w2's claim: not ok")
	}
	snap := snapshot(t, h)
	for _, it := range snap.Idle {
		if it.SandboxID == "sbx-1" && !it.ExpiresAt.Equal(now.Add(25*time.Minute).Truncate(time.Millisecond)) {
			t.Errorf("idle sbx-1 expiry %v not updated", it.ExpiresAt)
		}
	}

	// A gone idle sandbox leaves the schedule and is doomed.
	h.advance(21 * time.Minute)
	claims := need(h.ClaimRenewals(ctx, h.pool, "w1", 10, 30*time.Second))(t)
	if len(claims) != 2 {
		t.Fatalf("claims %+v, want sbx-1 and sbx-2", claims)
	}
	for _, c := range claims {
		need(h.CompleteRenewal(ctx, h.pool, c, RenewalResult{Gone: true}))(t)
	}
	snap = snapshot(t, h)
	if len(snap.Renewals) != 1 || len(snap.Doomed) == 0 {
		t.Fatalf("after gone: renewals %v doomed %v", snap.Renewals, snap.Doomed)
	}
	// A dropped lease's sandbox leaves the schedule.
	if _, err := h.Drop(ctx, h.pool, "l1"); err != nil {
		t.Fatal(err)
	}
	h.advance(2 * time.Hour)
	if c := need(h.ClaimRenewals(ctx, h.pool, "w1", 10, 30*time.Second))(t); len(c) != 0 {
		t.Fatalf("claims of doomed sandboxes: %+v", c)
	}
}

func testStoreDestroy(t *testing.T, h *storeHarness) {
	ctx := t.Context()
	noErr(t, h.Init(ctx, h.pool, 3))
	a := lead(t, h, "node-a")
	publish(t, h, a, "sbx-1", time.Hour, time.Minute)
	publish(t, h, a, "sbx-2", time.Hour, time.Minute)
	need(take(h, t, "l1"))(t)
	in := need(h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-p", Term: a, TTL: time.Minute}))(t)
	if err := h.Destroy(ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	if err := h.Destroy(ctx, h.pool); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	now := h.now(t)
	// The fence: the leader can no longer publish, nobody can take.
	wantErr(t, "publish after destroy", h.Publish(ctx, h.pool, a, in.Slot, Item{SandboxID: "sbx-3", ExpiresAt: now.Add(time.Hour)}, now), ErrDestroyed)
	_, err := take(h, t, "l2")
	wantErr(t, "take after destroy", err, ErrDestroyed)
	_, err = h.AddIntent(ctx, h.pool, IntentRequest{Kind: IntentRefill, Owner: "node-a", ClientToken: "tok-q", Term: a, TTL: time.Minute})
	wantErr(t, "intent after destroy", err, ErrDestroyed)
	snap := snapshot(t, h)
	if !snap.Destroyed || len(snap.Idle) != 0 || len(snap.Leases) != 1 {
		t.Fatalf("after destroy: %+v", snap)
	}
	// The idle sandbox is doomed; the leased one follows when returned.
	kept := need(h.Return(ctx, h.pool, "l1", now.Add(time.Hour), now))(t)
	if kept {
		t.Fatal("return into a destroyed pool: kept")
	}
	snap = snapshot(t, h)
	if len(snap.Doomed) != 2 {
		t.Fatalf("doomed %v, want both sandboxes", snap.Doomed)
	}
	// The leader still maintains and may drop the leftover intent.
	a = lead(t, h, "node-a")
	m := need(h.Maintain(ctx, h.pool, a))(t)
	if len(m.Intents) != 1 || len(m.Doomed) != 2 {
		t.Fatalf("maintain of a destroyed pool: %+v", m)
	}
	if err := h.DropIntent(ctx, h.pool, in.Slot, "", a); err != nil {
		t.Fatal(err)
	}
}
