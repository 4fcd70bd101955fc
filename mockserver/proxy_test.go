package mockserver_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// proxyTo starts a proxy-mode server in front of upstream.
func proxyTo(t *testing.T, upstream string, api mockserver.API) *mockserver.Server {
	t.Helper()
	return mockserver.Start(t, mockserver.WithUpstream(upstream, api))
}

// TestProxyAppliesFaultsToUpstreamTraffic puts a proxy in front of a mock
// server on TCP: faults shape what clients of the proxy see, the
// upstream does the work, and the journal records the exchanges.
func TestProxyAppliesFaultsToUpstreamTraffic(t *testing.T) {
	t.Parallel()
	up := mockserver.Start(t, mockserver.WithListener("127.0.0.1:0"), mockserver.WithTransitionDelay(0), mockserver.WithTenant("key", "t"))
	px := proxyTo(t, up.URL()+"/v1", mockserver.APILifecycle)
	ctx := t.Context()

	in := px.Info()
	if !in.Proxy || in.UpstreamAPI != mockserver.APILifecycle || in.Upstream != up.URL()+"/v1" {
		t.Errorf("Info: %+v", in)
	}
	lc, err := lifecycle.New(append(px.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey("key"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox, Status: 503, AfterCommit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	sb, err := lc.Create(ctx, &lifecycle.CreateRequest{
		Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sleep", "infinity"},
		ResourceLimits: map[string]string{"cpu": "1"},
	}, nil)
	if err != nil {
		t.Fatalf("Create through the proxy: %v", err)
	}
	if got := up.CreationCounts(lifecycle.ClientTokenKey)[sb.ClientToken()]; got != 1 {
		t.Errorf("the upstream created %d sandboxes for the token, want exactly 1", got)
	}
	if n := px.Count(mockserver.Filter{Operation: mockserver.OpCreateSandbox, Faulted: true, Status: 503}); n != 1 {
		t.Errorf("proxy journal: %d faulted creates, want 1", n)
	}
	if n := up.Count(mockserver.Filter{Operation: mockserver.OpCreateSandbox}); n != 1 {
		t.Errorf("upstream journal: %d creates, want 1 (the after-commit one, not retried)", n)
	}
	// The upstream's 401 passes through; the proxy's journal names the
	// operation and the sandbox.
	if st := status(t, px, "GET", "/v1/sandboxes/"+sb.ID, ""); st != 401 {
		t.Errorf("without key through the proxy: %d, want the upstream's 401", st)
	}
	if e := px.Requests(mockserver.Filter{SandboxID: sb.ID}); len(e) != 1 || e[0].Operation != mockserver.OpGetSandbox || e[0].Status != 401 {
		t.Errorf("proxy journal of the GET: %+v", e)
	}

	// A dropped connection and latency.
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpGetSandbox, Reset: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", px.URL()+"/v1/sandboxes/"+sb.ID, nil)
	req.Header.Set("OPEN-SANDBOX-API-KEY", "key")
	if _, err := px.HTTPClient().Do(req); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset fault: %v, want ECONNRESET", err)
	}
	if err := px.Reset(); err != nil {
		t.Fatal(err)
	}
	if len(px.Journal()) != 0 || len(px.Faults()) != 0 {
		t.Error("proxy reset left journal entries or faults")
	}
	if err := px.Reset(mockserver.WithRuntime(mockserver.RuntimeDocker)); !errors.Is(err, mockserver.ErrProxyMode) {
		t.Errorf("proxy reset with a runtime: %v, want ErrProxyMode", err)
	}
	if _, err := px.AddSandbox("", mockserver.SandboxSeed{}); !errors.Is(err, mockserver.ErrProxyMode) {
		t.Errorf("seeding a proxy: %v, want ErrProxyMode", err)
	}
	if err := px.SaveState(io.Discard); !errors.Is(err, mockserver.ErrProxyMode) {
		t.Errorf("state of a proxy: %v, want ErrProxyMode", err)
	}
}

// TestProxyInFrontOfASandboxAPI proxies one sandbox's API, whose root is
// below a path prefix of the upstream.
func TestProxyInFrontOfASandboxAPI(t *testing.T) {
	t.Parallel()
	up := mockserver.Start(t, mockserver.WithListener("127.0.0.1:0"))
	id, _ := up.AddSandbox("", mockserver.SandboxSeed{})
	prefix := "/sandboxes/" + id + "/port/8080"
	px := proxyTo(t, up.URL()+prefix, mockserver.APISandbox)
	api, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(px.URL()+prefix), sandboxkit.WithHTTPClient(px.HTTPClient()),
		sandboxkit.WithRetry(sandboxkit.RetryPolicy{})) // no retries: the 503 must reach the test
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APISandbox, Operation: mockserver.OpPutFilesystem, Status: 503, AfterCommit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	err = api.Write(ctx, "/tmp/x.txt", "written upstream", nil)
	if !errors.Is(err, sandboxkit.ErrUnavailable) {
		t.Fatalf("write under an after-commit fault: %v, want 503", err)
	}
	directOpts, _ := up.SandboxAPIOptions(id)
	direct, _ := sandbox.New(directOpts...)
	if got, err := direct.Read(ctx, "/tmp/x.txt"); err != nil || got != "written upstream" {
		t.Errorf("upstream file: %q %v, want the write done", got, err)
	}
	if got, err := api.Read(ctx, "/tmp/x.txt"); err != nil || got != "written upstream" {
		t.Errorf("read through the proxy: %q %v", got, err)
	}
	ops := []string{}
	for _, e := range px.Journal() {
		ops = append(ops, e.Operation)
	}
	if strings.Join(ops, ",") != "PutFilesystem,GetFilesystem" {
		t.Errorf("proxy journal: %v", ops)
	}
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APISandbox, Operation: "ExecCommand"}); err == nil {
		t.Error("a fault with an unknown operation was accepted in proxy mode")
	}
}

