package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// resetTransport drops the connection of the first drop requests that
// match, the way a reset socket does: with commit it lets the server
// process the request first (the answer is lost), without it the request
// never reaches the server. It records the status of every matching
// request the server processed, so a test can count the effective ones.
type resetTransport struct {
	next   http.RoundTripper
	match  func(*http.Request) bool
	commit bool
	drop   atomic.Int32

	mu       sync.Mutex
	statuses []int // of matching requests the backend processed
}

func errReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

func (t *resetTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.match(r) {
		return t.next.RoundTrip(r)
	}
	if t.drop.Add(-1) >= 0 {
		if !t.commit {
			return nil, errReset()
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_ = resp.Body.Close()
		t.record(resp.StatusCode)
		return nil, errReset()
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		t.record(resp.StatusCode)
	}
	return resp, err
}

func (t *resetTransport) record(status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.statuses = append(t.statuses, status)
}

// effective counts the matching requests the server accepted (2xx).
func (t *resetTransport) effective() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.statuses {
		if s >= 200 && s < 300 {
			n++
		}
	}
	return n
}

// sent counts the matching requests the server processed.
func (t *resetTransport) sent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.statuses)
}

// recoverCase is one state-changing call under test, on the mock's
// Docker runtime (every change done when the call answers).
type recoverCase struct {
	name   string
	method string
	suffix string                 // of the action's path
	from   mockserver.SandboxSeed // a sandbox the action applies to
	// conflict is a sandbox the service answers the action with 409; nil
	// when there is none.
	conflict *mockserver.SandboxSeed
	call     func(ctx context.Context, c *lifecycle.Client, id string) error
	// done checks the sandbox after a successful call.
	done func(t *testing.T, srv *mockserver.Server)
}

var renewTo = func() time.Time { return time.Now().Add(2 * time.Hour).Truncate(time.Second) }

func recoverCases() []recoverCase {
	var want time.Time // of the renew case, set by its call
	expiring := func(st string) mockserver.SandboxSeed {
		return mockserver.SandboxSeed{ID: "s", State: st, ExpiresAt: time.Now().Add(time.Hour)}
	}
	state := func(srv *mockserver.Server) string {
		info, ok := srv.Sandbox("s")
		if !ok {
			return "gone"
		}
		return info.State
	}
	return []recoverCase{
		{
			name: "pause", method: http.MethodPost, suffix: "/pause",
			from: expiring(mockserver.StateRunning), conflict: &mockserver.SandboxSeed{ID: "s", State: mockserver.StateFailed},
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Pause(ctx, id) },
			done: func(t *testing.T, srv *mockserver.Server) {
				if st := state(srv); st != mockserver.StatePaused {
					t.Errorf("state %s, want Paused", st)
				}
			},
		},
		{
			name: "resume", method: http.MethodPost, suffix: "/resume",
			from: expiring(mockserver.StatePaused), conflict: &mockserver.SandboxSeed{ID: "s"},
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Resume(ctx, id) },
			done: func(t *testing.T, srv *mockserver.Server) {
				if st := state(srv); st != mockserver.StateRunning {
					t.Errorf("state %s, want Running", st)
				}
			},
		},
		{
			name: "delete", method: http.MethodDelete, suffix: "/sandboxes/s",
			from: expiring(mockserver.StateRunning),
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Delete(ctx, id) },
			done: func(t *testing.T, srv *mockserver.Server) {
				if st := state(srv); st != "gone" {
					t.Errorf("state %s, want gone", st)
				}
			},
		},
		{
			name: "renew", method: http.MethodPost, suffix: "/renew-expiration",
			// A sandbox that never expires cannot be renewed.
			from: expiring(mockserver.StateRunning), conflict: &mockserver.SandboxSeed{ID: "s"},
			call: func(ctx context.Context, c *lifecycle.Client, id string) error {
				want = renewTo()
				got, err := c.Renew(ctx, id, want)
				if err == nil && !got.Equal(want) {
					return errors.New("Renew returned " + got.String() + ", want " + want.String())
				}
				return err
			},
			done: func(t *testing.T, srv *mockserver.Server) {
				if info, _ := srv.Sandbox("s"); !info.ExpiresAt.Equal(want) {
					t.Errorf("expiry %v, want %v", info.ExpiresAt, want)
				}
			},
		},
	}
}

// recoverServer starts a mock on the Docker runtime holding seed.
func recoverServer(t *testing.T, seed mockserver.SandboxSeed) *mockserver.Server {
	t.Helper()
	srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	seedSandbox(t, srv, seed)
	return srv
}

func newResetClient(t *testing.T, srv *mockserver.Server, tc recoverCase, commit bool, drop int32) (*lifecycle.Client, *resetTransport) {
	rt := &resetTransport{next: srv.HTTPClient().Transport, commit: commit, match: func(r *http.Request) bool {
		return r.Method == tc.method && strings.HasSuffix(r.URL.Path, tc.suffix)
	}}
	rt.drop.Store(drop)
	return mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: rt})), rt
}

func reads(srv *mockserver.Server) int {
	return srv.Count(mockserver.Filter{Operation: mockserver.OpGetSandbox})
}

