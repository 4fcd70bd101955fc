package mockserver_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
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
				Ports:  []controlplaneapi.Port{{Name: controlplaneapi.NewOptString("http"), Target: 8080, Protocol: controlplaneapi.NewOptString("HTTP")}},
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

// cpCreate creates sb and fails the test unless that works.
func cpCreate(t *testing.T, e *env, sb *controlplaneapi.Sandbox) *controlplaneapi.Sandbox {
	t.Helper()
	res, err := e.cp.CreateSandbox(t.Context(), sb, controlplaneapi.CreateSandboxParams{})
	if err != nil {
		t.Fatalf("CreateSandbox(%s): %v", sb.Metadata.Name, err)
	}
	return res
}

// cpFailure returns the status and body of a failed call.
func cpFailure(t *testing.T, err error) (int, controlplaneapi.ErrorBody) {
	t.Helper()
	var e *controlplaneapi.ErrorStatusCode
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an answer of the service", err, err)
	}
	return e.StatusCode, e.Response
}

// gatewayCode checks that err is the gateway's envelope with status and
// returns its code.
func gatewayCode(t *testing.T, err error, status int) string {
	t.Helper()
	got, body := cpFailure(t, err)
	if got != status {
		t.Errorf("status %d, want %d", got, status)
	}
	ge, ok := body.Error.Get()
	if !ok || !ge.IsGatewayError() {
		t.Fatalf("body %+v is not the gateway envelope", body)
	}
	g := ge.GatewayError
	if g.Status.Or(0) != status || g.Message.Or("") == "" || g.Origin.Or("") == "" || !g.Retryable.Set || g.Action.Or("") == "" {
		t.Errorf("envelope %+v", g)
	}
	return g.Code.Or("")
}

