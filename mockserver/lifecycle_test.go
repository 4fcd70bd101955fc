package mockserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

const delay = mockserver.DefaultTransitionDelay

// uuidRE is a dashed UUID, the format of sandbox and snapshot ids.
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestDockerLifecycle walks a sandbox through the Docker runtime: every
// call is done when it answers, and a deleted sandbox is gone at once.
func TestDockerLifecycle(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	id, created := a.create(`"timeout":3600,"metadata":{"team":"ml"}`)
	if !uuidRE.MatchString(id) {
		t.Errorf("id %q is not a UUID", id)
	}
	if created.s("status.state") != "Running" || created.s("status.reason") != "CONTAINER_RUNNING" ||
		created.s("status.message") != "Sandbox container started successfully." {
		t.Errorf("create answer status = %v", created["status"])
	}
	got := a.get(id)
	if got.s("status.reason") != "CONTAINER_RUNNING" || got.s("status.message") != "Sandbox container is running." {
		t.Errorf("read status = %v", got["status"])
	}
	created0 := got.s("status.lastTransitionAt")

	a.want("POST", "/v1/sandboxes/"+id+"/pause", "", http.StatusAccepted, "")
	if m := a.get(id); m.s("status.state") != "Paused" || m.s("status.reason") != "CONTAINER_PAUSED" || m.s("status.lastTransitionAt") != created0 {
		t.Errorf("after pause: %v (lastTransitionAt stays the creation time %s)", m["status"], created0)
	}
	m := a.want("POST", "/v1/sandboxes/"+id+"/pause", "", http.StatusInternalServerError, "DOCKER::SANDBOX_PAUSE_FAILED")
	if !strings.Contains(m.s("message"), "is already paused") {
		t.Errorf("second pause: %v", m)
	}
	a.want("POST", "/v1/sandboxes/"+id+"/resume", "", http.StatusAccepted, "")
	a.wantState(id, "Running")
	a.want("POST", "/v1/sandboxes/"+id+"/resume", "", http.StatusConflict, "DOCKER::SANDBOX_NOT_PAUSED")

	a.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNoContent, "")
	m = a.want("GET", "/v1/sandboxes/"+id, "", http.StatusNotFound, "DOCKER::SANDBOX_NOT_FOUND")
	if m.s("message") != "Sandbox "+id+" not found." {
		t.Errorf("404 message %q", m.s("message"))
	}
	a.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNotFound, "DOCKER::SANDBOX_NOT_FOUND")
	if d := a.srv.Deletions(); len(d) != 1 || d[0].ID != id || d[0].Reason != "user_delete" || d[0].RequestID == "" {
		t.Errorf("Deletions = %+v", d)
	}
	if len(a.srv.PendingTransitions()) != 0 {
		t.Errorf("pending transitions on Docker: %+v", a.srv.PendingTransitions())
	}
}

// TestKubernetesLifecycle walks a sandbox through the Kubernetes
// runtime: transitions take their time, Allocated and Stopping are
// visible, and a state an operation does not allow is a 409.
func TestKubernetesLifecycle(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
	id, created := a.create(`"timeout":3600`)
	if created.s("status.state") != "Running" || created.s("status.reason") != "IP_ASSIGNED" {
		t.Errorf("create answer status = %v", created["status"])
	}
	steps := []struct {
		method, path   string
		during, reason string
		after          string
	}{
		{"", "", "Allocated", "IP_ASSIGNED", "Running"},
		{"POST", "/pause", "Pausing", "PAUSING", "Paused"},
		{"POST", "/resume", "Resuming", "RESUMING", "Running"},
		{"DELETE", "", "Running", "RUNNING", "gone"}, // a workload being deleted keeps its state
	}
	for _, st := range steps {
		if st.method != "" {
			a.want(st.method, "/v1/sandboxes/"+id+st.path, "", map[string]int{"POST": 202, "DELETE": 204}[st.method], "")
		}
		if m := a.get(id); m.s("status.state") != st.during || m.s("status.reason") != st.reason {
			t.Fatalf("after %s %s: %v, want %s %s", st.method, st.path, m["status"], st.during, st.reason)
		}
		a.advance(delay - time.Millisecond)
		a.wantState(id, st.during)
		a.advance(time.Millisecond)
		a.wantState(id, st.after)
	}
	a.want("GET", "/v1/sandboxes/"+id, "", http.StatusNotFound, "KUBERNETES::SANDBOX_NOT_FOUND")
	a.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNotFound, "KUBERNETES::SANDBOX_NOT_FOUND")
}

