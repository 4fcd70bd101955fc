package mockserver

import (
	"sync"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// armReap schedules the end of a terminated resource's retention: after
// the server's retention, if it is still terminated, remove forgets it.
// With no retention it is forgotten at once. Called with mu held; the
// timer takes mu itself. timer holds the pending call, replaced here.
func (s *Server) armReap(timer *clock.Timer, mu sync.Locker, terminated func() bool, remove func()) {
	stopTimer(timer)
	s.cfgMu.RLock()
	ret := s.cfg.retention
	s.cfgMu.RUnlock()
	if ret == 0 {
		remove()
		return
	}
	*timer = s.clock.AfterFunc(ret, func() {
		defer s.buryGuests()
		mu.Lock()
		defer mu.Unlock()
		if s.closed.Load() || !terminated() {
			return
		}
		remove()
	})
}
