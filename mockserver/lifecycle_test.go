package mockserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

const delay = mockserver.DefaultTransitionDelay

func TestLifecycleFullCycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()

	res, err := e.lc.CreateSandbox(ctx, &lifecycleapi.CreateSandboxRequest{
		Image:      lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "python:3.11"}),
		Entrypoint: []string{"python", "/app/main.py"},
		Metadata:   lifecycleapi.NewOptCreateSandboxRequestMetadata(lifecycleapi.CreateSandboxRequestMetadata{"name": "My Python Sandbox"}),
		Timeout:    lifecycleapi.NewOptNilInt(3600),
	})
	if err != nil {
		t.Fatal(err)
	}
	created := res.(*lifecycleapi.CreateSandboxResponseHeaders)
	id := created.Response.ID
	if got := string(created.Response.Status.State); got != mockserver.StatePending {
		t.Errorf("created sandbox is %s, want Pending", got)
	}
	if want := e.srv.URL() + "/v1/sandboxes/" + id; created.Location.Or("") != want {
		t.Errorf("Location = %q, want %q", created.Location.Or(""), want)
	}
	if exp, _ := created.Response.ExpiresAt.Get(); !exp.Equal(t0.Add(time.Hour)) {
		t.Errorf("expiresAt = %v, want %v", exp, t0.Add(time.Hour))
	}

	steps := []struct {
		action string
		during string // state right after the call
		after  string // state once the transition took its time
	}{
		{"", mockserver.StatePending, mockserver.StateRunning},
		{"pause", mockserver.StatePausing, mockserver.StatePaused},
		{"resume", mockserver.StateResuming, mockserver.StateRunning},
		{"delete", mockserver.StateStopping, mockserver.StateTerminated},
	}
	for _, st := range steps {
		var err error
		switch st.action {
		case "pause":
			var r lifecycleapi.PauseSandboxRes
			r, err = e.lc.PauseSandbox(ctx, lifecycleapi.PauseSandboxParams{SandboxId: id})
			if _, ok := r.(*lifecycleapi.PauseSandboxAccepted); !ok && err == nil {
				t.Fatalf("pause answered %T", r)
			}
		case "resume":
			var r lifecycleapi.ResumeSandboxRes
			r, err = e.lc.ResumeSandbox(ctx, lifecycleapi.ResumeSandboxParams{SandboxId: id})
			if _, ok := r.(*lifecycleapi.ResumeSandboxAccepted); !ok && err == nil {
				t.Fatalf("resume answered %T", r)
			}
		case "delete":
			var r lifecycleapi.DeleteSandboxRes
			r, err = e.lc.DeleteSandbox(ctx, lifecycleapi.DeleteSandboxParams{SandboxId: id})
			if _, ok := r.(*lifecycleapi.DeleteSandboxNoContent); !ok && err == nil {
				t.Fatalf("delete answered %T", r)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", st.action, err)
		}
		wantState(t, e.lc, id, st.during)
		e.srv.Advance(delay - time.Millisecond)
		wantState(t, e.lc, id, st.during)
		e.srv.Advance(time.Millisecond)
		wantState(t, e.lc, id, st.after)
	}
	sb := getSandbox(t, e.lc, id)
	if sb.Status.Reason.Or("") != "user_delete" {
		t.Errorf("terminated reason = %q, want user_delete", sb.Status.Reason.Or(""))
	}

	// Terminated sandboxes stay visible for the retention, then 404.
	e.srv.Advance(mockserver.DefaultRetention - time.Second)
	wantState(t, e.lc, id, mockserver.StateTerminated)
	e.srv.Advance(time.Second)
	r, err := e.lc.GetSandbox(ctx, lifecycleapi.GetSandboxParams{SandboxId: id})
	body := wantLifecycleError(t, r, err, http.StatusNotFound)
	if body.Code != "NOT_FOUND" {
		t.Errorf("404 code = %q, want NOT_FOUND", body.Code)
	}
	if d := e.srv.Deletions(); len(d) != 1 || d[0].ID != id || d[0].Reason != "user_delete" || d[0].RequestID == "" {
		t.Errorf("Deletions = %+v", d)
	}
}