// TestKubernetesStateConflicts tries pause and resume in every state.
func TestKubernetesStateConflicts(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes), mockserver.WithTransitionDelay(time.Hour))
	seed := func(state string) string {
		id, err := a.srv.AddSandbox("", mockserver.SandboxSeed{State: state})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, tc := range []struct {
		state, pause, resume string // messages of the 409s; "" is accepted
	}{
		{"Running", "", "Cannot resume sandbox in phase Succeed, expected Paused"},
		{"Paused", "Sandbox is already paused", ""},
		{"Pausing", "Cannot pause: operation in progress (phase=Pausing)", "Cannot resume: operation in progress (phase=Pausing)"},
		{"Resuming", "Cannot pause: operation in progress (phase=Resuming)", "Cannot resume: operation in progress (phase=Resuming)"},
		{"Pending", "Cannot pause: sandbox is being created (phase=Pending)", "Cannot resume: sandbox is being created (phase=Pending)"},
		{"Failed", "Cannot pause: sandbox is not available", "Cannot resume: sandbox is not available"},
		{"Allocated", "Cannot pause sandbox in phase ", "Cannot resume sandbox in phase , expected Paused"},
	} {
		for op, msg := range map[string]string{"pause": tc.pause, "resume": tc.resume} {
			id := seed(tc.state)
			if msg == "" {
				a.want("POST", "/v1/sandboxes/"+id+"/"+op, "", http.StatusAccepted, "")
				continue
			}
			if m := a.want("POST", "/v1/sandboxes/"+id+"/"+op, "", http.StatusConflict, "KUBERNETES::INVALID_STATE"); m.s("message") != msg {
				t.Errorf("%s of a %s sandbox: %q, want %q", op, tc.state, m.s("message"), msg)
			}
		}
	}
}

// TestManualTransitions completes Kubernetes transitions with Step.
func TestManualTransitions(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes), mockserver.WithTransition(mockserver.TransitionPause, mockserver.Manual()))
	id, _ := a.create("")
	a.advance(delay)
	a.want("POST", "/v1/sandboxes/"+id+"/pause", "", http.StatusAccepted, "")
	a.advance(24 * time.Hour)
	a.wantState(id, "Pausing")
	p := a.srv.PendingTransitions()
	if len(p) != 1 || p[0].Kind != mockserver.TransitionPause || !p[0].Manual || p[0].ID != id {
		t.Fatalf("PendingTransitions = %+v", p)
	}
	if n := a.srv.StepAll(); n != 1 {
		t.Fatalf("StepAll = %d", n)
	}
	a.wantState(id, "Paused")
	if err := a.srv.Step(id); err == nil {
		t.Error("Step with nothing pending succeeded")
	}

	// A deletion that waits for Step: the sandbox keeps its state, a
	// second delete is accepted, and Step makes it gone.
	b := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes), mockserver.WithTransition(mockserver.TransitionStop, mockserver.Manual()))
	id, _ = b.create(`"timeout":60`)
	b.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNoContent, "")
	b.advance(time.Hour) // past its expiry too
	b.wantState(id, "Running")
	b.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNoContent, "")
	if d := b.srv.Deletions(); len(d) != 1 {
		t.Errorf("Deletions = %+v, want one", d)
	}
	if err := b.srv.Step(id); err != nil {
		t.Fatal(err)
	}
	b.wantState(id, "gone")
}

// TestDockerRejectsTransitionModes: sandbox state changes are
// synchronous on Docker, so configuring their timing is an error.
func TestDockerRejectsTransitionModes(t *testing.T) {
	t.Parallel()
	for _, k := range []mockserver.TransitionKind{mockserver.TransitionProvision, mockserver.TransitionPause, mockserver.TransitionResume, mockserver.TransitionStop} {
		if _, err := mockserver.New(mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithTransition(k, mockserver.Manual())); err == nil {
			t.Errorf("WithTransition(%s) accepted on Docker", k)
		}
	}
	if _, err := mockserver.New(mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithTransition(mockserver.TransitionSnapshotCreate, mockserver.Manual())); err != nil {
		t.Errorf("snapshot transitions on Docker: %v", err)
	}
	if _, err := mockserver.New(mockserver.WithRuntime("podman")); err == nil {
		t.Error("unknown runtime accepted")
	}
	for in, want := range map[string]mockserver.Runtime{"docker": mockserver.RuntimeDocker, "Kubernetes": mockserver.RuntimeKubernetes, "k8s": mockserver.RuntimeKubernetes} {
		if got, err := mockserver.ParseRuntime(in); err != nil || got != want {
			t.Errorf("ParseRuntime(%q) = %v, %v", in, got, err)
		}
	}
}

// TestExpiry: Docker removes an expired sandbox at once, Kubernetes
// stops it first; neither keeps a Terminated record.
func TestExpiry(t *testing.T) {
	t.Parallel()
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		a := newLC(t, mockserver.WithRuntime(rt))
		id, created := a.create(`"timeout":60`)
		if created.s("expiresAt") != "2026-03-01T10:01:00Z" {
			t.Errorf("expiresAt = %q", created.s("expiresAt"))
		}
		a.advance(time.Minute - time.Millisecond)
		if a.state(id) == "gone" {
			t.Fatal("gone before its expiry")
		}
		a.advance(time.Millisecond)
		if rt == mockserver.RuntimeKubernetes {
			a.wantState(id, "Running") // being deleted
			if p := a.srv.PendingTransitions(); len(p) != 1 || p[0].Kind != mockserver.TransitionStop {
				t.Errorf("PendingTransitions = %+v", p)
			}
			a.advance(delay)
		}
		a.want("GET", "/v1/sandboxes/"+id, "", http.StatusNotFound, notFoundCode(rt))
		if d := a.srv.Deletions(); len(d) != 1 || d[0].Reason != "ttl_expiry" || d[0].RequestID != "" || !d[0].Time.Equal(t0.Add(time.Minute)) {
			t.Errorf("Deletions = %+v", d)
		}
	})
}

