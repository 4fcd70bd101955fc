package resilience

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

var (
	chaosFull = flag.Bool("chaos.full", false, "TestChaos: run 200 workflows instead of 20")
	chaosSeed = flag.Uint64("chaos.seed", 20260501, "TestChaos: seed of the fault and latency generators")
)

const (
	// chaosAPIKey is the tenant's key. The test searches every log record
	// and every workflow error for it.
	chaosAPIKey = "sk-chaos/Kq7Zt2Xw9Lm4Np8Rv3"
	// workflowKey is a metadata key holding the workflow's name, so that a
	// workflow can find what it created even when Create could not tell
	// (a *sandboxkit.OutcomeError) and so that the journal shows how many
	// sandboxes each workflow made.
	workflowKey = "chaos.sandboxkit.dev/workflow"

	shortWorkflows = 20
	fullWorkflows  = 200

	// Budgets on the bubble's fake clock.
	workflowTimeout = 10 * time.Minute
	cleanupTimeout  = 5 * time.Minute
	cleanupAttempts = 5

	minLatency = 10 * time.Millisecond
	maxLatency = 200 * time.Millisecond
)

// chaosFault is one fault the chaos test injects, named for the report.
type chaosFault struct {
	name  string
	fault mockserver.Fault
}

// chaosFaults are the faults of the chaos test, in the order the mock
// tries them (the first that fires shapes the answer). The probabilities
// are those of issue 8; every fault has its own seeded generator. Latency
// is not among them: the mock applies only one fault per request, so a
// latency fault would never delay a faulted answer. latencyTransport
// delays every request instead.
func chaosFaults(seed uint64) []chaosFault {
	return []chaosFault{
		{"create: 500 after commit", mockserver.Fault{
			API: mockserver.APILifecycle, Operation: "CreateSandbox",
			Status: http.StatusInternalServerError, AfterCommit: true, Probability: 0.02, Seed: seed + 1}},
		{"create: reset after commit", mockserver.Fault{
			API: mockserver.APILifecycle, Operation: "CreateSandbox",
			Reset: true, AfterCommit: true, Probability: 0.02, Seed: seed + 2}},
		{"connection reset", mockserver.Fault{Reset: true, Probability: 0.05, Seed: seed + 3}},
		{"503 + Retry-After", mockserver.Fault{
			Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Probability: 0.20, Seed: seed + 4}},
	}
}

// latencyTransport delays every request by 10–200 ms, half before it is
// sent and half before its answer is returned, like a round trip. The
// delay of the n-th request is drawn from a generator seeded with (seed,
// n). It honours the request's context.
type latencyTransport struct {
	next http.RoundTripper
	seed uint64
	n    atomic.Uint64
}

