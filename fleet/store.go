package fleet

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Errors a [Store] returns for refused steps; the [Pool] handles them, and
// they reach callers of [Pool.Acquire], [Pool.Resize] and [Lease] methods
// wrapped with the operation's name.
var (
	// ErrFenced: the caller's leadership [Term] is not the current one
	// (the lock expired, was taken over or resigned). A leader that lost
	// its lock can no longer publish, drop intents or maintain the pool.
	ErrFenced = errors.New("sandboxkit: fleet leadership lost (fenced)")
	// ErrDestroyed: the pool was destroyed ([Pool.Destroy]); nothing can
	// be published into it or taken from it any more.
	ErrDestroyed = errors.New("sandboxkit: fleet pool destroyed")
	// ErrEmpty: no idle sandbox with enough remaining lifetime.
	ErrEmpty = errors.New("sandboxkit: no idle sandbox in the fleet pool")
	// ErrAtCapacity: the pool's fleet-wide cap on leased sandboxes
	// ([Options.MaxLeased]) is reached.
	ErrAtCapacity = errors.New("sandboxkit: fleet pool at capacity")
	// ErrLeaseLost: the lease lapsed (no heartbeat within its TTL) or was
	// already released; its sandbox is reclaimed by the pool.
	ErrLeaseLost = errors.New("sandboxkit: fleet lease lost")
	// ErrIntentGone: the create intent was resolved by someone else (a
	// new leader adopted or dropped it).
	ErrIntentGone = errors.New("sandboxkit: fleet create intent gone")
)

