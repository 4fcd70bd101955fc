package guest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

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

// GetProcessPorts implements GET /network/process/{pid}/ports: the
// sockets a running process and the commands it started listen on (or
// those of the command whose pid it is), each with the pid of the command
// that owns it, as the server finds them with ss. Any other pid has none.
func (h handler) GetProcessPorts(_ context.Context, params sandboxsrv.GetProcessPortsParams) (sandboxsrv.ProcessPortsResponse, error) {
	h.mu.Lock()
	ports := []portInfo{}
	for _, l := range h.portsOfLocked(params.Pid) {
		state := "LISTEN"
		if l.proto == "udp" {
			state = "UNCONN"
		}
		ports = append(ports, portInfo{
			PID: l.pid, Protocol: l.proto, LocalAddr: l.addr, LocalPort: l.port,
			State: state, ProcessName: l.name,
		})
	}
	h.mu.Unlock()
	b, _ := json.Marshal(ports)
	return sandboxsrv.ProcessPortsResponse{
		"pid":   jx.Raw(strconv.Itoa(params.Pid)),
		"ports": jx.Raw(b),
	}, nil
}

// monitorAnswer is the server's {"path":"","message"} answer.
func monitorAnswer(msg string) sandboxsrv.PortMonitorResponse {
	m, _ := json.Marshal(msg)
	return sandboxsrv.PortMonitorResponse{"path": jx.Raw(`""`), "message": jx.Raw(m)}
}

// StartPortMonitor implements POST /network/process/{pid}/monitor. The
// callback URL is recorded (see [Guest.PortMonitor]) but never called.
func (h handler) StartPortMonitor(_ context.Context, req *sandboxsrv.PortMonitorRequest, params sandboxsrv.StartPortMonitorParams) (sandboxsrv.PortMonitorResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.monitors[params.Pid] = req.Callback.Or("")
	return monitorAnswer("Port monitoring started"), nil
}

// StopPortMonitor implements DELETE /network/process/{pid}/monitor.
func (h handler) StopPortMonitor(_ context.Context, params sandboxsrv.StopPortMonitorParams) (sandboxsrv.PortMonitorResponse, error) {
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

// tunnelConfig is the tunnel configuration the server decodes, with its
// JSON names (matched case-insensitively, as encoding/json does).
type tunnelConfig struct {
	LocalIP             string   `json:"local_ip"`
	PeerEndpoint        string   `json:"peer_endpoint"`
	PeerPublicKey       string   `json:"peer_public_key"`
	PrivateKey          string   `json:"private_key"`
	MTU                 int      `json:"mtu"`
	ListenPort          int      `json:"listen_port"`
	InterfaceName       string   `json:"interface_name"`
	AllowedIPs          []string `json:"allowed_ips"`
	PersistentKeepalive *int     `json:"persistent_keepalive"`
	RouteAll            bool     `json:"route_all"`
}

// errRequiredConfig is the server's (gin binding) answer to a request
// without a config.
const errRequiredConfig = "invalid request body: Key: 'TunnelConfigRequest.Config' Error:Field validation for 'Config' failed on the 'required' tag"

// parseTunnelConfig decodes and checks a tunnel configuration as the
// server does, with its wording: defaults first (mtu 1420, allowed_ips
// 0.0.0.0/0), then each field in the server's order.
func parseTunnelConfig(b64 string) error {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("failed to decode base64 configuration: %w", err)
	}
	var c tunnelConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("failed to parse JSON configuration: %s", jsonErrorText(err))
	}
	if c.MTU == 0 {
		c.MTU = 1420
	}
	if len(c.AllowedIPs) == 0 {
		c.AllowedIPs = []string{"0.0.0.0/0"}
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// jsonErrorText is encoding/json's message as the server's decoder, whose
// type is networking.WireGuardConfig, words it.
func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	if te.Field == "" {
		return "json: cannot unmarshal " + te.Value + " into Go value of type networking.WireGuardConfig"
	}
	return "json: cannot unmarshal " + te.Value + " into Go struct field WireGuardConfig." + te.Field + " of type " + te.Type.String()
}

// validate checks the fields in the server's order.
func (c *tunnelConfig) validate() error {
	if c.LocalIP == "" {
		return errors.New("local_ip is required")
	}
	if _, _, err := net.ParseCIDR(c.LocalIP); err != nil {
		return fmt.Errorf("local_ip must be in CIDR notation (e.g., 10.0.0.1/32): %w", err)
	}
	if c.PeerEndpoint == "" {
		return errors.New("peer_endpoint is required")
	}
	if _, _, err := net.SplitHostPort(c.PeerEndpoint); err != nil {
		return fmt.Errorf("peer_endpoint must be in host:port format (e.g., 1.2.3.4:51820): %w", err)
	}
	for _, k := range []struct{ name, value string }{{"peer_public_key", c.PeerPublicKey}, {"private_key", c.PrivateKey}} {
		if k.value == "" {
			return errors.New(k.name + " is required")
		}
		key, err := base64.StdEncoding.DecodeString(k.value)
		switch {
		case err != nil:
			return fmt.Errorf("invalid %s: not valid base64: %w", k.name, err)
		case len(key) != 32:
			return fmt.Errorf("invalid %s: expected 32 bytes, got %d", k.name, len(key))
		}
	}
	for _, ip := range c.AllowedIPs {
		if _, _, err := net.ParseCIDR(ip); err != nil {
			return fmt.Errorf("invalid allowed_ip %q: %w", ip, err)
		}
	}
	if c.MTU < 68 || c.MTU > 65535 {
		return fmt.Errorf("mtu must be between 68 and 65535, got %d", c.MTU)
	}
	return nil
}

// UpdateTunnelConfig implements PUT /network/tunnel/config: the config is
// base64 of a JSON tunnel configuration, checked as the server checks it
// (422 "invalid tunnel config: ..." with its wording). A valid one is
// recorded (see [Guest.Tunnel]); no tunnel is really brought up.
func (h handler) UpdateTunnelConfig(_ context.Context, req *sandboxsrv.TunnelConfigRequest) (*sandboxsrv.SuccessResponse, error) {
	if req.Config == "" {
		return nil, failure(http.StatusBadRequest, errRequiredConfig)
	}
	if err := parseTunnelConfig(req.Config); err != nil {
		return nil, failure(http.StatusUnprocessableEntity, "invalid tunnel config: "+err.Error())
	}
	raw, _ := base64.StdEncoding.DecodeString(req.Config)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tunnel = raw
	return success("", "Tunnel configuration updated successfully"), nil
}

// DisconnectTunnel implements DELETE /network/tunnel: 400 when no tunnel
// runs (none does until a configuration is applied).
func (h handler) DisconnectTunnel(context.Context) (*sandboxsrv.SuccessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tunnel == nil {
		return nil, failure(http.StatusBadRequest, "no WireGuard client is running")
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
