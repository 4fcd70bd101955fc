// Package multiproc_test runs a fleet of worker processes against one
// sandboxmock process and one real redis-server, kills some of them with
// SIGKILL at the worst moments, and checks what package fleet promises:
// no sandbox handed to two holders, every sandbox accounted for, no
// renewal that shortened a lifetime, no orphans, no leaked goroutines.
// The workers are this test binary run again (TestMain dispatches on
// FLEET_MP_ROLE).
package multiproc_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// RedisAddrEnv names the variable with the address of the real
// redis-server (.ci/run sets it); FiguresEnv, if set, names a file the
// test appends its figures to (.ci/run prints it).
const (
	RedisAddrEnv = "SANDBOXKIT_TEST_REDIS_ADDR"
	FiguresEnv   = "SANDBOXKIT_FLEET_FIGURES"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRole) == "worker" {
		os.Exit(worker())
	}
	os.Exit(m.Run())
}

const (
	workers  = 6
	holders  = 2 // concurrent acquirers per worker
	apiKey   = "multiproc-key"
	runPhase = 4 * time.Second // how long the fleet runs between events
)

func TestFleetMultiProcess(t *testing.T) {
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		t.Skipf("%s is not set: no real redis-server for the multi-process test (.ci/run starts one; "+
			"or run `redis-server --port N --save ''` and set %s=127.0.0.1:N)", RedisAddrEnv, RedisAddrEnv)
	}
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	started := time.Now()

	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s=%s: %v", RedisAddrEnv, addr, err)
	}
	store, err := fleet.NewRedisStore(rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := "mp-" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { deletePoolKeys(rdb, pool) })

	mockURL := startSandboxmock(t, ctx)
	rec := newRecorder(mockURL, apiKey)
	proxy := &http.Server{Handler: rec, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxy.Serve(ln)
	t.Cleanup(func() { proxy.Close() })
	lcURL := "http://" + ln.Addr().String() + "/v1"

	// The workers: two of them create directly when the pool is empty.
	procs := make([]*proc, workers)
	for i := range procs {
		fallback := "next"
		if i >= workers-2 {
			fallback = "create"
		}
		node := fmt.Sprintf("worker-%d", i)
		procs[i] = startWorker(t, node, workerEnv(addr, lcURL, apiKey, pool, node, fallback, holders))
	}
	byNode := map[string]*proc{}
	for _, p := range procs {
		byNode[p.node] = p
	}
	for _, p := range procs {
		p.waitEvent(t, ctx, evReady, nil)
	}
	waitUntil(t, ctx, "pool warm", 30*time.Second, func() bool {
		st, err := store.Stats(ctx, pool)
		return err == nil && st.Leader.Node != "" && st.Idle+st.Leased >= 6
	})
	sleepCtx(ctx, runPhase)

	// Kill the leader between a create and its publish.
	st, err := store.Stats(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	leader := byNode[st.Leader.Node]
	if leader == nil {
		t.Fatalf("leader %q is not a worker", st.Leader.Node)
	}
	mark := leader.mark()
	created := leader.waitEvent(t, ctx, "fleet refill created", &mark)
	leader.kill()
	killedLeaderAt := time.Now()
	slot := created.str("slot")
	midRefill := !slices.ContainsFunc(leader.events(), func(e event) bool { return e.msg == "fleet published" && e.str("slot") == slot })
	if !midRefill {
		t.Errorf("the leader published slot %s before it died; the kill was not mid-refill", slot)
	}
	leaderToken, leaderSandbox := created.str("token"), created.str("sandbox")

	sleepCtx(ctx, runPhase)

	// Kill a worker while it holds leases.
	var holder *proc
	var held []string
	waitUntil(t, ctx, "a worker holding leases", 30*time.Second, func() bool {
		for _, p := range procs {
			if p.killed() {
				continue
			}
			if ids := p.holding(); len(ids) > 0 {
				if now, err := store.Stats(ctx, pool); err == nil && now.Leader.Node != p.node {
					holder, held = p, ids
					p.kill()
					return true
				}
			}
		}
		return false
	})
	killedHolderAt := time.Now()
	held = holder.holding() // what it still held when it died
	sleepCtx(ctx, runPhase)

	// Stop the survivors' work, let the pool settle, and wait one reaper
	// interval.
	var survivors []*proc
	for _, p := range procs {
		if !p.killed() {
			survivors = append(survivors, p)
			p.send("stop")
		}
	}
	for _, p := range survivors {
		p.waitEvent(t, ctx, evDrained, nil)
	}
	// Two orphans appear (as a crashed node of another design would leave
	// them): labelled with the pool, known to no one.
	lc, err := lifecycle.New(sandboxkit.WithBaseURL(lcURL), sandboxkit.WithAPIKey(apiKey), sandboxkit.WithoutEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	var seeded []string
	for range 2 {
		tpl := *poolOptions(pool, "x", 0, nil, nil).Template
		tpl.Metadata = map[string]string{fleet.PoolLabel: pool}
		s, err := lc.Create(ctx, &tpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		seeded = append(seeded, s.ID)
	}
	var settled *fleet.Stats
	waitUntil(t, ctx, "pool settled", 60*time.Second, func() bool {
		s, err := store.Stats(ctx, pool)
		if err != nil || s.Leased != 0 || s.Pending != 0 || s.Direct != 0 || s.Doomed != 0 || s.Idle != s.Target {
			return false
		}
		settled = s
		return true
	})
	reaperWait := poolOptions(pool, "x", 0, nil, nil).ReapInterval + poolOptions(pool, "x", 0, nil, nil).LeaderTTL
	sleepCtx(ctx, reaperWait)
	snap, err := store.Snapshot(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	live, err := rec.liveSandboxes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range survivors {
		p.send("exit")
	}
	for _, p := range survivors {
		p.wait(t, ctx)
	}
	elapsed := time.Since(started)

	// The checks.
	var all []event
	for _, p := range procs {
		all = append(all, p.events()...)
	}
	f := figures{workers: workers, holders: holders}

	// 1. No sandbox handed to two holders at once: a sandbox's holds
	// [acquired, releasing] never overlap, and a sandbox held by the
	// killed worker is never handed out again.
	type hold struct {
		from, to int64
		lease    string
	}
	holds := map[string][]hold{}
	ends := map[string]int64{}
	for _, e := range all {
		switch e.msg {
		case evReleasing, evLost:
			ends[e.str("lease")] = e.int("at")
		}
	}
	for _, e := range all {
		if e.msg != evAcquired {
			continue
		}
		f.handouts++
		end, ok := ends[e.str("lease")]
		if !ok {
			end = 1<<63 - 1 // held until its worker died
		}
		holds[e.str("sandbox")] = append(holds[e.str("sandbox")], hold{from: e.int("at"), to: end, lease: e.str("lease")})
	}
	for id, hs := range holds {
		sort.Slice(hs, func(i, j int) bool { return hs[i].from < hs[j].from })
		f.maxHandouts = max(f.maxHandouts, len(hs))
		for i := 1; i < len(hs); i++ {
			if hs[i].from < hs[i-1].to {
				t.Errorf("sandbox %s handed to lease %s while lease %s held it", id, hs[i].lease, hs[i-1].lease)
				f.doubleHandouts++
			}
		}
	}
	f.sandboxesHandedOut = len(holds)
	for _, e := range all {
		switch e.msg {
		case evUnusable:
			t.Errorf("%s: handed out sandbox %s was not Running: %s", e.str("node"), e.str("sandbox"), e.str("error"))
		case "fleet intent adopted":
			f.adopted++
		case "fleet intent dropped: nothing was created", "fleet intent resolved: deleted":
			f.intentsDropped++
		case "fleet reclaimed lapsed leases":
			f.reclaimed += int(e.int("count"))
		case "fleet orphan deleted":
			f.orphansReaped++
		case "fleet leader elected":
			f.terms++
		case "fleet direct create claimed":
			f.direct++
		case evLost:
			f.leasesLost++
		case "fleet refill failed", "fleet refill rate-limited: pausing refills":
			f.refillErrors++
		case evReleased:
			if msg := e.str("error"); msg != "" {
				f.releaseErrors++
			}
		}
	}
	if f.doubleHandouts == 0 && f.handouts < 10 {
		t.Errorf("only %d handouts: the fleet did too little to show anything", f.handouts)
	}

	// 2. The killed leader's half-made sandbox was adopted by the next
	// leader (or deleted), and the killed holder's sandboxes were
	// reclaimed (deleted) and never handed out again.
	adoptedIt := slices.ContainsFunc(all, func(e event) bool {
		return e.msg == "fleet intent adopted" && e.str("token") == leaderToken
	})
	if !adoptedIt {
		t.Errorf("the intent %s (sandbox %s) of the killed leader was not adopted", leaderToken, leaderSandbox)
	}
	for _, id := range held {
		if state := rec.state(ctx, id); state != "gone" {
			t.Errorf("sandbox %s held by the killed worker is %s, want deleted", id, state)
		}
		for _, h := range holds[id] {
			if h.from > killedHolderAt.UnixNano() {
				t.Errorf("sandbox %s of the killed worker was handed out again", id)
			}
		}
	}
	if f.reclaimed < len(held) {
		t.Errorf("%d leases reclaimed, but the killed worker held %d", f.reclaimed, len(held))
	}

	// 3. Every sandbox ever created is idle in the pool or deleted.
	idle := map[string]bool{}
	for _, it := range snap.Idle {
		idle[it.SandboxID] = true
	}
	creations := rec.creationList()
	f.created = len(creations)
	for _, c := range creations {
		switch state := rec.state(ctx, c.id); {
		case idle[c.id] && state == "Running":
			f.idleAtEnd++
		case state == "gone":
			f.deleted++
		default:
			t.Errorf("sandbox %s (token %s) is %s and not idle: unaccounted for", c.id, c.token, state)
		}
	}
	for tok, n := range rec.tokenCounts() {
		if n > 1 {
			t.Errorf("client token %s created %d sandboxes", tok, n)
		}
	}
	if len(snap.Leases) != 0 || len(snap.Intents) != 0 || len(snap.Doomed) != 0 {
		t.Errorf("pool not settled: %+v", snap)
	}

	// 4. No renewal asked for an earlier expiry than the one in force.
	for _, r := range rec.renewalList() {
		f.renewals++
		if r.requested.Before(r.before) {
			f.shortening++
			t.Errorf("renewal of %s to %s shortened its expiry %s", r.id, r.requested, r.before)
		}
		if r.status >= 300 {
			f.renewalErrors++
		}
	}
	if f.renewals == 0 {
		t.Error("no renewals happened")
	}

	// 5. No orphans: after one reaper interval every live sandbox of the
	// pool is idle.
	for _, id := range live {
		if !idle[id] {
			f.orphans++
			t.Errorf("orphan: sandbox %s is live but not idle", id)
		}
	}

	for _, id := range seeded {
		if state := rec.state(ctx, id); state != "gone" {
			t.Errorf("seeded orphan %s is %s after one reaper interval", id, state)
		}
	}
	if f.orphansReaped < len(seeded) {
		t.Errorf("%d orphans reaped, but %d were seeded", f.orphansReaped, len(seeded))
	}

	// 6. No goroutine leaks in the workers that stopped cleanly.
	for _, p := range survivors {
		e, ok := p.last(evLeaks)
		switch {
		case !ok:
			t.Errorf("%s reported no leak check", p.node)
		case e.str("leaks") != "":
			f.leakyWorkers++
			t.Errorf("%s leaked goroutines: %s", p.node, e.str("leaks"))
		}
	}

	f.killedLeader, f.killedLeaderSlot, f.midRefill = leader.node, slot, midRefill
	f.killedHolder, f.heldAtKill = holder.node, len(held)
	f.leaderDeadFor = killedHolderAt.Sub(killedLeaderAt)
	f.target, f.elapsed, f.seeded = settled.Target, elapsed, len(seeded)
	report(t, f)
}

type figures struct {
	workers, holders                  int
	handouts, sandboxesHandedOut      int
	maxHandouts, doubleHandouts       int
	created, idleAtEnd, deleted       int
	direct, adopted, intentsDropped   int
	reclaimed, leasesLost, heldAtKill int
	orphansReaped, orphans, seeded    int
	renewals, renewalErrors           int
	shortening, refillErrors          int
	releaseErrors, leakyWorkers       int
	terms, target                     int
	killedLeader, killedLeaderSlot    string
	killedHolder                      string
	midRefill                         bool
	leaderDeadFor, elapsed            time.Duration
}

func report(t *testing.T, f figures) {
	var b strings.Builder
	fmt.Fprintf(&b, "fleet multi-process test: %d worker processes × %d holders, 1 sandboxmock, 1 redis-server, %s\n", f.workers, f.holders, f.elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "  handouts %d of %d sandboxes (at most %d times one sandbox); handed to two holders at once: %d\n", f.handouts, f.sandboxesHandedOut, f.maxHandouts, f.doubleHandouts)
	fmt.Fprintf(&b, "  leader %s SIGKILLed mid-refill (slot %s, unpublished: %v); leader terms: %d; intents adopted %d, dropped or deleted %d\n", f.killedLeader, f.killedLeaderSlot, f.midRefill, f.terms, f.adopted, f.intentsDropped)
	fmt.Fprintf(&b, "  holder %s SIGKILLed holding %d leases; lapsed leases reclaimed %d; leases lost by live holders %d\n", f.killedHolder, f.heldAtKill, f.reclaimed, f.leasesLost)
	fmt.Fprintf(&b, "  sandboxes created %d (direct %d): idle at the end %d (target %d), deleted %d, unaccounted %d\n", f.created, f.direct, f.idleAtEnd, f.target, f.deleted, f.created-f.idleAtEnd-f.deleted)
	fmt.Fprintf(&b, "  renewals %d (refused %d), shortening a lifetime %d\n", f.renewals, f.renewalErrors, f.shortening)
	fmt.Fprintf(&b, "  orphans reaped %d (%d seeded), orphans left after one reaper interval %d\n", f.orphansReaped, f.seeded, f.orphans)
	fmt.Fprintf(&b, "  refill errors %d, release errors %d, workers with leaked goroutines %d\n", f.refillErrors, f.releaseErrors, f.leakyWorkers)
	t.Log(b.String())
	if path := os.Getenv(FiguresEnv); path != "" {
		if fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fh.WriteString(b.String())
			fh.Close()
		}
	}
}

func deletePoolKeys(rdb *redis.Client, pool string) {
	ctx := context.Background()
	keys, _ := rdb.Keys(ctx, fleet.DefaultRedisPrefix+":{"+pool+"}:*").Result()
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitUntil polls cond until it holds, failing after limit.
func waitUntil(t *testing.T, ctx context.Context, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %s", what, limit)
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// startSandboxmock builds and starts the sandboxmock command and returns
// its URL.
func startSandboxmock(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sandboxmock")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build sandboxmock: %v", err)
	}
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin,
		"github.com/sandboxkit/sandboxkit/mockserver/cmd/sandboxmock")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sandboxmock: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-api-key", apiKey, "-transition-delay", "400ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("sandboxmock: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	// "sandboxmock listening on URL lifecycle=… controlplane=… control=…"
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "sandboxmock listening on ")
	url, _, _ := strings.Cut(rest, " ")
	if !ok || url == "" {
		t.Fatalf("sandboxmock said %q", line)
	}
	return url
}

// event is one JSON record a worker printed.
type event struct {
	msg   string
	attrs map[string]any
}

func (e event) str(k string) string {
	switch v := e.attrs[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (e event) int(k string) int64 {
	if v, ok := e.attrs[k].(json.Number); ok {
		n, _ := v.Int64()
		return n
	}
	return 0
}

// proc is a worker process and what it printed.
type proc struct {
	node  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu      sync.Mutex
	evs     []event
	changed chan struct{} // closed and replaced on every event
	dead    bool
}

func startWorker(t *testing.T, node string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{node: node, cmd: cmd, stdin: stdin, done: make(chan struct{}), changed: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.UseNumber()
			var m map[string]any
			if dec.Decode(&m) != nil {
				continue
			}
			msg, _ := m["msg"].(string)
			p.mu.Lock()
			p.evs = append(p.evs, event{msg: msg, attrs: m})
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		if !p.killed() {
			p.stdin.Close()
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Second):
			}
		}
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) events() []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.evs)
}

func (p *proc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.evs)
}

