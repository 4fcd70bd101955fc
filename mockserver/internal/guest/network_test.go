package guest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

func (e *env) ports(t *testing.T, pid int) []int {
	t.Helper()
	pr, err := e.client.GetProcessPorts(t.Context(), sandboxapi.GetProcessPortsParams{Pid: pid})
	if err != nil {
		t.Fatalf("GetProcessPorts(%d): %v", pid, err)
	}
	var gotPid int
	var ports []portInfo
	if err := json.Unmarshal(pr["pid"], &gotPid); err != nil || gotPid != pid {
		t.Errorf("pid %s", pr["pid"])
	}
	if err := json.Unmarshal(pr["ports"], &ports); err != nil || ports == nil {
		t.Fatalf("ports %s: %v", pr["ports"], err)
	}
	out := []int{}
	for _, p := range ports {
		if p.PID != pid || p.Protocol != "tcp" || p.State != "LISTEN" {
			t.Errorf("port %+v", p)
		}
		out = append(out, p.LocalPort)
	}
	return out
}

func TestProcessPorts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := setupMem(t, Config{})
		e.g.RegisterCommand("server", func(ctx context.Context, c *Cmd) (int, error) {
			if err := c.Sleep(ctx, 2*time.Second); err != nil {
				return 1, err
			}
			c.OpenPort(9000)
			c.OpenPort(3000)
			<-ctx.Done()
			return 0, nil
		})
		// waitForPorts answers once the command listens on them.
		type answer struct {
			code int
			body string
		}
		ch := make(chan answer, 1)
		go func() {
			resp, body := e.do(t, http.MethodPost, "/process", `{"command":"server","waitForPorts":[3000]}`)
			ch <- answer{resp.StatusCode, body}
		}()
		synctest.Wait()
		e.clock.Advance(time.Second)
		synctest.Wait()
		select {
		case a := <-ch:
			t.Fatalf("answered before the port opened: %+v", a)
		default:
		}
		e.clock.Advance(time.Second)
		if a := <-ch; a.code != http.StatusOK || !strings.Contains(a.body, `"status":"running"`) {
			t.Fatalf("waitForPorts answer: %+v", a)
		}
		if d := cmp.Diff([]int{3000, 9000}, e.ports(t, 1000)); d != "" {
			t.Errorf("ports (-want +got):\n%s", d)
		}
		if got := e.ports(t, 4242); len(got) != 0 {
			t.Errorf("unknown pid: %v", got)
		}
		if _, err := e.client.KillProcess(t.Context(), sandboxapi.KillProcessParams{Identifier: "1000"}); err != nil {
			t.Fatal(err)
		}
		if got := e.ports(t, 1000); len(got) != 0 {
			t.Errorf("ports of a killed process: %v", got)
		}
		// A command that never listens: 422 once the timeout runs out.
		go func() {
			resp, body := e.do(t, http.MethodPost, "/process", `{"command":"sleep 10","waitForPorts":[8080],"timeout":3}`)
			ch <- answer{resp.StatusCode, body}
		}()
		synctest.Wait()
		e.clock.Advance(3 * time.Second)
		if a := <-ch; a.code != http.StatusUnprocessableEntity || a.body != `{"error":"process timed out waiting for ports after 3 seconds"}` {
			t.Errorf("waitForPorts timeout: %+v", a)
		}
	})
}

func TestPortMonitor(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	m, err := e.client.StartPortMonitor(t.Context(), &sandboxapi.PortMonitorRequest{Callback: sandboxapi.NewOptString("http://cb.test/ports")}, sandboxapi.StartPortMonitorParams{Pid: 1000})
	if err != nil || string(m["path"]) != `""` || string(m["message"]) != `"Port monitoring started"` {
		t.Fatalf("StartPortMonitor = %#v, %v", m, err)
	}
	if cb, ok := e.g.PortMonitor(1000); !ok || cb != "http://cb.test/ports" {
		t.Errorf("PortMonitor = %q, %v", cb, ok)
	}
	if _, err := e.client.StopPortMonitor(t.Context(), sandboxapi.StopPortMonitorParams{Pid: 1000}); err != nil {
		t.Fatalf("StopPortMonitor: %v", err)
	}
	if _, ok := e.g.PortMonitor(1000); ok {
		t.Error("monitor still on")
	}
}

func TestTunnel(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	if _, err := e.client.DisconnectTunnel(ctx); statusOf(err) != http.StatusBadRequest {
		t.Errorf("disconnect without tunnel: %v, want a 400", err)
	}
	for _, cfg := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("not json")), base64.StdEncoding.EncodeToString([]byte("[1]"))} {
		if _, err := e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: cfg}); statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("config %q: %v, want a 422", cfg, err)
		}
	}
	if _, err := e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: ""}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("empty config: %v, want a 400", err)
	}
	conf := `{"local_ip":"10.0.0.1/32","peer_endpoint":"192.0.2.1:51820","peer_public_key":"` + testKey + `","private_key":"` + testKey + `"}`
	if _, err := e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: base64.StdEncoding.EncodeToString([]byte(conf))}); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if got, ok := e.g.Tunnel(); !ok || string(got) != conf {
		t.Errorf("Tunnel() = %s, %v", got, ok)
	}
	if _, err := e.client.DisconnectTunnel(ctx); err != nil {
		t.Errorf("disconnect: %v", err)
	}
	if _, ok := e.g.Tunnel(); ok {
		t.Error("tunnel still up")
	}
}

