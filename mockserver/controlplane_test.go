package mockserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-faster/jx"
	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func cpSandbox(name string, policies ...controlplaneapi.ExpirationPolicy) *controlplaneapi.Sandbox {
	sb := &controlplaneapi.Sandbox{
		Metadata: controlplaneapi.Metadata{
			Name:   name,
			Labels: controlplaneapi.NewOptMetadataLabels(controlplaneapi.MetadataLabels{"team": "a"}),
		},
		Spec: controlplaneapi.SandboxSpec{
			Region: controlplaneapi.NewOptString("us-pdx-1"),
			Runtime: controlplaneapi.NewOptRuntime(controlplaneapi.Runtime{
				Image:  controlplaneapi.NewOptString("blaxel/base-image:latest"),
				Memory: controlplaneapi.NewOptInt(4096),
				Ports:  []controlplaneapi.Port{{Name: controlplaneapi.NewOptString("http"), Target: controlplaneapi.NewOptInt(8080), Protocol: controlplaneapi.NewOptString("HTTP")}},
			}),
		},
	}
	if len(policies) > 0 {
		sb.Spec.Lifecycle = controlplaneapi.NewOptSandboxLifecycle(controlplaneapi.SandboxLifecycle{ExpirationPolicies: policies})
	}
	return sb
}

func policy(typ, value string) controlplaneapi.ExpirationPolicy {
	return controlplaneapi.ExpirationPolicy{
		Type:   controlplaneapi.NewOptString(typ),
		Value:  controlplaneapi.NewOptString(value),
		Action: controlplaneapi.NewOptString("delete"),
	}
}

func cpGet(t *testing.T, e *env, name string) (*controlplaneapi.Sandbox, int) {
	t.Helper()
	res, err := e.cp.GetSandbox(t.Context(), controlplaneapi.GetSandboxParams{SandboxName: name})
	if err != nil {
		t.Fatalf("GetSandbox(%s): %v", name, err)
	}
	switch r := res.(type) {
	case *controlplaneapi.Sandbox:
		return r, 200
	case *controlplaneapi.GetSandboxNotFound:
		if r.Error.Or("") == "" || r.Code.Or("") != "NOT_FOUND" {
			t.Errorf("404 body = %+v", r)
		}
		return nil, 404
	}
	t.Fatalf("GetSandbox(%s) answered %T", name, res)
	return nil, 0
}

func cpStatus(t *testing.T, e *env, name string) string {
	t.Helper()
	sb, code := cpGet(t, e, name)
	if code != 200 {
		return "404"
	}
	return sb.Status.Or("")
}

