package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// API is what a [Pool] needs of the lifecycle API; [*lifecycle.Client]
// implements it.
type API interface {
	lifecycle.Creator
	lifecycle.Getter
	lifecycle.Lister
	lifecycle.Deleter
	lifecycle.ExpiryRenewer
}

var _ API = (*lifecycle.Client)(nil)

// ErrUnhealthy is returned by [Pool.Acquire] with [FallbackFail] when the
// sandbox taken failed its health check (it is deleted).
var ErrUnhealthy = errors.New("sandboxkit: fleet sandbox unhealthy")

// ErrClosed is returned by calls on a closed [Pool].
var ErrClosed = errors.New("sandboxkit: fleet pool closed")

// Pool is one node's handle on a warm pool shared by every node that uses
// the same Store and Name. Make one per process with [New]; it runs in
// the background until [Pool.Close]:
//
//   - every node campaigns for the pool's leader lock; the leader (one
//     at a time, fenced) refills, resolves create intents left by
//     crashed nodes, reclaims lapsed leases, deletes doomed sandboxes and
//     reaps orphans;
//   - every node takes part in renewals, claiming due ones from the
//     store;
//   - every lease this node holds is kept alive by heartbeats.
//
// All methods are safe for concurrent use.
type Pool struct {
	api     API
	store   Store
	private bool    // the store is this Pool's own MemoryStore
	opts    Options // resolved
	name    string
	node    string
	log     *slog.Logger
	m       *metrics

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	// deletes bounds concurrent deletes of doomed sandboxes and orphans.
	deletes chan struct{}

	mu         sync.Mutex
	term       Term
	leading    bool
	leadUntil  time.Time      // when the lock lapses at the latest (local clock)
	stats      *Stats         // last seen by the leader, for the gauges
	inflight   map[int64]bool // intents a goroutine of this node handles
	deleting   map[string]bool
	creating   int
	bucket     tokenBucket
	pauseUntil time.Time // refills pause after a 429
	lastReap   time.Time
	reaping    bool
	leases     map[string]*Lease
	closed     bool
}

