package conformance

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
)

// get fetches url with hc and returns the status and body.
func get(t *testing.T, hc *http.Client, url string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// Previews: a private preview of the sandbox API's port reached with a
// token (header and query parameter), refused without one; a public
// preview of another port; CRUD of previews and tokens.
func TestControlPlanePreviews(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		tg.deployed(t, tg.sandbox("web"))

		p, err := tg.cp.CreatePreview(ctx, "web", &controlplane.Preview{
			Metadata: controlplane.PreviewMetadata{Name: "api"},
			Spec:     controlplane.PreviewSpec{Port: 8080, ResponseHeaders: map[string]string{"Access-Control-Allow-Origin": "*"}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.URL == "" || p.Spec.Public || p.Metadata.ResourceName != "web" {
			t.Errorf("created preview: %+v", p)
		}
		if _, err := tg.cp.CreatePreview(ctx, "web", &controlplane.Preview{Metadata: controlplane.PreviewMetadata{Name: "api"}, Spec: controlplane.PreviewSpec{Port: 8080}}, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("second preview of the same name: %v", err)
		}

		// Without a token: 401 from the gateway.
		open, err := tg.cp.PreviewHTTPClient(p, nil, tg.httpClient())
		if err != nil {
			t.Fatal(err)
		}
		if status, _, body := get(t, open, p.Spec.URL+"/health", nil); status != http.StatusUnauthorized || !strings.Contains(body, "AUTHENTICATION_REQUIRED") {
			t.Errorf("private preview without a token: %d %s", status, body)
		}

		tok, err := tg.cp.CreatePreviewToken(ctx, "web", "api", time.Now().Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value == "" || tok.Name == "" || tok.Expired || strings.Contains(tok.String(), tok.Value) {
			t.Errorf("token %v (value %d bytes)", tok, len(tok.Value))
		}
		withToken, err := tg.cp.PreviewHTTPClient(p, tok, tg.httpClient())
		if err != nil {
			t.Fatal(err)
		}
		status, header, body := get(t, withToken, p.Spec.URL+"/health", nil)
		if status != http.StatusOK || !strings.Contains(body, `"status"`) || header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("private preview with the token header: %d %v %s", status, header, body)
		}
		link, err := p.URLWithToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		u := strings.Replace(link, "?", "/health?", 1)
		if status, _, _ := get(t, open, u, nil); status != http.StatusOK {
			t.Errorf("private preview with the token in the URL: %d", status)
		}
		if status, _, _ := get(t, open, p.Spec.URL+"/health", http.Header{controlplane.PreviewTokenHeader: {"not-the-token"}}); status != http.StatusUnauthorized {
			t.Errorf("a wrong token: %d", status)
		}

		toks, err := tg.cp.ListPreviewTokens(ctx, "web", "api")
		if err != nil || len(toks) != 1 || toks[0].Name != tok.Name {
			t.Errorf("ListPreviewTokens: %v, %v", toks, err)
		}
		if err := tg.cp.DeletePreviewToken(ctx, "web", "api", tok.Name); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := get(t, withToken, p.Spec.URL+"/health", nil); status != http.StatusUnauthorized {
			t.Errorf("a revoked token: %d", status)
		}
		if err := tg.cp.DeletePreviewToken(ctx, "web", "api", tok.Name); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("revoking twice: %v", err)
		}
		if _, err := tg.cp.CreatePreviewToken(ctx, "web", "api", time.Now().Add(-time.Minute), nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("a token expiring in the past: %v", err)
		}

		// A public preview of port 3000, where the test serves.
		if err := tg.mock.HandleControlPlanePort("", "web", 3000, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(controlplane.PreviewTokenHeader) != "" || r.URL.Query().Has(controlplane.PreviewTokenParam) {
				t.Error("the preview passed its token on to the application")
			}
			_, _ = io.WriteString(w, "app:"+r.URL.Path+":"+r.Header.Get("X-App-Key"))
		})); err != nil {
			t.Fatal(err)
		}
		app, err := tg.cp.CreatePreview(ctx, "web", &controlplane.Preview{
			Metadata: controlplane.PreviewMetadata{Name: "app", DisplayName: "App"},
			Spec:     controlplane.PreviewSpec{Port: 3000, Public: true, RequestHeaders: map[string]string{"X-App-Key": "k1"}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if status, _, body := get(t, open, app.Spec.URL+"/index.html", nil); status != http.StatusOK || body != "app:/index.html:k1" {
			t.Errorf("public preview of port 3000: %d %q", status, body)
		}

		list, err := tg.cp.ListPreviews(ctx, "web")
		if err != nil || len(list) != 2 {
			t.Fatalf("ListPreviews: %d, %v", len(list), err)
		}
		got, err := tg.cp.GetPreview(ctx, "web", "app")
		if err != nil {
			t.Fatal(err)
		}
		got.Spec.Public = false
		got.Spec.TTL = "1h"
		upd, err := tg.cp.UpdatePreview(ctx, "web", got)
		if err != nil || upd.Spec.Public || upd.Spec.TTL != "1h" || upd.Metadata.DisplayName != "App" {
			t.Fatalf("UpdatePreview: %+v, %v", upd, err)
		}
		if status, _, _ := get(t, open, app.Spec.URL+"/", nil); status != http.StatusUnauthorized {
			t.Errorf("the preview made private: %d", status)
		}
		// Its ttl ends it.
		tg.pass(61 * time.Minute)
		if _, err := tg.cp.GetPreview(ctx, "web", "app"); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("preview after its ttl: %v", err)
		}
		if _, err := tg.cp.DeletePreview(ctx, "web", "api"); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.cp.GetPreview(ctx, "web", "api"); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("deleted preview: %v", err)
		}
		if _, err := tg.cp.ListPreviews(ctx, "nope"); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("previews of a missing sandbox: %v", err)
		}
		if _, err := tg.cp.CreatePreview(ctx, "web", &controlplane.Preview{Metadata: controlplane.PreviewMetadata{Name: "x"}}, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("a preview without a port: %v", err)
		}
	})
}