func cpGet(t *testing.T, e *env, name string) (*controlplaneapi.Sandbox, int) {
	t.Helper()
	res, err := e.cp.GetSandbox(t.Context(), controlplaneapi.GetSandboxParams{SandboxName: name})
	if err != nil {
		if code := gatewayCode(t, err, http.StatusNotFound); code != "WORKLOAD_NOT_FOUND" {
			t.Errorf("404 code %q", code)
		}
		return nil, 404
	}
	return res, 200
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
	e := setup(t)
	ctx := t.Context()

	in := cpSandbox("my-sandbox")
	in.Metadata.ExternalID = controlplaneapi.NewOptString("session-1")
	// Fields the mock does not know must survive a round trip.
	in.Spec.AdditionalProps = controlplaneapi.SandboxSpecAdditional{"flavors": jx.Raw(`[{"name":"t4","type":"gpu"}]`)}
	created, err := e.cp.CreateSandbox(ctx, in, controlplaneapi.CreateSandboxParams{}, controlplaneapi.WithEditRequest(func(r *http.Request) error {
		r.Header.Set("X-Blaxel-Workspace", "acme")
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.Or("") != mockserver.StatusDeploying || created.State.Set {
		t.Errorf("created status %q state %v, want DEPLOYING and no state", created.Status.Or(""), created.State)
	}
	md := created.Metadata
	if md.Workspace.Or("") != "acme" || md.CreatedAt.Or("") != t0.Format(time.RFC3339) || md.URL.Or("") != e.srv.URL()+"/cp/default/my-sandbox" ||
		md.ExternalID.Or("") != "session-1" || created.NodeGeneration.Or("") == "" {
		t.Errorf("created = %+v", created)
	}
	if got := string(created.Spec.AdditionalProps["flavors"]); got != `[{"name":"t4","type":"gpu"}]` {
		t.Errorf("unknown spec field came back as %q", got)
	}
	if created.ExpiresIn.Set {
		t.Errorf("expiresIn without policies: %v", created.ExpiresIn)
	}

	e.srv.Advance(delay)
	sb, _ := cpGet(t, e, "my-sandbox")
	if sb.Status.Or("") != mockserver.StatusDeployed || sb.State.Or("") != "RUNNING" {
		t.Errorf("after the delay: %s %s, want DEPLOYED RUNNING", sb.Status.Or(""), sb.State.Or(""))
	}
	if n := len(sb.Events); n != 2 || sb.Events[1].Status.Or("") != mockserver.StatusDeployed {
		t.Errorf("events = %+v", sb.Events)
	}

	// Update.
	upd := *sb
	upd.Metadata.Labels = controlplaneapi.NewOptMetadataLabels(controlplaneapi.MetadataLabels{"team": "b"})
	e.srv.Advance(time.Minute)
	u, err := e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "my-sandbox"})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if diff := cmp.Diff(controlplaneapi.MetadataLabels{"team": "b"}, u.Metadata.Labels.Or(nil)); diff != "" {
		t.Errorf("labels after update (-want +got):\n%s", diff)
	}
	if u.Metadata.UpdatedAt.Or("") == u.Metadata.CreatedAt.Or("") || u.Status.Or("") != mockserver.StatusDeployed {
		t.Errorf("after update: %+v status %s", u.Metadata, u.Status.Or(""))
	}
	_, err = e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "other"})
	if code := gatewayCode(t, err, 400); code != "INVALID_REQUEST" {
		t.Errorf("update with a mismatched name: %s", code)
	}
	upd.Metadata.Name = "nope"
	_, err = e.cp.UpdateSandbox(ctx, &upd, controlplaneapi.UpdateSandboxParams{SandboxName: "nope"})
	if code := gatewayCode(t, err, 404); code != "WORKLOAD_NOT_FOUND" {
		t.Errorf("update of an unknown sandbox: %s", code)
	}

	// By external id.
	byID, err := e.cp.GetSandboxByExternalID(ctx, controlplaneapi.GetSandboxByExternalIDParams{ExternalID: "session-1"})
	if err != nil || byID.Metadata.Name != "my-sandbox" {
		t.Errorf("by external id: %+v %v", byID, err)
	}
	_, err = e.cp.GetSandboxByExternalID(ctx, controlplaneapi.GetSandboxByExternalIDParams{ExternalID: "session-2"})
	gatewayCode(t, err, 404)

	// Delete: DELETING, TERMINATED, then gone after the default
	// retention of five minutes.
	d, err := e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "my-sandbox"})
	if err != nil || d.Status.Or("") != mockserver.StatusDeleting {
		t.Fatalf("delete: %+v %v", d, err)
	}
	_, err = e.cp.UpdateSandbox(ctx, u, controlplaneapi.UpdateSandboxParams{SandboxName: "my-sandbox"})
	gatewayCode(t, err, 409)
	e.srv.Advance(delay)
	if got := cpStatus(t, e, "my-sandbox"); got != mockserver.StatusTerminated {
		t.Errorf("after the delay: %s, want TERMINATED", got)
	}
	// A TERMINATED sandbox has no external id any more for the lookup.
	_, err = e.cp.GetSandboxByExternalID(ctx, controlplaneapi.GetSandboxByExternalIDParams{ExternalID: "session-1"})
	gatewayCode(t, err, 404)
	e.srv.Advance(mockserver.DefaultTerminatedRetention - time.Second)
	if got := cpStatus(t, e, "my-sandbox"); got != mockserver.StatusTerminated {
		t.Errorf("just before the retention ends: %s", got)
	}
	e.srv.Advance(time.Second)
	if got := cpStatus(t, e, "my-sandbox"); got != "404" {
		t.Errorf("after the retention: %s, want 404", got)
	}
	_, err = e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "my-sandbox"})
	gatewayCode(t, err, 404)
	cpCreate(t, e, cpSandbox("my-sandbox"))
	if got := e.srv.CreationCounts("team"); got["a"] != 2 {
		t.Errorf("CreationCounts(team) = %v", got)
	}
}

