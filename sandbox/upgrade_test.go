package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// attemptStep is what the scripted server shows at some time into an
// upgrade attempt.
type attemptStep struct {
	state, step string // new lastUpgrade record; "" keeps the previous one
	bytes       int64
	errText     string
	fail        error  // a transport error instead of an answer
	status      int    // an error status instead of an answer
	restart     bool   // the server has just re-executed itself
	version     string // the version it reports after restarting
	foreign     string // the record is another client's attempt to this version
}

// upgradeServer is a scripted sandbox API for the upgrade tests: a state
// machine driven by the fake clock of the synctest bubble.
type upgradeServer struct {
	mu       sync.Mutex
	count    int
	started  time.Time
	version  string
	last     map[string]any // lastUpgrade
	postedAt time.Time      // start of the attempt in progress, zero if none
	target   string         // its version
	posts    int
	attempt  func(since time.Duration) attemptStep
}

func newUpgradeServer(attempt func(since time.Duration) attemptStep) *upgradeServer {
	return &upgradeServer{
		count:   3,
		started: time.Now(),
		version: "v1.0.0",
		last:    map[string]any{"status": "idle", "step": "none", "version": ""},
		attempt: attempt,
	}
}

// begin starts an attempt as POST /upgrade would.
func (s *upgradeServer) begin(version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts++
	s.postedAt = time.Now()
	s.target = cmpOr(version, "latest")
}

func (s *upgradeServer) respond(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method == http.MethodPost && req.URL.Path == "/upgrade":
		var body struct{ Version string }
		if req.Body != nil {
			b, _ := io.ReadAll(req.Body)
			_ = json.Unmarshal(b, &body)
		}
		s.begin(body.Version)
		return jsonResponse(req, 200, fmt.Sprintf(`{"message":"Upgrade initiated","version":%q,"baseUrl":"https://github.com/blaxel-ai/sandbox/releases"}`, s.target)), nil
	case req.Method == http.MethodGet && req.URL.Path == "/health":
		return s.health(req)
	}
	return jsonResponse(req, 404, `{"error":"no route"}`), nil
}

func (s *upgradeServer) health(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.postedAt.IsZero() {
		st := s.attempt(now.Sub(s.postedAt))
		switch {
		case st.fail != nil:
			return nil, st.fail
		case st.status != 0:
			resp := jsonResponse(req, st.status, `{"error":"upstream unavailable"}`)
			return resp, nil
		case st.restart:
			s.count++
			s.started = now
			s.version = cmpOr(st.version, s.version)
			s.postedAt = time.Time{}
			s.last = map[string]any{"status": "idle", "step": "none", "version": ""}
		case st.state != "":
			rec := map[string]any{"status": st.state, "step": st.step, "version": cmpOr(st.foreign, s.target)}
			if st.bytes > 0 {
				rec["bytesDownloaded"] = st.bytes
			}
			if st.errText != "" {
				rec["error"] = st.errText
				rec["downloadUrl"] = "https://github.com/blaxel-ai/sandbox/releases/download/" + s.target + "/sandbox-api-linux-amd64"
			}
			// The real server stamps every update.
			prev := maps(s.last)
			delete(prev, "lastAttempt")
			if !cmp.Equal(prev, rec) {
				rec["lastAttempt"] = now.Format(time.RFC3339Nano)
				s.last = rec
			}
		}
	}
	h := map[string]any{
		"status": "ok", "version": s.version, "gitCommit": "abc", "buildTime": "unknown", "goVersion": "go1.26",
		"os": "linux", "arch": "amd64", "uptime": now.Sub(s.started).String(), "uptimeSeconds": now.Sub(s.started).Seconds(),
		"upgradeCount": s.count, "startedAt": s.started.Format(time.RFC3339), "lastUpgrade": s.last,
	}
	b, _ := json.Marshal(h)
	return jsonResponse(req, 200, string(b)), nil
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *upgradeServer) postCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// restartErrors are what a client sees while the server re-executes.
var restartErrors = []attemptStep{
	{fail: syscall.ECONNRESET},
	{status: http.StatusBadGateway},
	{fail: io.ErrUnexpectedEOF},
	{fail: syscall.ECONNREFUSED},
	{status: http.StatusServiceUnavailable},
}