func (p *proc) last(msg string) (event, bool) {
	evs := p.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].msg == msg {
			return evs[i], true
		}
	}
	return event{}, false
}

// waitEvent waits for an event with msg, after index *from if given.
func (p *proc) waitEvent(t *testing.T, ctx context.Context, msg string, from *int) event {
	t.Helper()
	start := 0
	if from != nil {
		start = *from
	}
	timeout := time.After(60 * time.Second)
	for {
		p.mu.Lock()
		for _, e := range p.evs[min(start, len(p.evs)):] {
			if e.msg == msg {
				p.mu.Unlock()
				return e
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("%s exited before %q", p.node, msg)
		case <-timeout:
			t.Fatalf("%s: no %q within 60s", p.node, msg)
		case <-ctx.Done():
			t.Fatalf("%s: no %q before the test's deadline", p.node, msg)
		}
	}
}

// holding returns the sandboxes p acquired and has not begun to release.
func (p *proc) holding() []string {
	open := map[string]string{}
	for _, e := range p.events() {
		switch e.msg {
		case evAcquired:
			open[e.str("lease")] = e.str("sandbox")
		case evReleasing, evLost:
			delete(open, e.str("lease"))
		}
	}
	return slices.Sorted(maps.Values(open))
}

func (p *proc) kill() {
	p.mu.Lock()
	p.dead = true
	p.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
}

func (p *proc) killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

func (p *proc) send(line string) { io.WriteString(p.stdin, line+"\n") }

func (p *proc) wait(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("%s did not exit", p.node)
	}
}