// Schedules: CRUD, the service running them on time (the mock on its
// clock), the run history, paging.
func TestControlPlaneSchedules(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		tg.deployed(t, tg.sandbox("cron"))

		every := &controlplane.Schedule{Type: controlplane.ScheduleCron, Value: "*/10 * * * *",
			Input: controlplane.ScheduleInput{Command: "echo tick", Name: "ticker"}}
		s, err := tg.cp.CreateSchedule(ctx, "cron", every)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID == "" || s.MaxExecutions != 100 || s.CreatedAt.IsZero() {
			t.Errorf("created schedule: %+v", s)
		}
		once, err := tg.cp.CreateSchedule(ctx, "cron", &controlplane.Schedule{ID: "later", Type: controlplane.ScheduleSleep, Value: "25m",
			Input: controlplane.ScheduleInput{Command: "echo once"}})
		if err != nil {
			t.Fatal(err)
		}
		if once.Type != controlplane.ScheduleAt {
			t.Errorf("a sleep schedule is stored as %q, want at", once.Type)
		}
		if _, err := tg.cp.CreateSchedule(ctx, "cron", &controlplane.Schedule{ID: "later", Type: controlplane.ScheduleSleep, Value: "1h",
			Input: controlplane.ScheduleInput{Command: "x"}}); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("a second schedule with the same id: %v", err)
		}
		for _, bad := range []*controlplane.Schedule{
			{Type: controlplane.ScheduleCron, Value: "* * *", Input: controlplane.ScheduleInput{Command: "x"}},
			{Type: controlplane.ScheduleAt, Value: "tomorrow", Input: controlplane.ScheduleInput{Command: "x"}},
			{Type: "hourly", Value: "1", Input: controlplane.ScheduleInput{Command: "x"}},
			{Type: controlplane.ScheduleSleep, Value: "1h"},
		} {
			if _, err := tg.cp.CreateSchedule(ctx, "cron", bad); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("CreateSchedule(%+v): %v", bad, err)
			}
		}

		// Half an hour: the cron schedule runs three times, the one-off once.
		tg.pass(30*time.Minute + time.Second)
		runs := map[string]int{}
		for r, err := range tg.cp.AllScheduleExecutions(ctx, "cron", &controlplane.ExecutionListOptions{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			runs[r.ScheduleID]++
			if r.StatusCode != http.StatusOK || r.Error != "" || r.ExecutedAt.IsZero() {
				t.Errorf("run %+v", r)
			}
			if r.ScheduleID == s.ID && r.ProcessName != "ticker" {
				t.Errorf("the cron run's process is %q", r.ProcessName)
			}
		}
		if runs[s.ID] != 3 || runs["later"] != 1 {
			t.Errorf("runs per schedule: %v", runs)
		}
		page, err := tg.cp.ListScheduleExecutions(ctx, "cron", &controlplane.ExecutionListOptions{Limit: 2})
		if err != nil || len(page.Items) != 2 || !page.HasMore || page.Items[0].ExecutedAt.Before(page.Items[1].ExecutedAt) {
			t.Errorf("first page of runs, newest first: %+v, %v", page, err)
		}

		got, err := tg.cp.GetSchedule(ctx, "cron", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Value = "0 * * * *"
		keep := false
		got.Input.KeepAlive = &keep
		if got, err = tg.cp.UpdateSchedule(ctx, "cron", got); err != nil || got.Value != "0 * * * *" || got.Input.KeepAlive == nil || *got.Input.KeepAlive {
			t.Errorf("UpdateSchedule: %+v, %v", got, err)
		}
		var ids []string
		for sc, err := range tg.cp.AllSchedules(ctx, "cron", &controlplane.ScheduleListOptions{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sc.ID)
		}
		if len(ids) != 2 {
			t.Errorf("AllSchedules: %v", ids)
		}
		if p, err := tg.cp.ListSchedules(ctx, "cron", &controlplane.ScheduleListOptions{Type: controlplane.ScheduleAt}); err != nil || len(p.Items) != 1 || p.Items[0].ID != "later" {
			t.Errorf("ListSchedules(at): %+v, %v", p, err)
		}
		if _, err := tg.cp.DeleteSchedule(ctx, "cron", s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.cp.GetSchedule(ctx, "cron", s.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("deleted schedule: %v", err)
		}
		if _, err := tg.cp.ListSchedules(ctx, "cron", &controlplane.ScheduleListOptions{Limit: 101}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("a limit of 101: %v", err)
		}
	})
}