// successfulAttempt is the real server's upgrade as observed: nothing new
// for half a second, then starting, download with growing byte counts,
// validate, replace, connections failing for a while, then a restarted
// server reporting idle/none.
func successfulAttempt(version string) func(time.Duration) attemptStep {
	return func(d time.Duration) attemptStep {
		switch {
		case d < 500*time.Millisecond:
			return attemptStep{}
		case d < time.Second:
			return attemptStep{state: "running", step: "starting"}
		case d < 4*time.Second:
			return attemptStep{state: "running", step: "download", bytes: int64(d-time.Second) / int64(250*time.Millisecond) * (1 << 20)}
		case d < 5*time.Second:
			return attemptStep{state: "running", step: "validate", bytes: 12 << 20}
		case d < 5500*time.Millisecond:
			return attemptStep{state: "running", step: "replace", bytes: 12 << 20}
		case d < 8*time.Second:
			return restartErrors[int(d/(300*time.Millisecond))%len(restartErrors)]
		default:
			return attemptStep{restart: true, version: version}
		}
	}
}

// progressLog collects progress events.
type progressLog struct {
	mu     sync.Mutex
	events []sandbox.UpgradeProgress
}

func (l *progressLog) add(p sandbox.UpgradeProgress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, p)
}

func (l *progressLog) get() []sandbox.UpgradeProgress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// steps returns the steps of events with repeats of the same step (byte
// counts of the download) merged.
func steps(events []sandbox.UpgradeProgress) []sandbox.UpgradeStep {
	var out []sandbox.UpgradeStep
	for _, e := range events {
		if len(out) == 0 || out[len(out)-1] != e.Step {
			out = append(out, e.Step)
		}
	}
	return out
}

// fastPolling checks the health every 200ms of fake time.
func fastPolling(o sandbox.UpgradeOptions) *sandbox.UpgradeOptions {
	o.Wait = &sandboxkit.WaitOptions{MinDelay: 200 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	return &o
}

func TestUpgradeSucceeds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt("v1.1.0"))
		c := mockClient(t, srv.respond)
		var log progressLog
		res, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: "v1.1.0", OnProgress: log.add}))
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		if !res.Restarted || res.Before.UpgradeCount != 3 || res.After.UpgradeCount != 4 || res.After.Version != "v1.1.0" {
			t.Errorf("result: restarted %v, upgradeCount %d -> %d, version %s", res.Restarted, res.Before.UpgradeCount, res.After.UpgradeCount, res.After.Version)
		}
		if res.Ack == nil || res.Ack.Version != "v1.1.0" {
			t.Errorf("Ack = %+v", res.Ack)
		}
		if res.After.LastUpgrade.State != sandbox.UpgradeIdle {
			t.Errorf("after: lastUpgrade %s", res.After.LastUpgrade.State)
		}
		events := log.get()
		t.Logf("progress: %+v", events)
		want := []sandbox.UpgradeStep{sandbox.StepStarting, sandbox.StepDownload, sandbox.StepValidate,
			sandbox.StepReplace, sandbox.StepRestarting, sandbox.StepCompleted}
		if diff := cmp.Diff(want, steps(events)); diff != "" {
			t.Errorf("steps (-want +got):\n%s\nevents: %+v", diff, events)
		}
		var downloads []int64
		for i, e := range events {
			if i > 0 && e == events[i-1] {
				t.Errorf("event %+v reported twice", e)
			}
			if e.Step == sandbox.StepDownload {
				downloads = append(downloads, e.BytesDownloaded)
			}
		}
		growing := len(downloads) >= 3
		for i := 1; i < len(downloads); i++ {
			growing = growing && downloads[i] > downloads[i-1]
		}
		if !growing {
			t.Errorf("download byte counts %v: want at least 3, each larger than the last", downloads)
		}
		if n := srv.postCount(); n != 1 {
			t.Errorf("%d POST /upgrade, want 1", n)
		}
	})
}

