package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestMain fails the run if a test leaves a goroutine behind (a pool
// loop, a heartbeat, a create in flight).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is one test's world: an in-process mock server, a lifecycle
// client, a shared in-memory store and a log of every pool's records.
// Build it inside a synctest bubble: then the mock, the store and the
// pools all run on the bubble's clock.
type env struct {
	t     *testing.T
	srv   *mockserver.Server
	lc    *lifecycle.Client
	store *fleet.MemoryStore
	logs  *logSink
}

func newEnv(t *testing.T, opts ...mockserver.Option) *env {
	t.Helper()
	srv := mockserver.Start(t, opts...)
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, lc: lc, store: fleet.NewMemoryStore(nil), logs: &logSink{}}
}

// forEachRuntime runs test once per runtime of the lifecycle server, in
// subtests named after them, each in a testing/synctest bubble with an
// env whose mock behaves like that runtime. The pool must work on both:
// on Docker every change is done when the call answers; on Kubernetes a
// new sandbox reads Pending or Allocated before Running, and a deleted
// one keeps its last state until it is gone.
func forEachRuntime(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, rt := range []mockserver.Runtime{mockserver.RuntimeDocker, mockserver.RuntimeKubernetes} {
		t.Run(rt.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { test(t, newEnv(t, mockserver.WithRuntime(rt))) })
		})
	}
}

// template is what the real lifecycle server accepts.
func template() *lifecycle.CreateRequest {
	return &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"sleep", "infinity"},
		Timeout:        10 * time.Minute,
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
		Metadata:       map[string]string{"team": "tests"},
	}
}

// newPool starts a node of pool name on the env's store; api nil means
// the env's lifecycle client. The node is closed at the end of the test.
func (e *env) newPool(name, node string, o fleet.Options, api fleet.API) *fleet.Pool {
	e.t.Helper()
	o.Name, o.Node = name, node
	if o.Template == nil {
		o.Template = template()
	}
	if o.Store == nil {
		o.Store = e.store
	}
	if o.Logger == nil {
		o.Logger = e.logs.logger(node)
	}
	if api == nil {
		api = e.lc
	}
	p, err := fleet.New(e.t.Context(), api, &o)
	if err != nil {
		e.t.Fatalf("fleet.New(%s): %v", node, err)
	}
	e.t.Cleanup(func() { _ = p.Close() })
	return p
}

func (e *env) stats(pool string) *fleet.Stats {
	e.t.Helper()
	st, err := e.store.Stats(context.Background(), pool)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) snapshot(pool string) *fleet.Snapshot {
	e.t.Helper()
	s, err := e.store.Snapshot(context.Background(), pool)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// waitFor advances the bubble's clock in small steps until cond holds,
// failing after limit (of fake time).
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deleted reports whether the server accepted a delete of sandbox id (or
// expired it). Whether it still shows depends on the runtime: Docker
// removes it at once, Kubernetes keeps its last state until the deletion
// completes.
func (e *env) deleted(id string) bool {
	return slices.ContainsFunc(e.srv.Deletions(), func(d mockserver.Deletion) bool { return d.ID == id })
}

// onServer returns the mock's sandboxes of pool, deleted ones that still
// show included.
func (e *env) onServer(pool string) []mockserver.SandboxInfo {
	var out []mockserver.SandboxInfo
	for _, s := range e.srv.Sandboxes() {
		if s.Metadata[fleet.PoolLabel] == pool {
			out = append(out, s)
		}
	}
	return out
}

// live returns the mock's sandboxes of pool that are not being deleted.
func (e *env) live(pool string) []mockserver.SandboxInfo {
	ending := map[string]bool{}
	for _, d := range e.srv.Deletions() {
		ending[d.ID] = true
	}
	var out []mockserver.SandboxInfo
	for _, s := range e.srv.Sandboxes() {
		if s.Metadata[fleet.PoolLabel] == pool && !ending[s.ID] && s.State != "Stopping" && s.State != "Terminated" {
			out = append(out, s)
		}
	}
	return out
}

// checkAccounting asserts the pool's invariants: every live sandbox
// labelled with the pool is idle, leased, doomed or pending in the store;
// every idle or leased sandbox is Running on the server; none is both;
// no renewal shortened a life or was refused.
func (e *env) checkAccounting(pool string) {
	e.t.Helper()
	snap := e.snapshot(pool)
	held := map[string]string{}
	for _, it := range snap.Idle {
		held[it.SandboxID] = "idle"
	}
	for _, l := range snap.Leases {
		if prev, dup := held[l.SandboxID]; dup {
			e.t.Errorf("sandbox %s is %s and leased (%s)", l.SandboxID, prev, l.ID)
		}
		held[l.SandboxID] = "leased"
	}
	pendingTokens := map[string]bool{}
	for _, in := range snap.Intents {
		pendingTokens[in.ClientToken] = true
	}
	for _, s := range e.live(pool) {
		_, isHeld := held[s.ID]
		if !isHeld && !slices.Contains(snap.Doomed, s.ID) && !pendingTokens[s.Metadata[lifecycle.ClientTokenKey]] {
			e.t.Errorf("sandbox %s (%s) is not accounted for", s.ID, s.State)
		}
	}
	for id, what := range held {
		s, ok := e.srv.Sandbox(id)
		if !ok || s.State != "Running" {
			e.t.Errorf("%s sandbox %s is %q on the server", what, id, s.State)
		}
	}
	// The server accepts an earlier expiry and shortens the life, so the
	// journal's renewals must all extend; none may be refused either.
	if n := e.srv.Count(mockserver.Filter{Operation: "RenewSandboxExpiration", Status: 409}); n > 0 {
		e.t.Errorf("%d renewals refused with 409", n)
	}
	for _, r := range e.srv.Renewals("") {
		if r.New.Before(r.Old) {
			e.t.Errorf("renewal of %s shortened its life from %s to %s", r.SandboxID, r.Old, r.New)
		}
	}
}

// createsByToken counts creations per client token.
func (e *env) duplicateCreates() []string {
	var dups []string
	for tok, n := range e.srv.CreationCounts(lifecycle.ClientTokenKey) {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", tok, n))
		}
	}
	return dups
}

// logSink keeps the records of every pool of a test.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	node, msg string
	level     slog.Level
	attrs     map[string]string
}

