package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// Lease is a sandbox borrowed from a [Pool]: handed to this caller and no
// one else in the fleet until it is released or lapses. The pool's node
// keeps it alive with heartbeats every LeaseTTL/3; if the node dies (or
// cannot reach the store for LeaseTTL), the lease lapses, Lost is closed,
// and the pool deletes the sandbox. End it with [Lease.Release] (back to
// the pool) or [Lease.Delete].
type Lease struct {
	p   *Pool
	id  string
	sb  *lifecycle.Sandbox
	box string

	lost     chan struct{} // closed when the lease is lost
	stop     chan struct{} // closed to end the heartbeats
	done     chan struct{} // closed when the heartbeats have ended
	stopOnce sync.Once

	mu      sync.Mutex
	ended   bool  // Release or Delete was called, or the lease was lost
	err     error // why the lease was lost, or nil
	expires time.Time
}

// errReleased is returned by a second Release or Delete.
var errReleased = fmt.Errorf("%w: already released", ErrLeaseLost)

// ID returns the lease's id (unique in the fleet).
func (l *Lease) ID() string { return l.id }

// SandboxID returns the leased sandbox's id.
func (l *Lease) SandboxID() string { return l.box }

// Sandbox returns the sandbox as it was when handed out: Running, with
// its expiry after any renewal Acquire made. Do not modify it.
func (l *Lease) Sandbox() *lifecycle.Sandbox { return l.sb }

// Expires returns when the lease lapses unless a heartbeat extends it
// (the store's clock), as of the last heartbeat.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Lost returns a channel that is closed when the lease is lost: it lapsed,
// the store no longer has it, or the pool was closed. The sandbox is then
// the pool's again (it deletes it); stop using it.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns nil while the lease is held or after it was released, and
// an error matching [ErrLeaseLost] (or [ErrClosed]) once it was lost.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Release ends the lease and gives the sandbox back to the pool if it is
// still Running, has MinRemaining left and passes the HealthCheck, and
// the pool is short of idle sandboxes; otherwise the sandbox is deleted.
// A lease that was lost returns an error matching [ErrLeaseLost] (the
// pool deletes the sandbox). If the delete fails the sandbox stays in the
// pool's doomed set and the leader deletes it later.
//
// GET /sandboxes/{sandboxId}, and possibly DELETE /sandboxes/{sandboxId}
func (l *Lease) Release(ctx context.Context) error {
	if err := l.finish(); err != nil {
		return glue.Wrap(ctx, "fleet.Release", err)
	}
	ctx, cancel := defaultTimeout(ctx, 2*StoreTimeout)
	defer cancel()
	p := l.p
	s, err := p.api.Get(ctx, l.box)
	if err == nil {
		s, err = p.settle(ctx, s)
	}
	if err == nil {
		err = p.healthy(ctx, s, time.Now(), p.opts.MinRemaining)
	}
	if err != nil {
		p.log.Info("fleet release: deleting instead of returning", slog.String("lease", l.id), slog.String("sandbox", l.box), slog.Any("reason", err))
		if err := l.drop(ctx); err != nil {
			return glue.Wrap(ctx, "fleet.Release", err)
		}
		return nil
	}
	kept, err := p.store.Return(ctx, p.name, l.id, s.ExpiresAt, p.renewAt(s.ExpiresAt))
	if err != nil {
		return glue.Wrap(ctx, "fleet.Release", err)
	}
	p.log.Debug("fleet released", slog.String("lease", l.id), slog.String("sandbox", l.box), slog.Bool("kept", kept))
	if kept {
		p.nudge()
		return nil
	}
	if _, err := p.deleteAndForget(ctx, l.box); err != nil {
		return glue.Wrap(ctx, "fleet.Release", fmt.Errorf("pool full, and %w (the leader retries)", err))
	}
	return nil
}