func TestUpgradeFailedDownload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const msg = "Failed to download release: HTTP 404"
		srv := newUpgradeServer(func(d time.Duration) attemptStep {
			switch {
			case d < 500*time.Millisecond:
				return attemptStep{}
			case d < 3*time.Second:
				return attemptStep{state: "running", step: "download", bytes: int64(d / time.Millisecond)}
			default:
				return attemptStep{state: "failed", step: "download", bytes: 2048, errText: msg}
			}
		})
		c := mockClient(t, srv.respond)
		var log progressLog
		_, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: "v9.9.9", OnProgress: log.add}))
		ue, ok := errors.AsType[*sandbox.UpgradeError](err)
		if !ok {
			t.Fatalf("error %v (%T) is not an *UpgradeError", err, err)
		}
		want := &sandbox.UpgradeError{Step: "download", Message: msg, Version: "v9.9.9",
			DownloadURL: "https://github.com/blaxel-ai/sandbox/releases/download/v9.9.9/sandbox-api-linux-amd64"}
		ue.Status = nil
		if diff := cmp.Diff(want, ue); diff != "" {
			t.Errorf("UpgradeError (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]sandbox.UpgradeStep{sandbox.StepDownload}, steps(log.get())); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// TestUpgradeIgnoresStaleFailure: until the new attempt gets going the
// server still shows the previous one, here a failure.
func TestUpgradeIgnoresStaleFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(func(d time.Duration) attemptStep {
			switch {
			case d < 700*time.Millisecond:
				return attemptStep{}
			case d < 2*time.Second:
				return attemptStep{state: "running", step: "download", bytes: 1 << 20}
			case d < 3*time.Second:
				return attemptStep{fail: syscall.ECONNREFUSED}
			default:
				return attemptStep{restart: true}
			}
		})
		srv.last = map[string]any{"status": "failed", "step": "download", "version": "v0.9.0",
			"lastAttempt": time.Now().Add(-time.Hour).Format(time.RFC3339Nano), "error": "an old failure"}
		c := mockClient(t, srv.respond)
		res, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{}))
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		if !res.Restarted || res.After.UpgradeCount != 4 {
			t.Errorf("result %+v", res)
		}
	})
}

// TestUpgradeNeverFinishes: the attempt stays in download until ctx ends.
func TestUpgradeNeverFinishes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(func(d time.Duration) attemptStep {
			if d < 500*time.Millisecond {
				return attemptStep{}
			}
			return attemptStep{state: "running", step: "download", bytes: 5 << 20}
		})
		c := mockClient(t, srv.respond)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.Upgrade(ctx, &sandbox.UpgradeOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v does not wrap context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("gave up after %v, want the context's minute", waited)
		}
		if !errors.Is(err, sandboxkit.ErrWaitTimeout) {
			t.Errorf("error %v does not match sandboxkit.ErrWaitTimeout", err)
		}
		we, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
		if !ok {
			t.Fatalf("error %v (%T) is not a *sandboxkit.WaitTimeoutError", err, err)
		}
		last, ok := we.Observed.(*sandbox.Health)
		if !ok {
			t.Fatalf("Observed = %T, want the last *sandbox.Health", we.Observed)
		}
		if u := last.LastUpgrade; u.State != sandbox.UpgradeRunning || u.Step != sandbox.StepDownload || u.BytesDownloaded != 5<<20 {
			t.Errorf("last status %+v", u)
		}
		if we.Op != "sandbox.Upgrade" || we.Kind != "health" || we.State != "running/download" || we.Polls < 2 || we.Waited != time.Minute {
			t.Errorf("WaitTimeoutError %+v", we)
		}
		t.Log(err)
	})
}

