package mockserver_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func inject(t *testing.T, srv *mockserver.Server, f mockserver.Fault) mockserver.FaultID {
	t.Helper()
	id, err := srv.InjectFault(f)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sb, _ := e.srv.AddSandbox("", mockserver.SandboxSeed{})
	fid := inject(t, e.srv, mockserver.Fault{API: mockserver.APILifecycle, Operation: "GetSandbox", Status: 503, RetryAfter: 1500 * time.Millisecond})
	resp, body := do(t, e.srv, "GET", "/v1/sandboxes/"+sb, "", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, `"code":"UNAVAILABLE"`) || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("faulted GET: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// Other operations and APIs are untouched.
	if resp, _ := do(t, e.srv, "GET", "/v1/sandboxes", "", nil); resp.StatusCode != 200 {
		t.Errorf("list during a GetSandbox fault: %d", resp.StatusCode)
	}
	if resp, _ := do(t, e.srv, "GET", "/v0/sandboxes/x", "", nil); resp.StatusCode != 404 {
		t.Errorf("control plane during a lifecycle fault: %d", resp.StatusCode)
	}
	if got := e.srv.FaultFired(fid); got != 1 {
		t.Errorf("FaultFired = %d", got)
	}
	if got := e.srv.Requests(mockserver.Filter{Faulted: true}); len(got) != 1 || got[0].Fault != fid || got[0].Status != 503 {
		t.Errorf("faulted journal entries: %+v", got)
	}
	if !e.srv.RemoveFault(fid) || e.srv.RemoveFault(fid) {
		t.Error("RemoveFault")
	}
	if resp, _ := do(t, e.srv, "GET", "/v1/sandboxes/"+sb, "", nil); resp.StatusCode != 200 {
		t.Errorf("after RemoveFault: %d", resp.StatusCode)
	}

	// Custom bodies, control plane and sandbox API shapes.
	inject(t, e.srv, mockserver.Fault{API: mockserver.APIControlPlane, Status: 429, Body: `{"error":"slow down"}`})
	inject(t, e.srv, mockserver.Fault{API: mockserver.APISandbox, Operation: "GetHealth", Status: 502})
	cres, err := e.cp.ListSandboxes(t.Context(), controlplaneapi.ListSandboxesParams{})
	if err == nil {
		t.Errorf("control plane 429 decoded as %T", cres)
	}
	resp, body = do(t, e.srv, "GET", "/v0/sandboxes", "", nil)
	if resp.StatusCode != 429 || body != `{"error":"slow down"}` {
		t.Errorf("custom body: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, e.srv, "GET", "/sandboxes/"+sb+"/port/8080/health", "", nil)
	if resp.StatusCode != 502 || body != `{"error":"injected fault"}` {
		t.Errorf("sandbox API fault: %d %s", resp.StatusCode, body)
	}
	e.srv.ClearFaults()
	if resp, _ := do(t, e.srv, "GET", "/v0/sandboxes", "", nil); resp.StatusCode != 200 {
		t.Errorf("after ClearFaults: %d", resp.StatusCode)
	}
}

func TestFaultFirstN(t *testing.T) {
	t.Parallel()
	e := setup(t)
	inject(t, e.srv, mockserver.Fault{Operation: "ListSandboxes", Status: 500, Times: 2})
	var got []int
	for range 4 {
		resp, _ := do(t, e.srv, "GET", "/v1/sandboxes", "", nil)
		got = append(got, resp.StatusCode)
	}
	if want := []int{500, 500, 200, 200}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func TestFaultProbabilityIsReproducible(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		e := setup(t)
		inject(t, e.srv, mockserver.Fault{API: mockserver.APILifecycle, Status: 503, Probability: 0.3, Seed: seed})
		var got []int
		for range 60 {
			resp, _ := do(t, e.srv, "GET", "/v1/sandboxes", "", nil)
			got = append(got, resp.StatusCode)
		}
		return got
	}
	a, b, c := run(7), run(7), run(8)
	if !equalInts(a, b) {
		t.Errorf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	if equalInts(a, c) {
		t.Errorf("different seeds, same outcomes: %v", a)
	}
	failed := 0
	for _, s := range a {
		if s == 503 {
			failed++
		}
	}
	if failed < 6 || failed > 30 {
		t.Errorf("%d of 60 requests failed at probability 0.3", failed)
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	e := setup(t)
	inject(t, e.srv, mockserver.Fault{Operation: "CreateSandbox", Reset: true, Times: 1})
	req := &lifecycleapi.CreateSandboxRequest{Image: lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "x"}), Entrypoint: []string{"sh"}, ResourceLimits: limits}
	_, err := e.lc.CreateSandbox(t.Context(), req)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset create: %v, want ECONNRESET", err)
	}
	if n := len(e.srv.Sandboxes()); n != 0 {
		t.Errorf("a reset before the operation created %d sandboxes", n)
	}
	j := e.srv.Requests(mockserver.Filter{Operation: "CreateSandbox"})
	if len(j) != 1 || !j[0].Reset || j[0].Status != 0 || j[0].Fault == 0 {
		t.Errorf("journal %+v", j)
	}
	createSandbox(t, e.lc, req) // Times: 1
}

// TestFaultAfterCommit is the ambiguous create: the sandbox exists, the
// client got an error.
func TestFaultAfterCommit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	inject(t, e.srv, mockserver.Fault{Operation: "CreateSandbox", AfterCommit: true, Status: 500, Times: 1})
	inject(t, e.srv, mockserver.Fault{Operation: "CreateSandbox", AfterCommit: true, Reset: true, Times: 1})
	req := &lifecycleapi.CreateSandboxRequest{
		Image: lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "x"}), Entrypoint: []string{"sh"}, ResourceLimits: limits,
		Metadata: lifecycleapi.NewOptCreateSandboxRequestMetadata(map[string]string{"client-token": "tok-1"}),
	}
	_, err := e.lc.CreateSandbox(t.Context(), req)
	wantLifecycleError(t, err, http.StatusInternalServerError)
	req.Metadata = lifecycleapi.NewOptCreateSandboxRequestMetadata(map[string]string{"client-token": "tok-2"})
	if _, err := e.lc.CreateSandbox(t.Context(), req); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after-commit reset: %v", err)
	}
	if n := len(e.srv.Sandboxes()); n != 2 {
		t.Errorf("%d sandboxes exist, want 2", n)
	}
	if got := e.srv.CreationCounts("client-token"); got["tok-1"] != 1 || got["tok-2"] != 1 {
		t.Errorf("CreationCounts = %v", got)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		inject(t, srv, mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes", Latency: 3 * time.Second})
		start := time.Now()
		resp, _ := do(t, srv, "GET", "/v1/sandboxes", "", nil)
		if resp.StatusCode != 200 || time.Since(start) != 3*time.Second {
			t.Errorf("latency fault: %d after %v", resp.StatusCode, time.Since(start))
		}

		// A client that gives up first: the operation never runs.
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Latency: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/v1/sandboxes", strings.NewReader(`{"image":{"uri":"x"},"entrypoint":["sh"],"resourceLimits":{"cpu":"1"}}`))
		req.Header.Set("Content-Type", "application/json")
		_, err := srv.HTTPClient().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("gave up: %v", err)
		}
		synctest.Wait()
		if n := len(srv.Sandboxes()); n != 0 {
			t.Errorf("abandoned create made %d sandboxes", n)
		}
		if j := srv.Requests(mockserver.Filter{Operation: "CreateSandbox"}); len(j) != 1 || j[0].Status != 0 {
			t.Errorf("journal %+v", j)
		}
	})
}

