package fleet

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// PoolLabel is the metadata key that names the pool a sandbox belongs to.
// The pool sets it on every sandbox it creates; the reaper finds the
// pool's sandboxes by it. Template metadata must not contain it.
const PoolLabel = "sandboxkit.dev/pool"

// Defaults of [Options].
const (
	DefaultLeaseTTL      = 30 * time.Second
	DefaultLeaderTTL     = 15 * time.Second
	DefaultCreateTimeout = 2 * time.Minute
	DefaultRefillRate    = 2.0 // creates per second
	DefaultRefillBurst   = 4
	DefaultMaxCreating   = 4
	DefaultClaimTTL      = 30 * time.Second
	DefaultRenewInterval = 5 * time.Second
	DefaultReapInterval  = time.Minute
	// DefaultAcquireTries is how many idle sandboxes Acquire tries with
	// [FallbackNext] or [FallbackCreate] before giving up.
	DefaultAcquireTries = 4
	// StoreTimeout bounds every store call that is not bounded by a
	// caller's context.
	StoreTimeout = 10 * time.Second
)

// Fallback is what [Pool.Acquire] does when the idle sandbox it took
// fails its health check, or when there is no idle sandbox.
type Fallback int

// The fallback policies.
const (
	// FallbackNext deletes an unhealthy sandbox and takes the next idle
	// one (up to [DefaultAcquireTries] in all); with nothing idle, Acquire
	// fails with [ErrEmpty]. The default.
	FallbackNext Fallback = iota
	// FallbackFail fails fast: the first idle sandbox or an error, with
	// [ErrEmpty] when nothing is idle and [ErrUnhealthy] when the one
	// taken fails its health check (it is deleted).
	FallbackFail
	// FallbackCreate is FallbackNext, and with nothing idle it creates a
	// sandbox for the caller directly (under a create intent, so a crash
	// leaks nothing).
	FallbackCreate
)

// String returns the policy's name: "next", "fail" or "create".
func (f Fallback) String() string {
	switch f {
	case FallbackNext:
		return "next"
	case FallbackFail:
		return "fail"
	case FallbackCreate:
		return "create"
	}
	return fmt.Sprintf("Fallback(%d)", int(f))
}