// TestRenew follows the server's rules: any future time is accepted (an
// earlier one shortens the lifetime), a past one is 400, a sandbox
// created without timeout is 409, and a time without zone is UTC.
func TestRenew(t *testing.T) {
	t.Parallel()
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		a := newLC(t, mockserver.WithRuntime(rt))
		id, _ := a.create(`"timeout":3600`)
		renew := func(at string, status int, code string) jsonObj {
			t.Helper()
			return a.want("POST", "/v1/sandboxes/"+id+"/renew-expiration", `{"expiresAt":"`+at+`"}`, status, code)
		}
		if m := renew("2026-03-01T12:00:00Z", 200, ""); m.s("expiresAt") != "2026-03-01T12:00:00Z" || len(m) != 1 {
			t.Errorf("renew answer %v", m)
		}
		if m := renew("2026-03-01T10:30:00.5", 200, ""); m.s("expiresAt") != "2026-03-01T10:30:00.500000Z" {
			t.Errorf("an earlier time without zone: %v", m)
		}
		if m := renew("2026-03-01T14:00:00+02:00", 200, ""); m.s("expiresAt") != "2026-03-01T12:00:00Z" {
			t.Errorf("a time with an offset comes back in UTC: %v", m)
		}
		renew("2026-03-01T12:00:00+02:00", 400, "DOCKER::INVALID_EXPIRATION") // now is not the future
		renew("2026-03-01T09:59:59Z", 400, "DOCKER::INVALID_EXPIRATION")
		if r := a.srv.Renewals(id); len(r) != 3 || !r[1].New.Before(r[1].Old) {
			t.Errorf("Renewals = %+v", r)
		}

		forever, _ := a.create("")
		m := a.want("POST", "/v1/sandboxes/"+forever+"/renew-expiration", `{"expiresAt":"2030-01-01T00:00:00Z"}`, http.StatusConflict, "DOCKER::INVALID_EXPIRATION")
		if m.s("message") != "Sandbox "+forever+" does not have automatic expiration enabled." {
			t.Errorf("409 message %q", m.s("message"))
		}

		// A Failed sandbox can be renewed.
		failed, _ := a.create(`"timeout":3600`)
		if err := a.srv.FailSandbox(failed, "", ""); err != nil {
			t.Fatal(err)
		}
		a.want("POST", "/v1/sandboxes/"+failed+"/renew-expiration", `{"expiresAt":"2030-01-01T00:00:00Z"}`, http.StatusOK, "")

		// Docker looks the sandbox up first, Kubernetes checks the time
		// first.
		past := `{"expiresAt":"2000-01-01T00:00:00Z"}`
		if rt == mockserver.RuntimeDocker {
			a.want("POST", "/v1/sandboxes/nope/renew-expiration", past, http.StatusNotFound, "DOCKER::SANDBOX_NOT_FOUND")
		} else {
			a.want("POST", "/v1/sandboxes/nope/renew-expiration", past, http.StatusBadRequest, "DOCKER::INVALID_EXPIRATION")
		}
	})
}

// TestRenewShortensExpiry: the shortened expiry is the one that fires.
func TestRenewShortensExpiry(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	id, _ := a.create(`"timeout":3600`)
	a.want("POST", "/v1/sandboxes/"+id+"/renew-expiration", `{"expiresAt":"2026-03-01T10:05:00Z"}`, http.StatusOK, "")
	a.advance(5*time.Minute - time.Second)
	a.wantState(id, "Running")
	a.advance(time.Second)
	a.wantState(id, "gone")
}

