package mockserver

import (
	"fmt"
	"net/url"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// ClientOptions returns the options that point a sandboxkit client of api
// at this server: its base URL (URL()+"/v1" or URL()+"/v0"; none for the
// sandbox API, whose base URL comes from an endpoint or metadata.url, see
// [Server.SandboxAPIOptions]), its in-memory [Server.HTTPClient], no
// environment lookups, and, when tenants are configured, the credential
// of the first one given to [WithTenant]. Append a WithAPIKey or
// WithToken option to act as another tenant:
//
//	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
//	cp, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane), sandboxkit.WithToken("key-2"))...)
func (s *Server) ClientOptions(api sandboxkit.API) []sandboxkit.Option {
	opts := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(s.HTTPClient())}
	switch api {
	case sandboxkit.Lifecycle:
		opts = append(opts, sandboxkit.WithBaseURL(s.URL()+"/v1"))
	case sandboxkit.ControlPlane:
		opts = append(opts, sandboxkit.WithBaseURL(s.URL()+"/v0"))
	}
	s.cfgMu.RLock()
	key := s.cfg.firstKey
	s.cfgMu.RUnlock()
	if key != "" {
		if api == sandboxkit.Lifecycle {
			opts = append(opts, sandboxkit.WithAPIKey(key))
		} else {
			opts = append(opts, sandboxkit.WithToken(key))
		}
	}
	return opts
}

// SandboxAPIOptions returns the options that point a sandbox API client
// at the API of lifecycle sandbox id: [Server.ClientOptions] for
// [sandboxkit.Sandbox] plus the base URL its port-8080 endpoint names
// (URL()+"/sandboxes/{id}/port/8080"), so the first tenant's key is the
// bearer token. The sandbox need not exist yet; requests to a missing one
// answer 404. An id that is empty or would leave its path segment is an
// error matching [sandboxkit.ErrInvalidInput].
//
//	opts, err := srv.SandboxAPIOptions(id)
//	...
//	api, err := sandbox.New(opts...)
func (s *Server) SandboxAPIOptions(id string) ([]sandboxkit.Option, error) {
	if err := glue.ValidateID("sandbox id", id); err != nil {
		return nil, fmt.Errorf("mockserver: %w", err)
	}
	base := s.URL() + "/sandboxes/" + url.PathEscape(id) + "/port/8080"
	return append(s.ClientOptions(sandboxkit.Sandbox), sandboxkit.WithBaseURL(base)), nil
}
