package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// leaderLoop campaigns for the lock every LeaderTTL/3 and, while this
// node leads, maintains the pool.
func (p *Pool) leaderLoop() {
	defer p.wg.Done()
	interval := p.opts.LeaderTTL / 3
	// A nudge brings a tick forward, but never closer than minGap to the
	// previous one.
	minGap := min(interval, 100*time.Millisecond)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		started := time.Now()
		p.tick()
		t.Reset(interval)
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			continue
		case <-p.wake:
		}
		if d := minGap - time.Since(started); d > 0 {
			t.Reset(d)
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
		}
	}
}

// tick is one campaign and, when leading, one maintenance step.
func (p *Pool) tick() {
	ctx, cancel := p.storeCtx()
	defer cancel()
	started := time.Now()
	term, ok, err := p.store.Campaign(ctx, p.name, p.node, p.opts.LeaderTTL)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("fleet campaign failed", slog.Any("error", err))
		}
		p.mu.Lock()
		lapsed := p.leading && time.Now().After(p.leadUntil)
		p.mu.Unlock()
		if lapsed { // the lock has expired by now, whatever the store says later
			p.setTerm(Term{}, false)
		}
		return
	}
	if ok {
		p.mu.Lock()
		p.leadUntil = started.Add(p.opts.LeaderTTL)
		p.mu.Unlock()
	}
	p.setTerm(term, ok)
	if !ok {
		return
	}
	m, err := p.store.Maintain(ctx, p.name, term)
	if err != nil {
		if errors.Is(err, ErrFenced) {
			p.setTerm(term, false)
		} else if p.ctx.Err() == nil {
			p.log.Warn("fleet maintenance failed", slog.Any("error", err))
		}
		return
	}
	p.mu.Lock()
	p.stats = &m.Stats
	p.mu.Unlock()
	if m.Reclaimed > 0 {
		p.m.reclaimed(p.ctx, m.Reclaimed)
		p.log.Info("fleet reclaimed lapsed leases", slog.Int("count", m.Reclaimed))
	}
	if m.Trimmed > 0 {
		p.log.Info("fleet trimmed idle sandboxes", slog.Int("count", m.Trimmed))
	}
	p.deleteDoomed(m.Doomed)
	p.resolveIntents(term, m)
	p.refill(ctx, term, m)
	p.maybeReap()
}

// setTerm records the outcome of a campaign.
func (p *Pool) setTerm(term Term, leading bool) {
	p.mu.Lock()
	was, prev := p.leading, p.term
	p.leading = leading
	if leading {
		p.term = term
	} else {
		p.stats = nil
	}
	p.mu.Unlock()
	switch {
	case leading && (!was || prev.Token != term.Token):
		p.log.Info("fleet leader elected", slog.Int64("term", term.Token))
	case !leading && was:
		p.log.Info("fleet leadership lost", slog.Int64("term", prev.Token), slog.String("holder", term.Node))
	}
}

// refill starts creates for the missing idle sandboxes, within the rate
// limit, the concurrency bound and any 429 pause. Each create's intent is
// written here, before the next tick counts the pending ones.
func (p *Pool) refill(ctx context.Context, term Term, m *Maintenance) {
	if m.Destroyed {
		return
	}
	for deficit := m.Target - m.Idle - m.Pending; deficit > 0; deficit-- {
		p.mu.Lock()
		now := time.Now()
		if p.closed || p.creating >= p.opts.MaxCreating || now.Before(p.pauseUntil) || !p.bucket.allow(now) {
			p.mu.Unlock()
			return
		}
		p.creating++
		p.mu.Unlock()
		in, err := p.store.AddIntent(ctx, p.name, IntentRequest{Kind: IntentRefill, Owner: p.node, ClientToken: newID("t-"),
			Term: term, TTL: p.opts.CreateTimeout + p.opts.LeaderTTL})
		if err != nil {
			p.mu.Lock()
			p.creating--
			p.mu.Unlock()
			if !errors.Is(err, ErrFenced) && !errors.Is(err, ErrDestroyed) && p.ctx.Err() == nil {
				p.log.Warn("fleet refill: writing the intent failed", slog.Any("error", err))
			}
			return
		}
		p.mu.Lock()
		p.inflight[in.Slot] = true
		p.mu.Unlock()
		if !p.goBackground(func() { p.createOne(term, in) }) {
			p.mu.Lock()
			p.creating--
			delete(p.inflight, in.Slot)
			p.mu.Unlock()
			return
		}
	}
}

