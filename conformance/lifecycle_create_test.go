package conformance

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// near reports whether got lies within slack of want.
func near(got, want time.Time, slack time.Duration) bool {
	d := got.Sub(want)
	return d >= -slack && d <= slack
}

// TestLifecycleCreateAndGet: CreateAndWait returns a Running sandbox with
// what was asked for, and Get returns the same sandbox.
func TestLifecycleCreateAndGet(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		req := tg.request(t)
		before := tg.now()
		sb := tg.create(t, req)
		if sb.ID == "" || sb.State() != lifecycle.StateRunning {
			t.Fatalf("CreateAndWait = %+v, want a Running sandbox with an id", sb)
		}
		got, err := tg.lc.Get(tg.ctx(t), sb.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.ID != sb.ID || got.State() != lifecycle.StateRunning {
			t.Errorf("Get = %+v", got)
		}
		if got.Image == nil || got.Image.URI != req.Image.URI {
			t.Errorf("Image = %+v, want %q", got.Image, req.Image.URI)
		}
		if diff := cmp.Diff(req.Entrypoint, got.Entrypoint); diff != "" {
			t.Errorf("Entrypoint (-want +got):\n%s", diff)
		}
		for k, v := range req.Metadata {
			if got.Metadata[k] != v {
				t.Errorf("Metadata[%q] = %q, want %q (all: %v)", k, got.Metadata[k], v, got.Metadata)
			}
		}
		if got.ClientToken() == "" {
			t.Errorf("no client token in metadata %v", got.Metadata)
		}
		// Creation takes a few seconds on a real server; the expiry counts
		// from then.
		if !near(got.CreatedAt, before, 30*time.Second) {
			t.Errorf("CreatedAt = %v, want about %v", got.CreatedAt, before)
		}
		if !near(got.ExpiresAt, got.CreatedAt.Add(req.Timeout), 5*time.Second) {
			t.Errorf("ExpiresAt = %v, want CreatedAt %v + %v", got.ExpiresAt, got.CreatedAt, req.Timeout)
		}
		if got.Status.Reason == "" {
			t.Errorf("Status.Reason is empty: %+v", got.Status)
		}
	})
}

// TestLifecycleCreateLifetime: a zero Timeout gives the documented default
// lifetime, NeverExpires a sandbox without expiry.
func TestLifecycleCreateLifetime(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		byDefault := tg.request(t)
		byDefault.Timeout = 0
		never := tg.request(t)
		never.Timeout, never.NeverExpires = 0, true
		sbs := tg.createAll(t, byDefault, never)

		got, err := tg.lc.Get(tg.ctx(t), sbs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got.ExpiresAt, got.CreatedAt.Add(lifecycle.DefaultSandboxTimeout), 5*time.Second) {
			t.Errorf("zero Timeout: ExpiresAt = %v, want CreatedAt %v + %v", got.ExpiresAt, got.CreatedAt, lifecycle.DefaultSandboxTimeout)
		}
		got, err = tg.lc.Get(tg.ctx(t), sbs[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.IsZero() {
			t.Errorf("NeverExpires: ExpiresAt = %v, want none", got.ExpiresAt)
		}
	})
}

// TestLifecycleCreateWithClientToken: a create with a client token that
// already made a sandbox returns that sandbox; concurrent creates with
// one token in one process make one sandbox.
func TestLifecycleCreateWithClientToken(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		opts := &lifecycle.CreateOptions{ClientToken: "tok-" + tg.run}
		const callers = 4
		ids := make([]string, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				sb, err := tg.lc.Create(tg.ctx(t), tg.request(t), opts)
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
					return
				}
				ids[i] = sb.ID
			})
		}
		wg.Wait()
		for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
			if id != "" {
				tg.cleanup(t, id)
			}
		}
		if slices.Contains(ids, "") {
			t.FailNow()
		}
		for i, id := range ids {
			if id != ids[0] {
				t.Errorf("caller %d got %s, caller 0 %s", i, id, ids[0])
			}
		}
		again, err := tg.lc.Create(tg.ctx(t), tg.request(t), opts)
		if err != nil || again.ID != ids[0] {
			t.Errorf("Create again = %+v, %v; want sandbox %s", again, err, ids[0])
		}
		page, err := tg.lc.List(tg.ctx(t), &lifecycle.ListOptions{Metadata: tg.mine()})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalItems != 1 {
			t.Errorf("%d sandboxes hold the token, want 1", page.TotalItems)
		}
	})
}

