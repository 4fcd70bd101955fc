package lifecycle_test

// Regression tests for what the real OpenSandbox server does that the
// SDK once mishandled (issue 11), and for the hardening of issue 12. Each
// fails on the code before the fix.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// busyboxReq returns a fresh create request (callers may change it).
func busyboxReq() *lifecycle.CreateRequest {
	return &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "busybox"},
		Entrypoint:     []string{"sleep", "3600"},
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"},
		Timeout:        time.Hour,
	}
}

// A sandbox whose entrypoint exits at once is answered Running by the
// real server's create (it has just started the container); the next
// read shows Failed. CreateAndWait must read it back before declaring
// success, so DeleteOnFailure can clean up.
func TestCreateAndWaitConfirmsRunningWithARead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
		// The entrypoint "exits" as the create answer travels back.
		exits := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := srv.HTTPClient().Transport.RoundTrip(r)
			if err == nil && r.Method == http.MethodPost && r.URL.Path == "/v1/sandboxes" && resp.StatusCode == http.StatusAccepted {
				for _, s := range srv.Sandboxes() {
					if s.State == mockserver.StateRunning {
						_ = srv.FailSandbox(s.ID, "CONTAINER_EXITED_ERROR", "Sandbox container exited with code 3.")
					}
				}
			}
			return resp, err
		})
		c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: exits}))

		sb, err := c.CreateAndWait(t.Context(), busyboxReq(), &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || se.State != string(lifecycle.StateFailed) {
			t.Fatalf("CreateAndWait = %+v, %v; want a *StateError for Failed", sb, err)
		}
		if sb == nil || sb.ID == "" || sb.State() != lifecycle.StateFailed {
			t.Fatalf("CreateAndWait returned sandbox %+v, want the Failed one it made", sb)
		}
		if dels := srv.Deletions(); len(dels) != 1 || dels[0].ID != sb.ID {
			t.Errorf("deletions = %+v, want sandbox %s deleted (DeleteOnFailure)", dels, sb.ID)
		}
		// The default (Kubernetes) runtime shows the deleted sandbox
		// Failed until its deletion completes; CreateAndWait waited for it.
		if got, err := c.Get(t.Context(), sb.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("after DeleteOnFailure: Get = %+v, %v; want not found", got, err)
		}
	})
}

// OpenSandbox's Kubernetes runtime never reports Stopping: a deleted
// workload shows its last state, Failed included, until it is gone.
// DeleteAndWait waits through that state until the sandbox is not found.
func TestDeleteAndWaitThroughTheLastStateOnKubernetes(t *testing.T) {
	t.Parallel()
	const deletion = time.Minute
	for _, state := range []lifecycle.State{lifecycle.StateRunning, lifecycle.StatePaused, lifecycle.StateFailed} {
		t.Run(string(state), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes),
					mockserver.WithTransition(mockserver.TransitionStop, mockserver.After(deletion)))
				c := mockClient(t, srv)
				sb, err := c.CreateAndWait(t.Context(), busyboxReq(), nil)
				if err != nil {
					t.Fatal(err)
				}
				switch state {
				case lifecycle.StatePaused:
					_, err = c.PauseAndWait(t.Context(), sb.ID, nil)
				case lifecycle.StateFailed:
					err = srv.FailSandbox(sb.ID, "", "")
				}
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if err := c.DeleteAndWait(t.Context(), sb.ID, nil); err != nil {
					t.Fatalf("DeleteAndWait of a %s sandbox: %v", state, err)
				}
				if d := time.Since(start); d < deletion {
					t.Errorf("DeleteAndWait returned after %v, before the deletion completed (%v)", d, deletion)
				}
				if got, err := c.Get(t.Context(), sb.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
					t.Errorf("after DeleteAndWait: Get = %+v, %v; want not found", got, err)
				}
			})
		})
	}
}

