package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Waiter polls a process until it reaches an awaited status. Make one
// with [NewWaiter]; it is safe for concurrent use.
type Waiter struct {
	getter ProcessGetter
	opts   *sandboxkit.WaitOptions
}

// NewWaiter returns a [Waiter] that reads processes through getter (a
// [*Client], or a fake). opts tunes the polling; nil means the defaults.
// The options are copied; invalid ones are reported by [Waiter.Wait],
// before any request.
func NewWaiter(getter ProcessGetter, opts *sandboxkit.WaitOptions) *Waiter {
	return &Waiter{getter: getter, opts: copyOpts(opts)}
}

// endedStatuses are what a wait without targets waits for.
var endedStatuses = []ProcessStatus{StatusCompleted, StatusFailed, StatusStopped, StatusKilled}

// Wait polls the process id (a pid or a name) until its status is one of
// targets and returns it as last read. Without targets it waits until the
// process has ended ([Process.Ended]: completed, failed, or stopped or
// killed and exited).
//
// A terminal target (completed, failed, stopped, killed) is reached only
// once the process has exited: the real server reports "stopped" as soon
// as it sends SIGTERM, so waiting for [StatusStopped] after
// [Client.StopProcess] waits for the exit, which a process that ignores
// SIGTERM never makes. With RestartOnFailure, a process shows "failed"
// for about a second before each restart, which cannot be told from its
// end.
//
// The wait ends with a [*sandboxkit.StateError] (Kind "process") when the
// process has ended with another status, has a status from which no
// target can follow (stopped or killed when waiting for completed), or is
// not found (then it wraps the [sandboxkit.ErrNotFound] error); with a
// [*sandboxkit.WaitTimeoutError] when its time is up
// ([sandboxkit.WaitOptions.Timeout], 15 minutes by default) or ctx ends
// first. Transient errors
// are tolerated as [sandboxkit.WaitOptions] says; any other error of a
// poll ends the wait with it. [sandboxkit.WaitOptions.OnTransition] sees
// each change of status with the process as read.
//
// GET /process/{identifier}
func (w *Waiter) Wait(ctx context.Context, id string, targets ...ProcessStatus) (*Process, error) {
	const op = "Waiter.Wait"
	if err := checkWaiter(ctx, op, w == nil || w.getter == nil); err != nil {
		return nil, err
	}
	if err := checkProcessID(id); err != nil {
		return nil, wrap(ctx, op, err)
	}
	for _, s := range targets {
		if s == "" {
			return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "target status", Reason: "must not be empty"})
		}
	}
	o, err := poll.FromWaitOptions(w.opts)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	want := targets
	if len(want) == 0 {
		want = endedStatuses
	}
	t := tracker[*Process]{op: "sandbox." + op, kind: "process", id: id, want: statusNames(want), opts: w.opts}
	p, err := t.run(ctx, o, func(ctx context.Context) (*Process, string, bool, error) {
		p, err := w.getter.GetProcess(ctx, id)
		if err != nil {
			return nil, "", false, err
		}
		reached, final := processReached(p, targets)
		if !reached && final {
			return p, string(p.Status), false, t.stateError(p, string(p.Status), nil)
		}
		return p, string(p.Status), reached, nil
	})
	if errors.Is(err, sandboxkit.ErrNotFound) {
		if _, ok := errors.AsType[*sandboxkit.StateError](err); !ok {
			err = t.stateError(nil, "", named(err, "sandbox."+op))
		}
	}
	return p, wrapWait(ctx, op, err)
}

// processReached reports whether p has reached one of targets (ended,
// with none), and whether none of them can follow any more.
func processReached(p *Process, targets []ProcessStatus) (reached, final bool) {
	if len(targets) == 0 {
		return p.Ended(), false
	}
	exited := !p.Status.Terminal() || p.Ended()
	if slices.Contains(targets, p.Status) && exited {
		return true, false
	}
	switch p.Status {
	case StatusCompleted, StatusFailed:
		return false, true
	case StatusStopped:
		// A stopped process may still be killed, and ends stopped.
		return false, p.Ended() || !slices.Contains(targets, StatusStopped) && !slices.Contains(targets, StatusKilled)
	case StatusKilled:
		return false, p.Ended() || !slices.Contains(targets, StatusKilled)
	}
	return false, false // running, or a status this client does not know
}