func TestControlPlaneCreateConflicts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	cpCreate(t, e, cpSandbox("web"))

	// Still DEPLOYING: 409 with the create-error body and the reason.
	_, err := e.cp.CreateSandbox(ctx, cpSandbox("web"), controlplaneapi.CreateSandboxParams{})
	status, body := cpFailure(t, err)
	if status != 409 || body.Code.Or(controlplaneapi.ErrorCode{}).String != "ALREADY_EXISTS" || body.Reason.Or("") != "CREATION_IN_PROGRESS" ||
		body.SandboxName.Or("") != "web" || body.StatusCode.Or(0) != 409 || body.Step.Or("") == "" || body.Timestamp.Or("") == "" || body.Workspace.Or("") != "default" {
		t.Errorf("create of a DEPLOYING name: %d %+v", status, body)
	}
	// createIfNotExist answers the existing sandbox.
	again, err := e.cp.CreateSandbox(ctx, cpSandbox("web"), controlplaneapi.CreateSandboxParams{CreateIfNotExist: controlplaneapi.NewOptBool(true)})
	if err != nil || again.Metadata.Name != "web" || again.Status.Or("") != mockserver.StatusDeploying {
		t.Errorf("createIfNotExist: %+v %v", again, err)
	}
	e.srv.Advance(delay)
	_, err = e.cp.CreateSandbox(ctx, cpSandbox("web"), controlplaneapi.CreateSandboxParams{})
	if status, body := cpFailure(t, err); status != 409 || body.Reason.Set {
		t.Errorf("create of a DEPLOYED name: %d %+v", status, body)
	}

	// Being deleted: 409 even with createIfNotExist; TERMINATED: re-created.
	if _, err := e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "web"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cp.CreateSandbox(ctx, cpSandbox("web"), controlplaneapi.CreateSandboxParams{CreateIfNotExist: controlplaneapi.NewOptBool(true)})
	if status, _ := cpFailure(t, err); status != 409 {
		t.Errorf("create while DELETING: %d", status)
	}
	e.srv.Advance(delay)
	if got := cpStatus(t, e, "web"); got != mockserver.StatusTerminated {
		t.Fatalf("web is %s", got)
	}
	re := cpCreate(t, e, cpSandbox("web"))
	if re.Status.Or("") != mockserver.StatusDeploying || len(re.Events) != 1 {
		t.Errorf("re-created over TERMINATED: %+v", re)
	}

	// Validation: the create-error body with a code.
	for _, c := range []struct {
		name string
		edit func(*controlplaneapi.Sandbox)
		code string
	}{
		{"upper case", func(s *controlplaneapi.Sandbox) { s.Metadata.Name = "My_Sandbox" }, "INVALID_NAME"},
		{"50 characters", func(s *controlplaneapi.Sandbox) { s.Metadata.Name = strings.Repeat("a", 50) }, "INVALID_NAME"},
		{"external id", func(s *controlplaneapi.Sandbox) {
			s.Metadata.ExternalID = controlplaneapi.NewOptString(strings.Repeat("x", 65))
		}, "INVALID_EXTERNAL_ID"},
		{"go duration", func(s *controlplaneapi.Sandbox) {
			s.Spec.Lifecycle = controlplaneapi.NewOptSandboxLifecycle(controlplaneapi.SandboxLifecycle{ExpirationPolicies: []controlplaneapi.ExpirationPolicy{policy("ttl-idle", "1h30m")}})
		}, "INVALID_SPEC"},
		{"protocol", func(s *controlplaneapi.Sandbox) {
			rt, _ := s.Spec.Runtime.Get()
			rt.Ports[0].Protocol = controlplaneapi.NewOptString("SCTP")
			s.Spec.Runtime = controlplaneapi.NewOptRuntime(rt)
		}, "INVALID_SPEC"},
		{"ephemeral volume without size", func(s *controlplaneapi.Sandbox) {
			s.Spec.Volumes = []controlplaneapi.VolumeAttachment{{Name: controlplaneapi.NewOptString("tmp"), MountPath: controlplaneapi.NewOptString("/tmp/x"), Type: controlplaneapi.NewOptString("ephemeral")}}
		}, "INVALID_SPEC"},
		{"retention", func(s *controlplaneapi.Sandbox) {
			s.Spec.Lifecycle = controlplaneapi.NewOptSandboxLifecycle(controlplaneapi.SandboxLifecycle{TerminatedRetention: controlplaneapi.NewOptString("forever")})
		}, "INVALID_SPEC"},
	} {
		sb := cpSandbox("valid-name")
		c.edit(sb)
		_, err := e.cp.CreateSandbox(ctx, sb, controlplaneapi.CreateSandboxParams{})
		status, body := cpFailure(t, err)
		if status != 400 || body.Code.Or(controlplaneapi.ErrorCode{}).String != c.code || body.Message.Or("") == "" {
			t.Errorf("%s: %d %+v, want 400 %s", c.name, status, body, c.code)
		}
	}

	// A port without a target does not decode: 400 in the envelope.
	resp, text := do(t, e.srv, http.MethodPost, "/v0/sandboxes", `{"metadata":{"name":"p"},"spec":{"runtime":{"ports":[{"name":"x"}]}}}`, nil)
	if resp.StatusCode != 400 || !strings.Contains(text, `"code":"INVALID_REQUEST"`) {
		t.Errorf("port without target: %d %s", resp.StatusCode, text)
	}
}

