package lifecycle

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Defaults of [RenewerOptions].
const (
	DefaultRenewExtension     = time.Hour
	DefaultRenewMargin        = 10 * time.Minute
	DefaultRenewMinRetryDelay = time.Second
	DefaultRenewMaxRetryDelay = time.Minute
)

// RenewerOptions tunes a [Renewer] or a [RenewerPool]. The zero value is
// usable: renew 10 minutes before expiry, by one hour.
//
// The schedule: the renewer reads the sandbox's current expiresAt (Get)
// and sleeps until expiresAt − Margin − a random jitter in [0, Jitter).
// Then it reads expiresAt again, and if that is still within reach it
// renews to max(expiresAt, now) + Extension. An expiry moved further away
// by someone else in the meantime is left alone, and the renewer never
// asks for an earlier expiry than the current one (extend-only). So each
// renewal adds Extension to the expiry, and a sandbox kept alive for a
// day with Extension 1h renews about 24 times.
//
// A service may grant less than asked (one that caps lifetimes). When a
// renewal comes back with an expiry already within Margin, the renewer
// does not renew again at once: it waits MinRetryDelay, doubling (with
// jitter) up to MaxRetryDelay while renewals keep coming back short, but
// never longer than half the time left before the expiry, and never less
// than MinRetryDelay or one second.
type RenewerOptions struct {
	// Extension is how far past max(current expiry, now) a renewal moves
	// the expiry ([DefaultRenewExtension] if zero).
	Extension time.Duration
	// Margin is how long before the expiry a renewal happens
	// ([DefaultRenewMargin] if zero). It must be shorter than Extension,
	// and long enough to cover a few retries of a failing renewal.
	Margin time.Duration
	// Jitter is the largest random amount by which a renewal is moved
	// earlier, so that many renewers started together spread out. Zero
	// means Margin/10; negative means none; at most Margin.
	Jitter time.Duration
	// MinRetryDelay is the first wait after an error or a renewal that
	// came back shorter than Margin ([DefaultRenewMinRetryDelay] if
	// zero); waits double, jittered, up to MaxRetryDelay.
	MinRetryDelay time.Duration
	// MaxRetryDelay caps the wait after errors
	// ([DefaultRenewMaxRetryDelay] if zero).
	MaxRetryDelay time.Duration
	// Retryable reports whether an error is worth another try; nil means
	// [sandboxkit.IsTransient]. A 409 or 400 answer to a renewal is always
	// retried (after a fresh read of the expiry): it usually means someone
	// else renewed or the state changed in between.
	Retryable func(error) bool
	// OnRenew, if set, is called after every successful renewal.
	OnRenew func(RenewEvent)
	// OnError, if set, is called with every error that is retried.
	OnError func(id string, err error)
	// OnStop, if set, is called once when renewing a sandbox stops for a
	// reason of the sandbox's own (not found, terminated, failed, no
	// expiry, a fatal error), not when the caller stops it (Stop, Remove,
	// Close, or the end of the context).
	OnStop func(*RenewStoppedError)
	// Clock, if set, replaces the wall clock for the schedule, for the
	// "now" a renewal is computed from, and for [Client.Renew]'s check
	// that the new expiry is in the future (see [Clock]); nil means the
	// wall clock.
	Clock Clock
}

// RenewEvent describes one successful renewal.
type RenewEvent struct {
	// ID is the sandbox.
	ID string
	// Previous is the expiry read just before renewing.
	Previous time.Time
	// ExpiresAt is the expiry the service now holds.
	ExpiresAt time.Time
	// At is when the renewal was answered.
	At time.Time
}

// RenewerAPI is what a [Renewer] and a [RenewerPool] need: read a
// sandbox's expiry and renew it. [*Client] implements it.
type RenewerAPI interface {
	Getter
	ExpiryRenewer
}