// createOne creates the sandbox of a refill intent and publishes it.
func (p *Pool) createOne(term Term, in Intent) {
	defer func() {
		p.mu.Lock()
		p.creating--
		delete(p.inflight, in.Slot)
		p.mu.Unlock()
	}()
	log := p.log.With(slog.Int64("slot", in.Slot), slog.String("token", in.ClientToken), slog.Int64("term", term.Token))
	log.Info("fleet refill creating")
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.CreateTimeout)
	defer cancel()
	s, err := p.api.Create(ctx, p.opts.Template, &lifecycle.CreateOptions{ClientToken: in.ClientToken})
	if err != nil {
		p.refillFailed(log, err)
		switch {
		case refused(err):
			p.dropIntent(in, p.node, term)
		case p.ctx.Err() == nil:
			// The outcome is unknown; the call has ended, so a lookup
			// settles it.
			p.resolve(term, in, true, false)
		}
		return
	}
	log.Info("fleet refill created", slog.String("sandbox", s.ID))
	s, err = p.waitRunning(ctx, s)
	if err != nil {
		p.refillFailed(log, err)
		if p.ctx.Err() == nil {
			p.abandon(in, p.node, s.ID)
		}
		return
	}
	p.publish(log, term, in, s)
}

// refillFailed counts and logs a failed refill create, and pauses refills
// after a 429.
func (p *Pool) refillFailed(log *slog.Logger, err error) {
	if p.ctx.Err() != nil {
		return
	}
	p.m.refillError(p.ctx)
	if d := retryAfter(err); d > 0 {
		p.mu.Lock()
		p.pauseUntil = later(p.pauseUntil, time.Now().Add(d))
		p.mu.Unlock()
		log.Warn("fleet refill rate-limited: pausing refills", slog.Duration("for", d), slog.Any("error", err))
		return
	}
	log.Warn("fleet refill failed", slog.Any("error", err))
}

// publish makes s idle under intent in, fenced by term, and reports
// whether it did.
func (p *Pool) publish(log *slog.Logger, term Term, in Intent, s *lifecycle.Sandbox) bool {
	ctx, cancel := p.storeCtx()
	defer cancel()
	err := p.store.Publish(ctx, p.name, term, in.Slot, Item{SandboxID: s.ID, ExpiresAt: s.ExpiresAt}, p.renewAt(s.ExpiresAt))
	switch {
	case err == nil:
		log.Info("fleet published", slog.String("sandbox", s.ID))
		return true
	case errors.Is(err, ErrDestroyed):
		log.Info("fleet publish refused: pool destroyed; deleting", slog.String("sandbox", s.ID))
		if derr := p.deleteSandbox(ctx, s.ID); derr == nil {
			p.dropIntent(in, p.node, term)
		}
	case errors.Is(err, ErrFenced):
		log.Warn("fleet publish fenced: leadership lost; the next leader resolves the intent", slog.String("sandbox", s.ID))
	case errors.Is(err, ErrIntentGone):
		log.Info("fleet publish: the intent was resolved by another leader", slog.String("sandbox", s.ID))
	default:
		log.Warn("fleet publish failed; the intent stays for the leader", slog.String("sandbox", s.ID), slog.Any("error", err))
	}
	return false
}

