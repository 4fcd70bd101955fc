package mockserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// A sandbox provisions, pauses and expires on the manual clock.
func Example() {
	srv, err := mockserver.New(mockserver.WithManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c := srv.HTTPClient()

	resp, err := c.Post(srv.URL()+"/v1/sandboxes", "application/json",
		strings.NewReader(`{"image":{"uri":"python:3.11"},"entrypoint":["python","-m","http.server"],"timeout":600}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	id := srv.Sandboxes()[0].ID
	state := func() string { sb, _ := srv.Sandbox(id); return sb.State }

	fmt.Println(resp.StatusCode, state())
	srv.Advance(mockserver.DefaultTransitionDelay)
	fmt.Println(state())
	resp, _ = c.Post(srv.URL()+"/v1/sandboxes/"+id+"/pause", "", nil)
	resp.Body.Close()
	fmt.Println(state())
	srv.Advance(10 * time.Minute)
	fmt.Println(state())
	// Output:
	// 202 Pending
	// Running
	// Pausing
	// Terminated
}

// An after-commit fault: the create happens, the client sees a 503.
func ExampleServer_InjectFault() {
	srv, _ := mockserver.New(mockserver.WithTransitionDelay(0))
	defer srv.Close()
	_, _ = srv.InjectFault(mockserver.Fault{
		API: mockserver.APILifecycle, Operation: "CreateSandbox",
		AfterCommit: true, Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Times: 1,
	})
	resp, _ := srv.HTTPClient().Post(srv.URL()+"/v1/sandboxes", "application/json",
		strings.NewReader(`{"image":{"uri":"python:3.11"},"entrypoint":["sh"],"metadata":{"token":"t-1"}}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), string(body))
	fmt.Println(srv.CreationCounts("token"))
	// Output:
	// 503 1 {"code":"UNAVAILABLE","message":"injected fault"}
	// map[t-1:1]
}

// The façade clients, pointed at the server: a lifecycle client, and the
// sandbox API of one of its sandboxes.
func ExampleServer_Lifecycle() {
	srv, err := mockserver.New(mockserver.WithTenant("key-1", "team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lc, err := srv.Lifecycle() // base URL, in-memory transport and key-1
	if err != nil {
		log.Fatal(err)
	}
	sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:      &lifecycle.Image{URI: "python:3.12"},
		Entrypoint: []string{"python", "-m", "http.server"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	api, err := srv.SandboxAPI(sb.ID)
	if err != nil {
		log.Fatal(err)
	}
	res, err := api.Run(ctx, "echo $GREETING world", &sandbox.RunOptions{Env: map[string]string{"GREETING": "hello"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(sb.State(), " ", res.Stdout)
	info, _ := srv.Sandbox(sb.ID)
	fmt.Println(info.Tenant, info.Image)
	// Output:
	// Running hello world
	// team-a python:3.12
}

// ScriptUpgrade makes the next upgrade of a sandbox's API fail at a step,
// so a test sees the typed error the real server's failure would give.
func ExampleServer_ScriptUpgrade() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	_ = srv.ScriptUpgrade(id, mockserver.UpgradeScript{
		FailAt:       "validate",
		Delay:        time.Millisecond, // and quickly
		StepDuration: time.Millisecond,
	})
	api, err := srv.SandboxAPI(id)
	if err != nil {
		log.Fatal(err)
	}

	_, err = api.Upgrade(context.Background(), sandbox.UpgradeOptions{MinDelay: time.Millisecond})
	var ue *sandbox.UpgradeError
	if errors.As(err, &ue) {
		fmt.Println(ue.Step, "|", ue.Message)
	}
	// Output: validate | Binary validation failed: health check timed out after 10 attempts
}

// Clock hands the server's manual clock to a renewer: an hour of renewals
// passes in as long as it takes to advance the clock.
func ExampleServer_Clock() {
	// Start at the wall clock's time: Client.Renew refuses expiries in
	// the wall clock's past.
	start := time.Now().Truncate(time.Minute)
	srv, err := mockserver.New(mockserver.WithManualClock(start))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{ExpiresAt: start.Add(15 * time.Minute)})
	lc, err := srv.Lifecycle()
	if err != nil {
		log.Fatal(err)
	}

	renewed := make(chan lifecycle.RenewEvent)
	r, err := lifecycle.NewRenewer(context.Background(), lc, id, &lifecycle.RenewerOptions{
		Extension: 15 * time.Minute,
		Margin:    5 * time.Minute,
		Jitter:    -1,
		Clock:     srv.Clock(),
		OnRenew:   func(e lifecycle.RenewEvent) { renewed <- e },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Stop()
	for range 4 {
		_ = srv.Advance(10 * time.Minute) // to the next renewal, 5 minutes before expiry
		e := <-renewed
		fmt.Printf("at +%v: expiry +%v -> +%v\n", e.At.Sub(start), e.Previous.Sub(start), e.ExpiresAt.Sub(start))
		_ = srv.Advance(5 * time.Minute)
	}
	sb, _ := srv.Sandbox(id)
	fmt.Println(sb.State, "at", srv.Now().Sub(start))
	// Output:
	// at +10m0s: expiry +15m0s -> +30m0s
	// at +25m0s: expiry +30m0s -> +45m0s
	// at +40m0s: expiry +45m0s -> +1h0m0s
	// at +55m0s: expiry +1h0m0s -> +1h15m0s
	// Running at 1h0m0s
}

// The journal shows every request the server answered, including faults.
func ExampleServer_Requests() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_, _ = srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "GetSandbox", Status: http.StatusBadGateway, Times: 1})
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "sbx-1"})
	lc, err := srv.Lifecycle()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := lc.Get(context.Background(), id); err != nil { // the transport retries the 502
		log.Fatal(err)
	}
	for _, e := range srv.Requests(mockserver.Filter{API: mockserver.APILifecycle}) {
		fmt.Println(e.Method, e.Path, e.Operation, e.Status, e.Fault != 0)
	}
	// Output:
	// GET /v1/sandboxes/sbx-1 GetSandbox 502 true
	// GET /v1/sandboxes/sbx-1 GetSandbox 200 false
}