// realLifecycle returns the real lifecycle server's variables, or skips.
func realLifecycle(t *testing.T) (baseURL, apiKey, image string) {
	t.Helper()
	baseURL = os.Getenv("OPENSANDBOX_REAL_URL")
	if baseURL == "" {
		t.Skip("no real lifecycle server: eval \"$(../shared/real/up lifecycle)\"")
	}
	return baseURL, os.Getenv("OPENSANDBOX_REAL_API_KEY"), cmpOr(os.Getenv("OPENSANDBOX_REAL_IMAGE"), "sbx-local/busybox:latest")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestProxyRealLifecycleAfterCommit puts the proxy in front of the real
// lifecycle server: an after-commit fault on create makes the real
// server create the sandbox while the client sees a 503, and
// lifecycle.Create through the same fault still makes exactly one.
func TestProxyRealLifecycleAfterCommit(t *testing.T) {
	t.Parallel()
	base, key, image := realLifecycle(t)
	px := proxyTo(t, base, mockserver.APILifecycle)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	opts := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithAPIKey(key)}
	real, err := lifecycle.New(append(opts, sandboxkit.WithBaseURL(base))...)
	if err != nil {
		t.Fatal(err)
	}
	via, err := lifecycle.New(append(opts, sandboxkit.WithBaseURL(px.URL()+"/v1"), sandboxkit.WithHTTPClient(px.HTTPClient()))...)
	if err != nil {
		t.Fatal(err)
	}
	run := strings.ToLower(rand.Text()[:10])
	mine := func() []string { // this test's sandboxes on the real server
		t.Helper()
		page, err := real.List(ctx, &lifecycle.ListOptions{Metadata: map[string]string{"proxy-test": run}, PageSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, sb := range page.Items {
			ids = append(ids, sb.ID)
		}
		return ids
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		page, err := real.List(cctx, &lifecycle.ListOptions{Metadata: map[string]string{"proxy-test": run}, PageSize: 50})
		if err != nil {
			t.Logf("cleanup list: %v", err)
			return
		}
		for _, sb := range page.Items {
			if err := real.Delete(cctx, sb.ID); err != nil {
				t.Logf("cleanup delete %s: %v", sb.ID, err)
			}
		}
	})
	req := func(step string) *lifecycle.CreateRequest {
		return &lifecycle.CreateRequest{
			Image: &lifecycle.Image{URI: image}, Entrypoint: []string{"sleep", "3600"}, Timeout: 10 * time.Minute,
			ResourceLimits: map[string]string{"cpu": "500m", "memory": "256Mi"},
			Metadata:       map[string]string{"proxy-test": run, "step": step},
		}
	}
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox, Status: 503, AfterCommit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}

	// 1. A plain create: the client sees the 503, the real server has the
	// sandbox.
	body := `{"image":{"uri":"` + image + `"},"entrypoint":["sleep","3600"],"timeout":600,` +
		`"resourceLimits":{"cpu":"500m","memory":"256Mi"},"metadata":{"proxy-test":"` + run + `"}}`
	hreq, _ := http.NewRequestWithContext(ctx, "POST", px.URL()+"/v1/sandboxes", strings.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("OPEN-SANDBOX-API-KEY", key)
	resp, err := px.HTTPClient().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("create under the fault: %d, want 503", resp.StatusCode)
	}
	ids := mine()
	if len(ids) != 1 {
		t.Fatalf("real server has %d sandboxes of this run after the failed create, want 1", len(ids))
	}
	if err := real.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}

	// 2. lifecycle.Create through the same fault: it recovers the
	// sandbox the lost answer described and makes no second one.
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox, Status: 503, AfterCommit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	sb, err := via.Create(ctx, req("sdk"), nil)
	if err != nil {
		t.Fatalf("lifecycle.Create through the fault: %v", err)
	}
	ids = mine()
	if len(ids) != 1 || ids[0] != sb.ID {
		t.Errorf("real server has %v for this run, want exactly [%s]", ids, sb.ID)
	}
	creates := px.Requests(mockserver.Filter{Operation: mockserver.OpCreateSandbox})
	if len(creates) != 2 || creates[0].Status != 503 || creates[1].Status != 503 || creates[0].Fault == 0 {
		t.Errorf("proxy journal of creates: %+v, want two faulted 503s (each committed upstream)", creates)
	}
	if err := real.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}

