// Command keepalive keeps several sandboxes alive with one
// lifecycle.RenewerPool: each renewal is printed with the old and new
// expiry, one sandbox is deleted half way through, and the pool reports
// that it stopped renewing it.
//
// Against the embedded mock server the example runs two hours of the
// mock's manual clock in a few seconds: the renewers run on the same
// clock (RenewerOptions.Clock = mockserver.Server.Clock), so their
// schedule and the sandboxes' expiries move together. Against a
// standalone sandboxmock (SANDBOXMOCK_URL set, see package demo) it does
// the same through the mock's control API: it resets the mock onto a
// manual clock and moves it with mockserver.Remote. Against a real
// lifecycle server (OPEN_SANDBOX_BASE_URL and OPEN_SANDBOX_API_KEY set)
// it uses the shortest lifetimes the API allows and the wall clock, and
// takes about three minutes.
//
//	go run ./examples/keepalive
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// schedule is the time scale of one run.
type schedule struct {
	lifetime  time.Duration // the sandboxes' initial timeout
	renew     lifecycle.RenewerOptions
	duration  time.Duration // how long the pool runs
	step, per time.Duration // the mock clock moves step every per of real time
}

// With the mock: 30-minute sandboxes renewed 10 minutes before expiry,
// for two hours of mock time, at 30 s of mock time per 10 ms.
var mockSchedule = schedule{
	lifetime: 30 * time.Minute,
	renew:    lifecycle.RenewerOptions{Extension: 30 * time.Minute, Margin: 10 * time.Minute},
	duration: 2 * time.Hour,
	step:     30 * time.Second, per: 10 * time.Millisecond,
}

// With a real service: one-minute sandboxes (the API's minimum) renewed
// 40 s before expiry, for three minutes.
var realSchedule = schedule{
	lifetime: time.Minute,
	renew:    lifecycle.RenewerOptions{Extension: time.Minute, Margin: 40 * time.Second},
	duration: 3 * time.Minute,
}

func main() {
	start := time.Now().Truncate(time.Second)
	env := demo.Start("keepalive", sandboxkit.Lifecycle,
		mockserver.WithManualClock(start), // the mock's time moves only when we say
		mockserver.WithTransitionDelay(0), // and its sandboxes start and stop at once
	)
	ctx, cancel := env.Context(10 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	sched := realSchedule
	if !env.Real() {
		sched = mockSchedule
		env.Logf("the mock's clock runs %d× faster than the wall clock; times below are the mock's", int(sched.step/sched.per))
	}

	lc, err := lifecycle.New(env.Options(sandboxkit.Lifecycle)...)
	if err != nil {
		return err
	}

	// Three sandboxes that would expire after sched.lifetime.
	var ids []string
	defer func() { // delete them all at the end, whatever happens
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycle.CleanupTimeout)
		defer cancel()
		for _, id := range ids {
			_ = lc.DeleteAndWait(cctx, id, nil)
		}
	}()
	for i := range 3 {
		sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
			Image:          &lifecycle.Image{URI: "python:3.12"},
			Entrypoint:     []string{"python", "agent.py"},
			Timeout:        sched.lifetime,
			ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
			Metadata:       map[string]string{"example": "keepalive", "agent": fmt.Sprint(i + 1)},
		}, &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		ids = append(ids, sb.ID)
		env.Logf("created %s, expires %s", short(sb.ID), hhmmss(sb.ExpiresAt))
	}

	// One pool keeps them all alive: a scheduler goroutine and a few
	// workers, whatever the number of sandboxes. Callbacks report every
	// renewal, every retried error, and every sandbox the pool gives up
	// on by itself.
	stopped := make(chan *lifecycle.RenewStoppedError, len(ids))
	opts := sched.renew
	opts.Clock = env.Clock() // the mock's clock, or nil: the wall clock
	opts.OnRenew = func(e lifecycle.RenewEvent) {
		env.Logf("renewed %s: expiry %s → %s (+%s)", short(e.ID), hhmmss(e.Previous), hhmmss(e.ExpiresAt), e.ExpiresAt.Sub(e.Previous).Round(time.Second))
	}
	opts.OnError = func(id string, err error) { env.Logf("renewing %s failed, will retry: %v", short(id), err) }
	opts.OnStop = func(e *lifecycle.RenewStoppedError) {
		env.Logf("pool stopped renewing %s: %s (last expiry %s)", short(e.ID), e.Reason, hhmmss(e.ExpiresAt))
		stopped <- e
	}
	pool, err := lifecycle.NewRenewerPool(ctx, lc, &lifecycle.RenewerPoolOptions{RenewerOptions: opts})
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, id := range ids {
		if err := pool.Add(id); err != nil {
			return err
		}
	}
	env.Logf("pool keeps %d sandboxes alive: renew %s before expiry, by %s", pool.Len(), opts.Margin, opts.Extension)

	// Let half the time pass, delete the second sandbox behind the
	// pool's back, and let the rest pass. The pool notices at its next
	// check of that sandbox.
	if err := pass(ctx, env, sched, sched.duration/2); err != nil {
		return err
	}
	victim := ids[1]
	if err := lc.Delete(ctx, victim); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	env.Logf("deleted %s behind the pool's back", short(victim))
	if err := pass(ctx, env, sched, sched.duration/2); err != nil {
		return err
	}

	// The report: the deleted sandbox left the pool, the others are
	// still running, long after their initial lifetime.
	select {
	case e := <-stopped:
		gone := errors.Is(e, sandboxkit.ErrNotFound) || e.Reason == lifecycle.StopTerminated
		if e.ID != victim || !gone {
			return fmt.Errorf("unexpected stop: %w", e)
		}
	default:
		return errors.New("the pool did not report the deleted sandbox")
	}
	env.Logf("after %s the pool keeps %d sandboxes alive:", sched.duration, pool.Len())
	for _, id := range []string{ids[0], ids[2]} {
		sb, err := lc.Get(ctx, id)
		if err != nil {
			return err
		}
		if sb.State() != lifecycle.StateRunning {
			return fmt.Errorf("sandbox %s is %s, want Running", id, sb.State())
		}
		env.Logf("   %s is %s, expires %s", short(id), sb.State(), hhmmss(sb.ExpiresAt))
	}
	return nil
}

// pass lets d go by: on the mock's manual clock, step by step with a
// short real pause after each step so the pool's goroutines can react;
// on the wall clock, by waiting.
func pass(ctx context.Context, env *demo.Env, sched schedule, d time.Duration) error {
	if env.Real() {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for elapsed := time.Duration(0); elapsed < d; elapsed += sched.step {
		if err := env.Mock.Advance(ctx, sched.step); err != nil {
			return err
		}
		select {
		case <-time.After(sched.per):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// short abbreviates a sandbox id for the log.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func hhmmss(t time.Time) string { return t.Local().Format("15:04:05") }
