package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// runtimeKind names how a lifecycle deployment moves sandboxes between
// states. The API's state machine allows both; scenarios assert what
// holds for both and test each kind's own behaviour explicitly.
type runtimeKind string

const (
	// docker is OpenSandbox's Docker runtime (the real server here): every
	// change is done when it answers (a create answers Running, a pause
	// Paused), a deleted or expired sandbox is 404 at once, Terminated and
	// Failed mean the entrypoint exited, and a pause of a Paused sandbox
	// answers 500.
	docker runtimeKind = "docker"
	// kubernetes is OpenSandbox's Kubernetes runtime: a create answers
	// Running but a read may show Allocated until the workload is ready,
	// Pausing and Resuming are seen, a deleted sandbox keeps its last
	// state (never Stopping) until it is not found, and a pause of a
	// Paused sandbox is a 409.
	kubernetes runtimeKind = "kubernetes"
)

// mockAPIKey is the lifecycle credential of the mock target: with a
// tenant configured the mock checks keys as the real server does.
const mockAPIKey = "conformance-mock-key"

// lifecycleTarget is one lifecycle server a scenario runs against.
type lifecycleTarget struct {
	// name is the subtest name: "mock-docker", "mock-kubernetes" or
	// "real".
	name string
	// real is true for the real OpenSandbox server.
	real bool
	// runtime is how the target moves sandboxes between states.
	runtime runtimeKind
	// lc is a client for it.
	lc *lifecycle.Client
	// newClient returns another client for it with extra options (e.g.
	// another API key).
	newClient func(t *testing.T, opts ...sandboxkit.Option) *lifecycle.Client
	// mock is the mock server; nil on a real target.
	mock *mockserver.Server
	// manual is true for a mock on a manual clock (see sleep).
	manual bool
	// image is an image the target can run.
	image string
	// run labels the scenario's sandboxes (metadata "conformance-run"), so
	// scenarios sharing a real server find only their own.
	run string
}

// targetOptions tunes the targets of one scenario.
type targetOptions struct {
	// manualClock puts the mock on a manual clock with immediate
	// transitions, so that tg.sleep moves the mock's time without
	// waiting; real targets wait real time.
	manualClock bool
}

// lifecycleTargetMaker names a target and makes it for one scenario.
type lifecycleTargetMaker struct {
	name string
	make func(t *testing.T) *lifecycleTarget
	// bubble runs the scenario in a testing/synctest bubble: the mock's
	// transport works there, so waits and backoffs take no real time.
	bubble bool
}

// lifecycleTargets returns the lifecycle targets of this run: the mock
// in both runtime variants always, the real server (Docker runtime) when
// $OPENSANDBOX_REAL_URL is set.
func lifecycleTargets(o targetOptions) []lifecycleTargetMaker {
	targets := []lifecycleTargetMaker{
		{"mock-docker", func(t *testing.T) *lifecycleTarget { return mockLifecycle(t, docker, o) }, true},
		{"mock-kubernetes", func(t *testing.T) *lifecycleTarget { return mockLifecycle(t, kubernetes, o) }, true},
	}
	if getenv(envLifecycleURL) != "" {
		targets = append(targets, lifecycleTargetMaker{"real", realLifecycle, false})
	}
	return targets
}

// mockLifecycle starts a mock that behaves like the runtime rt.
func mockLifecycle(t *testing.T, rt runtimeKind, o targetOptions) *lifecycleTarget {
	t.Helper()
	runtime := mockserver.RuntimeKubernetes
	if rt == docker {
		runtime = mockserver.RuntimeDocker
	}
	opts := []mockserver.Option{mockserver.WithTenant(mockAPIKey, mockserver.DefaultTenant), mockserver.WithRuntime(runtime)}
	if o.manualClock {
		opts = append(opts, mockserver.WithManualClock(time.Now()), mockserver.WithTransitionDelay(0))
	}
	srv := mockserver.Start(t, opts...)
	newClient := func(t *testing.T, extra ...sandboxkit.Option) *lifecycle.Client {
		t.Helper()
		lc, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return lc
	}
	return &lifecycleTarget{name: "mock-" + string(rt), runtime: rt, lc: newClient(t), newClient: newClient,
		mock: srv, manual: o.manualClock, image: "python:3.12", run: runID()}
}

