package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestSandboxHealth: the health report and WaitReady.
func TestSandboxHealth(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		h, err := tg.sb.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !h.OK() || h.Version == "" || h.GitCommit == "" || h.OS != "linux" || h.StartedAt.IsZero() || h.Uptime <= 0 ||
			h.UpgradeCount < 0 || h.LastUpgrade.State == "" || h.LastUpgrade.Step == "" {
			t.Errorf("Health = %+v", h)
		}
		r, err := sandbox.NewHealthWaiter(tg.sb, nil).Wait(ctx)
		if err != nil || !r.OK() || !r.StartedAt.Equal(h.StartedAt) {
			t.Errorf("WaitReady = %+v, %v", r, err)
		}
	})
}

// TestSandboxPorts: the ports a process listens on, and port monitoring.
func TestSandboxPorts(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: "sleep 30"})
		if err != nil {
			t.Fatal(err)
		}
		tg.killAtEnd(t, p.PID)
		pid := atoi(t, p.PID)
		ports, err := tg.sb.ListPorts(ctx, pid)
		if err != nil || len(ports) != 0 {
			t.Errorf("Ports of sleep = %+v, %v", ports, err)
		}
		if err := tg.sb.MonitorPorts(ctx, pid, "http://127.0.0.1:9/ports"); err != nil {
			t.Errorf("MonitorPorts: %v", err)
		}
		if err := tg.sb.StopMonitoringPorts(ctx, pid); err != nil {
			t.Errorf("StopMonitoringPorts: %v", err)
		}

		t.Run("listener", func(t *testing.T) {
			port := 20000 + rand.IntN(10000)
			l, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port)})
			if err != nil {
				t.Fatal(err)
			}
			tg.killAtEnd(t, l.PID)
			for {
				ports, err := tg.sb.ListPorts(ctx, atoi(t, l.PID))
				if err != nil {
					t.Fatal(err)
				}
				if i := slices.IndexFunc(ports, func(p sandbox.PortInfo) bool { return p.LocalPort == port }); i >= 0 {
					want := sandbox.PortInfo{PID: atoi(t, l.PID), Protocol: "tcp", LocalAddr: "127.0.0.1", LocalPort: port, State: "LISTEN", ProcessName: "python3"}
					if p := ports[i]; p != want {
						t.Errorf("port %+v, want %+v", p, want)
					}
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("port %d never listed: %+v", port, ports)
				case <-time.After(100 * time.Millisecond):
				}
			}
			// Stopped, the server's socket is gone.
			if err := tg.sb.StopProcess(ctx, l.PID); err != nil {
				t.Fatal(err)
			}
			if _, err := sandbox.NewWaiter(tg.sb, nil).Wait(ctx, l.PID); err != nil {
				t.Fatal(err)
			}
			if ports, err := tg.sb.ListPorts(ctx, atoi(t, l.PID)); err != nil || len(ports) != 0 {
				t.Errorf("Ports after stop = %+v, %v", ports, err)
			}
		})

		t.Run("waitForPorts", func(t *testing.T) {
			// Ready once a socket the gateway can reach listens: one on
			// loopback only never counts.
			port := 20000 + rand.IntN(10000)
			p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: fmt.Sprintf("sleep 0.2 && exec python3 -m http.server %d", port),
				WaitForPorts: []int{port}, Timeout: 10 * time.Second})
			if err != nil || p.Status != sandbox.StatusRunning {
				t.Fatalf("Exec with WaitForPorts = %+v, %v", p, err)
			}
			tg.killAtEnd(t, p.PID)
			name := tg.procName(t)
			tg.killAtEnd(t, name)
			_, err = tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name, Command: fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port+1),
				WaitForPorts: []int{port + 1}, Timeout: time.Second})
			assertAPIError(t, err, 422, "sandbox.Exec", "process timed out waiting for ports after 1 seconds")
		})
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("pid %q: %v", s, err)
	}
	return n
}

