package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// sandboxTarget is one sandbox API server a scenario runs against.
type sandboxTarget struct {
	// name is the subtest name: "mock" or "real".
	name string
	// real is true for the real sandbox API.
	real bool
	// sb is a client for it.
	sb *sandbox.Client
	// mock is the mock server; nil on a real target.
	mock *mockserver.Server
	// sandboxID is the mock's lifecycle sandbox whose API sb talks to.
	sandboxID string
	// through returns a client for the same server whose requests go
	// through wrap(the target's transport).
	through func(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *sandbox.Client
}

// sandboxTargets returns the sandbox API targets of this run: the mock
// always, the real server when $SANDBOX_API_REAL_URL is set.
func sandboxTargets(t *testing.T) []func(t *testing.T) *sandboxTarget {
	t.Helper()
	targets := []func(t *testing.T) *sandboxTarget{mockSandboxAPI}
	if getenv(envSandboxAPIURL) != "" {
		targets = append(targets, realSandboxAPI)
	}
	return targets
}

func mockSandboxAPI(t *testing.T) *sandboxTarget {
	t.Helper()
	srv := mockserver.Start(t)
	id, err := srv.AddSandbox(mockserver.DefaultTenant, mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := lc.SandboxClient(t.Context(), id, srv.ClientOptions(sandboxkit.Sandbox)...)
	if err != nil {
		t.Fatal(err)
	}
	through := func(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *sandbox.Client {
		t.Helper()
		c, err := lc.SandboxClient(t.Context(), id, append(srv.ClientOptions(sandboxkit.Sandbox),
			sandboxkit.WithHTTPClient(&http.Client{Transport: wrap(srv.HTTPClient().Transport)}))...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return &sandboxTarget{name: "mock", sb: sb, mock: srv, sandboxID: id, through: through}
}

func realSandboxAPI(t *testing.T) *sandboxTarget {
	t.Helper()
	// The server checks no credential (a gateway does in production);
	// send one anyway, as a user would.
	newClient := func(t *testing.T, hc *http.Client) *sandbox.Client {
		t.Helper()
		sb, err := sandbox.New(sandboxkit.WithoutEnvironment(),
			sandboxkit.WithBaseURL(getenv(envSandboxAPIURL)),
			sandboxkit.WithToken("conformance-token"),
			sandboxkit.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	through := func(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *sandbox.Client {
		t.Helper()
		return newClient(t, &http.Client{Transport: wrap(realHTTPClient(t).Transport)})
	}
	return &sandboxTarget{name: "real", real: true, sb: newClient(t, realHTTPClient(t)), through: through}
}

// forEachSandboxAPI runs scenario once per sandbox API target, each in a
// parallel subtest named after the target.
func forEachSandboxAPI(t *testing.T, scenario func(t *testing.T, tg *sandboxTarget)) {
	t.Helper()
	t.Parallel()
	for _, mk := range sandboxTargets(t) {
		tg := mk(t)
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			scenario(t, tg)
		})
	}
}

// dir returns a fresh relative directory name for one scenario, so
// scenarios sharing a real server do not see each other's files. The
// directory is removed when the test ends.
func (tg *sandboxTarget) dir(t *testing.T) string {
	t.Helper()
	return tg.fresh(t, "conformance-")
}

// absDir returns a fresh absolute directory under /tmp, removed when the
// test ends.
func (tg *sandboxTarget) absDir(t *testing.T) string {
	t.Helper()
	return tg.fresh(t, "/tmp/conformance-")
}

// fresh returns prefix followed by a random suffix, and removes what the
// test leaves at that path.
func (tg *sandboxTarget) fresh(t *testing.T, prefix string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tg.sb.Remove(ctx, p, &sandbox.RemoveOptions{Recursive: true}); err != nil && !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Logf("cleanup of %s: %v", p, err)
		}
	})
	return p
}

// procName returns a fresh process name.
func (tg *sandboxTarget) procName(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "conformance-" + hex.EncodeToString(b[:])
}

// ctx returns a context bounded by scenarioTimeout.
func (tg *sandboxTarget) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	t.Cleanup(cancel)
	return ctx
}

// skipOnReal skips the scenario on the real server, which cannot run it
// here, for reason; it still runs on the mock.
func (tg *sandboxTarget) skipOnReal(t *testing.T, reason string) {
	t.Helper()
	if tg.real {
		t.Skip("the real sandbox API here cannot " + reason)
	}
}

// kill kills a process the test started, when the test ends.
func (tg *sandboxTarget) killAtEnd(t *testing.T, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if p, err := tg.sb.GetProcess(ctx, id); err == nil && !p.Ended() {
			_ = tg.sb.KillProcess(ctx, id)
		}
	})
}

// events reads a process stream to its end and renders its events as
// "stdout:<text>", "stderr:<text>", "error:<text>" and
// "result:<status>/<exit code>".
func events(t *testing.T, s *sandbox.Stream[sandbox.ProcessEvent]) ([]string, *sandbox.Process) {
	t.Helper()
	var out []string
	var result *sandbox.Process
	for ev, err := range s.All() {
		if err != nil {
			t.Fatalf("stream ended with %v after %q", err, out)
		}
		switch ev.Type {
		case sandbox.EventResult:
			result = ev.Process
			out = append(out, "result:"+string(ev.Process.Status)+"/"+strconv.Itoa(ev.Process.ExitCode))
		default:
			out = append(out, string(ev.Type)+":"+ev.Text)
		}
	}
	return out, result
}

// short shortens long texts in messages.
func short(s string) string {
	if len(s) > 200 {
		return s[:100] + "…(" + strconv.Itoa(len(s)) + " bytes)…" + s[len(s)-50:]
	}
	return strings.ToValidUTF8(s, "?")
}

// assertAPIError checks that err is an *sandboxkit.APIError with the status,
// naming op, whose message contains text (any if empty).
func assertAPIError(t *testing.T, err error, status int, op, text string) {
	t.Helper()
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	switch {
	case !ok:
		t.Errorf("error %v (%T), want an *sandboxkit.APIError %d", err, err, status)
	case apiErr.StatusCode != status || apiErr.Operation != op || !strings.Contains(apiErr.Message, text):
		t.Errorf("error %v (status %d, operation %q), want %d from %s containing %q", err, apiErr.StatusCode, apiErr.Operation, status, op, text)
	}
}
