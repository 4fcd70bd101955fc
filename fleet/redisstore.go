package fleet

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sandboxkit/sandboxkit"
)

// DefaultRedisPrefix starts every key a [RedisStore] writes, unless
// [RedisStoreOptions.Prefix] says otherwise.
const DefaultRedisPrefix = "sandboxkit:fleet"

// RedisStoreOptions tunes a [RedisStore].
type RedisStoreOptions struct {
	// Prefix starts every key ([DefaultRedisPrefix] if empty); it must not
	// contain '{' or '}'. Pools of one name under different prefixes are
	// different pools.
	Prefix string
}

// RedisStore is a [Store] on Redis (or anything that runs Redis's Lua
// scripts: Valkey, Redis Cluster, managed services). Every step is one
// Lua script, so it is atomic and costs one round trip; the scripts take
// the time from the server's TIME, so the nodes' clocks do not matter. All
// keys of one pool share the hash tag {pool name} and thus one Cluster
// slot:
//
//	PREFIX:{pool}:meta         hash  target, destroyed, counters
//	PREFIX:{pool}:lock         hash  leader lock: owner, fencing token, expiry
//	PREFIX:{pool}:idle         zset  idle sandbox id → expiry (ms)
//	PREFIX:{pool}:exp          hash  idle and leased sandbox id → expiry (ms)
//	PREFIX:{pool}:leases       zset  lease id → lease expiry (ms)
//	PREFIX:{pool}:leasebox     hash  lease id → sandbox id
//	PREFIX:{pool}:leaseholder  hash  lease id → holder node
//	PREFIX:{pool}:doomed       set   sandbox ids to delete
//	PREFIX:{pool}:intents      hash  slot → "kind owner token term"
//	PREFIX:{pool}:ideadline    zset  slot → intent deadline (ms)
//	PREFIX:{pool}:directs      zset  slot of a direct intent → deadline (ms)
//	PREFIX:{pool}:tokens       hash  client token → slot
//	PREFIX:{pool}:renewals     zset  sandbox id → renewal due (ms)
//	PREFIX:{pool}:claims       hash  sandbox id → renewal claim
//
// Keys have no TTL: a pool's state lasts until deleted by hand (a
// destroyed pool keeps its fence). The scripts read TIME before they
// write, which needs Redis 5 or later (effects replication); they are
// tested against Redis 7.0.
type RedisStore struct {
	rdb    redis.Scripter
	prefix string
	// offset (ms) is added to the server's clock; tests move time with
	// it. Nil outside tests.
	offset *atomic.Int64
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store that runs its scripts through rdb (a
// *redis.Client, *redis.ClusterClient, *redis.Ring or any
// redis.Scripter). opts may be nil.
func NewRedisStore(rdb redis.Scripter, opts *RedisStoreOptions) (*RedisStore, error) {
	if rdb == nil {
		return nil, &sandboxkit.ValidationError{Field: "redis client", Reason: "must not be nil"}
	}
	prefix := DefaultRedisPrefix
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	if strings.ContainsAny(prefix, "{} \t\r\n") {
		return nil, &sandboxkit.ValidationError{Field: "RedisStoreOptions.Prefix", Value: prefix, Reason: "must not contain '{', '}' or white space"}
	}
	return &RedisStore{rdb: rdb, prefix: prefix}, nil
}

//go:embed lua/*.lua
var luaFiles embed.FS

// script is one Lua step with its name (for errors).
type script struct {
	name string
	*redis.Script
}

func loadScript(name string) script {
	prelude, err := luaFiles.ReadFile("lua/prelude.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return script{name: name, Script: redis.NewScript(string(prelude) + "\n" + string(body))}
}

var (
	scriptInit            = loadScript("init")
	scriptResize          = loadScript("resize")
	scriptDestroy         = loadScript("destroy")
	scriptStats           = loadScript("stats")
	scriptSnapshot        = loadScript("snapshot")
	scriptCampaign        = loadScript("campaign")
	scriptResign          = loadScript("resign")
	scriptMaintain        = loadScript("maintain")
	scriptAddIntent       = loadScript("addintent")
	scriptPublish         = loadScript("publish")
	scriptDropIntent      = loadScript("dropintent")
	scriptTake            = loadScript("take")
	scriptClaimIntent     = loadScript("claimintent")
	scriptHeartbeat       = loadScript("heartbeat")
	scriptReturn          = loadScript("return")
	scriptDrop            = loadScript("drop")
	scriptForget          = loadScript("forget")
	scriptClaimRenewals   = loadScript("claimrenewals")
	scriptCompleteRenewal = loadScript("completerenewal")
	scriptKnown           = loadScript("known")
)

// keyNames are the per-pool keys in the order of KEYS in the scripts.
var keyNames = []string{"meta", "lock", "idle", "exp", "leases", "leasebox", "leaseholder",
	"doomed", "intents", "ideadline", "directs", "tokens", "renewals", "claims"}

func (s *RedisStore) keys(pool string) []string {
	keys := make([]string, len(keyNames))
	for i, n := range keyNames {
		keys[i] = s.prefix + ":{" + pool + "}:" + n
	}
	return keys
}

// run runs a script for pool; args follow the clock offset (ARGV[1]).
func (s *RedisStore) run(ctx context.Context, sc script, pool string, args ...any) (any, error) {
	if err := checkStoreArgs(pool); err != nil {
		return nil, err
	}
	var off int64
	if s.offset != nil {
		off = s.offset.Load()
	}
	res, err := sc.Run(ctx, s.rdb, s.keys(pool), append([]any{off}, args...)...).Result()
	if err != nil {
		return nil, redisErr(ctx, sc.name, err)
	}
	return res, nil
}

// redisErr maps the scripts' error replies to the package's errors and
// names the step in others.
func redisErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("sandboxkit: fleet redis %s: %w", op, ctxErr)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		switch {
		case strings.HasPrefix(msg, "FLEET_FENCED"):
			return ErrFenced
		case strings.HasPrefix(msg, "FLEET_DESTROYED"):
			return ErrDestroyed
		case strings.HasPrefix(msg, "FLEET_EMPTY"):
			return ErrEmpty
		case strings.HasPrefix(msg, "FLEET_CAPACITY"):
			return ErrAtCapacity
		case strings.HasPrefix(msg, "FLEET_LEASE_LOST"):
			return ErrLeaseLost
		case strings.HasPrefix(msg, "FLEET_INTENT_GONE"):
			return ErrIntentGone
		case strings.HasPrefix(msg, "FLEET_DUPLICATE_TOKEN"):
			return errDuplicateToken("")
		case strings.HasPrefix(msg, "FLEET_DUPLICATE_LEASE"):
			return errDuplicateLease("")
		}
	}
	return fmt.Errorf("sandboxkit: fleet redis %s: %w", op, err)
}

// noExpiry is how a sandbox without expiry is stored: far in the future.
var noExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func expiryMs(t time.Time) int64 {
	if t.IsZero() {
		return noExpiry.UnixMilli()
	}
	return t.UnixMilli()
}

func expiryFromMs(ms int64) time.Time {
	if ms >= noExpiry.UnixMilli() {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Reply decoding. A malformed reply (which a conforming server never
// sends) decodes as zero values.

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(x, 64)
		return int64(f)
	}
	return 0
}

func asStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func decodeStats(v any) Stats {
	l := asList(v)
	if len(l) < 11 {
		return Stats{}
	}
	st := Stats{
		Target: int(asInt(l[0])), Destroyed: asInt(l[1]) == 1, Idle: int(asInt(l[2])), Leased: int(asInt(l[3])),
		Pending: int(asInt(l[4])), Direct: int(asInt(l[5])), Doomed: int(asInt(l[6])), Now: time.UnixMilli(asInt(l[10])),
	}
	if owner := asStr(l[7]); owner != "" {
		st.Leader = Term{Node: owner, Token: asInt(l[8]), Expires: time.UnixMilli(asInt(l[9]))}
	}
	return st
}

// pairs decodes a flat [k1, v1, k2, v2, ...] reply.
func pairs(v any) [][2]string {
	l := asList(v)
	out := make([][2]string, 0, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		out = append(out, [2]string{asStr(l[i]), asStr(l[i+1])})
	}
	return out
}

func decodeIntents(hash, deadlines any) []Intent {
	dl := map[string]int64{}
	for _, p := range pairs(deadlines) {
		dl[p[0]] = asInt(p[1])
	}
	var out []Intent
	for _, p := range pairs(hash) {
		f := strings.Fields(p[1])
		if len(f) != 4 {
			continue
		}
		slot, _ := strconv.ParseInt(p[0], 10, 64)
		term, _ := strconv.ParseInt(f[3], 10, 64)
		out = append(out, Intent{Slot: slot, Kind: IntentKind(f[0]), Owner: f[1], ClientToken: f[2], Term: term,
			Deadline: time.UnixMilli(dl[p[0]])})
	}
	slices.SortFunc(out, func(a, b Intent) int { return cmp.Compare(a.Slot, b.Slot) })
	return out
}

// Init implements [Store.Init].
func (s *RedisStore) Init(ctx context.Context, pool string, size int) error {
	if err := checkSize(size); err != nil {
		return err
	}
	_, err := s.run(ctx, scriptInit, pool, size)
	return err
}

// Resize implements [Store.Resize].
func (s *RedisStore) Resize(ctx context.Context, pool string, size int) error {
	if err := checkSize(size); err != nil {
		return err
	}
	_, err := s.run(ctx, scriptResize, pool, size)
	return err
}

// Destroy implements [Store.Destroy].
func (s *RedisStore) Destroy(ctx context.Context, pool string) error {
	_, err := s.run(ctx, scriptDestroy, pool)
	return err
}

// Stats implements [Store.Stats].
func (s *RedisStore) Stats(ctx context.Context, pool string) (*Stats, error) {
	res, err := s.run(ctx, scriptStats, pool)
	if err != nil {
		return nil, err
	}
	st := decodeStats(res)
	return &st, nil
}

// Snapshot implements [Store.Snapshot].
func (s *RedisStore) Snapshot(ctx context.Context, pool string) (*Snapshot, error) {
	res, err := s.run(ctx, scriptSnapshot, pool)
	if err != nil {
		return nil, err
	}
	l := asList(res)
	if len(l) < 9 {
		return nil, fmt.Errorf("sandboxkit: fleet redis snapshot: malformed reply")
	}
	snap := &Snapshot{Stats: decodeStats(l[0]), Renewals: map[string]time.Time{}}
	for _, p := range pairs(l[1]) {
		snap.Idle = append(snap.Idle, Item{SandboxID: p[0], ExpiresAt: expiryFromMs(asInt(p[1]))})
	}
	box, holder := map[string]string{}, map[string]string{}
	for _, p := range pairs(l[3]) {
		box[p[0]] = p[1]
	}
	for _, p := range pairs(l[4]) {
		holder[p[0]] = p[1]
	}
	for _, p := range pairs(l[2]) {
		snap.Leases = append(snap.Leases, LeaseInfo{ID: p[0], SandboxID: box[p[0]], Holder: holder[p[0]], Expires: time.UnixMilli(asInt(p[1]))})
	}
	slices.SortFunc(snap.Leases, func(a, b LeaseInfo) int { return cmp.Compare(a.ID, b.ID) })
	snap.Intents = decodeIntents(l[5], l[6])
	for _, v := range asList(l[7]) {
		snap.Doomed = append(snap.Doomed, asStr(v))
	}
	slices.Sort(snap.Doomed)
	for _, p := range pairs(l[8]) {
		snap.Renewals[p[0]] = time.UnixMilli(asInt(p[1]))
	}
	return snap, nil
}

// Campaign implements [Store.Campaign].
func (s *RedisStore) Campaign(ctx context.Context, pool, node string, ttl time.Duration) (Term, bool, error) {
	if err := validateNodeName("node", node); err != nil {
		return Term{}, false, err
	}
	if err := checkTTL("leader TTL", ttl); err != nil {
		return Term{}, false, err
	}
	res, err := s.run(ctx, scriptCampaign, pool, node, ms(ttl))
	if err != nil {
		return Term{}, false, err
	}
	l := asList(res)
	if len(l) < 4 {
		return Term{}, false, fmt.Errorf("sandboxkit: fleet redis campaign: malformed reply")
	}
	return Term{Node: asStr(l[1]), Token: asInt(l[2]), Expires: time.UnixMilli(asInt(l[3]))}, asInt(l[0]) == 1, nil
}

// Resign implements [Store.Resign].
func (s *RedisStore) Resign(ctx context.Context, pool string, term Term) error {
	_, err := s.run(ctx, scriptResign, pool, term.Node, term.Token)
	return err
}

// Maintain implements [Store.Maintain].
func (s *RedisStore) Maintain(ctx context.Context, pool string, term Term) (*Maintenance, error) {
	res, err := s.run(ctx, scriptMaintain, pool, term.Node, term.Token, MaxDoomedPerStep)
	if err != nil {
		return nil, err
	}
	l := asList(res)
	if len(l) < 6 {
		return nil, fmt.Errorf("sandboxkit: fleet redis maintain: malformed reply")
	}
	m := &Maintenance{Stats: decodeStats(l[0]), Reclaimed: int(asInt(l[1])), Trimmed: int(asInt(l[2]))}
	for _, v := range asList(l[3]) {
		m.Doomed = append(m.Doomed, asStr(v))
	}
	slices.Sort(m.Doomed)
	m.Intents = decodeIntents(l[4], l[5])
	return m, nil
}

// AddIntent implements [Store.AddIntent].
func (s *RedisStore) AddIntent(ctx context.Context, pool string, req IntentRequest) (Intent, error) {
	if err := req.validate(); err != nil {
		return Intent{}, err
	}
	res, err := s.run(ctx, scriptAddIntent, pool, string(req.Kind), req.Owner, req.ClientToken,
		req.Term.Node, req.Term.Token, req.Cap, ms(req.TTL))
	if err != nil {
		if errors.Is(err, sandboxkit.ErrInvalidInput) {
			return Intent{}, errDuplicateToken(req.ClientToken)
		}
		return Intent{}, err
	}
	l := asList(res)
	if len(l) < 2 {
		return Intent{}, fmt.Errorf("sandboxkit: fleet redis addintent: malformed reply")
	}
	in := Intent{Slot: asInt(l[0]), Kind: req.Kind, Owner: req.Owner, ClientToken: req.ClientToken,
		Deadline: time.UnixMilli(asInt(l[1]))}
	if req.Kind == IntentRefill {
		in.Term = req.Term.Token
	}
	return in, nil
}

// Publish implements [Store.Publish].
func (s *RedisStore) Publish(ctx context.Context, pool string, term Term, slot int64, item Item, renewAt time.Time) error {
	if err := item.validate(); err != nil {
		return err
	}
	_, err := s.run(ctx, scriptPublish, pool, term.Node, term.Token, slot, item.SandboxID,
		expiryMs(item.ExpiresAt), renewAt.UnixMilli())
	return err
}

// DropIntent implements [Store.DropIntent].
func (s *RedisStore) DropIntent(ctx context.Context, pool string, slot int64, owner string, term Term) error {
	_, err := s.run(ctx, scriptDropIntent, pool, slot, owner, term.Node, term.Token)
	return err
}

// Take implements [Store.Take].
func (s *RedisStore) Take(ctx context.Context, pool string, req TakeRequest) (*Taken, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	res, err := s.run(ctx, scriptTake, pool, req.LeaseID, req.Holder, ms(req.TTL), ms(req.MinRemaining), req.Cap)
	if err != nil {
		if errors.Is(err, sandboxkit.ErrInvalidInput) {
			return nil, errDuplicateLease(req.LeaseID)
		}
		return nil, err
	}
	l := asList(res)
	if len(l) < 3 {
		return nil, fmt.Errorf("sandboxkit: fleet redis take: malformed reply")
	}
	return &Taken{Item: Item{SandboxID: asStr(l[0]), ExpiresAt: expiryFromMs(asInt(l[1]))},
		LeaseExpires: time.UnixMilli(asInt(l[2]))}, nil
}

// ClaimIntent implements [Store.ClaimIntent].
func (s *RedisStore) ClaimIntent(ctx context.Context, pool string, slot int64, req TakeRequest, item Item, renewAt time.Time) (*Taken, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if err := item.validate(); err != nil {
		return nil, err
	}
	exp := expiryMs(item.ExpiresAt)
	res, err := s.run(ctx, scriptClaimIntent, pool, slot, req.LeaseID, req.Holder, ms(req.TTL),
		item.SandboxID, exp, renewAt.UnixMilli())
	if err != nil {
		if errors.Is(err, sandboxkit.ErrInvalidInput) {
			return nil, errDuplicateLease(req.LeaseID)
		}
		return nil, err
	}
	return &Taken{Item: Item{SandboxID: item.SandboxID, ExpiresAt: expiryFromMs(exp)},
		LeaseExpires: time.UnixMilli(asInt(res))}, nil
}

// Heartbeat implements [Store.Heartbeat].
func (s *RedisStore) Heartbeat(ctx context.Context, pool, leaseID string, ttl time.Duration) (time.Time, error) {
	if err := checkTTL("lease TTL", ttl); err != nil {
		return time.Time{}, err
	}
	res, err := s.run(ctx, scriptHeartbeat, pool, leaseID, ms(ttl))
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(asInt(res)), nil
}

// Return implements [Store.Return].
func (s *RedisStore) Return(ctx context.Context, pool, leaseID string, expiresAt, renewAt time.Time) (bool, error) {
	res, err := s.run(ctx, scriptReturn, pool, leaseID, expiryMs(expiresAt), renewAt.UnixMilli())
	if err != nil {
		return false, err
	}
	return asInt(res) == 1, nil
}

// Drop implements [Store.Drop].
func (s *RedisStore) Drop(ctx context.Context, pool, leaseID string) (string, error) {
	res, err := s.run(ctx, scriptDrop, pool, leaseID)
	if err != nil {
		return "", err
	}
	return asStr(res), nil
}

// Forget implements [Store.Forget].
func (s *RedisStore) Forget(ctx context.Context, pool string, ids ...string) error {
	if len(ids) == 0 {
		return checkStoreArgs(pool)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := s.run(ctx, scriptForget, pool, args...)
	return err
}

// ClaimRenewals implements [Store.ClaimRenewals].
func (s *RedisStore) ClaimRenewals(ctx context.Context, pool, worker string, max int, ttl time.Duration) ([]RenewalClaim, error) {
	if err := validateNodeName("worker", worker); err != nil {
		return nil, err
	}
	if err := checkTTL("claim TTL", ttl); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, checkStoreArgs(pool)
	}
	res, err := s.run(ctx, scriptClaimRenewals, pool, worker, max, ms(ttl))
	if err != nil {
		return nil, err
	}
	var out []RenewalClaim
	for _, p := range pairs(res) {
		out = append(out, RenewalClaim{SandboxID: p[0], Claim: p[1]})
	}
	return out, nil
}

// CompleteRenewal implements [Store.CompleteRenewal].
func (s *RedisStore) CompleteRenewal(ctx context.Context, pool string, claim RenewalClaim, res RenewalResult) (bool, error) {
	gone := "0"
	if res.Gone {
		gone = "1"
	}
	v, err := s.run(ctx, scriptCompleteRenewal, pool, claim.SandboxID, claim.Claim,
		expiryMs(res.ExpiresAt), res.Next.UnixMilli(), gone)
	if err != nil {
		return false, err
	}
	return asInt(v) == 1, nil
}

// Known implements [Store.Known].
func (s *RedisStore) Known(ctx context.Context, pool string, refs []SandboxRef) ([]bool, error) {
	if len(refs) == 0 {
		return nil, checkStoreArgs(pool)
	}
	args := make([]any, 0, 2*len(refs))
	for _, r := range refs {
		args = append(args, r.ID, r.ClientToken)
	}
	res, err := s.run(ctx, scriptKnown, pool, args...)
	if err != nil {
		return nil, err
	}
	l := asList(res)
	out := make([]bool, len(refs))
	for i := range out {
		out[i] = i < len(l) && asInt(l[i]) == 1
	}
	return out, nil
}