// TestUpgradeWithoutDeadlineEnds: an attempt that never finishes, under a
// context without a deadline, ends after the wait's Timeout (the default
// one, or the caller's) for Upgrade and WatchUpgrade alike.
func TestUpgradeWithoutDeadlineEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wait *sandboxkit.WaitOptions
		want time.Duration
	}{
		{"default", nil, sandboxkit.DefaultWaitTimeout},
		{"own", &sandboxkit.WaitOptions{Timeout: 3 * time.Minute}, 3 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newUpgradeServer(func(time.Duration) attemptStep {
					return attemptStep{state: "running", step: "download", bytes: 1 << 20}
				})
				c := mockClient(t, srv.respond)
				for _, call := range []struct {
					op  string
					run func() error
				}{
					{"Upgrade", func() error {
						_, err := c.Upgrade(context.Background(), &sandbox.UpgradeOptions{Wait: tc.wait})
						return err
					}},
					{"WatchUpgrade", func() error {
						_, err := c.WatchUpgrade(context.Background(), &sandbox.WatchUpgradeOptions{Wait: tc.wait})
						return err
					}},
				} {
					start := time.Now()
					err := call.run()
					we, ok := errors.AsType[*sandboxkit.WaitTimeoutError](err)
					if !ok || !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("%s: error %v (%T), want a *sandboxkit.WaitTimeoutError wrapping DeadlineExceeded", call.op, err, err)
					}
					// The last poll comes at least MinDelay before the end.
					if waited := time.Since(start); waited > tc.want || waited < tc.want-sandbox.DefaultUpgradeMinDelay || we.Waited != waited {
						t.Errorf("%s: gave up after %v (Waited %v), want %v", call.op, waited, we.Waited, tc.want)
					}
				}
			})
		})
	}
}

// TestUpgradeConcurrentCallsTriggerOnce: a second call joins the first,
// gets every event and the same outcome, even after the first caller has
// given up.
func TestUpgradeConcurrentCallsTriggerOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt(""))
		c := mockClient(t, srv.respond)
		opts := fastPolling(sandbox.UpgradeOptions{Version: "latest"})

		firstCtx, giveUp := context.WithCancel(t.Context())
		var firstErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, firstErr = c.Upgrade(firstCtx, opts)
		})
		advance(2 * time.Second) // fake time: the attempt is downloading
		var log progressLog
		o := *opts
		o.OnProgress = log.add
		var second *sandbox.UpgradeResult
		var secondErr error
		wg.Go(func() {
			second, secondErr = c.Upgrade(t.Context(), &o)
		})
		advance(time.Second)
		giveUp()
		wg.Wait()

		if !errors.Is(firstErr, context.Canceled) {
			t.Errorf("first call: %v, want context.Canceled", firstErr)
		}
		if secondErr != nil || !second.Restarted {
			t.Fatalf("second call: %+v, %v", second, secondErr)
		}
		if n := srv.postCount(); n != 1 {
			t.Errorf("%d POST /upgrade, want 1", n)
		}
		want := []sandbox.UpgradeStep{sandbox.StepStarting, sandbox.StepDownload, sandbox.StepValidate,
			sandbox.StepReplace, sandbox.StepRestarting, sandbox.StepCompleted}
		if diff := cmp.Diff(want, steps(log.get())); diff != "" {
			t.Errorf("steps of the joined call (-want +got):\n%s", diff)
		}
	})
}

// TestUpgradeDifferentVersionsRunInTurn: a call for another version waits
// for the one in progress, then starts its own.
func TestUpgradeDifferentVersionsRunInTurn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt(""))
		c := mockClient(t, srv.respond)
		var wg sync.WaitGroup
		var errs [2]error
		var results [2]*sandbox.UpgradeResult
		for i, v := range []string{"develop", "main"} {
			wg.Go(func() {
				results[i], errs[i] = c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: v}))
			})
			synctest.Wait()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("errors %v", errs)
		}
		if n := srv.postCount(); n != 2 {
			t.Errorf("%d POST /upgrade, want 2", n)
		}
		if results[0].After.UpgradeCount != 4 || results[1].After.UpgradeCount != 5 {
			t.Errorf("upgrade counts %d, %d; want 4, 5", results[0].After.UpgradeCount, results[1].After.UpgradeCount)
		}
	})
}

