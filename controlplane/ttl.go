package controlplane

import (
	"context"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
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
	// AllowShorten lets SetTTL and SetExpirationPolicies tighten a limit
	// the sandbox has: lower the maximum age, shorten the idle time, bring
	// the date forward; or add a limit that is due already (a maximum age
	// the sandbox has passed, a date in the past), which has the service
	// delete it at once. Without it they fail with [ErrShortensLifetime]
	// and change nothing. Adding a kind of limit the sandbox did not have
	// is not shortening: it is what the call asks for. ExtendTTL never
	// shortens and ignores it.
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
// ttl after its creation, used or not. It writes spec.runtime.ttl and
// gives every ttl-max-age policy the same value; ttl is rounded up to a
// whole second (see [FormatDuration]). Zero removes the maximum age
// (runtime.ttl and every ttl-max-age policy); a negative ttl is an error
// matching [sandboxkit.ErrInvalidInput].
//
// Setting a maximum age on a sandbox that had none is allowed: no limit
// becoming a limit is what the call asks for, not a shortening. Lowering
// an existing maximum age, or setting one the sandbox is already older
// than (the service would delete it at once), fails with
// [ErrShortensLifetime] unless opts.AllowShorten is set.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName}
func (c *Client) SetTTL(ctx context.Context, name string, ttl time.Duration, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.SetTTL"
	if ttl < 0 {
		return nil, glue.Wrap(ctx, op, invalid("ttl", ttl.String(), "must not be negative (zero removes the TTL)"))
	}
	value := ""
	if ttl > 0 {
		var err error
		if value, err = FormatDuration(ttl); err != nil {
			return nil, glue.Wrap(ctx, op, err)
		}
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, now time.Time) (bool, error) {
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
		return changed, checkShorten(sb, before, limitsOf(&sb.Spec), now, opts)
	})
}

// SetExpirationPolicies replaces the expiration policies of the sandbox
// called name (spec.lifecycle.expirationPolicies); none removes them all.
// The policies are checked before anything is sent: a documented type, a
// duration such as "24h" or "7d" for the ttl types (see [ParseDuration]),
// an RFC 3339 time for date, and the delete action or none. Policies that
// tighten a limit the sandbox has (a lower maximum age, a shorter idle
// time, an earlier date) or that are due already fail with
// [ErrShortensLifetime] unless opts.AllowShorten is set; a kind of limit
// the sandbox did not have is allowed.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName}
func (c *Client) SetExpirationPolicies(ctx context.Context, name string, policies []ExpirationPolicy, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.SetExpirationPolicies"
	if err := validatePolicies(policies); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	policies = slices.Clone(policies)
	if policies == nil {
		policies = []ExpirationPolicy{}
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, now time.Time) (bool, error) {
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
		return changed, checkShorten(sb, before, limitsOf(&sb.Spec), now, opts)
	})
}

// ExtendTTL makes sure that no fixed deadline of the sandbox called name
// comes sooner than atLeast from now. Each one that would is pushed out
// just far enough, on its own: runtime.ttl and ttl-max-age policies
// (counted from the creation time), and runtime.expires and date
// policies. Durations are rounded up to a whole second and times to a
// whole second. Deadlines that already reach far enough are left alone,
// so the remaining lifetime only grows; a sandbox without fixed deadlines
// is returned unchanged, without a write.
//
// ttl-idle policies are left alone: they are not deadlines but a rule
// (delete after so long unused), which ExtendTTL does not rewrite. A
// sandbox with one still goes when it is left unused that long; change the
// rule itself with [Client.SetExpirationPolicies].
//
// "Now" is the local clock's. When the service reports no creation time,
// atLeast is added to runtime.ttl and the ttl-max-age policies.
//
// GET /sandboxes/{sandboxName}, then PUT /sandboxes/{sandboxName} if
// anything changes
func (c *Client) ExtendTTL(ctx context.Context, name string, atLeast time.Duration, opts *LifetimeOptions) (*Sandbox, error) {
	const op = "controlplane.ExtendTTL"
	if atLeast <= 0 {
		return nil, glue.Wrap(ctx, op, invalid("extension", atLeast.String(), "must be positive"))
	}
	return c.modify(ctx, op, name, opts, func(sb *Sandbox, now time.Time) (bool, error) {
		target := now.Add(atLeast)
		changed := false
		created := sb.Metadata.CreatedAt
		raise := func(value string) (string, error) {
			d, ok := readDuration(value)
			if !ok {
				return value, nil // not ours to interpret
			}
			var nd time.Duration
			switch {
			case created.IsZero():
				nd = d + atLeast
			case created.Add(d).Before(target):
				nd = target.Sub(created)
			default:
				return value, nil
			}
			v, err := FormatDuration(nd)
			if err != nil {
				return value, err
			}
			changed = true
			return v, nil
		}
		raiseTime := func(t time.Time) time.Time {
			if t.IsZero() || !t.Before(target) {
				return t
			}
			changed = true
			return ceilSecond(target)
		}
		if rt := sb.Spec.Runtime; rt != nil {
			if rt.TTL != "" {
				v, err := raise(rt.TTL)
				if err != nil {
					return false, err
				}
				rt.TTL = v
			}
			rt.Expires = raiseTime(rt.Expires)
		}
		if lc := sb.Spec.Lifecycle; lc != nil {
			for i := range lc.ExpirationPolicies {
				p := &lc.ExpirationPolicies[i]
				switch p.Type {
				case PolicyTTLMaxAge:
					v, err := raise(p.Value)
					if err != nil {
						return false, err
					}
					p.Value = v
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
		return nil, glue.Wrap(ctx, op, err)
	}
	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, name, nil)
		if err != nil {
			return nil, glue.Wrap(ctx, op, err)
		}
		if cur.Status.gone() {
			return nil, stateError(op, cur, "a status other than DELETING or TERMINATED")
		}
		changed, err := mutate(cur, time.Now())
		if err != nil {
			return nil, glue.Wrap(ctx, op, err)
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
			return nil, glue.Wrap(ctx, op, ctx.Err())
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
		if d, ok := readDuration(value); ok && (*cur == 0 || d < *cur) {
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

// checkShorten refuses, unless the options allow it, a change of limits
// that tightens a limit the sandbox has — a lower maximum age, a shorter
// idle time, an earlier date — or adds one that is due already: a
// maximum age the sandbox (created at sb's creation time) has reached,
// or a date not after now. A kind of limit that was absent may be added:
// no limit becoming a limit is what the caller asked for. Kinds are
// compared one by one because an idle deadline moves with use: a lower
// maximum age can matter later even when an idle policy fires first
// today.
func checkShorten(sb *Sandbox, before, after limits, now time.Time, opts *LifetimeOptions) error {
	if opts.allowShorten() {
		return nil
	}
	lower := func(b, a time.Duration) bool { return a != 0 && b != 0 && a < b }
	shorter := lower(before.maxAge, after.maxAge) || lower(before.idle, after.idle) ||
		(!after.date.IsZero() && !before.date.IsZero() && after.date.Before(before.date))
	created := sb.Metadata.CreatedAt
	due := (after.maxAge != 0 && after.maxAge != before.maxAge && !created.IsZero() && !created.Add(after.maxAge).After(now)) ||
		(!after.date.IsZero() && !after.date.Equal(before.date) && !after.date.After(now))
	if shorter || due {
		return ErrShortensLifetime
	}
	return nil
}

// samePolicy compares the modelled fields of two policies.
func samePolicy(a, b ExpirationPolicy) bool {
	return a.Type == b.Type && a.Value == b.Value && a.Action == b.Action
}
