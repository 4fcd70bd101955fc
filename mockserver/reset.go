package mockserver

import (
	"fmt"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// The server's state (stores, handlers bound to them, configuration) can
// be replaced as a whole by Reset. Everything that reads it holds the
// world lock for reading: requests while they route, authenticate and run
// an operation, and the Go methods that seed or inspect. Reset holds it
// for writing. Requests do not hold it while they wait for something that
// may take long (a sandbox API stream, a latency fault, a paused Docker
// sandbox, an upstream server), so a reset never waits for those.
//
// Timer callbacks of the stores do not take the world lock: they work on
// the store that armed them (a reset closes it and cancels them) and read
// the configuration through cfgMu (transition modes) or under their
// store's lock (the control plane's retention).

// lease is one request's hold on the world lock, which it may give up
// while it waits and take again.
type lease struct {
	s    *Server
	held bool
}

// enter takes the world lock for reading.
func (s *Server) enter() *lease {
	s.world.RLock()
	return &lease{s: s, held: true}
}

// release gives the lock up; a released lease may be released again.
func (l *lease) release() {
	if l != nil && l.held {
		l.held = false
		l.s.world.RUnlock()
	}
}

// acquire takes the lock again after release.
func (l *lease) acquire() {
	if l != nil && !l.held {
		l.s.world.RLock()
		l.held = true
	}
}

// mode returns the mode of transitions of kind k under the current
// configuration.
func (s *Server) mode(k TransitionKind) Mode {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg.mode(k)
}

// Reset forgets every sandbox, snapshot, control plane sandbox, fault,
// scripted command and journal record, and restores the configuration
// the server was made with, changed by opts: [WithRuntime] switches the
// lifecycle runtime, [WithManualClock] puts the server on a manual clock
// (without it a server made on the wall clock returns to it, and one made
// on a manual clock keeps that clock and its time), and
// [WithTransitionDelay], [WithTransition], [WithRetention],
// [WithJournalLimit], [WithMaxSandboxTimeout] and [WithTenant] (which adds
// to the tenants the server was made with) apply as in [New]. Options
// that shape how the server is reached ([WithListener], [WithBaseURL],
// [WithLimits], [WithControlToken], [WithUpstream]) and
// [WithTerminatedLimit] are an error, as are
// invalid ones; then nothing changes.
//
// Requests in progress finish first (the sandbox API's open streams are
// cut), and requests that arrive meanwhile wait for the reset. In proxy
// mode a reset clears faults and the journal.
func (s *Server) Reset(opts ...Option) error {
	cfg := s.initial.clone()
	cfg.set = 0
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return invalidf("%v", err)
		}
	}
	if cfg.set&optFixed != 0 {
		return invalidf("mockserver: Reset: WithListener, WithBaseURL, WithLimits, WithControlToken, WithUpstream and WithTerminatedLimit can only be given to New")
	}
	if err := cfg.checkRuntime(); err != nil {
		return invalidf("%v", err)
	}
	if s.proxy != nil && cfg.set&^optJournalLimit != 0 {
		return ErrProxyMode
	}
	newClock := cfg.set&optClock != 0
	defer s.buryGuests()

	s.world.Lock()
	defer s.world.Unlock()
	s.lc.close()
	s.cp.close()
	s.faults.clear()
	s.commands.clear()
	s.journal.resize(cfg.journalMax)
	s.journal.reset()

	if !newClock {
		switch {
		case s.initial.manual == nil:
			// Back to the wall clock the server started on.
			cfg.clock, cfg.manual = clock.Real(), nil
			newClock = s.clock.manual() != nil
		default:
			// A manual clock goes on: time does not jump back.
			cfg.clock, cfg.manual = s.clock.current(), s.clock.manual()
		}
	}
	// The old control plane store's timers read the retention under its
	// lock: write the configuration holding it too.
	s.cp.mu.Lock()
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	s.cp.mu.Unlock()
	if newClock {
		s.clock.set(cfg.clock)
	}
	s.auth = authenticator{keys: cfg.tenants}
	return s.build()
}

// build makes the stores and the handlers bound to them from s.cfg.
// Called by New and, with the world lock held, by Reset.
func (s *Server) build() error {
	s.lc = newLCStore(s)
	s.cp = newCPStore(s)
	s.lcFront = &lcFront{srv: s, h: &lifecycleHandler{srv: s, st: s.lc}}
	var err error
	s.cpSrv, err = controlplanesrv.NewServer(&controlPlaneHandler{srv: s, st: s.cp}, controlPlaneSecurity{},
		controlplanesrv.WithPathPrefix("/v0"),
		controlplanesrv.WithErrorHandler(ogenErrorHandler(APIControlPlane)),
		controlplanesrv.WithNotFound(cpRouteNotFound),
		controlplanesrv.WithTracerProvider(s.tracer), controlplanesrv.WithMeterProvider(s.meter))
	if err != nil {
		return fmt.Errorf("mockserver: control plane server: %w", err)
	}
	return nil
}

// manualClock returns the server's manual clock, or nil when it runs on
// the wall clock.
func (s *Server) manualClock() *clock.Manual { return s.clock.manual() }