func (s *logSink) logger(node string) *slog.Logger {
	return slog.New(&sinkHandler{sink: s, node: node})
}

func (s *logSink) find(msg string) []logRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logRecord
	for _, r := range s.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

func (s *logSink) count(msg string) int { return len(s.find(msg)) }

type sinkHandler struct {
	sink  *logSink
	node  string
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{node: h.node, msg: r.Message, level: r.Level, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.sink.mu.Lock()
	h.sink.records = append(h.sink.records, rec)
	h.sink.mu.Unlock()
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, node: h.node, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// errPartition is what a cut-off node sees.
var errPartition = errors.New("test: network partition")

// hookAPI wraps the lifecycle client of one node, to cut it off or to
// stop it at chosen points of a create, as a crash would.
type hookAPI struct {
	fleet.API
	cut atomic.Bool
	// beforeCreate and afterCreate, if set, run around the create
	// request; an error ends the call with it.
	beforeCreate func(ctx context.Context) error
	afterCreate  func(ctx context.Context, s *lifecycle.Sandbox) error
	beforeRenew  func(ctx context.Context, id string) error
	// afterGet, if set, may change what a successful Get returns.
	afterGet func(s *lifecycle.Sandbox)
}

func (h *hookAPI) Create(ctx context.Context, req *lifecycle.CreateRequest, opts *lifecycle.CreateOptions) (*lifecycle.Sandbox, error) {
	if h.cut.Load() {
		return nil, errPartition
	}
	if h.beforeCreate != nil {
		if err := h.beforeCreate(ctx); err != nil {
			return nil, err
		}
	}
	s, err := h.API.Create(ctx, req, opts)
	if err == nil && h.afterCreate != nil {
		if err := h.afterCreate(ctx, s); err != nil {
			return nil, err
		}
	}
	return s, err
}

func (h *hookAPI) Get(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
	if h.cut.Load() {
		return nil, errPartition
	}
	s, err := h.API.Get(ctx, id)
	if err == nil && h.afterGet != nil {
		h.afterGet(s)
	}
	return s, err
}

func (h *hookAPI) List(ctx context.Context, opts *lifecycle.ListOptions) (*lifecycle.SandboxPage, error) {
	if h.cut.Load() {
		return nil, errPartition
	}
	return h.API.List(ctx, opts)
}

func (h *hookAPI) Delete(ctx context.Context, id string) error {
	if h.cut.Load() {
		return errPartition
	}
	return h.API.Delete(ctx, id)
}

func (h *hookAPI) Renew(ctx context.Context, id string, at time.Time) (time.Time, error) {
	if h.cut.Load() {
		return time.Time{}, errPartition
	}
	if h.beforeRenew != nil {
		if err := h.beforeRenew(ctx, id); err != nil {
			return time.Time{}, err
		}
	}
	return h.API.Renew(ctx, id, at)
}

// cutStore wraps the shared store for one node; cut makes every call
// fail, as when the node is partitioned away or dead.
type cutStore struct {
	fleet.Store
	cut atomic.Bool
}

func (s *cutStore) err() error {
	if s.cut.Load() {
		return errPartition
	}
	return nil
}

func (s *cutStore) Init(ctx context.Context, pool string, size int) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Init(ctx, pool, size)
}

func (s *cutStore) Resize(ctx context.Context, pool string, size int) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Resize(ctx, pool, size)
}

