package fleet

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MemoryStoreOptions tunes a [MemoryStore].
type MemoryStoreOptions struct {
	// Now is the store's clock; nil means time.Now (which inside a
	// testing/synctest bubble is the bubble's clock).
	Now func() time.Time
}

// MemoryStore is a [Store] in the memory of one process: the default of
// [Options.Store]. Several [Pool] values in one process (one per
// goroutine group, or in tests one per simulated node) share pools by
// sharing one MemoryStore; other processes cannot. It is safe for
// concurrent use.
type MemoryStore struct {
	now   func() time.Time
	mu    sync.Mutex
	pools map[string]*memPool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store. opts may be nil.
func NewMemoryStore(opts *MemoryStoreOptions) *MemoryStore {
	s := &MemoryStore{now: time.Now, pools: map[string]*memPool{}}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

type memPool struct {
	target    int
	hasTarget bool
	destroyed bool
	seq       int64 // last intent slot
	fence     int64 // last fencing token
	claimSeq  int64

	lockOwner string
	lockToken int64
	lockExp   time.Time

	exp      map[string]time.Time // idle and leased sandboxes → expiry
	idle     map[string]time.Time // idle sandboxes → expiry
	leases   map[string]*memLease
	doomed   map[string]bool
	intents  map[int64]*Intent
	tokens   map[string]int64 // client token → slot
	renewals map[string]time.Time
	claims   map[string]string
}

type memLease struct {
	box, holder string
	exp         time.Time
}

// pool returns the named pool, creating it empty. The caller holds s.mu.
func (s *MemoryStore) pool(name string) *memPool {
	p := s.pools[name]
	if p == nil {
		p = &memPool{
			exp: map[string]time.Time{}, idle: map[string]time.Time{}, leases: map[string]*memLease{},
			doomed: map[string]bool{}, intents: map[int64]*Intent{}, tokens: map[string]int64{},
			renewals: map[string]time.Time{}, claims: map[string]string{},
		}
		s.pools[name] = p
	}
	return p
}

// do runs f on the named pool under the lock, with the store's time
// truncated to milliseconds (the resolution of the Redis store).
func (s *MemoryStore) do(ctx context.Context, pool string, f func(p *memPool, now time.Time) error) error {
	if err := checkStoreArgs(pool); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return f(s.pool(pool), s.now().Truncate(time.Millisecond))
}

func (p *memPool) leading(t Term, now time.Time) bool {
	return t.Node != "" && p.lockOwner == t.Node && p.lockToken == t.Token && p.lockExp.After(now)
}

// doom moves a sandbox out of the idle and leased bookkeeping into the
// doomed set.
func (p *memPool) doom(id string) {
	delete(p.idle, id)
	delete(p.exp, id)
	delete(p.renewals, id)
	delete(p.claims, id)
	p.doomed[id] = true
}

func (p *memPool) removeIntent(slot int64) {
	if in := p.intents[slot]; in != nil {
		delete(p.tokens, in.ClientToken)
		delete(p.intents, slot)
	}
}

func (p *memPool) countIntents(kind IntentKind, now time.Time, liveOnly bool) int {
	n := 0
	for _, in := range p.intents {
		if in.Kind == kind && (!liveOnly || in.Deadline.After(now)) {
			n++
		}
	}
	return n
}

func (p *memPool) liveLeases(now time.Time) int {
	n := 0
	for _, l := range p.leases {
		if l.exp.After(now) {
			n++
		}
	}
	return n
}

func (p *memPool) stats(now time.Time) Stats {
	st := Stats{
		Target: p.target, Destroyed: p.destroyed, Idle: len(p.idle), Leased: len(p.leases),
		Pending: p.countIntents(IntentRefill, now, false), Direct: p.countIntents(IntentDirect, now, false),
		Doomed: len(p.doomed), Now: now,
	}
	if p.lockOwner != "" && p.lockExp.After(now) {
		st.Leader = Term{Node: p.lockOwner, Token: p.lockToken, Expires: p.lockExp}
	}
	return st
}

// Init implements [Store.Init].
func (s *MemoryStore) Init(ctx context.Context, pool string, size int) error {
	if err := checkSize(size); err != nil {
		return err
	}
	return s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		if !p.hasTarget && !p.destroyed {
			p.target, p.hasTarget = size, true
		}
		return nil
	})
}