// TestUpgradeOutcomes covers the other ways an attempt ends.
func TestUpgradeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		version   string
		after     attemptStep // from 1s on
		restarted bool
		errStep   string // "" for success
		sentinel  error
	}{
		{name: "completed then restart", after: attemptStep{state: "completed", step: "completed"}, restarted: true},
		{name: "skipped as done", after: attemptStep{state: "completed", step: "skipped"}},
		{name: "development build", after: attemptStep{state: "failed", step: "skipped", errText: "dev mode detected"},
			errStep: "skipped", sentinel: sandbox.ErrUpgradeSkipped},
		{name: "validation failed", after: attemptStep{state: "failed", step: "validate", errText: "binary does not start"}, errStep: "validate"},
		{name: "wrong version", version: "v2.0.0", after: attemptStep{restart: true, version: "v1.9.0"}, errStep: "verify"},
		{name: "right version", version: "v2.0.0", after: attemptStep{restart: true, version: "2.0.0"}, restarted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newUpgradeServer(func(d time.Duration) attemptStep {
					switch {
					case d < 500*time.Millisecond:
						return attemptStep{}
					case d < time.Second:
						return attemptStep{state: "running", step: "download", bytes: 1}
					case tc.after.state == "completed" && tc.after.step == "completed" && d >= 2*time.Second:
						return attemptStep{restart: true}
					default:
						return tc.after
					}
				})
				c := mockClient(t, srv.respond)
				res, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: tc.version}))
				if tc.errStep != "" {
					ue, ok := errors.AsType[*sandbox.UpgradeError](err)
					if !ok || ue.Step != tc.errStep {
						t.Fatalf("error %v, want an *UpgradeError at %s", err, tc.errStep)
					}
					if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
						t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.Restarted != tc.restarted {
					t.Errorf("Restarted = %v, want %v", res.Restarted, tc.restarted)
				}
			})
		})
	}
}

// TestWatchUpgrade follows an attempt someone else started.
func TestWatchUpgrade(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt(""))
		c := mockClient(t, srv.respond)
		srv.begin("latest")
		advance(1500 * time.Millisecond) // fake time: downloading
		var log progressLog
		res, err := c.WatchUpgrade(t.Context(), &sandbox.WatchUpgradeOptions{OnProgress: log.add,
			Wait: &sandboxkit.WaitOptions{MinDelay: 200 * time.Millisecond, MaxDelay: 200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Restarted || res.Ack != nil || res.After.UpgradeCount != 4 {
			t.Errorf("result %+v", res)
		}
		want := []sandbox.UpgradeStep{sandbox.StepDownload, sandbox.StepValidate, sandbox.StepReplace,
			sandbox.StepRestarting, sandbox.StepCompleted}
		if diff := cmp.Diff(want, steps(log.get())); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		if n := srv.postCount(); n != 1 {
			t.Errorf("%d POST /upgrade, want only the other party's", n)
		}
	})
}

// TestUpgradeWaitsForAttemptInProgress: the server does not serialize
// attempts, so Upgrade lets a running one end before starting its own.
func TestUpgradeWaitsForAttemptInProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt(""))
		c := mockClient(t, srv.respond)
		srv.begin("develop")
		advance(1500 * time.Millisecond)
		res, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: "main"}))
		if err != nil {
			t.Fatal(err)
		}
		if n := srv.postCount(); n != 2 || res.Before.UpgradeCount != 4 || res.After.UpgradeCount != 5 {
			t.Errorf("%d attempts, upgrade count %d -> %d; want 2 attempts, 4 -> 5", n, res.Before.UpgradeCount, res.After.UpgradeCount)
		}
	})
}

// TestUpgradeUnauthorized: an answer that no wait fixes ends the watch.
func TestUpgradeUnauthorized(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := mockClient(t, func(req *http.Request) (*http.Response, error) {
			return jsonResponse(req, 401, `{"error":"bad token"}`), nil
		})
		_, err := c.Upgrade(t.Context(), &sandbox.UpgradeOptions{})
		if !errors.Is(err, sandboxkit.ErrUnauthorized) {
			t.Fatalf("error %v, want sandboxkit.ErrUnauthorized", err)
		}
	})
}

// advance lets d of fake time pass inside a synctest bubble.
func advance(d time.Duration) { <-time.After(d) }

