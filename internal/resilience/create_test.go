package resilience

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// createOps returns the create and lookup requests of the journal, e.g.
// "CreateSandbox:500 ListSandboxes:200" (status 0: connection reset).
func createOps(srv *mockserver.Server) string {
	var ops []string
	for _, e := range srv.Journal() {
		if e.Operation == "CreateSandbox" || e.Operation == "ListSandboxes" {
			ops = append(ops, fmt.Sprintf("%s:%d", e.Operation, e.Status))
		}
	}
	return strings.Join(ops, " ")
}

// TestCreateExactlyOnce injects, one at a time, the failures that make a
// create ambiguous (the sandbox was made but the answer is an error or a
// dropped connection) and those that do not (the request was refused
// before anything happened), and checks that Create returns the one
// sandbox made, made exactly once, with the requests the design calls
// for: no transport retry of the POST, a token lookup after an ambiguous
// attempt, a new attempt only when the lookup finds nothing.
func TestCreateExactlyOnce(t *testing.T) {
	t.Parallel()
	create := mockserver.Fault{API: mockserver.APILifecycle, Operation: "CreateSandbox", Times: 1}
	lookup := mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes"}
	with := func(f mockserver.Fault, edit func(*mockserver.Fault)) mockserver.Fault {
		edit(&f)
		return f
	}
	const created = "CreateSandbox:202"
	for _, tc := range []struct {
		name   string
		faults func() []mockserver.Fault
		token  bool   // the caller gives a client token
		want   string // createOps
	}{
		{"500 after commit", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Status, f.AfterCommit = 500, true })}
		}, false, "CreateSandbox:500 ListSandboxes:200"},
		{"reset after commit", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Reset, f.AfterCommit = true, true })}
		}, false, "CreateSandbox:0 ListSandboxes:200"},
		{"502 after commit", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Status, f.AfterCommit = 502, true })}
		}, false, "CreateSandbox:502 ListSandboxes:200"},
		{"504 after commit, lookups fail twice", func() []mockserver.Fault {
			return []mockserver.Fault{
				with(create, func(f *mockserver.Fault) { f.Status, f.AfterCommit = 504, true }),
				with(lookup, func(f *mockserver.Fault) { f.Status, f.RetryAfter, f.Times = 503, time.Second, 1 }),
				with(lookup, func(f *mockserver.Fault) { f.Reset, f.Times = true, 1 }),
			}
		}, false, "CreateSandbox:504 ListSandboxes:503 ListSandboxes:0 ListSandboxes:200"},
		{"reset after commit, caller's token", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Reset, f.AfterCommit = true, true })}
		}, true, "ListSandboxes:200 CreateSandbox:0 ListSandboxes:200"},
		{"503 before commit", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Status, f.RetryAfter = 503, time.Second })}
		}, false, "CreateSandbox:503 ListSandboxes:200 " + created},
		{"reset before commit", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Reset = true })}
		}, false, "CreateSandbox:0 ListSandboxes:200 " + created},
		{"429", func() []mockserver.Fault {
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Status = http.StatusTooManyRequests })}
		}, false, "CreateSandbox:429 " + created},
		{"three after-commit failures of three creates", func() []mockserver.Fault {
			// Only the first create is sent: its sandbox is found.
			return []mockserver.Fault{with(create, func(f *mockserver.Fault) { f.Status, f.AfterCommit, f.Times = 500, true, 3 })}
		}, false, "CreateSandbox:500 ListSandboxes:200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := mockserver.Start(t, mockserver.WithTenant(chaosAPIKey, "chaos"))
				lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...) // the default retry policy: the POST must not use it
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range tc.faults() {
					if _, err := srv.InjectFault(f); err != nil {
						t.Fatal(err)
					}
				}
				var opts lifecycle.CreateOptions
				if tc.token {
					opts.ClientToken = "caller-token-1"
				}
				sb, err := lc.Create(t.Context(), &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits()}, &opts)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				creations := srv.Creations()
				if len(creations) != 1 || creations[0].ID != sb.ID {
					t.Fatalf("Create returned %s; the server made %+v", sb.ID, creations)
				}
				if tc.token && sb.ClientToken() != opts.ClientToken {
					t.Errorf("client token %q, want %q", sb.ClientToken(), opts.ClientToken)
				}
				if got := createOps(srv); got != tc.want {
					t.Errorf("requests:\n got %s\nwant %s", got, tc.want)
				}
			})
		})
	}
}