// TestProxyRealSandboxAPI puts the proxy in front of the real sandbox API:
// a write under an after-commit fault lands on the real server's disk
// while the client sees a 503; a status fault and latency shape health
// checks.
func TestProxyRealSandboxAPI(t *testing.T) {
	t.Parallel()
	base := os.Getenv("SANDBOX_API_REAL_URL")
	workdir := os.Getenv("SANDBOX_API_REAL_WORKDIR")
	if base == "" || workdir == "" {
		t.Skip("no real sandbox API: eval \"$(../shared/real/up sandbox-api)\"")
	}
	px := proxyTo(t, base, mockserver.APISandbox)
	api, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(px.URL()), sandboxkit.WithHTTPClient(px.HTTPClient()),
		sandboxkit.WithRetry(sandboxkit.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name := "proxy-" + strings.ToLower(rand.Text()[:10]) + ".txt"
	t.Cleanup(func() { _ = os.Remove(filepath.Join(workdir, name)) })
	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APISandbox, Operation: mockserver.OpPutFilesystem, Status: 503, AfterCommit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if err := api.Write(ctx, name, "through the proxy", nil); !errors.Is(err, sandboxkit.ErrUnavailable) {
		t.Fatalf("write under the fault: %v, want a 503", err)
	}
	if b, err := os.ReadFile(filepath.Join(workdir, name)); err != nil || string(b) != "through the proxy" {
		t.Errorf("file on the real server: %q %v, want the write done", b, err)
	}

	if _, err := px.InjectFault(mockserver.Fault{API: mockserver.APISandbox, Operation: mockserver.OpGetHealth, Status: 429, RetryAfter: 3 * time.Second, Times: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = api.Health(ctx)
	var ae *sandboxkit.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter != 3*time.Second {
		t.Errorf("health under a 429 fault: %v", err)
	}
	h, err := api.Health(ctx)
	if err != nil || h.Status != "ok" {
		t.Errorf("health after the fault: %+v %v", h, err)
	}
	if e := px.Requests(mockserver.Filter{Operation: mockserver.OpGetHealth}); len(e) != 2 || e[0].Status != 429 || e[1].Status != 200 {
		t.Errorf("proxy journal of health checks: %+v", e)
	}
}

// status answers method path on srv's in-memory transport with its status.
func status(t testing.TB, srv *mockserver.Server, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