// Store keeps the shared state of warm pools: which sandboxes are idle,
// which are leased and to whom, which are being created, which must be
// deleted, when each is due for renewal, and who leads each pool. Every
// method is one atomic step (a Lua script in [RedisStore], a critical
// section in [MemoryStore]); the times it compares are the store's own
// clock (Redis's TIME), never the caller's. Several processes share one
// pool by sharing one store.
//
// Implementations must pass the package's store-compliance suite
// (store_suite_test.go), which pins down the semantics described on each
// method. Sandbox ids, lease ids, node names and client tokens never
// contain white space.
type Store interface {
	// Init sets the pool's target size to size unless the pool already
	// has one (several nodes starting with their own Size do not undo a
	// Resize).
	Init(ctx context.Context, pool string, size int) error
	// Resize sets the pool's target size. ErrDestroyed after Destroy.
	Resize(ctx context.Context, pool string, size int) error
	// Destroy fences the pool for good: target 0, nothing can be
	// published, taken or returned any more, and every idle sandbox moves
	// to the doomed set (to be deleted). Leases stay until released or
	// lapsed; their sandboxes are then doomed too. Destroying twice is not
	// an error.
	Destroy(ctx context.Context, pool string) error
	// Stats returns the pool's counters.
	Stats(ctx context.Context, pool string) (*Stats, error)
	// Snapshot returns everything the store holds about the pool, for
	// inspection and tests (its cost grows with the pool).
	Snapshot(ctx context.Context, pool string) (*Snapshot, error)

	// Campaign tries to take or keep the pool's leader lock for node,
	// for ttl. If the lock is free or expired, node gets it with a new
	// fencing token, greater than every earlier one; if node holds it,
	// its expiry moves to now+ttl and the token stays. ok is false (and
	// term names the holder) when another node holds it.
	Campaign(ctx context.Context, pool, node string, ttl time.Duration) (term Term, ok bool, err error)
	// Resign releases the lock if term still holds it.
	Resign(ctx context.Context, pool string, term Term) error
	// Maintain is the leader's periodic step: it moves to the doomed set
	// the sandboxes of lapsed leases, idle sandboxes that have expired,
	// idle sandboxes beyond the target size (soonest to expire first) and,
	// once destroyed, all idle sandboxes; and it returns the counters, the
	// doomed sandboxes and the pending intents. ErrFenced unless term is
	// current.
	Maintain(ctx context.Context, pool string, term Term) (*Maintenance, error)

	// AddIntent records a create intent before the sandbox is created and
	// gives it a new slot number. A refill intent needs req.Term to be
	// current (else ErrFenced); a direct intent counts against req.Cap
	// together with live leases (else ErrAtCapacity). ErrDestroyed after
	// Destroy. The intent expires (Intent.Deadline) after req.TTL, after
	// which the leader resolves it.
	AddIntent(ctx context.Context, pool string, req IntentRequest) (Intent, error)
	// Publish turns a refill or adopted intent into an idle sandbox, due
	// for renewal at renewAt. It checks, in one step, that term is
	// current (else ErrFenced), that the pool is not destroyed (else
	// ErrDestroyed) and that the intent still exists (else ErrIntentGone).
	Publish(ctx context.Context, pool string, term Term, slot int64, item Item, renewAt time.Time) error
	// DropIntent removes an intent whose sandbox does not exist or was
	// deleted. Its writer (owner = Intent.Owner) may drop it, and so may
	// the current leader (term); otherwise ErrFenced. An intent already
	// gone is not an error.
	DropIntent(ctx context.Context, pool string, slot int64, owner string, term Term) error

	// Take hands one idle sandbox to a new lease, to exactly one caller:
	// the one expiring last among those that expire no sooner than
	// now+req.MinRemaining. ErrEmpty when there is none, ErrAtCapacity
	// when req.Cap live leases and direct intents exist, ErrDestroyed
	// after Destroy.
	Take(ctx context.Context, pool string, req TakeRequest) (*Taken, error)
	// ClaimIntent turns a direct intent (owner = the lease id in req) into
	// a lease on item. ErrIntentGone when the intent was resolved by the
	// leader in the meantime, ErrDestroyed after Destroy.
	ClaimIntent(ctx context.Context, pool string, slot int64, req TakeRequest, item Item, renewAt time.Time) (*Taken, error)
	// Heartbeat extends a live lease to now+ttl and returns its new
	// expiry; ErrLeaseLost once it lapsed or was released.
	Heartbeat(ctx context.Context, pool, leaseID string, ttl time.Duration) (time.Time, error)
	// Return ends a live lease and makes its sandbox idle again (expiring
	// at expiresAt, due for renewal at renewAt), unless the pool is
	// destroyed or already holds its target of idle and pending
	// sandboxes: then the sandbox is doomed and kept is false.
	// ErrLeaseLost once the lease lapsed or was released.
	Return(ctx context.Context, pool, leaseID string, expiresAt, renewAt time.Time) (kept bool, err error)
	// Drop ends a lease (live or lapsed) and dooms its sandbox, whose id
	// it returns. ErrLeaseLost when the lease is gone.
	Drop(ctx context.Context, pool, leaseID string) (string, error)
	// Forget removes deleted sandboxes from the doomed set.
	Forget(ctx context.Context, pool string, ids ...string) error

	// ClaimRenewals hands worker up to max idle or leased sandboxes due
	// for renewal. Each claim lasts ttl: until then no one else gets the
	// sandbox; a claim not completed in time (its worker crashed) makes
	// the sandbox due again.
	ClaimRenewals(ctx context.Context, pool, worker string, max int, ttl time.Duration) ([]RenewalClaim, error)
	// CompleteRenewal ends a claim: the sandbox is due again at res.Next
	// and, if idle, now expires at res.ExpiresAt; with res.Gone it leaves
	// the renewal schedule and, if idle, is doomed. ok is false (and
	// nothing changes) when the claim had lapsed.
	CompleteRenewal(ctx context.Context, pool string, claim RenewalClaim, res RenewalResult) (ok bool, err error)

	// Known reports, for each sandbox, whether the pool accounts for it:
	// idle, leased, doomed, or the result of a pending intent (by client
	// token). The reaper deletes the others.
	Known(ctx context.Context, pool string, refs []SandboxRef) ([]bool, error)
}

// Term is a leadership term: the node holding a pool's leader lock and
// the fencing token it got. Tokens only grow, so a later term always has
// a greater token.
type Term struct {
	// Node is the lock holder.
	Node string
	// Token is the fencing token of the term.
	Token int64
	// Expires is when the lock lapses unless renewed (store clock).
	Expires time.Time
}

// Item is a sandbox the pool holds.
type Item struct {
	// SandboxID identifies the sandbox.
	SandboxID string
	// ExpiresAt is its expiry as last known; zero if it has none.
	ExpiresAt time.Time
}

// IntentKind tells refill intents from direct ones.
type IntentKind string