// TestEntrypointExits: on Docker the entrypoints the mock recognises
// exit, and the sandbox stays listed as Terminated or Failed.
func TestEntrypointExits(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	for _, tc := range []struct {
		entrypoint     string
		state, reason  string
		message        string
		afterStartFor  time.Duration // 0: at once
		stillRunningAt time.Duration
	}{
		{`["true"]`, "Terminated", "CONTAINER_EXITED", "Sandbox container exited successfully.", 0, 0},
		{`["false"]`, "Failed", "CONTAINER_EXITED_ERROR", "Sandbox container exited with code 1.", 0, 0},
		{`["sh","-c","exit 3"]`, "Failed", "CONTAINER_EXITED_ERROR", "Sandbox container exited with code 3.", 0, 0},
		{`["/bin/sh","-c","sleep 2; exit 7"]`, "Failed", "CONTAINER_EXITED_ERROR", "Sandbox container exited with code 7.", 2 * time.Second, time.Second},
		{`["sleep","5"]`, "Terminated", "CONTAINER_EXITED", "Sandbox container exited successfully.", 5 * time.Second, 4 * time.Second},
	} {
		t.Run(tc.entrypoint, func(t *testing.T) {
			b := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
			id, created := b.create(`"entrypoint":` + tc.entrypoint)
			if created.s("status.state") != "Running" {
				t.Errorf("create answered %s: the server answers before the entrypoint exits", created.s("status.state"))
			}
			if tc.afterStartFor > 0 {
				b.advance(tc.stillRunningAt)
				b.wantState(id, "Running")
				b.advance(tc.afterStartFor - tc.stillRunningAt)
			}
			m := b.get(id)
			if m.s("status.state") != tc.state || m.s("status.reason") != tc.reason || m.s("status.message") != tc.message {
				t.Errorf("status %v, want %s %s %q", m["status"], tc.state, tc.reason, tc.message)
			}
			if want := pyTimeString(t0.Add(tc.afterStartFor)); m.s("status.lastTransitionAt") != want {
				t.Errorf("lastTransitionAt %s, want the exit time %s", m.s("status.lastTransitionAt"), want)
			}
			// Exited: listed, cannot pause, resume or snapshot; renew and
			// delete work.
			st, list, _, _ := b.call("GET", "/v1/sandboxes?state="+tc.state, "")
			if st != 200 || list.at("pagination.totalItems") != float64(1) {
				t.Errorf("list of %s: %v", tc.state, list)
			}
			b.want("POST", "/v1/sandboxes/"+id+"/pause", "", http.StatusConflict, "DOCKER::SANDBOX_NOT_RUNNING")
			b.want("POST", "/v1/sandboxes/"+id+"/resume", "", http.StatusConflict, "DOCKER::SANDBOX_NOT_PAUSED")
			b.want("POST", "/v1/sandboxes/"+id+"/snapshots", "", http.StatusConflict, "SNAPSHOT::INVALID_SOURCE_STATE")
			b.want("DELETE", "/v1/sandboxes/"+id, "", http.StatusNoContent, "")
			b.wantState(id, "gone")
		})
	}

	// A paused container does not run: its sleep ends when it resumes.
	id, _ := a.create(`"entrypoint":["sleep","10"]`)
	a.want("POST", "/v1/sandboxes/"+id+"/pause", "", http.StatusAccepted, "")
	a.advance(time.Minute)
	a.wantState(id, "Paused")
	a.want("POST", "/v1/sandboxes/"+id+"/resume", "", http.StatusAccepted, "")
	a.wantState(id, "Terminated")

	// Anything else runs until deleted; ExitSandbox ends it.
	id, _ = a.create(`"entrypoint":["python","-m","http.server"]`)
	a.advance(24 * time.Hour)
	a.wantState(id, "Running")
	if err := a.srv.ExitSandbox(id, 137); err != nil {
		t.Fatal(err)
	}
	if m := a.get(id); m.s("status.message") != "Sandbox container exited with code 137." {
		t.Errorf("after ExitSandbox: %v", m["status"])
	}
	if info, _ := a.srv.Sandbox(id); info.ExitCode != 137 {
		t.Errorf("ExitCode = %d", info.ExitCode)
	}
	if err := a.srv.ExitSandbox(id, 0); err == nil {
		t.Error("ExitSandbox of an exited sandbox succeeded")
	}
	k := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
	kid, _ := k.create("")
	if err := k.srv.ExitSandbox(kid, 0); err == nil {
		t.Error("ExitSandbox on Kubernetes succeeded")
	}
}

// pyTimeString formats t as the lifecycle server does.
func pyTimeString(t time.Time) string {
	s := t.UTC().Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "Z"
}

// TestTimestamps: microseconds on the wire; on Kubernetes reads show the
// workload's creation time in whole seconds.
func TestTimestamps(t *testing.T) {
	t.Parallel()
	start := t0.Add(1234567 * time.Microsecond)
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		srv := mockserver.Start(t, mockserver.WithManualClock(start), mockserver.WithRuntime(rt))
		a := lcAPI{t: t, srv: srv}
		id, created := a.create(`"timeout":60`)
		if created.s("createdAt") != "2026-03-01T10:00:01.234567Z" || created.s("expiresAt") != "2026-03-01T10:01:01.234567Z" {
			t.Errorf("create answer times %s %s", created.s("createdAt"), created.s("expiresAt"))
		}
		want := "2026-03-01T10:00:01.234567Z"
		if rt == mockserver.RuntimeKubernetes {
			want = "2026-03-01T10:00:01Z"
		}
		if got := a.get(id); got.s("createdAt") != want || got.s("status.lastTransitionAt") != want {
			t.Errorf("read times %s %s, want %s", got.s("createdAt"), got.s("status.lastTransitionAt"), want)
		}
	})
}

// TestListOrderAndFilters: newest first; states match any of, ignoring
// case; metadata matches all; snapshots filter states exactly.
func TestListOrderAndFilters(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	var ids []string
	for i := range 5 {
		id, _ := a.create(fmt.Sprintf(`"metadata":{"n":"%d","team":"%s"}`, i, []string{"a", "b"}[i%2]))
		ids = append(ids, id)
		a.advance(time.Second)
	}
	a.want("POST", "/v1/sandboxes/"+ids[1]+"/pause", "", http.StatusAccepted, "")
	list := func(q string) ([]string, jsonObj) {
		t.Helper()
		st, m, _, raw := a.call("GET", "/v1/sandboxes?"+q, "")
		if st != 200 {
			t.Fatalf("list %s: %d %s", q, st, raw)
		}
		var out []string
		for _, it := range m.at("items").([]any) {
			out = append(out, jsonObj(it.(map[string]any)).s("metadata.n"))
		}
		return out, m
	}
	if got, _ := list(""); strings.Join(got, "") != "43210" {
		t.Errorf("order %v, want newest first", got)
	}
	if got, m := list("pageSize=2&page=2"); strings.Join(got, "") != "21" || m.at("pagination.totalPages") != float64(3) || m.at("pagination.hasNextPage") != true {
		t.Errorf("page 2: %v %v", got, m["pagination"])
	}
	if got, _ := list("state=paused&state=RUNNING&metadata=team%3Db"); strings.Join(got, "") != "31" {
		t.Errorf("states any of, metadata: %v", got)
	}
	if got, _ := list("state=Paused"); strings.Join(got, "") != "1" {
		t.Errorf("state Paused: %v", got)
	}
	if got, _ := list("metadata=team%3Da%26n%3D2"); strings.Join(got, "") != "2" {
		t.Errorf("two metadata keys: %v", got)
	}

	var snaps []string
	for range 3 {
		m := a.want("POST", "/v1/sandboxes/"+ids[0]+"/snapshots", "", http.StatusAccepted, "")
		snaps = append(snaps, m.s("id"))
		a.advance(time.Second)
	}
	_, m, _, _ := a.call("GET", "/v1/snapshots?sandboxId="+ids[0], "")
	var got []string
	for _, it := range m.at("items").([]any) {
		got = append(got, jsonObj(it.(map[string]any)).s("id"))
	}
	slices.Reverse(snaps)
	if !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, want newest first %v", got, snaps)
	}
	if _, m, _, _ := a.call("GET", "/v1/snapshots?state=ready", ""); m.at("pagination.totalItems") != float64(0) {
		t.Errorf("snapshot state filter ignores case: %v", m)
	}
	if _, m, _, _ := a.call("GET", "/v1/snapshots?state=Ready", ""); m.at("pagination.totalItems") != float64(3) {
		t.Errorf("snapshot state filter: %v", m)
	}
}

