package mockserver

import (
	"context"
	"io"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// Controller is what a test needs to steer a mock server, whether it runs
// in the test's process ([Server.Controller]) or in another one, such as
// the sandboxmock command or its container ([Dial]). The methods are the
// [Server]'s own controls with a context and an error added, so one test
// helper drives both; the smaller interfaces below name its parts.
// Invalid arguments give errors matching sandboxkit.ErrInvalidInput (an
// unknown operation name is an *[UnknownOperationError] either way), a
// missing resource sandboxkit.ErrNotFound, a state the control does not apply
// to sandboxkit.ErrConflict, a real clock [ErrRealClock] and a proxy-mode
// server [ErrProxyMode].
type Controller interface {
	FaultInjector
	ClockController
	TransitionStepper
	Seeder
	JournalReader

	// Info describes the server.
	Info(ctx context.Context) (Info, error)
	// Reset forgets everything and reconfigures (see [Server.Reset]).
	Reset(ctx context.Context, opts ...Option) error
	// ScriptUpgrade scripts the next upgrade of a sandbox's API (see
	// [Server.ScriptUpgrade]).
	ScriptUpgrade(ctx context.Context, id string, script UpgradeScript) error
	// SetCommand scripts a command of the simulated shell (see
	// [Server.SetCommand]).
	SetCommand(ctx context.Context, c Command) error
	// Commands lists the scripted commands.
	Commands(ctx context.Context) ([]Command, error)
	// ClearCommands forgets the scripted commands (see
	// [Server.ClearCommands]).
	ClearCommands(ctx context.Context) error
	// SaveState writes the server's state document to w (see
	// [Server.SaveState]).
	SaveState(ctx context.Context, w io.Writer) error
	// LoadState resets the server and restores a state document (see
	// [Server.LoadState]).
	LoadState(ctx context.Context, r io.Reader) error
	// ClientOptions returns the options that point a sandboxkit client of
	// api at the server (see [Server.ClientOptions] and
	// [Remote.ClientOptions]).
	ClientOptions(api sandboxkit.API) []sandboxkit.Option
}

// FaultInjector injects and removes faults (see [Server.InjectFault]).
type FaultInjector interface {
	// InjectFault adds a fault and returns its id.
	InjectFault(ctx context.Context, f Fault) (FaultID, error)
	// RemoveFault removes a fault; it reports whether it was there.
	RemoveFault(ctx context.Context, id FaultID) (bool, error)
	// ClearFaults removes every fault.
	ClearFaults(ctx context.Context) error
	// Faults lists the faults in the order they are tried.
	Faults(ctx context.Context) ([]FaultStatus, error)
}

// ClockController reads and moves the server's clock (see
// [Server.Advance]).
type ClockController interface {
	// Now returns the time on the server's clock.
	Now(ctx context.Context) (time.Time, error)
	// Advance moves the manual clock forward by d.
	Advance(ctx context.Context, d time.Duration) error
	// SetTime moves the manual clock to t.
	SetTime(ctx context.Context, t time.Time) error
	// Clock returns a clock that follows the server's, for renewers
	// (RenewerOptions.Clock).
	Clock(ctx context.Context) (Clock, error)
}

// TransitionStepper completes transitions by hand (see [Server.Step]).
type TransitionStepper interface {
	// Step completes the pending transition of one resource.
	Step(ctx context.Context, id string) error
	// StepAll completes every pending manual transition and returns how
	// many it completed.
	StepAll(ctx context.Context) (int, error)
	// PendingTransitions lists the transitions in progress.
	PendingTransitions(ctx context.Context) ([]PendingTransition, error)
}

// Seeder adds resources in any state and reads them back (see
// [Server.AddSandbox]). The lookups report a missing resource with false,
// not an error.
type Seeder interface {
	// AddSandbox adds a lifecycle sandbox and returns its id.
	AddSandbox(ctx context.Context, tenant string, seed SandboxSeed) (string, error)
	// Sandbox returns a lifecycle sandbox, whatever its tenant.
	Sandbox(ctx context.Context, id string) (SandboxInfo, bool, error)
	// Sandboxes returns every lifecycle sandbox.
	Sandboxes(ctx context.Context) ([]SandboxInfo, error)
	// FailSandbox moves a lifecycle sandbox to Failed.
	FailSandbox(ctx context.Context, id, reason, message string) error
	// ExitSandbox ends a Docker-runtime sandbox's entrypoint.
	ExitSandbox(ctx context.Context, id string, code int) error
	// AddSnapshot adds a snapshot and returns its id.
	AddSnapshot(ctx context.Context, tenant string, seed SnapshotSeed) (string, error)
	// Snapshot returns a snapshot, whatever its tenant.
	Snapshot(ctx context.Context, id string) (SnapshotInfo, bool, error)
	// Snapshots returns every snapshot.
	Snapshots(ctx context.Context) ([]SnapshotInfo, error)
	// AddControlPlaneSandbox adds a control plane sandbox.
	AddControlPlaneSandbox(ctx context.Context, tenant string, seed ControlPlaneSeed) error
	// ControlPlaneSandbox returns tenant's control plane sandbox name.
	ControlPlaneSandbox(ctx context.Context, tenant, name string) (ControlPlaneInfo, bool, error)
	// ControlPlaneSandboxes returns every control plane sandbox.
	ControlPlaneSandboxes(ctx context.Context) ([]ControlPlaneInfo, error)
}

// JournalReader reads the journal of requests and domain records (see
// [Server.Journal]).
type JournalReader interface {
	// Journal returns every request the journal keeps, oldest first.
	Journal(ctx context.Context) ([]Entry, error)
	// Requests returns the entries f matches.
	Requests(ctx context.Context, f Filter) ([]Entry, error)
	// Count counts the entries f matches.
	Count(ctx context.Context, f Filter) (int, error)
	// JournalStats counts what the journal recorded and dropped.
	JournalStats(ctx context.Context) (JournalStats, error)
	// ResetJournal forgets the journal's records.
	ResetJournal(ctx context.Context) error
	// Creations returns the sandbox creations.
	Creations(ctx context.Context) ([]Creation, error)
	// CreationCounts counts creations by the value of a metadata key.
	CreationCounts(ctx context.Context, key string) (map[string]int, error)
	// Renewals returns the renewals of sandbox id ("" for all).
	Renewals(ctx context.Context, id string) ([]Renewal, error)
	// Deletions returns the deletions and expiries.
	Deletions(ctx context.Context) ([]Deletion, error)
}

var (
	_ Controller = (*Remote)(nil)
	_ Controller = (*localController)(nil)
)

// Controller returns the server's controls as a [Controller], the
// interface a [Remote] also implements, so that a test helper written
// against it drives an in-process server and a standalone one alike. The
// calls go straight to the server's methods (no HTTP); their context is
// only checked before each call.
func (s *Server) Controller() Controller { return &localController{s: s} }

// localController adapts a Server to Controller.
type localController struct{ s *Server }

func (c *localController) Info(ctx context.Context) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	return c.s.Info(), nil
}

