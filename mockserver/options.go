package mockserver

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// DefaultTransitionDelay is how long every asynchronous transition takes
// unless [WithTransitionDelay] or [WithTransition] say otherwise: long
// enough that a polling client sees Allocated, Pausing, Resuming,
// DEPLOYING..., short enough not to slow tests down.
const DefaultTransitionDelay = 50 * time.Millisecond

// DefaultJournalLimit is how many records of each kind the journal keeps
// by default; older ones are dropped first. See [WithJournalLimit].
const DefaultJournalLimit = 100_000

// DefaultTerminatedLimit is how many TERMINATED control plane sandboxes
// the mock keeps during their retention by default. See
// [WithTerminatedLimit].
const DefaultTerminatedLimit = 1_000

// DefaultMaxPageSize is the largest pageSize the lifecycle list operations
// accept, as the upstream server does; larger values are a 422.
const DefaultMaxPageSize = 200

// An Option configures a [Server] in [New] or [Start]. Options validate
// their arguments: an invalid one makes New return an error.
type Option func(*config) error

type config struct {
	// set records which options were given (see optionBit).
	set optionBit

	runtime     Runtime
	maxTimeout  time.Duration // 0: no upper bound on create timeouts
	limits      Limits
	clock       clock.Clock
	manual      *clock.Manual
	tenants     map[string]string // API key → tenant
	firstKey    string
	defaultMode Mode
	modes       map[TransitionKind]Mode
	retention   time.Duration
	listen      string
	baseURL     string
	journalMax  int
	maxPageSize int
	// terminatedMax caps the TERMINATED control plane sandboxes kept; 0:
	// no cap.
	terminatedMax int

	controlToken string   // the control API's bearer token; "" for none
	upstream     *url.URL // proxy mode: the server requests are forwarded to
	upstreamAPI  API      // and the API it serves
}

// optionBit names one kind of option, to tell which ones a caller gave
// (Reset takes some of them, and the remote controller sends them).
type optionBit uint32

const (
	optClock optionBit = 1 << iota
	optTenants
	optTransitionDelay
	optTransitions
	optRetention
	optJournalLimit
	optMaxTimeout
	optRuntime
	optListener
	optBaseURL
	optLimits
	optControlToken
	optUpstream
	optTerminatedLimit
)

// optFixed are the options that shape how the server is reached or what
// it is; only New takes them, [Server.Reset] refuses them.
const optFixed = optListener | optBaseURL | optLimits | optControlToken | optUpstream | optTerminatedLimit

// clone returns a copy of c that shares no map with it.
func (c *config) clone() config {
	d := *c
	d.tenants = maps.Clone(c.tenants)
	d.modes = maps.Clone(c.modes)
	return d
}

func defaultConfig() config {
	return config{
		runtime:     DefaultRuntime,
		limits:      DefaultLimits(),
		clock:       clock.Real(),
		tenants:     map[string]string{},
		defaultMode: After(DefaultTransitionDelay),
		modes:       map[TransitionKind]Mode{},
		retention:   DefaultTerminatedRetention,
		journalMax:  DefaultJournalLimit,
		maxPageSize: DefaultMaxPageSize,

		terminatedMax: DefaultTerminatedLimit,
	}
}

// mode returns the mode of transitions of kind k. Snapshot deletion is
// immediate unless set for its kind: the server deletes before it
// answers.
func (c *config) mode(k TransitionKind) Mode {
	if m, ok := c.modes[k]; ok {
		return m
	}
	if k == TransitionSnapshotDelete {
		return Immediate()
	}
	return c.defaultMode
}

// WithManualClock makes the server's clock a manual one that reads start
// and moves only when the test calls [Server.Advance]. Expiries, retention
// and transitions in [After] mode then happen inside Advance, in time
// order, deterministically. Without it the server uses the wall clock
// (which inside a testing/synctest bubble is the bubble's fake clock).
func WithManualClock(start time.Time) Option {
	return func(c *config) error {
		if start.IsZero() {
			return errors.New("mockserver: WithManualClock: start time is zero")
		}
		m := clock.NewManual(start)
		c.clock, c.manual = m, m
		c.set |= optClock
		return nil
	}
}

// WithTenant makes apiKey a credential of the tenant called name. With at
// least one tenant configured every request must carry a known key (the
// lifecycle API in OPEN-SANDBOX-API-KEY, the control plane and the sandbox
// API as a bearer token) or it is answered 401, and a tenant never sees
// another tenant's sandboxes (404). Without tenants the server is open and
// everything belongs to the tenant "default". Several keys may map to one
// tenant.
func WithTenant(apiKey, name string) Option {
	return func(c *config) error {
		switch {
		case apiKey == "":
			return errors.New("mockserver: WithTenant: empty API key")
		case name == "":
			return errors.New("mockserver: WithTenant: empty tenant name")
		case strings.ContainsAny(apiKey, "\r\n"):
			return errors.New("mockserver: WithTenant: API key contains a line break")
		}
		if old, ok := c.tenants[apiKey]; ok && old != name {
			return fmt.Errorf("mockserver: WithTenant: API key already belongs to tenant %q", old)
		}
		if len(c.tenants) == 0 {
			c.firstKey = apiKey
		}
		c.tenants[apiKey] = name
		c.set |= optTenants
		return nil
	}
}