// An entrypoint may also exit a moment after the create answered (on the
// real server the first read can still say Running): CreateAndWait
// trusts only a Running read made MinDelay after the answer.
func TestCreateAndWaitWatchesForMinDelay(t *testing.T) {
	t.Parallel()
	for _, exitAfter := range []time.Duration{0, 100 * time.Millisecond, 240 * time.Millisecond} {
		t.Run(exitAfter.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := mockserver.Start(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
				exits := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					resp, err := srv.HTTPClient().Transport.RoundTrip(r)
					if err == nil && r.Method == http.MethodPost && r.URL.Path == "/v1/sandboxes" {
						var id string
						for _, s := range srv.Sandboxes() {
							id = s.ID
						}
						time.AfterFunc(exitAfter, func() { _ = srv.FailSandbox(id, "CONTAINER_EXITED_ERROR", "exited with code 3") })
					}
					return resp, err
				})
				c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: exits}))
				start := time.Now()
				sb, err := c.CreateAndWait(t.Context(), busyboxReq(), nil)
				if !errors.Is(err, sandboxkit.ErrUnexpectedState) || sb == nil || sb.State() != lifecycle.StateFailed {
					t.Fatalf("CreateAndWait = %+v, %v; want the Failed sandbox and a *StateError", sb, err)
				}
				if d := time.Since(start); d > sandboxkit.DefaultWaitMinDelay {
					t.Errorf("took %v, want at most MinDelay", d)
				}
			})
		})
	}

	// A read that started at once but answered late (a busy server)
	// does not count as late: its Running is from before the exit.
	t.Run("slow read", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
			var reads atomic.Int32
			slow := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := srv.HTTPClient().Transport.RoundTrip(r)
				switch {
				case err == nil && r.Method == http.MethodPost:
					id := srv.Sandboxes()[0].ID
					time.AfterFunc(100*time.Millisecond, func() { _ = srv.FailSandbox(id, "CONTAINER_EXITED_ERROR", "exited with code 3") })
				case err == nil && r.Method == http.MethodGet && reads.Add(1) == 1:
					time.Sleep(time.Second) // the answer (Running) arrives late
				}
				return resp, err
			})
			c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: slow}))
			sb, err := c.CreateAndWait(t.Context(), busyboxReq(), nil)
			if !errors.Is(err, sandboxkit.ErrUnexpectedState) || sb == nil || sb.State() != lifecycle.StateFailed {
				t.Fatalf("CreateAndWait = %+v, %v; want the Failed sandbox and a *StateError", sb, err)
			}
		})
	})

	// A healthy sandbox costs MinDelay more than the create, no more.
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
		c := mockClient(t, srv)
		start := time.Now()
		sb, err := c.CreateAndWait(t.Context(), busyboxReq(), &lifecycle.CreateAndWaitOptions{Wait: &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond}})
		if err != nil || sb.State() != lifecycle.StateRunning {
			t.Fatalf("CreateAndWait = %+v, %v", sb, err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("took %v, want MinDelay (50ms)", d)
		}
		if n := srv.Count(mockserver.Filter{Operation: "GetSandbox"}); n != 2 {
			t.Errorf("%d reads, want 2 (at once, and MinDelay after the answer)", n)
		}
	})
}

// Any call that made something returns it with a later error: a sandbox
// gone before its first read still comes back from CreateAndWait (with
// the create answer), so the caller has its id.
func TestCreateAndWaitReturnsTheSandboxItMade(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "GetSandbox", Status: http.StatusNotFound}); err != nil {
			t.Fatal(err)
		}
		c := mockClient(t, srv)
		sb, err := c.CreateAndWait(t.Context(), busyboxReq(), nil)
		if !errors.Is(err, sandboxkit.ErrUnexpectedState) || !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("err = %v, want a not-found *StateError", err)
		}
		created := srv.Creations()
		if len(created) != 1 {
			t.Fatalf("%d sandboxes created, want 1", len(created))
		}
		if sb == nil || sb.ID != created[0].ID {
			t.Errorf("CreateAndWait returned %+v with its error, want the sandbox %s it made", sb, created[0].ID)
		}
	})
}

// Every ...AndWait checks all its arguments, waiter options included,
// before sending anything.
func TestAndWaitChecksEverythingFirst(t *testing.T) {
	t.Parallel()
	bad := &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Millisecond}
	calls := map[string]func(ctx context.Context, c *lifecycle.Client, id string) error{
		"CreateAndWait": func(ctx context.Context, c *lifecycle.Client, _ string) error {
			_, err := c.CreateAndWait(ctx, busyboxReq(), &lifecycle.CreateAndWaitOptions{Wait: bad})
			return err
		},
		"CreateAndWait negative": func(ctx context.Context, c *lifecycle.Client, _ string) error {
			_, err := c.CreateAndWait(ctx, busyboxReq(), &lifecycle.CreateAndWaitOptions{Wait: &sandboxkit.WaitOptions{MinDelay: -1}})
			return err
		},
		"PauseAndWait": func(ctx context.Context, c *lifecycle.Client, id string) error {
			_, err := c.PauseAndWait(ctx, id, bad)
			return err
		},
		"ResumeAndWait": func(ctx context.Context, c *lifecycle.Client, id string) error {
			_, err := c.ResumeAndWait(ctx, id, bad)
			return err
		},
		"DeleteAndWait": func(ctx context.Context, c *lifecycle.Client, id string) error {
			return c.DeleteAndWait(ctx, id, bad)
		},
		"CreateSnapshotAndWait": func(ctx context.Context, c *lifecycle.Client, id string) error {
			_, err := c.CreateSnapshotAndWait(ctx, id, &lifecycle.CreateSnapshotAndWaitOptions{Wait: bad})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := mockserver.Start(t)
			id, err := srv.AddSandbox(mockserver.DefaultTenant, mockserver.SandboxSeed{State: mockserver.StateRunning})
			if err != nil {
				t.Fatal(err)
			}
			srv.ResetJournal()
			err = call(t.Context(), mockClient(t, srv), id)
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if n := len(srv.Journal()); n != 0 {
				t.Errorf("%d requests sent before the bad options were noticed: %+v", n, srv.Journal())
			}
			if info, _ := srv.Sandbox(id); info.State != mockserver.StateRunning {
				t.Errorf("sandbox is %s, want it untouched (Running)", info.State)
			}
		})
	}
}

