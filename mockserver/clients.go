package mockserver

import (
	"fmt"
	"net/url"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Lifecycle returns a lifecycle client pointed at the server: its /v1 base
// URL, its in-memory transport and the first tenant's API key (see
// [Server.ClientOptions]). opts are applied after those, so they can
// change the key, the retry policy or the logger.
func (s *Server) Lifecycle(opts ...sandboxkit.Option) (*lifecycle.Client, error) {
	return lifecycle.New(append(s.ClientOptions(sandboxkit.Lifecycle), opts...)...)
}

// ControlPlane returns a control plane client pointed at the server's /v0
// base URL, like [Server.Lifecycle].
func (s *Server) ControlPlane(opts ...sandboxkit.Option) (*controlplane.Client, error) {
	return controlplane.New(append(s.ClientOptions(sandboxkit.ControlPlane), opts...)...)
}

// SandboxAPI returns a client for the sandbox API of lifecycle sandbox id,
// at the address its port-8080 endpoint names, with the first tenant's key
// as bearer token. The sandbox need not exist yet; requests to a missing
// one answer 404.
func (s *Server) SandboxAPI(id string, opts ...sandboxkit.Option) (*sandbox.Client, error) {
	if err := glue.ValidateID("sandbox id", id); err != nil {
		return nil, fmt.Errorf("mockserver: %w", err)
	}
	base := s.URL() + "/sandboxes/" + url.PathEscape(id) + "/port/8080"
	all := append(s.ClientOptions(sandboxkit.Sandbox), sandboxkit.WithBaseURL(base))
	return sandbox.New(append(all, opts...)...)
}