// TestSandboxCodegenUnconfigured: without a model provider (the real
// server here has no Relace or Morph key; the mock has none), code
// generation answers 400 (the published spec says 503).
func TestSandboxCodegenUnconfigured(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.dir(t)
		if err := tg.sb.Write(ctx, dir+"/a.go", "package a\n", nil); err != nil {
			t.Fatal(err)
		}
		_, err := tg.sb.FastApply(ctx, dir+"/a.go", "// ... existing code ...\nfunc A() {}\n", nil)
		assertAPIError(t, err, 400, "sandbox.FastApply", "codegen tools are not configured")
		_, err = tg.sb.Rerank(ctx, dir, "package", nil)
		assertAPIError(t, err, 400, "sandbox.Rerank", "codegen tools are not configured")
	})
}

// TestSandboxTunnelErrors: a tunnel configuration the server cannot use
// is 422; disconnecting when no tunnel runs is 400.
func TestSandboxTunnelErrors(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		assertAPIError(t, tg.sb.DisconnectTunnel(ctx), 400, "sandbox.DisconnectTunnel", "no WireGuard client is running")
		// Every configuration here is invalid: a valid one would reroute
		// the shared real server.
		const key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
		for _, tc := range []struct{ config, want string }{
			{`{"peer_endpoint":"192.0.2.1:51820"}`, "invalid tunnel config: invalid configuration: local_ip is required"},
			{`{"local_ip":"10.0.0.2"}`, "local_ip must be in CIDR notation (e.g., 10.0.0.1/32): invalid CIDR address: 10.0.0.2"},
			{`{"local_ip":"10.0.0.2/32","peer_endpoint":"192.0.2.1"}`, "peer_endpoint must be in host:port format"},
			{`{"local_ip":"10.0.0.2/32","peer_endpoint":"192.0.2.1:51820","peer_public_key":"YWJj"}`, "invalid peer_public_key: expected 32 bytes, got 3"},
			{`{"local_ip":"10.0.0.2/32","peer_endpoint":"192.0.2.1:51820","peer_public_key":"` + key + `"}`, "private_key is required"},
			{`{"local_ip":"10.0.0.2/32","peer_endpoint":"192.0.2.1:51820","peer_public_key":"` + key + `","private_key":"` + key + `","allowed_ips":["x"]}`, `invalid allowed_ip "x"`},
			{`{"local_ip":"10.0.0.2/32","peer_endpoint":"192.0.2.1:51820","peer_public_key":"` + key + `","private_key":"` + key + `","mtu":65536}`, "mtu must be between 68 and 65535, got 65536"},
			{`{"mtu":"x"}`, "invalid tunnel config: failed to parse JSON configuration: json: cannot unmarshal string"},
		} {
			assertAPIError(t, tg.sb.UpdateTunnel(ctx, []byte(tc.config)), 422, "sandbox.UpdateTunnel", tc.want)
		}
	})
}

// TestSandboxRealEnvironment checks what the real sandbox API here
// answers for what it lacks (a workspace identity for drives, sandbox
// metadata for the environment). The mock simulates a sandbox that has
// them: TestSandboxDrives and TestSandboxEnvironment run there.
func TestSandboxRealEnvironment(t *testing.T) {
	if getenv(envSandboxAPIURL) == "" {
		t.Skip("no real sandbox API: " + realSkipHowToStart)
	}
	t.Parallel()
	tg := realSandboxAPI(t)
	ctx := tg.ctx(t)
	_, err := tg.sb.ReloadEnvironment(ctx)
	assertAPIError(t, err, 404, "sandbox.ReloadEnvironment", "/bl/metadata")
	_, err = tg.sb.MountDrive(ctx, &sandbox.DriveMount{DriveName: "d", MountPath: "/mnt/" + tg.procName(t)})
	assertAPIError(t, err, 500, "sandbox.MountDrive", "BL_WORKSPACE_ID")
	if mounts, err := tg.sb.ListDrives(ctx); err != nil || len(mounts) != 0 {
		t.Errorf("Drives = %+v, %v", mounts, err)
	}
}

