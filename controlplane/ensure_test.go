package controlplane_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func wantSandbox(name string) *controlplane.Sandbox {
	return &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name, Labels: map[string]string{"by": "ensure"}},
		Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "img", Memory: 2048}},
	}
}

// creates counts the POST /sandboxes that reached the server.
func creates(srv *mockserver.Server) int {
	return srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpCreateSandbox})
}

func TestEnsureSandboxCreatesMissing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != controlplane.StatusDeployed || sb.Spec.Runtime.Memory != 2048 || sb.Metadata.Labels["by"] != "ensure" {
			t.Errorf("got %+v", sb)
		}
		if n := creates(srv); n != 1 {
			t.Errorf("%d POSTs, want 1", n)
		}
	})
}

func TestEnsureSandboxReturnsExisting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "sbx", Image: "other"})
		sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The existing sandbox is returned as it is, not updated.
		updates := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpUpdateSandbox})
		if sb.Spec.Runtime.Image != "other" || creates(srv) != 0 || updates != 0 {
			t.Errorf("got %+v after %d POSTs and %d PUTs", sb, creates(srv), updates)
		}

		// One still deploying is awaited.
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "slow", Status: mockserver.StatusDeploying})
		sb, err = c.EnsureSandbox(t.Context(), wantSandbox("slow"), nil)
		if err != nil || sb.Status != controlplane.StatusDeployed || creates(srv) != 0 {
			t.Fatalf("slow: %+v, %v", sb, err)
		}
	})
}

func TestEnsureSandboxRecreatesDeleted(t *testing.T) {
	t.Parallel()
	for _, status := range []string{mockserver.StatusTerminated, mockserver.StatusDeleting} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, c := startMock(t)
				seed(t, srv, mockserver.ControlPlaneSeed{Name: "sbx", Status: status, Image: "old"})
				sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if sb.Status != controlplane.StatusDeployed || sb.Spec.Runtime.Image != "img" {
					t.Errorf("got %s with image %q, want a new DEPLOYED sandbox", sb.Status, sb.Spec.Runtime.Image)
				}
				if n := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpDeleteSandbox}); n != 0 {
					t.Error("EnsureSandbox deleted something")
				}
			})
		})
	}
}

func TestEnsureSandboxRefusesFailed(t *testing.T) {
	t.Parallel()
	for _, status := range []string{mockserver.StatusFailed, mockserver.StatusDeactivated} {
		synctest.Test(t, func(t *testing.T) {
			srv, c := startMock(t)
			seed(t, srv, mockserver.ControlPlaneSeed{Name: "sbx", Status: status})
			_, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
			se, ok := errors.AsType[*sandboxkit.StateError](err)
			if !ok || se.State != status || se.Op != "controlplane.EnsureSandbox" || se.ID != "sbx" || !cmp.Equal(se.Want, []string{"DEPLOYED"}) {
				t.Fatalf("err = %#v, want a %s StateError", err, status)
			}
			if creates(srv) != 0 || srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: mockserver.OpDeleteSandbox}) != 0 {
				t.Error("EnsureSandbox changed a failed sandbox")
			}
		})
	}
}

// Two concurrent calls through one client share a single round of
// requests: one create, one sandbox.
func TestEnsureSandboxRacingItself(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _ := startMock(t)
		c, tp := tappedClient(t, srv)
		release := make(chan struct{})
		var held atomic.Bool
		tp.set(func(r *http.Request) {
			if r.Method == http.MethodGet && held.CompareAndSwap(false, true) {
				<-release // hold the first read until both calls are in
			}
		}, nil)
		var wg sync.WaitGroup
		results := make([]*controlplane.Sandbox, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { results[i], errs[i] = c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil) })
		}
		synctest.Wait() // both calls are waiting: one on the read, one on the first
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if diff := cmp.Diff(results[0], results[1], controlplane.CmpSandbox...); diff != "" {
			t.Errorf("the two calls disagree (-0 +1):\n%s", diff)
		}
		if results[0] == results[1] {
			t.Error("the two calls share one *Sandbox; each must get its own copy")
		}
		if posts, n := tp.count(http.MethodPost), len(srv.Creations()); posts != 1 || n != 1 {
			t.Errorf("%d POSTs and %d sandboxes, want 1 and 1", posts, n)
		}
	})
}