// TestLifecycleOperationsByState tries every state-changing operation in
// every state: the allowed ones start their transition, the others are
// 409.
func TestLifecycleOperationsByState(t *testing.T) {
	t.Parallel()
	type outcome struct {
		status int
		state  string // state right after
	}
	ops := []string{"pause", "resume", "delete", "renew", "snapshot", "patch"}
	want := map[string]map[string]outcome{
		mockserver.StatePending: {
			"pause": {409, "Pending"}, "resume": {409, "Pending"}, "delete": {204, "Stopping"},
			"renew": {200, "Pending"}, "snapshot": {409, "Pending"}, "patch": {200, "Pending"},
		},
		mockserver.StateRunning: {
			"pause": {202, "Pausing"}, "resume": {409, "Running"}, "delete": {204, "Stopping"},
			"renew": {200, "Running"}, "snapshot": {202, "Running"}, "patch": {200, "Running"},
		},
		mockserver.StatePausing: {
			"pause": {409, "Pausing"}, "resume": {409, "Pausing"}, "delete": {204, "Stopping"},
			"renew": {200, "Pausing"}, "snapshot": {409, "Pausing"}, "patch": {200, "Pausing"},
		},
		mockserver.StatePaused: {
			"pause": {409, "Paused"}, "resume": {202, "Resuming"}, "delete": {204, "Stopping"},
			"renew": {200, "Paused"}, "snapshot": {409, "Paused"}, "patch": {200, "Paused"},
		},
		mockserver.StateResuming: {
			"pause": {409, "Resuming"}, "resume": {409, "Resuming"}, "delete": {204, "Stopping"},
			"renew": {200, "Resuming"}, "snapshot": {409, "Resuming"}, "patch": {200, "Resuming"},
		},
		mockserver.StateStopping: {
			"pause": {409, "Stopping"}, "resume": {409, "Stopping"}, "delete": {409, "Stopping"},
			"renew": {409, "Stopping"}, "snapshot": {409, "Stopping"}, "patch": {409, "Stopping"},
		},
		mockserver.StateTerminated: {
			"pause": {409, "Terminated"}, "resume": {409, "Terminated"}, "delete": {409, "Terminated"},
			"renew": {409, "Terminated"}, "snapshot": {409, "Terminated"}, "patch": {409, "Terminated"},
		},
		mockserver.StateFailed: {
			"pause": {409, "Failed"}, "resume": {409, "Failed"}, "delete": {204, "Stopping"},
			"renew": {409, "Failed"}, "snapshot": {409, "Failed"}, "patch": {200, "Failed"},
		},
	}
	// Manual transitions keep every seeded state where it is.
	e := setup(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual()),
		mockserver.WithTransition(mockserver.TransitionPause, mockserver.Manual()),
		mockserver.WithTransition(mockserver.TransitionResume, mockserver.Manual()),
		mockserver.WithTransition(mockserver.TransitionStop, mockserver.Manual()))
	ctx := t.Context()
	for state, byOp := range want {
		for _, op := range ops {
			id, err := e.srv.AddSandbox("", mockserver.SandboxSeed{State: state, ExpiresAt: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			var res any
			switch op {
			case "pause":
				res, err = e.lc.PauseSandbox(ctx, lifecycleapi.PauseSandboxParams{SandboxId: id})
			case "resume":
				res, err = e.lc.ResumeSandbox(ctx, lifecycleapi.ResumeSandboxParams{SandboxId: id})
			case "delete":
				res, err = e.lc.DeleteSandbox(ctx, lifecycleapi.DeleteSandboxParams{SandboxId: id})
			case "renew":
				res, err = e.lc.RenewSandboxExpiration(ctx, &lifecycleapi.RenewSandboxExpirationRequest{ExpiresAt: t0.Add(2 * time.Hour)},
					lifecycleapi.RenewSandboxExpirationParams{SandboxId: id})
			case "snapshot":
				res, err = e.lc.CreateSnapshot(ctx, lifecycleapi.OptCreateSnapshotRequest{}, lifecycleapi.CreateSnapshotParams{SandboxId: id})
			case "patch":
				res, err = e.lc.PatchSandboxMetadata(ctx, lifecycleapi.PatchSandboxMetadataRequest{"k": lifecycleapi.NewNilString("v")},
					lifecycleapi.PatchSandboxMetadataParams{SandboxId: id})
			}
			if err != nil {
				t.Fatalf("%s in %s: %v", op, state, err)
			}
			status := 0
			switch res.(type) {
			case *lifecycleapi.PauseSandboxAccepted, *lifecycleapi.ResumeSandboxAccepted, *lifecycleapi.SnapshotHeaders:
				status = 202
			case *lifecycleapi.DeleteSandboxNoContent:
				status = 204
			case *lifecycleapi.RenewSandboxExpirationResponseHeaders, *lifecycleapi.SandboxHeaders:
				status = 200
			default:
				status, _ = lifecycleError(t, res)
			}
			w := byOp[op]
			if status != w.status {
				t.Errorf("%s of a %s sandbox: status %d, want %d", op, state, status, w.status)
			}
			if got := stateOf(t, e.lc, id); got != w.state {
				t.Errorf("%s of a %s sandbox: now %s, want %s", op, state, got, w.state)
			}
		}
	}
}

func TestLifecycleManualStep(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTransitionDelay(time.Hour), mockserver.WithTransition(mockserver.TransitionPause, mockserver.Manual()))
	id, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{})
	if _, err := e.lc.PauseSandbox(t.Context(), lifecycleapi.PauseSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	e.srv.Advance(24 * time.Hour)
	wantState(t, e.lc, id, mockserver.StatePausing)
	if diff := cmp.Diff([]mockserver.PendingTransition{{Kind: mockserver.TransitionPause, ID: id, Tenant: mockserver.DefaultTenant, Manual: true}},
		e.srv.PendingTransitions()); diff != "" {
		t.Errorf("PendingTransitions (-want +got):\n%s", diff)
	}
	if err := e.srv.Step(id); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.lc, id, mockserver.StatePaused)
	if err := e.srv.Step(id); err == nil {
		t.Error("Step without a pending transition succeeded")
	}
	if err := e.srv.Step("nope"); err == nil {
		t.Error("Step of an unknown id succeeded")
	}
	// Step also completes timed transitions early.
	if _, err := e.lc.ResumeSandbox(t.Context(), lifecycleapi.ResumeSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Step(id); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.lc, id, mockserver.StateRunning)
}