// TestSandboxDrives: mounting and unmounting a drive.
func TestSandboxDrives(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		tg.skipOnReal(t, "mount drives (no workspace identity, no blfs); see TestSandboxRealEnvironment")
		ctx := tg.ctx(t)
		mnt := "/mnt/" + tg.procName(t)
		m, err := tg.sb.MountDrive(ctx, &sandbox.DriveMount{DriveName: "data", MountPath: mnt, ReadOnly: true})
		if err != nil || m.MountPath != mnt || m.DriveName != "data" || !m.ReadOnly {
			t.Fatalf("MountDrive = %+v, %v", m, err)
		}
		mounts, err := tg.sb.ListDrives(ctx)
		if err != nil || !slices.ContainsFunc(mounts, func(d sandbox.DriveMount) bool { return d.MountPath == mnt }) {
			t.Errorf("Drives = %+v, %v", mounts, err)
		}
		if err := tg.sb.UnmountDrive(ctx, mnt); err != nil {
			t.Fatal(err)
		}
		mounts, err = tg.sb.ListDrives(ctx)
		if err != nil || slices.ContainsFunc(mounts, func(d sandbox.DriveMount) bool { return d.MountPath == mnt }) {
			t.Errorf("Drives after UnmountDrive = %+v, %v", mounts, err)
		}
	})
}

// TestSandboxTunnel: replacing and tearing down the outbound tunnel.
func TestSandboxTunnel(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		tg.skipOnReal(t, "bring a tunnel up (no WireGuard peer; a tunnel would reroute the shared server's traffic); see TestSandboxTunnelErrors")
		ctx := tg.ctx(t)
		config := `{"private_key":"yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=","local_ip":"10.0.0.2/32",` +
			`"peer_public_key":"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=","peer_endpoint":"192.0.2.1:51820","allowed_ips":["10.0.0.0/24"]}`
		if err := tg.sb.UpdateTunnel(ctx, []byte(config)); err != nil {
			t.Errorf("UpdateTunnel: %v", err)
		}
		if err := tg.sb.DisconnectTunnel(ctx); err != nil {
			t.Errorf("DisconnectTunnel: %v", err)
		}
	})
}

// TestSandboxEnvironment: reloading the environment from the sandbox
// metadata.
func TestSandboxEnvironment(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		tg.skipOnReal(t, "reload its environment (no /bl/metadata); see TestSandboxRealEnvironment")
		ctx := tg.ctx(t)
		if _, err := tg.sb.ReloadEnvironment(ctx); err != nil {
			t.Errorf("ReloadEnvironment: %v", err)
		}
	})
}

// TestSandboxUpgradeFails: an upgrade whose download fails is an
// *UpgradeError at "download" naming the URL, whether followed by
// Upgrade or, after StartUpgrade, by WatchUpgrade.
func TestSandboxUpgradeFails(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		const base = "http://127.0.0.1:9/releases"
		for _, version := range []string{"v0.0.1", "v0.0.2"} {
			if tg.mock != nil {
				// Nothing to download from on the mock either: it is told.
				if err := tg.mock.ScriptUpgrade(tg.sandboxID, mockserver.UpgradeScript{FailAt: "download",
					Error: "download failed after 4 attempts: connection refused"}); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if version == "v0.0.1" {
				var steps []sandbox.UpgradeStep
				_, err = tg.sb.Upgrade(ctx, &sandbox.UpgradeOptions{Version: version, BaseURL: base,
					OnProgress: func(p sandbox.UpgradeProgress) { steps = append(steps, p.Step) }})
				if !slices.Contains(steps, sandbox.StepDownload) {
					t.Errorf("progress %v has no download step", steps)
				}
			} else {
				before, herr := tg.sb.Health(ctx)
				if herr != nil {
					t.Fatal(herr)
				}
				ack, serr := tg.sb.StartUpgrade(ctx, &sandbox.StartUpgradeOptions{Version: version, BaseURL: base})
				if serr != nil || ack.Version != version || ack.BaseURL != base || ack.Message == "" {
					t.Fatalf("StartUpgrade = %+v, %v", ack, serr)
				}
				_, err = tg.sb.WatchUpgrade(ctx, &sandbox.WatchUpgradeOptions{Baseline: before})
			}
			ue, ok := errors.AsType[*sandbox.UpgradeError](err)
			if !ok {
				t.Fatalf("upgrade to %s: %v, want an *UpgradeError", version, err)
			}
			wantURL := base + "/download/" + version + "/sandbox-api-linux-amd64"
			if ue.Step != "download" || ue.Version != version || ue.DownloadURL != wantURL || !strings.Contains(ue.Message, "connection refused") {
				t.Errorf("upgrade to %s: %+v", version, ue)
			}
		}
	})
}

