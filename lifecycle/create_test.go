package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

var pythonReq = &lifecycle.CreateRequest{
	Image:          &lifecycle.Image{URI: "python:3.12"},
	Entrypoint:     []string{"python", "-m", "http.server"},
	ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
	Timeout:        time.Hour,
	Metadata:       map[string]string{"team": "ml"},
}

func isCreate(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/sandboxes")
}

// commit lets the backend create the sandbox and returns the answer it
// would have sent, without sending it.
func (b *fakeBackend) commit(r *http.Request, body []byte) (id string) {
	rec := httptest.NewRecorder()
	b.mu.Lock()
	b.serve(rec, r, body)
	b.mu.Unlock()
	var s struct{ ID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &s)
	return s.ID
}

// The scenario: the service commits the sandbox and then the
// connection drops before the answer. The retried create returns the same
// sandbox and the service holds exactly one.
func TestCreateSurvivesConnectionDroppedAfterCommit(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	var first atomic.Bool
	var madeID atomic.Value
	b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !isCreate(r) || first.Swap(true) {
			return false
		}
		madeID.Store(b.commit(r, body))
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return true
		}
		_ = conn.Close() // no answer at all
		return true
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	c := newClient(t, srv.Client().Transport, sandboxkit.WithBaseURL(srv.URL+"/v1"))

	sb, err := c.Create(t.Context(), pythonReq, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if want := madeID.Load(); sb.ID != want {
		t.Errorf("Create returned %q, the first attempt made %v", sb.ID, want)
	}
	if live := b.live(); len(live) != 1 {
		t.Errorf("service holds %v, want exactly one sandbox", live)
	}
	if n := b.count("POST", "/sandboxes"); n != 1 {
		t.Errorf("%d creates sent, want 1 (the lookup found the sandbox)", n)
	}
	if n := b.count("GET", "/sandboxes"); n != 1 {
		t.Errorf("%d lookups, want 1", n)
	}
	if sb.ClientToken() == "" || sb.Metadata["team"] != "ml" {
		t.Errorf("metadata = %v", sb.Metadata)
	}
}

func TestCreateRetryRules(t *testing.T) {
	t.Parallel()
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		// first decides the first create attempt: answer it (true) or
		// let the backend handle it.
		first       func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte)
		transportEr error // returned by the transport for the first create instead
		wantPosts   int
		wantLookups int
		wantLive    int
		wantErr     error
	}{
		{
			name: "503 after commit: found by lookup",
			first: func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte) {
				b.commit(r, body)
				writeErr(w, 503, "UNAVAILABLE", "gateway gave up")
			},
			wantPosts: 1, wantLookups: 1, wantLive: 1,
		},
		{
			name: "500 before commit: lookup finds nothing, sent again",
			first: func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte) {
				writeErr(w, 500, "INTERNAL", "boom")
			},
			wantPosts: 2, wantLookups: 1, wantLive: 1,
		},
		{
			name: "429: not processed, sent again without lookup",
			first: func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte) {
				writeErr(w, 429, "RATE_LIMITED", "slow down")
			},
			wantPosts: 2, wantLookups: 0, wantLive: 1,
		},
		{
			name:        "connection refused: never sent, sent again without lookup",
			transportEr: dialErr,
			wantPosts:   1, wantLookups: 0, wantLive: 1, // the refused attempt never reached the backend
		},
		{
			name: "400: returned at once",
			first: func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte) {
				writeErr(w, 400, "INVALID", "bad image")
			},
			wantPosts: 1, wantLookups: 0, wantLive: 0, wantErr: sandboxkit.ErrBadRequest,
		},
		{
			name: "409: returned at once",
			first: func(b *fakeBackend, w http.ResponseWriter, r *http.Request, body []byte) {
				writeErr(w, 409, "CONFLICT", "quota")
			},
			wantPosts: 1, wantLookups: 0, wantLive: 0, wantErr: sandboxkit.ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := newFakeBackend()
				var first atomic.Bool
				b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
					if tt.first == nil || !isCreate(r) || first.Swap(true) {
						return false
					}
					tt.first(b, w, r, body)
					return true
				}
				mt := b.transport()
				var refused atomic.Bool
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if tt.transportEr != nil && isCreate(r) && !refused.Swap(true) {
						return nil, tt.transportEr
					}
					return mt.RoundTrip(r)
				})
				c := newClient(t, rt)
				sb, err := c.Create(t.Context(), pythonReq, nil)
				switch {
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				case tt.wantErr == nil && err != nil:
					t.Fatalf("Create: %v", err)
				case tt.wantErr == nil && sb.ID == "":
					t.Fatal("no id")
				}
				if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
					t.Errorf("a definite failure reported as ambiguous: %v", err)
				}
				if n := b.count("POST", "/sandboxes"); n != tt.wantPosts {
					t.Errorf("%d creates reached the service, want %d", n, tt.wantPosts)
				}
				if n := b.count("GET", "/sandboxes"); n != tt.wantLookups {
					t.Errorf("%d lookups, want %d", n, tt.wantLookups)
				}
				if live := b.live(); len(live) != tt.wantLive {
					t.Errorf("service holds %v, want %d", live, tt.wantLive)
				}
			})
		})
	}
}