func TestLifecycleImmediateTransitions(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTransitionDelay(0))
	id := createSandbox(t, e.lc, nil)
	wantState(t, e.lc, id, mockserver.StateRunning)
	if _, err := e.lc.PauseSandbox(t.Context(), lifecycleapi.PauseSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.lc, id, mockserver.StatePaused)
}

func TestLifecycleFailed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StatePending})
	if err := e.srv.FailSandbox(id, "provision_timeout", "image pull took too long"); err != nil {
		t.Fatal(err)
	}
	e.srv.Advance(time.Hour) // the provisioning it cancelled never completes
	sb := getSandbox(t, e.lc, id)
	if sb.Status.State != mockserver.StateFailed || sb.Status.Reason.Or("") != "provision_timeout" {
		t.Errorf("status = %+v", sb.Status)
	}
	if err := e.srv.FailSandbox(id, "", ""); err == nil {
		t.Error("failing a Failed sandbox succeeded")
	}
}

func TestLifecycleExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithRetention(10*time.Minute))
	id := createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{Timeout: lifecycleapi.NewOptNilInt(120)})
	never := createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{Timeout: lifecycleapi.OptNilInt{Set: true, Null: true}})
	if sb := getSandbox(t, e.lc, never); sb.ExpiresAt.Set {
		t.Errorf("timeout null: expiresAt = %v, want none", sb.ExpiresAt)
	}
	e.srv.Advance(2*time.Minute - time.Second)
	wantState(t, e.lc, id, mockserver.StateRunning)
	e.srv.Advance(time.Second)
	sb := getSandbox(t, e.lc, id)
	if sb.Status.State != mockserver.StateStopping || sb.Status.Reason.Or("") != "ttl_expiry" {
		t.Fatalf("at expiry: status %+v, want Stopping/ttl_expiry", sb.Status)
	}
	e.srv.Advance(delay)
	wantState(t, e.lc, id, mockserver.StateTerminated)
	e.srv.Advance(10 * time.Minute)
	res, err := e.lc.GetSandbox(t.Context(), lifecycleapi.GetSandboxParams{SandboxId: id})
	wantLifecycleError(t, res, err, http.StatusNotFound)
	wantState(t, e.lc, never, mockserver.StateRunning)
	if d := e.srv.Deletions(); len(d) != 1 || d[0].Reason != "ttl_expiry" || d[0].RequestID != "" {
		t.Errorf("Deletions = %+v, want one ttl_expiry without request id", d)
	}
}

