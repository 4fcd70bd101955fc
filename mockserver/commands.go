package mockserver

import (
	"cmp"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/guest"
)

// Command scripts a command of the sandbox API's simulated shell (see
// [Server.SetCommand]): a process whose command line runs it writes
// Stdout and Stderr, waits Delay on the server's clock, and exits with
// ExitCode.
type Command struct {
	// Name is the command's name, the first word of a command line, e.g.
	// "pytest". It takes precedence over a built-in command of that name.
	Name string
	// Sandbox limits the command to one sandbox: a lifecycle sandbox id or
	// a control plane sandbox name ("tenant/name" when the name exists in
	// several tenants). Empty means every sandbox, present and future.
	Sandbox string
	// Stdout and Stderr are what the command writes, at once.
	Stdout, Stderr string
	// ExitCode is its exit code, 0 to 255.
	ExitCode int
	// Delay is how long it runs after writing, on the server's clock. On
	// a manual clock the process ends once [Server.Advance] has passed
	// the delay, in the simulator's own goroutine: a moment after Advance
	// returns, so wait for it (the sandbox API's process wait) rather
	// than reading it right away.
	Delay time.Duration
}

// commandSet holds the scripted commands and which live simulators have
// a sandbox-specific one (those keep it when a command of the same name
// is scripted for every sandbox).
type commandSet struct {
	mu      sync.Mutex
	all     map[string]Command        // by name, for every sandbox
	one     map[string]Command        // by sandbox + "\x00" + name
	special map[guestAPI]*ownCommands // simulators with commands of their own
}

// ownCommands are the commands scripted for one sandbox.
type ownCommands struct {
	sandbox string
	names   map[string]bool
}

func (cs *commandSet) clear() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.all, cs.one, cs.special = nil, nil, nil
}

// SetCommand scripts a command of the simulated shell, in every sandbox
// (c.Sandbox empty: the live ones and those created later) or in one
// existing sandbox. It replaces a command of the same name and scope;
// a command scripted for one sandbox wins over one for every sandbox.
// [Server.ClearCommands] and [Server.Reset] forget scripted commands.
func (s *Server) SetCommand(c Command) error {
	if c.Name == "" || strings.ContainsFunc(c.Name, func(r rune) bool { return unicode.IsSpace(r) || r == '/' }) {
		return invalidf("mockserver: SetCommand: name %q is not a command name (one word, no '/')", c.Name)
	}
	if c.ExitCode < 0 || c.ExitCode > 255 {
		return invalidf("mockserver: SetCommand: exit code %d not in 0..255", c.ExitCode)
	}
	if c.Delay < 0 {
		return invalidf("mockserver: SetCommand: negative delay %v", c.Delay)
	}
	if s.proxy != nil {
		return ErrProxyMode
	}
	s.world.RLock()
	defer s.world.RUnlock()
	h := scripted(c)
	if c.Sandbox == "" {
		cs := &s.commands
		cs.mu.Lock()
		if cs.all == nil {
			cs.all = map[string]Command{}
		}
		cs.all[c.Name] = c
		cs.mu.Unlock()
		for _, g := range s.liveGuests() {
			cs.mu.Lock()
			own := cs.special[g] != nil && cs.special[g].names[c.Name]
			cs.mu.Unlock()
			if !own {
				g.RegisterCommand(c.Name, h)
			}
		}
		return nil
	}
	g, err := s.guestByID(c.Sandbox)
	if err != nil {
		return err
	}
	cs := &s.commands
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.one == nil {
		cs.one, cs.special = map[string]Command{}, map[guestAPI]*ownCommands{}
	}
	cs.one[c.Sandbox+"\x00"+c.Name] = c
	if cs.special[g] == nil {
		cs.special[g] = &ownCommands{sandbox: c.Sandbox, names: map[string]bool{}}
	}
	cs.special[g].names[c.Name] = true
	g.RegisterCommand(c.Name, h)
	return nil
}

// Commands lists the scripted commands, those for every sandbox first,
// by name.
func (s *Server) Commands() []Command {
	cs := &s.commands
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]Command, 0, len(cs.all)+len(cs.one))
	for _, c := range cs.all {
		out = append(out, c)
	}
	for _, c := range cs.one {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Command) int {
		return cmp.Or(cmp.Compare(a.Sandbox, b.Sandbox), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// ClearCommands forgets the scripted commands: sandboxes created from now
// on run the shell's own commands only. Sandboxes that exist keep the
// commands scripted so far (until they are gone or the server resets).
func (s *Server) ClearCommands() { s.commands.clear() }

// guestByID returns the sandbox API simulator of lifecycle sandbox id or
// control plane sandbox id ("tenant/name" when ambiguous). Called with the
// world lock held.
func (s *Server) guestByID(id string) (guestAPI, error) {
	if g, _, _, ok := s.lc.guestFor("", id); ok {
		return g, nil
	}
	g, err := s.cp.guestByName(id)
	if err != nil {
		return nil, &notFoundError{msg: err.Error()}
	}
	return g, nil
}

// applyCommands scripts the commands for every sandbox in a new
// simulator.
func (s *Server) applyCommands(g guestAPI) {
	cs := &s.commands
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for name, c := range cs.all {
		g.RegisterCommand(name, scripted(c))
	}
}

// forget drops the commands scripted for a retired simulator alone.
func (cs *commandSet) forget(g guestAPI) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if own := cs.special[g]; own != nil {
		for name := range own.names {
			delete(cs.one, own.sandbox+"\x00"+name)
		}
		delete(cs.special, g)
	}
}

// scripted is the simulator's implementation of c.
func scripted(c Command) guest.CommandFunc {
	return func(ctx context.Context, cmd *guest.Cmd) (int, error) {
		if c.Stdout != "" {
			if _, err := io.WriteString(cmd.Stdout, c.Stdout); err != nil {
				return 1, nil
			}
		}
		if c.Stderr != "" {
			if _, err := io.WriteString(cmd.Stderr, c.Stderr); err != nil {
				return 1, nil
			}
		}
		if c.Delay > 0 {
			if err := cmd.Sleep(ctx, c.Delay); err != nil {
				return 1, nil // killed; the simulator reports the signal
			}
		}
		return c.ExitCode, nil
	}
}