// WithTransitionDelay makes every asynchronous transition take d on the
// server's clock (0 makes them all [Immediate]). [WithTransition] overrides
// it for single kinds, whatever the order of the options.
func WithTransitionDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("mockserver: WithTransitionDelay: negative delay %v", d)
		}
		c.defaultMode = After(d)
		c.set |= optTransitionDelay
		return nil
	}
}

// WithTransition sets how transitions of one kind complete: [Immediate],
// [After] a delay, or [Manual] (when the test calls [Server.Step]).
func WithTransition(kind TransitionKind, mode Mode) Option {
	return func(c *config) error {
		if !kind.valid() {
			return fmt.Errorf("mockserver: WithTransition: unknown transition kind %q", string(kind))
		}
		if err := mode.validate(); err != nil {
			return fmt.Errorf("mockserver: WithTransition(%s): %w", kind, err)
		}
		c.modes[kind] = mode
		c.set |= optTransitions
		return nil
	}
}

// WithRetention sets how long a terminated control plane sandbox
// (TERMINATED) stays visible before it answers 404, when its spec names no
// lifecycle.terminatedRetention of its own; the default is
// [DefaultTerminatedRetention], as on the service. Zero forgets such
// sandboxes as soon as they terminate. Lifecycle sandboxes are never
// retained: both runtimes forget a deleted or expired sandbox.
func WithRetention(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("mockserver: WithRetention: negative duration %v", d)
		}
		c.retention = d
		c.set |= optRetention
		return nil
	}
}

// WithTerminatedLimit caps how many TERMINATED control plane sandboxes
// the server keeps during their retention ([WithRetention]), across
// tenants: when one more terminates, the one that terminated first is
// forgotten at once (it answers 404, as after its retention), so that
// memory stays bounded however fast sandboxes are deleted. The service
// has no such cap; the default, [DefaultTerminatedLimit], only matters to
// a test that deletes more sandboxes within a retention period than it
// and then reads the first of them. [Server.JournalStats] counts the
// sandboxes forgotten early. 0 removes the cap (memory then grows with
// the deletion rate times the retention). Only [New] takes it.
func WithTerminatedLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("mockserver: WithTerminatedLimit: negative limit %d", n)
		}
		c.terminatedMax = n
		c.set |= optTerminatedLimit
		return nil
	}
}

// WithListener makes the server also listen on the TCP address addr
// ("127.0.0.1:0" picks a free port). [Server.URL] is then the real
// http://host:port, and clients other than [Server.HTTPClient] can reach it.
func WithListener(addr string) Option {
	return func(c *config) error {
		if addr == "" {
			return errors.New("mockserver: WithListener: empty address")
		}
		c.listen = addr
		c.set |= optListener
		return nil
	}
}

// WithBaseURL sets the URL the server reports as its own ([Server.URL],
// endpoints, metadata.url, Location headers), for a caller that serves
// [Server.Handler] itself, e.g. on its own listener. It must be an absolute
// http(s) URL without path, query or fragment.
func WithBaseURL(rawURL string) Option {
	return func(c *config) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("mockserver: WithBaseURL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("mockserver: WithBaseURL: %q is not an absolute http(s) URL without path, query or fragment", rawURL)
		}
		c.baseURL = u.Scheme + "://" + u.Host
		c.set |= optBaseURL
		return nil
	}
}

// WithJournalLimit sets how many records of each kind the journal keeps:
// requests ([Server.Journal]) and domain facts ([Server.Creations],
// [Server.Renewals], [Server.Deletions]). When a kind is full its oldest
// record is dropped; [Server.JournalStats] counts what was recorded and
// dropped. The default is [DefaultJournalLimit]; 0 keeps everything
// (memory grows with every request). Long paths and queries are shortened
// in the journal whatever the limit.
func WithJournalLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("mockserver: WithJournalLimit: negative limit %d", n)
		}
		c.journalMax = n
		c.set |= optJournalLimit
		return nil
	}
}

// WithMaxSandboxTimeout caps the timeout a create may ask for, as the
// server's max_sandbox_timeout_seconds setting does: a longer one is a 400
// SANDBOX::INVALID_PARAMETER. It must be whole seconds, at least 60 s.
// Without it (the server's default) any timeout of 60 s or more is
// accepted.
func WithMaxSandboxTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute || d%time.Second != 0 {
			return fmt.Errorf("mockserver: WithMaxSandboxTimeout: %v is not a whole number of seconds of at least 60s", d)
		}
		c.maxTimeout = d
		c.set |= optMaxTimeout
		return nil
	}
}