func TestFaultResetOverTCP(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithListener("127.0.0.1:0"))
	inject(t, srv, mockserver.Fault{API: mockserver.APIControlPlane, Reset: true})
	c, err := controlplaneapi.NewClient(srv.URL()+"/v0", keySource(""), controlplaneapi.WithClient(&http.Client{Transport: &http.Transport{}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListSandboxes(t.Context(), controlplaneapi.ListSandboxesParams{}); err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Errorf("reset over TCP: %v", err)
	}
}

func TestFaultValidate(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	for _, f := range []mockserver.Fault{
		{},
		{Status: 42},
		{Status: 500, Probability: 1.5},
		{Status: 500, Times: -1},
		{AfterCommit: true, Latency: time.Second},
		{API: "ftp", Status: 500},
		{Latency: -time.Second},
		{Status: 200},                    // not an error answer
		{Status: 204, Times: 1},          // neither
		{Status: 302},                    // a redirect without a Location
		{Status: 600},                    // no such status
		{AfterCommit: true, Status: 201}, // an after-commit success is no fault
	} {
		if _, err := srv.InjectFault(f); err == nil {
			t.Errorf("InjectFault(%+v) accepted", f)
		}
	}
}

// TestFaultOperationNames: a fault on an operation that does not exist
// would never fire and the test using it would pass without testing
// anything, so it is refused with the list of valid names.
func TestFaultOperationNames(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	for _, f := range []mockserver.Fault{
		{Operation: "CreateSandboxes", Status: 500},                          // typo
		{API: mockserver.APILifecycle, Operation: "GetHealth", Status: 500},  // another API's
		{API: mockserver.APISandbox, Operation: "PauseSandbox", Status: 500}, // another API's
		{API: mockserver.APIControlPlane, Operation: "PauseSandbox", Status: 500},
		{Operation: "createSandbox", Status: 500}, // the spec's operationId, not the name
	} {
		_, err := srv.InjectFault(f)
		if err == nil {
			t.Errorf("InjectFault(%+v) accepted", f)
			continue
		}
		for _, name := range mockserver.Operations(f.API) {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not list %s", err, name)
				break
			}
		}
	}
	for _, f := range []mockserver.Fault{
		{Operation: mockserver.OpCreateSandbox, Status: 500},
		{API: mockserver.APILifecycle, Operation: mockserver.OpRenewSandboxExpiration, Status: 500},
		{API: mockserver.APIControlPlane, Operation: mockserver.OpUpdateSandbox, Status: 500},
		{API: mockserver.APISandbox, Operation: mockserver.OpExecProcess, Status: 502},
		{Operation: mockserver.OpGetHealth, Status: 503},
	} {
		if _, err := srv.InjectFault(f); err != nil {
			t.Errorf("InjectFault(%+v): %v", f, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