func TestControlPlaneErrorEnvelope(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTenant("key-a", "a"))
	resp, body := do(t, e.srv, http.MethodGet, "/v0/sandboxes/x", "", nil)
	var env struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Origin    string `json:"origin"`
			Retryable *bool  `json:"retryable"`
			Action    string `json:"action"`
			DoNot     string `json:"do_not"`
			Status    int    `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || resp.StatusCode != 401 || env.Error.Code != "AUTHENTICATION_FAILED" ||
		env.Error.Status != 401 || env.Error.Retryable == nil || *env.Error.Retryable || env.Error.DoNot == "" {
		t.Errorf("401: %d %s", resp.StatusCode, body)
	}
	key := http.Header{"Authorization": {"Bearer key-a"}}
	resp, body = do(t, e.srv, http.MethodGet, "/v0/no-such-route", "", key)
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":"ROUTE_NOT_FOUND"`) {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, e.srv, http.MethodGet, "/v0/sandboxes/x", "", key)
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":"WORKLOAD_NOT_FOUND"`) {
		t.Errorf("missing sandbox: %d %s", resp.StatusCode, body)
	}
	if _, err := e.srv.InjectFault(mockserver.Fault{API: mockserver.APIControlPlane, Operation: "GetSandbox", Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, e.srv, http.MethodGet, "/v0/sandboxes/x", "", key)
	if resp.StatusCode != 503 || !strings.Contains(body, `"code":"WORKLOAD_UNAVAILABLE"`) || !strings.Contains(body, `"retryable":true`) {
		t.Errorf("injected 503: %d %s", resp.StatusCode, body)
	}
}

func TestControlPlaneList(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	names := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	for i, n := range names {
		sb := cpSandbox(n)
		if i%2 == 0 {
			sb.Metadata.ExternalID = controlplaneapi.NewOptString("even")
		}
		sb.Metadata.DisplayName = controlplaneapi.NewOptString("Box " + strings.ToUpper(n))
		cpCreate(t, e, sb)
		e.srv.Advance(time.Second) // distinct creation times
	}
	if _, err := e.cp.DeleteSandbox(ctx, controlplaneapi.DeleteSandboxParams{SandboxName: "bravo"}); err != nil {
		t.Fatal(err)
	}
	e.srv.Advance(delay) // bravo TERMINATED, the others DEPLOYED

	namesOf := func(l []controlplaneapi.Sandbox) []string {
		out := []string{}
		for _, s := range l {
			out = append(out, s.Metadata.Name)
		}
		return out
	}
	list := func(p controlplaneapi.ListSandboxesParams) controlplaneapi.SandboxListing {
		t.Helper()
		res, err := e.cp.ListSandboxes(ctx, p)
		if err != nil {
			t.Fatalf("list %+v: %v", p, err)
		}
		return res
	}
	v := controlplaneapi.NewOptString("2026-04-28")

	// Without the version header: a bare array, newest first, TERMINATED
	// hidden, paging parameters ignored.
	bare := list(controlplaneapi.ListSandboxesParams{Limit: controlplaneapi.NewOptInt(1)})
	if !bare.IsSandboxArray() {
		t.Fatalf("no version header: %v", bare.Type)
	}
	if diff := cmp.Diff([]string{"echo", "delta", "charlie", "alpha"}, namesOf(bare.SandboxArray)); diff != "" {
		t.Errorf("bare list (-want +got):\n%s", diff)
	}
	if bare.SandboxArray[0].Events != nil {
		t.Error("list items carry events")
	}
	if got := list(controlplaneapi.ListSandboxesParams{BlaxelVersion: controlplaneapi.NewOptString("2026-04-16")}); !got.IsSandboxArray() {
		t.Error("older version answered pages")
	}

	// Pages of two, following the cursor.
	var walked []string
	p := controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Limit: controlplaneapi.NewOptInt(2), ShowTerminated: controlplaneapi.NewOptBool(true)}
	for pages := 0; ; pages++ {
		res := list(p)
		if !res.IsSandboxPage() || pages > 5 {
			t.Fatalf("page %d: %v", pages, res.Type)
		}
		walked = append(walked, namesOf(res.SandboxPage.Data)...)
		meta := res.SandboxPage.Meta.Or(controlplaneapi.PageMeta{})
		if meta.Total.Or(0) != 5 {
			t.Errorf("total %d", meta.Total.Or(0))
		}
		if !meta.HasMore.Or(false) {
			if meta.NextCursor.Or("x") != "" {
				t.Errorf("last page cursor %q", meta.NextCursor.Or(""))
			}
			break
		}
		p.Cursor = meta.NextCursor
	}
	if diff := cmp.Diff([]string{"echo", "delta", "charlie", "bravo", "alpha"}, walked); diff != "" {
		t.Errorf("paged walk with showTerminated (-want +got):\n%s", diff)
	}

	for _, c := range []struct {
		name string
		p    controlplaneapi.ListSandboxesParams
		want []string
	}{
		{"name order", controlplaneapi.ListSandboxesParams{Sort: controlplaneapi.NewOptSort(controlplaneapi.SortNameAsc)}, []string{"alpha", "charlie", "delta", "echo"}},
		{"oldest first", controlplaneapi.ListSandboxesParams{Sort: controlplaneapi.NewOptSort(controlplaneapi.SortCreatedAtAsc)}, []string{"alpha", "charlie", "delta", "echo"}},
		{"status overrides showTerminated", controlplaneapi.ListSandboxesParams{Status: controlplaneapi.NewOptString("TERMINATED")}, []string{"bravo"}},
		{"two statuses", controlplaneapi.ListSandboxesParams{Status: controlplaneapi.NewOptString("DEPLOYED,TERMINATED"), Sort: controlplaneapi.NewOptSort(controlplaneapi.SortNameDesc)}, []string{"echo", "delta", "charlie", "bravo", "alpha"}},
		{"external id", controlplaneapi.ListSandboxesParams{ExternalID: controlplaneapi.NewOptString("even")}, []string{"echo", "charlie", "alpha"}},
		{"q on display name", controlplaneapi.ListSandboxesParams{Q: controlplaneapi.NewOptString("  BOX DEL ")}, []string{"delta"}},
		{"q on a label", controlplaneapi.ListSandboxesParams{Q: controlplaneapi.NewOptString("team")}, []string{"echo", "delta", "charlie", "alpha"}},
		{"q of one character filters nothing", controlplaneapi.ListSandboxesParams{Q: controlplaneapi.NewOptString("z")}, []string{"echo", "delta", "charlie", "alpha"}},
		{"anchor end", controlplaneapi.ListSandboxesParams{Anchor: controlplaneapi.NewOptAnchor(controlplaneapi.AnchorEnd), Limit: controlplaneapi.NewOptInt(2)}, []string{"charlie", "alpha"}},
		{"limit clamped", controlplaneapi.ListSandboxesParams{Limit: controlplaneapi.NewOptInt(5000)}, []string{"echo", "delta", "charlie", "alpha"}},
	} {
		c.p.BlaxelVersion = v
		res := list(c.p)
		if diff := cmp.Diff(c.want, namesOf(res.SandboxPage.Data)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	// A cursor belongs to its query.
	first := list(controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Limit: controlplaneapi.NewOptInt(2)})
	cur := first.SandboxPage.Meta.Or(controlplaneapi.PageMeta{}).NextCursor
	_, err := e.cp.ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Limit: controlplaneapi.NewOptInt(2), Cursor: cur, Sort: controlplaneapi.NewOptSort(controlplaneapi.SortNameAsc)})
	gatewayCode(t, err, 400)
	e.srv.Advance(25 * time.Hour)
	_, err = e.cp.ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Limit: controlplaneapi.NewOptInt(2), Cursor: cur})
	gatewayCode(t, err, 400)
	_, err = e.cp.ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Cursor: controlplaneapi.NewOptString("garbage")})
	gatewayCode(t, err, 400)

	_, err = e.cp.ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{Status: controlplaneapi.NewOptString("RUNNING")})
	gatewayCode(t, err, 400)
	_, err = e.cp.ListSandboxes(ctx, controlplaneapi.ListSandboxesParams{BlaxelVersion: v, Anchor: controlplaneapi.NewOptAnchor(controlplaneapi.AnchorEnd), Sort: controlplaneapi.NewOptSort(controlplaneapi.SortNameAsc)})
	gatewayCode(t, err, 400)
}