func TestCreateAttemptTimeoutIsResolvedByLookup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		var first atomic.Bool
		b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if !isCreate(r) || first.Swap(true) {
				return false
			}
			b.commit(r, body)
			<-r.Context().Done() // the answer never comes
			return true
		}
		c := b.client(t)
		start := time.Now()
		sb, err := c.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{AttemptTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if sb.ID != "sbx-1" || len(b.live()) != 1 || b.count("POST", "/sandboxes") != 1 {
			t.Errorf("got %q; live %v; %d creates", sb.ID, b.live(), b.count("POST", "/sandboxes"))
		}
		if d := time.Since(start); d < 5*time.Second || d > 15*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestCreateWithCallerTokenFindsEarlierSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		b.seed("made-earlier", lifecycle.StatePending, time.Time{}, map[string]string{lifecycle.ClientTokenKey: "job-42", "team": "ml"})
		c := b.client(t)
		sb, err := c.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{ClientToken: "job-42"})
		if err != nil {
			t.Fatal(err)
		}
		if sb.ID != "made-earlier" || b.count("POST", "/sandboxes") != 0 {
			t.Errorf("got %q after %d creates; want the earlier sandbox and none", sb.ID, b.count("POST", "/sandboxes"))
		}
	})
}

func TestCreateReportsUnknownOutcome(t *testing.T) {
	t.Parallel()
	t.Run("lookup fails", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				switch {
				case isCreate(r):
					writeErr(w, 502, "BAD_GATEWAY", "upstream reset")
				case r.Method == http.MethodGet:
					writeErr(w, 500, "INTERNAL", "list broken")
				default:
					return false
				}
				return true
			}
			c := b.client(t, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
			_, err := c.Create(t.Context(), pythonReq, nil)
			ce, ok := errors.AsType[*sandboxkit.OutcomeError](err)
			if !ok {
				t.Fatalf("err = %v, want a *sandboxkit.OutcomeError", err)
			}
			if ce.Token == "" || ce.Op != "lifecycle.Create" || ce.Kind != "sandbox" || ce.ID != "" ||
				!strings.Contains(err.Error(), "after 1 attempt:") || !errors.Is(err, sandboxkit.ErrServer) ||
				!errors.Is(err, sandboxkit.ErrOutcomeUnknown) {
				t.Errorf("OutcomeError = %+v", ce)
			}
			if !strings.Contains(err.Error(), ce.Token) {
				t.Errorf("message %q does not name the token", err)
			}
		})
	})
	t.Run("ctx ends mid-attempt", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := newFakeBackend()
			b.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if !isCreate(r) {
					return false
				}
				b.commit(r, body)
				<-r.Context().Done()
				return true
			}
			c := b.client(t)
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			_, err := c.Create(ctx, pythonReq, nil)
			ce, ok := errors.AsType[*sandboxkit.OutcomeError](err)
			if !ok || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want a *sandboxkit.OutcomeError wrapping DeadlineExceeded", err)
			}
			// Retrying with the reported token returns the sandbox made.
			sb, err := c.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{ClientToken: ce.Token})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{sb.ID}, b.live()); diff != "" {
				t.Errorf("live sandboxes (-want +got):\n%s", diff)
			}
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