// resolved returns the options with defaults filled in, or a validation
// error.
func (o *RenewerOptions) resolved() (RenewerOptions, error) {
	var r RenewerOptions
	if o != nil {
		r = *o
	}
	if r.Extension == 0 {
		r.Extension = DefaultRenewExtension
	}
	if r.Margin == 0 {
		r.Margin = DefaultRenewMargin
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = r.Margin / 10
	case r.Jitter < 0:
		r.Jitter = 0
	}
	if r.MinRetryDelay == 0 {
		r.MinRetryDelay = DefaultRenewMinRetryDelay
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = max(DefaultRenewMaxRetryDelay, r.MinRetryDelay)
	}
	if r.Retryable == nil {
		r.Retryable = sandboxkit.IsTransient
	}
	if r.Clock == nil {
		r.Clock = wallClock{}
	}
	reject := func(field string, v time.Duration, reason string) error {
		return &sandboxkit.ValidationError{Field: "RenewerOptions." + field, Value: v.String(), Reason: reason}
	}
	switch {
	case r.Extension < 0:
		return r, reject("Extension", r.Extension, "must not be negative")
	case r.Margin < 0:
		return r, reject("Margin", r.Margin, "must not be negative")
	case r.Margin >= r.Extension:
		return r, reject("Margin", r.Margin, "must be shorter than Extension "+r.Extension.String())
	case r.Jitter > r.Margin:
		return r, reject("Jitter", r.Jitter, "must not exceed Margin "+r.Margin.String())
	case r.MinRetryDelay < 0:
		return r, reject("MinRetryDelay", r.MinRetryDelay, "must not be negative")
	case r.MaxRetryDelay < r.MinRetryDelay:
		return r, reject("MaxRetryDelay", r.MaxRetryDelay, "must not be below MinRetryDelay "+r.MinRetryDelay.String())
	}
	return r, nil
}

// renewTask is the state of keeping one sandbox alive, advanced one step
// at a time by a Renewer's goroutine or a pool's workers (never two at
// once).
type renewTask struct {
	api  RenewerAPI
	op   string // names the renewer in errors: "lifecycle.NewRenewer" or "lifecycle.RenewerPool.Add"
	id   string
	opts *RenewerOptions // resolved

	failures  int       // consecutive errors
	short     int       // consecutive renewals that came back within Margin
	expiresAt time.Time // last expiry observed or set
	jitterFor time.Time // the expiry jitter was drawn for
	jitter    time.Duration
}

// step reads the sandbox, renews it if due, and returns when to step
// again, or why to stop.
func (t *renewTask) step(ctx context.Context) (time.Time, *RenewStoppedError) {
	ctx = withClock(ctx, t.opts.Clock) // Renew's "in the future" is on our clock
	s, err := t.api.Get(ctx, t.id)
	if err != nil {
		return t.failed(ctx, err, false)
	}
	switch s.Status.State {
	case StateStopping, StateTerminated:
		return time.Time{}, t.stop(StopTerminated, sandboxStateError(t.op, t.id, s, nil, nil))
	case StateFailed:
		return time.Time{}, t.stop(StopFailed, sandboxStateError(t.op, t.id, s, nil, nil))
	}
	cur := s.ExpiresAt
	if cur.IsZero() {
		return time.Time{}, t.stop(StopNoExpiry, nil)
	}
	t.expiresAt = cur
	due := t.dueFor(cur)
	now := t.opts.Clock.Now()
	if now.Before(due) {
		t.failures = 0
		return due, nil
	}

	got, err := t.api.Renew(ctx, t.id, later(cur, now).Add(t.opts.Extension))
	if err != nil {
		return t.failed(ctx, err, true)
	}
	t.failures = 0
	t.expiresAt = got
	now = t.opts.Clock.Now()
	if t.opts.OnRenew != nil {
		t.opts.OnRenew(RenewEvent{ID: t.id, Previous: cur, ExpiresAt: got, At: now})
	}
	next := t.dueFor(got)
	if next.After(now) {
		t.short = 0
		return next, nil
	}
	// Granted less than Margin (a service capping lifetimes): renewing
	// again at once would only spin. Back off, but renew before expiry.
	t.short++
	delay := min(poll.Delay(t.opts.MinRetryDelay, t.opts.MaxRetryDelay, t.short), got.Sub(now)/2)
	return now.Add(max(delay, t.opts.MinRetryDelay, minRenewInterval)), nil
}

// minRenewInterval is the least time between two renewals of a sandbox
// whose renewals come back short, whatever the retry delays say.
const minRenewInterval = time.Second