// TestSandboxUpgrade: a successful upgrade restarts the server in place:
// upgradeCount grows by one, startedAt changes, processes survive. On the
// real server the new build is the server's own binary, served from
// inside its namespace. It restarts the server, so it does not run in
// parallel with the other scenarios of this package.
func TestSandboxUpgrade(t *testing.T) {
	for _, mk := range sandboxTargets(t) {
		tg := mk(t)
		t.Run(tg.name, func(t *testing.T) {
			ctx := tg.ctx(t)
			base := "https://releases.example.test"
			if tg.real {
				base = serveOwnBuild(t, tg)
			}
			name := tg.procName(t)
			p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Name: name, Command: "sleep 60"})
			if err != nil {
				t.Fatal(err)
			}
			tg.killAtEnd(t, name)
			before, err := tg.sb.Health(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var steps []sandbox.UpgradeStep
			res, err := tg.sb.Upgrade(ctx, &sandbox.UpgradeOptions{Version: "latest", BaseURL: base,
				OnProgress: func(p sandbox.UpgradeProgress) { steps = append(steps, p.Step) }})
			if err != nil {
				t.Fatalf("Upgrade: %v (steps %v)", err, steps)
			}
			if !res.Restarted || res.After.UpgradeCount != before.UpgradeCount+1 || !res.After.StartedAt.After(before.StartedAt) ||
				res.Ack == nil || res.Ack.Version != "latest" || res.Ack.BaseURL != base {
				t.Errorf("Upgrade = %+v (before %+v)", res, before)
			}
			if len(steps) == 0 || steps[len(steps)-1] != sandbox.StepCompleted {
				t.Errorf("progress %v does not end with completed", steps)
			}
			q, err := tg.sb.GetProcess(ctx, name)
			if err != nil || q.PID != p.PID || q.Status != sandbox.StatusRunning {
				t.Errorf("the process after the upgrade: %+v, %v", q, err)
			}
		})
	}
}

// serveOwnBuild serves the real server's own binary as the "latest"
// release, from a process inside the server's namespace (see
// ../shared/real/README.md), and returns the base URL.
func serveOwnBuild(t *testing.T, tg *sandboxTarget) string {
	t.Helper()
	ctx := tg.ctx(t)
	port := 20000 + rand.IntN(10000)
	dir := tg.absDir(t)
	cmd := fmt.Sprintf("mkdir -p %[1]s/latest/download && cp /srv/sandbox-api %[1]s/latest/download/sandbox-api-linux-amd64 && cd %[1]s && exec python3 -m http.server %[2]d --bind 127.0.0.1", dir, port)
	p, err := tg.sb.Exec(ctx, &sandbox.ExecRequest{Command: cmd})
	if err != nil {
		t.Fatal(err)
	}
	tg.killAtEnd(t, p.PID)
	// Ready once the release answers.
	check := fmt.Sprintf("python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:%d/latest/download/sandbox-api-linux-amd64\").close()'", port)
	for {
		res, err := tg.sb.Run(ctx, check, nil)
		if err == nil && res.ExitCode == 0 {
			return fmt.Sprintf("http://127.0.0.1:%d", port)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the release server never answered: %+v, %v", res, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
