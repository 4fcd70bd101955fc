package sandboxkit

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAuthHeadersPerAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		api  API
		opts []Option
		want http.Header // headers the server must see
		none []string    // headers it must not see
	}{
		{
			api:  Lifecycle,
			want: hdr(HeaderAPIKey, testAPIKey),
			none: []string{"Authorization", HeaderWorkspace, HeaderBlaxelAuthorization},
		},
		{
			api:  Sandbox,
			opts: []Option{WithWorkspace("team-a")},
			want: hdr("Authorization", "Bearer "+testToken, HeaderWorkspace, "team-a"),
			none: []string{HeaderAPIKey, HeaderBlaxelAuthorization},
		},
		{
			api:  ControlPlane,
			opts: []Option{WithWorkspace("team-a")},
			want: hdr("Authorization", "Bearer "+testToken, HeaderWorkspace, "team-a"),
			none: []string{HeaderAPIKey, HeaderBlaxelAuthorization},
		},
	}
	for _, tt := range tests {
		t.Run(tt.api.String(), func(t *testing.T) {
			t.Parallel()
			s := newScript(reply{status: 200})
			opts := append(tt.opts, WithUserAgent("agent/1.0"), WithHeader("x-trace-tag", "t1"))
			cfg := mockConfig(t, tt.api, mockTransport(s), opts...)
			if _, err := send(t.Context(), cfg, http.MethodGet, "/anything", ""); err != nil {
				t.Fatal(err)
			}
			got := s.request(0).Header
			for k := range tt.want {
				if got.Get(k) != tt.want.Get(k) {
					t.Errorf("%s = %q, want %q", k, got.Get(k), tt.want.Get(k))
				}
			}
			for _, k := range tt.none {
				if v, ok := got[http.CanonicalHeaderKey(k)]; ok {
					t.Errorf("%s sent: %q", k, v)
				}
			}
			if ua := got.Get("User-Agent"); ua != "sandboxkit-go/"+Version+" agent/1.0" {
				t.Errorf("User-Agent = %q", ua)
			}
			if got.Get("X-Trace-Tag") != "t1" {
				t.Errorf("extra header missing: %v", got)
			}
		})
	}
}

func TestAuthDoesNotTouchCallerRequest(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 200})
	cfg := mockConfig(t, Lifecycle, mockTransport(s), WithHeader("X-Team", "default"))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, lifecycleBase+"/sandboxes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Team", "mine")
	before := req.Header.Clone()

	resp, err := cfg.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if diff := cmp.Diff(before, req.Header); diff != "" {
		t.Errorf("caller's headers changed (-before +after):\n%s", diff)
	}
	if got := s.request(0).Header.Get("X-Team"); got != "mine" {
		t.Errorf("X-Team = %q; the request's own header must win over WithHeader", got)
	}
}

func TestCredentialsOnlyForBaseOrigin(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 200})
	cfg := mockConfig(t, ControlPlane, mockTransport(s), WithWorkspace("team-a"))
	for _, target := range []string{
		"https://cp.test/v0/sandboxes",      // the base origin
		"https://CP.test:443/other",         // same origin, other spelling
		"https://downloads.example/file",    // another host
		"http://cp.test/v0/sandboxes",       // another scheme
		"https://cp.test:8443/v0/sandboxes", // another port
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cfg.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i, wantCreds := range []bool{true, true, false, false, false} {
		h := s.request(i).Header
		hasAuth := h.Get("Authorization") != ""
		hasWS := h.Get(HeaderWorkspace) != ""
		if hasAuth != wantCreds || hasWS != wantCreds {
			t.Errorf("%s: Authorization sent %v, workspace sent %v; want %v",
				s.request(i).URL, hasAuth, hasWS, wantCreds)
		}
		if !strings.HasPrefix(h.Get("User-Agent"), "sandboxkit-go/") {
			t.Errorf("%s: no User-Agent", s.request(i).URL)
		}
	}
}