// TestMetadata: Kubernetes label rules on create and patch, reserved
// keys, merge patches, and the Docker runtime's resurrection of creation
// keys.
func TestMetadata(t *testing.T) {
	t.Parallel()
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		a := newLC(t, mockserver.WithRuntime(rt))
		for _, md := range []string{`{"bad key":"v"}`, `{"k":"bad value"}`, `{"k":"` + strings.Repeat("v", 64) + `"}`, `{"-k":"v"}`, `{"a/b/c":"v"}`} {
			m := a.want("POST", "/v1/sandboxes", createBody(`"metadata":`+md), http.StatusBadRequest, "SANDBOX::INVALID_METADATA_LABEL")
			if !strings.Contains(m.s("message"), "is invalid") {
				t.Errorf("%s: %q", md, m.s("message"))
			}
		}
		a.want("POST", "/v1/sandboxes", createBody(`"metadata":{"opensandbox.io/id":"x"}`), http.StatusBadRequest, "SANDBOX::INVALID_METADATA_LABEL")
		a.create(`"metadata":{"app.kubernetes.io/name":"web","k":"","v":"a.b_c-d"}`)

		id, _ := a.create(`"metadata":{"keep":"1","drop":"2"}`)
		patch := func(body string, status int, code string) jsonObj {
			t.Helper()
			return a.want("PATCH", "/v1/sandboxes/"+id+"/metadata", body, status, code)
		}
		if m := patch(`{"drop":null,"add":"3"}`, 200, ""); m.s("metadata.keep") != "1" || m.has("metadata.drop") || m.s("metadata.add") != "3" || m.s("id") != id {
			t.Errorf("after patch: %v", m)
		}
		patch(`{"opensandbox.io/x":"v"}`, 400, "INVALID_METADATA_LABEL")
		patch(`{"k":"bad value"}`, 400, "SANDBOX::INVALID_METADATA_LABEL")
		patch(`{"bad key":null}`, 200, "") // only new values are checked
		m := patch(`{"other":"4"}`, 200, "")
		if rt == mockserver.RuntimeDocker {
			if m.s("metadata.drop") != "2" {
				t.Errorf("Docker: a later patch brings back a deleted creation key: %v", m["metadata"])
			}
		} else if m.has("metadata.drop") {
			t.Errorf("Kubernetes keeps deleted keys deleted: %v", m["metadata"])
		}
		m = patch(`{"keep":null,"drop":null,"add":null,"other":null}`, 200, "")
		if m.has("metadata") {
			t.Errorf("metadata without keys is absent: %v", m)
		}
		a.want("PATCH", "/v1/sandboxes/nope/metadata", `{"a":"b"}`, http.StatusNotFound, notFoundCode(rt))
	})
}