func TestControlPlaneCRUD(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithRetention(time.Minute))
	ctx := t.Context()

	in := cpSandbox("my-sandbox")
	// Fields the mock does not know must survive a round trip.
	in.Spec.AdditionalProps = controlplaneapi.SandboxSpecAdditional{"flavors": jx.Raw(`[{"name":"t4","type":"gpu"}]`)}
	res, err := e.cp.CreateSandbox(ctx, in, controlplaneapi.WithEditRequest(func(r *http.Request) error {
		r.Header.Set("X-Blaxel-Workspace", "acme")
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	created, ok := res.(*controlplaneapi.Sandbox)
	if !ok {
		t.Fatalf("create answered %T %+v", res, res)
	}
	if created.Status.Or("") != mockserver.StatusDeploying {
		t.Errorf("created status %q, want DEPLOYING", created.Status.Or(""))
	}
	md := created.Metadata
	if md.Workspace.Or("") != "acme" || md.CreatedAt.Or("") != t0.Format(time.RFC3339) || md.URL.Or("") != e.srv.URL()+"/cp/default/my-sandbox" {
		t.Errorf("metadata = %+v", md)
	}
	if got := string(created.Spec.AdditionalProps["flavors"]); got != `[{"name":"t4","type":"gpu"}]` {
		t.Errorf("unknown spec field came back as %q", got)
	}
	if created.ExpiresIn.Set {
		t.Errorf("expiresIn without policies: %v", created.ExpiresIn)
	}

	// The same name again is a conflict.
	res, err = e.cp.CreateSandbox(ctx, cpSandbox("my-sandbox"))
	if c, ok := res.(*controlplaneapi.CreateSandboxConflict); err != nil || !ok || c.Error.Or("") == "" {
		t.Errorf("duplicate create: %T %+v %v", res, res, err)
	}
	for _, bad := range []string{"My_Sandbox", "-x", ""} {
		res, err := e.cp.CreateSandbox(ctx, cpSandbox(bad))
		if _, ok := res.(*controlplaneapi.CreateSandboxBadRequest); err != nil || !ok {
			t.Errorf("create %q: %T %v, want 400", bad, res, err)
		}
	}

	e.srv.Advance(delay)
	if got := cpStatus(t, e, "my-sandbox"); got != mockserver.StatusDeployed {
		t.Errorf("after the delay: %s, want DEPLOYED", got)
	}
	sb, _ := cpGet(t, e, "my-sandbox")
	if n := len(sb.Events); n != 2 || sb.Events[1].Status.Or("") != mockserver.StatusDeployed {
		t.Errorf("events = %+v", sb.Events)
	}

	// Update.
	upd := *sb
	upd.Metadata.Labels = controlplaneapi.NewOptMetadataLabels(controlplaneapi.MetadataLabels{"team": "b"})
	e.srv.Advance(time.Minute)
	ures, err := e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "my-sandbox"})
	u, ok := ures.(*controlplaneapi.Sandbox)
	if err != nil || !ok {
		t.Fatalf("update: %T %v", ures, err)
	}
	if diff := cmp.Diff(controlplaneapi.MetadataLabels{"team": "b"}, u.Metadata.Labels.Or(nil)); diff != "" {
		t.Errorf("labels after update (-want +got):\n%s", diff)
	}
	if u.Metadata.UpdatedAt.Or("") == u.Metadata.CreatedAt.Or("") || u.Status.Or("") != mockserver.StatusDeployed {
		t.Errorf("after update: %+v status %s", u.Metadata, u.Status.Or(""))
	}
	ures, _ = e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "other"})
	if _, ok := ures.(*controlplaneapi.UpdateSandboxBadRequest); !ok {
		t.Errorf("update with a mismatched name: %T, want 400", ures)
	}
	upd.Metadata.Name = "nope"
	ures, _ = e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "nope"})
	if _, ok := ures.(*controlplaneapi.UpdateSandboxNotFound); !ok {
		t.Errorf("update of an unknown sandbox: %T, want 404", ures)
	}

	// List is a plain array.
	lres, err := e.cp.ListSandboxes(ctx)
	if l, ok := lres.(*controlplaneapi.ListSandboxesOKApplicationJSON); err != nil || !ok || len(*l) != 1 || (*l)[0].Metadata.Name != "my-sandbox" {
		t.Errorf("list: %T %+v %v", lres, lres, err)
	}
	resp, body := do(t, e.srv, http.MethodGet, "/v0/sandboxes", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "[") {
		t.Errorf("raw list: %d %s", resp.StatusCode, body)
	}

	// Delete: DELETING, TERMINATED, then gone.
	dres, err := e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "my-sandbox"})
	if d, ok := dres.(*controlplaneapi.Sandbox); err != nil || !ok || d.Status.Or("") != mockserver.StatusDeleting {
		t.Fatalf("delete: %T %+v %v", dres, dres, err)
	}
	res, _ = e.cp.CreateSandbox(ctx, cpSandbox("my-sandbox"))
	if _, ok := res.(*controlplaneapi.CreateSandboxConflict); !ok {
		t.Errorf("create while DELETING: %T, want 409", res)
	}
	ures, _ = e.cp.UpdateSandbox(ctx, u, controlplaneapi.UpdateSandboxParams{SandboxName: "my-sandbox"})
	if _, ok := ures.(*controlplaneapi.UpdateSandboxConflict); !ok {
		t.Errorf("update while DELETING: %T, want 409", ures)
	}
	e.srv.Advance(delay)
	if got := cpStatus(t, e, "my-sandbox"); got != mockserver.StatusTerminated {
		t.Errorf("after the delay: %s, want TERMINATED", got)
	}
	e.srv.Advance(time.Minute)
	if got := cpStatus(t, e, "my-sandbox"); got != "404" {
		t.Errorf("after the retention: %s, want 404", got)
	}
	dres, _ = e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "my-sandbox"})
	if _, ok := dres.(*controlplaneapi.DeleteSandboxNotFound); !ok {
		t.Errorf("delete of a gone sandbox: %T, want 404", dres)
	}
	// The name is free again.
	res, _ = e.cp.CreateSandbox(ctx, cpSandbox("my-sandbox"))
	if _, ok := res.(*controlplaneapi.Sandbox); !ok {
		t.Errorf("re-create: %T", res)
	}
	if got := e.srv.CreationCounts("team"); got["a"] != 2 {
		t.Errorf("CreationCounts(team) = %v", got)
	}
}