// Options configure a [Pool]. Name and Template are required; the rest
// have defaults. Every node of a fleet must use the same Name and Store
// and should use the same Template and timings.
type Options struct {
	// Name identifies the pool in the store and is stored on its
	// sandboxes under [PoolLabel]: 1 to 63 letters, digits, '-', '_' or
	// '.' (see [ValidatePoolName]).
	Name string
	// Template is the sandbox the pool keeps warm; it is copied. Its
	// Timeout must be set (pool sandboxes are renewed, which needs an
	// expiry); the real lifecycle server also wants ResourceLimits and,
	// with an image, an Entrypoint. Its Metadata must not contain
	// [PoolLabel] or lifecycle.ClientTokenKey.
	Template *lifecycle.CreateRequest
	// Size is the number of idle sandboxes to keep when the pool is new
	// (the first node to start sets it; later nodes' Size is ignored and
	// [Pool.Resize] changes it).
	Size int
	// Store holds the shared state; nil means a new [MemoryStore] that
	// only this Pool uses (its Close then deletes the pool's sandboxes).
	Store Store
	// Node names this process in the store (leader lock, lease holders,
	// renewal claims); unique per process. Empty means host name, process
	// id and a random suffix.
	Node string
	// Fallback is what Acquire does without a healthy idle sandbox
	// (default [FallbackNext]).
	Fallback Fallback
	// MaxLeased caps the sandboxes leased at once in the whole fleet
	// (live leases plus direct creations in progress); beyond it Acquire
	// fails with [ErrAtCapacity]. A holder that dies stops counting when
	// its lease lapses. Zero means no cap.
	MaxLeased int
	// MinRemaining is the least lifetime an idle sandbox must have left
	// to be handed out (default RenewMargin/2). It must be below
	// RenewMargin.
	MinRemaining time.Duration
	// LeaseTTL is how long a lease lives without a heartbeat (default
	// [DefaultLeaseTTL]); holders heartbeat every LeaseTTL/3. When a
	// holder dies its sandbox is reclaimed (deleted) within about
	// LeaseTTL + LeaderTTL/3.
	LeaseTTL time.Duration
	// LeaderTTL is how long the leader lock lives without renewal (default
	// [DefaultLeaderTTL]); nodes campaign every LeaderTTL/3, so a dead
	// leader is replaced within about LeaderTTL.
	LeaderTTL time.Duration
	// CreateTimeout bounds one create, including the wait for Running
	// (default [DefaultCreateTimeout]). A create intent expires
	// CreateTimeout + LeaderTTL after it was written.
	CreateTimeout time.Duration
	// RefillRate is how many creates per second the leader starts at
	// most (default [DefaultRefillRate]), with bursts of RefillBurst
	// (default [DefaultRefillBurst]). A 429 answer pauses refills for its
	// Retry-After (at least one second).
	RefillRate float64
	// RefillBurst: see RefillRate.
	RefillBurst int
	// MaxCreating bounds the creates in flight on the leader (default
	// [DefaultMaxCreating]).
	MaxCreating int
	// RenewExtension is how far a renewal moves a sandbox's expiry past
	// max(expiry, now) (default Template.Timeout).
	RenewExtension time.Duration
	// RenewMargin is how long before its expiry a sandbox is renewed
	// (default Template.Timeout/2); it must be below RenewExtension.
	// Renewals only ever extend.
	RenewMargin time.Duration
	// ClaimTTL is how long a node holds a due renewal before another may
	// take it over (default [DefaultClaimTTL]); each renewal call is
	// bounded by ClaimTTL/2.
	ClaimTTL time.Duration
	// RenewInterval is how often a node looks for due renewals (default
	// [DefaultRenewInterval]).
	RenewInterval time.Duration
	// ReapInterval is how often the leader looks for orphans: sandboxes
	// labelled with the pool that the pool does not account for (default
	// [DefaultReapInterval]; negative turns the reaper off).
	ReapInterval time.Duration
	// HealthCheck, if set, is called on a Running sandbox before it is
	// handed out or returned to the pool (e.g. to call its sandbox API);
	// an error counts as unhealthy.
	HealthCheck func(ctx context.Context, s *lifecycle.Sandbox) error
	// Logger receives the pool's records (leadership, refills, adoptions,
	// reclaims, orphans, renewal errors); nil discards them.
	Logger *slog.Logger
	// MeterProvider provides the pool's OpenTelemetry instruments; nil
	// means the global provider (otel.GetMeterProvider).
	MeterProvider metric.MeterProvider
}

