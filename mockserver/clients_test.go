package mockserver_test

import (
	"errors"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// The façades built from the server's options reach it, as the first
// tenant, and a sandbox's API is at the address SandboxAPIOptions names.
func TestFacadeClientsFromOptions(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant("key-a", "a"), mockserver.WithTransition(mockserver.TransitionProvision, mockserver.Immediate()))
	ctx := t.Context()

	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
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
	apiOpts, err := srv.SandboxAPIOptions(sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	api, err := sandbox.New(apiOpts...)
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

	cp, err := controlplane.New(srv.ClientOptions(sandboxkit.ControlPlane)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Get(ctx, "missing", nil); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("control plane Get(missing): err = %v, want ErrNotFound", err)
	}

	// Another tenant's key sees nothing of tenant a.
	other, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey("wrong"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, sb.ID); !errors.Is(err, sandboxkit.ErrUnauthorized) {
		t.Errorf("Get with an unknown key: err = %v, want ErrUnauthorized", err)
	}
}

func TestSandboxAPIOptionsRejectsBadID(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	for _, id := range []string{"", "../v1", "a/b", ".."} {
		if opts, err := srv.SandboxAPIOptions(id); !errors.Is(err, sandboxkit.ErrInvalidInput) || opts != nil {
			t.Errorf("SandboxAPIOptions(%q) = %d options, %v; want none and ErrInvalidInput", id, len(opts), err)
		}
	}
}

// SandboxAPIOptions names the sandbox's port-8080 endpoint and the first
// tenant's token; a token appended after them wins, and another tenant
// sees nothing of the sandbox.
func TestSandboxAPIOptionsCredentialAndAddress(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithTenant("key-a", "a"), mockserver.WithTenant("key-b", "b"))
	id, err := srv.AddSandbox("a", mockserver.SandboxSeed{ID: "sbx-a"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sandboxkit.NewConfig(sandboxkit.Sandbox, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.BaseURL().String(), srv.URL()+"/sandboxes/sbx-a/port/8080"; got != want {
		t.Errorf("base URL = %s, want %s", got, want)
	}
	ctx := t.Context()
	own, err := sandbox.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.Health(ctx); err != nil {
		t.Errorf("Health as tenant a: %v", err)
	}
	other, err := sandbox.New(append(opts, sandboxkit.WithToken("key-b"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Health(ctx); !errors.Is(err, sandboxkit.ErrNotFound) {
		t.Errorf("Health as tenant b: err = %v, want ErrNotFound", err)
	}
	got := srv.Requests(mockserver.Filter{})
	if len(got) != 2 || got[0].Tenant != "a" || got[1].Tenant != "b" {
		t.Errorf("requests: %+v, want one as a, then one as b", got)
	}
}
