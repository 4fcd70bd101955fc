package mockserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/mockcontrolsrv"
)

// stateVersion is the version of the state document.
const stateVersion = 1

// maxStateBytes bounds a state document read by LoadState.
const maxStateBytes = 1 << 30

// SaveState writes the server's state to w as a JSON document (the State
// schema of the control API's OpenAPI document, GET /_sandboxmock/state):
// lifecycle sandboxes, snapshots, control plane sandboxes, faults (with
// what remains of their Times), scripted commands, the runtime and the
// clock. [Server.LoadState] restores it, e.g. in a later run of
// sandboxmock (-state FILE). It does not hold the contents of each
// sandbox API (files, processes, upgrades), the journal, sandboxes being
// deleted, or what the seeding methods cannot set (a lifecycle sandbox's
// resource limits and platform, a control plane sandbox's spec beyond
// its image, labels and expiration policies).
func (s *Server) SaveState(w io.Writer) error {
	if w == nil {
		return invalidf("mockserver: SaveState: nil writer")
	}
	st, err := s.exportState()
	if err != nil {
		return err
	}
	raw, err := st.MarshalJSON()
	if err != nil {
		return fmt.Errorf("mockserver: SaveState: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("mockserver: SaveState: %w", err)
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(w)
	return err
}

// LoadState resets the server (see [Server.Reset]; the document's runtime
// and, when it was on one, its manual clock's time become the server's)
// and restores the state [Server.SaveState] wrote. An invalid document is
// an error matching sandboxkit.ErrInvalidInput; when a part of it cannot be
// restored, the server keeps what was restored before it.
func (s *Server) LoadState(r io.Reader) error {
	if r == nil {
		return invalidf("mockserver: LoadState: nil reader")
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxStateBytes+1))
	if err != nil {
		return fmt.Errorf("mockserver: LoadState: %w", err)
	}
	if len(raw) > maxStateBytes {
		return invalidf("mockserver: LoadState: document larger than %d bytes", maxStateBytes)
	}
	var st mockcontrolsrv.State
	if err := st.UnmarshalJSON(raw); err != nil {
		return invalidf("mockserver: LoadState: %v", err)
	}
	if err := st.Validate(); err != nil {
		return invalidf("mockserver: LoadState: %v", err)
	}
	return s.importState(&st)
}

// exportState returns the state document.
func (s *Server) exportState() (*mockcontrolsrv.State, error) {
	if s.proxy != nil {
		return nil, ErrProxyMode
	}
	in := s.Info()
	st := &mockcontrolsrv.State{
		Version:               stateVersion,
		SavedAt:               mockcontrolsrv.NewOptDateTime(time.Now().UTC()),
		Runtime:               mockcontrolsrv.NewOptString(string(in.Runtime)),
		Clock:                 mockcontrolsrv.Clock{Now: in.Now, Manual: in.ManualClock},
		Sandboxes:             []mockcontrolsrv.SandboxInfo{},
		Snapshots:             convertAll(s.Snapshots(), snapshotToWire),
		ControlPlaneSandboxes: convertAll(s.ControlPlaneSandboxes(), cpToWire),
		Faults:                []mockcontrolsrv.Fault{},
		Commands:              convertAll(s.Commands(), commandToWire),
	}
	for _, sb := range s.Sandboxes() {
		if sb.PendingTransition == TransitionStop {
			continue // being deleted: gone by the time anyone restores it
		}
		st.Sandboxes = append(st.Sandboxes, sandboxToWire(sb))
	}
	for _, f := range s.Faults() {
		if f.Fault.Times > 0 {
			if f.Fault.Times <= f.Fired {
				continue // spent
			}
			f.Fault.Times -= f.Fired
		}
		f.Fired = 0
		st.Faults = append(st.Faults, faultToWire(f))
	}
	return st, nil
}

// importState resets the server and restores st.
func (s *Server) importState(st *mockcontrolsrv.State) error {
	if s.proxy != nil {
		return ErrProxyMode
	}
	if st.Version != stateVersion {
		return invalidf("mockserver: state document version %d, want %d", st.Version, stateVersion)
	}
	var opts []Option
	if v := st.Runtime.Or(""); v != "" {
		rt, err := ParseRuntime(v)
		if err != nil {
			return invalidf("%v", err)
		}
		opts = append(opts, WithRuntime(rt))
	}
	if st.Clock.Manual {
		opts = append(opts, WithManualClock(st.Clock.Now))
	}
	if err := s.Reset(opts...); err != nil {
		return err
	}
	for i := range st.Sandboxes {
		in := &st.Sandboxes[i]
		seed := SandboxSeed{
			ID: in.ID, State: in.State, Reason: in.Reason.Or(""), Message: in.Message.Or(""),
			Image: in.Image.Or(""), SnapshotID: in.SnapshotID.Or(""), Entrypoint: in.Entrypoint,
			Metadata: in.Metadata.Or(nil), Env: in.Env.Or(nil),
			CreatedAt: in.CreatedAt, ExpiresAt: in.ExpiresAt.Or(time.Time{}),
		}
		if in.State == StateFailed {
			seed.ExitCode = in.ExitCode.Or(0)
		}
		if _, err := s.AddSandbox(in.Tenant, seed); err != nil {
			return fmt.Errorf("mockserver: restoring sandbox %q: %w", in.ID, err)
		}
	}
	for _, in := range st.Snapshots {
		if _, err := s.AddSnapshot(in.Tenant, SnapshotSeed{
			ID: in.ID, SandboxID: in.SandboxID.Or(""), Name: in.Name.Or(""), State: in.State,
		}); err != nil {
			return fmt.Errorf("mockserver: restoring snapshot %q: %w", in.ID, err)
		}
	}
	for i := range st.ControlPlaneSandboxes {
		in := &st.ControlPlaneSandboxes[i]
		seed := ControlPlaneSeed{
			Name: in.Name, Status: in.Status, Image: in.Image.Or(""), Labels: in.Labels.Or(nil),
			CreatedAt: in.CreatedAt, LastUsedAt: in.LastUsedAt, Workspace: in.Workspace.Or(""),
		}
		for _, p := range in.Policies {
			seed.Policies = append(seed.Policies, ExpirationPolicy{Type: p.Type, Value: p.Value, Action: p.Action.Or("")})
		}
		if err := s.AddControlPlaneSandbox(in.Tenant, seed); err != nil {
			return fmt.Errorf("mockserver: restoring control plane sandbox %q: %w", in.Tenant+"/"+in.Name, err)
		}
	}
	for i := range st.Commands {
		if err := s.SetCommand(commandFromWire(&st.Commands[i])); err != nil {
			return fmt.Errorf("mockserver: restoring command %q: %w", st.Commands[i].Name, err)
		}
	}
	for i := range st.Faults {
		if _, err := s.InjectFault(faultFromWire(&st.Faults[i].Fault)); err != nil {
			return fmt.Errorf("mockserver: restoring fault %d: %w", st.Faults[i].ID, err)
		}
	}
	return nil
}
