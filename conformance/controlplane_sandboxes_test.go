package conformance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// A sandbox's whole life through the public API: create, read (by name
// and external id), update, delete, with the waiters reporting every
// status change.
func TestControlPlaneSandboxLifecycle(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		want := tg.sandbox("life")
		want.Metadata.ExternalID = "session-42"
		want.Spec.Network = &controlplane.Network{
			Firewall: &controlplane.Firewall{Rulesets: []string{"proxy"}},
			Proxy:    &controlplane.Proxy{AllowedDomains: []string{"api.example.com"}},
		}
		want.Spec.Volumes = []controlplane.Volume{{Name: "scratch", MountPath: "/scratch", Type: controlplane.VolumeEphemeral, SizeMB: 1024}}
		want.Spec.Lifecycle = &controlplane.Lifecycle{TerminatedRetention: "1h"}

		created, err := tg.cp.Create(ctx, want, nil)
		if err != nil {
			t.Fatal(err)
		}
		if created.Status != controlplane.StatusDeploying || created.Metadata.ExternalID != "session-42" {
			t.Errorf("created: %s %q", created.Status, created.Metadata.ExternalID)
		}
		if _, err := tg.cp.Create(ctx, want, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("second create: %v, want ErrConflict", err)
		}

		var seen []string
		opts := *fastWait
		opts.OnTransition = func(tr sandboxkit.Transition) {
			seen = append(seen, tr.From+">"+tr.To)
			if sb, ok := tr.Observed.(*controlplane.Sandbox); !ok || string(sb.Status) != tr.To || tr.Kind != "sandbox" || tr.ID != "life" {
				t.Errorf("OnTransition(%+v)", tr)
			}
		}
		sb, err := controlplane.NewWaiter(tg.cp, &opts).Wait(ctx, "life", controlplane.StatusDeployed)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{">DEPLOYING", "DEPLOYING>DEPLOYED"}, seen); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		if sb.State != controlplane.StateRunning || sb.Metadata.URL == "" || sb.Metadata.CreatedAt.IsZero() {
			t.Errorf("deployed: state %q url %q created %v", sb.State, sb.Metadata.URL, sb.Metadata.CreatedAt)
		}
		// Every typed field came back as sent.
		if n := sb.Spec.Network; n == nil || n.Firewall == nil || !slices.Equal(n.Firewall.Rulesets, []string{"proxy"}) ||
			n.Proxy == nil || !slices.Equal(n.Proxy.AllowedDomains, []string{"api.example.com"}) {
			t.Errorf("network = %+v", sb.Spec.Network)
		}
		if v := sb.Spec.Volumes; len(v) != 1 || v[0].Type != controlplane.VolumeEphemeral || v[0].SizeMB != 1024 {
			t.Errorf("volumes = %+v", v)
		}
		if p := sb.Spec.Runtime.Ports; len(p) != 1 || p[0].Protocol != controlplane.ProtocolHTTP || p[0].Target != 8080 {
			t.Errorf("ports = %+v", p)
		}

		byID, err := tg.cp.GetByExternalID(ctx, "session-42")
		if err != nil || byID.Metadata.Name != "life" {
			t.Errorf("GetByExternalID: %+v, %v", byID, err)
		}
		if _, err := tg.cp.GetByExternalID(ctx, "nobody"); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("GetByExternalID(nobody): %v", err)
		}
		if _, err := tg.cp.GetByExternalID(ctx, "no/slashes"); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("GetByExternalID(no/slashes): %v", err)
		}

		// Read-modify-write keeps everything, changes what was changed.
		sb.Metadata.Labels["stage"] = "two"
		sb.Metadata.DisplayName = "Life, stage two"
		up, err := tg.cp.Update(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if up.Metadata.Labels["stage"] != "two" || up.Metadata.DisplayName != "Life, stage two" || up.Spec.Network == nil || len(up.Spec.Volumes) != 1 {
			t.Errorf("after update: %+v", up)
		}

		seen = nil
		gone, err := tg.cp.DeleteAndWait(ctx, "life", &opts)
		if err != nil {
			t.Fatal(err)
		}
		if gone == nil || gone.Status != controlplane.StatusTerminated {
			t.Errorf("DeleteAndWait = %+v", gone)
		}
		if diff := cmp.Diff([]string{">DELETING", "DELETING>TERMINATED"}, seen); diff != "" {
			t.Errorf("delete transitions (-want +got):\n%s", diff)
		}
		// Kept for its retention (1h), then gone.
		tg.pass(59 * time.Minute)
		if got, err := tg.cp.Get(ctx, "life", nil); err != nil || got.Status != controlplane.StatusTerminated {
			t.Errorf("within the retention: %+v, %v", got, err)
		}
		tg.pass(2 * time.Minute)
		if _, err := tg.cp.Get(ctx, "life", nil); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("after the retention: %v", err)
		}
		if _, err := tg.cp.Delete(ctx, "life"); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Delete of a gone sandbox: %v", err)
		}
		if sb, err := tg.cp.DeleteAndWait(ctx, "life", fastWait); sb != nil || err != nil {
			t.Errorf("DeleteAndWait of a gone sandbox = %+v, %v; want nil, nil", sb, err)
		}
	})
}

