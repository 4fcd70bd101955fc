package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Upgrade watcher defaults.
const (
	// DefaultUpgradeMinDelay and DefaultUpgradeMaxDelay are the pauses
	// between two health checks while an upgrade is followed, for zero
	// fields of [UpgradeOptions.Wait]. The longest pause is shorter than
	// other waits' ([sandboxkit.DefaultWaitMaxDelay]): the server's
	// restart is brief.
	DefaultUpgradeMinDelay = sandboxkit.DefaultWaitMinDelay
	DefaultUpgradeMaxDelay = time.Second
	// restartGrace is how long a "completed" attempt may go without the
	// restart showing before it counts as done anyway.
	restartGrace = 30 * time.Second
)

// StartUpgradeOptions tunes [Client.StartUpgrade].
type StartUpgradeOptions struct {
	// Version is "latest", "develop", "main" or a release tag such as
	// "v1.0.0"; empty lets the server choose (older servers "develop",
	// newer ones "latest").
	Version string
	// BaseURL is the releases page to fetch from, for forks of the
	// server; empty for the server's default.
	BaseURL string
}

func (o *StartUpgradeOptions) validate() error {
	if o.Version != "" {
		if err := glue.ValidateName("version", o.Version); err != nil {
			return err
		}
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &sandboxkit.ValidationError{Field: "base URL", Value: o.BaseURL, Reason: "must be an absolute http or https URL"}
		}
	}
	return nil
}

// UpgradeAck is the server's answer to an upgrade request.
type UpgradeAck struct {
	// Message is the server's confirmation.
	Message string
	// Version and BaseURL are what the server resolved the request to.
	Version, BaseURL string
}

// StartUpgrade asks the server to upgrade itself and returns at once:
// the server answers before it starts. Most callers want
// [Client.Upgrade], which also follows the attempt to its outcome.
//
// POST /upgrade
func (c *Client) StartUpgrade(ctx context.Context, opts *StartUpgradeOptions) (*UpgradeAck, error) {
	const op = "StartUpgrade"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	var o StartUpgradeOptions
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	r, err := c.api.Upgrade(ctx, upgradeRequestTo(&o))
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return upgradeAckFrom(r), nil
}

// UpgradeOptions tunes [Client.Upgrade]. Nil or the zero value upgrades
// to the server's default version.
type UpgradeOptions struct {
	// Version and BaseURL: as for [StartUpgradeOptions]. When Version is a
	// release tag (not latest, develop or main), success also requires
	// the restarted server to report that version.
	Version string
	BaseURL string
	// OnProgress, if set, receives each step change and each new byte
	// count of the download, in order and once each, from one goroutine
	// at a time (not necessarily the caller's). It must not block for
	// long or call Upgrade.
	OnProgress func(UpgradeProgress)
	// Wait tunes the health checks that follow the attempt, as for every
	// wait of the SDK; nil means the defaults. For an upgrade, a zero
	// MinDelay is [DefaultUpgradeMinDelay], a zero MaxDelay
	// [DefaultUpgradeMaxDelay], and a zero MaxTransient tolerates any
	// number of transient errors in a row, since the server refuses
	// connections while it restarts; Timeout (15 minutes by default)
	// bounds the whole call, as the context does. OnTransition sees each change of the last upgrade's state and step
	// ("running/download", ...), with Kind "health" and the [*Health] as
	// Observed. A call that joins an upgrade in progress (see
	// [Client.Upgrade]) shares its health checks: of its own Wait, only
	// Timeout applies.
	Wait *sandboxkit.WaitOptions
}

// UpgradeProgress is one step of an upgrade attempt as the client saw it.
// Steps the attempt went through between two health checks are not seen.
type UpgradeProgress struct {
	// Step is the step reached: the server's steps, then
	// [StepRestarting] when the server is seen restarting (unreachable
	// after "replace", or at the latest once it is back with a new
	// startedAt) and [StepCompleted] once success is confirmed.
	Step UpgradeStep
	// BytesDownloaded is the size of the new build fetched so far.
	BytesDownloaded int64
	// Version is the version the attempt targets.
	Version string
}

