package sandboxkit_test

import (
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestREADMEExample runs the README's example of testing with mockserver
// (the body of testCreateSurvivesALostAnswer is the README's code), so the
// README's code compiles and passes; the synctest bubble lets the mock's
// transitions and the waiter's polls take no real time.
func TestREADMEExample(t *testing.T) {
	synctest.Test(t, testCreateSurvivesALostAnswer)
}

func testCreateSurvivesALostAnswer(t *testing.T) {
	srv := mockserver.Start(t) // closed when the test ends
	// The create happens on the server, but the client sees a 503.
	srv.InjectFault(mockserver.Fault{
		API: mockserver.APILifecycle, Operation: mockserver.OpCreateSandbox,
		AfterCommit: true, Status: http.StatusServiceUnavailable, Times: 1,
	})
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := lc.CreateAndWait(t.Context(), &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"python", "app.py"},
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Creations()); n != 1 {
		t.Fatalf("%d sandboxes created, want 1", n)
	}
	// The API inside the sandbox, through the mock's in-memory transport.
	api, err := lc.SandboxClient(t.Context(), sb.ID, srv.ClientOptions(sandboxkit.Sandbox)...)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := api.Run(t.Context(), "echo ok | tr a-z A-Z", nil); err != nil || res.Stdout != "OK\n" {
		t.Fatalf("run: %v, %+v", err, res)
	}
}