// Resize implements [Store.Resize].
func (s *MemoryStore) Resize(ctx context.Context, pool string, size int) error {
	if err := checkSize(size); err != nil {
		return err
	}
	return s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		if p.destroyed {
			return ErrDestroyed
		}
		p.target, p.hasTarget = size, true
		return nil
	})
}

// Destroy implements [Store.Destroy].
func (s *MemoryStore) Destroy(ctx context.Context, pool string) error {
	return s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		p.destroyed, p.target, p.hasTarget = true, 0, true
		for id := range p.idle {
			p.doom(id)
		}
		return nil
	})
}

// Stats implements [Store.Stats].
func (s *MemoryStore) Stats(ctx context.Context, pool string) (*Stats, error) {
	var st Stats
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		st = p.stats(now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Snapshot implements [Store.Snapshot].
func (s *MemoryStore) Snapshot(ctx context.Context, pool string) (*Snapshot, error) {
	var snap Snapshot
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		snap.Stats = p.stats(now)
		for _, it := range memIdleByExpiry(p) {
			snap.Idle = append(snap.Idle, Item{SandboxID: it.SandboxID, ExpiresAt: loadExp(it.ExpiresAt)})
		}
		for id, l := range p.leases {
			snap.Leases = append(snap.Leases, LeaseInfo{ID: id, SandboxID: l.box, Holder: l.holder, Expires: l.exp})
		}
		slices.SortFunc(snap.Leases, func(a, b LeaseInfo) int { return cmp.Compare(a.ID, b.ID) })
		for _, in := range p.intents {
			snap.Intents = append(snap.Intents, *in)
		}
		slices.SortFunc(snap.Intents, func(a, b Intent) int { return cmp.Compare(a.Slot, b.Slot) })
		snap.Doomed = slices.Sorted(maps.Keys(p.doomed))
		snap.Renewals = maps.Clone(p.renewals)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &snap, nil
}

// Campaign implements [Store.Campaign].
func (s *MemoryStore) Campaign(ctx context.Context, pool, node string, ttl time.Duration) (Term, bool, error) {
	if err := validateNodeName("node", node); err != nil {
		return Term{}, false, err
	}
	if err := checkTTL("leader TTL", ttl); err != nil {
		return Term{}, false, err
	}
	var (
		term Term
		ok   bool
	)
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		switch {
		case p.lockOwner == node && p.lockExp.After(now):
			p.lockExp = now.Add(ttl.Truncate(time.Millisecond))
			ok = true
		case p.lockOwner == "" || !p.lockExp.After(now):
			p.fence++
			p.lockOwner, p.lockToken, p.lockExp = node, p.fence, now.Add(ttl.Truncate(time.Millisecond))
			ok = true
		}
		term = Term{Node: p.lockOwner, Token: p.lockToken, Expires: p.lockExp}
		return nil
	})
	return term, ok, err
}

// Resign implements [Store.Resign].
func (s *MemoryStore) Resign(ctx context.Context, pool string, term Term) error {
	return s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		if p.lockOwner == term.Node && p.lockToken == term.Token {
			p.lockOwner, p.lockExp = "", time.Time{}
		}
		return nil
	})
}

