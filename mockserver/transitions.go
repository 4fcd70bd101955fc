package mockserver

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// TransitionKind names one kind of asynchronous state transition.
type TransitionKind string

// The asynchronous transitions of the mock.
const (
	// TransitionProvision is a new lifecycle sandbox's Allocated (or a
	// seeded Pending) → Running, on the Kubernetes runtime.
	TransitionProvision TransitionKind = "Provision"
	// TransitionPause is Pausing → Paused (Kubernetes runtime).
	TransitionPause TransitionKind = "Pause"
	// TransitionResume is Resuming → Running (Kubernetes runtime).
	TransitionResume TransitionKind = "Resume"
	// TransitionStop is the deletion of a sandbox after a delete or an
	// expiry, until it answers 404 (Kubernetes runtime: the workload keeps
	// its state meanwhile). [Server.Step] on a sandbox being deleted
	// completes this transition first.
	TransitionStop TransitionKind = "Stop"
	// TransitionSnapshotCreate is a snapshot's Creating → Ready.
	TransitionSnapshotCreate TransitionKind = "SnapshotCreate"
	// TransitionSnapshotDelete is a snapshot's Deleting → gone. It is
	// [Immediate] (the server deletes before it answers) unless
	// [WithTransition] sets it, e.g. to show a slow deletion.
	TransitionSnapshotDelete TransitionKind = "SnapshotDelete"
	// TransitionCPDeploy is a control plane sandbox's DEPLOYING → DEPLOYED.
	TransitionCPDeploy TransitionKind = "CPDeploy"
	// TransitionCPDelete is a control plane sandbox's DELETING → TERMINATED.
	TransitionCPDelete TransitionKind = "CPDelete"
)

var transitionKinds = []TransitionKind{
	TransitionProvision, TransitionPause, TransitionResume, TransitionStop,
	TransitionSnapshotCreate, TransitionSnapshotDelete,
	TransitionCPDeploy, TransitionCPDelete,
}

func (k TransitionKind) valid() bool {
	for _, v := range transitionKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Mode says how a kind of transition completes. Make one with [Immediate],
// [After] or [Manual].
type Mode struct {
	kind  modeKind
	delay time.Duration
}

type modeKind int

const (
	modeAfter modeKind = iota
	modeImmediate
	modeManual
)

// Immediate completes the transition within the request that starts it:
// the answer to a pause already shows Paused.
func Immediate() Mode { return Mode{kind: modeImmediate} }

// After completes the transition d after it started, on the server's
// clock. After(0) is [Immediate].
func After(d time.Duration) Mode {
	if d == 0 {
		return Immediate()
	}
	return Mode{kind: modeAfter, delay: d}
}

// Manual leaves the transition pending until the test calls [Server.Step]
// (or [Server.StepAll]).
func Manual() Mode { return Mode{kind: modeManual} }

// String returns "immediate", "after(50ms)" or "manual".
func (m Mode) String() string {
	switch m.kind {
	case modeImmediate:
		return "immediate"
	case modeManual:
		return "manual"
	}
	return fmt.Sprintf("after(%v)", m.delay)
}

// ParseMode reads a mode as the control API and the sandboxmock flag
// -transition write it: "immediate", "manual", or a duration such as
// "2s" ([After]; "0s" is immediate).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "immediate":
		return Immediate(), nil
	case "manual":
		return Manual(), nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return Mode{}, invalidf("mockserver: mode %q is not immediate, manual or a duration", s)
	}
	return After(d), nil
}

// text writes m as [ParseMode] reads it.
func (m Mode) text() string {
	switch m.kind {
	case modeImmediate:
		return "immediate"
	case modeManual:
		return "manual"
	}
	return m.delay.String()
}

// ParseTransitionKind reads a transition kind's name, e.g. "Provision"
// (case-insensitive).
func ParseTransitionKind(s string) (TransitionKind, error) {
	for _, k := range transitionKinds {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	names := make([]string, len(transitionKinds))
	for i, k := range transitionKinds {
		names[i] = string(k)
	}
	return "", invalidf("mockserver: unknown transition kind %q (want one of %s)", s, strings.Join(names, ", "))
}

func (m Mode) validate() error {
	if m.kind == modeAfter && m.delay < 0 {
		return fmt.Errorf("negative delay %v", m.delay)
	}
	return nil
}

// PendingTransition describes a transition that has started and not yet
// completed. See [Server.PendingTransitions].
type PendingTransition struct {
	// Kind is the kind of transition.
	Kind TransitionKind
	// ID is the lifecycle sandbox or snapshot id, or the control plane
	// sandbox name.
	ID string
	// Tenant owns the resource.
	Tenant string
	// Manual reports whether only [Server.Step] completes it.
	Manual bool
}

// async is the transition bookkeeping of one resource. All fields are
// guarded by the mutex of the store that owns the resource.
type async struct {
	pending *task
	gen     uint64 // bumped on every change; stale timers compare it
}

type task struct {
	kind   TransitionKind
	manual bool
	timer  clock.Timer
	run    func() // completes the transition; called with the store lock held
}

// cancel forgets the pending transition, if any.
func (a *async) cancel() {
	if a.pending != nil {
		if a.pending.timer != nil {
			a.pending.timer.Stop()
		}
		a.pending = nil
	}
	a.gen++
}

// scheduler starts transitions according to the configured modes.
type scheduler struct {
	clk    clock.Clock
	mode   func(TransitionKind) Mode // the configured mode of a kind
	closed func() bool
	after  func() // runs after a timed completion, with no lock held
}

// start begins a transition of kind on a, whose store is guarded by mu
// (held by the caller). complete moves the resource to the transition's
// final state; it runs with mu held, now (Immediate), when the delay has
// passed (After) or on Step (Manual).
func (s *scheduler) start(mu sync.Locker, a *async, kind TransitionKind, complete func()) {
	a.cancel()
	m := s.mode(kind)
	switch m.kind {
	case modeImmediate:
		complete()
	case modeManual:
		a.pending = &task{kind: kind, manual: true, run: complete}
	default:
		gen := a.gen
		t := &task{kind: kind, run: complete}
		a.pending = t
		t.timer = s.clk.AfterFunc(m.delay, func() {
			defer s.after()
			mu.Lock()
			defer mu.Unlock()
			if s.closed() || a.gen != gen || a.pending != t {
				return
			}
			a.pending = nil
			a.gen++
			complete()
		})
	}
}

// step completes a's pending transition now. Called with the store lock
// held.
func (a *async) step() (TransitionKind, error) {
	t := a.pending
	if t == nil {
		return "", errNoPending
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	a.pending = nil
	a.gen++
	t.run()
	return t.kind, nil
}

var errNoPending = errors.New("no pending transition")