// The error paths of the sandbox calls: what the service refuses and
// what the client refuses before sending, each matching its sentinel,
// with the gateway's code.
func TestControlPlaneSandboxErrors(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		_, err := tg.cp.Get(ctx, "missing", nil)
		apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrNotFound) || apiErr.Code != "WORKLOAD_NOT_FOUND" || apiErr.Message == "" || apiErr.Operation != "controlplane.Get" {
			t.Errorf("Get(missing) = %#v", err)
		}
		if _, err := tg.cp.Update(ctx, tg.sandbox("missing")); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Update(missing) = %v", err)
		}

		// Refused before anything is sent.
		before := tg.mock.Count(mockserver.Filter{API: mockserver.APIControlPlane})
		bad := map[string]func(*controlplane.Sandbox){
			"a 50-character name":   func(s *controlplane.Sandbox) { s.Metadata.Name = strings.Repeat("a", 50) },
			"a Go duration":         func(s *controlplane.Sandbox) { s.Spec.Runtime.TTL = "1h30m" },
			"an unknown protocol":   func(s *controlplane.Sandbox) { s.Spec.Runtime.Ports[0].Protocol = "QUIC" },
			"a port without target": func(s *controlplane.Sandbox) { s.Spec.Runtime.Ports[0].Target = 0 },
			"a negative idle time": func(s *controlplane.Sandbox) {
				s.Spec.Lifecycle = &controlplane.Lifecycle{ExpirationPolicies: []controlplane.ExpirationPolicy{controlplane.TTLIdle(-time.Hour)}}
			},
			"a 65-character external id": func(s *controlplane.Sandbox) { s.Metadata.ExternalID = strings.Repeat("x", 65) },
		}
		for what, edit := range bad {
			sb := tg.sandbox("bad")
			edit(sb)
			if _, err := tg.cp.Create(ctx, sb, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("Create with %s: %v, want ErrInvalidInput", what, err)
			}
		}
		for _, opts := range []*controlplane.ListOptions{
			{Limit: 201}, {Limit: -1}, {Statuses: []controlplane.Status{"RUNNING"}}, {Sort: "size:asc"},
			{FromEnd: true, Sort: controlplane.SortNameAsc}, {Query: strings.Repeat("q", 201)},
		} {
			if _, err := tg.cp.List(ctx, opts); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("List(%+v): %v, want ErrInvalidInput", opts, err)
			}
		}
		if n := tg.mock.Count(mockserver.Filter{API: mockserver.APIControlPlane}); n != before {
			t.Errorf("%d requests sent for invalid input", n-before)
		}

		// A FAILED sandbox ends waits with a StateError naming the reason.
		if err := tg.mock.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "broken", Status: mockserver.StatusFailed}); err != nil {
			t.Fatal(err)
		}
		_, err = controlplane.NewWaiter(tg.cp, fastWait).Wait(ctx, "broken", controlplane.StatusDeployed)
		if se, ok := errors.AsType[*sandboxkit.StateError](err); !ok || se.State != string(controlplane.StatusFailed) || se.Observed == nil {
			t.Errorf("Wait(broken, DEPLOYED) = %v", err)
		}
		if _, err := tg.cp.EnsureSandbox(ctx, tg.sandbox("broken"), nil); !errors.As(err, new(*sandboxkit.StateError)) {
			t.Errorf("EnsureSandbox(broken) = %v", err)
		}
		// The service takes a FAILED name over on create.
		re, err := tg.cp.Create(ctx, tg.sandbox("broken"), nil)
		if err != nil || re.Status != controlplane.StatusDeploying {
			t.Errorf("create over FAILED: %+v, %v", re, err)
		}

		// A wait bounded by its context ends with ErrWaitTimeout.
		if _, err := tg.mock.InjectFault(mockserver.Fault{API: mockserver.APIControlPlane, Operation: "GetSandbox", Status: 503}); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := controlplane.NewWaiter(tg.cp, &sandboxkit.WaitOptions{MinDelay: 100 * time.Millisecond, MaxTransient: 1000}).Wait(short, "broken", controlplane.StatusDeployed); !errors.Is(err, sandboxkit.ErrWaitTimeout) {
			t.Errorf("wait through 503s: %v, want ErrWaitTimeout", err)
		}
		tg.mock.ClearFaults()
	})
}

