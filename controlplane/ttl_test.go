package controlplane_test

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// setRuntime gives the sandbox called name a runtime TTL and expiry
// through the client, as a user would.
func setRuntime(t *testing.T, c *controlplane.Client, name, ttl string, expires time.Time) {
	t.Helper()
	sb, err := c.Get(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb.Spec.Runtime.TTL, sb.Spec.Runtime.Expires = ttl, expires
	if _, err := c.Update(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
}

func policy(typ, value string) mockserver.ExpirationPolicy {
	return mockserver.ExpirationPolicy{Type: typ, Value: value}
}

func TestExtendTTLOnlyLengthens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, tp := startTapped(t)
		now := time.Now().UTC()
		soon := now.Add(30 * time.Minute).Format(time.RFC3339)
		far := now.Add(30 * 24 * time.Hour).Format(time.RFC3339)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "mixed", CreatedAt: now.Add(-time.Hour), LastUsedAt: now.Add(-30 * time.Minute),
			Policies: []mockserver.ExpirationPolicy{
				policy(mockserver.PolicyTTLIdle, "1h"), policy(mockserver.PolicyDate, far),
				policy(mockserver.PolicyDate, soon), policy(mockserver.PolicyTTLMaxAge, "3d"),
			}})
		setRuntime(t, c, "mixed", "7d", now.Add(30*time.Minute))

		sb, err := c.ExtendTTL(t.Context(), "mixed", 2*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		target := now.Add(2 * time.Hour).Format(time.RFC3339)
		got := []string{sb.Spec.Runtime.TTL, sb.Spec.Runtime.Expires.Format(time.RFC3339)}
		for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
			got = append(got, p.Value)
		}
		want := []string{
			"7d",   // far enough: untouched
			target, // expires pushed to now+2h
			"1h",   // idle: a rule, not a deadline; left alone
			far,    // far enough: untouched
			target, // pushed
			"3d",   // far enough: untouched
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("limits after ExtendTTL (-want +got):\n%s", diff)
		}

		// Nothing to do: no write.
		puts := tp.count(http.MethodPut)
		if _, err := c.ExtendTTL(t.Context(), "mixed", time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "forever"})
		if sb, err := c.ExtendTTL(t.Context(), "forever", time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "" {
			t.Fatalf("forever: %+v, %v", sb, err)
		}
		if got := tp.count(http.MethodPut); got != puts {
			t.Errorf("%d PUTs for nothing to change", got-puts)
		}
	})
}

// startTapped starts a mock server and returns a client whose requests
// pass through a tap.
func startTapped(t *testing.T, opts ...mockserver.Option) (*mockserver.Server, *controlplane.Client, *tap) {
	t.Helper()
	srv, _ := startMock(t, opts...)
	c, tp := tappedClient(t, srv)
	return srv, c, tp
}

func TestLifetimeRetriesOnConflict(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, other := startMock(t)
		c, tp := tappedClient(t, srv)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "busy"})
		setRuntime(t, c, "busy", "1h", time.Time{})
		// Someone else adds a label between our first read and write,
		// and our write is answered 409.
		gets, puts := tp.count(http.MethodGet), tp.count(http.MethodPut)
		var interfered atomic.Bool
		tp.set(func(r *http.Request) {
			if r.Method == http.MethodPut && interfered.CompareAndSwap(false, true) {
				sb, err := other.Get(r.Context(), "busy", nil)
				if err == nil {
					sb.Metadata.Labels = map[string]string{"owner": "other"}
					_, err = other.Update(r.Context(), sb)
				}
				if err != nil {
					t.Errorf("the other writer: %v", err)
				}
				inject(t, srv, mockserver.Fault{Operation: mockserver.OpUpdateSandbox, Status: http.StatusConflict, Times: 1})
			}
		}, nil)
		sb, err := c.SetTTL(t.Context(), "busy", 3*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Spec.Runtime.TTL != "3h" || sb.Metadata.Labels["owner"] != "other" {
			t.Errorf("result: ttl %q, labels %v; the retry must start from a fresh read", sb.Spec.Runtime.TTL, sb.Metadata.Labels)
		}
		if gets, puts := tp.count(http.MethodGet)-gets, tp.count(http.MethodPut)-puts; gets != 2 || puts != 2 {
			t.Errorf("%d GETs and %d PUTs, want 2 and 2", gets, puts)
		}
		tp.set(nil, nil)

		// Bounded: with retries off, the 409 is returned.
		id := inject(t, srv, mockserver.Fault{Operation: mockserver.OpUpdateSandbox, Status: http.StatusConflict, Times: 5})
		_, err = c.ExtendTTL(t.Context(), "busy", 10*time.Hour, &controlplane.LifetimeOptions{MaxConflictRetries: -1})
		if !errors.Is(err, sandboxkit.ErrConflict) || srv.FaultFired(id) != 1 {
			t.Fatalf("err = %v after %d conflicts, want ErrConflict after 1", err, srv.FaultFired(id))
		}
		_, err = c.ExtendTTL(t.Context(), "busy", 10*time.Hour, &controlplane.LifetimeOptions{MaxConflictRetries: 2})
		if !errors.Is(err, sandboxkit.ErrConflict) || srv.FaultFired(id) != 4 {
			t.Fatalf("err = %v after %d conflicts, want ErrConflict after 1+3 PUTs", err, srv.FaultFired(id))
		}
	})
}

