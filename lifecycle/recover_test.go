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
)

// resetTransport drops the connection of the first drop requests that
// match, the way a reset socket does: with commit it lets the backend
// process the request first (the answer is lost), without it the request
// never reaches the backend. It records the status of every matching
// request the backend processed, so a test can count the effective ones.
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

// effective counts the matching requests the backend accepted (2xx).
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

// sent counts the matching requests the backend processed.
func (t *resetTransport) sent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.statuses)
}

// recoverCase is one state-changing call under test.
type recoverCase struct {
	name   string
	method string
	suffix string          // of the action's path
	from   lifecycle.State // the state the action needs
	// conflict is a state in which the service answers the action 409.
	conflict lifecycle.State
	call     func(ctx context.Context, c *lifecycle.Client, id string) error
	// done checks the sandbox after a successful call.
	done func(t *testing.T, b *fakeBackend)
}

var renewTo = func() time.Time { return time.Now().Add(2 * time.Hour).Truncate(time.Second) }

func recoverCases() []recoverCase {
	var want time.Time // of the renew case, set by its call
	return []recoverCase{
		{
			name: "pause", method: http.MethodPost, suffix: "/pause",
			from: lifecycle.StateRunning, conflict: lifecycle.StateStopping,
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Pause(ctx, id) },
			done: func(t *testing.T, b *fakeBackend) {
				if st := b.stateOf("s"); st != lifecycle.StatePausing && st != lifecycle.StatePaused {
					t.Errorf("state %s, want Pausing or Paused", st)
				}
			},
		},
		{
			name: "resume", method: http.MethodPost, suffix: "/resume",
			from: lifecycle.StatePaused, conflict: lifecycle.StateRunning,
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Resume(ctx, id) },
			done: func(t *testing.T, b *fakeBackend) {
				if st := b.stateOf("s"); st != lifecycle.StateResuming && st != lifecycle.StateRunning {
					t.Errorf("state %s, want Resuming or Running", st)
				}
			},
		},
		{
			name: "delete", method: http.MethodDelete, suffix: "/sandboxes/s",
			from: lifecycle.StateRunning, conflict: lifecycle.StateStopping,
			call: func(ctx context.Context, c *lifecycle.Client, id string) error { return c.Delete(ctx, id) },
			done: func(t *testing.T, b *fakeBackend) {
				if st := b.stateOf("s"); st != lifecycle.StateStopping && st != lifecycle.StateTerminated && st != "" {
					t.Errorf("state %s, want Stopping, Terminated or gone", st)
				}
			},
		},
		{
			name: "renew", method: http.MethodPost, suffix: "/renew-expiration",
			from: lifecycle.StateRunning, conflict: lifecycle.StateTerminated,
			call: func(ctx context.Context, c *lifecycle.Client, id string) error {
				want = renewTo()
				got, err := c.Renew(ctx, id, want)
				if err == nil && !got.Equal(want) {
					return errors.New("Renew returned " + got.String() + ", want " + want.String())
				}
				return err
			},
			done: func(t *testing.T, b *fakeBackend) {
				b.mu.Lock()
				defer b.mu.Unlock()
				if got := b.sbx["s"].expiresAt; !got.Equal(want) {
					t.Errorf("expiry %v, want %v", got, want)
				}
			},
		},
	}
}

func (b *fakeBackend) stateOf(id string) lifecycle.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.current(id); s != nil {
		return s.state
	}
	return ""
}