// Delete ends the lease and deletes the sandbox. A lease that was lost
// returns an error matching [ErrLeaseLost] (the pool deletes the
// sandbox). If the delete fails the sandbox stays in the pool's doomed
// set and the leader deletes it later.
//
// DELETE /sandboxes/{sandboxId}
func (l *Lease) Delete(ctx context.Context) error {
	if err := l.finish(); err != nil {
		return glue.Wrap(ctx, "fleet.Delete", err)
	}
	ctx, cancel := defaultTimeout(ctx, 2*StoreTimeout)
	defer cancel()
	if err := l.drop(ctx); err != nil {
		return glue.Wrap(ctx, "fleet.Delete", err)
	}
	return nil
}

// drop ends the lease in the store, dooming the sandbox, and deletes it.
func (l *Lease) drop(ctx context.Context) error {
	p := l.p
	id, err := p.store.Drop(ctx, p.name, l.id)
	if err != nil {
		return err
	}
	if _, err := p.deleteAndForget(ctx, id); err != nil {
		return fmt.Errorf("%w (the leader retries)", err)
	}
	p.log.Debug("fleet deleted leased sandbox", slog.String("lease", l.id), slog.String("sandbox", id))
	p.nudge()
	return nil
}

// finish marks the lease ended by its holder and stops the heartbeats.
func (l *Lease) finish() error {
	l.mu.Lock()
	if l.ended {
		err := l.err
		l.mu.Unlock()
		if err == nil {
			err = errReleased
		}
		return err
	}
	l.ended = true
	l.mu.Unlock()
	l.stopHeartbeat(nil)
	<-l.done
	l.p.forgetLease(l.id)
	return nil
}

// stopHeartbeat ends the heartbeats; a non-nil reason marks the lease
// lost with it.
func (l *Lease) stopHeartbeat(reason error) {
	if reason != nil {
		l.markLost(reason)
	}
	l.stopOnce.Do(func() { close(l.stop) })
}

// markLost records that the lease is lost, unless it already ended.
func (l *Lease) markLost(err error) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended, l.err = true, err
	l.mu.Unlock()
	close(l.lost)
	l.p.forgetLease(l.id)
	l.p.log.Warn("fleet lease lost", slog.String("lease", l.id), slog.String("sandbox", l.box), slog.Any("error", err))
}

// heartbeat keeps the lease alive until it ends.
func (l *Lease) heartbeat() {
	defer close(l.done)
	p := l.p
	interval := p.opts.LeaseTTL / 3
	lastOK := time.Now()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-p.ctx.Done():
			l.markLost(ErrClosed)
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(p.ctx, max(interval, time.Millisecond))
		exp, err := p.store.Heartbeat(ctx, p.name, l.id, p.opts.LeaseTTL)
		cancel()
		switch {
		case err == nil:
			lastOK = time.Now()
			l.mu.Lock()
			l.expires = exp
			l.mu.Unlock()
		case errors.Is(err, ErrLeaseLost):
			l.markLost(ErrLeaseLost)
			return
		case p.ctx.Err() != nil:
			l.markLost(ErrClosed)
			return
		default:
			p.log.Warn("fleet heartbeat failed", slog.String("lease", l.id), slog.Any("error", err))
			if time.Since(lastOK) >= p.opts.LeaseTTL {
				l.markLost(fmt.Errorf("%w: no heartbeat for %s: %w", ErrLeaseLost, p.opts.LeaseTTL, err))
				return
			}
		}
		t.Reset(interval)
	}
}

// newLease registers a lease on s and starts its heartbeats.
func (p *Pool) newLease(id string, s *lifecycle.Sandbox, expires time.Time) (*Lease, error) {
	l := &Lease{p: p, id: id, sb: s, box: s.ID, expires: expires,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.leases[id] = l
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		l.heartbeat()
	}()
	return l, nil
}

func (p *Pool) forgetLease(id string) {
	p.mu.Lock()
	delete(p.leases, id)
	p.mu.Unlock()
}