// The two kinds of create intents.
const (
	// IntentRefill: the leader creates a sandbox for the idle set.
	IntentRefill IntentKind = "refill"
	// IntentDirect: an Acquire found nothing idle and creates a sandbox
	// for its caller ([FallbackCreate]).
	IntentDirect IntentKind = "direct"
)

// IntentRequest describes a create intent to record.
type IntentRequest struct {
	// Kind is IntentRefill or IntentDirect.
	Kind IntentKind
	// Owner is who may drop the intent besides the leader: the leader's
	// node name for refills, the lease id for direct creations.
	Owner string
	// ClientToken is the client token the create call carries
	// (lifecycle.CreateOptions.ClientToken).
	ClientToken string
	// Term fences refill intents: it must be the current term.
	Term Term
	// Cap bounds live leases plus direct intents for a direct intent; 0
	// means no cap.
	Cap int
	// TTL is how long the writer may take; after it the leader resolves
	// the intent.
	TTL time.Duration
}

// Intent is a create intent: a sandbox that is being created, or may
// have been, under a client token.
type Intent struct {
	// Slot numbers the pool's intents, from 1, never reused.
	Slot int64
	// Kind is IntentRefill or IntentDirect.
	Kind IntentKind
	// Owner is the writer: a node name or a lease id.
	Owner string
	// ClientToken is the create call's client token.
	ClientToken string
	// Term is the fencing token of the leader that wrote a refill intent.
	Term int64
	// Deadline is when the writer's create call has ended for sure
	// (store clock).
	Deadline time.Time
}

// TakeRequest describes the lease [Store.Take] and [Store.ClaimIntent]
// create.
type TakeRequest struct {
	// LeaseID identifies the new lease; unique.
	LeaseID string
	// Holder names the node holding it (for inspection).
	Holder string
	// TTL is how long the lease lives without a heartbeat.
	TTL time.Duration
	// MinRemaining skips idle sandboxes expiring sooner than now+MinRemaining.
	MinRemaining time.Duration
	// Cap bounds live leases plus direct intents; 0 means no cap.
	Cap int
}

// Taken is a sandbox handed to a lease.
type Taken struct {
	Item
	// LeaseExpires is when the lease lapses without a heartbeat (store
	// clock).
	LeaseExpires time.Time
}

// RenewalClaim is a sandbox a worker claimed for renewal.
type RenewalClaim struct {
	// SandboxID identifies the sandbox.
	SandboxID string
	// Claim identifies this claim; [Store.CompleteRenewal] checks it.
	Claim string
}

// RenewalResult is the outcome of one renewal.
type RenewalResult struct {
	// ExpiresAt is the sandbox's expiry now.
	ExpiresAt time.Time
	// Next is when the sandbox is due again.
	Next time.Time
	// Gone reports that the sandbox no longer exists (or failed): it
	// leaves the schedule.
	Gone bool
}

// SandboxRef names a sandbox by id and client token.
type SandboxRef struct {
	// ID is the sandbox id.
	ID string
	// ClientToken is the token in its metadata, or "".
	ClientToken string
}

// Stats are a pool's counters at one moment.
type Stats struct {
	// Target is the size the pool keeps: idle sandboxes plus pending
	// refill intents.
	Target int
	// Destroyed reports that the pool was destroyed.
	Destroyed bool
	// Idle sandboxes wait to be acquired.
	Idle int
	// Leased sandboxes are held by callers (live leases and lapsed ones
	// not yet reclaimed).
	Leased int
	// Pending refill intents: sandboxes being created for the idle set.
	Pending int
	// Direct intents: sandboxes being created for one caller
	// ([FallbackCreate]).
	Direct int
	// Doomed sandboxes wait to be deleted.
	Doomed int
	// Leader is the current term; zero when no one leads.
	Leader Term
	// Now is the store's clock.
	Now time.Time
}

// Maintenance is the result of [Store.Maintain].
type Maintenance struct {
	Stats
	// Reclaimed is how many lapsed leases this step reclaimed.
	Reclaimed int
	// Trimmed is how many idle sandboxes this step doomed (expired,
	// beyond the target, or destroyed).
	Trimmed int
	// Doomed lists sandboxes to delete (at most [MaxDoomedPerStep]).
	Doomed []string
	// Intents are the pending intents.
	Intents []Intent
}

// MaxDoomedPerStep bounds [Maintenance.Doomed].
const MaxDoomedPerStep = 256