func TestControlPlaneExpirationPolicies(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTransitionDelay(0), mockserver.WithRetention(0))
	ctx := t.Context()
	create := func(sb *controlplaneapi.Sandbox) *controlplaneapi.Sandbox {
		t.Helper()
		res, err := e.cp.CreateSandbox(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		out, ok := res.(*controlplaneapi.Sandbox)
		if !ok {
			t.Fatalf("create %s: %T %+v", sb.Metadata.Name, res, res)
		}
		return out
	}
	maxAge := create(cpSandbox("max-age", policy(mockserver.PolicyTTLMaxAge, "1h")))
	idle := create(cpSandbox("idle", policy(mockserver.PolicyTTLIdle, "10m")))
	date := create(cpSandbox("date", policy(mockserver.PolicyDate, t0.Add(2*time.Hour).Format(time.RFC3339))))
	both := create(cpSandbox("both", policy(mockserver.PolicyTTLMaxAge, "1d"), policy(mockserver.PolicyTTLIdle, "30m")))
	rt := cpSandbox("runtime-ttl")
	r, _ := rt.Spec.Runtime.Get()
	r.TTL = controlplaneapi.NewOptString("90m")
	rt.Spec.Runtime = controlplaneapi.NewOptRuntime(r)
	runtimeTTL := create(rt)

	for _, c := range []struct {
		sb   *controlplaneapi.Sandbox
		want int
	}{{maxAge, 3600}, {idle, 600}, {date, 7200}, {both, 1800}, {runtimeTTL, 5400}} {
		if got := c.sb.ExpiresIn.Or(-1); got != c.want {
			t.Errorf("%s: expiresIn %d, want %d", c.sb.Metadata.Name, got, c.want)
		}
		if got := c.sb.TTL.Or(0); got != int(t0.Unix())+c.want {
			t.Errorf("%s: ttl %d, want %d", c.sb.Metadata.Name, got, int(t0.Unix())+c.want)
		}
	}

	// Using the idle sandbox (its sandbox API) pushes its deadline back.
	e.srv.Advance(8 * time.Minute)
	resp, _ := do(t, e.srv, http.MethodGet, "/cp/default/idle/health", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("idle sandbox API: %d", resp.StatusCode)
	}
	if sb, _ := cpGet(t, e, "idle"); sb.ExpiresIn.Or(-1) != 600 {
		t.Errorf("idle expiresIn after use: %d, want 600", sb.ExpiresIn.Or(-1))
	}
	e.srv.Advance(9 * time.Minute) // 17m: 10m after the last use is 18m
	if got := cpStatus(t, e, "idle"); got != mockserver.StatusDeployed {
		t.Errorf("idle at 17m: %s", got)
	}
	e.srv.Advance(time.Minute)
	if got := cpStatus(t, e, "idle"); got != "404" {
		t.Errorf("idle at 18m: %s, want deleted (404 with immediate transitions and retention)", got)
	}
	if sb, _ := cpGet(t, e, "max-age"); sb.ExpiresIn.Or(-1) != 3600-18*60 {
		t.Errorf("max-age expiresIn at 18m: %d", sb.ExpiresIn.Or(-1))
	}
	e.srv.Advance(42*time.Minute - time.Second)
	if got := cpStatus(t, e, "max-age"); got != mockserver.StatusDeployed {
		t.Errorf("max-age just before 1h: %s", got)
	}
	e.srv.Advance(time.Second)
	if got := cpStatus(t, e, "max-age"); got != "404" {
		t.Errorf("max-age at 1h: %s", got)
	}
	e.srv.Advance(30 * time.Minute)
	if got := cpStatus(t, e, "runtime-ttl"); got != "404" {
		t.Errorf("runtime ttl at 1h30: %s", got)
	}
	if got := cpStatus(t, e, "date"); got != mockserver.StatusDeployed {
		t.Errorf("date at 1h30: %s", got)
	}
	e.srv.Advance(30 * time.Minute)
	if got := cpStatus(t, e, "date"); got != "404" {
		t.Errorf("date at 2h: %s", got)
	}
	var expired []string
	for _, d := range e.srv.Deletions() {
		if d.Reason == "expired" {
			expired = append(expired, d.ID)
		}
	}
	if diff := cmp.Diff([]string{"idle", "both", "max-age", "runtime-ttl", "date"}, expired); diff != "" {
		// "both" has ttl-idle 30m, unused: deleted at 30m.
		t.Errorf("expired sandboxes in order (-want +got):\n%s", diff)
	}

	for _, bad := range []controlplaneapi.ExpirationPolicy{
		policy("ttl-forever", "1h"), policy(mockserver.PolicyTTLIdle, "soon"),
		policy(mockserver.PolicyDate, "tomorrow"), {Type: controlplaneapi.NewOptString("ttl-idle"), Value: controlplaneapi.NewOptString("1h"), Action: controlplaneapi.NewOptString("pause")},
	} {
		res, err := e.cp.CreateSandbox(ctx, cpSandbox("bad", bad))
		if _, ok := res.(*controlplaneapi.CreateSandboxBadRequest); err != nil || !ok {
			t.Errorf("policy %+v: %T %v, want 400", bad, res, err)
		}
	}
}

