package mockserver

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Fault makes matching requests fail. Inject one with [Server.InjectFault].
// A fault applies to authenticated requests only (a missing key is still
// a 401) and is checked before the operation runs.
type Fault struct {
	// API restricts the fault to one API; "" matches all three.
	API API
	// Operation restricts it to one operation of that API: one of the
	// Op* constants, e.g. [OpCreateSandbox], [OpPauseSandbox],
	// [OpGetHealth]; "" matches any. A name the API does not have is an
	// error ([Operations] lists them).
	Operation string

	// Status is the status code to answer, 400 to 599 (e.g. 503). Zero
	// with Reset false and AfterCommit false makes a latency-only fault.
	Status int
	// Body is the raw answer body. Empty means the API's usual error body
	// for Status (lifecycle {"code","message"}, control plane
	// {"error","code"}, sandbox API {"error"}).
	Body string
	// RetryAfter, when positive, is sent as a Retry-After header (whole
	// seconds, rounded up).
	RetryAfter time.Duration
	// Latency delays the answer (real time, or a synctest bubble's fake
	// time; not the manual clock). The client's context still applies.
	Latency time.Duration
	// Reset drops the connection instead of answering: the in-memory
	// transport returns an ECONNRESET error, a TCP client sees the
	// connection closed.
	Reset bool
	// AfterCommit performs the operation first and then fails with Status
	// or Reset, so the change happened but the client cannot know: the
	// ambiguous create.
	AfterCommit bool

	// Times limits the fault to the first Times matching requests it
	// fires on; 0 means no limit.
	Times int
	// Probability, in (0, 1], makes the fault fire on that fraction of
	// matching requests, drawn from a generator seeded with Seed, so a run
	// is reproducible for a given request order. 0 means always.
	Probability float64
	// Seed seeds the Probability generator.
	Seed uint64
}

// FaultID identifies an injected fault.
type FaultID int

// FaultStatus is an injected fault and how often it fired.
type FaultStatus struct {
	// ID identifies the fault.
	ID FaultID
	// Fault is the fault as injected.
	Fault Fault
	// Fired counts the requests it shaped.
	Fired int
}

type activeFault struct {
	id    FaultID
	f     Fault
	fired int
	rng   *rand.Rand
}

type faultSet struct {
	mu     sync.Mutex
	nextID FaultID
	faults []*activeFault
}

// InjectFault adds f; faults are tried in the order they were injected
// and the first that fires shapes the answer. It returns an id for
// [Server.RemoveFault].
func (s *Server) InjectFault(f Fault) (FaultID, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.nextID++
	af := &activeFault{id: s.faults.nextID, f: f}
	if f.Probability > 0 {
		af.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	}
	s.faults.faults = append(s.faults.faults, af)
	return af.id, nil
}

// RemoveFault removes the fault with id; it reports whether it was there.
func (s *Server) RemoveFault(id FaultID) bool {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	n := len(s.faults.faults)
	s.faults.faults = slices.DeleteFunc(s.faults.faults, func(a *activeFault) bool { return a.id == id })
	return len(s.faults.faults) != n
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.clear() }

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

// FaultFired returns how many times the fault with id has fired.
func (s *Server) FaultFired(id FaultID) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, a := range s.faults.faults {
		if a.id == id {
			return a.fired
		}
	}
	return 0
}

// Faults lists the injected faults in the order they are tried.
func (s *Server) Faults() []FaultStatus {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]FaultStatus, len(s.faults.faults))
	for i, a := range s.faults.faults {
		out[i] = FaultStatus{ID: a.id, Fault: a.f, Fired: a.fired}
	}
	return out
}

// validate checks f; its errors match sandboxkit.ErrInvalidInput.
func (f *Fault) validate() error {
	switch f.API {
	case "", APILifecycle, APIControlPlane, APISandbox:
	default:
		return invalidf("mockserver: Fault: unknown API %q (want lifecycle, controlplane or sandbox)", string(f.API))
	}
	if err := checkOperation(f.API, f.Operation); err != nil {
		return err
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return invalidf("mockserver: Fault: status %d cannot be a fault (want an error status, 400 to 599)", f.Status)
	}
	if f.Latency < 0 || f.RetryAfter < 0 {
		return invalidf("mockserver: Fault: negative duration")
	}
	if f.Times < 0 {
		return invalidf("mockserver: Fault: negative Times")
	}
	if f.Probability < 0 || f.Probability > 1 || f.Probability != f.Probability {
		return invalidf("mockserver: Fault: probability %v not in [0, 1]", f.Probability)
	}
	if f.AfterCommit && f.Status == 0 && !f.Reset {
		return invalidf("mockserver: Fault: AfterCommit needs Status or Reset")
	}
	if f.Status == 0 && !f.Reset && f.Latency == 0 {
		return invalidf("mockserver: Fault: does nothing (no Status, Reset or Latency)")
	}
	return nil
}

// match returns the fault that fires for this request, counting it, or
// nil.
func (fs *faultSet) match(api API, op string) (FaultID, *Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, a := range fs.faults {
		f := &a.f
		if (f.API != "" && f.API != api) || (f.Operation != "" && f.Operation != op) {
			continue
		}
		if f.Times > 0 && a.fired >= f.Times {
			continue
		}
		if a.rng != nil && a.rng.Float64() >= f.Probability {
			continue
		}
		a.fired++
		cp := *f
		return a.id, &cp
	}
	return 0, nil
}

// writeFault answers with f's status and body.
func writeFault(w http.ResponseWriter, api API, f *Fault) {
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if f.Body != "" {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	writeAPIError(w, api, f.Status, "injected fault")
}
