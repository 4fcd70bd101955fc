package mockserver_test

import (
	"errors"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestFacadeClientsTalkToTheServer(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant("key-a", "a"), mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
	ctx := t.Context()

	lc, err := srv.Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := lc.Create(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.11"},
		Entrypoint:     []string{"python"},
		ResourceLimits: map[string]string{"cpu": "1"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	api, err := srv.SandboxAPI(sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.Run(ctx, "echo hi", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "hi\n" || res.ExitCode != 0 {
		t.Errorf("Run(echo hi) = %q, exit %d", res.Stdout, res.ExitCode)
	}

	cp, err := srv.ControlPlane()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Get(ctx, "missing", nil); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("control plane Get(missing): err = %v, want ErrNotFound", err)
	}
	var _ *controlplane.Client = cp

	// Another tenant's key sees nothing of tenant a.
	other, err := srv.Lifecycle(sandboxkit.WithAPIKey("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, sb.ID); !errors.Is(err, sandboxkit.ErrUnauthorized) {
		t.Errorf("Get with an unknown key: err = %v, want ErrUnauthorized", err)
	}
}

func TestSandboxAPIRejectsBadID(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	if _, err := srv.SandboxAPI("../v1"); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("SandboxAPI(../v1): err = %v, want ErrInvalidInput", err)
	}
}