func realLifecycle(t *testing.T) *lifecycleTarget {
	t.Helper()
	newClient := func(t *testing.T, extra ...sandboxkit.Option) *lifecycle.Client {
		t.Helper()
		opts := []sandboxkit.Option{sandboxkit.WithoutEnvironment(),
			sandboxkit.WithBaseURL(getenv(envLifecycleURL)),
			sandboxkit.WithAPIKey(getenv(envLifecycleKey)),
			sandboxkit.WithHTTPClient(realHTTPClient(t))}
		lc, err := lifecycle.New(append(opts, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return lc
	}
	image := getenv(envLifecycleImage)
	if image == "" {
		image = "sbx-local/busybox:latest"
	}
	return &lifecycleTarget{name: "real", real: true, runtime: docker, lc: newClient(t), newClient: newClient,
		image: image, run: runID()}
}

// runID returns a fresh label value.
func runID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "r" + hex.EncodeToString(b[:])
}

// forEachLifecycle runs scenario once per lifecycle target, each in a
// parallel subtest named after the target.
func forEachLifecycle(t *testing.T, scenario func(t *testing.T, tg *lifecycleTarget)) {
	t.Helper()
	forEachLifecycleWith(t, targetOptions{}, scenario)
}

// forEachLifecycleWith is forEachLifecycle with target options.
func forEachLifecycleWith(t *testing.T, o targetOptions, scenario func(t *testing.T, tg *lifecycleTarget)) {
	t.Helper()
	t.Parallel()
	for _, mk := range lifecycleTargets(o) {
		t.Run(mk.name, func(t *testing.T) {
			t.Parallel()
			// Made here, once the subtest runs: a mock's manual clock
			// starts at the wall clock's time.
			if mk.bubble {
				synctest.Test(t, func(t *testing.T) { scenario(t, mk.make(t)) })
				return
			}
			scenario(t, mk.make(t))
		})
	}
}

// runLabel is the metadata key that tags a scenario's sandboxes.
const runLabel = "conformance-run"

// request returns a create request every target accepts: the target's
// image, a long-running entrypoint, resource limits and a ten-minute
// lifetime, labelled with the scenario's run id.
func (tg *lifecycleTarget) request(t *testing.T) *lifecycle.CreateRequest {
	t.Helper()
	return &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: tg.image},
		Entrypoint:     []string{"sleep", "3600"},
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"},
		Timeout:        10 * time.Minute,
		Metadata:       map[string]string{"conformance": "true", runLabel: tg.run},
	}
}

// mine is the list filter that selects the scenario's sandboxes.
func (tg *lifecycleTarget) mine() map[string]string {
	return map[string]string{runLabel: tg.run}
}

// ctx returns a context bounded by scenarioTimeout.
func (tg *lifecycleTarget) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	t.Cleanup(cancel)
	return ctx
}

// create makes a sandbox from req, waits until it is Running, and
// deletes it when the test ends.
func (tg *lifecycleTarget) create(t *testing.T, req *lifecycle.CreateRequest) *lifecycle.Sandbox {
	t.Helper()
	sb, err := tg.lc.CreateAndWait(tg.ctx(t), req, nil)
	if sb != nil {
		tg.cleanup(t, sb.ID)
	}
	if err != nil {
		t.Fatalf("CreateAndWait: %v", err)
	}
	return sb
}

// createAll makes a sandbox from each request at once (a real create
// takes seconds), waits until all are Running, and deletes them when the
// test ends. The result is in the order of reqs.
func (tg *lifecycleTarget) createAll(t *testing.T, reqs ...*lifecycle.CreateRequest) []*lifecycle.Sandbox {
	t.Helper()
	out := make([]*lifecycle.Sandbox, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() { out[i], errs[i] = tg.lc.CreateAndWait(tg.ctx(t), req, nil) })
	}
	wg.Wait()
	for _, sb := range out {
		if sb != nil {
			tg.cleanup(t, sb.ID)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("CreateAndWait: %v", err)
	}
	return out
}

// cleanup deletes sandbox id when the test ends (it may be gone by then).
func (tg *lifecycleTarget) cleanup(t *testing.T, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tg.lc.Delete(ctx, id); err != nil && !errors.Is(err, sandboxkit.ErrNotFound) && !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("cleanup: deleting sandbox %s: %v", id, err)
		}
	})
}

// sleep lets d pass for the target: the mock's manual clock moves by d
// (running what falls due), a real server is given d of real time.
func (tg *lifecycleTarget) sleep(t *testing.T, d time.Duration) {
	t.Helper()
	if tg.manual {
		if err := tg.mock.Advance(d); err != nil {
			t.Fatal(err)
		}
		return
	}
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

// now returns the target's current time: the mock's clock, or the wall
// clock (the real server runs on this machine).
func (tg *lifecycleTarget) now() time.Time {
	if tg.mock != nil {
		return tg.mock.Now()
	}
	return time.Now()
}

// requestsSent returns how many requests the mock has seen since the
// last call (or since it started), and ok=false on a real target.
func (tg *lifecycleTarget) requestsSent() (n int, ok bool) {
	if tg.mock == nil {
		return 0, false
	}
	n = len(tg.mock.Journal())
	tg.mock.ResetJournal()
	return n, true
}

// rejectedInput reports whether err is the server refusing a request as
// invalid: a 400, or the 422 of a FastAPI validation report, both matching
// sandboxkit.ErrBadRequest.
func rejectedInput(err error) bool {
	return errors.Is(err, sandboxkit.ErrBadRequest)
}