// A zero Timeout no longer makes a sandbox that never expires: it gets
// DefaultSandboxTimeout. Never expiring is an explicit choice.
func TestCreateTimeoutDefault(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	srv := mockserver.Start(t, mockserver.WithManualClock(start))
	c := mockClient(t, srv)

	req := busyboxReq()
	req.Timeout = 0
	sb, err := c.Create(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := start.Add(lifecycle.DefaultSandboxTimeout); !sb.ExpiresAt.Equal(want) {
		t.Errorf("zero Timeout: expiresAt %v, want %v (DefaultSandboxTimeout)", sb.ExpiresAt, want)
	}
	if lifecycle.DefaultSandboxTimeout != 10*time.Minute {
		t.Errorf("DefaultSandboxTimeout = %v, documented as 10m", lifecycle.DefaultSandboxTimeout)
	}

	req.NeverExpires = true
	sb, err = c.Create(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := srv.Sandbox(sb.ID); !info.ExpiresAt.IsZero() || !sb.ExpiresAt.IsZero() {
		t.Errorf("NeverExpires: expiresAt %v (server %v), want none", sb.ExpiresAt, info.ExpiresAt)
	}

	srv.ResetJournal()
	req.Timeout = time.Hour
	if _, err := c.Create(t.Context(), req, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("NeverExpires with a Timeout: err = %v, want ErrInvalidInput", err)
	}
	if n := len(srv.Journal()); n != 0 {
		t.Errorf("%d requests sent for an invalid request", n)
	}
}

// Concurrent creates sharing a client token in one process collapse into
// one create; every caller gets the one sandbox.
func TestConcurrentCreatesWithOneTokenMakeOneSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		// A create that takes a while, as on a real server (1.5–4 s).
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "CreateSandbox", Latency: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		c := mockClient(t, srv)
		// A second client from the same configuration shares the flight.
		c2, err := lifecycle.NewFromConfig(c.Config())
		if err != nil {
			t.Fatal(err)
		}
		const callers = 16
		ids := make([]string, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				cc := c
				if i%2 == 1 {
					cc = c2
				}
				sb, err := cc.Create(t.Context(), busyboxReq(), &lifecycle.CreateOptions{ClientToken: "job-42"})
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
					return
				}
				ids[i] = sb.ID
			})
		}
		wg.Wait()
		if n := srv.CreationCounts(lifecycle.ClientTokenKey)["job-42"]; n != 1 {
			t.Errorf("%d sandboxes made for one token, want 1", n)
		}
		if n := srv.Count(mockserver.Filter{Operation: "CreateSandbox"}); n != 1 {
			t.Errorf("%d create requests, want 1", n)
		}
		for i, id := range ids {
			if id != ids[0] {
				t.Errorf("caller %d got sandbox %q, caller 0 %q", i, id, ids[0])
			}
		}
	})
}