// Acquire hands out a Running sandbox from the pool under a new lease,
// to this caller and no other in the whole fleet. It takes the idle
// sandbox that expires last (among those with at least MinRemaining
// left), checks its health (GET; Running, after waiting up to LeaseTTL/2
// for one read Pending or Allocated; HealthCheck) and, if
// opts.Lifetime asks for more than it has left, renews it (extend-only).
// A sandbox that fails is deleted and, per the pool's [Fallback], the
// next one is tried, or one is created directly. Errors: [ErrEmpty],
// [ErrAtCapacity], [ErrUnhealthy], [ErrDestroyed], [ErrClosed], or the
// lifecycle API's. Without a deadline on ctx, Acquire gives up after
// CreateTimeout plus [StoreTimeout]. A sandbox taken but not handed out
// (ctx ended during the checks) goes back to the pool.
//
// GET /sandboxes/{sandboxId}, possibly POST .../renew-expiration and
// POST /sandboxes
func (p *Pool) Acquire(ctx context.Context, opts *AcquireOptions) (*Lease, error) {
	start := time.Now()
	l, err := p.acquire(ctx, opts)
	p.m.acquired(ctx, time.Since(start), err)
	if err != nil {
		return nil, glue.Wrap(ctx, "fleet.Acquire", err)
	}
	p.log.Debug("fleet acquired", slog.String("lease", l.id), slog.String("sandbox", l.box))
	return l, nil
}

func (p *Pool) acquire(ctx context.Context, opts *AcquireOptions) (*Lease, error) {
	var o AcquireOptions
	if opts != nil {
		o = *opts
	}
	if o.Lifetime < 0 {
		return nil, &sandboxkit.ValidationError{Field: "AcquireOptions.Lifetime", Value: o.Lifetime.String(), Reason: "must not be negative"}
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ctx, cancel := defaultTimeout(ctx, p.opts.CreateTimeout+StoreTimeout)
	defer cancel()

	tries := DefaultAcquireTries
	if p.opts.Fallback == FallbackFail {
		tries = 1
	}
	var lastErr error
	for range tries {
		leaseID := newID("l-")
		tk, err := p.store.Take(ctx, p.name, TakeRequest{LeaseID: leaseID, Holder: p.node, TTL: p.opts.LeaseTTL,
			MinRemaining: p.opts.MinRemaining, Cap: p.opts.MaxLeased})
		if errors.Is(err, ErrEmpty) {
			p.nudge()
			if p.opts.Fallback == FallbackCreate {
				return p.createDirect(ctx, o)
			}
			if lastErr != nil {
				return nil, fmt.Errorf("%w (after: %w)", ErrEmpty, lastErr)
			}
			return nil, ErrEmpty
		}
		if err != nil {
			return nil, err
		}
		p.nudge()
		l, err := p.prepare(ctx, leaseID, tk, o.Lifetime)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		lastErr = err
		p.log.Info("fleet acquire: sandbox unusable", slog.String("sandbox", tk.SandboxID), slog.Any("reason", err))
	}
	if p.opts.Fallback == FallbackCreate {
		return p.createDirect(ctx, o)
	}
	return nil, fmt.Errorf("%w: %w", ErrUnhealthy, lastErr)
}

// prepare checks a taken sandbox and renews it to lifetime. On failure
// the sandbox goes back to the pool (when the failure was not its own)
// or is deleted.
func (p *Pool) prepare(ctx context.Context, leaseID string, tk *Taken, lifetime time.Duration) (*Lease, error) {
	s, err := p.api.Get(ctx, tk.SandboxID)
	if err != nil {
		if errors.Is(err, sandboxkit.ErrNotFound) {
			p.discard(leaseID)
		} else {
			p.giveBack(leaseID, tk.ExpiresAt)
		}
		return nil, err
	}
	if s, err = p.settle(ctx, s); err != nil {
		// One that can no longer be Running is deleted; one still on its
		// way (or unreadable) goes back to the pool.
		if errors.Is(err, sandboxkit.ErrUnexpectedState) && ctx.Err() == nil {
			p.discard(leaseID)
		} else {
			p.giveBack(leaseID, s.ExpiresAt)
		}
		return nil, err
	}
	now := time.Now() // the renewal and the check count lifetimes from the same instant
	if err := p.ensureLifetime(ctx, s, now, lifetime); err != nil {
		p.giveBack(leaseID, s.ExpiresAt)
		return nil, err
	}
	if err := p.healthy(ctx, s, now, max(p.opts.MinRemaining, lifetime)); err != nil {
		if ctx.Err() != nil {
			p.giveBack(leaseID, s.ExpiresAt)
		} else {
			p.discard(leaseID)
		}
		return nil, err
	}
	l, err := p.newLease(leaseID, s, tk.LeaseExpires)
	if err != nil {
		p.giveBack(leaseID, s.ExpiresAt)
		return nil, err
	}
	return l, nil
}

// ensureLifetime renews s (and updates its ExpiresAt) so that it lives at
// least lifetime from now. The new expiry is also at least
// max(expiry, now) + RenewExtension, the target a concurrent renewal of
// the same expiry would ask for, so the two cannot undo each other.
func (p *Pool) ensureLifetime(ctx context.Context, s *lifecycle.Sandbox, now time.Time, lifetime time.Duration) error {
	if lifetime <= 0 || s.ExpiresAt.IsZero() || !s.ExpiresAt.Before(now.Add(lifetime)) {
		return nil
	}
	target := later(s.ExpiresAt, now).Add(p.opts.RenewExtension)
	if want := now.Add(lifetime); want.After(target) {
		target = want
	}
	got, err := p.api.Renew(ctx, s.ID, target)
	if err != nil {
		return fmt.Errorf("renewing sandbox %s to the requested lifetime: %w", s.ID, err)
	}
	p.m.renewed(ctx)
	p.log.Debug("fleet renewed for acquire", slog.String("sandbox", s.ID), slog.Time("from", s.ExpiresAt), slog.Time("to", got))
	s.ExpiresAt = got
	return nil
}

// giveBack ends a lease whose sandbox was not handed out, returning the
// sandbox to the pool.
func (p *Pool) giveBack(leaseID string, exp time.Time) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	if _, err := p.store.Return(ctx, p.name, leaseID, exp, p.renewAt(exp)); err != nil {
		p.log.Warn("fleet acquire: could not give a sandbox back (its lease lapses and the pool reclaims it)", slog.String("lease", leaseID), slog.Any("error", err))
	}
}