// Snapshots, forks and the hub.
func TestControlPlaneSnapshotsAndForks(t *testing.T) {
	forEachControlPlane(t, func(t *testing.T, tg *controlplaneTarget) {
		ctx := tg.ctx(t)
		src := tg.sandbox("origin")
		src.Spec.Runtime.Memory = 4096
		tg.deployed(t, src)

		snap, err := tg.cp.CreateSnapshot(ctx, "origin", &controlplane.CreateSnapshotOptions{Name: "before"})
		if err != nil {
			t.Fatal(err)
		}
		if snap.ID == "" || snap.Name != "before" || snap.SandboxName != "origin" || snap.Status != controlplane.SnapshotPending {
			t.Errorf("snapshot: %+v", snap)
		}
		tg.pass(time.Second)
		list, err := tg.cp.ListSnapshots(ctx, "origin")
		if err != nil || len(list) != 1 || list[0].Status != controlplane.SnapshotReady {
			t.Fatalf("ListSnapshots: %+v, %v", list, err)
		}

		res, err := tg.cp.Fork(ctx, "origin", &controlplane.ForkRequest{Target: controlplane.ForkToSandbox, TargetName: "copy", SnapshotID: snap.ID})
		if err != nil || res.Target != controlplane.ForkToSandbox || res.Name != "copy" || res.SnapshotID != snap.ID {
			t.Fatalf("Fork: %+v, %v", res, err)
		}
		t.Cleanup(func() { _, _ = tg.cp.Delete(ctx, "copy") })
		cp, err := controlplane.NewWaiter(tg.cp, fastWait).Wait(ctx, "copy", controlplane.StatusDeployed)
		if err != nil || cp.Spec.Runtime.Memory != 4096 {
			t.Errorf("the fork: %+v, %v", cp, err)
		}
		if _, err := tg.cp.Fork(ctx, "origin", &controlplane.ForkRequest{Target: controlplane.ForkToSandbox, TargetName: "copy"}); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("fork onto an existing sandbox: %v", err)
		}
		app, err := tg.cp.Fork(ctx, "origin", &controlplane.ForkRequest{Target: controlplane.ForkToApplication, TargetName: "my-app", Port: 8080})
		if err != nil || app.Target != controlplane.ForkToApplication || app.SnapshotID == "" {
			t.Errorf("fork to an application: %+v, %v", app, err)
		}
		if _, err := tg.cp.Fork(ctx, "origin", &controlplane.ForkRequest{Target: "volume", TargetName: "x"}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("fork to a volume: %v", err)
		}
		if _, err := tg.cp.Fork(ctx, "missing", &controlplane.ForkRequest{Target: controlplane.ForkToSandbox, TargetName: "y"}); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("fork of a missing sandbox: %v", err)
		}

		if err := tg.cp.DeleteSnapshot(ctx, "origin", snap.ID); err != nil {
			t.Fatal(err)
		}
		if err := tg.cp.DeleteSnapshot(ctx, "origin", snap.ID); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("deleting a snapshot twice: %v", err)
		}

		hub, err := tg.cp.ListHub(ctx)
		if err != nil || len(hub) == 0 || hub[0].Name == "" || hub[0].Image == "" {
			t.Fatalf("ListHub: %+v, %v", hub, err)
		}
		// A hub template's image makes a sandbox.
		fromHub := tg.sandbox("from-hub")
		fromHub.Spec.Runtime.Image = hub[0].Image
		tg.deployed(t, fromHub)
	})
}