// UpgradeResult describes a successful upgrade.
type UpgradeResult struct {
	// Ack is the server's answer to the request; nil for WatchUpgrade.
	Ack *UpgradeAck
	// Before is the health report before the attempt.
	Before *Health
	// After is the first report that showed success: from the restarted
	// server when Restarted.
	After *Health
	// Restarted reports whether the server was seen to restart. It is
	// false when the server reported the attempt skipped as already done
	// ("completed"/"skipped"), or reported it completed and then went
	// without a visible restart for 30 seconds.
	Restarted bool
}

// Upgrade asks the server to upgrade itself and follows GET /health until
// the outcome is known.
//
// The server answers POST /upgrade at once, and until the attempt gets
// going its health report still shows the previous attempt: an attempt is
// told apart by its lastAttempt stamp, so a "failed" left by an earlier
// attempt is not mistaken for this one's, and by the version the server
// acknowledged, so another client's concurrent attempt to another version
// is not either (the server does not serialize attempts; if it restarts
// while only such an attempt was seen, the error is an [*UpgradeError] at
// "verify"). While the server replaces and
// re-executes itself, refused or reset connections and 502/503/504
// answers are waited out; only ctx bounds the wait. Success is a
// restarted server (a higher upgradeCount or a new startedAt, and the
// requested version when a release tag was asked for) — the "completed"
// state is rarely visible from outside — or "completed"/"skipped", which
// means there was nothing to do. An attempt the server reports failed
// (including "failed"/"skipped", which a development build reports) is an
// [*UpgradeError]. When the wait's Timeout (see [UpgradeOptions.Wait])
// passes or ctx ends first, the error is a
// [*sandboxkit.WaitTimeoutError] whose Observed is the last [*Health]
// seen and whose Err wraps the last failed health check, if any.
//
// If the server is already running an attempt, Upgrade waits for it to end
// before starting its own.
//
// On one Client, upgrades do not overlap: a call made while another with
// the same Version and BaseURL is in progress sends no request of its
// own; it joins the first one (its OnProgress gets the events so far,
// then the rest) and gets the same outcome, even if the first caller's
// context ends. A call with another Version or BaseURL waits for the one
// in progress to finish, then starts its own.
//
// POST /upgrade, then GET /health
func (c *Client) Upgrade(ctx context.Context, options *UpgradeOptions) (*UpgradeResult, error) {
	const op = "Upgrade"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	var opts UpgradeOptions
	if options != nil {
		opts = *options
	}
	so := StartUpgradeOptions{Version: opts.Version, BaseURL: opts.BaseURL}
	if err := so.validate(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	uw, err := c.newUpgradeWait(opts.Wait)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	ctx, cancel := uw.bound(ctx)
	defer cancel()
	key := so
	for {
		c.upMu.Lock()
		f := c.flight
		if f == nil {
			f = c.startFlight(ctx, key, uw)
		}
		if f.key != key {
			c.upMu.Unlock()
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				return nil, upgradeTimeout(ctx, op, uw.id, uw.start, nil, nil, 0)
			}
		}
		sub, ok := f.join(opts.OnProgress)
		c.upMu.Unlock()
		if !ok {
			// Every caller of that flight gave up and it is stopping.
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				return nil, upgradeTimeout(ctx, op, uw.id, uw.start, nil, nil, 0)
			}
		}
		return c.waitFlight(ctx, f, sub, uw.start)
	}
}

// WatchUpgradeOptions tunes [Client.WatchUpgrade]. The zero value is
// usable.
type WatchUpgradeOptions struct {
	// Baseline is a health report from before the upgrade was requested.
	// Without it, the current report is the baseline.
	Baseline *Health
	// OnProgress and Wait: as for [UpgradeOptions].
	OnProgress func(UpgradeProgress)
	Wait       *sandboxkit.WaitOptions
}