func (c *localController) Reset(ctx context.Context, opts ...Option) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.Reset(opts...)
}

func (c *localController) InjectFault(ctx context.Context, f Fault) (FaultID, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return c.s.InjectFault(f)
}

func (c *localController) RemoveFault(ctx context.Context, id FaultID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return c.s.RemoveFault(id), nil
}

func (c *localController) ClearFaults(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.s.ClearFaults()
	return nil
}

func (c *localController) Faults(ctx context.Context) ([]FaultStatus, error) {
	return read(ctx, c.s.Faults)
}

func (c *localController) Now(ctx context.Context) (time.Time, error) {
	return read(ctx, c.s.Now)
}

func (c *localController) Advance(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.Advance(d)
}

func (c *localController) SetTime(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.SetTime(t)
}

func (c *localController) Clock(ctx context.Context) (Clock, error) {
	return read(ctx, c.s.Clock)
}

func (c *localController) Step(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.Step(id)
}

func (c *localController) StepAll(ctx context.Context) (int, error) {
	return read(ctx, c.s.StepAll)
}

func (c *localController) PendingTransitions(ctx context.Context) ([]PendingTransition, error) {
	return read(ctx, c.s.PendingTransitions)
}

func (c *localController) AddSandbox(ctx context.Context, tenant string, seed SandboxSeed) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return c.s.AddSandbox(tenant, seed)
}

