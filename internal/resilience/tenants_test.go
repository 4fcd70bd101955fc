package resilience

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

const (
	tenantAKey = "osk-tenant-alpha-7Gd2Kq"
	tenantBKey = "osk-tenant-beta-3Rw8Vn"
	cpName     = "shared-name"
	secretFile = "/tmp/secret.txt"
)

// alphaState is everything tenant alpha owns, as the server holds it.
type alphaState struct {
	Sandbox      mockserver.SandboxInfo
	Snapshot     mockserver.SnapshotInfo
	ControlPlane mockserver.ControlPlaneInfo
	File, CPFile string
}

// outcomeOf reduces a call's result to what a caller can tell apart.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, sandboxkit.ErrInvalidInput):
		return "invalid input"
	}
	if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); ok {
		return fmt.Sprintf("%d %s", apiErr.StatusCode, apiErr.Code)
	}
	if se, ok := errors.AsType[*sandboxkit.StateError](err); ok {
		return fmt.Sprintf("state error %q (not found: %v)", se.State, errors.Is(err, sandboxkit.ErrNotFound))
	}
	return fmt.Sprintf("%T", err)
}

// TestTenantIsolation gives two tenants one mock. Tenant beta tries every
// operation of the three APIs on tenant alpha's sandbox, snapshot and
// control plane sandbox: each must answer exactly as it does for an id
// that does not exist (a 404, nothing to tell the two apart), a bad key
// must get 401 everywhere, and alpha's state must not change.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant(tenantAKey, "alpha"), mockserver.WithTenant(tenantBKey, "beta"),
		mockserver.WithTransitionDelay(0))
	ctx := t.Context()

	// Alpha's resources.
	lcA, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	sbA, err := lcA.CreateAndWait(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"},
		Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits(), Timeout: time.Hour, Metadata: map[string]string{"owner": "alpha"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snapA, err := lcA.CreateSnapshot(ctx, sbA.ID, &lifecycle.CreateSnapshotOptions{Name: "alpha-snap"})
	if err != nil {
		t.Fatal(err)
	}
	scAOpts, err := srv.SandboxAPIOptions(sbA.ID)
	if err != nil {
		t.Fatal(err)
	}
	scA, err := sandbox.New(scAOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := scA.Write(ctx, secretFile, "alpha data", nil); err != nil {
		t.Fatal(err)
	}
	cpA, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
	if err != nil {
		t.Fatal(err)
	}
	boxA, err := cpA.CreateAndWait(ctx, cpSandbox(cpName), nil)
	if err != nil {
		t.Fatal(err)
	}
	cpScA, err := cpA.SandboxClient(boxA)
	if err != nil {
		t.Fatal(err)
	}
	if err := cpScA.Write(ctx, secretFile, "alpha cp data", nil); err != nil {
		t.Fatal(err)
	}
	state := func() alphaState {
		t.Helper()
		var s alphaState
		var ok bool
		if s.Sandbox, ok = srv.Sandbox(sbA.ID); !ok {
			t.Fatal("alpha's sandbox is gone")
		}
		if s.Snapshot, ok = srv.Snapshot(snapA.ID); !ok {
			t.Fatal("alpha's snapshot is gone")
		}
		if s.ControlPlane, ok = srv.ControlPlaneSandbox("alpha", cpName); !ok {
			t.Fatal("alpha's control plane sandbox is gone")
		}
		if s.File, err = scA.Read(ctx, secretFile); err != nil {
			t.Fatal(err)
		}
		if s.CPFile, err = cpScA.Read(ctx, secretFile); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	firstForeign := len(srv.Journal())

	// Beta's clients, and clients with a key no tenant has.
	lcB, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey(tenantBKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cpB, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane), sandboxkit.WithToken(tenantBKey))...)
	if err != nil {
		t.Fatal(err)
	}
	lcX, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey("osk-nobody"))...)
	if err != nil {
		t.Fatal(err)
	}
	cpX, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane), sandboxkit.WithToken("bl-nobody"))...)
	if err != nil {
		t.Fatal(err)
	}
	lcNone, err := lifecycle.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(srv.URL()+"/v1"), sandboxkit.WithHTTPClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox API of alpha's sandboxes, or of missing ones, with a key.
	lcSandbox := func(id, key string) *sandbox.Client {
		t.Helper()
		scOpts, err := srv.SandboxAPIOptions(id)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := sandbox.New(append(scOpts, sandboxkit.WithToken(key))...)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	cpSandboxOf := func(cp *controlplane.Client, name string) *sandbox.Client {
		t.Helper()
		sc, err := cp.SandboxClient(&controlplane.Sandbox{Metadata: controlplane.Metadata{Name: name, URL: srv.URL() + "/cp/alpha/" + name}})
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	future := time.Now().Add(48 * time.Hour)

	type op struct {
		name string
		// call runs the operation as the tenant whose clients it gets.
		call func(ctx context.Context, lc *lifecycle.Client, cp *controlplane.Client, sc func(alpha bool) *sandbox.Client, alpha bool) error
	}
	id := func(alpha bool, a, missing string) string {
		if alpha {
			return a
		}
		return missing
	}
	sbID := func(alpha bool) string { return id(alpha, sbA.ID, "00000000-0000-4000-8000-000000000000") }
	snapID := func(alpha bool) string { return id(alpha, snapA.ID, "snap-00000000-0000-4000-8000-000000000000") }
	cpN := func(alpha bool) string { return id(alpha, cpName, "missing-name") }
	ops := []op{
		{"lifecycle.Get", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.Get(ctx, sbID(a))
			return err
		}},
		{"lifecycle.Delete", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			return lc.Delete(ctx, sbID(a))
		}},
		{"lifecycle.Pause", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			return lc.Pause(ctx, sbID(a))
		}},
		{"lifecycle.Resume", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			return lc.Resume(ctx, sbID(a))
		}},
		{"lifecycle.Renew", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.Renew(ctx, sbID(a), future)
			return err
		}},
		{"lifecycle.PatchMetadata", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.PatchMetadata(ctx, sbID(a), &lifecycle.MetadataPatch{Set: map[string]string{"owner": "beta"}})
			return err
		}},
		{"lifecycle.Endpoint", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.Endpoint(ctx, sbID(a), 8080, nil)
			return err
		}},
		{"lifecycle.Endpoint (signed)", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.Endpoint(ctx, sbID(a), 8080, &lifecycle.EndpointOptions{SignedUntil: future})
			return err
		}},
		{"lifecycle.CreateSnapshot", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.CreateSnapshot(ctx, sbID(a), nil)
			return err
		}},
		{"lifecycle.GetSnapshot", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.GetSnapshot(ctx, snapID(a))
			return err
		}},
		{"lifecycle.DeleteSnapshot", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			return lc.DeleteSnapshot(ctx, snapID(a))
		}},
		{"lifecycle.CreateFromSnapshot", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.CreateFromSnapshot(ctx, snapID(a), &lifecycle.CreateRequest{ResourceLimits: resourceLimits()}, &lifecycle.CreateOptions{MaxAttempts: 1})
			return err
		}},
		{"lifecycle.Waiter.Wait", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lifecycle.NewWaiter(lc, nil).Wait(ctx, sbID(a), lifecycle.StateRunning)
			return err
		}},
		{"lifecycle.PauseAndWait", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := lc.PauseAndWait(ctx, sbID(a), nil)
			return err
		}},
		{"lifecycle.DeleteAndWait", func(ctx context.Context, lc *lifecycle.Client, _ *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			return lc.DeleteAndWait(ctx, sbID(a), nil)
		}},
		{"controlplane.Get", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := cp.Get(ctx, cpN(a), nil)
			return err
		}},
		{"controlplane.Update", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			sb := cpSandbox(cpN(a))
			sb.Metadata.Labels = map[string]string{"owner": "beta"}
			_, err := cp.Update(ctx, sb)
			return err
		}},
		{"controlplane.SetTTL", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := cp.SetTTL(ctx, cpN(a), time.Minute, &controlplane.LifetimeOptions{AllowShorten: true})
			return err
		}},
		{"controlplane.ExtendTTL", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := cp.ExtendTTL(ctx, cpN(a), time.Hour, nil)
			return err
		}},
		{"controlplane.SetExpirationPolicies", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := cp.SetExpirationPolicies(ctx, cpN(a), []controlplane.ExpirationPolicy{controlplane.TTLIdle(time.Minute)},
				&controlplane.LifetimeOptions{AllowShorten: true})
			return err
		}},
		{"controlplane.Delete", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			_, err := cp.Delete(ctx, cpN(a))
			return err
		}},
		{"controlplane.Waiter.Wait", func(ctx context.Context, _ *lifecycle.Client, cp *controlplane.Client, _ func(bool) *sandbox.Client, a bool) error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := controlplane.NewWaiter(cp, nil).Wait(ctx, cpN(a), controlplane.StatusDeployed)
			return err
		}},
	}
	for _, api := range []string{"lifecycle sandbox API", "control plane sandbox API"} {
		ops = append(ops,
			op{api + ".Health", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				_, err := sc(a).Health(ctx)
				return err
			}},
			op{api + ".Read", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				_, err := sc(a).Read(ctx, secretFile)
				return err
			}},
			op{api + ".Write", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				return sc(a).Write(ctx, secretFile, "beta was here", nil)
			}},
			op{api + ".Remove", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				return sc(a).Remove(ctx, secretFile, nil)
			}},
			op{api + ".Exec", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				_, err := sc(a).Exec(ctx, &sandbox.ExecRequest{Command: "echo beta"})
				return err
			}},
			op{api + ".ListProcesses", func(ctx context.Context, _ *lifecycle.Client, _ *controlplane.Client, sc func(bool) *sandbox.Client, a bool) error {
				_, err := sc(a).ListProcesses(ctx)
				return err
			}},
		)
	}
	sandboxes := func(key string, cp *controlplane.Client) func(api string) func(bool) *sandbox.Client {
		return func(api string) func(bool) *sandbox.Client {
			return func(alpha bool) *sandbox.Client {
				if api == "lifecycle sandbox API" {
					return lcSandbox(sbID(alpha), key)
				}
				return cpSandboxOf(cp, cpN(alpha))
			}
		}
	}
	beta, nobody := sandboxes(tenantBKey, cpB), sandboxes("osk-nobody", cpX)
	apiOf := func(name string) string {
		for _, api := range []string{"lifecycle sandbox API", "control plane sandbox API"} {
			if len(name) > len(api) && name[:len(api)] == api {
				return api
			}
		}
		return ""
	}
	for _, o := range ops {
		onAlpha := outcomeOf(o.call(ctx, lcB, cpB, beta(apiOf(o.name)), true))
		onMissing := outcomeOf(o.call(ctx, lcB, cpB, beta(apiOf(o.name)), false))
		if onAlpha != onMissing {
			t.Errorf("%s as beta: on alpha's resource %q, on a missing one %q: beta can tell alpha's apart", o.name, onAlpha, onMissing)
		}
		switch {
		case o.name == "lifecycle.DeleteAndWait" && onAlpha == "ok": // a sandbox not found counts as deleted
		case o.name == "lifecycle.Waiter.Wait" || o.name == "lifecycle.PauseAndWait":
			if onAlpha != `state error "" (not found: true)` && !strings.HasPrefix(onAlpha, "404 ") {
				t.Errorf("%s as beta on alpha's sandbox: %s, want not found", o.name, onAlpha)
			}
		case len(onAlpha) < 3 || onAlpha[:3] != "404":
			t.Errorf("%s as beta on alpha's resource: %s, want 404", o.name, onAlpha)
		}
		if got := outcomeOf(o.call(ctx, lcX, cpX, nobody(apiOf(o.name)), true)); len(got) < 3 || got[:3] != "401" {
			t.Errorf("%s with an unknown key: %s, want 401", o.name, got)
		}
	}
	if _, err := lcNone.Get(ctx, sbA.ID); sandboxkit.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("Get without a key: %v, want 401", err)
	}

	// Lists show beta nothing of alpha's.
	pageB, err := lcB.List(ctx, &lifecycle.ListOptions{Metadata: map[string]string{lifecycle.ClientTokenKey: sbA.ClientToken()}})
	if err != nil || len(pageB.Items) != 0 {
		t.Errorf("beta's List by alpha's client token = %v, %v; want nothing", pageB, err)
	}
	for sb, err := range lcB.All(ctx, nil) {
		if err != nil || sb.ID == sbA.ID {
			t.Errorf("beta's All: %v, %v", sb, err)
		}
	}
	for snap, err := range lcB.AllSnapshots(ctx, nil) {
		if err != nil || snap.ID == snapA.ID {
			t.Errorf("beta's AllSnapshots: %v, %v", snap, err)
		}
	}
	if list, err := cpB.List(ctx, nil); err != nil || len(list.Items) != 0 {
		t.Errorf("beta's control plane List = %+v, %v; want none", list, err)
	}

	// Beta may use the same control plane name: it gets a sandbox of its
	// own, and writing to it does not touch alpha's.
	boxB, err := cpB.CreateAndWait(ctx, cpSandbox(cpName), nil)
	if err != nil {
		t.Fatalf("beta creating its own %q: %v", cpName, err)
	}
	scB, err := cpB.SandboxClient(boxB)
	if err != nil {
		t.Fatal(err)
	}
	if err := scB.Write(ctx, secretFile, "beta data", nil); err != nil {
		t.Fatalf("beta writing to its own sandbox: %v", err)
	}

	// Nothing of alpha's changed, and the journal shows no request of
	// beta (or of nobody) that succeeded on alpha's resources.
	if diff := cmp.Diff(before, state()); diff != "" {
		t.Errorf("alpha's state changed (-before +after):\n%s", diff)
	}
	for _, e := range srv.Journal()[firstForeign:] {
		if e.Tenant == "alpha" || e.Status >= 400 || e.Status == 0 {
			continue
		}
		if e.SandboxID == sbA.ID || e.SandboxID == snapA.ID || (e.SandboxID == cpName && e.Tenant != "beta") {
			t.Errorf("%s %s as %q answered %d", e.Method, e.Path, e.Tenant, e.Status)
		}
	}
}

func cpSandbox(name string) *controlplane.Sandbox {
	return &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: name},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}}}
}
