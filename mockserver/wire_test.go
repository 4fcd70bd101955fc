package mockserver_test

import (
	"encoding/json"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// wireCase is one request to the real lifecycle server (Docker runtime)
// and its answer, recorded in testdata/lifecycle_docker_wire.json: what
// the server answers to invalid input, unknown routes and unknown
// sandboxes does not depend on its state, so the mock must answer the
// same bytes.
type wireCase struct {
	Name        string  `json:"name"`
	Method      string  `json:"method"`
	Path        string  `json:"path"`
	Body        *string `json:"body"`
	ContentType string  `json:"contentType"`
	// APIKey is the key sent: absent for the server's own key, "" for
	// none.
	APIKey       *string `json:"apiKey"`
	Status       int     `json:"status"`
	Response     string  `json:"response"`
	Allow        string  `json:"allow"`
	ResponseType string  `json:"responseType"`
}

// wireKey is the key the recording server required.
const wireKey = "sandboxkit-real-key"

func loadWireCases(t *testing.T, name string) []wireCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var cases []wireCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	return cases
}

// TestWireMatchesRealDockerServer replays the recorded requests against
// the mock (Docker runtime) and wants the recorded status, body, Allow
// header and content type, byte for byte.
func TestWireMatchesRealDockerServer(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithTenant(wireKey, "t"))
	for _, tc := range loadWireCases(t, "lifecycle_docker_wire.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			switch {
			case tc.APIKey == nil:
				h.Set("OPEN-SANDBOX-API-KEY", wireKey)
			case *tc.APIKey != "":
				h.Set("OPEN-SANDBOX-API-KEY", *tc.APIKey)
			}
			body := ""
			if tc.Body != nil {
				body = *tc.Body
				h["Content-Type"] = []string{tc.ContentType} // may be absent on purpose
				if tc.ContentType == "" {
					h["Content-Type"] = nil
				}
			}
			resp, got := doRaw(t, srv, tc.Method, tc.Path, body, h)
			if resp.StatusCode != tc.Status || got != tc.Response {
				t.Errorf("%s %s\n got %d %s\nwant %d %s", tc.Method, tc.Path, resp.StatusCode, got, tc.Status, tc.Response)
			}
			if a := resp.Header.Get("Allow"); a != tc.Allow {
				t.Errorf("Allow = %q, want %q", a, tc.Allow)
			}
			if tc.ResponseType != "" {
				want, _, _ := mime.ParseMediaType(tc.ResponseType)
				if gotType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); gotType != want {
					t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tc.ResponseType)
				}
			}
		})
	}
}