// Lists: the filters, the orders and the pages of the service, and All
// over every page.
func TestControlPlaneList(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		names := []string{"list-a", "list-b", "list-c", "list-d", "list-e", "list-f", "list-g"}
		for i, n := range names {
			sb := tg.sandbox(n)
			sb.Metadata.DisplayName = "Worker " + strings.ToUpper(n[5:])
			if i < 3 {
				sb.Metadata.ExternalID = "first-three"
			}
			tg.deployed(t, sb)
			tg.pass(time.Second) // distinct creation times
		}
		if _, err := tg.cp.DeleteAndWait(ctx, "list-b", fastWait); err != nil {
			t.Fatal(err)
		}
		nameList := func(items []*controlplane.Sandbox) []string {
			out := []string{}
			for _, sb := range items {
				out = append(out, sb.Metadata.Name)
			}
			return out
		}
		all := func(opts *controlplane.ListOptions) []string {
			t.Helper()
			var out []string
			for sb, err := range tg.cp.All(ctx, opts) {
				if err != nil {
					t.Fatalf("All(%+v): %v", opts, err)
				}
				out = append(out, sb.Metadata.Name)
			}
			return out
		}

		first, err := tg.cp.List(ctx, &controlplane.ListOptions{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"list-g", "list-f"}, nameList(first.Items)); diff != "" || !first.HasMore || first.NextCursor == "" || first.Total != 7 || first.Unpaged {
			t.Errorf("first page %+v (-want +got):\n%s", first, diff)
		}
		second, err := tg.cp.List(ctx, &controlplane.ListOptions{Limit: 2, Cursor: first.NextCursor})
		if err != nil || !slices.Equal(nameList(second.Items), []string{"list-e", "list-d"}) {
			t.Errorf("second page: %v, %v", nameList(second.Items), err)
		}
		opts := &controlplane.ListOptions{Limit: 2}
		if diff := cmp.Diff([]string{"list-g", "list-f", "list-e", "list-d", "list-c", "list-a"}, all(opts)); diff != "" {
			t.Errorf("All, newest first, TERMINATED hidden (-want +got):\n%s", diff)
		}
		if opts.Cursor != "" {
			t.Error("All changed the caller's options")
		}
		for _, c := range []struct {
			opts *controlplane.ListOptions
			want []string
		}{
			{&controlplane.ListOptions{ShowTerminated: true, Sort: controlplane.SortNameAsc}, names},
			{&controlplane.ListOptions{Sort: controlplane.SortOldestFirst, Limit: 3}, []string{"list-a", "list-c", "list-d", "list-e", "list-f", "list-g"}},
			{&controlplane.ListOptions{Statuses: []controlplane.Status{controlplane.StatusTerminated}}, []string{"list-b"}},
			{&controlplane.ListOptions{ExternalID: "first-three"}, []string{"list-c", "list-a"}},
			{&controlplane.ListOptions{Query: " worker F "}, []string{"list-f"}},
			{&controlplane.ListOptions{Query: "conformance", Sort: controlplane.SortNameDesc, Limit: 1}, []string{"list-g", "list-f", "list-e", "list-d", "list-c", "list-a"}},
			{&controlplane.ListOptions{FromEnd: true, Limit: 2}, []string{"list-c", "list-a"}},
		} {
			if diff := cmp.Diff(c.want, all(c.opts)); diff != "" {
				t.Errorf("All(%+v) (-want +got):\n%s", c.opts, diff)
			}
		}
		// A cursor only works with its own query.
		if _, err := tg.cp.List(ctx, &controlplane.ListOptions{Limit: 2, Cursor: first.NextCursor, Sort: controlplane.SortNameAsc}); !errors.Is(err, sandboxkit.ErrBadRequest) {
			t.Errorf("a cursor with another sort: %v, want ErrBadRequest", err)
		}
	})
}