// The service processes the action, then the connection drops before the
// answer. The call reads the sandbox back, sees the change and succeeds;
// the service saw exactly one effective action.
func TestActionSurvivesResetAfterCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range recoverCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := recoverServer(t, tc.from)
				c, rt := newResetClient(t, srv, tc, true, 1)
				if err := tc.call(t.Context(), c, "s"); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				tc.done(t, srv)
				if n := rt.effective(); n != 1 {
					t.Errorf("%d effective %s requests (statuses %v), want 1", n, tc.name, rt.statuses)
				}
				if tc.method == http.MethodPost && rt.sent() != 1 {
					t.Errorf("%d %s requests processed, want 1 (no resend)", rt.sent(), tc.name)
				}
			})
		})
	}
}

// The connection drops before the service saw the request. The sandbox
// is still where it was, so the call sends the action again and succeeds.
func TestActionResentAfterResetBeforeCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range recoverCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := recoverServer(t, tc.from)
				c, rt := newResetClient(t, srv, tc, false, 1)
				if err := tc.call(t.Context(), c, "s"); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				tc.done(t, srv)
				if n := rt.effective(); n != 1 || rt.sent() != 1 {
					t.Errorf("%d of %d %s requests effective, want 1 of 1", n, rt.sent(), tc.name)
				}
				if tc.method == http.MethodPost && reads(srv) != 1 {
					t.Errorf("%d reads, want 1 before the resend", reads(srv))
				}
			})
		})
	}
}

// A 409 to the first request is not ambiguous: it is returned as it is,
// without reading the sandbox back or sending again.
func TestActionConflictUnchanged(t *testing.T) {
	t.Parallel()
	for _, tc := range recoverCases() {
		if tc.conflict == nil {
			continue // the service never answers it with 409
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := recoverServer(t, *tc.conflict)
				c, rt := newResetClient(t, srv, tc, false, 0)
				err := tc.call(t.Context(), c, "s")
				if !errors.Is(err, sandboxkit.ErrConflict) {
					t.Fatalf("%s = %v, want the 409", tc.name, err)
				}
				if ae, ok := errors.AsType[*sandboxkit.APIError](err); !ok || ae.StatusCode != 409 || !strings.HasPrefix(err.Error(), "sandboxkit: lifecycle.") {
					t.Errorf("error %v, want the service's 409 named after the call", err)
				}
				if errors.Is(err, sandboxkit.ErrOutcomeUnknown) {
					t.Errorf("error %v is an OutcomeError", err)
				}
				if rt.sent() != 1 {
					t.Errorf("%d requests, want 1", rt.sent())
				}
				if n := reads(srv); n != 0 {
					t.Errorf("%d reads after a plain 409, want 0", n)
				}
			})
		})
	}
}

// When the sandbox cannot be read back, the outcome stays unknown: an
// *OutcomeError wrapping the reset, and nothing sent again.
func TestActionOutcomeUnknownWhenReadFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := recoverServer(t, mockserver.SandboxSeed{ID: "s"})
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpGetSandbox, Status: 500}); err != nil {
			t.Fatal(err)
		}
		tc := recoverCases()[0]
		c, rt := newResetClient(t, srv, tc, true, 1)
		err := c.Pause(t.Context(), "s")
		oe, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, sandboxkit.ErrOutcomeUnknown) ||
			oe.Op != "lifecycle.Pause" || oe.Kind != "sandbox" || oe.ID != "s" || oe.Token != "" {
			t.Fatalf("Pause = %v, want a *sandboxkit.OutcomeError wrapping the reset", err)
		}
		if !strings.HasPrefix(err.Error(), `sandboxkit: lifecycle.Pause: outcome unknown (sandbox "s"): after 1 attempt: sandboxkit: lifecycle.Pause: `) ||
			!strings.Contains(err.Error(), "(reading the sandbox back failed too: sandboxkit: lifecycle.Get: 500") {
			t.Errorf("message %q", err)
		}
		if rt.sent() != 1 {
			t.Errorf("%d pauses processed, want 1", rt.sent())
		}
	})
}

// A renewal whose 409 follows an ambiguous attempt is success when the
// expiry in force already is the one asked for (someone else's renewal
// landed between the read back and the resend, and the service refused
// the resend).
func TestRenewConflictAfterAmbiguousAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := recoverServer(t, mockserver.SandboxSeed{ID: "s", ExpiresAt: time.Now().Add(time.Hour)})
		want := renewTo()
		other := mockClient(t, srv)
		tc := recoverCases()[3]
		rt := &resetTransport{next: srv.HTTPClient().Transport, match: func(r *http.Request) bool {
			return r.Method == tc.method && strings.HasSuffix(r.URL.Path, tc.suffix)
		}}
		rt.drop.Store(1)
		var readBack atomic.Bool
		lands := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if r.Method == http.MethodGet && !readBack.Swap(true) {
				// The first read back sees the old expiry; another
				// renewal lands right after it, and the service refuses
				// the resend.
				if _, err := other.Renew(r.Context(), "s", want); err != nil {
					t.Error(err)
				}
				if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpRenewSandboxExpiration,
					Status: http.StatusConflict, Times: 1}); err != nil {
					t.Error(err)
				}
			}
			return resp, err
		})
		c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: lands}))
		got, err := c.Renew(t.Context(), "s", want)
		if err != nil || !got.Equal(want) {
			t.Fatalf("Renew = %v, %v; want %v", got, err, want)
		}
		if rt.sent() != 1 || rt.effective() != 0 {
			t.Errorf("statuses %v, want one 409", rt.statuses)
		}
	})
}