// Maintain implements [Store.Maintain].
func (s *MemoryStore) Maintain(ctx context.Context, pool string, term Term) (*Maintenance, error) {
	var m Maintenance
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		if !p.leading(term, now) {
			return ErrFenced
		}
		for id, l := range p.leases {
			if !l.exp.After(now) {
				delete(p.leases, id)
				p.doom(l.box)
				m.Reclaimed++
			}
		}
		for _, it := range memIdleByExpiry(p) {
			if p.destroyed || !it.ExpiresAt.After(now) {
				p.doom(it.SandboxID)
				m.Trimmed++
			}
		}
		if excess := len(p.idle) - p.target; excess > 0 {
			for _, it := range memIdleByExpiry(p)[:excess] {
				p.doom(it.SandboxID)
				m.Trimmed++
			}
		}
		m.Stats = p.stats(now)
		for _, id := range slices.Sorted(maps.Keys(p.doomed)) {
			if len(m.Doomed) == MaxDoomedPerStep {
				break
			}
			m.Doomed = append(m.Doomed, id)
		}
		for _, in := range p.intents {
			m.Intents = append(m.Intents, *in)
		}
		slices.SortFunc(m.Intents, func(a, b Intent) int { return cmp.Compare(a.Slot, b.Slot) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func memIdleByExpiry(p *memPool) []Item {
	items := make([]Item, 0, len(p.idle))
	for id, exp := range p.idle {
		items = append(items, Item{SandboxID: id, ExpiresAt: exp})
	}
	slices.SortFunc(items, func(a, b Item) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.SandboxID, b.SandboxID))
	})
	return items
}

// AddIntent implements [Store.AddIntent].
func (s *MemoryStore) AddIntent(ctx context.Context, pool string, req IntentRequest) (Intent, error) {
	if err := req.validate(); err != nil {
		return Intent{}, err
	}
	var in Intent
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		if p.destroyed {
			return ErrDestroyed
		}
		switch req.Kind {
		case IntentRefill:
			if !p.leading(req.Term, now) {
				return ErrFenced
			}
		case IntentDirect:
			if req.Cap > 0 && p.liveLeases(now)+p.countIntents(IntentDirect, now, true) >= req.Cap {
				return ErrAtCapacity
			}
		}
		if _, dup := p.tokens[req.ClientToken]; dup {
			return errDuplicateToken(req.ClientToken)
		}
		p.seq++
		in = Intent{Slot: p.seq, Kind: req.Kind, Owner: req.Owner, ClientToken: req.ClientToken,
			Deadline: now.Add(req.TTL.Truncate(time.Millisecond))}
		if req.Kind == IntentRefill {
			in.Term = req.Term.Token
		}
		p.intents[in.Slot] = &in
		p.tokens[in.ClientToken] = in.Slot
		return nil
	})
	return in, err
}

// Publish implements [Store.Publish].
func (s *MemoryStore) Publish(ctx context.Context, pool string, term Term, slot int64, item Item, renewAt time.Time) error {
	if err := item.validate(); err != nil {
		return err
	}
	return s.do(ctx, pool, func(p *memPool, now time.Time) error {
		switch {
		case !p.leading(term, now):
			return ErrFenced
		case p.destroyed:
			return ErrDestroyed
		case p.intents[slot] == nil:
			return ErrIntentGone
		}
		p.removeIntent(slot)
		exp := storeExp(item.ExpiresAt)
		p.exp[item.SandboxID] = exp
		p.idle[item.SandboxID] = exp
		p.renewals[item.SandboxID] = renewAt.Truncate(time.Millisecond)
		return nil
	})
}

// DropIntent implements [Store.DropIntent].
func (s *MemoryStore) DropIntent(ctx context.Context, pool string, slot int64, owner string, term Term) error {
	return s.do(ctx, pool, func(p *memPool, now time.Time) error {
		in := p.intents[slot]
		switch {
		case in == nil:
			return nil
		case (owner == "" || in.Owner != owner) && !p.leading(term, now):
			return ErrFenced
		}
		p.removeIntent(slot)
		return nil
	})
}