// Lifetime: a first TTL on a sandbox without one, refusing to shorten,
// ExtendTTL moving deadlines but not idle rules, and the service deleting
// the sandbox when the time comes.
func TestControlPlaneLifetime(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		tg.deployed(t, tg.sandbox("ttl"))

		sb, err := tg.cp.SetTTL(ctx, "ttl", 2*time.Hour, nil)
		if err != nil || sb.Spec.Runtime.TTL != "2h" || sb.ExpiresIn == nil || *sb.ExpiresIn > 2*time.Hour {
			t.Fatalf("SetTTL(2h) on a sandbox without a TTL: %+v, %v", sb, err)
		}
		if _, err := tg.cp.SetTTL(ctx, "ttl", time.Hour, nil); !errors.Is(err, controlplane.ErrShortensLifetime) {
			t.Errorf("SetTTL(1h) after 2h: %v, want ErrShortensLifetime", err)
		}
		policies := []controlplane.ExpirationPolicy{controlplane.TTLIdle(20 * time.Minute), controlplane.TTLMaxAge(2 * time.Hour)}
		if _, err = tg.cp.SetExpirationPolicies(ctx, "ttl", policies, nil); err != nil {
			t.Fatal(err)
		}
		if sb, err = tg.cp.ExtendTTL(ctx, "ttl", 5*time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
			values = append(values, string(p.Type)+"="+p.Value)
		}
		if len(values) != 2 || values[0] != "ttl-idle=20m" || !strings.HasPrefix(values[1], "ttl-max-age=") || values[1] == "ttl-max-age=2h" {
			t.Errorf("after ExtendTTL(5h): %v, ttl %q", values, sb.Spec.Runtime.TTL)
		}
		// Left unused, the idle rule deletes it.
		tg.pass(19 * time.Minute)
		if got, _ := tg.cp.Get(ctx, "ttl", nil); got == nil || got.Status != controlplane.StatusDeployed {
			t.Fatalf("at 19 min: %+v", got)
		}
		tg.pass(2 * time.Minute)
		got, err := controlplane.NewWaiter(tg.cp, fastWait).Wait(ctx, "ttl", controlplane.StatusTerminated, controlplane.StatusGone)
		if err != nil || (got != nil && got.Status != controlplane.StatusTerminated) {
			t.Errorf("after 21 min unused: %+v, %v", got, err)
		}
		if _, err := tg.cp.ExtendTTL(ctx, "ttl", time.Hour, nil); !errors.As(err, new(*sandboxkit.StateError)) {
			t.Errorf("ExtendTTL of a terminated sandbox: %v, want a StateError", err)
		}
	})
}

