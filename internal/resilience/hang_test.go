package resilience

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// silentNet is an in-memory network whose server accepts every
// connection and never answers: what a hung server or a black-holed
// load balancer looks like to a client. It runs inside a testing/synctest
// bubble, where a socket would keep the bubble from ever idling, so the
// SDK's timers run on fake time and the test takes no real time. The
// transport is a real *http.Transport.
type silentNet struct {
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newSilentNet(t *testing.T) *http.Transport {
	n := &silentNet{}
	tr := &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			c, s := net.Pipe()
			n.mu.Lock()
			n.conns = append(n.conns, c, s)
			n.mu.Unlock()
			n.wg.Go(func() {
				defer s.Close()
				_, _ = io.Copy(io.Discard, bufio.NewReader(s)) // read everything, answer nothing
			})
			return c, nil
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		n.mu.Lock()
		for _, c := range n.conns {
			_ = c.Close()
		}
		n.mu.Unlock()
		n.wg.Wait()
	})
	return tr
}

// TestUnaryCallsReturnWithinTheDefaultTimeout: with context.Background(),
// a call to a server that accepts the connection and never answers used
// to stay blocked for minutes and more (issue 12). Every unary method of
// the three clients now returns after DefaultTimeout with an error
// matching sandboxkit.ErrTimeout. No timeout option is given: the default is
// what applies. Methods that make more than one request in a call (a
// create that looks up its token after an ambiguous attempt, Run) are
// listed in TestCompositeCallsAreBounded.
func TestUnaryCallsReturnWithinTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := unaryCalls(t, newSilentNet(t))
		names := make([]string, 0, len(calls))
		for name := range calls {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			start := time.Now()
			err := calls[name](context.Background())
			elapsed := time.Since(start)
			if !errors.Is(err, sandboxkit.ErrTimeout) {
				t.Errorf("%s: err = %v, want sandboxkit.ErrTimeout", name, err)
			}
			if elapsed != sandboxkit.DefaultTimeout {
				t.Errorf("%s returned after %v, want %v", name, elapsed, sandboxkit.DefaultTimeout)
			}
		}
		t.Logf("%d unary methods, each ended after %v", len(names), sandboxkit.DefaultTimeout)
	})
}