func TestControlPlaneExpirationPolicies(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTransitionDelay(0))
	retention := func(sb *controlplaneapi.Sandbox) *controlplaneapi.Sandbox {
		lc := sb.Spec.Lifecycle.Or(controlplaneapi.SandboxLifecycle{})
		lc.TerminatedRetention = controlplaneapi.NewOptString("1s")
		sb.Spec.Lifecycle = controlplaneapi.NewOptSandboxLifecycle(lc)
		return sb
	}
	maxAge := cpCreate(t, e, retention(cpSandbox("max-age", policy(mockserver.PolicyTTLMaxAge, "1h"))))
	idle := cpCreate(t, e, retention(cpSandbox("idle", policy(mockserver.PolicyTTLIdle, "10m"))))
	date := cpCreate(t, e, retention(cpSandbox("date", policy(mockserver.PolicyDate, t0.Add(2*time.Hour).Format(time.RFC3339)))))
	both := cpCreate(t, e, retention(cpSandbox("both", policy(mockserver.PolicyTTLMaxAge, "1d"), policy(mockserver.PolicyTTLIdle, "1800s"))))
	rt := retention(cpSandbox("runtime-ttl"))
	r, _ := rt.Spec.Runtime.Get()
	r.TTL = controlplaneapi.NewOptString("90m")
	rt.Spec.Runtime = controlplaneapi.NewOptRuntime(r)
	runtimeTTL := cpCreate(t, e, rt)

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
	if got := cpStatus(t, e, "idle"); got != mockserver.StatusTerminated {
		t.Errorf("idle at 18m: %s, want TERMINATED", got)
	}
	e.srv.Advance(time.Second)
	if got := cpStatus(t, e, "idle"); got != "404" {
		t.Errorf("idle after its retention of 1s: %s, want 404", got)
	}
	if sb, _ := cpGet(t, e, "max-age"); sb.ExpiresIn.Or(-1) != 3600-18*60-1 {
		t.Errorf("max-age expiresIn at 18m1s: %d", sb.ExpiresIn.Or(-1))
	}
	e.srv.Advance(42*time.Minute - 2*time.Second)
	if got := cpStatus(t, e, "max-age"); got != mockserver.StatusDeployed {
		t.Errorf("max-age just before 1h: %s", got)
	}
	e.srv.Advance(time.Second)
	if got := cpStatus(t, e, "max-age"); got != mockserver.StatusTerminated {
		t.Errorf("max-age at 1h: %s", got)
	}
	e.srv.Advance(30 * time.Minute)
	if got := cpStatus(t, e, "runtime-ttl"); got != mockserver.StatusTerminated {
		t.Errorf("runtime ttl at 1h30: %s", got)
	}
	if got := cpStatus(t, e, "date"); got != mockserver.StatusDeployed {
		t.Errorf("date at 1h30: %s", got)
	}
	e.srv.Advance(30 * time.Minute)
	if got := cpStatus(t, e, "date"); got != mockserver.StatusTerminated {
		t.Errorf("date at 2h: %s", got)
	}
	var expired []string
	for _, d := range e.srv.Deletions() {
		if d.Reason == "expired" {
			expired = append(expired, d.ID)
		}
	}
	if diff := cmp.Diff([]string{"idle", "both", "max-age", "runtime-ttl", "date"}, expired); diff != "" {
		// "both" has ttl-idle 1800s, unused: deleted at 30m.
		t.Errorf("expired sandboxes in order (-want +got):\n%s", diff)
	}

	for _, bad := range []controlplaneapi.ExpirationPolicy{
		policy("ttl-forever", "1h"), policy(mockserver.PolicyTTLIdle, "soon"), policy(mockserver.PolicyTTLIdle, "1.5h"),
		policy(mockserver.PolicyDate, "tomorrow"), {Type: controlplaneapi.NewOptString("ttl-idle"), Value: controlplaneapi.NewOptString("1h"), Action: controlplaneapi.NewOptString("pause")},
	} {
		_, err := e.cp.CreateSandbox(t.Context(), cpSandbox("bad", bad), controlplaneapi.CreateSandboxParams{})
		if status, _ := cpFailure(t, err); status != 400 {
			t.Errorf("policy %+v: %d, want 400", bad, status)
		}
	}
}