// discard ends a lease whose sandbox is unusable and deletes the sandbox
// in the background.
func (p *Pool) discard(leaseID string) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	id, err := p.store.Drop(ctx, p.name, leaseID)
	if err != nil {
		p.log.Warn("fleet acquire: could not drop a lease (it lapses and the pool reclaims it)", slog.String("lease", leaseID), slog.Any("error", err))
		return
	}
	p.deleteDoomed([]string{id})
}

// createDirect creates a sandbox for one caller under a direct intent.
func (p *Pool) createDirect(ctx context.Context, o AcquireOptions) (*Lease, error) {
	leaseID, token := newID("l-"), newID("t-")
	in, err := p.store.AddIntent(ctx, p.name, IntentRequest{Kind: IntentDirect, Owner: leaseID, ClientToken: token,
		Cap: p.opts.MaxLeased, TTL: p.opts.CreateTimeout + p.opts.LeaderTTL})
	if err != nil {
		return nil, err
	}
	log := p.log.With(slog.Int64("slot", in.Slot), slog.String("token", token), slog.String("lease", leaseID))
	log.Info("fleet direct create")
	cctx, cancel := context.WithTimeout(ctx, p.opts.CreateTimeout)
	defer cancel()
	s, err := p.api.Create(cctx, p.opts.Template, &lifecycle.CreateOptions{ClientToken: token})
	if err != nil {
		if refused(err) {
			p.dropIntent(in, leaseID, Term{})
		}
		// Otherwise the outcome is unknown: the leader resolves the
		// intent after its deadline (adopts or deletes what it finds).
		return nil, err
	}
	s, err = p.waitRunning(cctx, s)
	if err == nil {
		err = p.ensureLifetime(cctx, s, time.Now(), o.Lifetime)
	}
	if err != nil {
		p.abandon(in, leaseID, s.ID)
		return nil, err
	}
	sctx, scancel := p.storeCtx()
	defer scancel()
	tk, err := p.store.ClaimIntent(sctx, p.name, in.Slot, TakeRequest{LeaseID: leaseID, Holder: p.node, TTL: p.opts.LeaseTTL},
		Item{SandboxID: s.ID, ExpiresAt: s.ExpiresAt}, p.renewAt(s.ExpiresAt))
	switch {
	case errors.Is(err, ErrDestroyed):
		p.abandon(in, leaseID, s.ID)
		return nil, err
	case err != nil:
		// ErrIntentGone: the leader resolved the intent (adopted the
		// sandbox or deleted it). Otherwise it will.
		return nil, err
	}
	log.Info("fleet direct create claimed", slog.String("sandbox", s.ID))
	l, err := p.newLease(leaseID, s, tk.LeaseExpires)
	if err != nil {
		return nil, err // the lease lapses and the pool reclaims the sandbox
	}
	return l, nil
}

