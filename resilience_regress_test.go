package sandboxkit

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Regression tests for leaks found by internal/resilience.

// TestCredentialNotLeakedByTruncation: the message of an error body is cut
// to 512 bytes. It used to be cut before the credential was scrubbed, so a
// credential straddling the cut kept its start (up to 500 bytes of it) in
// Error(); the start of a credential is as good as the credential for
// many key formats.
func TestCredentialNotLeakedByTruncation(t *testing.T) {
	t.Parallel()
	for _, api := range []API{Lifecycle, Sandbox} {
		secret := testAPIKey
		if api != Lifecycle {
			secret = testToken
		}
		for _, pad := range []int{maxMessageLength - len(secret) + 1, maxMessageLength - 8, maxMessageLength - 3} {
			t.Run(fmt.Sprintf("%s/pad%d", api, pad), func(t *testing.T) {
				t.Parallel()
				for _, body := range []string{
					fmt.Sprintf(`{"code":"X","message":"%s%s"}`, strings.Repeat("m", pad), secret),
					strings.Repeat("t", pad) + secret, // a text body
				} {
					s := newScript(reply{status: 400, body: body})
					cfg := mockConfig(t, api, mockTransport(s))
					_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
					apiErr, ok := errors.AsType[*APIError](err)
					if !ok {
						t.Fatalf("err = %v, want an APIError", err)
					}
					if prefix := secret[:3]; strings.Contains(apiErr.Message, prefix) || strings.Contains(err.Error(), prefix) {
						t.Errorf("the message keeps the start of the credential: %q", apiErr.Message)
					}
				}
			})
		}
	}
}

// TestCredentialNotLeakedByRequestID: a server or proxy that copies
// request headers into its X-Request-ID (some debugging proxies echo
// headers) used to put the credential in APIError.RequestID and Error().
func TestCredentialNotLeakedByRequestID(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 500, body: "boom", header: hdr(HeaderRequestID, "req-"+testAPIKey)})
	cfg := mockConfig(t, Lifecycle, mockTransport(s))
	_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatalf("err = %v, want an APIError", err)
	}
	if got, want := apiErr.RequestID, "req-"+redacted; got != want {
		t.Errorf("RequestID = %q, want %q", got, want)
	}
	if strings.Contains(err.Error(), testAPIKey) {
		t.Errorf("Error() shows the credential: %s", err)
	}
}

// TestCredentialNotLeakedByBodyLimit: the body kept in APIError.Body is
// cut at MaxErrorBodySize; a credential straddling the cut used to keep
// its start there.
func TestCredentialNotLeakedByBodyLimit(t *testing.T) {
	t.Parallel()
	escaped := strings.ReplaceAll(testToken, "/", `\/`)
	for _, tc := range []struct {
		name, secret string
		keep         int // bytes of the secret before the cut
	}{
		{"raw", testToken, len(testToken) - 1},
		{"raw short", testToken, 5},
		{"escaped", escaped, len(escaped) - 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := strings.Repeat("b", MaxErrorBodySize-tc.keep) + tc.secret + " and more"
			s := newScript(reply{status: 502, body: body})
			cfg := mockConfig(t, Sandbox, mockTransport(s), WithRetry(RetryPolicy{}))
			_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("err = %v, want an APIError", err)
			}
			got := string(apiErr.Body)
			if !strings.HasSuffix(got, redacted) || strings.Contains(got, tc.secret[:tc.keep]) {
				t.Errorf("Body ends %q, want the cut credential redacted", got[max(0, len(got)-40):])
			}
		})
	}
	// A body that was not cut keeps its end.
	s := newScript(reply{status: 502, body: "ends with b"})
	cfg := mockConfig(t, Sandbox, mockTransport(s), WithRetry(RetryPolicy{}))
	_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
	if apiErr, ok := errors.AsType[*APIError](err); !ok || string(apiErr.Body) != "ends with b" {
		t.Errorf("err = %v, want Body %q", err, "ends with b")
	}
}

// TestCredentialNotPrintedByBadVerb: a verb that does not suit pointers
// (%s, %q) makes fmt print the struct behind a *secret field, without its
// Format method. Printing a Config value or the transport with %s used to
// show the credential.
func TestCredentialNotPrintedByBadVerb(t *testing.T) {
	t.Parallel()
	for _, api := range []API{Lifecycle, ControlPlane} {
		cfg := mockConfig(t, api, mockTransport(newScript(reply{status: 204})))
		holder := struct{ S *secret }{cfg.s.cred}
		for name, v := range map[string]any{
			"Config value": *cfg,
			"transport":    cfg.HTTPClient().Transport,
			"http.Client":  cfg.HTTPClient(),
			"holder":       holder,
		} {
			for _, verb := range []string{"%s", "%q", "%v", "%+v", "%#v", "%x", "%d", "%t"} {
				out := fmt.Sprintf(verb, v)
				if strings.Contains(out, testAPIKey) || strings.Contains(out, testToken) {
					t.Errorf("%s: %s of %s shows the credential: %s", api, verb, name, out)
				}
			}
		}
	}
}

// TestOptionsSharedAcrossGoroutines: an Option is a value that programs
// keep in a variable and hand to many NewConfig calls. WithRetry,
// WithToken and WithUserAgent used to write to the variables they
// captured each time they were applied, a data race (go test -race) when
// two goroutines built clients from the same options.
func TestOptionsSharedAcrossGoroutines(t *testing.T) {
	t.Parallel()
	shared := []Option{
		WithoutEnvironment(),
		WithBaseURL(cpBase),
		WithToken("Bearer " + testToken),
		WithUserAgent("  agent/1.0  "),
		WithRetry(RetryPolicy{MaxRetries: 2}),
	}
	var wg sync.WaitGroup
	cfgs := make([]*Config, 8)
	for i := range cfgs {
		wg.Go(func() {
			cfg, err := NewConfig(ControlPlane, shared...)
			if err != nil {
				t.Errorf("NewConfig: %v", err)
				return
			}
			cfgs[i] = cfg
		})
	}
	wg.Wait()
	for _, cfg := range cfgs {
		if cfg == nil {
			continue
		}
		if got := cfg.RetryPolicy(); got.MaxRetries != 2 || got.MinDelay != 100*time.Millisecond {
			t.Errorf("RetryPolicy = %+v", got)
		}
		if got := cfg.s.cred.reveal(); got != testToken {
			t.Errorf("token = %q, want %q", got, testToken)
		}
		if ua := cfg.UserAgent(); !strings.HasSuffix(ua, " agent/1.0") {
			t.Errorf("UserAgent = %q", ua)
		}
	}
}