func TestDrives(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	mount := func(name, mp string) (*sandboxapi.DriveMountResponse, error) {
		return e.client.MountDrive(ctx, &sandboxapi.DriveMountRequest{DriveName: name, MountPath: mp, ReadOnly: sandboxapi.NewOptBool(true)})
	}
	m, err := mount("data", "/mnt/data/")
	if err != nil || m.MountPath.Or("") != "/mnt/data" || m.DrivePath.Or("") != "/" || !m.Success.Or(false) {
		t.Fatalf("mount = %#v, %v", m, err)
	}
	if _, err := mount("other", "/mnt/data"); statusOf(err) != http.StatusConflict {
		t.Errorf("second mount on /mnt/data: %v, want a 409", err)
	}
	for _, bad := range [][2]string{{"../x", "/mnt/x"}, {"ok", "relative"}} {
		if _, err := mount(bad[0], bad[1]); statusOf(err) != http.StatusBadRequest {
			t.Errorf("mount %v: %v, want a 400", bad, err)
		}
	}
	if _, err := mount("logs", "/mnt/logs"); err != nil {
		t.Fatal(err)
	}
	l, err := e.client.ListDrives(ctx)
	if err != nil || len(l.Mounts) != 2 || l.Mounts[0].MountPath.Value != "/mnt/data" || !l.Mounts[0].ReadOnly.Value {
		t.Fatalf("ListDrives = %#v, %v", l, err)
	}
	if fileOrDir(t, e, "/mnt/data") != "directory" {
		t.Error("mount point is not a directory")
	}
	// Unmount, with the mount point in its different URL forms.
	for _, p := range []string{"/drives/mount//mnt/data", "/drives/mount/%2Fmnt%2Flogs"} {
		resp, body := e.do(t, http.MethodDelete, p, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("DELETE %s = %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := e.do(t, http.MethodDelete, "/drives/mount/mnt/data", "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("unmount of nothing = %d %s", resp.StatusCode, body)
	}
}

func fileOrDir(t *testing.T, e *env, p string) string {
	t.Helper()
	res, err := e.client.GetFilesystem(t.Context(), sandboxapi.GetFilesystemParams{Path: p})
	f, ok := res.(*sandboxapi.FileOrDirectory)
	if err != nil || !ok {
		return "missing"
	}
	if f.Type == sandboxapi.DirectoryFileOrDirectory {
		return "directory"
	}
	return "file"
}

func TestReloadEnvironment(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Env: map[string]string{"A": "1", "B": "2"}})
	reload := func() [3]int64 {
		t.Helper()
		r, err := e.client.ReloadEnvironment(t.Context())
		if err != nil {
			t.Fatalf("ReloadEnvironment: %v", err)
		}
		return [3]int64{int64(r.Applied.Value), int64(r.Removed.Value), r.Generation.Value}
	}
	if got := reload(); got != [3]int64{2, 0, 1} {
		t.Errorf("first reload = %v", got)
	}
	e.g.SetEnvironment(map[string]string{"B": "3", "C": "4"})
	if got := reload(); got != [3]int64{2, 1, 2} {
		t.Errorf("second reload = %v", got)
	}
	p := e.exec(t, `{"command":"echo $A-$B-$C"}`)
	if q := e.getProcess(t, p.Pid); q.Stdout.Value != "-3-4\n" {
		t.Errorf("environment after reload: %q", q.Stdout.Value)
	}
}

func TestCodegenIsNotConfigured(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	_, err := e.client.FastApply(t.Context(), &sandboxapi.ApplyEditRequest{CodeEdit: "x"}, sandboxapi.FastApplyParams{Path: "a.go"})
	if se := new(sandboxapi.ErrorStatusCode); !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.Response.Error != errCodegenOff {
		t.Errorf("FastApply: %v, want a 400 saying %q", err, errCodegenOff)
	}
	resp, body := e.do(t, http.MethodGet, "/codegen/reranking/src/pkg?query=where", "")
	if resp.StatusCode != http.StatusBadRequest || errorBody(t, resp, body) != errCodegenOff {
		t.Errorf("reranking = %d %s", resp.StatusCode, body)
	}
}

// testKey is a WireGuard key: 32 bytes in base64.
const testKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

