package controlplane

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ExtendTTL writes back the members this package does not model, at
// every level. The mock server keeps only what the published spec has,
// so a service that knows more is played by a canned answer.
func TestExtendTTLKeepsUnknownFields(t *testing.T) {
	t.Parallel()
	srv := &rawServer{status: http.StatusOK, body: []byte(unknownEverywhere)} // ttl 2h and a 2h max-age policy, no creation time
	c := newHTTPClient(t, srv)
	if _, err := c.ExtendTTL(t.Context(), "keep", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	put := srv.request()
	if put.Method != http.MethodPut || put.Path != "/v0/sandboxes/keep" {
		t.Fatalf("last request = %s %s, want PUT /v0/sandboxes/keep", put.Method, put.Path)
	}
	// Without a creation time the extension is added to the maximum ages.
	want := jsonOf(t, unknownEverywhere).(map[string]any)
	spec := want["spec"].(map[string]any)
	spec["runtime"].(map[string]any)["ttl"] = "3h"
	spec["lifecycle"].(map[string]any)["expirationPolicies"].([]any)[0].(map[string]any)["value"] = "3h"
	if diff := cmp.Diff(want, jsonOf(t, put.Body)); diff != "" {
		t.Errorf("PUT body after ExtendTTL (-want +got):\n%s", diff)
	}
}
