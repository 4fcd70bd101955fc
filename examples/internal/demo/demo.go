// Package demo is what the examples share: the choice between the
// embedded mock server and the real services, and a progress log with
// timestamps.
//
// An example talks to a real service when that service's base-URL
// variable is set (OPEN_SANDBOX_BASE_URL for the lifecycle API, BL_API_URL
// for the control plane; credentials come from OPEN_SANDBOX_API_KEY,
// BL_API_KEY and BL_WORKSPACE as usual). Otherwise it starts
// mockserver.New in its own process, with no socket, and says so on its
// first line.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// MockAPIKey is the credential of the embedded mock server's only tenant,
// so that the examples send (and the mock checks) a key as they would
// with a real service.
const MockAPIKey = "demo-key"

// Env is where an example runs: the embedded mock server or the real
// services.
type Env struct {
	// Mock is the embedded mock server, or nil when the example talks to
	// real services.
	Mock *mockserver.Server

	name string
	out  io.Writer
	now  func() time.Time
}

// Start picks the environment of the example called name, which mainly
// uses api (client.Lifecycle or client.ControlPlane): the real service
// when its base-URL variable is set, otherwise a new embedded mock server
// configured by opts. It prints the choice as the first line.
func Start(name string, api client.API, opts ...mockserver.Option) *Env {
	e := &Env{name: name, out: os.Stdout, now: time.Now}
	baseVar := client.EnvLifecycleBaseURL
	if api == client.ControlPlane {
		baseVar = client.EnvControlPlaneBaseURL
	}
	if u := os.Getenv(baseVar); u != "" {
		e.Logf("%s: %s is set: using the real %s API at %s", name, baseVar, api, u)
		return e
	}
	opts = append([]mockserver.Option{mockserver.WithTenant(MockAPIKey, "demo")}, opts...)
	srv, err := mockserver.New(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: starting the mock server: %v\n", name, err)
		os.Exit(1)
	}
	e.Mock, e.now = srv, srv.Now
	e.Logf("%s: %s is not set: using the embedded mock server (in-process, no network)", name, baseVar)
	return e
}

// Real reports whether the example talks to real services.
func (e *Env) Real() bool { return e.Mock == nil }

// Options returns the client options of api for this environment. With
// the mock server: its in-memory transport, base URL and credential.
// With real services: nothing for the lifecycle API and the control
// plane (their clients read the environment), and for the sandbox API the
// lifecycle API key as bearer token unless BL_API_KEY is set.
func (e *Env) Options(api client.API) []client.Option {
	if e.Mock != nil {
		return e.Mock.ClientOptions(api)
	}
	if api == client.Sandbox && os.Getenv(client.EnvToken) == "" {
		if key := os.Getenv(client.EnvLifecycleAPIKey); key != "" {
			return []client.Option{client.WithToken(key)}
		}
	}
	return nil
}

// Clock returns the clock renewers should use: the mock server's (which
// may be a manual one), or nil (the wall clock) with real services.
func (e *Env) Clock() lifecycle.Clock {
	if e.Mock != nil {
		return e.Mock.Clock()
	}
	return nil
}

// Now returns the time on the environment's clock: the mock server's,
// or the wall clock.
func (e *Env) Now() time.Time { return e.now() }

// Context returns a context that ends after timeout or on Ctrl-C.
func (e *Env) Context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

// Logf prints one line of progress, prefixed with the time on the
// environment's clock.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.out, "%s  %s\n", e.now().Local().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Exit ends the example: it closes the mock server and exits with status
// 0 when err is nil, else prints err and exits with status 1.
func (e *Env) Exit(err error) {
	if e.Mock != nil {
		e.Mock.Close()
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
	d := e.now().Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