func TestSetTTLRefusesToShorten(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, tp := startTapped(t)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "s", Policies: []mockserver.ExpirationPolicy{
			policy(mockserver.PolicyTTLMaxAge, "2h"), policy(mockserver.PolicyTTLIdle, "30m")}})
		setRuntime(t, c, "s", "2h", time.Time{})
		puts := tp.count(http.MethodPut)

		_, err := c.SetTTL(t.Context(), "s", time.Hour, nil)
		if !errors.Is(err, controlplane.ErrShortensLifetime) {
			t.Fatalf("err = %v, want ErrShortensLifetime", err)
		}
		if tp.count(http.MethodPut) != puts {
			t.Fatal("a refused change was written")
		}
		sb, err := c.SetTTL(t.Context(), "s", time.Hour, &controlplane.LifetimeOptions{AllowShorten: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []controlplane.ExpirationPolicy{
			{Type: controlplane.PolicyTTLMaxAge, Value: "1h", Action: controlplane.ActionDelete},
			{Type: controlplane.PolicyTTLIdle, Value: "30m", Action: controlplane.ActionDelete},
		}
		if diff := cmp.Diff(want, sb.Spec.Lifecycle.ExpirationPolicies, controlplane.CmpSandbox...); sb.Spec.Runtime.TTL != "1h" || diff != "" {
			t.Errorf("ttl %q, policies (-want +got):\n%s", sb.Spec.Runtime.TTL, diff)
		}

		// Longer is fine; zero removes the maximum age.
		if sb, err = c.SetTTL(t.Context(), "s", 48*time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "2d" {
			t.Fatalf("SetTTL(48h) = %+v, %v", sb, err)
		}
		if sb, err = c.SetTTL(t.Context(), "s", 0, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[1:], sb.Spec.Lifecycle.ExpirationPolicies, controlplane.CmpSandbox...); sb.Spec.Runtime.TTL != "" || diff != "" {
			t.Errorf("after SetTTL(0): ttl %q, policies (-want +got):\n%s", sb.Spec.Runtime.TTL, diff)
		}

		// Issue 12: a first maximum age on a sandbox that had none is what
		// the call asks for, not a shortening.
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "forever"})
		if sb, err := c.SetTTL(t.Context(), "forever", 2*time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "2h" {
			t.Fatalf("SetTTL(2h) on a sandbox without a TTL = %+v, %v", sb, err)
		}
		// Unless the sandbox is older than that already: the service
		// would delete it at once.
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "old", CreatedAt: time.Now().Add(-3 * time.Hour)})
		puts = tp.count(http.MethodPut)
		if _, err := c.SetTTL(t.Context(), "old", 2*time.Hour, nil); !errors.Is(err, controlplane.ErrShortensLifetime) {
			t.Fatalf("SetTTL(2h) on a 3 h old sandbox: err = %v, want ErrShortensLifetime", err)
		}
		if tp.count(http.MethodPut) != puts {
			t.Error("a refused change was written")
		}
		if sb, err := c.SetTTL(t.Context(), "old", 2*time.Hour, &controlplane.LifetimeOptions{AllowShorten: true}); err != nil || sb.Spec.Runtime.TTL != "2h" {
			t.Fatalf("SetTTL(2h, AllowShorten) = %+v, %v", sb, err)
		}
	})
}