func TestControlPlaneSandboxURL(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := cpCreate(t, e, cpSandbox("web")).Metadata.URL.Or("")
	path := strings.TrimPrefix(u, e.srv.URL())
	if resp, _ := do(t, e.srv, http.MethodGet, path+"/health", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("while DEPLOYING: %d, want 503", resp.StatusCode)
	}
	e.srv.Advance(delay)
	if resp, body := do(t, e.srv, http.MethodGet, path+"/health", "", nil); resp.StatusCode != 200 {
		t.Errorf("DEPLOYED: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, e.srv, http.MethodGet, path+"/no/such/route", "", nil); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "text/plain" {
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
	for _, bad := range []mockserver.ControlPlaneSeed{{Name: "seeded"}, {Name: "Bad Name"}, {Name: strings.Repeat("a", 50)}} {
		if err := e.srv.AddControlPlaneSandbox("", bad); err == nil {
			t.Errorf("seed %q accepted", bad.Name)
		}
	}
	if err := e.srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "built", Status: mockserver.StatusBuilt}); err != nil {
		t.Errorf("BUILT seed: %v", err)
	}
	info, ok := e.srv.ControlPlaneSandbox("", "seeded")
	if !ok || info.Status != mockserver.StatusDeployed || !info.ExpiresAt.Equal(t0.Add(time.Hour)) || info.Labels["k"] != "v" {
		t.Errorf("seeded = %+v", info)
	}
	sb, _ := cpGet(t, e, "seeded")
	if sb.ExpiresIn.Or(-1) != 3600 {
		t.Errorf("expiresIn = %d", sb.ExpiresIn.Or(-1))
	}
	if n := len(e.srv.ControlPlaneSandboxes()); n != 2 {
		t.Errorf("%d control plane sandboxes", n)
	}
}