// resolveIntents starts resolving the pending intents no goroutine of
// this node handles: left by a crashed or deposed leader, by a failed
// publish, or by a direct creation whose deadline passed.
func (p *Pool) resolveIntents(term Term, m *Maintenance) {
	started := 0
	for _, in := range m.Intents {
		if started >= p.opts.MaxCreating {
			return
		}
		pastDeadline := m.Now.After(in.Deadline)
		if in.Kind == IntentDirect && !pastDeadline {
			continue // its writer may still be creating
		}
		p.mu.Lock()
		if p.inflight[in.Slot] {
			p.mu.Unlock()
			continue
		}
		p.inflight[in.Slot] = true
		p.mu.Unlock()
		started++
		ok := p.goBackground(func() {
			defer func() {
				p.mu.Lock()
				delete(p.inflight, in.Slot)
				p.mu.Unlock()
			}()
			p.resolve(term, in, pastDeadline, m.Destroyed)
		})
		if !ok {
			p.mu.Lock()
			delete(p.inflight, in.Slot)
			p.mu.Unlock()
			return
		}
	}
}

// resolve settles one intent by looking its client token up: a sandbox
// found is adopted into the idle set (or deleted when it failed or the
// pool is destroyed); with nothing found the intent is dropped once its
// writer's create call has ended for sure (writerDone).
func (p *Pool) resolve(term Term, in Intent, writerDone, destroyed bool) {
	log := p.log.With(slog.Int64("slot", in.Slot), slog.String("token", in.ClientToken), slog.String("kind", string(in.Kind)),
		slog.Int64("term", term.Token), slog.Int64("intent_term", in.Term))
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.CreateTimeout)
	defer cancel()
	found, err := p.lookup(ctx, in.ClientToken)
	if err != nil {
		if p.ctx.Err() == nil {
			log.Warn("fleet intent lookup failed", slog.Any("error", err))
		}
		return
	}
	if len(found) == 0 {
		if writerDone {
			p.dropIntent(in, p.node, term)
			log.Info("fleet intent dropped: nothing was created")
		}
		return
	}
	keep := found[0]
	for _, dup := range found[1:] { // a token made two sandboxes: keep the oldest
		if err := p.deleteSandbox(ctx, dup.ID); err != nil {
			log.Warn("fleet intent: deleting a duplicate failed (the reaper retries)", slog.String("sandbox", dup.ID), slog.Any("error", err))
		}
	}
	if destroyed || keep.Status.State.Terminal() {
		if err := p.deleteSandbox(ctx, keep.ID); err != nil {
			log.Warn("fleet intent: deleting failed", slog.String("sandbox", keep.ID), slog.Any("error", err))
			return
		}
		p.dropIntent(in, p.node, term)
		log.Info("fleet intent resolved: deleted", slog.String("sandbox", keep.ID), slog.String("state", string(keep.Status.State)))
		return
	}
	s, err := p.waitRunning(ctx, keep)
	if err != nil {
		if p.ctx.Err() != nil {
			return
		}
		log.Warn("fleet intent: sandbox did not become Running; deleting", slog.String("sandbox", keep.ID), slog.Any("error", err))
		if err := p.deleteSandbox(ctx, keep.ID); err == nil {
			p.dropIntent(in, p.node, term)
		}
		return
	}
	if p.publish(log, term, in, s) {
		log.Info("fleet intent adopted", slog.String("sandbox", s.ID))
	}
}