// TestSnapshots follows the snapshot rules: UUID ids, Creating then
// Ready, only from Running, synchronous delete, restore rules.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		a := newLC(t, mockserver.WithRuntime(rt))
		src, _ := a.create(`"entrypoint":["python","app.py"],"timeout":600,"metadata":{"from":"source","both":"source"}`)
		a.advance(delay) // Allocated to Running on Kubernetes
		st, sn, hdr, raw := a.call("POST", "/v1/sandboxes/"+src+"/snapshots", `{"name":"before-upgrade"}`)
		id := sn.s("id")
		if st != http.StatusAccepted || !uuidRE.MatchString(id) || sn.s("sandboxId") != src || sn.s("name") != "before-upgrade" ||
			sn.s("status.state") != "Creating" || sn.s("status.reason") != "snapshot_accepted" || sn.s("status.message") != "Snapshot creation accepted." {
			t.Fatalf("create snapshot: %d %s", st, raw)
		}
		if loc := hdr.Get("Location"); loc != "/v1/snapshots/"+id {
			t.Errorf("Location = %q, want the relative /v1/snapshots/%s", loc, id)
		}
		a.want("DELETE", "/v1/snapshots/"+id, "", http.StatusConflict, "SNAPSHOT::INVALID_STATE")
		a.want("POST", "/v1/sandboxes", `{"snapshotId":"`+id+`","resourceLimits":{"cpu":"1"}}`, http.StatusConflict, "SNAPSHOT::NOT_READY")
		a.advance(delay)
		ready := a.want("GET", "/v1/snapshots/"+id, "", http.StatusOK, "")
		wantMsg := map[mockserver.Runtime]string{mockserver.RuntimeDocker: "Docker snapshot image created successfully.", mockserver.RuntimeKubernetes: "Kubernetes snapshot image created successfully."}[rt]
		if ready.s("status.state") != "Ready" || ready.s("status.reason") != "snapshot_runtime_ready" || ready.s("status.message") != wantMsg {
			t.Errorf("ready snapshot %v", ready["status"])
		}

		// Restore: the snapshot's id, no image, tail -f by default.
		restored, answer := a.create(`"image":null,"entrypoint":null,"snapshotId":"` + id + `","metadata":{"both":"restored"}`)
		if ep := fmt.Sprint(answer.at("entrypoint")); ep != "[tail -f /dev/null]" || answer.has("expiresAt") {
			t.Errorf("restore answer %v", answer)
		}
		m := a.get(restored)
		if m.s("snapshotId") != id || m.has("image") || m.s("metadata.both") != "restored" {
			t.Errorf("restored sandbox %v", m)
		}
		if rt == mockserver.RuntimeDocker {
			// The image carries the source's labels: its metadata and its
			// expiry, which the restored sandbox shows but does not obey.
			if m.s("metadata.from") != "source" || m.s("expiresAt") != "2026-03-01T10:10:00Z" {
				t.Errorf("Docker restore: %v", m)
			}
			a.want("POST", "/v1/sandboxes/"+restored+"/renew-expiration", `{"expiresAt":"2030-01-01T00:00:00Z"}`, http.StatusConflict, "DOCKER::INVALID_EXPIRATION")
		} else if m.has("metadata.from") || m.has("expiresAt") {
			t.Errorf("Kubernetes restore: %v", m)
		}
		a.want("POST", "/v1/sandboxes", `{"snapshotId":"nope","resourceLimits":{"cpu":"1"}}`, http.StatusNotFound, "SNAPSHOT::NOT_FOUND")

		// Only a Running sandbox can be snapshotted.
		a.want("POST", "/v1/sandboxes/"+src+"/pause", "", http.StatusAccepted, "")
		a.want("POST", "/v1/sandboxes/"+src+"/snapshots", "", http.StatusConflict, "SNAPSHOT::INVALID_SOURCE_STATE")
		a.want("POST", "/v1/sandboxes/nope/snapshots", "", http.StatusNotFound, notFoundCode(rt))

		// Deleting is done when it answers; on Docker not while a
		// restored sandbox uses its image (it stays Deleting).
		if rt == mockserver.RuntimeDocker {
			a.want("DELETE", "/v1/snapshots/"+id, "", http.StatusConflict, "SNAPSHOT::DELETE_CONFLICT")
			if m := a.want("GET", "/v1/snapshots/"+id, "", http.StatusOK, ""); m.s("status.state") != "Deleting" || m.s("status.reason") != "snapshot_delete_requested" {
				t.Errorf("after a conflicting delete: %v", m["status"])
			}
			a.want("POST", "/v1/sandboxes", `{"snapshotId":"`+id+`","resourceLimits":{"cpu":"1"}}`, http.StatusConflict, "SNAPSHOT::NOT_READY")
			a.want("DELETE", "/v1/sandboxes/"+restored, "", http.StatusNoContent, "")
		}
		a.want("DELETE", "/v1/snapshots/"+id, "", http.StatusNoContent, "")
		m = a.want("GET", "/v1/snapshots/"+id, "", http.StatusNotFound, "SNAPSHOT::NOT_FOUND")
		if m.s("message") != "Snapshot "+id+" not found" {
			t.Errorf("404 message %q", m.s("message"))
		}
	})
}