// checkCPErrorShape checks a control plane error body: the gateway's
// envelope {"error":{"code","message",...}}, or a failed create's
// {"code","message","sandbox_name",...}.
func checkCPErrorShape(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode < 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return
	}
	var m struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"error"`
		Code        string  `json:"code"`
		Message     string  `json:"message"`
		SandboxName *string `json:"sandbox_name"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q does not decode: %v", body, err)
	}
	switch {
	case m.Error != nil:
		if m.Error.Code == "" || m.Error.Message == "" || m.Error.Status != resp.StatusCode {
			t.Fatalf("gateway envelope %s lacks code, message or status %d", body, resp.StatusCode)
		}
	case m.Code == "" || m.Message == "" || m.SandboxName == nil:
		t.Fatalf("error body %s is neither the gateway envelope nor a create error", body)
	}
}

func TestControlPlanePreviewRouting(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	cpCreate(t, e, cpSandbox("web")) // DEPLOYING until delay passes
	mk := func(name string, port int, public bool) string {
		t.Helper()
		p, err := e.cp.CreateSandboxPreview(ctx, &controlplaneapi.Preview{
			Metadata: controlplaneapi.PreviewMetadata{Name: name},
			Spec:     controlplaneapi.PreviewSpec{Port: controlplaneapi.NewOptInt(port), Public: controlplaneapi.NewOptBool(public)},
		}, controlplaneapi.CreateSandboxPreviewParams{SandboxName: "web"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Or("") != mockserver.StatusDeployed || p.Metadata.ResourceName.Or("") != "web" || p.Spec.URL.Or("") == "" {
			t.Errorf("preview %+v", p)
		}
		return strings.TrimPrefix(p.Spec.URL.Or(""), e.srv.URL())
	}
	api, app := mk("api", 8080, true), mk("app", 3000, true)
	check := func(path string, status int, code string) {
		t.Helper()
		resp, body := do(t, e.srv, http.MethodGet, path, "", nil)
		if resp.StatusCode != status || (code != "" && !strings.Contains(body, `"code":"`+code+`"`)) {
			t.Errorf("GET %s: %d %s, want %d %s", path, resp.StatusCode, body, status, code)
		}
	}
	check(api+"/health", 503, "WORKLOAD_UNAVAILABLE") // still DEPLOYING
	e.srv.Advance(delay)
	check(api+"/health", 200, "")
	check(app+"/", 502, "WORKLOAD_UNAVAILABLE") // nothing listens on 3000
	check("/preview/default/web/nope/", 404, "ROUTE_NOT_FOUND")
	check("/preview/default/nope/api/", 404, "WORKLOAD_NOT_FOUND")
	check("/preview/other-tenant/web/api/health", 404, "WORKLOAD_NOT_FOUND")
	if err := e.srv.HandleControlPlanePort("", "web", 8080, http.NotFoundHandler()); err == nil {
		t.Error("HandleControlPlanePort replaced the sandbox API")
	}
	if err := e.srv.HandleControlPlanePort("", "nope", 3000, http.NotFoundHandler()); err == nil {
		t.Error("HandleControlPlanePort on a missing sandbox")
	}

	// A private preview: the token in the query is removed before the
	// application sees it.
	var seen string
	if err := e.srv.HandleControlPlanePort("", "web", 3000, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.URL.RawQuery + "|" + r.Header.Get("X-Blaxel-Preview-Token")
	})); err != nil {
		t.Fatal(err)
	}
	priv := mk("private", 3000, false)
	tok, err := e.cp.CreateSandboxPreviewToken(ctx, &controlplaneapi.PreviewToken{
		Metadata: controlplaneapi.PreviewTokenMetadata{Name: "t1"},
		Spec:     controlplaneapi.PreviewTokenSpec{ExpiresAt: controlplaneapi.NewOptString(t0.Add(time.Hour).Format(time.RFC3339))},
	}, controlplaneapi.CreateSandboxPreviewTokenParams{SandboxName: "web", PreviewName: "private"})
	if err != nil || tok.Spec.Token.Or("") == "" {
		t.Fatalf("token: %+v, %v", tok, err)
	}
	check(priv+"/x?a=1", 401, "AUTHENTICATION_REQUIRED")
	check(priv+"/x?a=1&bl_preview_token=wrong", 401, "AUTHENTICATION_FAILED")
	check(priv+"/x?a=1&bl_preview_token="+tok.Spec.Token.Or(""), 200, "")
	if seen != "a=1|" {
		t.Errorf("the application saw %q", seen)
	}
	list, err := e.cp.ListSandboxPreviewTokens(ctx, controlplaneapi.ListSandboxPreviewTokensParams{SandboxName: "web", PreviewName: "private"})
	if err != nil || len(list) != 1 || list[0].Spec.Token.Set {
		t.Errorf("token list: %+v, %v (values are not listed)", list, err)
	}
	// The token expires with the clock.
	e.srv.Advance(time.Hour)
	check(priv+"/x?bl_preview_token="+tok.Spec.Token.Or(""), 401, "AUTHENTICATION_FAILED")
}