// resolved checks o and fills in defaults. It returns a copy.
func (o *Options) resolved() (Options, error) {
	if o == nil {
		return Options{}, &sandboxkit.ValidationError{Field: "Options", Reason: "must not be nil (Name and Template are required)"}
	}
	r := *o
	reject := func(field, value, reason string) error {
		return &sandboxkit.ValidationError{Field: "Options." + field, Value: value, Reason: reason}
	}
	if err := ValidatePoolName(r.Name); err != nil {
		return r, reject("Name", r.Name, "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	}
	if r.Template == nil {
		return r, reject("Template", "", "must not be nil")
	}
	tpl := *r.Template
	tpl.Metadata = maps.Clone(tpl.Metadata)
	tpl.Entrypoint = slices.Clone(tpl.Entrypoint)
	tpl.ResourceLimits = maps.Clone(tpl.ResourceLimits)
	tpl.Env = maps.Clone(tpl.Env)
	tpl.Extensions = maps.Clone(tpl.Extensions)
	tpl.Volumes = slices.Clone(tpl.Volumes)
	switch {
	case tpl.Timeout <= 0:
		return r, reject("Template.Timeout", tpl.Timeout.String(), "must be set: pool sandboxes are renewed, which needs an expiry")
	case tpl.Metadata[PoolLabel] != "":
		return r, reject("Template.Metadata", PoolLabel, "key is set by the pool")
	}
	if _, ok := tpl.Metadata[lifecycle.ClientTokenKey]; ok {
		return r, reject("Template.Metadata", lifecycle.ClientTokenKey, "key is reserved for the client token")
	}
	if tpl.Metadata == nil {
		tpl.Metadata = map[string]string{}
	}
	tpl.Metadata[PoolLabel] = r.Name
	r.Template = &tpl

	if r.Size < 0 {
		return r, reject("Size", fmt.Sprint(r.Size), "must not be negative")
	}
	if r.Node == "" {
		r.Node = defaultNodeName()
	}
	if err := validateNodeName("Options.Node", r.Node); err != nil {
		return r, err
	}
	if r.Fallback < FallbackNext || r.Fallback > FallbackCreate {
		return r, reject("Fallback", r.Fallback.String(), "unknown policy")
	}
	if r.MaxLeased < 0 {
		return r, reject("MaxLeased", fmt.Sprint(r.MaxLeased), "must not be negative")
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"LeaseTTL", &r.LeaseTTL, DefaultLeaseTTL},
		{"LeaderTTL", &r.LeaderTTL, DefaultLeaderTTL},
		{"CreateTimeout", &r.CreateTimeout, DefaultCreateTimeout},
		{"RenewExtension", &r.RenewExtension, tpl.Timeout},
		{"RenewMargin", &r.RenewMargin, tpl.Timeout / 2},
		{"ClaimTTL", &r.ClaimTTL, DefaultClaimTTL},
		{"RenewInterval", &r.RenewInterval, DefaultRenewInterval},
		{"ReapInterval", &r.ReapInterval, DefaultReapInterval},
	}
	for _, d := range durations {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0 && d.name != "ReapInterval":
			return r, reject(d.name, d.v.String(), "must not be negative")
		}
	}
	if r.MinRemaining == 0 {
		r.MinRemaining = r.RenewMargin / 2
	}
	if r.RefillRate == 0 {
		r.RefillRate = DefaultRefillRate
	}
	if r.RefillBurst == 0 {
		r.RefillBurst = DefaultRefillBurst
	}
	if r.MaxCreating == 0 {
		r.MaxCreating = DefaultMaxCreating
	}
	switch {
	case r.LeaseTTL < 3*time.Millisecond:
		return r, reject("LeaseTTL", r.LeaseTTL.String(), "must be at least 3ms")
	case r.LeaderTTL < 3*time.Millisecond:
		return r, reject("LeaderTTL", r.LeaderTTL.String(), "must be at least 3ms")
	case r.ClaimTTL < 2*time.Millisecond:
		return r, reject("ClaimTTL", r.ClaimTTL.String(), "must be at least 2ms")
	case r.MinRemaining < 0:
		return r, reject("MinRemaining", r.MinRemaining.String(), "must not be negative")
	case r.MinRemaining >= r.RenewMargin:
		return r, reject("MinRemaining", r.MinRemaining.String(), "must be below RenewMargin "+r.RenewMargin.String())
	case r.RenewMargin >= r.RenewExtension:
		return r, reject("RenewMargin", r.RenewMargin.String(), "must be below RenewExtension "+r.RenewExtension.String())
	case r.RenewMargin >= tpl.Timeout:
		return r, reject("RenewMargin", r.RenewMargin.String(), "must be below Template.Timeout "+tpl.Timeout.String())
	case r.RefillRate < 0 || r.RefillRate != r.RefillRate:
		return r, reject("RefillRate", fmt.Sprint(r.RefillRate), "must be positive")
	case r.RefillBurst < 0:
		return r, reject("RefillBurst", fmt.Sprint(r.RefillBurst), "must not be negative")
	case r.MaxCreating < 0:
		return r, reject("MaxCreating", fmt.Sprint(r.MaxCreating), "must not be negative")
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

var nodeCleanRE = regexp.MustCompile(`[^-A-Za-z0-9_.]+`)

func defaultNodeName() string {
	host, _ := os.Hostname()
	host = strings.Trim(nodeCleanRE.ReplaceAllString(host, "-"), "-_.")
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "node"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}

// AcquireOptions tune one [Pool.Acquire].
type AcquireOptions struct {
	// Lifetime is how long the caller needs the sandbox, counted from
	// Acquire's check of it: if it would expire sooner, Acquire renews it
	// first (extend-only). Zero means the pool's MinRemaining is enough.
	Lifetime time.Duration
}