// EnsureSandbox: created once by racing callers, returned as is when
// DEPLOYED, recreated after a deletion, refused for another external id.
func TestControlPlaneEnsure(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		want := tg.sandbox("ensured")
		want.Metadata.ExternalID = "job-7"
		other, err := controlplane.New(tg.mock.ClientOptions(sandboxkit.ControlPlane)...)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for i := range 4 {
			c := tg.cp
			if i%2 == 1 {
				c = other // another client: no shared flight
			}
			go func() {
				_, err := c.EnsureSandbox(ctx, want, &controlplane.EnsureOptions{Wait: fastWait})
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := len(tg.mock.Creations()); n != 1 {
			t.Errorf("%d sandboxes created by four racing EnsureSandbox calls", n)
		}
		t.Cleanup(func() { _, _ = tg.cp.Delete(ctx, "ensured") })

		stranger := tg.sandbox("ensured")
		stranger.Metadata.ExternalID = "job-8"
		if _, err := tg.cp.EnsureSandbox(ctx, stranger, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("EnsureSandbox with another external id: %v, want ErrConflict", err)
		}
		if _, err := tg.cp.DeleteAndWait(ctx, "ensured", fastWait); err != nil {
			t.Fatal(err)
		}
		again, err := tg.cp.EnsureSandbox(ctx, want, &controlplane.EnsureOptions{Wait: fastWait})
		if err != nil || again.Status != controlplane.StatusDeployed {
			t.Fatalf("EnsureSandbox after delete: %+v, %v", again, err)
		}
		if n := len(tg.mock.Creations()); n != 2 {
			t.Errorf("%d creations after the re-create, want 2", n)
		}
		// CreateOptions.IfNotExist answers the live sandbox.
		same, err := tg.cp.Create(ctx, tg.sandbox("ensured"), &controlplane.CreateOptions{IfNotExist: true})
		if err != nil || same.Metadata.ExternalID != "job-7" {
			t.Errorf("Create IfNotExist: %+v, %v", same, err)
		}
	})
}

// The waiter objects, bounded by their own maximum wait, and a create
// whose answer is lost after the service made the sandbox (the mock's
// AfterCommit fault): one sandbox, and the call succeeds.
func TestControlPlaneWaitersAndLostAnswers(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		if _, err := tg.mock.InjectFault(mockserver.Fault{API: mockserver.APIControlPlane, Operation: "CreateSandbox",
			Status: 502, AfterCommit: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		sb, err := tg.cp.Create(ctx, tg.sandbox("lost"), nil)
		if err != nil || sb.Metadata.Name != "lost" || len(tg.mock.Creations()) != 1 {
			t.Fatalf("create with a lost answer: %+v, %v, %d creations", sb, err, len(tg.mock.Creations()))
		}
		t.Cleanup(func() { _, _ = tg.cp.Delete(ctx, "lost") })

		waiter := controlplane.NewWaiter(tg.cp, fastWait)
		if _, err := waiter.Wait(ctx, "lost", controlplane.StatusDeployed); err != nil {
			t.Fatal(err)
		}
		// A seeded sandbox that stays BUILDING: the maximum wait ends it.
		if err := tg.mock.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "stuck", Status: mockserver.StatusBuilding}); err != nil {
			t.Fatal(err)
		}
		stuckCtx, stuckCancel := context.WithTimeout(ctx, 10*time.Second)
		defer stuckCancel()
		_, err = waiter.Wait(stuckCtx, "stuck", controlplane.StatusDeployed)
		if !errors.Is(err, sandboxkit.ErrWaitTimeout) || !strings.Contains(err.Error(), "BUILDING") {
			t.Errorf("waiting for a stuck sandbox: %v, want ErrWaitTimeout naming BUILDING", err)
		}
		if _, err := tg.cp.Delete(ctx, "lost"); err != nil {
			t.Fatal(err)
		}
		gone, err := waiter.Wait(ctx, "lost", controlplane.StatusTerminated, controlplane.StatusGone)
		if err != nil || gone == nil || gone.Status != controlplane.StatusTerminated {
			t.Errorf("DeletedWaiter: %+v, %v", gone, err)
		}
		if _, err := controlplane.NewWaiter(nil, nil).Wait(ctx, "lost", controlplane.StatusGone); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("a waiter without a Getter: %v", err)
		}
	})
}