// recorder is a reverse proxy in front of sandboxmock that sees every
// lifecycle call of the fleet: it records creations, and before
// forwarding a renewal it reads the sandbox's expiry in force, so that a
// renewal asking for an earlier one is caught whoever sent it.
type recorder struct {
	upstream, key string
	hc            *http.Client

	mu        sync.Mutex
	creations []creation
	renewals  []renewal
	idLocks   map[string]*sync.Mutex
}

type creation struct{ id, token string }

type renewal struct {
	id                string
	before, requested time.Time
	status            int
}

func newRecorder(upstream, key string) *recorder {
	return &recorder{upstream: upstream, key: key, hc: &http.Client{Timeout: 30 * time.Second}, idLocks: map[string]*sync.Mutex{}}
}

var renewPath = regexp.MustCompile(`^/v1/sandboxes/([^/]+)/renew-expiration$`)

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var ren *renewal
	if m := renewPath.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodPost {
		lock := r.lockFor(m[1])
		lock.Lock()
		defer lock.Unlock()
		var asked struct {
			ExpiresAt time.Time `json:"expiresAt"`
		}
		_ = json.Unmarshal(body, &asked)
		ren = &renewal{id: m[1], requested: asked.ExpiresAt}
		if s, err := r.get(req.Context(), m[1]); err == nil {
			ren.before = s.ExpiresAt
		}
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, r.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = req.Header.Clone()
	resp, err := r.hc.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch {
	case ren != nil:
		ren.status = resp.StatusCode
		r.mu.Lock()
		r.renewals = append(r.renewals, *ren)
		r.mu.Unlock()
	case req.Method == http.MethodPost && req.URL.Path == "/v1/sandboxes" && resp.StatusCode == http.StatusAccepted:
		var s struct {
			ID       string            `json:"id"`
			Metadata map[string]string `json:"metadata"`
		}
		_ = json.Unmarshal(respBody, &s)
		r.mu.Lock()
		r.creations = append(r.creations, creation{id: s.ID, token: s.Metadata[lifecycle.ClientTokenKey]})
		r.mu.Unlock()
	}
	maps.Copy(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

func (r *recorder) lockFor(id string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.idLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		r.idLocks[id] = l
	}
	return l
}

type sandboxJSON struct {
	ID     string `json:"id"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
	Metadata  map[string]string `json:"metadata"`
	ExpiresAt time.Time         `json:"expiresAt"`
}

func (r *recorder) call(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.upstream+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("OPEN-SANDBOX-API-KEY", r.key)
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

func (r *recorder) get(ctx context.Context, id string) (*sandboxJSON, error) {
	var s sandboxJSON
	_, err := r.call(ctx, "/v1/sandboxes/"+id, &s)
	return &s, err
}

// state is a sandbox's state on the server, or "gone" once it is
// deleted (404, Stopping or Terminated).
func (r *recorder) state(ctx context.Context, id string) string {
	var s sandboxJSON
	code, err := r.call(ctx, "/v1/sandboxes/"+id, &s)
	switch {
	case code == http.StatusNotFound:
		return "gone"
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case s.Status.State == "Stopping" || s.Status.State == "Terminated":
		return "gone"
	}
	return s.Status.State
}

// liveSandboxes lists the pool's sandboxes that are not being deleted.
func (r *recorder) liveSandboxes(ctx context.Context, pool string) ([]string, error) {
	filter, err := lifecycle.EncodeMetadataFilter(map[string]string{fleet.PoolLabel: pool})
	if err != nil {
		return nil, err
	}
	var ids []string
	for page := 1; ; page++ {
		var res struct {
			Items      []sandboxJSON `json:"items"`
			Pagination struct {
				HasNextPage bool `json:"hasNextPage"`
			} `json:"pagination"`
		}
		q := fmt.Sprintf("/v1/sandboxes?pageSize=200&page=%d&metadata=%s", page, url.QueryEscape(filter))
		if _, err := r.call(ctx, q, &res); err != nil {
			return nil, err
		}
		for _, s := range res.Items {
			if s.Status.State != "Stopping" && s.Status.State != "Terminated" {
				ids = append(ids, s.ID)
			}
		}
		if !res.Pagination.HasNextPage {
			return ids, nil
		}
	}
}

func (r *recorder) creationList() []creation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.creations)
}

func (r *recorder) renewalList() []renewal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.renewals)
}

func (r *recorder) tokenCounts() map[string]int {
	out := map[string]int{}
	for _, c := range r.creationList() {
		out[c.token]++
	}
	return out
}
