package mockserver

import (
	"time"
)

// Info describes a server: what it mocks or forwards to, its clock and its
// URLs. See [Server.Info] and [Remote.Info].
type Info struct {
	// Proxy reports proxy mode ([WithUpstream]): requests go to Upstream,
	// an API server of kind UpstreamAPI.
	Proxy       bool
	Upstream    string
	UpstreamAPI API
	// Runtime is the lifecycle runtime the mock behaves like (mock mode).
	Runtime Runtime
	// Now is the time on the server's clock; ManualClock reports whether
	// it moves only when told to ([WithManualClock]).
	Now         time.Time
	ManualClock bool
	// URL is the server's base URL ([Server.URL]).
	URL string
	// JournalLimit is how many records of each kind the journal keeps (0:
	// all).
	JournalLimit int
}

// Info describes the server.
func (s *Server) Info() Info {
	s.cfgMu.RLock()
	rt := s.cfg.runtime
	s.cfgMu.RUnlock()
	in := Info{
		Runtime:      rt,
		Now:          s.clock.Now(),
		ManualClock:  s.manualClock() != nil,
		URL:          s.URL(),
		JournalLimit: s.journal.limit(),
	}
	if s.proxy != nil {
		in.Proxy, in.Upstream, in.UpstreamAPI, in.Runtime = true, s.proxy.display, s.proxy.api, ""
	}
	return in
}
