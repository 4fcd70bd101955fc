package mockserver_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestSandboxAPIThroughEndpoints uses the sandbox API simulator of a
// lifecycle sandbox through its endpoint: files, a streamed process that
// sees the sandbox's env, and operation names in the journal.
//
// It runs in a synctest bubble on the server's real clock: the simulated
// server tails process output every 50 ms, as the real one does, and the
// bubble's time moves to each tick while the test waits for the stream.
func TestSandboxAPIThroughEndpoints(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testSandboxAPIThroughEndpoints)
}

func testSandboxAPIThroughEndpoints(t *testing.T) {
	srv := mockserver.Start(t, mockserver.WithTransitionDelay(0))
	e := &env{srv: srv, lc: lifecycleClient(t, srv, ""), cp: controlPlaneClient(t, srv, "")}
	id := createSandbox(t, e.lc, &lifecycleapi.CreateSandboxRequest{
		Env: lifecycleapi.NewOptCreateSandboxRequestEnv(map[string]string{"GREETING": "hello from env"}),
	})
	res, err := e.lc.GetSandboxEndpoint(t.Context(), lifecycleapi.GetSandboxEndpointParams{SandboxID: id, Port: 8080, UseServerProxy: lifecycleapi.NewOptBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + res.Endpoint
	path := strings.TrimPrefix(base, e.srv.URL())

	if resp, body := do(t, e.srv, "PUT", path+"/filesystem//tmp/hello.txt", `{"content":"hi there"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("write: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, e.srv, "GET", path+"/filesystem/%2Ftmp%2Fhello.txt", "", http.Header{"Accept": {"application/json"}}); resp.StatusCode != 200 || !strings.Contains(body, `"content":"hi there"`) {
		t.Errorf("read: %d %s", resp.StatusCode, body)
	}

	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/process", strings.NewReader(`{"command":"echo $GREETING"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stdout []string
	var gotResult bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev struct{ Type, Data string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		switch ev.Type {
		case "stdout":
			stdout = append(stdout, strings.TrimSpace(ev.Data))
		case "result":
			gotResult = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(stdout, "") != "hello from env" || !gotResult {
		t.Errorf("stream: stdout %q, result %v", stdout, gotResult)
	}

	var ops []string
	for _, en := range e.srv.Requests(mockserver.Filter{API: mockserver.APISandbox, SandboxID: id}) {
		ops = append(ops, en.Operation)
	}
	if strings.Join(ops, " ") != "PutFilesystem GetFilesystem ExecProcess" {
		t.Errorf("sandbox API operations in the journal: %v", ops)
	}
}