// Take implements [Store.Take].
func (s *MemoryStore) Take(ctx context.Context, pool string, req TakeRequest) (*Taken, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var t *Taken
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		switch {
		case p.destroyed:
			return ErrDestroyed
		case req.Cap > 0 && p.liveLeases(now)+p.countIntents(IntentDirect, now, true) >= req.Cap:
			return ErrAtCapacity
		case p.leases[req.LeaseID] != nil:
			return errDuplicateLease(req.LeaseID)
		}
		floor := now.Add(req.MinRemaining.Truncate(time.Millisecond))
		var best *Item
		for id, exp := range p.idle {
			if exp.Before(floor) {
				continue
			}
			if best == nil || exp.After(best.ExpiresAt) || (exp.Equal(best.ExpiresAt) && id > best.SandboxID) {
				best = &Item{SandboxID: id, ExpiresAt: exp}
			}
		}
		if best == nil {
			return ErrEmpty
		}
		delete(p.idle, best.SandboxID)
		best.ExpiresAt = loadExp(best.ExpiresAt)
		t = &Taken{Item: *best, LeaseExpires: now.Add(req.TTL.Truncate(time.Millisecond))}
		p.leases[req.LeaseID] = &memLease{box: best.SandboxID, holder: req.Holder, exp: t.LeaseExpires}
		return nil
	})
	return t, err
}

// ClaimIntent implements [Store.ClaimIntent].
func (s *MemoryStore) ClaimIntent(ctx context.Context, pool string, slot int64, req TakeRequest, item Item, renewAt time.Time) (*Taken, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if err := item.validate(); err != nil {
		return nil, err
	}
	var t *Taken
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		in := p.intents[slot]
		switch {
		case in == nil || in.Kind != IntentDirect || in.Owner != req.LeaseID:
			return ErrIntentGone
		case p.destroyed:
			return ErrDestroyed
		case p.leases[req.LeaseID] != nil:
			return errDuplicateLease(req.LeaseID)
		}
		p.removeIntent(slot)
		exp := storeExp(item.ExpiresAt)
		t = &Taken{Item: Item{SandboxID: item.SandboxID, ExpiresAt: loadExp(exp)}, LeaseExpires: now.Add(req.TTL.Truncate(time.Millisecond))}
		p.leases[req.LeaseID] = &memLease{box: item.SandboxID, holder: req.Holder, exp: t.LeaseExpires}
		p.exp[item.SandboxID] = exp
		p.renewals[item.SandboxID] = renewAt.Truncate(time.Millisecond)
		return nil
	})
	return t, err
}

// Heartbeat implements [Store.Heartbeat].
func (s *MemoryStore) Heartbeat(ctx context.Context, pool, leaseID string, ttl time.Duration) (time.Time, error) {
	if err := checkTTL("lease TTL", ttl); err != nil {
		return time.Time{}, err
	}
	var exp time.Time
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		l := p.leases[leaseID]
		if l == nil || !l.exp.After(now) {
			return ErrLeaseLost
		}
		l.exp = now.Add(ttl.Truncate(time.Millisecond))
		exp = l.exp
		return nil
	})
	return exp, err
}

// Return implements [Store.Return].
func (s *MemoryStore) Return(ctx context.Context, pool, leaseID string, expiresAt, renewAt time.Time) (bool, error) {
	kept := false
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		l := p.leases[leaseID]
		if l == nil || !l.exp.After(now) {
			return ErrLeaseLost
		}
		delete(p.leases, leaseID)
		if p.destroyed || len(p.idle)+p.countIntents(IntentRefill, now, false) >= p.target {
			p.doom(l.box)
			return nil
		}
		exp := storeExp(expiresAt)
		p.exp[l.box] = exp
		p.idle[l.box] = exp
		p.renewals[l.box] = renewAt.Truncate(time.Millisecond)
		delete(p.claims, l.box)
		kept = true
		return nil
	})
	return kept, err
}