// WatchUpgrade follows an upgrade someone else requested, with the same
// rules as [Client.Upgrade]: the attempt the baseline shows running, or
// else the next one to start. It waits for an attempt to appear until
// its Wait's Timeout passes or ctx ends.
//
// GET /health
func (c *Client) WatchUpgrade(ctx context.Context, opts *WatchUpgradeOptions) (*UpgradeResult, error) {
	const op = "WatchUpgrade"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	var o WatchUpgradeOptions
	if opts != nil {
		o = *opts
	}
	uw, err := c.newUpgradeWait(o.Wait)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	ctx, cancel := uw.bound(ctx)
	defer cancel()
	base := o.Baseline
	if base == nil {
		if base, err = c.healthPatiently(ctx, uw); err != nil {
			return nil, c.upgradeFailure(ctx, op, err, uw)
		}
	}
	w := newAttemptWatch(base, "", o.OnProgress)
	w.includeBase()
	res, err := c.follow(ctx, w, uw)
	if err != nil {
		return nil, c.upgradeFailure(ctx, op, err, uw)
	}
	return res, nil
}

// upgradeFailure shapes the error of a watch that did not succeed.
func (c *Client) upgradeFailure(ctx context.Context, op string, err error, uw *upgradeWait) error {
	if _, ok := err.(*UpgradeError); ok {
		return err
	}
	if ctx.Err() != nil || errors.Is(err, poll.ErrTimeout) {
		return uw.timeout(ctx, op, uw.start)
	}
	return rename(wrap(ctx, op, err), "sandbox.Health", "sandbox."+op)
}

// upgradeTimeout is the error of an upgrade watch whose context ended
// before the outcome was known: last is the last health report seen and
// lastErr the error of the last health check, if it failed.
func upgradeTimeout(ctx context.Context, op, id string, start time.Time, last *Health, lastErr error, polls int) *sandboxkit.WaitTimeoutError {
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	if lastErr != nil && !errors.Is(lastErr, context.Canceled) && !errors.Is(lastErr, context.DeadlineExceeded) {
		cause = fmt.Errorf("%w (last poll: %w)", cause, lastErr)
	}
	e := &sandboxkit.WaitTimeoutError{
		Op: "sandbox." + op, Kind: "health", ID: id,
		Want: []string{string(UpgradeCompleted)}, Polls: polls, Waited: time.Since(start), Err: cause,
	}
	if last != nil {
		e.State, e.Observed = upgradeState(last), last
	}
	return e
}

// upgradeState is the state of an upgrade watch: the last upgrade's state
// and step, such as "running/download".
func upgradeState(h *Health) string {
	return string(h.LastUpgrade.State) + "/" + string(h.LastUpgrade.Step)
}

// upgradeWait is the polling of one upgrade watch ([Client.Upgrade]'s
// flight, or [Client.WatchUpgrade]): the loop's options and what
// [sandboxkit.WaitOptions.OnTransition] and a timeout error report.
type upgradeWait struct {
	opts         poll.Options
	onTransition func(sandboxkit.Transition)
	id           string
	start        time.Time

	mu      sync.Mutex // callers of a flight read what it has seen
	polls   int
	state   string
	last    *Health
	lastErr error
}

// newUpgradeWait applies the upgrade defaults to wo (see
// [UpgradeOptions.Wait]).
func (c *Client) newUpgradeWait(wo *sandboxkit.WaitOptions) (*upgradeWait, error) {
	o, err := poll.FromWaitOptions(wo)
	if err != nil {
		return nil, err
	}
	if o.MinDelay == 0 {
		o.MinDelay = DefaultUpgradeMinDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = max(DefaultUpgradeMaxDelay, o.MinDelay)
	}
	if o.MaxTransient == 0 {
		o.MaxTransient = math.MaxInt
	}
	uw := &upgradeWait{opts: o, id: serverID(c), start: time.Now()}
	if wo != nil {
		uw.onTransition = wo.OnTransition
	}
	return uw, nil
}

// bound gives ctx the wait's Timeout, which bounds a whole call.
func (uw *upgradeWait) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if uw.opts.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, uw.opts.Timeout)
}

