// Package demo is what the examples share: the choice between the
// embedded mock server, a standalone one and the real services, and a
// progress log with timestamps.
//
// An example talks to a real service when that service's base-URL
// variable is set (OPEN_SANDBOX_BASE_URL for the lifecycle API, BL_API_URL
// for the control plane; credentials come from OPEN_SANDBOX_API_KEY,
// BL_API_KEY and BL_WORKSPACE as usual). When SANDBOXMOCK_URL is set too,
// that service is a standalone sandboxmock (the command, or its
// container) whose control API is at SANDBOXMOCK_URL (with the control
// token in SANDBOXMOCK_CONTROL_TOKEN, if it has one): the example resets
// it, configures it as it would configure an embedded one, and steers it
// (faults, scripted upgrades, its clock) through the control API.
// Otherwise the example starts mockserver.New in its own process, with
// no socket, and says so on its first line.
package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// MockAPIKey is the credential of the embedded mock server's only tenant,
// so that the examples send (and the mock checks) a key as they would
// with a real service.
const MockAPIKey = "demo-key"

// Environment variables that point an example at a standalone sandboxmock.
const (
	EnvMockURL   = "SANDBOXMOCK_URL"
	EnvMockToken = "SANDBOXMOCK_CONTROL_TOKEN"
)

// setupTimeout bounds the calls to a standalone mock's control API made
// while an example starts.
const setupTimeout = 30 * time.Second

// Env is where an example runs: a mock server (embedded or standalone)
// or the real services.
type Env struct {
	// Mock steers the mock server, embedded or standalone; nil when the
	// example talks to real services.
	Mock mockserver.Controller

	srv   *mockserver.Server // the embedded server, if any
	clock lifecycle.Clock    // the mock's clock, if any
	name  string
	out   io.Writer
}

// Start picks the environment of the example called name, which mainly
// uses api (sandboxkit.Lifecycle or sandboxkit.ControlPlane): the real service
// when its base-URL variable is set (a standalone mock when
// SANDBOXMOCK_URL is set as well, reset and configured by opts),
// otherwise a new embedded mock server configured by opts. It prints the
// choice as the first line.
func Start(name string, api sandboxkit.API, opts ...mockserver.Option) *Env {
	e := &Env{name: name, out: os.Stdout}
	baseVar := sandboxkit.EnvLifecycleBaseURL
	if api == sandboxkit.ControlPlane {
		baseVar = sandboxkit.EnvControlPlaneBaseURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	u := os.Getenv(baseVar)
	switch mock := os.Getenv(EnvMockURL); {
	case u != "" && mock != "":
		remote, err := mockserver.Dial(mock, os.Getenv(EnvMockToken), nil)
		if err == nil {
			err = remote.Reset(ctx, opts...)
		}
		if err == nil {
			e.clock, err = remote.Clock(ctx)
		}
		if err != nil {
			fail(name, "preparing the standalone mock server at "+mock, err)
		}
		e.Mock = remote
		e.Logf("%s: %s is set and %s names its control API: using the standalone mock server at %s (reset for this run)", name, baseVar, EnvMockURL, u)
	case u != "":
		e.Logf("%s: %s is set: using the real %s API at %s", name, baseVar, api, u)
	default:
		opts = append([]mockserver.Option{mockserver.WithTenant(MockAPIKey, "demo")}, opts...)
		srv, err := mockserver.New(opts...)
		if err != nil {
			fail(name, "starting the mock server", err)
		}
		e.srv, e.Mock, e.clock = srv, srv.Controller(), srv.Clock()
		e.Logf("%s: %s is not set: using the embedded mock server (in-process, no network)", name, baseVar)
	}
	return e
}

func fail(name, what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %v\n", name, what, err)
	os.Exit(1)
}

// Real reports whether the example talks to real services.
func (e *Env) Real() bool { return e.Mock == nil }

// Options returns the client options of api for this environment. With
// the embedded mock server: its in-memory transport, base URL and
// credential. With a standalone mock or real services: nothing for the
// lifecycle API and the control plane (their clients read the
// environment), and for the sandbox API the token in BL_API_KEY, or else
// the lifecycle API key as bearer token.
func (e *Env) Options(api sandboxkit.API) []sandboxkit.Option {
	if e.srv != nil {
		return e.srv.ClientOptions(api)
	}
	if api == sandboxkit.Sandbox {
		if os.Getenv(sandboxkit.EnvToken) != "" {
			return []sandboxkit.Option{sandboxkit.WithEnvCredentials()}
		}
		if key := os.Getenv(sandboxkit.EnvLifecycleAPIKey); key != "" {
			return []sandboxkit.Option{sandboxkit.WithToken(key)}
		}
	}
	return nil
}

// HTTPClient returns the HTTP client that reaches the environment's
// servers at URLs they hand out: the embedded mock server's in-memory
// one, or http.DefaultClient.
func (e *Env) HTTPClient() *http.Client {
	if e.srv != nil {
		return e.srv.HTTPClient()
	}
	return http.DefaultClient
}

// Clock returns the clock renewers should use: the mock server's (which
// may be a manual one), or nil (the wall clock) with real services.
func (e *Env) Clock() lifecycle.Clock { return e.clock }

// Now returns the time on the environment's clock: the mock server's,
// or the wall clock.
func (e *Env) Now() time.Time {
	if e.clock != nil {
		return e.clock.Now()
	}
	return time.Now()
}

// Context returns a context that ends after timeout or on Ctrl-C.
func (e *Env) Context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

// Logf prints one line of progress, prefixed with the time on the
// environment's clock.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.out, "%s  %s\n", e.Now().Local().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Close closes the embedded mock server, if any.
func (e *Env) Close() {
	if e.srv != nil {
		e.srv.Close()
	}
}

// Exit ends the example: it closes the embedded mock server and exits
// with status 0 when err is nil, else prints err and exits with status 1.
func (e *Env) Exit(err error) {
	if e.srv != nil {
		e.srv.Close()
	}
	if err != nil {
		e.Logf("FAILED: %v", err)
		fmt.Fprintf(os.Stderr, "%s: %v\n", e.name, err)
		os.Exit(1)
	}
	e.Logf("%s: done", e.name)
}

// Since formats the time elapsed since t on the environment's clock,
// rounded for people.
func (e *Env) Since(t time.Time) string {
	d := e.Now().Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
