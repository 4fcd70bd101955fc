package mockserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// A sandbox on the default (Kubernetes) runtime, on the manual clock:
// every state change takes the transition delay, and an expired sandbox
// is gone once its deletion has taken that delay too.
func Example() {
	srv, err := mockserver.New(mockserver.WithManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c := srv.HTTPClient()
	state := func(id string) string {
		resp, err := c.Get(srv.URL() + "/v1/sandboxes/" + id)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var sb struct{ Status struct{ State string } }
		_ = json.NewDecoder(resp.Body).Decode(&sb)
		return fmt.Sprint(resp.StatusCode, " ", sb.Status.State)
	}

	resp, err := c.Post(srv.URL()+"/v1/sandboxes", "application/json", strings.NewReader(
		`{"image":{"uri":"python:3.11"},"entrypoint":["python","-m","http.server"],"timeout":600,"resourceLimits":{"cpu":"500m"}}`))
	if err != nil {
		panic(err)
	}
	var created struct {
		ID     string
		Status struct{ State string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	fmt.Println("create:", resp.StatusCode, created.Status.State)
	fmt.Println("read:", state(created.ID))
	_ = srv.Advance(mockserver.DefaultTransitionDelay)
	fmt.Println("read:", state(created.ID))
	resp, _ = c.Post(srv.URL()+"/v1/sandboxes/"+created.ID+"/pause", "", nil)
	resp.Body.Close()
	fmt.Println("pause:", resp.StatusCode, state(created.ID))
	_ = srv.Advance(10*time.Minute - mockserver.DefaultTransitionDelay) // to the expiry
	fmt.Println("expired:", state(created.ID))
	_ = srv.Advance(mockserver.DefaultTransitionDelay)
	fmt.Println("then:", state(created.ID))
	// Output:
	// create: 202 Running
	// read: 200 Allocated
	// read: 200 Running
	// pause: 202 200 Pausing
	// expired: 200 Paused
	// then: 404
}

// On the Docker runtime every call is done when it answers, a deleted
// sandbox is gone at once, and a sandbox whose entrypoint exits stays
// listed as Terminated or Failed.
func ExampleWithRuntime() {
	srv, err := mockserver.New(mockserver.WithRuntime(mockserver.RuntimeDocker))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c := srv.HTTPClient()
	type answer struct {
		ID     string
		Code   string
		Status struct{ State, Message string }
	}
	call := func(method, path, body string) answer {
		req, _ := http.NewRequest(method, srv.URL()+"/v1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var a answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		fmt.Println(strings.Join(strings.Fields(fmt.Sprint(resp.StatusCode, " ", a.Code, " ", a.Status.State, " ", a.Status.Message)), " "))
		return a
	}
	create := func(entrypoint string) string {
		return call("POST", "/sandboxes", `{"image":{"uri":"busybox"},"entrypoint":`+entrypoint+`,"resourceLimits":{"cpu":"1"}}`).ID
	}

	id := create(`["sleep","3600"]`)
	call("POST", "/sandboxes/"+id+"/pause", "")
	call("GET", "/sandboxes/"+id, "")
	call("POST", "/sandboxes/"+id+"/pause", "") // Docker's own error, not a 409
	call("DELETE", "/sandboxes/"+id, "")
	call("GET", "/sandboxes/"+id, "")

	failing := create(`["sh","-c","exit 3"]`)
	call("GET", "/sandboxes/"+failing, "")
	// Output:
	// 202 Running Sandbox container started successfully.
	// 202
	// 200 Paused Sandbox container is paused.
	// 500 DOCKER::SANDBOX_PAUSE_FAILED
	// 204
	// 404 DOCKER::SANDBOX_NOT_FOUND
	// 202 Running Sandbox container started successfully.
	// 200 Failed Sandbox container exited with code 3.
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
		strings.NewReader(`{"image":{"uri":"python:3.11"},"entrypoint":["sh"],"resourceLimits":{"cpu":"1"},"metadata":{"token":"t-1"}}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), string(body))
	fmt.Println(srv.CreationCounts("token"))
	// Output:
	// 503 1 {"code":"UNAVAILABLE","message":"injected fault"}
	// map[t-1:1]
}

// ClientOptions and SandboxAPIOptions point the façade clients at the
// server: a lifecycle client, and the sandbox API of one of its
// sandboxes.
func ExampleServer_ClientOptions() {
	srv, err := mockserver.New(mockserver.WithTenant("key-1", "team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...) // base URL, in-memory transport and key-1
	if err != nil {
		log.Fatal(err)
	}
	sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"python", "-m", "http.server"},
		ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	apiOpts, err := srv.SandboxAPIOptions(sb.ID)
	if err != nil {
		log.Fatal(err)
	}
	api, err := sandbox.New(apiOpts...)
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
	apiOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		log.Fatal(err)
	}
	api, err := sandbox.New(apiOpts...)
	if err != nil {
		log.Fatal(err)
	}

	_, err = api.Upgrade(context.Background(), &sandbox.UpgradeOptions{Wait: &sandboxkit.WaitOptions{MinDelay: time.Millisecond}})
	var ue *sandbox.UpgradeError
	if errors.As(err, &ue) {
		fmt.Println(ue.Step, "|", ue.Message)
	}
	// Output: validate | Binary validation failed: health check timed out after 10 attempts
}

// Clock hands the server's manual clock to a renewer: an hour of renewals
// passes in as long as it takes to advance the clock.
func ExampleServer_Clock() {
	// Any start will do: the renewer checks its renewals against the
	// server's clock, not the wall clock.
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, err := mockserver.New(mockserver.WithManualClock(start))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{ExpiresAt: start.Add(15 * time.Minute)})
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
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
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
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
