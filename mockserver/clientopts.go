package mockserver

import (
	"github.com/sandboxkit/sandboxkit/client"
)

// ClientOptions returns the options that point a sandboxkit client of api
// at this server: its base URL (URL()+"/v1" or URL()+"/v0"; none for the
// sandbox API, whose base URL comes from an endpoint or metadata.url), its
// in-memory [Server.HTTPClient], no environment lookups, and, when tenants
// are configured, the credential of the first one given to [WithTenant].
// Append a WithAPIKey or WithToken option to act as another tenant.
func (s *Server) ClientOptions(api client.API) []client.Option {
	opts := []client.Option{client.WithoutEnvironment(), client.WithHTTPClient(s.HTTPClient())}
	switch api {
	case client.Lifecycle:
		opts = append(opts, client.WithBaseURL(s.URL()+"/v1"))
	case client.ControlPlane:
		opts = append(opts, client.WithBaseURL(s.URL()+"/v0"))
	}
	s.cfgMu.RLock()
	key := s.cfg.firstKey
	s.cfgMu.RUnlock()
	if key != "" {
		if api == client.Lifecycle {
			opts = append(opts, client.WithAPIKey(key))
		} else {
			opts = append(opts, client.WithToken(key))
		}
	}
	return opts
}
