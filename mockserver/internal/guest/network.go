package guest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/go-faster/jx"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// portInfo is one open port, shaped like the real server's
// network.PortInfo.
type portInfo struct {
	PID         int    `json:"pid"`
	Protocol    string `json:"protocol"`
	LocalAddr   string `json:"localAddr"`
	LocalPort   int    `json:"localPort"`
	RemoteAddr  string `json:"remoteAddr"`
	RemotePort  int    `json:"remotePort"`
	State       string `json:"state"`
	ProcessName string `json:"processName"`
}

// GetProcessPorts implements GET /network/process/{pid}/ports: the ports a
// running process listens on, those its registered commands opened with
// Cmd.OpenPort. Any other pid has none.
func (h handler) GetProcessPorts(_ context.Context, params sandboxsrv.GetProcessPortsParams) (sandboxsrv.GetProcessPortsRes, error) {
	h.mu.Lock()
	ports := []portInfo{}
	if p, ok := h.procs[strconv.Itoa(params.Pid)]; ok && p.live {
		name := p.command
		if f := strings.Fields(name); len(f) > 0 {
			name = f[0]
		}
		for _, port := range slices.Sorted(slices.Values(p.ports)) {
			ports = append(ports, portInfo{
				PID: params.Pid, Protocol: "tcp", LocalAddr: "0.0.0.0", LocalPort: port,
				RemoteAddr: "0.0.0.0", State: "LISTEN", ProcessName: name,
			})
		}
	}
	h.mu.Unlock()
	b, _ := json.Marshal(ports)
	return &sandboxsrv.ProcessPortsResponse{
		"pid":   jx.Raw(strconv.Itoa(params.Pid)),
		"ports": jx.Raw(b),
	}, nil
}

// monitorAnswer is the server's {"path":"","message"} answer.
func monitorAnswer(msg string) *sandboxsrv.PortMonitorResponse {
	m, _ := json.Marshal(msg)
	return &sandboxsrv.PortMonitorResponse{"path": jx.Raw(`""`), "message": jx.Raw(m)}
}

// StartPortMonitor implements POST /network/process/{pid}/monitor. The
// callback URL is recorded (see [Guest.PortMonitor]) but never called.
func (h handler) StartPortMonitor(_ context.Context, req *sandboxsrv.PortMonitorRequest, params sandboxsrv.StartPortMonitorParams) (sandboxsrv.StartPortMonitorRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.monitors[params.Pid] = req.Callback.Or("")
	return monitorAnswer("Port monitoring started"), nil
}

// StopPortMonitor implements DELETE /network/process/{pid}/monitor.
func (h handler) StopPortMonitor(_ context.Context, params sandboxsrv.StopPortMonitorParams) (sandboxsrv.StopPortMonitorRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.monitors, params.Pid)
	return monitorAnswer("Port monitoring stopped"), nil
}

// PortMonitor returns the callback URL recorded for pid by POST
// /network/process/{pid}/monitor, if monitoring is on.
func (g *Guest) PortMonitor(pid int) (callback string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	callback, ok = g.monitors[pid]
	return callback, ok
}

var errNotObject = errors.New("not a JSON object")

// UpdateTunnelConfig implements PUT /network/tunnel/config: the config
// must be base64 of a JSON object (422 otherwise). No tunnel is really
// brought up.
func (h handler) UpdateTunnelConfig(_ context.Context, req *sandboxsrv.TunnelConfigRequest) (sandboxsrv.UpdateTunnelConfigRes, error) {
	if req.Config == "" {
		return &sandboxsrv.UpdateTunnelConfigBadRequest{Error: "invalid request body: config is required"}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(req.Config)
	if err != nil {
		return &sandboxsrv.UpdateTunnelConfigUnprocessableEntity{Error: "invalid tunnel config: failed to decode base64: " + err.Error()}, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		if err == nil {
			err = errNotObject
		}
		return &sandboxsrv.UpdateTunnelConfigUnprocessableEntity{Error: "invalid tunnel config: failed to parse config JSON: " + err.Error()}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tunnel = raw
	return success("", "Tunnel configuration updated successfully"), nil
}

// DisconnectTunnel implements DELETE /network/tunnel: 400 when no tunnel
// runs (none does until a configuration is applied).
func (h handler) DisconnectTunnel(context.Context) (sandboxsrv.DisconnectTunnelRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tunnel == nil {
		return &sandboxsrv.DisconnectTunnelBadRequest{Error: "no WireGuard client is running"}, nil
	}
	h.tunnel = nil
	return success("", "Tunnel disconnected"), nil
}

// Tunnel returns the decoded tunnel configuration last applied, if a
// tunnel runs.
func (g *Guest) Tunnel() (config []byte, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.tunnel), g.tunnel != nil
}