// LeaseInfo is a lease as the store holds it.
type LeaseInfo struct {
	// ID identifies the lease.
	ID string
	// SandboxID is the leased sandbox.
	SandboxID string
	// Holder is the node holding it.
	Holder string
	// Expires is when it lapses without a heartbeat (store clock).
	Expires time.Time
}

// Snapshot is everything a store holds about a pool.
type Snapshot struct {
	Stats
	// Idle sandboxes, soonest to expire first.
	Idle []Item
	// Leases, live and lapsed.
	Leases []LeaseInfo
	// Intents, by slot.
	Intents []Intent
	// Doomed sandbox ids, sorted.
	Doomed []string
	// Renewals maps sandbox ids to when they are due.
	Renewals map[string]time.Time
}

// poolNameRE is a Kubernetes label value (the pool's name is stored as a
// metadata value) without the characters that would break a Redis
// Cluster hash tag.
var poolNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// ValidatePoolName checks a pool name: 1 to 63 letters, digits, '-', '_'
// or '.', starting and ending with a letter or digit (a metadata label
// value). Other names are an error matching [sandboxkit.ErrInvalidInput].
func ValidatePoolName(name string) error {
	if !poolNameRE.MatchString(name) {
		return &sandboxkit.ValidationError{Field: "pool name", Value: name,
			Reason: "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"}
	}
	return nil
}

// nodeNameRE allows what node names, lease ids and tokens are made of.
var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.:]{0,127}$`)

func validateNodeName(field, name string) error {
	if !nodeNameRE.MatchString(name) {
		return &sandboxkit.ValidationError{Field: field, Value: name,
			Reason: "must be 1 to 128 letters, digits, '-', '_', '.' or ':', starting with a letter or digit"}
	}
	return nil
}

// checkStoreArgs validates what every store call shares.
func checkStoreArgs(pool string) error {
	if err := ValidatePoolName(pool); err != nil {
		return err
	}
	return nil
}

func checkTTL(field string, d time.Duration) error {
	if d < time.Millisecond {
		return &sandboxkit.ValidationError{Field: field, Value: d.String(), Reason: "must be at least 1ms"}
	}
	return nil
}

func checkSize(size int) error {
	if size < 0 {
		return &sandboxkit.ValidationError{Field: "size", Value: fmt.Sprint(size), Reason: "must not be negative"}
	}
	return nil
}

func (r *IntentRequest) validate() error {
	switch {
	case r.Kind != IntentRefill && r.Kind != IntentDirect:
		return &sandboxkit.ValidationError{Field: "IntentRequest.Kind", Value: string(r.Kind), Reason: `must be "refill" or "direct"`}
	case r.Cap < 0:
		return &sandboxkit.ValidationError{Field: "IntentRequest.Cap", Value: fmt.Sprint(r.Cap), Reason: "must not be negative"}
	}
	if err := validateNodeName("IntentRequest.Owner", r.Owner); err != nil {
		return err
	}
	if err := validateNodeName("IntentRequest.ClientToken", r.ClientToken); err != nil {
		return err
	}
	return checkTTL("IntentRequest.TTL", r.TTL)
}

func (r *TakeRequest) validate() error {
	if err := validateNodeName("TakeRequest.LeaseID", r.LeaseID); err != nil {
		return err
	}
	if err := validateNodeName("TakeRequest.Holder", r.Holder); err != nil {
		return err
	}
	switch {
	case r.MinRemaining < 0:
		return &sandboxkit.ValidationError{Field: "TakeRequest.MinRemaining", Value: r.MinRemaining.String(), Reason: "must not be negative"}
	case r.Cap < 0:
		return &sandboxkit.ValidationError{Field: "TakeRequest.Cap", Value: fmt.Sprint(r.Cap), Reason: "must not be negative"}
	}
	return checkTTL("TakeRequest.TTL", r.TTL)
}

func (it *Item) validate() error {
	return glue.ValidateID("sandbox id", it.SandboxID)
}

func errDuplicateToken(token string) error {
	return &sandboxkit.ValidationError{Field: "client token", Value: token, Reason: "already used by a pending intent"}
}

func errDuplicateLease(id string) error {
	return &sandboxkit.ValidationError{Field: "lease id", Value: id, Reason: "already in use"}
}
