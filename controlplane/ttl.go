package controlplane

import (
	"context"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// DefaultMaxConflictRetries is how many times the lifetime methods re-read
// and retry after a concurrent-update conflict (409) when
// [LifetimeOptions.MaxConflictRetries] is zero.
const DefaultMaxConflictRetries = 5

// LifetimeOptions configures [Client.SetTTL], [Client.SetExpirationPolicies]
// and [Client.ExtendTTL].
//
// The three are read-modify-write cycles: they read the sandbox, change
// only the lifetime settings in what they read, and write the whole
// definition back, including every field this package does not know. The
// service documents no concurrency control; this package treats a 409
// answer to the write as "someone else changed the sandbox in between" and
// starts over from a fresh read, up to MaxConflictRetries times, with a
// short jittered pause. A write that races a writer the service does not
// report (last writer wins) cannot be detected.
type LifetimeOptions struct {
	// AllowShorten lets SetTTL and SetExpirationPolicies tighten a limit:
	// lower the maximum age, shorten the idle time, bring the date
	// forward, or add a kind of limit the sandbox did not have (no limit
	// counts as forever). Without it they fail with
	// [ErrShortensLifetime]. ExtendTTL never shortens and ignores it.
	AllowShorten bool
	// MaxConflictRetries is how many times a conflicting write is retried
	// ([DefaultMaxConflictRetries] if zero, none if negative).
	MaxConflictRetries int
}

func (o *LifetimeOptions) allowShorten() bool { return o != nil && o.AllowShorten }

func (o *LifetimeOptions) retries() int {
	switch {
	case o == nil || o.MaxConflictRetries == 0:
		return DefaultMaxConflictRetries
	case o.MaxConflictRetries < 0:
		return 0
	}
	return o.MaxConflictRetries
}

// SetTTL sets the maximum age of the sandbox called name: it is deleted
// ttl after its creation. It writes spec.runtime.ttl and gives every
// ttl-max-age policy the same value; ttl is rounded up to a whole minute
// (see [FormatDuration]). Zero removes the maximum age (runtime.ttl and
// every ttl-max-age policy). Lowering the maximum age, or setting one where
// there was none, fails with [ErrShortensLifetime] unless
// opts.AllowShorten is set.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName}
func (c *Client) SetTTL(ctx context.Context, name string, ttl time.Duration, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.SetTTL"
	if ttl < 0 {
		return nil, client.Wrap(ctx, op, invalid("ttl", ttl.String(), "must not be negative (zero removes the TTL)"))
	}
	value := ""
	if ttl > 0 {
		value = FormatDuration(ttl)
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, _ time.Time) (bool, error) {
		before := limitsOf(&sb.Spec)
		changed := false
		if rt := sb.Spec.Runtime; rt != nil || value != "" {
			if rt == nil {
				rt = &Runtime{}
				sb.Spec.Runtime = rt
			}
			changed = rt.TTL != value
			rt.TTL = value
		}
		if lc := sb.Spec.Lifecycle; lc != nil {
			kept := lc.ExpirationPolicies[:0:0]
			for _, p := range lc.ExpirationPolicies {
				if p.Type == PolicyTTLMaxAge {
					if value == "" {
						changed = true
						continue
					}
					changed = changed || p.Value != value
					p.Value = value
				}
				kept = append(kept, p)
			}
			if lc.ExpirationPolicies != nil {
				lc.ExpirationPolicies = kept
			}
		}
		return changed, checkShorten(before, limitsOf(&sb.Spec), opts)
	})
}

// SetExpirationPolicies replaces the expiration policies of the sandbox
// called name (spec.lifecycle.expirationPolicies); none removes them all.
// The policies are checked before anything is sent: a documented type, a
// duration such as "24h" or "7d" for the ttl types (see [ParseDuration]),
// an RFC 3339 time for date, and the delete action or none. New policies
// that could have the sandbox deleted sooner than the old ones (a lower
// maximum age, a shorter idle time, an earlier date, or a kind of limit
// that was not there) fail with [ErrShortensLifetime] unless
// opts.AllowShorten is set.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName}
func (c *Client) SetExpirationPolicies(ctx context.Context, name string, policies []ExpirationPolicy, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.SetExpirationPolicies"
	if err := validatePolicies(policies); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	policies = slices.Clone(policies)
	if policies == nil {
		policies = []ExpirationPolicy{}
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, _ time.Time) (bool, error) {
		before := limitsOf(&sb.Spec)
		lc := sb.Spec.Lifecycle
		if lc == nil {
			if len(policies) == 0 {
				return false, nil
			}
			lc = &Lifecycle{}
			sb.Spec.Lifecycle = lc
		}
		changed := !slices.EqualFunc(lc.ExpirationPolicies, policies, samePolicy)
		lc.ExpirationPolicies = policies
		return changed, checkShorten(before, limitsOf(&sb.Spec), opts)
	})
}