// lookup returns the live sandboxes of this pool holding a client token,
// oldest first.
func (p *Pool) lookup(ctx context.Context, token string) ([]*lifecycle.Sandbox, error) {
	page, err := p.api.List(ctx, &lifecycle.ListOptions{
		Metadata: map[string]string{lifecycle.ClientTokenKey: token, PoolLabel: p.name}, PageSize: 10})
	if err != nil {
		return nil, err
	}
	var found []*lifecycle.Sandbox
	for _, s := range page.Items {
		st := s.Status.State
		if s.Metadata[lifecycle.ClientTokenKey] != token || st == lifecycle.StateStopping || st == lifecycle.StateTerminated {
			continue
		}
		found = append(found, s)
	}
	slices.SortFunc(found, func(a, b *lifecycle.Sandbox) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return found, nil
}

// deleteDoomed deletes doomed sandboxes in the background (a few at a
// time) and forgets them once deleted.
func (p *Pool) deleteDoomed(ids []string) {
	for _, id := range ids {
		p.mu.Lock()
		if p.deleting[id] {
			p.mu.Unlock()
			continue
		}
		p.deleting[id] = true
		p.mu.Unlock()
		unmark := func() {
			p.mu.Lock()
			delete(p.deleting, id)
			p.mu.Unlock()
		}
		ok := p.goBackground(func() {
			defer unmark()
			select {
			case p.deletes <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			defer func() { <-p.deletes }()
			ctx, cancel := p.storeCtx()
			defer cancel()
			forgotten, err := p.deleteAndForget(ctx, id)
			switch {
			case err != nil:
				if p.ctx.Err() == nil {
					p.log.Warn("fleet: deleting a doomed sandbox failed (retried next tick)", slog.String("sandbox", id), slog.Any("error", err))
				}
			case forgotten:
				p.log.Info("fleet deleted doomed sandbox", slog.String("sandbox", id))
			default:
				p.log.Debug("fleet: doomed sandbox deletion under way (checked again next tick)", slog.String("sandbox", id))
			}
		})
		if !ok {
			unmark()
			return
		}
	}
}

// maybeReap starts a reaper pass when one is due.
func (p *Pool) maybeReap() {
	if p.opts.ReapInterval < 0 {
		return
	}
	p.mu.Lock()
	if p.reaping || (!p.lastReap.IsZero() && time.Since(p.lastReap) < p.opts.ReapInterval) {
		p.mu.Unlock()
		return
	}
	p.reaping, p.lastReap = true, time.Now()
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		p.reaping = false
		p.mu.Unlock()
	}
	ok := p.goBackground(func() {
		defer done()
		ctx, cancel := context.WithTimeout(p.ctx, max(p.opts.ReapInterval, StoreTimeout))
		defer cancel()
		if _, err := p.Reap(ctx); err != nil && p.ctx.Err() == nil {
			p.log.Warn("fleet reaper failed", slog.Any("error", err))
		}
	})
	if !ok {
		done()
	}
}

// reapChunk is how many sandboxes one Known call checks.
const reapChunk = 200

// Reap looks once for orphans — sandboxes labelled with the pool
// ([PoolLabel]) that the pool neither holds idle or leased, nor has
// doomed, nor is creating under a pending intent — and deletes them. It
// returns how many it deleted. The leader runs it every ReapInterval;
// call it yourself for an immediate sweep (after Destroy, or from an
// operator's tool). Sandboxes already Stopping or Terminated are left
// alone.
//
// Without a deadline on ctx it gives up after 6×[StoreTimeout].
//
// GET /sandboxes?metadata=..., then DELETE /sandboxes/{sandboxId}
func (p *Pool) Reap(ctx context.Context) (int, error) {
	ctx, cancel := defaultTimeout(ctx, 6*StoreTimeout)
	defer cancel()
	var refs []SandboxRef
	opts := &lifecycle.ListOptions{Metadata: map[string]string{PoolLabel: p.name}, PageSize: 200}
	for page := 1; ; page++ {
		opts.Page = page
		pg, err := p.api.List(ctx, opts)
		if err != nil {
			return 0, glue.Wrap(ctx, "fleet.Reap", err)
		}
		for _, s := range pg.Items {
			if st := s.Status.State; st == lifecycle.StateStopping || st == lifecycle.StateTerminated || s.Metadata[PoolLabel] != p.name {
				continue
			}
			refs = append(refs, SandboxRef{ID: s.ID, ClientToken: s.ClientToken()})
		}
		if !pg.HasNextPage || len(pg.Items) == 0 {
			break
		}
	}
	deleted := 0
	var errs []error
	for chunk := range slices.Chunk(refs, reapChunk) {
		known, err := p.store.Known(ctx, p.name, chunk)
		if err != nil {
			return deleted, glue.Wrap(ctx, "fleet.Reap", err)
		}
		for i, r := range chunk {
			if known[i] {
				continue
			}
			ended, err := p.deleteSandboxIfLive(ctx, r.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("deleting orphan %s: %w", r.ID, err))
				continue
			}
			if !ended {
				continue // deleted meanwhile by its owner
			}
			deleted++
			p.m.orphan(ctx)
			p.log.Info("fleet orphan deleted", slog.String("sandbox", r.ID), slog.String("token", r.ClientToken))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return deleted, glue.Wrap(ctx, "fleet.Reap", err)
	}
	return deleted, nil
}