func statusNames(s []ProcessStatus) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

// HealthWaiter polls a sandbox API server's health until it reports
// "ok". Make one with [NewHealthWaiter]; it is safe for concurrent use.
type HealthWaiter struct {
	checker HealthChecker
	opts    *sandboxkit.WaitOptions
}

// NewHealthWaiter returns a [HealthWaiter] that reads the health through
// checker (a [*Client], or a fake). opts tunes the polling; nil means
// the defaults, with one difference from the other waiters: a zero
// MaxTransient tolerates any number of transient errors in a row, since
// a sandbox that is starting or restarting refuses connections or
// answers 502/503 until it is up. A positive MaxTransient bounds them as
// elsewhere. The options are copied; invalid ones are reported by
// [HealthWaiter.Wait], before any request.
func NewHealthWaiter(checker HealthChecker, opts *sandboxkit.WaitOptions) *HealthWaiter {
	return &HealthWaiter{checker: checker, opts: copyOpts(opts)}
}

// healthOK is the status [HealthWaiter.Wait] waits for.
const healthOK = "ok"

// Wait polls GET /health until the server answers with status "ok" and
// returns that report. The server is the one resource a health waiter
// watches, so Wait takes no id and no targets; [sandboxkit.Transition]
// and the errors name it with Kind "health" and, for a [*Client], the
// host of its base URL as ID. When [sandboxkit.WaitOptions.Timeout] (15
// minutes by default) passes or ctx ends first, the error is a
// [*sandboxkit.WaitTimeoutError] whose State is the last status seen ("" if
// the server never answered). An error that is not transient, such as a
// 401, ends the wait with it.
//
// GET /health
func (w *HealthWaiter) Wait(ctx context.Context) (*Health, error) {
	const op = "HealthWaiter.Wait"
	if err := checkWaiter(ctx, op, w == nil || w.checker == nil); err != nil {
		return nil, err
	}
	o, err := poll.FromWaitOptions(w.opts)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	if w.opts == nil || w.opts.MaxTransient == 0 {
		o.MaxTransient = math.MaxInt
	}
	t := tracker[*Health]{op: "sandbox." + op, kind: "health", id: serverID(w.checker), want: []string{healthOK}, opts: w.opts}
	h, err := t.run(ctx, o, func(ctx context.Context) (*Health, string, bool, error) {
		h, err := w.checker.Health(ctx)
		if err != nil {
			return nil, "", false, err
		}
		return h, h.Status, h.OK(), nil
	})
	return h, wrapWait(ctx, op, err)
}

// serverID names the server behind c for errors and transitions: the
// host (and path) of a client's base URL, without credentials or query.
func serverID(c HealthChecker) string {
	cl, ok := c.(*Client)
	if !ok || cl == nil || cl.cfg == nil || cl.cfg.BaseURL() == nil {
		return ""
	}
	u := cl.cfg.BaseURL()
	return u.Host + u.EscapedPath()
}

// checkWaiter rejects a waiter not made by its constructor (or given a
// nil getter) and a nil context.
func checkWaiter(ctx context.Context, op string, unusable bool) error {
	switch {
	case unusable:
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "waiter", Reason: "has no getter: make it with a constructor and a non-nil getter"})
	case ctx == nil:
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "context", Reason: "must not be nil"})
	}
	return nil
}

func copyOpts(o *sandboxkit.WaitOptions) *sandboxkit.WaitOptions {
	if o == nil {
		return nil
	}
	cp := *o
	return &cp
}

// tracker is the bookkeeping shared by the waiters: transitions, poll
// count, the last observation, and the typed errors built from them.
type tracker[T comparable] struct {
	op, kind, id string
	want         []string
	opts         *sandboxkit.WaitOptions

	start   time.Time
	state   string
	seen    bool
	last    T
	polls   int
	lastErr error
}