func (c *localController) Sandbox(ctx context.Context, id string) (SandboxInfo, bool, error) {
	if err := ctx.Err(); err != nil {
		return SandboxInfo{}, false, err
	}
	in, ok := c.s.Sandbox(id)
	return in, ok, nil
}

func (c *localController) Sandboxes(ctx context.Context) ([]SandboxInfo, error) {
	return read(ctx, c.s.Sandboxes)
}

func (c *localController) FailSandbox(ctx context.Context, id, reason, message string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.FailSandbox(id, reason, message)
}

func (c *localController) ExitSandbox(ctx context.Context, id string, code int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.ExitSandbox(id, code)
}

func (c *localController) AddSnapshot(ctx context.Context, tenant string, seed SnapshotSeed) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return c.s.AddSnapshot(tenant, seed)
}

func (c *localController) Snapshot(ctx context.Context, id string) (SnapshotInfo, bool, error) {
	if err := ctx.Err(); err != nil {
		return SnapshotInfo{}, false, err
	}
	in, ok := c.s.Snapshot(id)
	return in, ok, nil
}

func (c *localController) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	return read(ctx, c.s.Snapshots)
}

func (c *localController) AddControlPlaneSandbox(ctx context.Context, tenant string, seed ControlPlaneSeed) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.AddControlPlaneSandbox(tenant, seed)
}

func (c *localController) ControlPlaneSandbox(ctx context.Context, tenant, name string) (ControlPlaneInfo, bool, error) {
	if err := ctx.Err(); err != nil {
		return ControlPlaneInfo{}, false, err
	}
	in, ok := c.s.ControlPlaneSandbox(tenant, name)
	return in, ok, nil
}

func (c *localController) ControlPlaneSandboxes(ctx context.Context) ([]ControlPlaneInfo, error) {
	return read(ctx, c.s.ControlPlaneSandboxes)
}

func (c *localController) Journal(ctx context.Context) ([]Entry, error) {
	return read(ctx, c.s.Journal)
}

func (c *localController) Requests(ctx context.Context, f Filter) ([]Entry, error) {
	if err := checkOperation(f.API, f.Operation); err != nil {
		return nil, err
	}
	return read(ctx, func() []Entry { return c.s.Requests(f) })
}

func (c *localController) Count(ctx context.Context, f Filter) (int, error) {
	if err := checkOperation(f.API, f.Operation); err != nil {
		return 0, err
	}
	return read(ctx, func() int { return c.s.Count(f) })
}

func (c *localController) JournalStats(ctx context.Context) (JournalStats, error) {
	return read(ctx, c.s.JournalStats)
}

func (c *localController) ResetJournal(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.s.ResetJournal()
	return nil
}

func (c *localController) Creations(ctx context.Context) ([]Creation, error) {
	return read(ctx, c.s.Creations)
}

func (c *localController) CreationCounts(ctx context.Context, key string) (map[string]int, error) {
	return read(ctx, func() map[string]int { return c.s.CreationCounts(key) })
}

func (c *localController) Renewals(ctx context.Context, id string) ([]Renewal, error) {
	return read(ctx, func() []Renewal { return c.s.Renewals(id) })
}

func (c *localController) Deletions(ctx context.Context) ([]Deletion, error) {
	return read(ctx, c.s.Deletions)
}

func (c *localController) ScriptUpgrade(ctx context.Context, id string, script UpgradeScript) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.ScriptUpgrade(id, script)
}

func (c *localController) SetCommand(ctx context.Context, cmd Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.SetCommand(cmd)
}

func (c *localController) Commands(ctx context.Context) ([]Command, error) {
	return read(ctx, c.s.Commands)
}

func (c *localController) ClearCommands(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.s.ClearCommands()
	return nil
}

func (c *localController) SaveState(ctx context.Context, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.SaveState(w)
}

func (c *localController) LoadState(ctx context.Context, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.LoadState(r)
}

func (c *localController) ClientOptions(api sandboxkit.API) []sandboxkit.Option {
	return c.s.ClientOptions(api)
}

// read returns f() unless ctx is done.
func read[T any](ctx context.Context, f func() T) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	return f(), nil
}
