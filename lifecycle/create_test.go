package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
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

// lostAnswer wraps srv's transport: the first create reaches the server
// (which makes the sandbox), then its answer is lost and the request
// hangs until its context ends.
func lostAnswer(srv *mockserver.Server) http.RoundTripper {
	next := srv.HTTPClient().Transport
	var first atomic.Bool
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if !isCreate(r) || first.Swap(true) {
			return next.RoundTrip(r)
		}
		resp, err := next.RoundTrip(r.WithContext(context.WithoutCancel(r.Context())))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
}

// The scenario: the service commits the sandbox and then the
// connection drops before the answer. The retried create returns the same
// sandbox and the service holds exactly one.
func TestCreateSurvivesConnectionDroppedAfterCommit(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithListener("127.0.0.1:0"))
	if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox,
		AfterCommit: true, Reset: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{})) // over a real socket

	sb, err := c.Create(t.Context(), pythonReq, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if made := srv.Creations(); len(made) != 1 || sb.ID != made[0].ID {
		t.Errorf("Create returned %q, the service made %+v", sb.ID, made)
	}
	if live := live(srv); len(live) != 1 {
		t.Errorf("service holds %v, want exactly one sandbox", live)
	}
	if n := creates(srv); n != 1 {
		t.Errorf("%d creates sent, want 1 (the lookup found the sandbox)", n)
	}
	if n := lookups(srv); n != 1 {
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
		name        string
		first       *mockserver.Fault // shapes the first create
		transportEr error             // returned by the transport for the first create instead
		wantPosts   int
		wantLookups int
		wantLive    int
		wantErr     error
	}{
		{
			name:      "503 after commit: found by lookup",
			first:     &mockserver.Fault{Status: 503, AfterCommit: true},
			wantPosts: 1, wantLookups: 1, wantLive: 1,
		},
		{
			name:      "500 before commit: lookup finds nothing, sent again",
			first:     &mockserver.Fault{Status: 500},
			wantPosts: 2, wantLookups: 1, wantLive: 1,
		},
		{
			name:      "429: not processed, sent again without lookup",
			first:     &mockserver.Fault{Status: 429},
			wantPosts: 2, wantLookups: 0, wantLive: 1,
		},
		{
			name:        "connection refused: never sent, sent again without lookup",
			transportEr: dialErr,
			wantPosts:   1, wantLookups: 0, wantLive: 1, // the refused attempt never reached the service
		},
		{
			name:      "400: returned at once",
			first:     &mockserver.Fault{Status: 400},
			wantPosts: 1, wantLookups: 0, wantLive: 0, wantErr: sandboxkit.ErrBadRequest,
		},
		{
			name:      "409: returned at once",
			first:     &mockserver.Fault{Status: 409},
			wantPosts: 1, wantLookups: 0, wantLive: 0, wantErr: sandboxkit.ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := mockserver.Start(t)
				if tt.first != nil {
					f := *tt.first
					f.API, f.Operation, f.Times = mockserver.APILifecycle, mockserver.OpCreateSandbox, 1
					if _, err := srv.InjectFault(f); err != nil {
						t.Fatal(err)
					}
				}
				next := srv.HTTPClient().Transport
				var refused atomic.Bool
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if tt.transportEr != nil && isCreate(r) && !refused.Swap(true) {
						return nil, tt.transportEr
					}
					return next.RoundTrip(r)
				})
				c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
				sb, err := c.Create(t.Context(), pythonReq, nil)
				switch {
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				case tt.wantErr == nil && err != nil:
					t.Fatalf("Create: %v", err)
				case tt.wantErr == nil && sb.ID == "":
					t.Fatal("no id")
				}
				if errors.Is(err, sandboxkit.ErrOutcomeUnknown) {
					t.Errorf("a definite failure reported as ambiguous: %v", err)
				}
				if n := creates(srv); n != tt.wantPosts {
					t.Errorf("%d creates reached the service, want %d", n, tt.wantPosts)
				}
				if n := lookups(srv); n != tt.wantLookups {
					t.Errorf("%d lookups, want %d", n, tt.wantLookups)
				}
				if live := live(srv); len(live) != tt.wantLive {
					t.Errorf("service holds %v, want %d", live, tt.wantLive)
				}
			})
		})
	}
}

func TestCreateAttemptTimeoutIsResolvedByLookup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: lostAnswer(srv)}))
		start := time.Now()
		sb, err := c.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{AttemptTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if made := srv.Creations(); len(made) != 1 || sb.ID != made[0].ID || len(live(srv)) != 1 || creates(srv) != 1 {
			t.Errorf("got %q; made %+v; live %v; %d creates", sb.ID, made, live(srv), creates(srv))
		}
		if d := time.Since(start); d < 5*time.Second || d > 15*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestCreateWithCallerTokenFindsEarlierSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		seedSandbox(t, srv, mockserver.SandboxSeed{ID: "made-earlier", State: mockserver.StatePending,
			Metadata: map[string]string{lifecycle.ClientTokenKey: "job-42", "team": "ml"}})
		c := mockClient(t, srv)
		sb, err := c.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{ClientToken: "job-42"})
		if err != nil {
			t.Fatal(err)
		}
		if sb.ID != "made-earlier" || creates(srv) != 0 {
			t.Errorf("got %q after %d creates; want the earlier sandbox and none", sb.ID, creates(srv))
		}
	})
}

func TestCreateReportsUnknownOutcome(t *testing.T) {
	t.Parallel()
	t.Run("lookup fails", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t)
			for _, f := range []mockserver.Fault{
				{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox, Status: 502},
				{API: mockserver.APILifecycle, Operation: mockserver.OpListSandboxes, Status: 500},
			} {
				if _, err := srv.InjectFault(f); err != nil {
					t.Fatal(err)
				}
			}
			c := mockClient(t, srv, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
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
			if !strings.HasPrefix(err.Error(), `sandboxkit: lifecycle.Create: outcome unknown (token "`+ce.Token+`"): `) {
				t.Errorf("message %q does not name the token", err)
			}
		})
	})
	t.Run("ctx ends mid-attempt", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := mockserver.Start(t)
			c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{Transport: lostAnswer(srv)}))
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
			if diff := cmp.Diff([]string{sb.ID}, live(srv)); diff != "" {
				t.Errorf("live sandboxes (-want +got):\n%s", diff)
			}
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