func (t *latencyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rng := rand.New(rand.NewPCG(t.seed, t.n.Add(1)))
	d := minLatency + time.Duration(rng.Int64N(int64(maxLatency-minLatency)+1))
	if err := sleepCtx(req.Context(), d/2); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := sleepCtx(req.Context(), d-d/2); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chaosEnv is what every workflow shares.
type chaosEnv struct {
	lc   *lifecycle.Client
	http *http.Client // the mock's in-memory transport behind latencyTransport
	log  *slog.Logger
}

// outcome is how one workflow ended.
type outcome struct {
	name     string
	step     string // the step that failed; "" when the workflow finished
	err      error
	cleanup  bool   // the workflow had to clean up after itself
	cleanErr error  // the cleanup's error, if it failed too
	created  string // the sandbox id, once known
}

// workflow runs create → wait Running → exec → renew → pause → resume →
// delete and wait for one sandbox. When a step fails, it deletes what it
// created with a fresh context before returning: a failed workflow
// leaves nothing behind by design.
func (e *chaosEnv) workflow(ctx context.Context, i int) (out outcome) {
	out.name = fmt.Sprintf("w%04d", i)
	ctx, cancel := context.WithTimeout(ctx, workflowTimeout)
	defer cancel()
	fail := func(step string, err error) outcome {
		out.step, out.err = step, err
		out.cleanup = true
		out.cleanErr = e.cleanup(ctx, out.name)
		return out
	}

	// Even workflows choose their client token, so Create looks it up
	// before the first attempt too; odd ones let Create make one up.
	opts := &lifecycle.CreateAndWaitOptions{Create: &lifecycle.CreateOptions{}}
	if i%2 == 0 {
		opts.Create.ClientToken = "chaos-" + out.name
	}
	sb, err := e.lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"tail", "-f", "/dev/null"},
		ResourceLimits: resourceLimits(),
		Timeout:        time.Hour,
		Metadata:       map[string]string{workflowKey: out.name},
	}, opts)
	if err != nil {
		return fail("create and wait", err)
	}
	out.created = sb.ID
	if opts.Create.ClientToken != "" && sb.ClientToken() != opts.Create.ClientToken {
		return fail("create and wait", fmt.Errorf("%w: client token %q, want %q", errWrongResult, sb.ClientToken(), opts.Create.ClientToken))
	}

	// Exec through the sandbox's own API, found through its endpoint.
	ep, err := e.lc.Endpoint(ctx, sb.ID, 8080, nil)
	if err != nil {
		return fail("endpoint", err)
	}
	sc, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://"+ep.Address),
		sandboxkit.WithToken(chaosAPIKey), sandboxkit.WithHTTPClient(e.http), sandboxkit.WithLogger(e.log))
	if err != nil {
		return fail("sandbox client", err)
	}
	run, err := sc.Run(ctx, "echo "+out.name, &sandbox.RunOptions{CheckExit: true})
	if err != nil {
		return fail("exec", err)
	}
	if run.Stdout != out.name+"\n" {
		return fail("exec", fmt.Errorf("%w: stdout %q", errWrongResult, run.Stdout))
	}

	// Renew, extend-only: an hour past the expiry in force now.
	cur, err := e.lc.Get(ctx, sb.ID)
	if err != nil {
		return fail("renew: get", err)
	}
	want := cur.ExpiresAt.Add(time.Hour)
	got, err := e.lc.Renew(ctx, sb.ID, want)
	if err != nil {
		return fail("renew", err)
	}
	if !got.Equal(want) {
		return fail("renew", fmt.Errorf("%w: expiry %v, want %v", errWrongResult, got, want))
	}

	if _, err := e.lc.PauseAndWait(ctx, sb.ID, nil); err != nil {
		return fail("pause and wait", err)
	}
	if _, err := e.lc.ResumeAndWait(ctx, sb.ID, nil); err != nil {
		return fail("resume and wait", err)
	}
	if err := e.lc.DeleteAndWait(ctx, sb.ID, nil); err != nil {
		return fail("delete and wait", err)
	}
	return out
}

// errWrongResult marks a call that succeeded with a wrong result: always
// a test failure.
var errWrongResult = errors.New("wrong result")

// cleanup deletes every sandbox of workflow name, found by its metadata,
// with a context of its own (the workflow's may be over), trying a few
// times: the faults are still on.
func (e *chaosEnv) cleanup(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var err error
	for attempt := range cleanupAttempts {
		if attempt > 0 {
			if sleepCtx(ctx, time.Duration(attempt)*time.Second) != nil {
				break
			}
		}
		if err = e.cleanupOnce(ctx, name); err == nil {
			return nil
		}
	}
	return err
}

func (e *chaosEnv) cleanupOnce(ctx context.Context, name string) error {
	for sb, err := range e.lc.All(ctx, &lifecycle.ListOptions{Metadata: map[string]string{workflowKey: name}}) {
		if err != nil {
			return err
		}
		if sb.State() == lifecycle.StateTerminated {
			continue
		}
		if err := e.lc.DeleteAndWait(ctx, sb.ID, nil); err != nil {
			return err
		}
	}
	return nil
}

// settledSteps are the workflow steps whose calls settle an ambiguous
// outcome by reading state and resend only what provably did not apply.
var settledSteps = map[string]bool{
	"exec": true, "renew": true, "pause and wait": true, "resume and wait": true, "delete and wait": true,
}