// TestTunnelValidation: the server's checks of a tunnel configuration, in
// its order and words. Every case is invalid: a valid configuration would
// reroute the shared real server.
func TestTunnelValidation(t *testing.T) {
	t.Parallel()
	valid := `"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4:5","peer_public_key":"` + testKey + `","private_key":"` + testKey + `"`
	cases := []struct{ config, want string }{
		{`{"peer_endpoint":"192.0.2.1:51820"}`, "invalid configuration: local_ip is required"},
		{`null`, "invalid configuration: local_ip is required"},
		{`[]`, "failed to parse JSON configuration: json: cannot unmarshal array into Go value of type networking.WireGuardConfig"},
		{`"x"`, "failed to parse JSON configuration: json: cannot unmarshal string into Go value of type networking.WireGuardConfig"},
		{`{"mtu":"x"}`, "failed to parse JSON configuration: json: cannot unmarshal string into Go struct field WireGuardConfig.mtu of type int"},
		{`{"mtu":1.5}`, "failed to parse JSON configuration: json: cannot unmarshal number 1.5 into Go struct field WireGuardConfig.mtu of type int"},
		{`{"allowed_ips":[1]}`, "failed to parse JSON configuration: json: cannot unmarshal number into Go struct field WireGuardConfig.allowed_ips of type string"},
		{`{"persistent_keepalive":"x"}`, "failed to parse JSON configuration: json: cannot unmarshal string into Go struct field WireGuardConfig.persistent_keepalive of type int"},
		{`{"route_all":1}`, "failed to parse JSON configuration: json: cannot unmarshal number into Go struct field WireGuardConfig.route_all of type bool"},
		{`{"local_ip":"10.0.0.2/32",`, "failed to parse JSON configuration: unexpected end of JSON input"},
		{`{} x`, "failed to parse JSON configuration: invalid character 'x' after top-level value"},
		{`{"local_ip":"10.0.0.2"}`, "invalid configuration: local_ip must be in CIDR notation (e.g., 10.0.0.1/32): invalid CIDR address: 10.0.0.2"},
		{`{"LOCAL_IP":"10.0.0.2/33"}`, "invalid configuration: local_ip must be in CIDR notation (e.g., 10.0.0.1/32): invalid CIDR address: 10.0.0.2/33"},
		{`{"local_ip":"10.0.0.2/32"}`, "invalid configuration: peer_endpoint is required"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4"}`, "invalid configuration: peer_endpoint must be in host:port format (e.g., 1.2.3.4:51820): address 1.2.3.4: missing port in address"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"a:b:c"}`, "invalid configuration: peer_endpoint must be in host:port format (e.g., 1.2.3.4:51820): address a:b:c: too many colons in address"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"[::1]:5"}`, "invalid configuration: peer_public_key is required"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4:5","peer_public_key":"abc"}`, "invalid configuration: invalid peer_public_key: not valid base64: illegal base64 data at input byte 0"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4:5","peer_public_key":"YWJj"}`, "invalid configuration: invalid peer_public_key: expected 32 bytes, got 3"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4:5","peer_public_key":"` + testKey + `"}`, "invalid configuration: private_key is required"},
		{`{"local_ip":"10.0.0.2/32","peer_endpoint":"1.2.3.4:5","peer_public_key":"` + testKey + `","private_key":"!!"}`, "invalid configuration: invalid private_key: not valid base64: illegal base64 data at input byte 0"},
		{`{` + valid + `,"allowed_ips":["10.0.0.0/24","x"]}`, `invalid configuration: invalid allowed_ip "x": invalid CIDR address: x`},
		{`{` + valid + `,"mtu":67}`, "invalid configuration: mtu must be between 68 and 65535, got 67"},
		{`{` + valid + `,"mtu":-1}`, "invalid configuration: mtu must be between 68 and 65535, got -1"},
		{`{` + valid + `,"mtu":65536}`, "invalid configuration: mtu must be between 68 and 65535, got 65536"},
	}
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, tc := range cases {
			body := jsonBody(map[string]string{"config": base64.StdEncoding.EncodeToString([]byte(tc.config))})
			resp, got := tg.call(t, http.MethodPut, "/network/tunnel/config", body)
			want := jsonBody(map[string]string{"error": "invalid tunnel config: " + tc.want})
			if resp.StatusCode != http.StatusUnprocessableEntity || got != want {
				t.Errorf("config %s = %d %s, want 422 %s", tc.config, resp.StatusCode, got, want)
			}
		}
		for _, body := range []string{`{"config":""}`, `{}`} {
			resp, got := tg.call(t, http.MethodPut, "/network/tunnel/config", body)
			if want := jsonBody(map[string]string{"error": errRequiredConfig}); resp.StatusCode != http.StatusBadRequest || got != want {
				t.Errorf("body %s = %d %s, want 400 %s", body, resp.StatusCode, got, want)
			}
		}
		resp, got := tg.call(t, http.MethodPut, "/network/tunnel/config", `{"config":"!!"}`)
		if want := `{"error":"invalid tunnel config: failed to decode base64 configuration: illegal base64 data at input byte 0"}`; resp.StatusCode != http.StatusUnprocessableEntity || got != want {
			t.Errorf("config !! = %d %s", resp.StatusCode, got)
		}
	})
}
