package mockserver

import (
	"github.com/sandboxkit/sandboxkit"
)

// ClientOptions returns the options that point a sandboxkit client of api
// at this server: its base URL (URL()+"/v1" or URL()+"/v0"; none for the
// sandbox API, whose base URL comes from an endpoint or metadata.url), its
// in-memory [Server.HTTPClient], no environment lookups, and, when tenants
// are configured, the credential of the first one given to [WithTenant].
// Append a WithAPIKey or WithToken option to act as another tenant.
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