// maxFailures bounds the workflows that may fail with a typed error: with
// the ambiguous outcomes settled, failures need several faults in a row
// on one call (before, about 22% of workflows failed on a single reset).
func maxFailures(n int) int { return max(1, n/50) }

// errorKind sorts a workflow's error into the typed errors a caller can
// handle, or reports false for anything else.
func errorKind(step string, err error) (string, bool) {
	if errors.Is(err, errWrongResult) {
		return "", false
	}
	if oe, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok && oe.Op == "lifecycle.Create" {
		return "*sandboxkit.OutcomeError (lifecycle.Create)", true
	}
	if se, ok := errors.AsType[*sandboxkit.StateError](err); ok {
		return fmt.Sprintf("*sandboxkit.StateError (%s)", cmp.Or(se.State, "gone")), true
	}
	if _, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err); ok {
		return "*sandboxkit.WaitTimeoutError", true
	}
	if ae, ok := errors.AsType[*sandboxkit.APIError](err); ok {
		return fmt.Sprintf("*sandboxkit.APIError %d", ae.StatusCode), true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "context", true
	}
	// Pause, Resume, Renew, Delete and Run settle a lost connection by
	// reading state back; when that read fails too, they say so with an
	// OutcomeError.
	if oe, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
		return fmt.Sprintf("*sandboxkit.OutcomeError (%s)", oe.Op), true
	}
	if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
		return "*sandboxkit.OutcomeError", true
	}
	// A bare connection reset remains possible only where every attempt
	// was settled as not applied and the attempts ran out (four resets
	// before the request reached the service: 0.05^4 per call). Elsewhere
	// it is a regression: the call should have settled the outcome.
	if _, ok := errors.AsType[*net.OpError](err); ok && errors.Is(err, syscall.ECONNRESET) && settledSteps[step] {
		return "*net.OpError (ECONNRESET, attempts exhausted)", true
	}
	return "", false
}

// TestChaos runs concurrent sandbox workflows against a mock that answers
// 20% of requests 503 with Retry-After, resets 5% of connections, fails 2%
// of creates with a 500 and 2% with a reset after the sandbox was made,
// and delays everything by 10–200 ms. Every workflow must finish or fail
// with a typed error, at most 1 in 50 may fail (a lost connection alone
// no longer fails a call: the SDK settles it by reading state), and the
// mock's journal must show no sandbox created twice, none left undeleted
// and only extending renewals.
//
// It runs in a testing/synctest bubble: latency, Retry-After and the
// mock's transitions cost fake time only. -chaos.full runs 200 workflows
// instead of 20; -chaos.seed picks another fault sequence (which request
// draws which fault also depends on goroutine scheduling, so two runs
// with one seed see the same fault rates, not the same faulted requests).
func TestChaos(t *testing.T) {
	n := shortWorkflows
	if *chaosFull {
		n = fullWorkflows
	}
	seed := *chaosSeed
	wallStart := time.Now()
	var report chaosReport
	synctest.Test(t, func(t *testing.T) {
		report = runChaos(t, n, seed)
	})
	report.wall = time.Since(wallStart)
	// The bubble has already waited for every goroutine it started;
	// goleak also sees those started outside it.
	report.goroutineLeaks = "0"
	if err := goleak.Find(); err != nil {
		report.goroutineLeaks = "some (see the error)"
		t.Error(err)
	}
	t.Logf("chaos counts (seed %d):\n%s", seed, report)
}

// chaosReport holds the counts the chaos test prints.
type chaosReport struct {
	workflows, finished, failed, cleanups, cleanupFailures int
	failures                                               map[string]int // by error kind and step
	requests                                               int
	requestsByAPI                                          map[mockserver.API]int
	faults                                                 []faultCount
	faultedTotal                                           int
	transportRetries, givenUp                              int
	createRequests, creations, lookups                     int
	duplicates, leaks                                      int
	renewals                                               int
	fakeTime, wall                                         time.Duration
	goroutineLeaks                                         string
}