// silentClients returns the three clients, pointed at the silent network,
// with their default limits.
func silentClients(t *testing.T, tr http.RoundTripper) (*lifecycle.Client, *controlplane.Client, *sandbox.Client) {
	t.Helper()
	common := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(&http.Client{Transport: tr})}
	lc, err := lifecycle.New(append(common, sandboxkit.WithBaseURL("http://lifecycle.test/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(common, sandboxkit.WithBaseURL("http://cp.test/v0"), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace))...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.New(append(common, sandboxkit.WithBaseURL("http://sbx.test"), sandboxkit.WithToken(secToken))...)
	if err != nil {
		t.Fatal(err)
	}
	return lc, cp, sc
}

// unaryCalls returns every method of the three clients that makes one
// request and reads one answer.
func unaryCalls(t *testing.T, tr http.RoundTripper) map[string]func(context.Context) error {
	lc, cp, sc := silentClients(t, tr)
	box := &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box"},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}}}
	return map[string]func(context.Context) error{
		"lifecycle.Get":      func(ctx context.Context) error { _, err := lc.Get(ctx, "abc"); return err },
		"lifecycle.List":     func(ctx context.Context) error { _, err := lc.List(ctx, nil); return err },
		"lifecycle.Endpoint": func(ctx context.Context) error { _, err := lc.Endpoint(ctx, "abc", 8080, nil); return err },
		"lifecycle.PatchMetadata": func(ctx context.Context) error {
			_, err := lc.PatchMetadata(ctx, "abc", &lifecycle.MetadataPatch{Set: map[string]string{"k": "v"}})
			return err
		},
		"lifecycle.CreateSnapshot": func(ctx context.Context) error { _, err := lc.CreateSnapshot(ctx, "abc", nil); return err },
		"lifecycle.GetSnapshot":    func(ctx context.Context) error { _, err := lc.GetSnapshot(ctx, "snap"); return err },
		"lifecycle.DeleteSnapshot": func(ctx context.Context) error { return lc.DeleteSnapshot(ctx, "snap") },
		"lifecycle.ListSnapshots":  func(ctx context.Context) error { _, err := lc.ListSnapshots(ctx, nil); return err },

		"controlplane.Get":    func(ctx context.Context) error { _, err := cp.Get(ctx, "box", nil); return err },
		"controlplane.List":   func(ctx context.Context) error { _, err := cp.List(ctx, nil); return err },
		"controlplane.Update": func(ctx context.Context) error { _, err := cp.Update(ctx, box); return err },
		"controlplane.Delete": func(ctx context.Context) error { _, err := cp.Delete(ctx, "box"); return err },

		"sandbox.Health":        func(ctx context.Context) error { _, err := sc.Health(ctx); return err },
		"sandbox.Read":          func(ctx context.Context) error { _, err := sc.Read(ctx, "/etc/hosts"); return err },
		"sandbox.ListDirectory": func(ctx context.Context) error { _, err := sc.ListDirectory(ctx, "/tmp"); return err },
		"sandbox.Write":         func(ctx context.Context) error { return sc.Write(ctx, "/tmp/a", "x", nil) },
		"sandbox.Mkdir":         func(ctx context.Context) error { return sc.Mkdir(ctx, "/tmp/d", nil) },
		"sandbox.Remove":        func(ctx context.Context) error { return sc.Remove(ctx, "/tmp/a", nil) },
		"sandbox.Tree":          func(ctx context.Context) error { _, err := sc.Tree(ctx, "/tmp"); return err },
		"sandbox.Find":          func(ctx context.Context) error { _, err := sc.Find(ctx, "/tmp", nil); return err },
		"sandbox.Search":        func(ctx context.Context) error { _, err := sc.Search(ctx, "/tmp", nil); return err },
		"sandbox.Grep":          func(ctx context.Context) error { _, err := sc.Grep(ctx, "/tmp", "needle", nil); return err },
		"sandbox.Exec": func(ctx context.Context) error {
			_, err := sc.Exec(ctx, &sandbox.ExecRequest{Command: "true"})
			return err
		},
		"sandbox.GetProcess": func(ctx context.Context) error {
			_, err := sc.GetProcess(ctx, "p1")
			return err
		},
		"sandbox.ListProcesses":        func(ctx context.Context) error { _, err := sc.ListProcesses(ctx); return err },
		"sandbox.StopProcess":          func(ctx context.Context) error { return sc.StopProcess(ctx, "p1") },
		"sandbox.KillProcess":          func(ctx context.Context) error { return sc.KillProcess(ctx, "p1") },
		"sandbox.Logs":                 func(ctx context.Context) error { _, err := sc.Logs(ctx, "p1"); return err },
		"sandbox.ListPorts":            func(ctx context.Context) error { _, err := sc.ListPorts(ctx, 42); return err },
		"sandbox.ListDrives":           func(ctx context.Context) error { _, err := sc.ListDrives(ctx); return err },
		"sandbox.ReloadEnvironment":    func(ctx context.Context) error { _, err := sc.ReloadEnvironment(ctx); return err },
		"sandbox.StartUpgrade":         func(ctx context.Context) error { _, err := sc.StartUpgrade(ctx, nil); return err },
		"sandbox.ListMultipartUploads": func(ctx context.Context) error { _, err := sc.ListMultipartUploads(ctx); return err },
		"sandbox.InitiateUpload":       func(ctx context.Context) error { _, err := sc.InitiateUpload(ctx, "/tmp/big", nil); return err },
		"sandbox.ListUploadedParts":    func(ctx context.Context) error { _, err := sc.ListUploadedParts(ctx, "up-1"); return err },
		"sandbox.AbortUpload":          func(ctx context.Context) error { return sc.AbortUpload(ctx, "up-1") },
		"sandbox.DisconnectTunnel":     func(ctx context.Context) error { return sc.DisconnectTunnel(ctx) },
	}
}

// TestCompositeCallsAreBounded: calls that follow an ambiguous attempt
// with more requests (the lifecycle client reads a sandbox back to settle
// whether a pause, resume, renew, delete or create took effect; Run looks
// its process up) make each of those requests under the same default
// timeout, so they too end, after a bounded number of timeouts.
func TestCompositeCallsAreBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		lc, cp, sc := silentClients(t, newSilentNet(t))
		img := &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"},
			ResourceLimits: resourceLimits()}
		box := &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box"},
			Spec: controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}}}
		calls := []struct {
			name     string
			call     func(context.Context) error
			timeouts time.Duration // how many timeouts the call may take, at most
		}{
			{"lifecycle.Delete", func(ctx context.Context) error { return lc.Delete(ctx, "abc") }, 2},
			{"lifecycle.Pause", func(ctx context.Context) error { return lc.Pause(ctx, "abc") }, 2},
			{"lifecycle.Resume", func(ctx context.Context) error { return lc.Resume(ctx, "abc") }, 2},
			{"lifecycle.Renew", func(ctx context.Context) error {
				_, err := lc.Renew(ctx, "abc", time.Now().Add(time.Hour))
				return err
			}, 2},
			{"lifecycle.Create", func(ctx context.Context) error { _, err := lc.Create(ctx, img, nil); return err }, 2},
			{"controlplane.Create", func(ctx context.Context) error { _, err := cp.Create(ctx, box, nil); return err }, 2},
			{"controlplane.EnsureSandbox", func(ctx context.Context) error { _, err := cp.EnsureSandbox(ctx, box, nil); return err }, 2},
			{"sandbox.Run", func(ctx context.Context) error { _, err := sc.Run(ctx, "true", nil); return err }, 2},
		}
		for _, c := range calls {
			start := time.Now()
			err := c.call(context.Background())
			elapsed := time.Since(start)
			if !errors.Is(err, sandboxkit.ErrTimeout) {
				t.Errorf("%s: err = %v, want sandboxkit.ErrTimeout among its causes", c.name, err)
			}
			// A few seconds of backoff between the requests are allowed.
			if limit := c.timeouts*sandboxkit.DefaultTimeout + 30*time.Second; elapsed > limit {
				t.Errorf("%s returned after %v, want at most %v", c.name, elapsed, limit)
			}
			t.Logf("%s ended after %v", c.name, elapsed)
		}
	})
}