func TestLifecycleRenew(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	id := createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{Timeout: lifecycleapi.NewOptNilInt(600)})
	e.srv.Advance(delay)
	renew := func(at time.Time) (lifecycleapi.RenewSandboxExpirationRes, error) {
		return e.lc.RenewSandboxExpiration(ctx, &lifecycleapi.RenewSandboxExpirationRequest{ExpiresAt: at},
			lifecycleapi.RenewSandboxExpirationParams{SandboxId: id})
	}
	now := e.srv.Now()
	res, err := renew(now.Add(-time.Second))
	wantLifecycleError(t, res, err, http.StatusBadRequest)
	res, err = renew(t0.Add(10 * time.Minute)) // equal to the current expiry
	wantLifecycleError(t, res, err, http.StatusConflict)
	res, err = renew(t0.Add(5 * time.Minute)) // earlier than the current expiry
	wantLifecycleError(t, res, err, http.StatusConflict)

	newExp := t0.Add(time.Hour)
	res, err = renew(newExp)
	if err != nil {
		t.Fatal(err)
	}
	ok, isOK := res.(*lifecycleapi.RenewSandboxExpirationResponseHeaders)
	if !isOK || !ok.Response.ExpiresAt.Equal(newExp) {
		t.Fatalf("renew answered %T %+v", res, res)
	}
	if exp, _ := getSandbox(t, e.lc, id).ExpiresAt.Get(); !exp.Equal(newExp) {
		t.Errorf("expiresAt after renew = %v, want %v", exp, newExp)
	}
	// The old expiry no longer applies; the new one does.
	e.srv.Advance(30 * time.Minute)
	wantState(t, e.lc, id, mockserver.StateRunning)
	e.srv.Advance(newExp.Sub(e.srv.Now()))
	wantState(t, e.lc, id, mockserver.StateStopping)

	got := e.srv.Renewals(id)
	if len(got) != 1 || !got[0].Old.Equal(t0.Add(10*time.Minute)) || !got[0].New.Equal(newExp) || got[0].RequestID == "" {
		t.Errorf("Renewals = %+v", got)
	}
	// Renewing a sandbox without expiry gives it one.
	never := createSandbox(t, e.lc, nil)
	res, err = e.lc.RenewSandboxExpiration(ctx, &lifecycleapi.RenewSandboxExpirationRequest{ExpiresAt: e.srv.Now().Add(time.Hour)},
		lifecycleapi.RenewSandboxExpirationParams{SandboxId: never})
	if _, ok := res.(*lifecycleapi.RenewSandboxExpirationResponseHeaders); err != nil || !ok {
		t.Errorf("renew of a sandbox without expiry: %T %v", res, err)
	}
}

func TestLifecycleCreateValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	img := lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "python:3.11"})
	tests := []struct {
		name string
		req  lifecycleapi.CreateSandboxRequest
		code string
	}{
		{"no source", lifecycleapi.CreateSandboxRequest{Entrypoint: []string{"sh"}}, "INVALID_REQUEST"},
		{"two sources", lifecycleapi.CreateSandboxRequest{Image: img, SnapshotId: lifecycleapi.NewOptString("snap"), Entrypoint: []string{"sh"}}, "INVALID_REQUEST"},
		{"image without entrypoint", lifecycleapi.CreateSandboxRequest{Image: img}, "INVALID_REQUEST"},
		{"reserved metadata", lifecycleapi.CreateSandboxRequest{Image: img, Entrypoint: []string{"sh"},
			Metadata: lifecycleapi.NewOptCreateSandboxRequestMetadata(map[string]string{"opensandbox.io/x": "1"})}, "INVALID_REQUEST"},
		{"unknown snapshot", lifecycleapi.CreateSandboxRequest{SnapshotId: lifecycleapi.NewOptString("snap-nope")}, "SNAPSHOT_NOT_FOUND"},
		{"bad renew extension", lifecycleapi.CreateSandboxRequest{Image: img, Entrypoint: []string{"sh"},
			Extensions: lifecycleapi.NewOptCreateSandboxRequestExtensions(map[string]string{"access.renew.extend.seconds": "10"})}, "INVALID_REQUEST"},
	}
	for _, tt := range tests {
		res, err := e.lc.CreateSandbox(t.Context(), &tt.req)
		body := wantLifecycleError(t, res, err, http.StatusBadRequest)
		if body.Code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, body.Code, tt.code)
		}
	}
	// What the generated client would refuse to send: the server's
	// decoding errors come out as 400 in the lifecycle error shape.
	for _, body := range []string{
		`{"image":{"uri":"x"},"entrypoint":["sh"],"timeout":30}`,
		`{"image":{"uri":"x"},"entrypoint":[]}`,
		`{"image":`,
		`[]`,
		`{"image":{"uri":"x","extra":1},"entrypoint":["sh"]}`,
	} {
		resp, got := do(t, e.srv, http.MethodPost, "/v1/sandboxes", body, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, `"code":"INVALID_REQUEST"`) || !strings.Contains(got, `"message":`) {
			t.Errorf("POST %s: %d %s", body, resp.StatusCode, got)
		}
	}
	if n := len(e.srv.Sandboxes()); n != 0 {
		t.Errorf("%d sandboxes created by invalid requests", n)
	}
}