// A caller waiting for another's create with the same token gives up
// when its own context ends, and a leader that failed leaves the next
// caller to try by itself.
func TestCreateFlightFollowersUseTheirOwnContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		fid, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "CreateSandbox", Latency: time.Minute, Status: http.StatusBadRequest, Times: 1})
		if err != nil {
			t.Fatal(err)
		}
		c := mockClient(t, srv)
		opts := &lifecycle.CreateOptions{ClientToken: "job-7"}
		leaderDone := make(chan error, 1)
		go func() {
			_, err := c.Create(t.Context(), busyboxReq(), opts)
			leaderDone <- err
		}()
		synctest.Wait() // the leader's request is in flight

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := c.Create(ctx, busyboxReq(), opts); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("follower with a 1s deadline: %v, want its deadline", err)
		}
		if err := <-leaderDone; !errors.Is(err, sandboxkit.ErrBadRequest) {
			t.Fatalf("leader: %v, want the injected 400", err)
		}
		if srv.FaultFired(fid) != 1 {
			t.Fatal("fault did not fire")
		}
		sb, err := c.Create(t.Context(), busyboxReq(), opts)
		if err != nil || sb.ClientToken() != "job-7" {
			t.Fatalf("after the leader failed: %+v, %v", sb, err)
		}
	})
}

// The real server answers a list that races a delete with 500
// DOCKER::SANDBOX_QUERY_FAILED; Create's token lookup reads again.
func TestCreateLookupSurvivesA500(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes", Status: http.StatusInternalServerError,
			Body: `{"code":"DOCKER::SANDBOX_QUERY_FAILED","message":"Failed to query sandbox containers: 404 Client Error"}`, Times: 1}); err != nil {
			t.Fatal(err)
		}
		c := mockClient(t, srv)
		sb, err := c.Create(t.Context(), busyboxReq(), &lifecycle.CreateOptions{ClientToken: "job-500"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if sb.ClientToken() != "job-500" {
			t.Errorf("token = %q", sb.ClientToken())
		}
		if n := srv.Count(mockserver.Filter{Operation: "ListSandboxes"}); n != 2 {
			t.Errorf("%d lookups, want 2 (one 500, one read again)", n)
		}
	})
}

// With retries off, a lookup's 500 is not read again.
func TestCreateLookupHonoursRetriesOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes", Status: http.StatusInternalServerError, Times: 1}); err != nil {
			t.Fatal(err)
		}
		c := mockClient(t, srv, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
		if _, err := c.Create(t.Context(), busyboxReq(), &lifecycle.CreateOptions{ClientToken: "job-500"}); !errors.Is(err, sandboxkit.ErrServer) {
			t.Fatalf("Create = %v, want the lookup's 500", err)
		}
		if n := srv.Count(mockserver.Filter{Operation: "ListSandboxes"}); n != 1 {
			t.Errorf("%d lookups, want 1", n)
		}
	})
}