// Two clients (think: two processes) race on the create; both end up
// with the one sandbox.
func TestEnsureSandboxRacingAcrossClients(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _ := startMock(t)
		c1, tp1 := tappedClient(t, srv)
		c2, tp2 := tappedClient(t, srv)
		// Both reads answer 404 before either create happens.
		bothRead := make(chan struct{})
		var reads atomic.Int32
		before := func(r *http.Request) {
			if r.Method == http.MethodPost {
				<-bothRead
			}
		}
		after := func(r *http.Request) {
			if r.Method == http.MethodGet && reads.Add(1) == 2 {
				close(bothRead)
			}
		}
		tp1.set(before, after)
		tp2.set(before, after)
		var wg sync.WaitGroup
		results := make([]*controlplane.Sandbox, 2)
		errs := make([]error, 2)
		for i, c := range []*controlplane.Client{c1, c2} {
			wg.Go(func() { results[i], errs[i] = c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if results[i].Status != controlplane.StatusDeployed || results[i].Metadata.Name != "sbx" {
				t.Errorf("client %d got %+v", i, results[i])
			}
		}
		if posts := tp1.count(http.MethodPost) + tp2.count(http.MethodPost); posts != 2 {
			t.Errorf("%d POSTs, want 2 (both create; createIfNotExist answers the second with the first's sandbox)", posts)
		}
		if n := len(srv.Creations()); n != 1 {
			t.Errorf("%d sandboxes made, want 1", n)
		}
	})
}

// When the call doing the work is cancelled, a caller that joined it
// starts over with its own context.
func TestEnsureSandboxSurvivesTheLeadersCancellation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _ := startMock(t)
		c, tp := tappedClient(t, srv)
		release := make(chan struct{})
		var held atomic.Bool
		tp.set(func(r *http.Request) {
			if r.Method == http.MethodGet && held.CompareAndSwap(false, true) {
				<-release // hold the leader's first read
			}
		}, nil)
		leaderCtx, cancel := context.WithCancel(t.Context())
		var leaderErr, followerErr error
		var follower *controlplane.Sandbox
		var wg sync.WaitGroup
		wg.Go(func() { _, leaderErr = c.EnsureSandbox(leaderCtx, wantSandbox("sbx"), nil) })
		synctest.Wait() // the leader holds the flight, blocked on its read
		wg.Go(func() { follower, followerErr = c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil) })
		synctest.Wait()
		cancel()
		synctest.Wait()
		close(release)
		wg.Wait()
		if !errors.Is(leaderErr, context.Canceled) {
			t.Errorf("leader err = %v, want context.Canceled", leaderErr)
		}
		if followerErr != nil || follower.Status != controlplane.StatusDeployed {
			t.Fatalf("follower: %+v, %v", follower, followerErr)
		}
		if n := len(srv.Creations()); n != 1 {
			t.Errorf("%d sandboxes, want 1", n)
		}
	})
}

// A service that answers every read 404 and every create 409 makes
// EnsureSandbox give up after a bounded number of rounds.
func TestEnsureSandboxGivesUpOnAnInconsistentService(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		inject(t, srv, mockserver.Fault{Operation: mockserver.OpGetSandbox, Status: http.StatusNotFound})
		inject(t, srv, mockserver.Fault{Operation: mockserver.OpCreateSandbox, Status: http.StatusConflict})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := c.EnsureSandbox(ctx, wantSandbox("sbx"), nil)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("err = %v (ctx %v), want a bounded failure", err, ctx.Err())
		}
		if posts := creates(srv); posts != controlplane.MaxEnsureRounds {
			t.Errorf("%d POSTs, want %d", posts, controlplane.MaxEnsureRounds)
		}
	})
}