func TestLifecycleList(t *testing.T) {
	t.Parallel()
	e := setup(t)
	states := []string{"Running", "Paused", "Running", "Terminated", "Pending", "Running", "Paused"}
	var ids []string
	for i, s := range states {
		md := map[string]string{"project": "Apollo", "i": fmt.Sprint(i)}
		if i%2 == 1 {
			md["project"] = "Gemini"
		}
		if i == 2 {
			md["note"] = "Demo Test"
		}
		id, err := e.srv.AddSandbox("", mockserver.SandboxSeed{State: s, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	list := func(p lifecycleapi.ListSandboxesParams) lifecycleapi.ListSandboxesResponse {
		t.Helper()
		res, err := e.lc.ListSandboxes(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		ok, isOK := res.(*lifecycleapi.ListSandboxesResponseHeaders)
		if !isOK {
			t.Fatalf("list answered %T %+v", res, res)
		}
		return ok.Response
	}
	idsOf := func(r lifecycleapi.ListSandboxesResponse) []string {
		var out []string
		for _, s := range r.Items {
			out = append(out, s.ID)
		}
		return out
	}

	all := list(lifecycleapi.ListSandboxesParams{})
	if diff := cmp.Diff(ids, idsOf(all)); diff != "" {
		t.Errorf("unfiltered list (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(lifecycleapi.PaginationInfo{Page: 1, PageSize: 20, TotalItems: 7, TotalPages: 1}, all.Pagination); diff != "" {
		t.Errorf("pagination (-want +got):\n%s", diff)
	}

	// States OR (case-insensitively), metadata AND.
	r := list(lifecycleapi.ListSandboxesParams{State: []string{"running", "Paused"}})
	if diff := cmp.Diff([]string{ids[0], ids[1], ids[2], ids[5], ids[6]}, idsOf(r)); diff != "" {
		t.Errorf("state=running&state=Paused (-want +got):\n%s", diff)
	}
	r = list(lifecycleapi.ListSandboxesParams{State: []string{"Running"}, Metadata: lifecycleapi.NewOptString("project=Apollo")})
	if diff := cmp.Diff([]string{ids[0], ids[2]}, idsOf(r)); diff != "" {
		t.Errorf("Running & project=Apollo (-want +got):\n%s", diff)
	}
	// The metadata value is itself a query string: its values are
	// URL-decoded once more (as the upstream server's parse_qsl does).
	r = list(lifecycleapi.ListSandboxesParams{Metadata: lifecycleapi.NewOptString("project=Apollo&note=Demo%20Test")})
	if diff := cmp.Diff([]string{ids[2]}, idsOf(r)); diff != "" {
		t.Errorf("project=Apollo&note=Demo Test (-want +got):\n%s", diff)
	}
	// The wire form of the upstream documentation's example.
	resp, body := do(t, e.srv, http.MethodGet, "/v1/sandboxes?metadata=project%3DApollo%26note%3DDemo%2520Test", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, ids[2]) || !strings.Contains(body, `"totalItems":1`) {
		t.Errorf("documented metadata filter: %d %s", resp.StatusCode, body)
	}

	// Pagination: exact totals, pages past the end are empty.
	for page, want := range map[int][]string{1: ids[0:3], 2: ids[3:6], 3: ids[6:], 4: nil} {
		r := list(lifecycleapi.ListSandboxesParams{Page: lifecycleapi.NewOptInt(page), PageSize: lifecycleapi.NewOptInt(3)})
		if diff := cmp.Diff(want, idsOf(r)); diff != "" {
			t.Errorf("page %d (-want +got):\n%s", page, diff)
		}
		wantP := lifecycleapi.PaginationInfo{Page: page, PageSize: 3, TotalItems: 7, TotalPages: 3, HasNextPage: page < 3}
		if diff := cmp.Diff(wantP, r.Pagination); diff != "" {
			t.Errorf("page %d pagination (-want +got):\n%s", page, diff)
		}
	}
	r = list(lifecycleapi.ListSandboxesParams{State: []string{"Paused"}, Page: lifecycleapi.NewOptInt(2), PageSize: lifecycleapi.NewOptInt(1)})
	if diff := cmp.Diff([]string{ids[6]}, idsOf(r)); diff != "" || r.Pagination.TotalItems != 2 || r.Pagination.HasNextPage {
		t.Errorf("filtered page 2: %v %+v", diff, r.Pagination)
	}

	for _, q := range []string{"pageSize=201", "pageSize=0", "page=0", "metadata=broken", "metadata=a%3D1%26%26b%3D2", "page=x"} {
		resp, body := do(t, e.srv, http.MethodGet, "/v1/sandboxes?"+q, "", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"code":`) {
			t.Errorf("GET ?%s: %d %s, want 400 with an error body", q, resp.StatusCode, body)
		}
	}
}

func TestLifecyclePatchMetadata(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	id, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{Metadata: map[string]string{"team": "a", "old": "x"}})
	patch := func(p lifecycleapi.PatchSandboxMetadataRequest) map[string]string {
		t.Helper()
		res, err := e.lc.PatchSandboxMetadata(ctx, p, lifecycleapi.PatchSandboxMetadataParams{SandboxId: id})
		if err != nil {
			t.Fatal(err)
		}
		ok, isOK := res.(*lifecycleapi.SandboxHeaders)
		if !isOK {
			t.Fatalf("patch answered %T %+v", res, res)
		}
		return ok.Response.Metadata.Or(nil)
	}
	null := lifecycleapi.NilString{Null: true}
	got := patch(lifecycleapi.PatchSandboxMetadataRequest{"team": lifecycleapi.NewNilString("b"), "old": null, "missing": null, "env": lifecycleapi.NewNilString("prod")})
	if diff := cmp.Diff(map[string]string{"team": "b", "env": "prod"}, got); diff != "" {
		t.Errorf("after patch (-want +got):\n%s", diff)
	}
	got = patch(lifecycleapi.PatchSandboxMetadataRequest{})
	if diff := cmp.Diff(map[string]string{"team": "b", "env": "prod"}, got); diff != "" {
		t.Errorf("after {} (-want +got):\n%s", diff)
	}
	res, err := e.lc.PatchSandboxMetadata(ctx, lifecycleapi.PatchSandboxMetadataRequest{"opensandbox.io/owner": lifecycleapi.NewNilString("me")},
		lifecycleapi.PatchSandboxMetadataParams{SandboxId: id})
	wantLifecycleError(t, res, err, http.StatusBadRequest)
	res, err = e.lc.PatchSandboxMetadata(ctx, lifecycleapi.PatchSandboxMetadataRequest{}, lifecycleapi.PatchSandboxMetadataParams{SandboxId: "nope"})
	wantLifecycleError(t, res, err, http.StatusNotFound)
	// The raw wire form, null included.
	resp, body := do(t, e.srv, http.MethodPatch, "/v1/sandboxes/"+id+"/metadata", `{"team":null,"x":"y"}`, nil)
	if resp.StatusCode != 200 || strings.Contains(body, `"team"`) || !strings.Contains(body, `"x":"y"`) {
		t.Errorf("raw patch: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, e.srv, http.MethodPatch, "/v1/sandboxes/"+id+"/metadata", `{"team":1}`, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "INVALID_REQUEST") {
		t.Errorf("patch with a number: %d %s", resp.StatusCode, body)
	}
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	src, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{Entrypoint: []string{"node", "server.js"}, Image: "node:22"})

	res, err := e.lc.CreateSnapshot(ctx, lifecycleapi.NewOptCreateSnapshotRequest(lifecycleapi.CreateSnapshotRequest{Name: lifecycleapi.NewOptString("before-import")}),
		lifecycleapi.CreateSnapshotParams{SandboxId: src})
	if err != nil {
		t.Fatal(err)
	}
	created, ok := res.(*lifecycleapi.SnapshotHeaders)
	if !ok {
		t.Fatalf("create snapshot answered %T %+v", res, res)
	}
	snap := created.Response
	if snap.Status.State != mockserver.SnapshotCreating || snap.SandboxId != src || snap.Name.Or("") != "before-import" {
		t.Errorf("new snapshot = %+v", snap)
	}
	if created.Location.Or("") != e.srv.URL()+"/v1/snapshots/"+snap.ID {
		t.Errorf("Location = %q", created.Location.Or(""))
	}

	// Still Creating: cannot delete it, cannot restore from it.
	dres, err := e.lc.DeleteSnapshot(ctx, lifecycleapi.DeleteSnapshotParams{SnapshotId: snap.ID})
	wantLifecycleError(t, dres, err, http.StatusConflict)
	cres, err := e.lc.CreateSandbox(ctx, &lifecycleapi.CreateSandboxRequest{SnapshotId: lifecycleapi.NewOptString(snap.ID)})
	wantLifecycleError(t, cres, err, http.StatusConflict)

	e.srv.Advance(delay)
	gres, err := e.lc.GetSnapshot(ctx, lifecycleapi.GetSnapshotParams{SnapshotId: snap.ID})
	if got, ok := gres.(*lifecycleapi.GetSnapshotOKHeaders); err != nil || !ok || got.Response.Status.State != mockserver.SnapshotReady {
		t.Fatalf("snapshot after the delay: %T %+v %v", gres, gres, err)
	}

	// Restore: the entrypoint defaults to the snapshot's.
	restored := createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{SnapshotId: lifecycleapi.NewOptString(snap.ID)})
	sb := getSandbox(t, e.lc, restored)
	if sb.SnapshotId.Or("") != snap.ID || !slices.Equal(sb.Entrypoint, []string{"node", "server.js"}) {
		t.Errorf("restored sandbox = %+v", sb)
	}
	if sb.Image.Set {
		t.Errorf("restored sandbox has image %+v", sb.Image)
	}
	// A snapshot without entrypoint restores to tail -f /dev/null.
	bare, _ := e.srv.AddSnapshot("", mockserver.SnapshotSeed{SandboxID: "gone"})
	sb = getSandbox(t, e.lc, createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{SnapshotId: lifecycleapi.NewOptString(bare)}))
	if !slices.Equal(sb.Entrypoint, []string{"tail", "-f", "/dev/null"}) {
		t.Errorf("default entrypoint = %v", sb.Entrypoint)
	}

	// A non-running sandbox cannot be snapshotted.
	paused, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StatePaused})
	res, err = e.lc.CreateSnapshot(ctx, lifecycleapi.OptCreateSnapshotRequest{}, lifecycleapi.CreateSnapshotParams{SandboxId: paused})
	wantLifecycleError(t, res, err, http.StatusConflict)

	lres, err := e.lc.ListSnapshots(ctx, lifecycleapi.ListSnapshotsParams{SandboxId: lifecycleapi.NewOptString(src), State: []lifecycleapi.SnapshotState{"Ready"}})
	if l, ok := lres.(*lifecycleapi.ListSnapshotsResponseHeaders); err != nil || !ok || len(l.Response.Items) != 1 || l.Response.Items[0].ID != snap.ID || l.Response.Pagination.TotalItems != 1 {
		t.Errorf("list snapshots: %T %+v %v", lres, lres, err)
	}

	// Delete: Deleting, then gone.
	dres, err = e.lc.DeleteSnapshot(ctx, lifecycleapi.DeleteSnapshotParams{SnapshotId: snap.ID})
	if _, ok := dres.(*lifecycleapi.DeleteSnapshotNoContent); err != nil || !ok {
		t.Fatalf("delete snapshot: %T %v", dres, err)
	}
	if info, _ := e.srv.Snapshot(snap.ID); info.State != mockserver.SnapshotDeleting {
		t.Errorf("after delete: %s, want Deleting", info.State)
	}
	dres, err = e.lc.DeleteSnapshot(ctx, lifecycleapi.DeleteSnapshotParams{SnapshotId: snap.ID})
	wantLifecycleError(t, dres, err, http.StatusConflict)
	e.srv.Advance(delay)
	gres, err = e.lc.GetSnapshot(ctx, lifecycleapi.GetSnapshotParams{SnapshotId: snap.ID})
	wantLifecycleError(t, gres, err, http.StatusNotFound)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	id, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{})
	endpoint := func(p lifecycleapi.GetSandboxEndpointParams) lifecycleapi.Endpoint {
		t.Helper()
		p.SandboxId = id
		res, err := e.lc.GetSandboxEndpoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ok, isOK := res.(*lifecycleapi.GetSandboxEndpointOKHeaders)
		if !isOK {
			t.Fatalf("endpoint answered %T %+v", res, res)
		}
		return ok.Response
	}
	host := strings.TrimPrefix(e.srv.URL(), "http://")
	plain := endpoint(lifecycleapi.GetSandboxEndpointParams{Port: 8080})
	proxy := endpoint(lifecycleapi.GetSandboxEndpointParams{Port: 8080, UseServerProxy: lifecycleapi.NewOptBool(true)})
	exp := e.srv.Now().Add(time.Hour).Unix()
	signed := endpoint(lifecycleapi.GetSandboxEndpointParams{Port: 8080, Expires: lifecycleapi.NewOptString(fmt.Sprint(exp))})

	if want := host + "/sandboxes/" + id + "/port/8080"; plain.Endpoint != want {
		t.Errorf("endpoint = %q, want %q", plain.Endpoint, want)
	}
	if want := host + "/v1/sandboxes/" + id + "/proxy/8080"; proxy.Endpoint != want {
		t.Errorf("proxy endpoint = %q, want %q", proxy.Endpoint, want)
	}
	if !strings.HasPrefix(signed.Endpoint, host+"/signed/") || !strings.HasSuffix(signed.Endpoint, "/sandboxes/"+id+"/port/8080") {
		t.Errorf("signed endpoint = %q", signed.Endpoint)
	}
	for _, ep := range []string{plain.Endpoint, proxy.Endpoint, signed.Endpoint} {
		resp, body := do(t, e.srv, http.MethodGet, strings.TrimPrefix("http://"+ep, e.srv.URL())+"/health", "", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `"status"`) {
			t.Errorf("GET %s/health: %d %s", ep, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("GET %s/health: no X-Request-ID", ep)
		}
	}
	if n := e.srv.Count(mockserver.Filter{API: mockserver.APISandbox, SandboxID: id, Status: 200}); n != 3 {
		t.Errorf("journal has %d sandbox API calls of %s, want 3", n, id)
	}

	// Another port has nothing listening.
	other := endpoint(lifecycleapi.GetSandboxEndpointParams{Port: 9000})
	if resp, _ := do(t, e.srv, http.MethodGet, strings.TrimPrefix("http://"+other.Endpoint, e.srv.URL())+"/", "", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("port 9000: %d, want 502", resp.StatusCode)
	}
	// proxy and expires together, expires in the past.
	for _, p := range []lifecycleapi.GetSandboxEndpointParams{
		{SandboxId: id, Port: 8080, UseServerProxy: lifecycleapi.NewOptBool(true), Expires: lifecycleapi.NewOptString(fmt.Sprint(exp))},
		{SandboxId: id, Port: 8080, Expires: lifecycleapi.NewOptString("1")},
	} {
		res, err := e.lc.GetSandboxEndpoint(ctx, p)
		wantLifecycleError(t, res, err, http.StatusBadRequest)
	}
	res, err := e.lc.GetSandboxEndpoint(ctx, lifecycleapi.GetSandboxEndpointParams{SandboxId: "nope", Port: 8080})
	wantLifecycleError(t, res, err, http.StatusNotFound)

	// A tampered or expired signed route is refused.
	tampered := strings.Replace(signed.Endpoint, "/signed/", "/signed/0", 1)
	if resp, _ := do(t, e.srv, http.MethodGet, strings.TrimPrefix("http://"+tampered, e.srv.URL())+"/health", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered signed route: %d, want 403", resp.StatusCode)
	}
	e.srv.Advance(time.Hour)
	if resp, _ := do(t, e.srv, http.MethodGet, strings.TrimPrefix("http://"+signed.Endpoint, e.srv.URL())+"/health", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired signed route: %d, want 403", resp.StatusCode)
	}
}

func TestGuestFollowsLifecycleState(t *testing.T) {
	t.Parallel()
	e := setup(t, mockserver.WithTransitionDelay(0))
	ctx := t.Context()
	health := func(id string) int {
		resp, _ := do(t, e.srv, http.MethodGet, "/sandboxes/"+url.PathEscape(id)+"/port/8080/health", "", nil)
		return resp.StatusCode
	}
	id, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{})
	if got := health(id); got != 200 {
		t.Errorf("Running: %d", got)
	}
	if _, err := e.lc.PauseSandbox(ctx, lifecycleapi.PauseSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if got := health(id); got != http.StatusServiceUnavailable {
		t.Errorf("Paused: %d, want 503", got)
	}
	if _, err := e.lc.ResumeSandbox(ctx, lifecycleapi.ResumeSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if got := health(id); got != 200 {
		t.Errorf("resumed: %d", got)
	}
	if _, err := e.lc.DeleteSandbox(ctx, lifecycleapi.DeleteSandboxParams{SandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if got := health(id); got != http.StatusNotFound {
		t.Errorf("Terminated: %d, want 404", got)
	}
	if got := health("no-such-sandbox"); got != http.StatusNotFound {
		t.Errorf("unknown sandbox: %d, want 404", got)
	}

	m := setup(t, mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual()))
	p, _ := m.srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StatePending})
	if resp, _ := do(t, m.srv, http.MethodGet, "/sandboxes/"+p+"/port/8080/health", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Pending: %d, want 503", resp.StatusCode)
	}
	if err := m.srv.Step(p); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, m.srv, http.MethodGet, "/sandboxes/"+p+"/port/8080/health", "", nil); resp.StatusCode != 200 {
		t.Errorf("after provisioning: %d, want 200", resp.StatusCode)
	}
}
