package fleet

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// renewBatch is how many due renewals a node claims at once;
// renewWorkers how many it runs at once.
const (
	renewBatch   = 16
	renewWorkers = 4
)

// renewLoop takes part in the fleet's renewals: every RenewInterval it
// claims due renewals from the store and performs them. A claim lasts
// ClaimTTL; if this node dies holding it, the renewal comes due again
// for another node.
func (p *Pool) renewLoop() {
	defer p.wg.Done()
	t := time.NewTimer(p.opts.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		for p.renewOnce() == renewBatch && p.ctx.Err() == nil {
		}
		t.Reset(p.opts.RenewInterval)
	}
}

// renewOnce claims and performs one batch; it returns the batch's size.
func (p *Pool) renewOnce() int {
	ctx, cancel := p.storeCtx()
	claims, err := p.store.ClaimRenewals(ctx, p.name, p.node, renewBatch, p.opts.ClaimTTL)
	cancel()
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("fleet: claiming renewals failed", slog.Any("error", err))
		}
		return 0
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, renewWorkers)
	for _, c := range claims {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.renewClaim(c)
		})
	}
	wg.Wait()
	return len(claims)
}

// renewClaim performs one claimed renewal and completes the claim. On
// failure the claim is left to lapse, so the renewal comes back.
func (p *Pool) renewClaim(c RenewalClaim) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.ClaimTTL/2)
	defer cancel()
	res, err := p.renewSandbox(ctx, c.SandboxID)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("fleet renewal failed (retried after the claim lapses)", slog.String("sandbox", c.SandboxID), slog.Any("error", err))
		}
		return
	}
	sctx, scancel := p.storeCtx()
	defer scancel()
	ok, err := p.store.CompleteRenewal(sctx, p.name, c, res)
	switch {
	case err != nil:
		if p.ctx.Err() == nil {
			p.log.Warn("fleet: completing a renewal failed", slog.String("sandbox", c.SandboxID), slog.Any("error", err))
		}
	case !ok:
		p.log.Info("fleet renewal claim had lapsed", slog.String("sandbox", c.SandboxID))
	case res.Gone:
		p.log.Info("fleet renewal: sandbox gone", slog.String("sandbox", c.SandboxID))
	}
}

// renewSandbox reads a sandbox and, when its expiry is within
// RenewMargin, renews it to max(expiry, now) + RenewExtension: always
// later than the expiry it read, so a renewal never shortens a life.
//
// GET /sandboxes/{sandboxId}, POST /sandboxes/{sandboxId}/renew-expiration
func (p *Pool) renewSandbox(ctx context.Context, id string) (RenewalResult, error) {
	s, err := p.api.Get(ctx, id)
	if errors.Is(err, sandboxkit.ErrNotFound) {
		return RenewalResult{Gone: true}, nil
	}
	if err != nil {
		return RenewalResult{}, err
	}
	if st := s.Status.State; st == lifecycle.StateStopping || st.Terminal() {
		return RenewalResult{Gone: true}, nil
	}
	now := time.Now()
	cur := s.ExpiresAt
	if cur.IsZero() { // nothing to renew; look again later
		return RenewalResult{Next: now.Add(p.opts.RenewExtension)}, nil
	}
	if cur.Sub(now) > p.opts.RenewMargin { // renewed by someone else
		return RenewalResult{ExpiresAt: cur, Next: p.renewAt(cur)}, nil
	}
	got, err := p.api.Renew(ctx, id, later(cur, now).Add(p.opts.RenewExtension))
	if errors.Is(err, sandboxkit.ErrNotFound) {
		return RenewalResult{Gone: true}, nil
	}
	if err != nil {
		return RenewalResult{}, err
	}
	p.m.renewed(ctx)
	p.log.Debug("fleet renewed", slog.String("sandbox", id), slog.Time("from", cur), slog.Time("to", got))
	return RenewalResult{ExpiresAt: got, Next: p.renewAt(got)}, nil
}