// TestUpgradeIgnoresAnotherClientsAttempt: the server does not serialize
// attempts, and its one lastUpgrade record shows whichever wrote last.
// An attempt to another version than the one acknowledged is not this
// call's: its failure is not reported as this call's.
func TestUpgradeIgnoresAnotherClientsAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(func(d time.Duration) attemptStep {
			switch {
			case d < 500*time.Millisecond:
				return attemptStep{}
			case d < 2*time.Second:
				return attemptStep{state: "failed", step: "download", errText: "404 Not Found", foreign: "v9.9.9"}
			case d < 3*time.Second:
				return attemptStep{state: "running", step: "download", bytes: 1 << 20}
			case d < 4*time.Second:
				return attemptStep{fail: syscall.ECONNREFUSED}
			default:
				return attemptStep{restart: true, version: "v2.0.0"}
			}
		})
		c := mockClient(t, srv.respond)
		res, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: "v2.0.0"}))
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		if !res.Restarted || res.After.Version != "v2.0.0" {
			t.Errorf("result %+v", res)
		}
	})
}

// TestUpgradeRestartedByAnotherClient: the server restarted while only
// another client's attempt (to another channel) was seen: this call's
// attempt did not make it, and Upgrade does not claim success.
func TestUpgradeRestartedByAnotherClient(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(func(d time.Duration) attemptStep {
			switch {
			case d < 500*time.Millisecond:
				return attemptStep{}
			case d < 2*time.Second:
				return attemptStep{state: "running", step: "replace", foreign: "develop"}
			default:
				return attemptStep{restart: true}
			}
		})
		c := mockClient(t, srv.respond)
		_, err := c.Upgrade(t.Context(), fastPolling(sandbox.UpgradeOptions{Version: "latest"}))
		ue, ok := errors.AsType[*sandbox.UpgradeError](err)
		if !ok || ue.Step != "verify" {
			t.Fatalf("Upgrade: %v, want an *UpgradeError at verify", err)
		}
	})
}

// TestUpgradeWaitOptions: UpgradeOptions.Wait is the SDK's wait
// vocabulary: OnTransition sees each state/step of the attempt, the
// first with From "", and a MaxTransient the restart window exceeds ends
// the upgrade with the transient error instead of waiting it out.
func TestUpgradeWaitOptions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt("v1.1.0"))
		c := mockClient(t, srv.respond)
		var seen []string
		_, err := c.Upgrade(t.Context(), &sandbox.UpgradeOptions{Version: "v1.1.0", Wait: &sandboxkit.WaitOptions{
			MinDelay: 200 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
			OnTransition: func(tr sandboxkit.Transition) {
				if h, ok := tr.Observed.(*sandbox.Health); tr.Kind != "health" || !ok || h == nil {
					t.Errorf("transition %+v: want Kind health and the *Health", tr)
				}
				seen = append(seen, tr.From+" -> "+tr.To)
			},
		}})
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		want := []string{" -> idle/none", "idle/none -> running/starting", "running/starting -> running/download",
			"running/download -> running/validate", "running/validate -> running/replace", "running/replace -> idle/none"}
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		srv := newUpgradeServer(successfulAttempt("v1.1.0"))
		c := mockClient(t, srv.respond, sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
		_, err := c.Upgrade(t.Context(), &sandbox.UpgradeOptions{Version: "v1.1.0", Wait: &sandboxkit.WaitOptions{
			MinDelay: 200 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxTransient: 2,
		}})
		if err == nil || !sandboxkit.IsTransient(err) || errors.Is(err, sandboxkit.ErrWaitTimeout) {
			t.Errorf("Upgrade with MaxTransient 2 through a 2.5 s restart: %v, want the transient error", err)
		}
	})
}

// TestUpgradeWaitOptionsChecked: bad wait options fail before any request.
func TestUpgradeWaitOptionsChecked(t *testing.T) {
	t.Parallel()
	srv := newUpgradeServer(successfulAttempt(""))
	c := mockClient(t, srv.respond)
	bad := &sandboxkit.WaitOptions{MinDelay: time.Second, MaxDelay: time.Millisecond}
	if _, err := c.Upgrade(t.Context(), &sandbox.UpgradeOptions{Wait: bad}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("Upgrade: %v, want invalid input", err)
	}
	if _, err := c.WatchUpgrade(t.Context(), &sandbox.WatchUpgradeOptions{Wait: bad}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("WatchUpgrade: %v, want invalid input", err)
	}
	if n := srv.postCount(); n != 0 {
		t.Errorf("%d POST /upgrade", n)
	}
}
