package mockserver_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
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