// TestCreateUnknownOutcomeThenRetry: when every lookup fails after an
// ambiguous attempt, Create says it cannot tell (a *sandboxkit.OutcomeError naming the
// token); calling it again with that token finds the sandbox the first
// call made instead of making another.
func TestCreateUnknownOutcomeThenRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithTenant(chaosAPIKey, "chaos"))
		lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []mockserver.Fault{
			{API: mockserver.APILifecycle, Operation: "CreateSandbox", Reset: true, AfterCommit: true, Times: 1},
			{API: mockserver.APILifecycle, Operation: "ListSandboxes", Status: http.StatusInternalServerError},
		} {
			if _, err := srv.InjectFault(f); err != nil {
				t.Fatal(err)
			}
		}
		req := &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits()}
		_, err = lc.Create(t.Context(), req, nil)
		ce, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || ce.Token == "" || !strings.Contains(err.Error(), "after 1 attempt") || !errors.Is(err, sandboxkit.ErrServer) {
			t.Fatalf("Create = %v; want a *sandboxkit.OutcomeError after 1 attempt wrapping the lookup's 500", err)
		}
		if strings.Contains(err.Error(), chaosAPIKey) {
			t.Errorf("the error shows the API key: %v", err)
		}
		srv.ClearFaults()
		sb, err := lc.Create(t.Context(), req, &lifecycle.CreateOptions{ClientToken: ce.Token})
		if err != nil {
			t.Fatalf("Create again with the token: %v", err)
		}
		creations := srv.Creations()
		if len(creations) != 1 || creations[0].ID != sb.ID {
			t.Fatalf("the retry returned %s; the server made %+v", sb.ID, creations)
		}
		if n := srv.Count(mockserver.Filter{Operation: "CreateSandbox"}); n != 1 {
			t.Errorf("%d create requests, want 1", n)
		}
	})
}

// TestCreateExactlyOnceOverTCP is TestCreateExactlyOnce's ambiguous
// cases over a real socket and net/http's connection pool: the reset
// comes on a reused keep-alive connection, where net/http itself retries
// requests it deems safe to repeat; it must not repeat the POST.
func TestCreateExactlyOnceOverTCP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault mockserver.Fault
		want  string
	}{
		{"reset after commit", mockserver.Fault{Reset: true, AfterCommit: true}, "ListSandboxes:200 CreateSandbox:0 ListSandboxes:200"},
		{"500 after commit", mockserver.Fault{Status: 500, AfterCommit: true}, "ListSandboxes:200 CreateSandbox:500 ListSandboxes:200"},
		{"reset before commit", mockserver.Fault{Reset: true}, "ListSandboxes:200 CreateSandbox:0 ListSandboxes:200 CreateSandbox:202"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mockserver.Start(t, mockserver.WithTenant(chaosAPIKey, "chaos"), mockserver.WithListener("127.0.0.1:0"))
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			t.Cleanup(tr.CloseIdleConnections)
			lc, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithHTTPClient(&http.Client{Transport: tr}))...)
			if err != nil {
				t.Fatal(err)
			}
			// A first request leaves a keep-alive connection in the pool.
			if _, err := lc.List(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			f := tc.fault
			f.API, f.Operation, f.Times = mockserver.APILifecycle, "CreateSandbox", 1
			if _, err := srv.InjectFault(f); err != nil {
				t.Fatal(err)
			}
			sb, err := lc.Create(t.Context(), &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits()}, nil)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if creations := srv.Creations(); len(creations) != 1 || creations[0].ID != sb.ID {
				t.Fatalf("Create returned %s; the server made %+v", sb.ID, creations)
			}
			if got := createOps(srv); got != tc.want {
				t.Errorf("requests:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
