package mockserver

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// API names one of the three APIs the server simulates.
type API string

// The APIs. APIUnknown is a request that matched no route.
const (
	APILifecycle    API = "lifecycle"
	APIControlPlane API = "controlplane"
	APISandbox      API = "sandbox"
	APIUnknown      API = ""
)

// Entry is one request as the server saw it.
type Entry struct {
	// Time is when the request arrived, on the server's clock.
	Time time.Time
	// API is the API the path belongs to.
	API API
	// Operation is the ogen operation name (e.g. "CreateSandbox",
	// "GetHealth"), or "" when the route is unknown.
	Operation string
	// Method and Path are the request's; Path is the escaped path without
	// the query, which is in Query. A Path or Query longer than 1 KiB
	// (and a SandboxID longer than 256 bytes) is cut and ends with
	// "…(N bytes)", its length.
	Method, Path, Query string
	// Status is the status code answered, or 0 when the connection was
	// reset or the client went away before an answer.
	Status int
	// RequestID is the X-Request-ID of the answer.
	RequestID string
	// Tenant is the tenant the credential belongs to ("" when it was
	// missing or wrong).
	Tenant string
	// SandboxID is the lifecycle sandbox id or control plane sandbox name
	// the request addressed, when the path names one.
	SandboxID string
	// Fault is the id of the injected fault that shaped the answer, or 0.
	Fault FaultID
	// Reset reports that the connection was reset (an injected fault).
	Reset bool
}

// Filter selects journal entries; zero fields match anything.
type Filter struct {
	// API matches Entry.API.
	API API
	// Operation matches Entry.Operation, e.g. "PauseSandbox".
	Operation string
	// Method matches Entry.Method, e.g. "POST".
	Method string
	// Path matches Entry.Path exactly (escaped, no query).
	Path string
	// Status matches Entry.Status.
	Status int
	// Tenant matches Entry.Tenant.
	Tenant string
	// SandboxID matches Entry.SandboxID.
	SandboxID string
	// Faulted selects only entries an injected fault shaped.
	Faulted bool
}

func (f Filter) match(e *Entry) bool {
	return (f.API == "" || e.API == f.API) &&
		(f.Operation == "" || e.Operation == f.Operation) &&
		(f.Method == "" || e.Method == f.Method) &&
		(f.Path == "" || e.Path == f.Path) &&
		(f.Status == 0 || e.Status == f.Status) &&
		(f.Tenant == "" || e.Tenant == f.Tenant) &&
		(f.SandboxID == "" || e.SandboxID == f.SandboxID) &&
		(!f.Faulted || e.Fault != 0)
}

// Creation records a sandbox the server created (on request or through
// an after-commit fault, whose client saw an error).
type Creation struct {
	// API is APILifecycle or APIControlPlane.
	API API
	// ID is the lifecycle sandbox id or the control plane sandbox name.
	ID string
	// Tenant owns the sandbox.
	Tenant string
	// Time is when it was created, on the server's clock.
	Time time.Time
	// RequestID is the X-Request-ID of the create request.
	RequestID string
	// Metadata is the lifecycle metadata or the control plane labels.
	Metadata map[string]string
}

// Renewal records one successful renew-expiration call.
type Renewal struct {
	// SandboxID is the renewed lifecycle sandbox.
	SandboxID string
	// Tenant owns it.
	Tenant string
	// Time is when the renewal happened, on the server's clock.
	Time time.Time
	// RequestID is the X-Request-ID of the renew request.
	RequestID string
	// Old is the expiry before (zero when there was none), New after.
	Old, New time.Time
}

// Deletion records a sandbox that started terminating: a delete call or
// an expiry (then RequestID is "").
type Deletion struct {
	// API is APILifecycle or APIControlPlane.
	API API
	// ID is the lifecycle sandbox id or the control plane sandbox name.
	ID string
	// Tenant owns the sandbox.
	Tenant string
	// Time is when termination started, on the server's clock.
	Time time.Time
	// RequestID is the X-Request-ID of the delete request; "" for an
	// expiry.
	RequestID string
	// Reason is "user_delete" or "ttl_expiry" (lifecycle), "user_delete"
	// or "expired" (control plane).
	Reason string
}

// ring keeps the newest max records (all of them when max is 0) and
// counts every record added.
type ring[T any] struct {
	max   int
	items []T
	start int // index of the oldest item once the ring is full
	added int64
}

func (r *ring[T]) add(v T) {
	r.added++
	if r.max > 0 && len(r.items) == r.max {
		r.items[r.start] = v
		r.start = (r.start + 1) % r.max
		return
	}
	r.items = append(r.items, v)
}

// all returns the kept records, oldest first.
func (r *ring[T]) all() []T {
	out := make([]T, 0, len(r.items))
	out = append(out, r.items[r.start:]...)
	return append(out, r.items[:r.start]...)
}

func (r *ring[T]) reset() { r.items, r.start, r.added = nil, 0, 0 }

func (r *ring[T]) count() RecordCount {
	return RecordCount{Recorded: r.added, Dropped: r.added - int64(len(r.items))}
}

// journal keeps requests and domain facts, each in a ring of the journal
// limit.
type journal struct {
	mu        sync.Mutex
	entries   ring[Entry]
	creations ring[Creation]
	renewals  ring[Renewal]
	deletions ring[Deletion]
}

func newJournal(max int) *journal {
	j := &journal{}
	j.entries.max, j.creations.max, j.renewals.max, j.deletions.max = max, max, max, max
	return j
}