// run polls with check, which returns the observation, its state,
// whether it is awaited, and an error (a *StateError ends the wait at
// once). It reports transitions and turns the end of ctx into a
// *WaitTimeoutError.
func (t *tracker[T]) run(ctx context.Context, o poll.Options, check func(context.Context) (T, string, bool, error)) (T, error) {
	var zero T
	t.start = time.Now()
	transient := o.IsTransient
	o.IsTransient = func(err error) bool {
		if _, ok := errors.AsType[*sandboxkit.StateError](err); ok {
			return false
		}
		return transient != nil && transient(err)
	}
	_, _, err := poll.Until(ctx, o, func(ctx context.Context) (T, bool, error) {
		t.polls++
		v, state, done, err := check(ctx)
		if v != zero {
			t.observe(v, state)
		}
		if err != nil {
			t.lastErr = err
			return v, false, err
		}
		t.lastErr = nil
		return v, done, nil
	})
	switch {
	case err == nil:
		return t.last, nil
	case errors.Is(err, poll.ErrTimeout):
		return zero, t.timeoutError(ctx)
	}
	return zero, err
}

// observe records one observation and reports a change of state.
func (t *tracker[T]) observe(v T, state string) {
	from, changed := t.state, !t.seen || state != t.state
	t.last, t.state, t.seen = v, state, true
	if changed && t.opts != nil && t.opts.OnTransition != nil {
		t.opts.OnTransition(sandboxkit.Transition{
			Kind: t.kind, ID: t.id, From: from, To: state,
			Elapsed: time.Since(t.start), Observed: v,
		})
	}
}

// stateError reports the observation v (nil when gone) in state as one
// from which no awaited state follows.
func (t *tracker[T]) stateError(v T, state string, cause error) *sandboxkit.StateError {
	var zero T
	e := &sandboxkit.StateError{Op: t.op, Kind: t.kind, ID: t.id, State: state, Want: t.want, Err: cause}
	if v != zero {
		e.Observed = v
	}
	if cause != nil && t.seen && t.opts != nil && t.opts.OnTransition != nil && t.state != "" {
		// The resource was seen and is now gone.
		t.opts.OnTransition(sandboxkit.Transition{Kind: t.kind, ID: t.id, From: t.state, To: "", Elapsed: time.Since(t.start)})
	}
	return e
}

// timeoutError reports a wait that ctx ended (or whose deadline left no
// time for another poll).
func (t *tracker[T]) timeoutError(ctx context.Context) *sandboxkit.WaitTimeoutError {
	var zero T
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	} else if c := context.Cause(ctx); c != nil && c != cause {
		cause = fmt.Errorf("%w: %w", cause, c)
	}
	if t.lastErr != nil && !errors.Is(t.lastErr, context.Canceled) && !errors.Is(t.lastErr, context.DeadlineExceeded) {
		cause = fmt.Errorf("%w (last poll: %w)", cause, t.lastErr)
	}
	e := &sandboxkit.WaitTimeoutError{
		Op: t.op, Kind: t.kind, ID: t.id, State: t.state, Want: t.want,
		Polls: t.polls, Waited: time.Since(t.start), Err: cause,
	}
	if t.last != zero {
		e.Observed = t.last
	}
	return e
}

// wrapWait returns the typed errors of a wait as they are (glue.Wrap
// would replace them with the context's error once ctx is done) and
// names the operation in any other.
func wrapWait(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err); ok {
		return err
	}
	if _, ok := errors.AsType[*sandboxkit.StateError](err); ok {
		return err
	}
	return wrap(ctx, op, err)
}

// observedProcess returns the process a wait error carries, or nil.
func observedProcess(err error) *Process {
	if e, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err); ok {
		p, _ := e.Observed.(*Process)
		return p
	}
	if e, ok := errors.AsType[*sandboxkit.StateError](err); ok {
		p, _ := e.Observed.(*Process)
		return p
	}
	return nil
}