// An empty metadata patch is not sent: on the real server any patch
// brings back deleted creation keys.
func TestEmptyPatchIsNotSent(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id, err := srv.AddSandbox(mockserver.DefaultTenant, mockserver.SandboxSeed{State: mockserver.StateRunning, Metadata: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := mockClient(t, srv)
	for _, p := range []*lifecycle.MetadataPatch{nil, {}, {Set: map[string]string{}, Delete: []string{}}} {
		sb, err := c.PatchMetadata(t.Context(), id, p)
		if err != nil {
			t.Fatal(err)
		}
		if sb.ID != id || sb.Metadata["a"] != "1" {
			t.Errorf("PatchMetadata(%+v) = %+v", p, sb)
		}
	}
	if n := srv.Count(mockserver.Filter{Operation: "PatchSandboxMetadata"}); n != 0 {
		t.Errorf("%d empty patches sent, want none", n)
	}
}

// A Renewer on a manual clock set far behind the wall clock keeps
// renewing: "in the future" is judged on its clock, not the wall clock.
func TestRenewerOnAClockBehindTheWallClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().AddDate(-1, 0, 0)
		srv := mockserver.Start(t, mockserver.WithManualClock(start), mockserver.WithTransitionDelay(0))
		c := mockClient(t, srv)
		sb, err := c.Create(t.Context(), busyboxReq(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var stopped atomic.Pointer[lifecycle.RenewStoppedError]
		r, err := lifecycle.NewRenewer(t.Context(), c, sb.ID, &lifecycle.RenewerOptions{
			Jitter: -1, Clock: srv.Clock(),
			OnStop: func(e *lifecycle.RenewStoppedError) { stopped.Store(e) },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		for range 3 * 60 {
			synctest.Wait()
			if err := srv.Advance(time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if e := stopped.Load(); e != nil {
			t.Fatalf("renewer stopped: %v", e)
		}
		if n := len(srv.Renewals(sb.ID)); n != 3 {
			t.Errorf("%d renewals in 3h with 1h extensions, want 3", n)
		}
		if info, _ := srv.Sandbox(sb.ID); info.State != mockserver.StateRunning {
			t.Errorf("after 3h: %s, want Running", info.State)
		}
	})
}

// cappingAPI grants at most cap per renewal, as a service that caps
// lifetimes does; it gives up (a non-retryable error) after limit renewals
// so that a renewer that spins ends instead of hanging the bubble.
type cappingAPI struct {
	cap   time.Duration
	limit int

	mu     sync.Mutex
	exp    time.Time
	renews []time.Time // when each renewal was asked
}

func (a *cappingAPI) Get(context.Context, string) (*lifecycle.Sandbox, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &lifecycle.Sandbox{ID: "sb", Status: lifecycle.Status{State: lifecycle.StateRunning}, ExpiresAt: a.exp}, nil
}

func (a *cappingAPI) Renew(_ context.Context, _ string, t time.Time) (time.Time, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	a.renews = append(a.renews, now)
	if len(a.renews) > a.limit {
		return time.Time{}, &sandboxkit.APIError{StatusCode: http.StatusForbidden, Message: "too many renewals"}
	}
	a.exp = t
	if c := now.Add(a.cap); c.Before(t) {
		a.exp = c
	}
	a.exp = a.exp.Truncate(time.Second)
	return a.exp, nil
}

func (a *cappingAPI) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.renews)
}

// Renewals that come back shorter than the margin (a service capping
// lifetimes at 3 minutes, a 10-minute margin) are spaced out, never
// closer than a second, and still keep the sandbox alive.
func TestRenewerBacksOffWhenRenewalsComeBackShort(t *testing.T) {
	t.Parallel()
	for _, pool := range []bool{false, true} {
		t.Run(fmt.Sprintf("pool=%v", pool), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				api := &cappingAPI{cap: 3 * time.Minute, limit: 1000}
				api.exp = time.Now().Add(2 * time.Minute).Truncate(time.Second)
				opts := lifecycle.RenewerOptions{Jitter: -1}
				if pool {
					p, err := lifecycle.NewRenewerPool(t.Context(), api, &lifecycle.RenewerPoolOptions{RenewerOptions: opts})
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					if err := p.Add("sb"); err != nil {
						t.Fatal(err)
					}
				} else {
					r, err := lifecycle.NewRenewer(t.Context(), api, "sb", &opts)
					if err != nil {
						t.Fatal(err)
					}
					defer r.Stop()
				}
				const watch = time.Hour
				time.Sleep(watch) // bubble time
				renews := api.times()
				if len(renews) > 200 {
					t.Fatalf("%d renewals in %v: spinning", len(renews), watch)
				}
				for i := 1; i < len(renews); i++ {
					if d := renews[i].Sub(renews[i-1]); d < time.Second {
						t.Errorf("renewals %d and %d %v apart, want at least 1s", i-1, i, d)
					}
				}
				// It stays ahead of the capped expiry.
				if left := time.Until(api.exp); left <= 0 {
					t.Errorf("sandbox expired %v ago", -left)
				}
				if len(renews) < int(watch/(3*time.Minute)) {
					t.Errorf("%d renewals in %v with 3m lifetimes: too few to stay alive", len(renews), watch)
				}
			})
		})
	}
}

// A renewal may shorten (the real server only checks "in the future"). A
// renewal to an earlier time whose first attempt was lost before it
// reached the service is sent again: an expiry later than the one asked
// for does not mean it took effect.
func TestRenewToAnEarlierTimeIsSettledExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		old := time.Now().Add(2 * time.Hour).Truncate(time.Second)
		want := time.Now().Add(30 * time.Minute).Truncate(time.Second)
		var (
			mu      sync.Mutex
			exp     = old
			renews  int
			dropped bool
		)
		c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json")
			switch {
			case r.Method == http.MethodPost && !dropped:
				dropped = true
				return nil, errReset() // lost on the way: never processed
			case r.Method == http.MethodPost:
				renews++
				var body struct{ ExpiresAt time.Time }
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					return nil, err
				}
				exp = body.ExpiresAt
				_ = json.NewEncoder(rec).Encode(map[string]any{"expiresAt": exp})
			default:
				_ = json.NewEncoder(rec).Encode(map[string]any{"id": "s", "status": map[string]string{"state": "Running"},
					"entrypoint": []string{"sleep"}, "createdAt": time.Now(), "expiresAt": exp})
			}
			return rec.Result(), nil
		}))
		got, err := c.Renew(t.Context(), "s", want)
		if err != nil || !got.Equal(want) {
			t.Fatalf("Renew = %v, %v; want %v", got, err, want)
		}
		if renews != 1 || !exp.Equal(want) {
			t.Errorf("%d renewals processed, expiry %v; want the one renewal to %v", renews, exp, want)
		}
	})
}