// Lengths beyond which the journal shortens what a client sent.
const (
	maxJournalPath  = 1024
	maxJournalQuery = 1024
	maxJournalID    = 256
)

// clip shortens s to at most n bytes (at a character boundary) and says
// how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

func (j *journal) add(e Entry) {
	e.Path = clip(e.Path, maxJournalPath)
	e.Query = clip(e.Query, maxJournalQuery)
	e.SandboxID = clip(e.SandboxID, maxJournalID)
	e.Operation = clip(e.Operation, maxJournalID)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries.add(e)
}

func (j *journal) snapshot() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.entries.all()
}

// resize sets the number of records of each kind the journal keeps; call
// reset after it.
func (j *journal) resize(max int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries.max, j.creations.max, j.renewals.max, j.deletions.max = max, max, max, max
}

// limit returns the number of records of each kind the journal keeps.
func (j *journal) limit() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.entries.max
}

func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries.reset()
	j.creations.reset()
	j.renewals.reset()
	j.deletions.reset()
}

func (j *journal) created(c Creation) {
	c.Metadata = maps.Clone(c.Metadata)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.creations.add(c)
}

func (j *journal) renewed(r Renewal) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.renewals.add(r)
}

func (j *journal) deleted(d Deletion) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.deletions.add(d)
}

// RecordCount counts one kind of journal record.
type RecordCount struct {
	// Recorded counts every record since the server started (or the
	// journal was reset), kept or not.
	Recorded int64
	// Dropped counts the oldest records dropped to stay within the
	// journal limit.
	Dropped int64
}

// JournalStats counts what the journal recorded and dropped, by kind.
type JournalStats struct {
	// Requests counts [Server.Journal] entries.
	Requests RecordCount
	// Creations, Renewals and Deletions count [Server.Creations],
	// [Server.Renewals] and [Server.Deletions] records.
	Creations, Renewals, Deletions RecordCount
	// Terminated counts the control plane sandboxes that reached
	// TERMINATED, and in Dropped those forgotten before the end of their
	// retention to stay within [WithTerminatedLimit].
	Terminated RecordCount
}

// JournalStats returns how many records of each kind the journal has
// seen and how many of the oldest it dropped (see [WithJournalLimit]).
func (s *Server) JournalStats() JournalStats {
	s.world.RLock()
	cp := s.cp
	s.world.RUnlock()
	cp.mu.Lock()
	terminated := RecordCount{Recorded: cp.terminations, Dropped: cp.dropped}
	cp.mu.Unlock()
	j := s.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	return JournalStats{
		Requests:   j.entries.count(),
		Creations:  j.creations.count(),
		Renewals:   j.renewals.count(),
		Deletions:  j.deletions.count(),
		Terminated: terminated,
	}
}

// Journal returns every request the server has answered, oldest first (up
// to the limit of [WithJournalLimit]), including 401s, 404s for unknown
// routes and injected faults.
func (s *Server) Journal() []Entry { return s.journal.snapshot() }

// Requests returns the journal entries f matches, oldest first.
func (s *Server) Requests(f Filter) []Entry {
	all := s.journal.snapshot()
	return slices.DeleteFunc(all, func(e Entry) bool { return !f.match(&e) })
}

// lastRequests returns the newest n journal entries f matches, oldest
// first, copying no others.
func (s *Server) lastRequests(f Filter, n int) []Entry {
	j := s.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	r := &j.entries
	out := make([]Entry, 0, min(n, len(r.items)))
	for i := len(r.items) - 1; i >= 0 && len(out) < n; i-- {
		e := &r.items[(r.start+i)%len(r.items)]
		if f.match(e) {
			out = append(out, *e)
		}
	}
	slices.Reverse(out)
	return out
}

// Count returns how many journal entries f matches.
func (s *Server) Count(f Filter) int {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	n := 0
	for i := range s.journal.entries.items {
		if f.match(&s.journal.entries.items[i]) {
			n++
		}
	}
	return n
}

// ResetJournal forgets the recorded requests and domain facts, and zeroes
// [Server.JournalStats].
func (s *Server) ResetJournal() {
	s.world.RLock()
	cp := s.cp
	s.world.RUnlock()
	cp.mu.Lock()
	cp.terminations, cp.dropped = 0, 0
	cp.mu.Unlock()
	s.journal.reset()
}

// Creations returns the sandbox creations the journal keeps, oldest
// first.
func (s *Server) Creations() []Creation {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	out := s.journal.creations.all()
	for i := range out {
		out[i].Metadata = maps.Clone(out[i].Metadata)
	}
	return out
}

// CreationCounts counts the sandboxes created (lifecycle and control
// plane) by the value of their metadata (or label) key, e.g. a client
// token a retrying client puts there: a value counted twice is a
// duplicate create.
func (s *Server) CreationCounts(key string) map[string]int {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	out := map[string]int{}
	for _, c := range s.journal.creations.items {
		if v, ok := c.Metadata[key]; ok {
			out[v]++
		}
	}
	return out
}

// Renewals returns the successful renewals of sandbox id ("" for all of
// them) the journal keeps, oldest first. New may be before Old: the
// server accepts any future time, so a renewal can shorten a lifetime.
func (s *Server) Renewals(id string) []Renewal {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	var out []Renewal
	for _, r := range s.journal.renewals.all() {
		if id == "" || r.SandboxID == id {
			out = append(out, r)
		}
	}
	return out
}

// Deletions returns the deletions and expiries the journal keeps,
// oldest first.
func (s *Server) Deletions() []Deletion {
	s.journal.mu.Lock()
	defer s.journal.mu.Unlock()
	return s.journal.deletions.all()
}