// Drop implements [Store.Drop].
func (s *MemoryStore) Drop(ctx context.Context, pool, leaseID string) (string, error) {
	var id string
	err := s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		l := p.leases[leaseID]
		if l == nil {
			return ErrLeaseLost
		}
		delete(p.leases, leaseID)
		p.doom(l.box)
		id = l.box
		return nil
	})
	return id, err
}

// Forget implements [Store.Forget].
func (s *MemoryStore) Forget(ctx context.Context, pool string, ids ...string) error {
	return s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		for _, id := range ids {
			delete(p.doomed, id)
		}
		return nil
	})
}

// ClaimRenewals implements [Store.ClaimRenewals].
func (s *MemoryStore) ClaimRenewals(ctx context.Context, pool, worker string, max int, ttl time.Duration) ([]RenewalClaim, error) {
	if err := validateNodeName("worker", worker); err != nil {
		return nil, err
	}
	if err := checkTTL("claim TTL", ttl); err != nil {
		return nil, err
	}
	var claims []RenewalClaim
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		type due struct {
			id string
			at time.Time
		}
		var dues []due
		for id, at := range p.renewals {
			if !at.After(now) {
				dues = append(dues, due{id, at})
			}
		}
		slices.SortFunc(dues, func(a, b due) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) })
		for _, d := range dues {
			if len(claims) >= max {
				break
			}
			if _, ok := p.exp[d.id]; !ok {
				delete(p.renewals, d.id)
				continue
			}
			p.claimSeq++
			c := RenewalClaim{SandboxID: d.id, Claim: worker + "#" + strconv.FormatInt(p.claimSeq, 10)}
			p.renewals[d.id] = now.Add(ttl.Truncate(time.Millisecond))
			p.claims[d.id] = c.Claim
			claims = append(claims, c)
		}
		return nil
	})
	return claims, err
}

// CompleteRenewal implements [Store.CompleteRenewal].
func (s *MemoryStore) CompleteRenewal(ctx context.Context, pool string, claim RenewalClaim, res RenewalResult) (bool, error) {
	ok := false
	err := s.do(ctx, pool, func(p *memPool, now time.Time) error {
		if c, has := p.claims[claim.SandboxID]; !has || c != claim.Claim {
			return nil
		}
		delete(p.claims, claim.SandboxID)
		ok = true
		if _, has := p.exp[claim.SandboxID]; !has {
			delete(p.renewals, claim.SandboxID)
			return nil
		}
		if res.Gone {
			delete(p.renewals, claim.SandboxID)
			if _, idle := p.idle[claim.SandboxID]; idle {
				p.doom(claim.SandboxID)
			}
			return nil
		}
		exp := storeExp(res.ExpiresAt)
		p.exp[claim.SandboxID] = exp
		if _, idle := p.idle[claim.SandboxID]; idle {
			p.idle[claim.SandboxID] = exp
		}
		p.renewals[claim.SandboxID] = res.Next.Truncate(time.Millisecond)
		return nil
	})
	return ok, err
}

// Known implements [Store.Known].
func (s *MemoryStore) Known(ctx context.Context, pool string, refs []SandboxRef) ([]bool, error) {
	known := make([]bool, len(refs))
	err := s.do(ctx, pool, func(p *memPool, _ time.Time) error {
		for i, r := range refs {
			_, held := p.exp[r.ID]
			_, pending := p.tokens[r.ClientToken]
			known[i] = held || p.doomed[r.ID] || (r.ClientToken != "" && pending)
		}
		return nil
	})
	return known, err
}

// storeExp is how an expiry is kept: to the millisecond (as in Redis),
// and far in the future for a sandbox without expiry.
func storeExp(t time.Time) time.Time {
	if t.IsZero() {
		return noExpiry
	}
	return t.Truncate(time.Millisecond)
}

func loadExp(t time.Time) time.Time {
	if !t.Before(noExpiry) {
		return time.Time{}
	}
	return t
}