func TestControlPlaneScheduleRuns(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	cpCreate(t, e, cpSandbox("job"))
	e.srv.Advance(delay)
	s, err := e.cp.CreateSandboxSchedule(ctx, &controlplaneapi.Schedule{
		Type: controlplaneapi.NewOptString("cron"), Value: controlplaneapi.NewOptString("0 * * * *"),
		MaxExecutions: controlplaneapi.NewOptInt(2),
		Input:         controlplaneapi.NewOptScheduleInput(controlplaneapi.ScheduleInput{Command: controlplaneapi.NewOptString("echo hi"), Name: controlplaneapi.NewOptString("hourly")}),
	}, controlplaneapi.CreateSandboxScheduleParams{SandboxName: "job"})
	if err != nil || s.ID.Or("") != "schedule-0" || s.CreatedAt.Or("") == "" {
		t.Fatalf("create: %+v, %v", s, err)
	}
	e.srv.Advance(3 * time.Hour) // 11:00, 12:00, 13:00
	page, err := e.cp.ListSandboxScheduleExecutions(ctx, controlplaneapi.ListSandboxScheduleExecutionsParams{SandboxName: "job"})
	if err != nil {
		t.Fatal(err)
	}
	var at []string
	for _, r := range page.Data {
		at = append(at, r.ExecutedAt.Or("")+" "+r.ProcessName.Or("")+" "+strconv.Itoa(r.StatusCode.Or(-1)))
	}
	want := []string{"2026-03-01T13:00:00Z hourly 200", "2026-03-01T12:00:00Z hourly 200"} // maxExecutions 2
	if diff := cmp.Diff(want, at); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	// While the sandbox is not DEPLOYED the run is recorded as
	// unreachable.
	if err := e.srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "built", Status: mockserver.StatusBuilt}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cp.CreateSandboxSchedule(ctx, &controlplaneapi.Schedule{
		Type: controlplaneapi.NewOptString("sleep"), Value: controlplaneapi.NewOptString("90s"),
		Input: controlplaneapi.NewOptScheduleInput(controlplaneapi.ScheduleInput{Command: controlplaneapi.NewOptString("true")}),
	}, controlplaneapi.CreateSandboxScheduleParams{SandboxName: "built"}); err != nil {
		t.Fatal(err)
	}
	e.srv.Advance(2 * time.Minute)
	page, err = e.cp.ListSandboxScheduleExecutions(ctx, controlplaneapi.ListSandboxScheduleExecutionsParams{SandboxName: "built"})
	if err != nil || len(page.Data) != 1 || page.Data[0].StatusCode.Or(-1) != 0 || !strings.Contains(page.Data[0].Error.Or(""), "not reachable") {
		t.Errorf("run on a BUILT sandbox: %+v, %v", page, err)
	}
	// Bare array without the version header, a page with it.
	res, err := e.cp.ListSandboxSchedules(ctx, controlplaneapi.ListSandboxSchedulesParams{SandboxName: "job"})
	if err != nil || !res.IsScheduleArray() || len(res.ScheduleArray) != 1 {
		t.Errorf("bare schedules: %+v, %v", res, err)
	}
	res, err = e.cp.ListSandboxSchedules(ctx, controlplaneapi.ListSandboxSchedulesParams{SandboxName: "job", BlaxelVersion: controlplaneapi.NewOptString("2026-05-01")})
	if err != nil || !res.IsSchedulePage() || len(res.SchedulePage.Data) != 1 {
		t.Errorf("paged schedules: %+v, %v", res, err)
	}
	_, err = e.cp.CreateSandboxSchedule(ctx, &controlplaneapi.Schedule{Type: controlplaneapi.NewOptString("cron"), Value: controlplaneapi.NewOptString("61 * * * *"),
		Input: controlplaneapi.NewOptScheduleInput(controlplaneapi.ScheduleInput{Command: controlplaneapi.NewOptString("x")})}, controlplaneapi.CreateSandboxScheduleParams{SandboxName: "job"})
	gatewayCode(t, err, 400)
}