func (s *cutStore) Destroy(ctx context.Context, pool string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Destroy(ctx, pool)
}

func (s *cutStore) Stats(ctx context.Context, pool string) (*fleet.Stats, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Stats(ctx, pool)
}

func (s *cutStore) Snapshot(ctx context.Context, pool string) (*fleet.Snapshot, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Snapshot(ctx, pool)
}

func (s *cutStore) Campaign(ctx context.Context, pool, node string, ttl time.Duration) (fleet.Term, bool, error) {
	if err := s.err(); err != nil {
		return fleet.Term{}, false, err
	}
	return s.Store.Campaign(ctx, pool, node, ttl)
}

func (s *cutStore) Resign(ctx context.Context, pool string, term fleet.Term) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Resign(ctx, pool, term)
}

func (s *cutStore) Maintain(ctx context.Context, pool string, term fleet.Term) (*fleet.Maintenance, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Maintain(ctx, pool, term)
}

func (s *cutStore) AddIntent(ctx context.Context, pool string, req fleet.IntentRequest) (fleet.Intent, error) {
	if err := s.err(); err != nil {
		return fleet.Intent{}, err
	}
	return s.Store.AddIntent(ctx, pool, req)
}

func (s *cutStore) Publish(ctx context.Context, pool string, term fleet.Term, slot int64, item fleet.Item, renewAt time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Publish(ctx, pool, term, slot, item, renewAt)
}

func (s *cutStore) DropIntent(ctx context.Context, pool string, slot int64, owner string, term fleet.Term) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.DropIntent(ctx, pool, slot, owner, term)
}

func (s *cutStore) Take(ctx context.Context, pool string, req fleet.TakeRequest) (*fleet.Taken, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Take(ctx, pool, req)
}

func (s *cutStore) ClaimIntent(ctx context.Context, pool string, slot int64, req fleet.TakeRequest, item fleet.Item, renewAt time.Time) (*fleet.Taken, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ClaimIntent(ctx, pool, slot, req, item, renewAt)
}

func (s *cutStore) Heartbeat(ctx context.Context, pool, leaseID string, ttl time.Duration) (time.Time, error) {
	if err := s.err(); err != nil {
		return time.Time{}, err
	}
	return s.Store.Heartbeat(ctx, pool, leaseID, ttl)
}

func (s *cutStore) Return(ctx context.Context, pool, leaseID string, expiresAt, renewAt time.Time) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return s.Store.Return(ctx, pool, leaseID, expiresAt, renewAt)
}

func (s *cutStore) Drop(ctx context.Context, pool, leaseID string) (string, error) {
	if err := s.err(); err != nil {
		return "", err
	}
	return s.Store.Drop(ctx, pool, leaseID)
}

func (s *cutStore) Forget(ctx context.Context, pool string, ids ...string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Forget(ctx, pool, ids...)
}

func (s *cutStore) ClaimRenewals(ctx context.Context, pool, worker string, max int, ttl time.Duration) ([]fleet.RenewalClaim, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ClaimRenewals(ctx, pool, worker, max, ttl)
}

func (s *cutStore) CompleteRenewal(ctx context.Context, pool string, c fleet.RenewalClaim, res fleet.RenewalResult) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return s.Store.CompleteRenewal(ctx, pool, c, res)
}

func (s *cutStore) Known(ctx context.Context, pool string, refs []fleet.SandboxRef) ([]bool, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Known(ctx, pool, refs)
}