// dueFor returns when to renew an expiry of exp: Margin and a jitter
// (drawn once per expiry value) before it.
func (t *renewTask) dueFor(exp time.Time) time.Time {
	if !exp.Equal(t.jitterFor) {
		t.jitterFor = exp
		t.jitter = 0
		if t.opts.Jitter > 0 {
			t.jitter = rand.N(t.opts.Jitter)
		}
	}
	return exp.Add(-t.opts.Margin - t.jitter)
}

// failed decides what an error means: stop, or retry after a backoff.
func (t *renewTask) failed(ctx context.Context, err error, renewing bool) (time.Time, *RenewStoppedError) {
	switch {
	case ctx.Err() != nil:
		return time.Time{}, t.stop(StopContextDone, ctx.Err())
	case errors.Is(err, sandboxkit.ErrNotFound):
		return time.Time{}, t.stop(StopNotFound, err)
	case t.opts.Retryable(err),
		renewing && (errors.Is(err, sandboxkit.ErrConflict) || errors.Is(err, sandboxkit.ErrBadRequest)):
		t.failures++
		if t.opts.OnError != nil {
			t.opts.OnError(t.id, err)
		}
		return t.opts.Clock.Now().Add(poll.Delay(t.opts.MinRetryDelay, t.opts.MaxRetryDelay, t.failures)), nil
	}
	return time.Time{}, t.stop(StopError, err)
}

func (t *renewTask) stop(reason StopReason, cause error) *RenewStoppedError {
	return &RenewStoppedError{ID: t.id, Reason: reason, ExpiresAt: t.expiresAt, Err: cause}
}

// callerCaused reports stops the caller brought about, which OnStop does
// not report.
func (e *RenewStoppedError) callerCaused() bool {
	return e.Reason == StopRequested || e.Reason == StopContextDone
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Renewer keeps one sandbox alive by renewing its expiry ahead of time
// from a goroutine of its own, until the sandbox is gone, [Renewer.Stop]
// is called or its context ends. See [RenewerOptions] for the schedule.
// Use a [RenewerPool] for many sandboxes.
type Renewer struct {
	cancel    context.CancelFunc
	done      chan struct{}
	requested atomic.Bool
	err       *RenewStoppedError // set before done is closed
}

// NewRenewer starts keeping sandbox id alive through api (a [*Client], or
// a fake) and returns at once. The renewer first reads the sandbox, so a
// sandbox that does not exist ends it shortly with [StopNotFound]. It
// returns an error only for invalid arguments.
func NewRenewer(ctx context.Context, api RenewerAPI, id string, opts *RenewerOptions) (*Renewer, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, err
	}
	if api == nil {
		return nil, &sandboxkit.ValidationError{Field: "api", Reason: "must not be nil"}
	}
	o, err := opts.resolved()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Renewer{cancel: cancel, done: make(chan struct{})}
	go r.run(ctx, &renewTask{api: api, op: opNewRenewer, id: id, opts: &o})
	return r, nil
}

func (r *Renewer) run(ctx context.Context, t *renewTask) {
	defer close(r.done)
	defer r.cancel()
	for {
		next, stop := t.step(ctx)
		if stop == nil {
			if sleepUntil(ctx, t.opts.Clock, next, nil) {
				continue
			}
			stop = t.stop(StopContextDone, ctx.Err())
		}
		if stop.Reason == StopContextDone && r.requested.Load() {
			stop.Reason, stop.Err = StopRequested, nil
		}
		r.err = stop
		if !stop.callerCaused() && t.opts.OnStop != nil {
			t.opts.OnStop(stop)
		}
		return
	}
}

// Stop ends the renewer and returns once its goroutine has exited (an
// OnRenew or OnError callback in progress finishes first). It is safe to
// call more than once and from several goroutines, but not from a
// callback of the same renewer.
func (r *Renewer) Stop() {
	r.requested.Store(true)
	r.cancel()
	<-r.done
}

// Done returns a channel that is closed when the renewer has stopped.
func (r *Renewer) Done() <-chan struct{} { return r.done }

// Err returns nil while the renewer runs, and afterwards a
// [*RenewStoppedError] saying why it stopped.
func (r *Renewer) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}
