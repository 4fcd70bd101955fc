package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/sandboxkit/sandboxkit/client"
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
	sb, err := srv.SandboxAPI(id)
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxTarget{name: "mock", sb: sb, mock: srv, sandboxID: id}
}

func realSandboxAPI(t *testing.T) *sandboxTarget {
	t.Helper()
	// The server checks no credential (a gateway does in production);
	// send one anyway, as a user would.
	sb, err := sandbox.New(client.WithoutEnvironment(),
		client.WithBaseURL(getenv(envSandboxAPIURL)),
		client.WithToken("conformance-token"),
		client.WithHTTPClient(realHTTPClient(t)))
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxTarget{name: "real", real: true, sb: sb}
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
// scenarios sharing a real server do not see each other's files.
func (tg *sandboxTarget) dir(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "conformance-" + hex.EncodeToString(b[:])
}

// absDir returns a fresh absolute directory under /tmp.
func (tg *sandboxTarget) absDir(t *testing.T) string {
	t.Helper()
	return "/tmp/" + tg.dir(t)
}
