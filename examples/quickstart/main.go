// Command quickstart walks one sandbox through its whole lifecycle:
// create it and wait until it runs, find the address of the API inside
// it, check that API's health, run a command, write and read a file,
// pause and resume the sandbox, extend its life, and delete it.
//
// With no configuration it runs against the mock server embedded in the
// process:
//
//	go run ./examples/quickstart
//
// Against a lifecycle server, set its URL and key (the sandbox API is
// called with the same key as a bearer token, or with BL_API_KEY if set):
//
//	OPEN_SANDBOX_BASE_URL=https://sandboxes.example.com/v1 OPEN_SANDBOX_API_KEY=... go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/examples/internal/demo"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

func main() {
	env := demo.Start("quickstart", sandboxkit.Lifecycle)
	ctx, cancel := env.Context(2 * time.Minute)
	defer cancel()
	env.Exit(run(ctx, env))
}

func run(ctx context.Context, env *demo.Env) error {
	// A lifecycle client. Without options it reads OPEN_SANDBOX_BASE_URL
	// and OPEN_SANDBOX_API_KEY; with the mock, env.Options points it at
	// the embedded server instead.
	lc, err := lifecycle.New(env.Options(sandboxkit.Lifecycle)...)
	if err != nil {
		return err
	}

	// Every wait below reports the state changes it sees.
	wait := &sandboxkit.WaitOptions{
		MinDelay: 20 * time.Millisecond,
		MaxDelay: time.Second,
		OnTransition: func(t sandboxkit.Transition) {
			if t.From == "" {
				env.Logf("   state: %s", t.To)
				return
			}
			env.Logf("   state: %s → %s", t.From, t.To)
		},
	}

	// 1. Create a sandbox and wait until it is Running. Create is
	// idempotent: retried attempts carry a client token and never make a
	// second sandbox. DeleteOnFailure removes it if it never comes up.
	env.Logf("1. creating a sandbox from python:3.12 (expires in 30m)")
	start := env.Now()
	sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:      &lifecycle.Image{URI: "python:3.12"},
		Entrypoint: []string{"python", "-m", "http.server", "8080"},
		Timeout:    30 * time.Minute,
		// OpenSandbox requires resource limits.
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
		Metadata:       map[string]string{"example": "quickstart"},
	}, &lifecycle.CreateAndWaitOptions{Wait: wait, DeleteOnFailure: true})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	env.Logf("   sandbox %s is %s after %s (client token %s)", sb.ID, sb.State(), env.Since(start), sb.ClientToken())
	// From here on, delete the sandbox even if a step fails.
	deleted := false
	defer func() {
		if !deleted {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycle.CleanupTimeout)
			defer cancel()
			_ = lc.Delete(cctx, sb.ID)
		}
	}()

	// 2. The sandbox API listens on port 8080 inside the sandbox. Its
	// endpoint is an address without scheme, plus headers to send.
	ep, err := lc.Endpoint(ctx, sb.ID, 8080, nil)
	if err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	env.Logf("2. endpoint of port 8080: %s", ep.Address)

	// 3. A client for the API inside the sandbox: SandboxClient resolves
	// that endpoint and sends its headers, never the lifecycle API key.
	api, err := lc.SandboxClient(ctx, sb.ID, env.Options(sandboxkit.Sandbox)...)
	if err != nil {
		return err
	}
	h, err := sandbox.NewHealthWaiter(api, nil).Wait(ctx) // polls GET /health until "ok"
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	env.Logf("3. sandbox API health: %s, version %s (%s/%s)", h.Status, h.Version, h.OS, h.Arch)

	// 4. Run a command and wait for it; CheckExit turns a non-zero exit
	// code into an error.
	env.Logf("4. running: echo hello from the sandbox; pwd")
	res, err := api.Run(ctx, "echo hello from the sandbox; pwd", &sandbox.RunOptions{CheckExit: true})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for line := range strings.Lines(res.Stdout) {
		env.Logf("   | %s", strings.TrimRight(line, "\n"))
	}
	env.Logf("   exit code %d", res.ExitCode)

	// 5. Write a file and read it back. "/tmp/..." is absolute; a
	// relative path is relative to the server's working directory.
	const path = "/tmp/quickstart/greeting.txt"
	if err := api.Write(ctx, path, "Hello, sandbox!\n", nil); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	text, err := api.Read(ctx, path)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	env.Logf("5. wrote and read back %s: %q", path, text)

	// 6. Pause: Running → Pausing → Paused. The sandbox keeps its
	// memory and files but stops running.
	env.Logf("6. pausing")
	if _, err := lc.PauseAndWait(ctx, sb.ID, wait); err != nil {
		return fmt.Errorf("pause: %w", err)
	}

	// 7. Resume: Paused → Resuming → Running. The file is still there.
	env.Logf("7. resuming")
	if _, err := lc.ResumeAndWait(ctx, sb.ID, wait); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if text, err = api.Read(ctx, path); err != nil {
		return fmt.Errorf("read after resume: %w", err)
	}
	env.Logf("   %s still reads %q", path, text)

	// 8. Renew: move the expiry an hour later. Renew asks for an exact
	// time; a lifecycle.Renewer does this ahead of time, and only ever
	// extends (see examples/keepalive).
	cur, err := lc.Get(ctx, sb.ID)
	if err != nil {
		return err
	}
	exp, err := lc.Renew(ctx, sb.ID, cur.ExpiresAt.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	env.Logf("8. renewed: expiry %s → %s", clock(cur.ExpiresAt), clock(exp))

	// 9. Delete and wait until the sandbox is gone (on Kubernetes it shows
	// its last state until the deletion completes; on Docker it is gone at
	// once).
	env.Logf("9. deleting")
	if err := lc.DeleteAndWait(ctx, sb.ID, wait); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	deleted = true
	env.Logf("   sandbox %s deleted; whole lifecycle took %s", sb.ID, env.Since(start))
	return nil
}

// clock formats an expiry for the log.
func clock(t time.Time) string { return t.Local().Format("15:04:05") }