func TestControlPlaneSandboxURL(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.cp.CreateSandbox(t.Context(), cpSandbox("web"))
	if err != nil {
		t.Fatal(err)
	}
	u := res.(*controlplaneapi.Sandbox).Metadata.URL.Or("")
	path := strings.TrimPrefix(u, e.srv.URL())
	if resp, _ := do(t, e.srv, http.MethodGet, path+"/health", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("while DEPLOYING: %d, want 503", resp.StatusCode)
	}
	e.srv.Advance(delay)
	if resp, body := do(t, e.srv, http.MethodGet, path+"/health", "", nil); resp.StatusCode != 200 {
		t.Errorf("DEPLOYED: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, e.srv, http.MethodGet, path+"/no/such/route", "", nil); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("unknown sandbox API route: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := e.cp.DeleteSandbox(t.Context(), controlplaneapi.DeleteSandboxParams{SandboxName: "web"}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, e.srv, http.MethodGet, path+"/health", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETING: %d, want 404", resp.StatusCode)
	}
}

func TestControlPlaneSeeds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{
		Name: "seeded", Labels: map[string]string{"k": "v"},
		Policies:  []mockserver.ExpirationPolicy{{Type: mockserver.PolicyTTLMaxAge, Value: "2h"}},
		CreatedAt: t0.Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "seeded"}); err == nil {
		t.Error("duplicate seed accepted")
	}
	if err := e.srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "Bad Name"}); err == nil {
		t.Error("invalid name accepted")
	}
	info, ok := e.srv.ControlPlaneSandbox("", "seeded")
	if !ok || info.Status != mockserver.StatusDeployed || !info.ExpiresAt.Equal(t0.Add(time.Hour)) || info.Labels["k"] != "v" {
		t.Errorf("seeded = %+v", info)
	}
	sb, _ := cpGet(t, e, "seeded")
	if sb.ExpiresIn.Or(-1) != 3600 {
		t.Errorf("expiresIn = %d", sb.ExpiresIn.Or(-1))
	}
	if n := len(e.srv.ControlPlaneSandboxes()); n != 1 {
		t.Errorf("%d control plane sandboxes", n)
	}
}