// New starts this node's part of the pool opts.Name, using api (a
// [*lifecycle.Client]) for sandboxes. ctx bounds only the setup (the
// store call that records the pool's initial size); the pool runs until
// Close. Invalid options return an error matching
// [sandboxkit.ErrInvalidInput] before anything is sent.
func New(ctx context.Context, api API, opts *Options) (*Pool, error) {
	if api == nil {
		return nil, &sandboxkit.ValidationError{Field: "api", Reason: "must not be nil"}
	}
	o, err := opts.resolved()
	if err != nil {
		return nil, err
	}
	store, private := o.Store, o.Store == nil
	if private {
		store = NewMemoryStore(nil)
		o.Store = store
	}
	sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	if err := store.Init(sctx, o.Name, o.Size); err != nil {
		return nil, glue.Wrap(ctx, "fleet.New", err)
	}
	m, err := newMetrics(o.MeterProvider, o.Name)
	if err != nil {
		return nil, glue.Wrap(ctx, "fleet.New", err)
	}
	p := &Pool{
		api: api, store: store, private: private, opts: o, name: o.Name, node: o.Node, m: m,
		log:      o.Logger.With(slog.String("pool", o.Name), slog.String("node", o.Node)),
		wake:     make(chan struct{}, 1),
		deletes:  make(chan struct{}, 8),
		inflight: map[int64]bool{},
		deleting: map[string]bool{},
		leases:   map[string]*Lease{},
		bucket:   tokenBucket{rate: o.RefillRate, burst: float64(o.RefillBurst), tokens: float64(o.RefillBurst)},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := m.observe(p.gauges); err != nil {
		p.cancel()
		return nil, glue.Wrap(ctx, "fleet.New", err)
	}
	p.wg.Add(2)
	go p.leaderLoop()
	go p.renewLoop()
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Node returns this node's name.
func (p *Pool) Node() string { return p.node }

// Store returns the store the pool uses.
func (p *Pool) Store() Store { return p.store }

// Stats returns the pool's counters as the store holds them.
func (p *Pool) Stats(ctx context.Context) (*Stats, error) {
	ctx, cancel := defaultTimeout(ctx, StoreTimeout)
	defer cancel()
	st, err := p.store.Stats(ctx, p.name)
	if err != nil {
		return nil, glue.Wrap(ctx, "fleet.Stats", err)
	}
	return st, nil
}

// Leader reports whether this node currently leads the pool, as of its
// last campaign.
func (p *Pool) Leader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leading
}

// Resize sets the number of idle sandboxes the pool keeps, for the whole
// fleet. The leader creates the missing ones or deletes the extra idle
// ones (those expiring first) within one leader tick; leased sandboxes
// are not affected. ErrDestroyed after Destroy.
func (p *Pool) Resize(ctx context.Context, size int) error {
	if err := checkSize(size); err != nil {
		return glue.Wrap(ctx, "fleet.Resize", err)
	}
	ctx, cancel := defaultTimeout(ctx, StoreTimeout)
	defer cancel()
	if err := p.store.Resize(ctx, p.name, size); err != nil {
		return glue.Wrap(ctx, "fleet.Resize", err)
	}
	p.log.Info("fleet resized", slog.Int("size", size))
	p.nudge()
	return nil
}

// Destroy destroys the pool for the whole fleet: it fences the pool in
// the store (no node can publish into it, take from it or return to it
// any more), deletes its idle sandboxes, and leaves the rest to the
// leader: sandboxes still being created are deleted when their creates
// end or their intents are resolved, leased ones when released or when
// their leases lapse, and the reaper deletes anything else labelled with
// the pool. Destroy does not close this Pool. Without a deadline on ctx
// it gives up after 3×[StoreTimeout] (the leader finishes the deletes).
//
// DELETE /sandboxes/{sandboxId} for each idle sandbox
func (p *Pool) Destroy(ctx context.Context) error {
	ctx, cancel := defaultTimeout(ctx, 3*StoreTimeout)
	defer cancel()
	if err := p.store.Destroy(ctx, p.name); err != nil {
		return glue.Wrap(ctx, "fleet.Destroy", err)
	}
	p.log.Info("fleet destroyed")
	snap, err := p.store.Snapshot(ctx, p.name)
	if err != nil {
		return glue.Wrap(ctx, "fleet.Destroy", err)
	}
	var errs []error
	for _, id := range snap.Doomed {
		if _, err := p.deleteAndForget(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	p.nudge()
	if err := errors.Join(errs...); err != nil {
		return glue.Wrap(ctx, "fleet.Destroy", fmt.Errorf("pool fenced, but deleting idle sandboxes failed (the leader retries): %w", err))
	}
	return nil
}

// Close stops this node: its loops end, creates in flight are abandoned
// (their intents are resolved by the next leader) and its leadership is
// resigned so another node takes over at once. Leases this node still
// holds stop heartbeating (Lost is closed): they lapse and their
// sandboxes are reclaimed, unless released first. Close does not destroy
// a shared pool. A pool on its own store (Options.Store nil) has no other
// node to hand over to: Close destroys it and deletes its sandboxes,
// leased ones included. Close returns once every goroutine of the pool
// has exited.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	leases := make([]*Lease, 0, len(p.leases))
	for _, l := range p.leases {
		leases = append(leases, l)
	}
	p.mu.Unlock()
	p.cancel()
	for _, l := range leases {
		l.stopHeartbeat(ErrClosed)
	}
	p.wg.Wait()
	p.m.close()
	p.mu.Lock()
	term, leading := p.term, p.leading
	p.leading = false
	p.mu.Unlock()
	if p.private {
		ctx, cancel := context.WithTimeout(context.Background(), 2*StoreTimeout)
		defer cancel()
		if err := p.purge(ctx); err != nil {
			return glue.Wrap(ctx, "fleet.Close", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*StoreTimeout)
	defer cancel()
	p.settleOwnIntents(ctx)
	if leading {
		if err := p.store.Resign(ctx, p.name, term); err != nil {
			return fmt.Errorf("sandboxkit: fleet.Close: resigning: %w", err)
		}
		p.log.Info("fleet leadership resigned", slog.Int64("term", term.Token))
	}
	return nil
}

// settleOwnIntents drops the refill intents of this node's creates that
// Close cut short before they made anything, so that the next leader
// need not wait for their deadlines; an intent whose sandbox exists is
// left for the next leader to adopt.
func (p *Pool) settleOwnIntents(ctx context.Context) {
	snap, err := p.store.Snapshot(ctx, p.name)
	if err != nil {
		p.log.Warn("fleet close: reading intents failed (they resolve at their deadlines)", slog.Any("error", err))
		return
	}
	for _, in := range snap.Intents {
		if in.Kind != IntentRefill || in.Owner != p.node {
			continue
		}
		found, err := p.lookup(ctx, in.ClientToken)
		if err != nil || len(found) > 0 {
			continue
		}
		if err := p.store.DropIntent(ctx, p.name, in.Slot, p.node, Term{}); err == nil {
			p.log.Info("fleet close: dropped the intent of a create cut short", slog.Int64("slot", in.Slot))
		}
	}
}

// purge destroys a private pool and deletes everything it made.
func (p *Pool) purge(ctx context.Context) error {
	if err := p.store.Destroy(ctx, p.name); err != nil {
		return err
	}
	snap, err := p.store.Snapshot(ctx, p.name)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range snap.Leases {
		if _, err := p.store.Drop(ctx, p.name, l.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if snap, err = p.store.Snapshot(ctx, p.name); err != nil {
		return err
	}
	for _, id := range snap.Doomed {
		if _, err := p.deleteAndForget(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	for _, in := range snap.Intents { // creates cut short by Close
		found, err := p.lookup(ctx, in.ClientToken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range found {
			if err := p.deleteSandbox(ctx, s.ID); err != nil {
				errs = append(errs, err)
			}
		}
		if err := p.store.DropIntent(ctx, p.name, in.Slot, in.Owner, Term{}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(snap.Doomed)+len(snap.Intents) > 0 {
		p.log.Info("fleet private pool closed: sandboxes deleted", slog.Int("count", len(snap.Doomed)), slog.Int("intents", len(snap.Intents)))
	}
	return errors.Join(errs...)
}

// nudge wakes the leader loop early (after an Acquire, Resize, ...).
func (p *Pool) nudge() {
	if !p.Leader() {
		return // the leader elsewhere sees the change on its next tick
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// goBackground runs f on a goroutine Close waits for; false when the
// pool is closed.
func (p *Pool) goBackground(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// storeCtx bounds a store call made on the pool's behalf.
func (p *Pool) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, StoreTimeout)
}

// renewAt is when a sandbox expiring at exp is due for renewal.
func (p *Pool) renewAt(exp time.Time) time.Time {
	if exp.IsZero() {
		return time.Now().Add(p.opts.RenewExtension)
	}
	return exp.Add(-p.opts.RenewMargin)
}

// healthy reports whether s may be handed out: Running, at least need
// left counted from now, and the HealthCheck passes.
func (p *Pool) healthy(ctx context.Context, s *lifecycle.Sandbox, now time.Time, need time.Duration) error {
	if s.Status.State != lifecycle.StateRunning {
		return fmt.Errorf("sandbox %s is %s", s.ID, s.Status.State)
	}
	if !s.ExpiresAt.IsZero() && s.ExpiresAt.Sub(now) < need {
		return fmt.Errorf("sandbox %s expires at %s, less than %s from now", s.ID, s.ExpiresAt.Format(time.RFC3339), need)
	}
	if p.opts.HealthCheck != nil {
		if err := p.opts.HealthCheck(ctx, s); err != nil {
			return fmt.Errorf("sandbox %s: health check: %w", s.ID, err)
		}
	}
	return nil
}

// deleteSandbox deletes a sandbox; one already gone or going counts as
// deleted.
func (p *Pool) deleteSandbox(ctx context.Context, id string) error {
	_, err := p.deleteSandboxIfLive(ctx, id)
	return err
}

// deleteSandboxIfLive deletes a sandbox and reports whether this call
// ended it (false when it was already gone or terminating).
func (p *Pool) deleteSandboxIfLive(ctx context.Context, id string) (bool, error) {
	err := p.api.Delete(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sandboxkit.ErrNotFound):
		return false, nil
	case errors.Is(err, sandboxkit.ErrConflict):
		s, gerr := p.api.Get(ctx, id)
		if errors.Is(gerr, sandboxkit.ErrNotFound) || (gerr == nil && (s.State() == lifecycle.StateStopping || s.State() == lifecycle.StateTerminated)) {
			return false, nil
		}
	}
	return false, err
}

// deleteAndForget deletes a doomed sandbox and, once it is gone, removes
// it from the doomed set; it reports whether it did. A sandbox that still
// reads Running (or any state but Stopping and Terminated) after an
// accepted delete stays doomed: OpenSandbox's Kubernetes runtime shows a
// deleted workload in its last state until it is removed, and until then
// the reaper must not take it for an orphan. The leader deletes it again
// on a later tick (accepted while the deletion runs, 404 once it is gone)
// and forgets it then.
func (p *Pool) deleteAndForget(ctx context.Context, id string) (bool, error) {
	if err := p.deleteSandbox(ctx, id); err != nil {
		return false, fmt.Errorf("deleting sandbox %s: %w", id, err)
	}
	s, err := p.api.Get(ctx, id)
	switch {
	case errors.Is(err, sandboxkit.ErrNotFound):
	case err != nil:
		return false, nil // the delete was accepted; the leader looks again
	case s.State() != lifecycle.StateStopping && s.State() != lifecycle.StateTerminated:
		return false, nil // deletion under way
	}
	if err := p.store.Forget(ctx, p.name, id); err != nil {
		return false, fmt.Errorf("forgetting deleted sandbox %s: %w", id, err)
	}
	return true, nil
}

// newID returns a random id usable as a lease id or client token (a
// label value).
func newID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}

// tokenBucket rate-limits refills. The caller holds the pool's lock.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// retryAfter is how long refills pause after err: the Retry-After of a
// 429 (at least a second), or zero for other errors.
func retryAfter(err error) time.Duration {
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	if !ok || apiErr.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	return max(apiErr.RetryAfter, time.Second)
}