// TestEndpoints: the endpoint forms, their checks per runtime, and the
// server proxy that needs no key.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	bothRuntimes(t, func(t *testing.T, rt mockserver.Runtime) {
		a := newLC(t, mockserver.WithRuntime(rt), mockserver.WithTenant("key", "t"))
		id, err := a.srv.AddSandbox("t", mockserver.SandboxSeed{})
		if err != nil {
			t.Fatal(err)
		}
		key := http.Header{"Open-Sandbox-Api-Key": {"key"}}
		endpoint := func(q string) (int, jsonObj) {
			t.Helper()
			resp, raw := do(t, a.srv, "GET", "/v1/sandboxes/"+id+"/endpoints/"+q, "", key)
			var m jsonObj
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, m
		}
		host := strings.TrimPrefix(a.srv.URL(), "http://")
		if _, m := endpoint("8080"); m.s("endpoint") != host+"/sandboxes/"+id+"/port/8080" {
			t.Errorf("endpoint %v", m)
		}
		_, m := endpoint("8080?use_server_proxy=true")
		proxy := m.s("endpoint")
		if proxy != host+"/sandboxes/"+id+"/proxy/8080" {
			t.Errorf("server proxy endpoint %q", proxy)
		}
		// The server proxy answers without the lifecycle key (the real
		// server strips credentials before forwarding), at / and /v1.
		for _, p := range []string{"/sandboxes/" + id + "/proxy/8080/health", "/v1/sandboxes/" + id + "/proxy/8080/health"} {
			if resp, body := do(t, a.srv, "GET", p, "", nil); resp.StatusCode != 200 || !strings.Contains(body, `"status"`) {
				t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
			}
		}
		resp, body := do(t, a.srv, "GET", "/sandboxes/"+id+"/proxy/9000/", "", nil)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "GENERAL::UNKNOWN_ERROR") {
			t.Errorf("proxy to a closed port: %d %s", resp.StatusCode, body)
		}
		if n := a.srv.Count(mockserver.Filter{API: mockserver.APISandbox, Operation: mockserver.OpGetHealth, SandboxID: id, Tenant: "t"}); n != 2 {
			t.Errorf("journal has %d proxied health calls of tenant t", n)
		}

		exp := fmt.Sprint(t0.Add(time.Hour).Unix())
		st, m := endpoint("8080?expires=" + exp)
		if rt == mockserver.RuntimeDocker {
			if st != 400 || m.s("code") != "SANDBOX::API_NOT_SUPPORTED" {
				t.Errorf("signed endpoint on Docker: %d %v", st, m)
			}
			if st, m := endpoint("0"); st != 400 || m.s("code") != "DOCKER::INVALID_PORT" {
				t.Errorf("port 0: %d %v", st, m)
			}
			return
		}
		signed := m.s("endpoint")
		if st != 200 || !strings.HasPrefix(signed, host+"/signed/") {
			t.Fatalf("signed endpoint: %d %v", st, m)
		}
		if st, m := endpoint("8080?expires=1"); st != 400 || !strings.HasPrefix(m.s("message"), "expires (1) must be greater than current time") {
			t.Errorf("expired signed endpoint: %d %v", st, m)
		}
		if resp, _ := do(t, a.srv, "GET", strings.TrimPrefix(signed, host)+"/health", "", nil); resp.StatusCode != 200 {
			t.Errorf("signed route: %d", resp.StatusCode)
		}
		tampered := strings.Replace(strings.TrimPrefix(signed, host), "/signed/", "/signed/0", 1)
		if resp, _ := do(t, a.srv, "GET", tampered+"/health", "", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("tampered signed route: %d, want 403", resp.StatusCode)
		}
		a.advance(time.Hour)
		if resp, _ := do(t, a.srv, "GET", strings.TrimPrefix(signed, host)+"/health", "", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("expired signed route: %d, want 403", resp.StatusCode)
		}
		// Kubernetes does not catch a bad port: a plain-text 500.
		if resp, body := do(t, a.srv, "GET", "/v1/sandboxes/"+id+"/endpoints/0", "", key); resp.StatusCode != 500 || body != "Internal Server Error" {
			t.Errorf("port 0 on Kubernetes: %d %q", resp.StatusCode, body)
		}
	})
}

// TestCreateChecksPerRuntime: what only one runtime refuses.
func TestCreateChecksPerRuntime(t *testing.T) {
	t.Parallel()
	k := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes))
	k.create(`"secureAccess":true`)
	k.create(`"networkPolicy":{"defaultAction":"deny","egress":[{"action":"allow","target":"pypi.org"}]}`)
	k.want("POST", "/v1/sandboxes", createBody(`"extensions":{"poolRef":"warm"}`), http.StatusNotFound, "KUBERNETES::POOL_NOT_FOUND")
	_, m := k.create(`"platform":{"os":" Linux ","arch":"ARM64"}`)
	if m.s("platform.os") != "linux" || m.s("platform.arch") != "arm64" {
		t.Errorf("platform is normalised: %v", m["platform"])
	}
	k.want("POST", "/v1/sandboxes", createBody(`"platform":{"os":"plan9","arch":"amd64"}`), http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER")

	d := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithMaxSandboxTimeout(time.Hour))
	d.create(`"timeout":3600`)
	m = d.want("POST", "/v1/sandboxes", createBody(`"timeout":3601`), http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER")
	if m.s("message") != "Sandbox timeout 3601s exceeds configured maximum of 3600s." {
		t.Errorf("max timeout message %q", m.s("message"))
	}
	for _, bad := range []time.Duration{59 * time.Second, 90*time.Second + 500*time.Millisecond} {
		if _, err := mockserver.New(mockserver.WithMaxSandboxTimeout(bad)); err == nil {
			t.Errorf("WithMaxSandboxTimeout(%v) accepted", bad)
		}
	}
}