func newResetClient(t *testing.T, b *fakeBackend, tc recoverCase, commit bool, drop int32) (*lifecycle.Client, *resetTransport) {
	rt := &resetTransport{next: b.transport(), commit: commit, match: func(r *http.Request) bool {
		return r.Method == tc.method && strings.HasSuffix(r.URL.Path, tc.suffix)
	}}
	rt.drop.Store(drop)
	return newClient(t, rt), rt
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
				b := newFakeBackend()
				b.seed("s", tc.from, time.Now().Add(time.Hour), nil)
				c, rt := newResetClient(t, b, tc, true, 1)
				if err := tc.call(t.Context(), c, "s"); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				tc.done(t, b)
				if n := rt.effective(); n != 1 {
					t.Errorf("%d effective %s requests (statuses %v), want 1", n, tc.name, rt.statuses)
				}
				if tc.method == http.MethodPost && rt.sent() != 1 {
					t.Errorf("%d %s requests processed, want 1 (no resend)", rt.sent(), tc.name)
				}
				if p := b.problems(); len(p) > 0 {
					t.Errorf("backend problems: %v", p)
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
				b := newFakeBackend()
				b.seed("s", tc.from, time.Now().Add(time.Hour), nil)
				c, rt := newResetClient(t, b, tc, false, 1)
				if err := tc.call(t.Context(), c, "s"); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				tc.done(t, b)
				if n := rt.effective(); n != 1 || rt.sent() != 1 {
					t.Errorf("%d of %d %s requests effective, want 1 of 1", n, rt.sent(), tc.name)
				}
				if tc.method == http.MethodPost && b.count(http.MethodGet, "/sandboxes/s") != 1 {
					t.Errorf("%d reads, want 1 before the resend", b.count(http.MethodGet, "/sandboxes/s"))
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
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := newFakeBackend()
				b.seed("s", tc.conflict, time.Now().Add(time.Hour), nil)
				if tc.name == "renew" {
					b.set("s", func(s *fakeSandbox) { s.state = lifecycle.StateRunning; s.expiresAt = renewTo().Add(time.Hour) })
				}
				c, rt := newResetClient(t, b, tc, false, 0)
				err := tc.call(t.Context(), c, "s")
				if !errors.Is(err, sandboxkit.ErrConflict) {
					t.Fatalf("%s = %v, want the 409", tc.name, err)
				}
				if ae, ok := errors.AsType[*sandboxkit.APIError](err); !ok || ae.StatusCode != 409 || !strings.HasPrefix(err.Error(), "sandboxkit: lifecycle.") {
					t.Errorf("error %v, want the service's 409 named after the call", err)
				}
				if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
					t.Errorf("error %v is an OutcomeError", err)
				}
				if rt.sent() != 1 {
					t.Errorf("%d requests, want 1", rt.sent())
				}
				if n := b.count(http.MethodGet, "/sandboxes/s"); n != 0 {
					t.Errorf("%d reads after a plain 409, want 0", n)
				}
			})
		})
	}
}

// A resume whose Resuming has already completed by the time the sandbox
// is read back: Running counts as done.
func TestResumeCompletedBeforeReadBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StatePaused, time.Time{}, nil)
		b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.Method == http.MethodGet {
				b.set("s", func(s *fakeSandbox) {
					if s.state == lifecycle.StateResuming {
						s.state, s.plan = lifecycle.StateRunning, nil
					}
				})
			}
			return false
		}
		tc := recoverCases()[1]
		c, rt := newResetClient(t, b, tc, true, 1)
		if err := c.Resume(t.Context(), "s"); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if rt.sent() != 1 || b.stateOf("s") != lifecycle.StateRunning {
			t.Errorf("%d resumes sent, state %s; want 1 and Running", rt.sent(), b.stateOf("s"))
		}
	})
}

// When the sandbox cannot be read back, the outcome stays unknown: an
// *OutcomeError wrapping the reset, and nothing sent again.
func TestActionOutcomeUnknownWhenReadFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StateRunning, time.Time{}, nil)
		b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.Method == http.MethodGet {
				writeErr(w, 500, "INTERNAL", "boom")
				return true
			}
			return false
		}
		tc := recoverCases()[0]
		c, rt := newResetClient(t, b, tc, true, 1)
		err := c.Pause(t.Context(), "s")
		oe, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, sandboxkit.ErrOutcomeUnknown) ||
			oe.Op != "lifecycle.Pause" || oe.Kind != "sandbox" || oe.ID != "s" {
			t.Fatalf("Pause = %v, want a *sandboxkit.OutcomeError wrapping the reset", err)
		}
		if !strings.HasPrefix(err.Error(), `sandboxkit: lifecycle.Pause: outcome unknown (sandbox "s"): after 1 attempt: sandboxkit: lifecycle.Pause: `) {
			t.Errorf("message %q", err)
		}
		if rt.sent() != 1 {
			t.Errorf("%d pauses processed, want 1", rt.sent())
		}
	})
}

// A renewal whose 409 follows an ambiguous attempt is success when the
// expiry in force already covers the request (the first attempt was still
// being processed when the sandbox was read back).
func TestRenewConflictAfterAmbiguousAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("s", lifecycle.StateRunning, time.Now().Add(time.Hour), nil)
		want := renewTo()
		var reads atomic.Int32
		b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.Method == http.MethodGet && reads.Add(1) == 1 {
				// The first read back sees the old expiry; the renewal
				// lands right after it.
				b.mu.Lock()
				b.serve(w, r, body)
				b.sbx["s"].expiresAt = want
				b.mu.Unlock()
				return true
			}
			return false
		}
		tc := recoverCases()[3]
		c, rt := newResetClient(t, b, tc, false, 1)
		got, err := c.Renew(t.Context(), "s", want)
		if err != nil || !got.Equal(want) {
			t.Fatalf("Renew = %v, %v; want %v", got, err, want)
		}
		if rt.sent() != 1 || rt.effective() != 0 {
			t.Errorf("statuses %v, want one 409", rt.statuses)
		}
	})
}
