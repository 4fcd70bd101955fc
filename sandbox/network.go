package sandbox

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// PortInfo is a socket a process has open.
type PortInfo struct {
	// PID is the process that owns the socket.
	PID int
	// Protocol is "tcp" or "udp".
	Protocol string
	// LocalAddr and LocalPort are the local end.
	LocalAddr string
	LocalPort int
	// RemoteAddr and RemotePort are the remote end, if connected.
	RemoteAddr string
	RemotePort int
	// State is the socket state, such as "LISTEN".
	State string
	// ProcessName is the owning process's name.
	ProcessName string
}

// ListPorts returns the sockets the process with the given operating-system
// pid has open.
//
// GET /network/process/{pid}/ports
func (c *Client) ListPorts(ctx context.Context, pid int) ([]PortInfo, error) {
	const op = "ListPorts"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPID(pid); err != nil {
		return nil, wrap(ctx, op, err)
	}
	r, err := c.api.GetProcessPorts(ctx, sandboxapi.GetProcessPortsParams{Pid: pid})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	ports, err := decodePorts(r["ports"])
	if err != nil {
		return nil, wrap(ctx, op, fmt.Errorf("decoding ports: %w", err))
	}
	return ports, nil
}

// MonitorPorts makes the server watch the process for newly opened ports
// and POST {"pid", "port"} to callbackURL for each. The callback is made
// from inside the sandbox.
//
// POST /network/process/{pid}/monitor
func (c *Client) MonitorPorts(ctx context.Context, pid int, callbackURL string) error {
	const op = "MonitorPorts"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkPID(pid); err != nil {
		return wrap(ctx, op, err)
	}
	if u, err := url.Parse(callbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "callback URL", Value: callbackURL, Reason: "must be an absolute http or https URL"})
	}
	_, err := c.api.StartPortMonitor(ctx, &sandboxapi.PortMonitorRequest{Callback: sandboxapi.NewOptString(callbackURL)},
		sandboxapi.StartPortMonitorParams{Pid: pid})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// StopMonitoringPorts ends what [Client.MonitorPorts] started.
//
// DELETE /network/process/{pid}/monitor
func (c *Client) StopMonitoringPorts(ctx context.Context, pid int) error {
	const op = "StopMonitoringPorts"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkPID(pid); err != nil {
		return wrap(ctx, op, err)
	}
	_, err := c.api.StopPortMonitor(ctx, sandboxapi.StopPortMonitorParams{Pid: pid})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// UpdateTunnel replaces the outbound tunnel with one built from config,
// the tunnel's JSON configuration document, which the client
// base64-encodes: for the real server, WireGuard settings "private_key",
// "local_ip" (CIDR), "peer_endpoint" (host:port), "peer_public_key",
// optional "allowed_ips" (CIDRs; all traffic by default) and "mtu". A
// configuration the server cannot use is 422. The configuration cannot be
// read back.
//
// PUT /network/tunnel/config
func (c *Client) UpdateTunnel(ctx context.Context, config []byte) error {
	const op = "UpdateTunnel"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if len(config) == 0 {
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "tunnel config", Reason: "must not be empty"})
	}
	_, err := c.api.UpdateTunnelConfig(ctx, &sandboxapi.TunnelConfigRequest{Config: base64.StdEncoding.EncodeToString(config)})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// DisconnectTunnel tears the outbound tunnel down. The sandbox then has no
// outbound connectivity until [Client.UpdateTunnel]; inbound traffic keeps
// working. Without a tunnel the server answers 400.
//
// DELETE /network/tunnel
func (c *Client) DisconnectTunnel(ctx context.Context) error {
	const op = "DisconnectTunnel"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	_, err := c.api.DisconnectTunnel(ctx)
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}