type faultCount struct {
	name  string
	fired int
}

func (r chaosReport) String() string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "  %-50s %v\n", k, v) }
	row("workflows", r.workflows)
	row("  finished", r.finished)
	row("  failed with a typed error", r.failed)
	for _, k := range slices.Sorted(maps.Keys(r.failures)) {
		row("    "+k, r.failures[k])
	}
	row("  cleaned up after a failure", r.cleanups)
	row("  cleanups that failed", r.cleanupFailures)
	row("requests (journal)", r.requests)
	for _, api := range slices.Sorted(maps.Keys(r.requestsByAPI)) {
		row("  "+cmp.Or(string(api), "unknown route"), r.requestsByAPI[api])
	}
	row("injected faults", r.faultedTotal)
	for _, f := range r.faults {
		row("  "+f.name, f.fired)
	}
	row("client retries (transport)", r.transportRetries)
	row("  given up (retries exhausted)", r.givenUp)
	row("create requests (POST)", r.createRequests)
	row("  sandboxes created", r.creations)
	row("  token lookups + cleanup lists", r.lookups)
	row("duplicates", r.duplicates)
	row("sandboxes left undeleted", r.leaks)
	row("renewals (all extend-only)", r.renewals)
	row("goroutine leaks (goleak)", r.goroutineLeaks)
	row("fake time", r.fakeTime.Round(time.Millisecond))
	row("wall time", r.wall.Round(time.Millisecond))
	return b.String()
}