// observe records one health check: a report, or the error of a check
// that failed.
func (uw *upgradeWait) observe(h *Health, err error) {
	uw.mu.Lock()
	uw.polls++
	if h == nil {
		uw.lastErr = err
		uw.mu.Unlock()
		return
	}
	from, to := uw.state, upgradeState(h)
	changed := uw.last == nil || from != to
	uw.last, uw.lastErr, uw.state = h, nil, to
	uw.mu.Unlock()
	if changed && uw.onTransition != nil {
		uw.onTransition(sandboxkit.Transition{
			Kind: "health", ID: uw.id, From: from, To: to,
			Elapsed: time.Since(uw.start), Observed: h,
		})
	}
}

// timeout is the error of the watch when ctx has ended before the
// outcome was known: op names the call, which began at start.
func (uw *upgradeWait) timeout(ctx context.Context, op string, start time.Time) *sandboxkit.WaitTimeoutError {
	uw.mu.Lock()
	last, lastErr, polls := uw.last, uw.lastErr, uw.polls
	uw.mu.Unlock()
	return upgradeTimeout(ctx, op, uw.id, start, last, lastErr, polls)
}

// healthPatiently reads the health report, waiting out transient errors.
func (c *Client) healthPatiently(ctx context.Context, uw *upgradeWait) (*Health, error) {
	h, _, err := poll.Until(ctx, uw.opts, func(ctx context.Context) (*Health, bool, error) {
		h, err := c.Health(ctx)
		uw.observe(h, err)
		return h, err == nil, err
	})
	return h, err
}

// follow polls GET /health and feeds w until it knows the outcome.
func (c *Client) follow(ctx context.Context, w *attemptWatch, uw *upgradeWait) (*UpgradeResult, error) {
	_, _, err := poll.Until(ctx, uw.opts, func(ctx context.Context) (struct{}, bool, error) {
		h, err := c.Health(ctx)
		uw.observe(h, err)
		if err != nil {
			w.unreachable(err)
			return struct{}{}, false, err
		}
		done, err := w.observe(h)
		return struct{}{}, done, err
	})
	if err != nil {
		return nil, err
	}
	return w.result, nil
}

// attemptWatch decides, report after report, what became of one upgrade
// attempt.
type attemptWatch struct {
	base  *Health
	since time.Time // records stamped after this belong to the attempt
	want  string    // the requested version, "" for any
	ack   string    // the version the server acknowledged, "" if unknown
	emit  func(UpgradeProgress)

	mine    bool   // a record of the attempt itself was seen
	foreign string // version of another client's attempt seen, if any

	emitted     map[UpgradeStep]bool
	step        UpgradeStep // last step of the attempt seen
	bytes       int64
	version     string
	completedAt time.Time // when the server first reported completed

	result *UpgradeResult
}

func newAttemptWatch(base *Health, want string, emit func(UpgradeProgress)) *attemptWatch {
	return &attemptWatch{
		base:    base,
		since:   base.LastUpgrade.LastAttempt,
		want:    want,
		emit:    emit,
		emitted: make(map[UpgradeStep]bool),
	}
}

// includeBase makes an attempt the baseline shows running the one to
// follow.
func (w *attemptWatch) includeBase() {
	u := w.base.LastUpgrade
	if u.State != UpgradeRunning {
		return
	}
	if !u.LastAttempt.IsZero() {
		w.since = u.LastAttempt.Add(-time.Nanosecond)
	}
	w.progress(u)
}

// belongs reports whether a record is about the followed attempt: newer
// than the baseline and, when the server acknowledged a version, for that
// version (the server does not serialize attempts, and its one record
// shows whichever attempt wrote last).
func (w *attemptWatch) belongs(u UpgradeStatus) bool {
	var recent bool
	if !u.LastAttempt.IsZero() {
		recent = u.LastAttempt.After(w.since)
	} else {
		// A server that stamps nothing: any change of the record.
		b := w.base.LastUpgrade
		recent = u.State != b.State || u.Step != b.Step || u.BytesDownloaded != b.BytesDownloaded || u.Error != b.Error
	}
	if !recent {
		return false
	}
	if w.ack != "" && u.Version != "" && u.Version != w.ack {
		w.foreign = u.Version
		return false
	}
	w.mine = true
	return true
}