// abandon deletes a sandbox made under intent in and drops the intent.
func (p *Pool) abandon(in Intent, owner, id string) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	if err := p.deleteSandbox(ctx, id); err != nil {
		p.log.Warn("fleet: could not delete an unusable new sandbox (the intent stays for the leader)", slog.String("sandbox", id), slog.Any("error", err))
		return
	}
	p.dropIntent(in, owner, Term{})
}

// dropIntent removes an intent, logging failures (the leader resolves
// intents that stay).
func (p *Pool) dropIntent(in Intent, owner string, term Term) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	if err := p.store.DropIntent(ctx, p.name, in.Slot, owner, term); err != nil {
		p.log.Warn("fleet: could not drop an intent", slog.Int64("slot", in.Slot), slog.Any("error", err))
	}
}

// waitRunning waits until a sandbox reads Running and returns that read;
// on error it returns s. It always reads: a create answer saying Running
// is not enough, since OpenSandbox's Kubernetes runtime answers Running
// while the workload still reads Pending or Allocated, and its Docker
// runtime answers Running for a sandbox whose entrypoint exits at once.
// Pending, Allocated and other states on the way are waited through.
func (p *Pool) waitRunning(ctx context.Context, s *lifecycle.Sandbox) (*lifecycle.Sandbox, error) {
	w := lifecycle.NewWaiter(p.api, &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond, MaxDelay: time.Second})
	got, err := w.Wait(ctx, s.ID, lifecycle.StateRunning)
	if err != nil {
		return s, err
	}
	return got, nil
}

// stateAllocated is the state OpenSandbox's Kubernetes runtime reports for
// a workload that has an IP but is not ready yet, between Pending and
// Running. Package lifecycle does not name it.
const stateAllocated lifecycle.State = "Allocated"

// settle returns s when it is not on its way to Running; a sandbox read
// Pending or Allocated (a new workload, or a Kubernetes pod that restarts)
// is waited for, within half a LeaseTTL (no heartbeat protects the lease
// meanwhile), until it reads Running. On error it returns s.
func (p *Pool) settle(ctx context.Context, s *lifecycle.Sandbox) (*lifecycle.Sandbox, error) {
	if st := s.Status.State; st != lifecycle.StatePending && st != stateAllocated {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.LeaseTTL/2)
	defer cancel()
	return p.waitRunning(ctx, s)
}

// refused reports a create error that proves nothing was created: the
// service refused the request (4xx but 408) or it was never sent.
func refused(err error) bool {
	if errors.Is(err, sandboxkit.ErrInvalidInput) {
		return true
	}
	if errors.Is(err, sandboxkit.ErrOutcomeUnknown) {
		return false
	}
	code := sandboxkit.StatusCode(err)
	return code >= 400 && code < 500 && code != 408
}

func defaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
