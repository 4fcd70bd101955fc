package controlplane

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
)

func wantSandbox(name string) *Sandbox {
	return &Sandbox{
		Metadata: Metadata{Name: name, Labels: map[string]string{"by": "ensure"}},
		Spec:     Spec{Runtime: &Runtime{Image: "img", Memory: 2048}},
	}
}

func TestEnsureSandboxCreatesMissing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.deployAfter = 3
		sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Status != StatusDeployed || sb.Spec.Runtime.Memory != 2048 || sb.Metadata.Labels["by"] != "ensure" {
			t.Errorf("got %+v", sb)
		}
		if n := f.count(http.MethodPost, ""); n != 1 {
			t.Errorf("%d POSTs, want 1", n)
		}
	})
}

func TestEnsureSandboxReturnsExisting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYED", `{"metadata":{"name":"sbx"},"spec":{"runtime":{"image":"other","memory":512}}}`)
		sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The existing sandbox is returned as it is, not updated.
		if sb.Spec.Runtime.Image != "other" || f.count(http.MethodPost, "") != 0 || f.count(http.MethodPut, "") != 0 {
			t.Errorf("got %+v after %+v", sb, f.seen())
		}

		// One still deploying is awaited.
		f.add("BUILDING", `{"metadata":{"name":"slow"},"spec":{}}`, "BUILDING", "DEPLOYING", "DEPLOYED")
		sb, err = c.EnsureSandbox(t.Context(), wantSandbox("slow"), nil)
		if err != nil || sb.Status != StatusDeployed || f.count(http.MethodPost, "") != 0 {
			t.Fatalf("slow: %+v, %v", sb, err)
		}
	})
}

func TestEnsureSandboxRecreatesDeleted(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"TERMINATED", "DELETING"} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, f := setup(t)
				// The service keeps the TERMINATED sandbox's name for two
				// more reads, answering creates with 409 meanwhile.
				f.reapAfter = 2
				f.add(status, `{"metadata":{"name":"sbx"},"spec":{"runtime":{"image":"old"}}}`)
				sb, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if sb.Status != StatusDeployed || sb.Spec.Runtime.Image != "img" {
					t.Errorf("got %s with image %q, want a new DEPLOYED sandbox", sb.Status, sb.Spec.Runtime.Image)
				}
				if f.count(http.MethodDelete, "") != 0 {
					t.Error("EnsureSandbox deleted something")
				}
			})
		})
	}
}

func TestEnsureSandboxRefusesFailed(t *testing.T) {
	t.Parallel()
	for _, status := range []Status{StatusFailed, StatusDeactivated} {
		synctest.Test(t, func(t *testing.T) {
			c, f := setup(t)
			f.add(string(status), `{"metadata":{"name":"sbx"},"spec":{}}`)
			_, err := c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil)
			if se, ok := errors.AsType[*StateError](err); !ok || se.Status != status {
				t.Fatalf("err = %v, want a %s StateError", err, status)
			}
			if f.count(http.MethodPost, "")+f.count(http.MethodDelete, "") != 0 {
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
		c, f := setup(t)
		f.deployAfter = 2
		release := make(chan struct{})
		var held atomic.Bool
		f.gate = func(r *http.Request) {
			if r.Method == http.MethodGet && held.CompareAndSwap(false, true) {
				<-release // hold the first read until both calls are in
			}
		}
		var wg sync.WaitGroup
		results := make([]*Sandbox, 2)
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
		if diff := cmp.Diff(results[0], results[1], cmpSandbox...); diff != "" {
			t.Errorf("the two calls disagree (-0 +1):\n%s", diff)
		}
		if results[0] == results[1] {
			t.Error("the two calls share one *Sandbox; each must get its own copy")
		}
		if posts := f.count(http.MethodPost, ""); posts != 1 {
			t.Errorf("%d POSTs, want 1", posts)
		}
		if gets := f.count(http.MethodGet, "/v0/sandboxes/sbx"); gets != 3 {
			t.Errorf("%d GETs, want 3 (one read, two polls) for both calls together", gets)
		}
		if n := len(f.order); n != 1 {
			t.Errorf("%d sandboxes, want 1", n)
		}
	})
}

// Two clients (think: two processes) race on the create; the loser of the
// 409 awaits the winner's sandbox.
func TestEnsureSandboxRacingAcrossClients(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c1, f := setup(t)
		c2 := newMockClient(t, f)
		f.deployAfter = 2
		// Both reads answer 404 before either create happens.
		bothRead := make(chan struct{})
		var reads atomic.Int32
		f.gate = func(r *http.Request) {
			if r.Method == http.MethodPost {
				<-bothRead
			}
		}
		f.after = func(r *http.Request) {
			if r.Method == http.MethodGet && reads.Add(1) == 2 {
				close(bothRead)
			}
		}
		var wg sync.WaitGroup
		results := make([]*Sandbox, 2)
		errs := make([]error, 2)
		for i, c := range []*Client{c1, c2} {
			wg.Go(func() { results[i], errs[i] = c.EnsureSandbox(t.Context(), wantSandbox("sbx"), nil) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if results[i].Status != StatusDeployed || results[i].Metadata.Name != "sbx" {
				t.Errorf("client %d got %+v", i, results[i])
			}
		}
		if posts := f.count(http.MethodPost, ""); posts != 2 {
			t.Errorf("%d POSTs, want 2 (one of them answered 409)", posts)
		}
		if n := len(f.order); n != 1 {
			t.Errorf("%d sandboxes, want 1", n)
		}
	})
}

// When the call doing the work is cancelled, a caller that joined it
// starts over with its own context.
func TestEnsureSandboxSurvivesTheLeadersCancellation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		release := make(chan struct{})
		var held atomic.Bool
		f.gate = func(r *http.Request) {
			if r.Method == http.MethodGet && held.CompareAndSwap(false, true) {
				<-release // hold the leader's first read
			}
		}
		leaderCtx, cancel := context.WithCancel(t.Context())
		var leaderErr, followerErr error
		var follower *Sandbox
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
		if followerErr != nil || follower.Status != StatusDeployed {
			t.Fatalf("follower: %+v, %v", follower, followerErr)
		}
		if n := len(f.order); n != 1 {
			t.Errorf("%d sandboxes, want 1", n)
		}
	})
}

func TestEnsureSandboxGivesUpOnAnInconsistentService(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.fail = func(r *http.Request) (int, string) {
			switch r.Method {
			case http.MethodGet:
				return http.StatusNotFound, "not found"
			case http.MethodPost:
				return http.StatusConflict, "exists"
			}
			return 0, ""
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := c.EnsureSandbox(ctx, wantSandbox("sbx"), nil)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("err = %v (ctx %v), want a bounded failure", err, ctx.Err())
		}
		if posts := f.count(http.MethodPost, ""); posts != maxEnsureRounds {
			t.Errorf("%d POSTs, want %d", posts, maxEnsureRounds)
		}
	})
}