// report sends a progress event.
func (w *attemptWatch) report(step UpgradeStep, bytes int64) {
	if w.emit != nil {
		w.emit(UpgradeProgress{Step: step, BytesDownloaded: bytes, Version: w.version})
	}
}

// progress reports a new step of the attempt (each once) and growth of
// the download.
func (w *attemptWatch) progress(u UpgradeStatus) {
	if u.Version != "" {
		w.version = u.Version
	}
	switch {
	case u.Step == "" || u.Step == StepNone || u.Step == StepCompleted:
		// Completion is reported once it is confirmed.
	case !w.emitted[u.Step]:
		w.emitted[u.Step] = true
		w.step, w.bytes = u.Step, u.BytesDownloaded
		w.report(u.Step, u.BytesDownloaded)
	case u.Step == w.step && u.BytesDownloaded > w.bytes:
		w.bytes = u.BytesDownloaded
		w.report(u.Step, u.BytesDownloaded)
	}
}

// once reports a step of the client's own, once.
func (w *attemptWatch) once(step UpgradeStep) {
	if !w.emitted[step] {
		w.emitted[step] = true
		w.step = step
		w.report(step, w.bytes)
	}
}

// unreachable takes note of a failed health check.
func (w *attemptWatch) unreachable(err error) {
	if !sandboxkit.IsTransient(err) {
		return
	}
	// Past "replace" the server is restarting; earlier it may be a blip
	// (if it was a restart after all, it is reported when confirmed).
	if w.step == StepReplace || !w.completedAt.IsZero() {
		w.once(StepRestarting)
	}
}

// observe takes a health report and says whether the outcome is known:
// done with a nil error on success (w.result set), or an *UpgradeError.
func (w *attemptWatch) observe(h *Health) (bool, error) {
	base := w.base
	switch {
	case h.UpgradeCount < base.UpgradeCount:
		return true, &UpgradeError{Step: "verify", Version: w.want,
			Message: fmt.Sprintf("the server restarted without the upgrade (upgradeCount went from %d to %d)", base.UpgradeCount, h.UpgradeCount)}
	case h.UpgradeCount > base.UpgradeCount || !h.StartedAt.Equal(base.StartedAt):
		if w.foreign != "" && !w.mine {
			return true, &UpgradeError{Step: "verify", Version: w.want,
				Message: fmt.Sprintf("the server restarted during another client's upgrade (to %q) before this attempt (to %q) showed; it did not install this one", w.foreign, w.ack)}
		}
		if !sameVersion(w.want, h.Version) {
			return true, &UpgradeError{Step: "verify", Version: w.want,
				Message: fmt.Sprintf("the server restarted with version %q, not %q", h.Version, w.want)}
		}
		// The transport's own retries often hide the restart window, so
		// "restarting" may only be known now.
		w.once(StepRestarting)
		w.once(StepCompleted)
		w.result = &UpgradeResult{Before: base, After: h, Restarted: true}
		return true, nil
	}

	u := h.LastUpgrade
	if w.belongs(u) {
		switch u.State {
		case UpgradeFailed:
			return true, &UpgradeError{Step: string(u.Step), Message: u.Error, Version: u.Version, DownloadURL: u.DownloadURL, Status: &u}
		case UpgradeCompleted:
			if u.Step == StepSkipped {
				w.once(StepSkipped)
				w.result = &UpgradeResult{Before: base, After: h}
				return true, nil
			}
			if w.completedAt.IsZero() {
				w.completedAt = time.Now()
			}
		default:
			w.progress(u)
		}
	}
	if !w.completedAt.IsZero() && time.Since(w.completedAt) >= restartGrace {
		w.once(StepCompleted)
		w.result = &UpgradeResult{Before: base, After: h}
		return true, nil
	}
	return false, nil
}

// sameVersion reports whether a server reporting got satisfies a request
// for want: channels (latest, develop, main) and "" accept any version.
func sameVersion(want, got string) bool {
	switch want {
	case "", "latest", "develop", "main":
		return true
	}
	return strings.TrimPrefix(want, "v") == strings.TrimPrefix(got, "v")
}

