package mockserver_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// A scripted failure reaches the client as the real server's would: a
// typed *sandbox.UpgradeError at the scripted step. The script is used
// once; the next attempt succeeds.
func TestScriptUpgradeFailsOneAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t) // real clock: the bubble's fake time
		id, err := srv.AddSandbox("", mockserver.SandboxSeed{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.ScriptUpgrade(id, mockserver.UpgradeScript{FailAt: "download", Error: "mirror down"}); err != nil {
			t.Fatal(err)
		}
		sbOpts, err := srv.SandboxAPIOptions(id)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := sandbox.New(sbOpts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sb.Upgrade(t.Context(), &sandbox.UpgradeOptions{})
		var ue *sandbox.UpgradeError
		if !errors.As(err, &ue) || ue.Step != "download" || ue.Message != "mirror down" {
			t.Fatalf("scripted upgrade: err = %v, want an UpgradeError at download saying \"mirror down\"", err)
		}

		res, err := sb.Upgrade(t.Context(), &sandbox.UpgradeOptions{})
		if err != nil {
			t.Fatalf("second upgrade: %v", err)
		}
		if res.After.UpgradeCount != 1 || res.After.Version != "v0.1.1" || !res.Restarted {
			t.Errorf("second upgrade: count %d, version %s, restarted %v; want 1, v0.1.1, true",
				res.After.UpgradeCount, res.After.Version, res.Restarted)
		}
	})
}

// Control plane sandboxes are scripted by name.
func TestScriptUpgradeControlPlaneSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		if err := srv.AddControlPlaneSandbox("", mockserver.ControlPlaneSeed{Name: "builder"}); err != nil {
			t.Fatal(err)
		}
		if err := srv.ScriptUpgrade("builder", mockserver.UpgradeScript{FailAt: "validate"}); err != nil {
			t.Fatal(err)
		}
		cp, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cp.Get(t.Context(), "builder", nil)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := cp.SandboxClient(cs)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sb.Upgrade(t.Context(), &sandbox.UpgradeOptions{Version: "v0.2.0"})
		var ue *sandbox.UpgradeError
		if !errors.As(err, &ue) || ue.Step != "validate" || ue.Version != "v0.2.0" || ue.Message == "" {
			t.Fatalf("scripted upgrade: err = %#v, want an UpgradeError at validate for v0.2.0", err)
		}
	})
}

func TestScriptUpgradeRejects(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id, err := srv.AddSandbox("", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		id     string
		script mockserver.UpgradeScript
	}{
		"unknown step":     {id, mockserver.UpgradeScript{FailAt: "restart"}},
		"negative delay":   {id, mockserver.UpgradeScript{Delay: -1}},
		"unknown sandbox":  {"nope", mockserver.UpgradeScript{}},
		"unknown cp name":  {"tenant/nope", mockserver.UpgradeScript{}},
		"negative payload": {id, mockserver.UpgradeScript{DownloadBytes: -1}},
	} {
		if err := srv.ScriptUpgrade(tc.id, tc.script); err == nil {
			t.Errorf("%s: ScriptUpgrade succeeded", name)
		}
	}
}