func runChaos(t *testing.T, n int, seed uint64) chaosReport {
	start := time.Now() // the bubble's clock
	srv := mockserver.Start(t,
		mockserver.WithTenant(chaosAPIKey, "chaos"),
		mockserver.WithJournalLimit(0),
		mockserver.WithRetention(24*time.Hour), // terminated sandboxes stay visible for the leak check
	)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hc := &http.Client{Transport: &latencyTransport{next: srv.HTTPClient().Transport, seed: seed}}
	lc, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithHTTPClient(hc), sandboxkit.WithLogger(logger))...)
	if err != nil {
		t.Fatal(err)
	}
	faults := chaosFaults(seed)
	ids := make(map[mockserver.FaultID]int, len(faults))
	for i, f := range faults {
		id, err := srv.InjectFault(f.fault)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = i
	}
	e := &chaosEnv{lc: lc, http: hc, log: logger}

	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outcomes[i] = e.workflow(t.Context(), i) })
	}
	wg.Wait()
	r := chaosReport{workflows: n, failures: map[string]int{}, fakeTime: time.Since(start)}

	// Every workflow finished or failed with a typed error, and cleaned up.
	finishedIDs := map[string]string{} // sandbox id -> workflow
	for _, o := range outcomes {
		if o.err == nil {
			r.finished++
			finishedIDs[o.created] = o.name
			continue
		}
		r.failed++
		kind, ok := errorKind(o.step, o.err)
		if !ok {
			t.Errorf("%s: %s: untyped or wrong error %T: %v", o.name, o.step, o.err, o.err)
			kind = fmt.Sprintf("UNEXPECTED %T", o.err)
		}
		r.failures[kind+" at "+o.step]++
		if !strings.HasPrefix(o.err.Error(), "sandboxkit: ") {
			t.Errorf("%s: %s: the error does not name the SDK call: %v", o.name, o.step, o.err)
		}
		if o.cleanup {
			r.cleanups++
		}
		if o.cleanErr != nil {
			r.cleanupFailures++
			t.Errorf("%s: cleanup failed: %v", o.name, o.cleanErr)
		}
		if msg := fmt.Sprintf("%v %+v", o.err, o.err); strings.Contains(msg, chaosAPIKey) {
			t.Errorf("%s: the error shows the API key: %s", o.name, msg)
		}
	}
	if r.finished == 0 {
		t.Errorf("no workflow finished")
	}
	if r.failed > maxFailures(n) {
		t.Errorf("%d of %d workflows failed, want at most %d", r.failed, n, maxFailures(n))
	}

	// The journal.
	journal := srv.Journal()
	r.requests = len(journal)
	r.requestsByAPI = map[mockserver.API]int{}
	fired := make([]int, len(faults))
	for _, en := range journal {
		r.requestsByAPI[en.API]++
		if en.Fault != 0 {
			fired[ids[en.Fault]]++
			r.faultedTotal++
		}
		if en.Tenant != "chaos" {
			t.Errorf("request %s %s answered %d without the tenant", en.Method, en.Path, en.Status)
		}
	}
	for i, f := range faults {
		r.faults = append(r.faults, faultCount{name: f.name, fired: fired[i]})
	}
	for id, i := range ids {
		if got := srv.FaultFired(id); got != fired[i] {
			t.Errorf("fault %q fired %d times, the journal shows %d", faults[i].name, got, fired[i])
		}
	}
	r.createRequests = srv.Count(mockserver.Filter{Operation: "CreateSandbox"})
	r.lookups = srv.Count(mockserver.Filter{Operation: "ListSandboxes"})

	// No sandbox created twice: one per client token and one per workflow.
	creations := srv.Creations()
	r.creations = len(creations)
	for key, counts := range map[string]map[string]int{
		"client token": srv.CreationCounts(lifecycle.ClientTokenKey),
		"workflow":     srv.CreationCounts(workflowKey),
	} {
		for v, c := range counts {
			if c > 1 {
				r.duplicates += c - 1
				t.Errorf("%s %q: %d sandboxes created", key, v, c)
			}
		}
	}
	byWorkflow := srv.CreationCounts(workflowKey)
	for _, o := range outcomes {
		if o.err == nil && byWorkflow[o.name] != 1 {
			t.Errorf("%s finished, but the server created %d sandboxes for it", o.name, byWorkflow[o.name])
		}
	}

	// None left undeleted: every sandbox ever created was deleted by a
	// client (not by its expiry) and is gone now (the server keeps no
	// deleted sandbox; its journal remembers the deletions).
	deleted := map[string]bool{}
	for _, d := range srv.Deletions() {
		if d.Reason == "user_delete" {
			deleted[d.ID] = true
		}
	}
	for _, c := range creations {
		info, held := srv.Sandbox(c.ID)
		if !deleted[c.ID] || held {
			r.leaks++
			t.Errorf("sandbox %s (workflow %s) left behind: deleted by a client: %v, still held: %v (state %q)",
				c.ID, c.Metadata[workflowKey], deleted[c.ID], held, info.State)
		}
	}
	if got := len(srv.Sandboxes()); got != 0 {
		t.Errorf("the server still holds %d sandboxes", got)
	}

	// Every renewal extended the expiry, and no renew request was refused
	// for asking less than the current one.
	renewals := srv.Renewals("")
	r.renewals = len(renewals)
	for _, rn := range renewals {
		if !rn.New.After(rn.Old) {
			t.Errorf("renewal of %s moved the expiry from %v to %v", rn.SandboxID, rn.Old, rn.New)
		}
	}
	for _, status := range []int{http.StatusBadRequest, http.StatusConflict} {
		if c := srv.Count(mockserver.Filter{Operation: "RenewSandboxExpiration", Status: status}); c > 0 {
			t.Errorf("%d renew requests answered %d", c, status)
		}
	}
	if finishedRenewals := len(finishedIDs); r.renewals < finishedRenewals {
		t.Errorf("%d renewals for %d finished workflows", r.renewals, finishedRenewals)
	}

	// The logs: retries counted, the key nowhere.
	text := logs.String()
	if strings.Contains(text, chaosAPIKey) {
		t.Errorf("the debug log shows the API key")
	}
	for line := range strings.Lines(text) {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec.Msg {
		case "sandboxkit: retrying request":
			r.transportRetries++
		case "sandboxkit: giving up: retries exhausted", "sandboxkit: giving up: the wait would pass the deadline":
			r.givenUp++
		}
	}
	if r.transportRetries == 0 {
		t.Errorf("no retries logged; is the logger wired?")
	}
	return r
}
