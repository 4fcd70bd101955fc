package lifecycle_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// recorder collects a renewer's callbacks.
type recorder struct {
	mu     sync.Mutex
	renews []lifecycle.RenewEvent
	errs   []error
	stops  []*lifecycle.RenewStoppedError
}

func (r *recorder) options(o lifecycle.RenewerOptions) *lifecycle.RenewerOptions {
	o.OnRenew = func(e lifecycle.RenewEvent) { r.mu.Lock(); r.renews = append(r.renews, e); r.mu.Unlock() }
	o.OnError = func(_ string, err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }
	o.OnStop = func(e *lifecycle.RenewStoppedError) { r.mu.Lock(); r.stops = append(r.stops, e); r.mu.Unlock() }
	return &o
}

func (r *recorder) snapshot() ([]lifecycle.RenewEvent, []error, []*lifecycle.RenewStoppedError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]lifecycle.RenewEvent(nil), r.renews...), append([]error(nil), r.errs...), append([]*lifecycle.RenewStoppedError(nil), r.stops...)
}

// renewServer starts a mock (on the bubble's clock) holding sandbox "s",
// Running and expiring at exp (zero: never), and returns it with a client.
func renewServer(t *testing.T, exp time.Time, opts ...sandboxkit.Option) (*mockserver.Server, *lifecycle.Client) {
	t.Helper()
	srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	seedSandbox(t, srv, mockserver.SandboxSeed{ID: "s", ExpiresAt: exp})
	return srv, mockClient(t, srv, opts...)
}

func TestRenewerKeepsSandboxAliveForADay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv, c := renewServer(t, start.Add(time.Hour))
		var rec recorder
		r, err := lifecycle.NewRenewer(t.Context(), c, "s", rec.options(lifecycle.RenewerOptions{
			Extension: time.Hour, Margin: 10 * time.Minute,
		}))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(24 * time.Hour) // fake time
		if err := r.Err(); err != nil {
			t.Fatalf("renewer stopped early: %v", err)
		}
		r.Stop()

		renews, errs, stops := rec.snapshot()
		// First renewal at 1h − 10m (− jitter ≤ 1m), then one per hour,
		// each adding the Extension: 24 renewals in 24h.
		if n := len(renews); n < 23 || n > 25 {
			t.Errorf("%d renewals in 24h, want 24±1", n)
		}
		prev := start.Add(time.Hour)
		for i, e := range renews {
			if !e.Previous.Equal(prev) || !e.ExpiresAt.After(e.Previous) {
				t.Errorf("renewal %d: %v -> %v, previous expiry %v", i, e.Previous, e.ExpiresAt, prev)
			}
			if left := e.Previous.Sub(e.At); left > 11*time.Minute || left < 10*time.Minute-time.Second {
				t.Errorf("renewal %d happened %v before expiry, want 10-11m", i, left)
			}
			prev = e.ExpiresAt
		}
		// The service saw the same renewals, none to an earlier time, and
		// the sandbox never expired.
		served := srv.Renewals("s")
		if len(served) != len(renews) {
			t.Errorf("service saw %d renewals, callbacks %d", len(served), len(renews))
		}
		for i, rn := range served {
			if !rn.New.After(rn.Old) {
				t.Errorf("renewal %d shortened the expiry: %v -> %v", i, rn.Old, rn.New)
			}
		}
		if info, ok := srv.Sandbox("s"); !ok || !info.ExpiresAt.After(time.Now()) {
			t.Errorf("sandbox %+v after a day, want alive", info)
		}
		if len(errs) != 0 || len(stops) != 0 {
			t.Errorf("errors %v, stops %v", errs, stops)
		}
		if e, ok := errors.AsType[*lifecycle.RenewStoppedError](r.Err()); !ok || e.Reason != lifecycle.StopRequested {
			t.Errorf("Err() = %v, want StopRequested", r.Err())
		}
		// About two requests per renewal: the read and the renewal.
		if n := srv.Count(mockserver.Filter{Operation: mockserver.OpGetSandbox}); n > 2*len(renews)+3 {
			t.Errorf("%d reads for %d renewals", n, len(renews))
		}
	})
}

func TestRenewerNeverShortensAnExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		_, c := renewServer(t, start.Add(time.Hour))
		var rec recorder
		r, err := lifecycle.NewRenewer(t.Context(), c, "s", rec.options(lifecycle.RenewerOptions{Jitter: -1}))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		// Someone else extends it far beyond the renewer's schedule.
		time.Sleep(30 * time.Minute)
		if _, err := c.Renew(t.Context(), "s", start.Add(5*time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4*time.Hour + 19*time.Minute) // until 4h49m
		if renews, _, _ := rec.snapshot(); len(renews) != 0 {
			t.Fatalf("renewed %v although the expiry was 5h away", renews)
		}
		time.Sleep(2 * time.Minute)
		renews, _, _ := rec.snapshot()
		if len(renews) != 1 || !renews[0].Previous.Equal(start.Add(5*time.Hour)) || !renews[0].ExpiresAt.Equal(start.Add(6*time.Hour)) {
			t.Errorf("renewals = %+v, want one from 5h to 6h", renews)
		}
	})
}

// stoppingAPI reads sandbox "s" Stopping (a state the mock's runtimes do
// not show) and renews nothing.
type stoppingAPI struct{}

func (stoppingAPI) Get(context.Context, string) (*lifecycle.Sandbox, error) {
	return &lifecycle.Sandbox{ID: "s", Status: lifecycle.Status{State: lifecycle.StateStopping}, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (stoppingAPI) Renew(context.Context, string, time.Time) (time.Time, error) {
	return time.Time{}, errors.New("renewed a Stopping sandbox")
}

func TestRenewerStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		plan      func(t *testing.T, srv *mockserver.Server, c *lifecycle.Client)
		reason    lifecycle.StopReason
		wantIs    error
		wantState lifecycle.State
	}{
		{"404", func(t *testing.T, _ *mockserver.Server, c *lifecycle.Client) {
			time.AfterFunc(2*time.Hour, func() {
				if err := c.Delete(context.Background(), "s"); err != nil {
					t.Error(err)
				}
			})
		}, lifecycle.StopNotFound, sandboxkit.ErrNotFound, ""},
		{"Terminated", func(t *testing.T, srv *mockserver.Server, _ *lifecycle.Client) {
			time.AfterFunc(90*time.Minute, func() {
				if err := srv.ExitSandbox("s", 0); err != nil {
					t.Error(err)
				}
			})
		}, lifecycle.StopTerminated, sandboxkit.ErrUnexpectedState, lifecycle.StateTerminated},
		{"Stopping", nil, lifecycle.StopTerminated, sandboxkit.ErrUnexpectedState, lifecycle.StateStopping},
		{"Failed", func(t *testing.T, srv *mockserver.Server, _ *lifecycle.Client) {
			time.AfterFunc(3*time.Hour, func() {
				if err := srv.FailSandbox("s", "OOMKilled", "out of memory"); err != nil {
					t.Error(err)
				}
			})
		}, lifecycle.StopFailed, sandboxkit.ErrUnexpectedState, lifecycle.StateFailed},
		{"no expiry", nil, lifecycle.StopNoExpiry, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				exp := time.Now().Add(time.Hour)
				if tt.reason == lifecycle.StopNoExpiry {
					exp = time.Time{}
				}
				srv, c := renewServer(t, exp)
				var api lifecycle.RenewerAPI = c
				switch {
				case tt.plan != nil:
					tt.plan(t, srv, c)
				case tt.wantState == lifecycle.StateStopping:
					api = stoppingAPI{}
				}
				var rec recorder
				r, err := lifecycle.NewRenewer(t.Context(), api, "s", rec.options(lifecycle.RenewerOptions{}))
				if err != nil {
					t.Fatal(err)
				}
				<-r.Done()
				err = r.Err()
				e, ok := errors.AsType[*lifecycle.RenewStoppedError](err)
				if !ok || e.Reason != tt.reason || e.ID != "s" {
					t.Fatalf("Err() = %v, want reason %q", err, tt.reason)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("Err() = %v, want it to match %v", err, tt.wantIs)
				}
				se, isState := errors.AsType[*sandboxkit.StateError](err)
				switch {
				case tt.wantState != "" && !isState:
					t.Errorf("Err() = %v, want a *sandboxkit.StateError", err)
				case isState && (se.State != string(tt.wantState) || se.Op != "lifecycle.NewRenewer" || se.Kind != "sandbox" ||
					se.ID != "s" || se.Want != nil || se.Observed == nil):
					t.Errorf("StateError = %+v, want state %q of lifecycle.NewRenewer", se, tt.wantState)
				}
				if !strings.Contains(err.Error(), string(tt.reason)) {
					t.Errorf("message %q does not give the reason", err)
				}
				if _, _, stops := rec.snapshot(); len(stops) != 1 || stops[0] != e {
					t.Errorf("OnStop got %v, want the stop once", stops)
				}
				r.Stop() // after the end: returns at once, changes nothing
				if r.Err() != err {
					t.Errorf("Stop after the end changed Err to %v", r.Err())
				}
			})
		})
	}
}

func TestRenewerBacksOffOnTransientErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := renewServer(t, time.Now().Add(5*time.Minute), sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
		// Renew settles a 5xx by reading the expiry back and sends the
		// renewal again itself, up to four requests per call: twelve 503s
		// make three failed calls for the renewer to back off from.
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpRenewSandboxExpiration,
			Status: http.StatusServiceUnavailable, Times: 12}); err != nil {
			t.Fatal(err)
		}
		var rec recorder
		r, err := lifecycle.NewRenewer(t.Context(), c, "s", rec.options(lifecycle.RenewerOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		r.Stop()
		renews, errs, _ := rec.snapshot()
		if len(errs) != 3 || !errors.Is(errs[0], sandboxkit.ErrUnavailable) {
			t.Errorf("errors = %v, want three 503s", errs)
		}
		if len(renews) != 1 {
			t.Errorf("renewals = %v, want 1 after the errors", renews)
		}
	})
}

func TestRenewerContextEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c := renewServer(t, time.Now().Add(time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		var rec recorder
		r, err := lifecycle.NewRenewer(ctx, c, "s", rec.options(lifecycle.RenewerOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		cancel()
		<-r.Done()
		if e, ok := errors.AsType[*lifecycle.RenewStoppedError](r.Err()); !ok || e.Reason != lifecycle.StopContextDone || !errors.Is(r.Err(), context.Canceled) {
			t.Errorf("Err() = %v, want StopContextDone wrapping Canceled", r.Err())
		}
		if _, _, stops := rec.snapshot(); len(stops) != 0 {
			t.Errorf("OnStop called for a stop the caller caused: %v", stops)
		}
	})
}

// memAPI is an in-memory RenewerAPI: the fake for renewer and pool tests
// that do not need HTTP.
type memAPI struct {
	mu         sync.Mutex
	exp        map[string]time.Time
	renewals   map[string]int
	gone       map[string]bool
	violations []string
}

func newMemAPI() *memAPI {
	return &memAPI{exp: map[string]time.Time{}, renewals: map[string]int{}, gone: map[string]bool{}}
}

func (m *memAPI) Get(ctx context.Context, id string) (*lifecycle.Sandbox, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.exp[id]
	if !ok || m.gone[id] {
		return nil, &sandboxkit.APIError{StatusCode: 404, Code: "NOT_FOUND", Operation: "lifecycle.Get"}
	}
	if time.Now().After(exp) {
		m.violations = append(m.violations, id+" expired")
	}
	return &lifecycle.Sandbox{ID: id, Status: lifecycle.Status{State: lifecycle.StateRunning}, ExpiresAt: exp}, nil
}

func (m *memAPI) Renew(ctx context.Context, id string, t time.Time) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone[id] {
		return time.Time{}, &sandboxkit.APIError{StatusCode: 404}
	}
	if !t.After(m.exp[id]) || !t.After(time.Now()) {
		m.violations = append(m.violations, id+" renewed to an earlier time")
		return time.Time{}, &sandboxkit.APIError{StatusCode: 409}
	}
	m.exp[id] = t
	m.renewals[id]++
	return t, nil
}

// Not parallel: goleak compares the goroutines before and after, which
// only works while no other test runs.
func TestRenewerStopLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	api := newMemAPI()
	api.exp["s"] = time.Now().Add(24 * time.Hour)
	r, err := lifecycle.NewRenewer(context.Background(), api, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	r.Stop()
	if e, ok := errors.AsType[*lifecycle.RenewStoppedError](r.Err()); !ok || e.Reason != lifecycle.StopRequested {
		t.Errorf("Err() = %v", r.Err())
	}

	p, err := lifecycle.NewRenewerPool(context.Background(), api, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add("s"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
}