// TestRoutesAndHeaders: routes at / and /v1, JSON 404 and 405, 307 for a
// trailing slash, request ids in the server's format, no Location on a
// create.
func TestRoutesAndHeaders(t *testing.T) {
	t.Parallel()
	a := newLC(t)
	st, m, hdr, raw := a.call("POST", "/sandboxes", createBody(""))
	if st != 202 || hdr.Get("Location") != "" {
		t.Errorf("create at the root: %d %s, Location %q", st, raw, hdr.Get("Location"))
	}
	if !hex32.MatchString(hdr.Get("X-Request-ID")) {
		t.Errorf("X-Request-ID %q", hdr.Get("X-Request-ID"))
	}
	id := m.s("id")
	a.want("GET", "/sandboxes/"+id, "", 200, "")
	noFollow := a.srv.HTTPClient()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(a.srv.URL() + "/v1/sandboxes/" + id + "/?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.srv.URL()+"/v1/sandboxes/"+id+"?x=1" {
		t.Errorf("trailing slash: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := do(t, a.srv, "GET", "/v1/sandboxes/"+id, "", http.Header{"X-Request-Id": {"  trace 42 "}})
	if got := resp.Header.Get("X-Request-ID"); got != "trace 42" || !strings.Contains(body, id) {
		t.Errorf("client request id: %q", got)
	}
	if e := a.srv.Requests(mockserver.Filter{Method: "GET", Path: "/v1/sandboxes/" + id}); e[len(e)-1].RequestID != "trace 42" {
		t.Errorf("journal request id %q", e[len(e)-1].RequestID)
	}
}

// TestGuestFollowsLifecycleState: the sandbox API behind an endpoint
// answers while the sandbox runs, and otherwise as the runtime does.
func TestGuestFollowsLifecycleState(t *testing.T) {
	t.Parallel()
	health := func(a lcAPI, id string) int {
		resp, _ := do(t, a.srv, http.MethodGet, "/sandboxes/"+id+"/port/8080/health", "", nil)
		return resp.StatusCode
	}
	k := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes), mockserver.WithTransitionDelay(0))
	id, _ := k.create("")
	for _, st := range []struct {
		method, path string
		want         int
	}{
		{"", "", 200},
		{"POST", "/pause", http.StatusServiceUnavailable},
		{"POST", "/resume", 200},
		{"DELETE", "", http.StatusNotFound},
	} {
		if st.method != "" {
			k.call(st.method, "/v1/sandboxes/"+id+st.path, "")
		}
		if got := health(k, id); got != st.want {
			t.Errorf("after %s %s: %d, want %d", st.method, st.path, got, st.want)
		}
	}
	m := newLC(t, mockserver.WithRuntime(mockserver.RuntimeKubernetes), mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Manual()))
	p, _ := m.create("")
	if got := health(m, p); got != http.StatusServiceUnavailable {
		t.Errorf("Allocated: %d, want 503", got)
	}
	if err := m.srv.Step(p); err != nil {
		t.Fatal(err)
	}
	if got := health(m, p); got != 200 {
		t.Errorf("Running: %d", got)
	}

	// Docker: an exited entrypoint leaves nothing listening.
	d := newLC(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
	done, _ := d.create(`"entrypoint":["true"]`)
	if got := health(d, done); got != http.StatusBadGateway {
		t.Errorf("exited: %d, want 502", got)
	}
}

// TestDockerPausedSandboxAPIHangs: a paused container accepts the
// connection and never answers; the request completes once the sandbox
// resumes, or ends when the client gives up.
func TestDockerPausedSandboxAPIHangs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeDocker))
		id, err := srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StatePaused})
		if err != nil {
			t.Fatal(err)
		}
		c := srv.HTTPClient()
		health := func(ctx context.Context) (int, error) {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+"/sandboxes/"+id+"/port/8080/health", nil)
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		done := make(chan int, 1)
		go func() {
			st, err := health(t.Context())
			if err != nil {
				t.Error(err)
			}
			done <- st
		}()
		synctest.Wait()
		select {
		case st := <-done:
			t.Fatalf("a paused sandbox's API answered %d", st)
		default:
		}
		resp, err := c.Post(srv.URL()+"/v1/sandboxes/"+id+"/resume", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if st := <-done; st != 200 {
			t.Errorf("after resume: %d", st)
		}

		resp, err = c.Post(srv.URL()+"/v1/sandboxes/"+id+"/pause", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if _, err := health(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a client that gives up: %v", err)
		}
		synctest.Wait()
		if j := srv.Requests(mockserver.Filter{Operation: mockserver.OpGetHealth}); len(j) != 2 || j[1].Status != 0 {
			t.Errorf("journal %+v, want the abandoned request without status", j)
		}
	})
}

// TestHealth: the server's health check needs no key and takes only GET.
func TestHealth(t *testing.T) {
	t.Parallel()
	a := newLC(t, mockserver.WithTenant("key", "t"))
	if st, m, _, raw := a.call("GET", "/health", ""); st != 200 || m.s("status") != "healthy" {
		t.Errorf("GET /health: %d %s", st, raw)
	}
	if st, _, h, _ := a.call("POST", "/health", ""); st != http.StatusMethodNotAllowed || h.Get("Allow") != "GET" {
		t.Errorf("POST /health: %d, Allow %q", st, h.Get("Allow"))
	}
	if st, m, _, _ := a.call("GET", "/v1/health", ""); st != http.StatusUnauthorized || m.s("code") != "MISSING_API_KEY" {
		t.Errorf("GET /v1/health without key: %d %v", st, m)
	}
}

// TestDefaultRuntime: a server made without WithRuntime behaves like
// DefaultRuntime, the Kubernetes one.
func TestDefaultRuntime(t *testing.T) {
	t.Parallel()
	if mockserver.DefaultRuntime != mockserver.RuntimeKubernetes {
		t.Fatalf("DefaultRuntime = %s", mockserver.DefaultRuntime)
	}
	a := newLC(t)
	id, _ := a.create("")
	a.wantState(id, "Allocated")
	a.want("GET", "/v1/sandboxes/nope", "", http.StatusNotFound, "KUBERNETES::SANDBOX_NOT_FOUND")
}