// upgradeFlight is an Upgrade in progress on a Client, shared by the
// calls that join it. It runs in a goroutine of its own, which ends when
// the outcome is known or every caller has given up.
type upgradeFlight struct {
	key    StartUpgradeOptions
	cancel context.CancelFunc
	done   chan struct{}
	res    *UpgradeResult // set before done is closed
	err    error

	mu        sync.Mutex // held while progress callbacks run
	waiters   int
	abandoned bool // every caller left; the flight is stopping
	subs      map[int]func(UpgradeProgress)
	nextSub   int
	history   []UpgradeProgress
	uw        *upgradeWait // the flight's health checks
}

// startFlight starts an upgrade; c.upMu is held.
func (c *Client) startFlight(ctx context.Context, key StartUpgradeOptions, uw *upgradeWait) *upgradeFlight {
	// The flight outlives the context of the call that started it if
	// another call has joined; it keeps its values (tracing).
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &upgradeFlight{key: key, cancel: cancel, done: make(chan struct{}), subs: make(map[int]func(UpgradeProgress)), uw: uw}
	c.flight = f
	go func() {
		defer cancel()
		res, err := c.runUpgrade(fctx, f, key)
		c.upMu.Lock()
		if c.flight == f {
			c.flight = nil
		}
		c.upMu.Unlock()
		f.res, f.err = res, err
		close(f.done)
	}()
	return f
}

// runUpgrade is the body of a flight.
func (c *Client) runUpgrade(ctx context.Context, f *upgradeFlight, key StartUpgradeOptions) (*UpgradeResult, error) {
	const op = "Upgrade"
	uw := f.uw
	base, err := c.healthPatiently(ctx, uw)
	if err != nil {
		return nil, c.upgradeFailure(ctx, op, err, uw)
	}
	if base.LastUpgrade.State == UpgradeRunning {
		// Someone else's attempt: let it end first (the server does not
		// serialize attempts).
		w := newAttemptWatch(base, "", nil)
		w.includeBase()
		if _, err := c.follow(ctx, w, uw); ctx.Err() != nil {
			return nil, wrap(ctx, op, err)
		}
		if base, err = c.healthPatiently(ctx, uw); err != nil {
			return nil, c.upgradeFailure(ctx, op, err, uw)
		}
	}
	ack, err := c.StartUpgrade(ctx, &key)
	if err != nil {
		return nil, rename(err, "sandbox.StartUpgrade", "sandbox."+op)
	}
	w := newAttemptWatch(base, key.Version, f.emit)
	w.ack = ack.Version
	res, err := c.follow(ctx, w, uw)
	if err != nil {
		return nil, c.upgradeFailure(ctx, op, err, uw)
	}
	res.Ack = ack
	return res, nil
}

// join adds a caller; its callback first gets the events so far. It
// fails if the flight was abandoned by all its callers.
func (f *upgradeFlight) join(cb func(UpgradeProgress)) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.abandoned {
		return 0, false
	}
	f.waiters++
	f.nextSub++
	if cb != nil {
		for _, p := range f.history {
			cb(p)
		}
		f.subs[f.nextSub] = cb
	}
	return f.nextSub, true
}

// leave removes a caller; once no caller is left, the flight stops. After
// it returns, the caller's callback is not called again.
func (f *upgradeFlight) leave(sub int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, sub)
	f.waiters--
	if f.waiters == 0 {
		f.abandoned = true
		f.cancel()
	}
}

// waitFlight returns the outcome of f, or gives up when ctx ends; start
// is when the caller's wait began.
func (c *Client) waitFlight(ctx context.Context, f *upgradeFlight, sub int, start time.Time) (*UpgradeResult, error) {
	select {
	case <-f.done:
		f.leave(sub)
		if f.err != nil {
			return nil, f.err
		}
		res := *f.res
		return &res, nil
	case <-ctx.Done():
		f.leave(sub)
		return nil, f.uw.timeout(ctx, "Upgrade", start)
	}
}

// emit delivers a progress event to every caller, in order.
func (f *upgradeFlight) emit(p UpgradeProgress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = append(f.history, p)
	for _, cb := range f.subs {
		cb(p)
	}
}