// Issue 12: ExtendTTL rewrote every policy to the one value that made the
// sandbox live long enough, turning a 30-minute idle rule into a
// multi-hour one. Each fixed deadline moves on its own; idle rules stay.
func TestExtendTTLLeavesIdlePoliciesAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		now := time.Now().UTC()
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "three", CreatedAt: now.Add(-30 * time.Minute), Policies: []mockserver.ExpirationPolicy{
			policy(mockserver.PolicyTTLIdle, "30m"), policy(mockserver.PolicyTTLMaxAge, "1h"),
			policy(mockserver.PolicyDate, now.Add(10*time.Minute).Format(time.RFC3339)),
		}})
		sb, err := c.ExtendTTL(t.Context(), "three", 2*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
			got = append(got, string(p.Type)+" "+p.Value)
		}
		want := []string{
			"ttl-idle 30m",
			"ttl-max-age 150m", // created 30 min ago, lives 2 h more
			"date " + now.Add(2*time.Hour).Format(time.RFC3339),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("policies after ExtendTTL(2h) (-want +got):\n%s", diff)
		}
	})
}

func TestSetExpirationPolicies(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, tp := startTapped(t)
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "p", Policies: []mockserver.ExpirationPolicy{policy(mockserver.PolicyTTLMaxAge, "1d")}})

		// A lower maximum age shortens the sandbox's life.
		_, err := c.SetExpirationPolicies(t.Context(), "p", []controlplane.ExpirationPolicy{controlplane.TTLMaxAge(12 * time.Hour)}, nil)
		if !errors.Is(err, controlplane.ErrShortensLifetime) {
			t.Fatalf("err = %v, want ErrShortensLifetime", err)
		}
		// So does a date that has passed.
		_, err = c.SetExpirationPolicies(t.Context(), "p", []controlplane.ExpirationPolicy{
			controlplane.TTLMaxAge(48 * time.Hour), controlplane.ExpireAt(time.Now().Add(-time.Minute))}, nil)
		if !errors.Is(err, controlplane.ErrShortensLifetime) {
			t.Fatalf("a past date: err = %v, want ErrShortensLifetime", err)
		}
		if tp.count(http.MethodPut) != 0 {
			t.Fatal("a refused change was written")
		}
		sb, err := c.SetExpirationPolicies(t.Context(), "p", []controlplane.ExpirationPolicy{controlplane.TTLMaxAge(48 * time.Hour)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := srv.ControlPlaneSandbox("acme", "p"); !cmp.Equal(info.Policies, []mockserver.ExpirationPolicy{{Type: "ttl-max-age", Value: "2d", Action: "delete"}}) {
			t.Errorf("the mock holds %+v", info.Policies)
		}
		if got := sb.Spec.Lifecycle.ExpirationPolicies; len(got) != 1 || got[0].Value != "2d" {
			t.Errorf("result policies %+v", got)
		}
		// None removes them all, which never shortens.
		sb, err = c.SetExpirationPolicies(t.Context(), "p", nil, nil)
		if err != nil || (sb.Spec.Lifecycle != nil && len(sb.Spec.Lifecycle.ExpirationPolicies) != 0) {
			t.Fatalf("clear: %+v, %v", sb, err)
		}
		// Setting the same policies again writes nothing.
		puts := tp.count(http.MethodPut)
		if _, err := c.SetExpirationPolicies(t.Context(), "p", []controlplane.ExpirationPolicy{}, nil); err != nil {
			t.Fatal(err)
		}
		if tp.count(http.MethodPut) != puts {
			t.Error("an unchanged policy list was written")
		}
	})
}

// The lifetime of a sandbox being deleted cannot change: a StateError
// that names the status and what the call needs.
func TestLifetimeOfADeletedSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t, mockserver.WithTransition(mockserver.TransitionCPDelete, mockserver.Manual()))
		seed(t, srv, mockserver.ControlPlaneSeed{Name: "d", Status: mockserver.StatusDeleting})
		_, err := c.ExtendTTL(t.Context(), "d", time.Hour, nil)
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrUnexpectedState) || se.Op != "controlplane.ExtendTTL" || se.ID != "d" || se.State != "DELETING" {
			t.Fatalf("err = %#v, want a DELETING StateError", err)
		}
		if sb, ok := se.Observed.(*controlplane.Sandbox); !ok || sb.Status != controlplane.StatusDeleting {
			t.Errorf("Observed = %#v", se.Observed)
		}
		if _, err := c.ExtendTTL(t.Context(), "missing", time.Hour, nil); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
