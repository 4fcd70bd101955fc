package guest

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	res, err := e.client.GetProcessPorts(t.Context(), sandboxapi.GetProcessPortsParams{Pid: pid})
	pr, ok := res.(*sandboxapi.ProcessPortsResponse)
	if err != nil || !ok {
		t.Fatalf("GetProcessPorts(%d) = %#v, %v", pid, res, err)
	}
	var gotPid int
	var ports []portInfo
	if err := json.Unmarshal((*pr)["pid"], &gotPid); err != nil || gotPid != pid {
		t.Errorf("pid %s", (*pr)["pid"])
	}
	if err := json.Unmarshal((*pr)["ports"], &ports); err != nil || ports == nil {
		t.Fatalf("ports %s: %v", (*pr)["ports"], err)
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
	res, err := e.client.StartPortMonitor(t.Context(), &sandboxapi.PortMonitorRequest{Callback: sandboxapi.NewOptString("http://cb.test/ports")}, sandboxapi.StartPortMonitorParams{Pid: 1000})
	m, ok := res.(*sandboxapi.PortMonitorResponse)
	if err != nil || !ok || string((*m)["path"]) != `""` || string((*m)["message"]) != `"Port monitoring started"` {
		t.Fatalf("StartPortMonitor = %#v, %v", res, err)
	}
	if cb, ok := e.g.PortMonitor(1000); !ok || cb != "http://cb.test/ports" {
		t.Errorf("PortMonitor = %q, %v", cb, ok)
	}
	sres, err := e.client.StopPortMonitor(t.Context(), sandboxapi.StopPortMonitorParams{Pid: 1000})
	if _, ok := sres.(*sandboxapi.PortMonitorResponse); err != nil || !ok {
		t.Fatalf("StopPortMonitor = %#v, %v", sres, err)
	}
	if _, ok := e.g.PortMonitor(1000); ok {
		t.Error("monitor still on")
	}
}

func TestTunnel(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	dres, err := e.client.DisconnectTunnel(ctx)
	if _, ok := dres.(*sandboxapi.DisconnectTunnelBadRequest); err != nil || !ok {
		t.Errorf("disconnect without tunnel = %#v, %v", dres, err)
	}
	for _, cfg := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("not json")), base64.StdEncoding.EncodeToString([]byte("[1]"))} {
		res, err := e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: cfg})
		if _, ok := res.(*sandboxapi.UpdateTunnelConfigUnprocessableEntity); err != nil || !ok {
			t.Errorf("config %q = %#v, %v", cfg, res, err)
		}
	}
	res, err := e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: ""})
	if _, ok := res.(*sandboxapi.UpdateTunnelConfigBadRequest); err != nil || !ok {
		t.Errorf("empty config = %#v, %v", res, err)
	}
	conf := `{"local_ip":"10.0.0.1/32"}`
	res, err = e.client.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: base64.StdEncoding.EncodeToString([]byte(conf))})
	if _, ok := res.(*sandboxapi.SuccessResponse); err != nil || !ok {
		t.Fatalf("valid config = %#v, %v", res, err)
	}
	if got, ok := e.g.Tunnel(); !ok || string(got) != conf {
		t.Errorf("Tunnel() = %s, %v", got, ok)
	}
	dres, err = e.client.DisconnectTunnel(ctx)
	if _, ok := dres.(*sandboxapi.SuccessResponse); err != nil || !ok {
		t.Errorf("disconnect = %#v, %v", dres, err)
	}
	if _, ok := e.g.Tunnel(); ok {
		t.Error("tunnel still up")
	}
}

func TestDrives(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	mount := func(name, mp string) sandboxapi.MountDriveRes {
		t.Helper()
		res, err := e.client.MountDrive(ctx, &sandboxapi.DriveMountRequest{DriveName: name, MountPath: mp, ReadOnly: sandboxapi.NewOptBool(true)})
		if err != nil {
			t.Fatalf("MountDrive(%s, %s): %v", name, mp, err)
		}
		return res
	}
	r := mount("data", "/mnt/data/")
	if m, ok := r.(*sandboxapi.DriveMountResponse); !ok || m.MountPath.Or("") != "/mnt/data" || m.DrivePath.Or("") != "/" || !m.Success.Or(false) {
		t.Fatalf("mount = %#v", r)
	}
	if _, ok := mount("other", "/mnt/data").(*sandboxapi.MountDriveConflict); !ok {
		t.Error("second mount on /mnt/data is not a conflict")
	}
	for _, bad := range [][2]string{{"../x", "/mnt/x"}, {"ok", "relative"}} {
		if _, ok := mount(bad[0], bad[1]).(*sandboxapi.MountDriveBadRequest); !ok {
			t.Errorf("mount %v is not a 400", bad)
		}
	}
	mount("logs", "/mnt/logs")
	lres, err := e.client.ListDrives(ctx)
	l, ok := lres.(*sandboxapi.DriveListResponse)
	if err != nil || !ok || len(l.Mounts) != 2 || l.Mounts[0].MountPath.Value != "/mnt/data" || !l.Mounts[0].ReadOnly.Value {
		t.Fatalf("ListDrives = %#v, %v", lres, err)
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
		res, err := e.client.ReloadEnvironment(t.Context())
		r, ok := res.(*sandboxapi.ReloadResponse)
		if err != nil || !ok {
			t.Fatalf("ReloadEnvironment = %#v, %v", res, err)
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
	fres, err := e.client.FastApply(t.Context(), &sandboxapi.ApplyEditRequest{CodeEdit: "x"}, sandboxapi.FastApplyParams{Path: "a.go"})
	if r, ok := fres.(*sandboxapi.FastApplyBadRequest); err != nil || !ok || r.Error != errCodegenOff {
		t.Errorf("FastApply = %#v, %v", fres, err)
	}
	resp, body := e.do(t, http.MethodGet, "/codegen/reranking/src/pkg?query=where", "")
	if resp.StatusCode != http.StatusBadRequest || errorBody(t, resp, body) != errCodegenOff {
		t.Errorf("reranking = %d %s", resp.StatusCode, body)
	}
}