// ExtendTTL makes sure the sandbox called name lives at least atLeast
// from now. Each limit that would delete it sooner is pushed out just far
// enough: runtime.ttl and ttl-max-age policies (counted from the creation
// time), ttl-idle policies (counted from the last use), and
// runtime.expires and date policies. Durations are rounded up to a whole
// minute and times to a whole second. Limits that already reach far
// enough are left alone, so the remaining lifetime only grows; a sandbox
// without limits is returned unchanged, without a write. "Now" is the
// local clock's. When the service reports no creation time, atLeast is
// added to runtime.ttl and the ttl-max-age policies.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName} if
// anything changes
func (c *Client) ExtendTTL(ctx context.Context, name string, atLeast time.Duration, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.ExtendTTL"
	if atLeast <= 0 {
		return nil, client.Wrap(ctx, op, invalid("extension", atLeast.String(), "must be positive"))
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, now time.Time) (bool, error) {
		target := now.Add(atLeast)
		changed := false
		raise := func(value string, base time.Time) string {
			d, err := ParseDuration(value)
			if err != nil {
				return value // not ours to interpret
			}
			var nd time.Duration
			if base.IsZero() {
				nd = d + atLeast
			} else if base.Add(d).Before(target) {
				nd = target.Sub(base)
			} else {
				return value
			}
			changed = true
			return FormatDuration(nd)
		}
		raiseTime := func(t time.Time) time.Time {
			if t.IsZero() || !t.Before(target) {
				return t
			}
			changed = true
			return ceilSecond(target)
		}
		created := sb.Metadata.CreatedAt
		idleBase := firstNonZero(sb.LastUsedAt, created, now)
		if rt := sb.Spec.Runtime; rt != nil {
			if rt.TTL != "" {
				rt.TTL = raise(rt.TTL, created)
			}
			rt.Expires = raiseTime(rt.Expires)
		}
		if lc := sb.Spec.Lifecycle; lc != nil {
			for i := range lc.ExpirationPolicies {
				p := &lc.ExpirationPolicies[i]
				switch p.Type {
				case PolicyTTLMaxAge:
					p.Value = raise(p.Value, created)
				case PolicyTTLIdle:
					p.Value = raise(p.Value, idleBase)
				case PolicyDate:
					if t, err := time.Parse(time.RFC3339Nano, p.Value); err == nil {
						if nt := raiseTime(t); !nt.Equal(t) {
							p.Value = formatTime(nt)
						}
					}
				}
			}
		}
		return changed, nil
	})
}

// modify runs a read-modify-write cycle on the sandbox called name,
// starting over after a 409 on the write. mutate changes the sandbox it
// is given and reports whether anything changed; nothing is written when
// nothing did.
func (c *Client) modify(ctx context.Context, op, name string, opts *LifetimeOptions, mutate func(sb *Sandbox, now time.Time) (bool, error)) (*Sandbox, error) {
	if err := validateName(name); err != nil {
		return nil, client.Wrap(ctx, op, err)
	}
	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, name, nil)
		if err != nil {
			return nil, client.Wrap(ctx, op, err)
		}
		if cur.Status.gone() {
			return nil, client.Wrap(ctx, op, stateError(cur, "a sandbox that is not being deleted"))
		}
		changed, err := mutate(cur, time.Now())
		if err != nil {
			return nil, client.Wrap(ctx, op, err)
		}
		if !changed {
			return cur, nil
		}
		out, err := c.update(ctx, op, cur)
		if err == nil || !isConflict(err) || attempt >= opts.retries() {
			return out, err
		}
		t := time.NewTimer(poll.Delay(50*time.Millisecond, time.Second, attempt+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, client.Wrap(ctx, op, ctx.Err())
		case <-t.C:
		}
	}
}

// limits are a sandbox's lifetime settings by kind; zero means none.
type limits struct {
	maxAge time.Duration // runtime.ttl and ttl-max-age policies
	idle   time.Duration // ttl-idle policies
	date   time.Time     // runtime.expires and date policies
}

// limitsOf collects the tightest limit of each kind. Values that do not
// parse are ignored.
func limitsOf(s *Spec) limits {
	var l limits
	dur := func(cur *time.Duration, value string) {
		if d, err := ParseDuration(value); err == nil && (*cur == 0 || d < *cur) {
			*cur = d
		}
	}
	date := func(t time.Time) {
		if !t.IsZero() && (l.date.IsZero() || t.Before(l.date)) {
			l.date = t
		}
	}
	if rt := s.Runtime; rt != nil {
		dur(&l.maxAge, rt.TTL)
		date(rt.Expires)
	}
	if lc := s.Lifecycle; lc != nil {
		for _, p := range lc.ExpirationPolicies {
			switch p.Type {
			case PolicyTTLMaxAge:
				dur(&l.maxAge, p.Value)
			case PolicyTTLIdle:
				dur(&l.idle, p.Value)
			case PolicyDate:
				if t, err := time.Parse(time.RFC3339Nano, p.Value); err == nil {
					date(t)
				}
			}
		}
	}
	return l
}

// checkShorten refuses a change of limits that would let the service
// delete the sandbox sooner in some circumstance — a lower maximum age, a
// shorter idle time, an earlier date, or any of them where there was none
// — unless the options allow it. Kinds are compared one by one because an
// idle deadline moves with use: a lower maximum age can matter later even
// when an idle policy fires first today.
func checkShorten(before, after limits, opts *LifetimeOptions) error {
	shorterDur := func(b, a time.Duration) bool { return a != 0 && (b == 0 || a < b) }
	shorter := shorterDur(before.maxAge, after.maxAge) || shorterDur(before.idle, after.idle) ||
		(!after.date.IsZero() && (before.date.IsZero() || after.date.Before(before.date)))
	if shorter && !opts.allowShorten() {
		return ErrShortensLifetime
	}
	return nil
}

// samePolicy compares the modelled fields of two policies.
func samePolicy(a, b ExpirationPolicy) bool {
	return a.Type == b.Type && a.Value == b.Value && a.Action == b.Action
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