// exitingEntrypoint makes tg's next sandbox's entrypoint exit with code
// 3 right after the create answer: on a Docker runtime by running a
// command that exits (the mock plans its exit); on the Kubernetes mock,
// which runs no entrypoint, by failing the sandbox as the create answer
// travels back (the mock's FailSandbox).
func (tg *lifecycleTarget) exitingEntrypoint(t *testing.T, req *lifecycle.CreateRequest) *lifecycle.Client {
	t.Helper()
	req.Entrypoint = []string{"sh", "-c", "exit 3"}
	if tg.mock == nil || tg.runtime == docker {
		return tg.lc
	}
	srv := tg.mock
	rt := roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := srv.HTTPClient().Transport.RoundTrip(r)
		if err == nil && r.Method == http.MethodPost && resp.StatusCode == http.StatusAccepted {
			for _, s := range srv.Sandboxes() {
				if s.Metadata[runLabel] == tg.run && slices.Equal(s.Entrypoint, req.Entrypoint) && !lifecycle.State(s.State).Terminal() {
					_ = srv.FailSandbox(s.ID, "CONTAINER_EXITED_ERROR", "Sandbox container exited with code 3.")
				}
			}
		}
		return resp, err
	})
	return tg.newClient(t, sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLifecycleCreateAndWaitEntrypointExits: a sandbox whose entrypoint
// exits at once fails CreateAndWait with a *StateError for Failed (the
// Docker runtime's create answer still says Running), the sandbox is
// returned with the error, and DeleteOnFailure removes it: when
// CreateAndWait returns, the sandbox is not found (or, on a runtime that
// keeps deleted sandboxes, Terminated), also on Kubernetes, where a
// deleted workload keeps its last state until it is gone.
func TestLifecycleCreateAndWaitEntrypointExits(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		req := tg.request(t)
		lc := tg.exitingEntrypoint(t, req)
		// CreateAndWait trusts Running only MinDelay after the create
		// answer; give the container time to exit on a busy machine.
		sb, err := lc.CreateAndWait(tg.ctx(t), req, &lifecycle.CreateAndWaitOptions{
			DeleteOnFailure: true, Wait: &sandboxkit.WaitOptions{MinDelay: 2 * time.Second}})
		if sb != nil {
			tg.cleanup(t, sb.ID)
		}
		se, ok := errors.AsType[*sandboxkit.StateError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrUnexpectedState) || se.State != string(lifecycle.StateFailed) {
			t.Fatalf("CreateAndWait = %+v, %v; want a *StateError for Failed", sb, err)
		}
		if sb == nil || sb.ID == "" {
			t.Fatalf("no sandbox returned with the error")
		}
		if tg.runtime == docker && (se.Reason != "CONTAINER_EXITED_ERROR" || se.Message == "") {
			t.Errorf("docker: reason %q message %q, want CONTAINER_EXITED_ERROR and the exit code", se.Reason, se.Message)
		}
		got, err := tg.lc.Get(tg.ctx(t), sb.ID)
		switch {
		case errors.Is(err, sandboxkit.ErrNotFound):
		case err == nil && got.State() == lifecycle.StateTerminated && tg.runtime != docker:
		default:
			t.Errorf("after DeleteOnFailure: Get = %+v, %v; want it deleted", got, err)
		}
	})
}

// TestLifecycleCreateValidation: requests the SDK refuses fail with
// ErrInvalidInput before anything is sent; requests only the server can
// judge are refused as invalid input.
func TestLifecycleCreateValidation(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		bad := map[string]func(r *lifecycle.CreateRequest){
			"no source":             func(r *lifecycle.CreateRequest) { r.Image = nil },
			"image and snapshot":    func(r *lifecycle.CreateRequest) { r.SnapshotID = "snap" },
			"no entrypoint":         func(r *lifecycle.CreateRequest) { r.Entrypoint = nil },
			"timeout under 1m":      func(r *lifecycle.CreateRequest) { r.Timeout = 30 * time.Second },
			"never with timeout":    func(r *lifecycle.CreateRequest) { r.NeverExpires = true },
			"reserved metadata key": func(r *lifecycle.CreateRequest) { r.Metadata[lifecycle.ClientTokenKey] = "x" },
			"blank image":           func(r *lifecycle.CreateRequest) { r.Image.URI = " " },
		}
		tg.requestsSent()
		for name, mutate := range bad {
			req := tg.request(t)
			mutate(req)
			if sb, err := tg.lc.Create(ctx, req, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				if sb != nil {
					tg.cleanup(t, sb.ID)
				}
				t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
			}
		}
		if _, err := tg.lc.Create(ctx, nil, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("nil request: err = %v, want ErrInvalidInput", err)
		}
		if _, err := tg.lc.CreateFromSnapshot(ctx, "", nil, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Errorf("empty snapshot id: err = %v, want ErrInvalidInput", err)
		}
		if n, ok := tg.requestsSent(); ok && n != 0 {
			t.Errorf("%d requests sent for invalid input", n)
		}

		// Only the server knows this one. Its validation report echoes
		// the request body, secrets included: they must not reach the
		// error.
		const secret, password = "env-secret-6f1e2d", "registry-pass-93ab1c"
		noLimits := tg.request(t)
		noLimits.ResourceLimits = nil
		noLimits.Env = map[string]string{"API_TOKEN": secret}
		noLimits.Image.Auth = &lifecycle.ImageAuth{Username: "bot", Password: password}
		sb, err := tg.lc.Create(ctx, noLimits, nil)
		if sb != nil {
			tg.cleanup(t, sb.ID)
		}
		if !rejectedInput(err) {
			t.Errorf("no resource limits: %+v, %v; want a bad request (OpenSandbox requires them)", sb, err)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), password)) {
			t.Errorf("the error repeats a secret of the request: %v", err)
		}
		if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); ok {
			if !strings.Contains(apiErr.Message, "resourceLimits") {
				t.Errorf("message %q does not say what is wrong", apiErr.Message)
			}
			if body := string(apiErr.Body); strings.Contains(body, secret) || strings.Contains(body, password) {
				t.Errorf("APIError.Body repeats a secret of the request: %s", body)
			}
		}
	})
}
