package sandboxkit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// Endpoint credentials used by the tests.
const (
	testSecureAccess = "sa-tok-5b7e1d9c3f2a8e6b"
	testGateKey      = "gate-key-0d4c8b2e6f1a"
)

// TestCredentialHeadersTreatedLikeTheKey: the headers a lifecycle endpoint
// names (OpenSandbox-Secure-Access) used to follow a cross-origin redirect
// while Authorization was stripped (issue 12). Known and credential-like
// names given to WithHeader, and any header given to WithCredentialHeader,
// now go to the base URL's origin only.
func TestCredentialHeadersTreatedLikeTheKey(t *testing.T) {
	t.Parallel()
	other := newRecorder(t, nil)
	origin := newRecorder(t, redirectTo(func() string { return other.URL + "/landing" }))
	cfg := realConfig(t, Sandbox, origin.URL,
		WithHeader(HeaderSecureAccess, testSecureAccess),
		WithCredentialHeader("X-Gate", testGateKey),
		WithHeader("X-Trace-Tag", "t1"))

	if _, err := send(t.Context(), cfg, http.MethodGet, "/process", ""); err != nil {
		t.Fatal(err)
	}
	o := origin.headers()
	if len(o) != 1 || o[0].Get(HeaderSecureAccess) != testSecureAccess || o[0].Get("X-Gate") != testGateKey {
		t.Fatalf("origin saw %v; want the credential headers", o)
	}
	got := other.headers()
	if len(got) != 1 {
		t.Fatalf("other host saw %d requests", len(got))
	}
	for _, h := range []string{HeaderSecureAccess, "X-Gate", "Authorization"} {
		if v := got[0].Get(h); v != "" {
			t.Errorf("the redirect's target received %s: %q", h, v)
		}
	}
	if got[0].Get("X-Trace-Tag") != "t1" {
		t.Errorf("a plain header was dropped too")
	}

	// A request for another host through the same client carries none.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, other.URL+"/direct", nil)
	resp, err := cfg.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if h := other.headers()[1]; h.Get(HeaderSecureAccess) != "" || h.Get("X-Gate") != "" {
		t.Errorf("a request to another host carried credential headers: %v", h)
	}

	// Printed, they show as [REDACTED].
	out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.LogValue())
	if strings.Contains(out, testSecureAccess) || strings.Contains(out, testGateKey) || !strings.Contains(out, "X-Gate="+redacted) {
		t.Errorf("printed configuration: %s", out)
	}
}

func TestWithHeaderRecognisesCredentialNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		HeaderSecureAccess: true, HeaderIngressTo: true, HeaderEgressAuth: true,
		"X-Api-Key": true, "X-Auth-Token": true, "X-Session-Id": true, "X-Client-Secret": true,
		"X-Trace-Tag": false, "Accept-Language": false, "X-Request-Id": false,
	} {
		cfg := mockConfig(t, Sandbox, http.DefaultTransport, WithHeader(name, "value-123456"))
		_, isCred := cfg.s.credHeaders[http.CanonicalHeaderKey(name)]
		if isCred != want {
			t.Errorf("WithHeader(%s): treated as a credential = %v, want %v", name, isCred, want)
		}
	}
}

// TestEndpointCredentialNotInErrors: a server echoing a credential header
// gets it scrubbed like the key.
func TestEndpointCredentialNotInErrors(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 403, body: `{"error":"secure access ` + testSecureAccess + ` refused"}`})
	cfg := mockConfig(t, Sandbox, mockTransport(s), WithHeader(HeaderSecureAccess, testSecureAccess))
	_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatal(err)
	}
	if strings.Contains(err.Error()+string(apiErr.Body), testSecureAccess) {
		t.Errorf("the echoed header value shows: %v / %s", err, apiErr.Body)
	}
}

// TestPlainHTTPNeedsConsent: a bearer token or API key never goes over
// plain http to a host that is not local unless the caller says so
// (issue 12: sandbox.New sent the control plane's key to a remote http
// host).
func TestPlainHTTPNeedsConsent(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"http://127.0.0.1:8080/v1", "http://[::1]:8080/v1", "http://localhost:8080/v1",
		"http://app.localhost/v1", "http://sandboxkit-mock.test/v1", "http://x.invalid/v1", "https://sandboxes.example.com/v1"} {
		if _, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(base), WithAPIKey(testAPIKey)); err != nil {
			t.Errorf("%s: %v, want it accepted", base, err)
		}
	}
	for _, base := range []string{"http://sandboxes.example.com/v1", "http://10.1.2.3:8080/v1", "http://localhost.example.com/v1"} {
		_, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(base), WithAPIKey(testAPIKey))
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "WithInsecureHTTP") {
			t.Errorf("%s: err = %v, want a refusal naming WithInsecureHTTP", base, err)
		}
		if _, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(base), WithAPIKey(testAPIKey), WithInsecureHTTP()); err != nil {
			t.Errorf("%s with WithInsecureHTTP: %v", base, err)
		}
		// Without a credential there is nothing to expose.
		if _, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(base)); err != nil {
			t.Errorf("%s without a credential: %v", base, err)
		}
	}
}

// TestRedirectToOtherSchemeRefused: a transport that serves other schemes
// (file: here) is never led there by a redirect.
func TestRedirectToOtherSchemeRefused(t *testing.T) {
	t.Parallel()
	fileServed := false
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Scheme != "http" {
			fileServed = true
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("root:x:0:0")), Request: req}, nil
		}
		return &http.Response{StatusCode: http.StatusFound, Header: hdr("Location", "file:///etc/passwd"),
			Body: http.NoBody, Request: req}, nil
	})
	cfg := mockConfig(t, Lifecycle, rt)
	_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
	if !errors.Is(err, errRedirectScheme) || fileServed {
		t.Errorf("err = %v, file served %v; want the redirect refused", err, fileServed)
	}
}

// Tokens of signed routes used by the tests.
const (
	testSignedToken = "sig-3e9b1f7a5c2d8e4b"
	testURLToken    = "f3a9c1e7b5d2"
)

// TestSignedRouteTokenRedacted: a signed endpoint's token lives in the URL
// and used to show in transport errors and in the path of retry log
// records (issue 12).
func TestSignedRouteTokenRedacted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		base  string
		token string
		opts  []Option
	}{
		{"http://127.0.0.1:9/signed/" + testSignedToken + "/sandboxes/sbx-1/port/8080", testSignedToken, nil},
		// A gateway route of the form {address}/{id}/{port}/{expires}/{signature}.
		{"http://127.0.0.1:9/sbx-1/8080/k2x9a/" + testURLToken, testURLToken, []Option{WithURLToken(testURLToken)}},
	} {
		synctest.Test(t, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
			rt := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, dialErr })
			cfg := mockConfig(t, Sandbox, rt, append([]Option{WithBaseURL(tt.base), WithLogger(logger)}, tt.opts...)...)

			_, err := send(context.Background(), cfg, http.MethodGet, "/process", "")
			if err == nil {
				t.Fatal("no error")
			}
			wrapped := wrap(context.Background(), "sandbox.ListProcesses", err)
			shown := wrapped.Error() + "\n" + logs.String() + "\n" + cfg.String()
			if strings.Contains(shown, tt.token) {
				t.Errorf("the route token shows:\n%s", shown)
			}
			if !strings.Contains(logs.String(), "retrying request") || !strings.Contains(wrapped.Error(), redacted) {
				t.Errorf("want retry records and a redacted URL:\n%s", shown)
			}
		})
	}
}

// reflectingServer answers with the credential it received (its value)
// reflected into a broken status or header line, which net/http quotes in
// its error.
func reflectingServer(line func(key string) string) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		req, ok := readRequest(br)
		if !ok {
			return
		}
		key := req.Header.Get(HeaderAPIKey)
		_, _ = io.WriteString(conn, line(key))
		_ = conn.Close()
	}
}

// TestReflectedKeyScrubbedFromTransportErrors: a key reflected into a
// malformed status or header line reached errors and debug logs, raw or
// as Go quotes it (issue 12).
func TestReflectedKeyScrubbedFromTransportErrors(t *testing.T) {
	t.Parallel()
	const key = `osk-"live"&<4f9c>/2d\7e+é`
	for name, line := range map[string]func(string) string{
		"status line": func(k string) string { return "HTTP/1.1 2" + k + " OK\r\n\r\n" },
		"header line": func(k string) string { return "HTTP/1.1 200 OK\r\nX-Echo " + k + "\r\n\r\n" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				_, tr := newPipeNet(t, reflectingServer(line))
				cfg := pipeConfig(t, Lifecycle, tr, WithAPIKey(key), WithLogger(logger))
				_, err := send(context.Background(), cfg, http.MethodGet, "/sandboxes", "")
				if err == nil {
					t.Fatal("no error")
				}
				wrapped := wrap(context.Background(), "lifecycle.List", err)
				shown := wrapped.Error() + "\n" + logs.String()
				for _, form := range spellingsOf(key) {
					if strings.Contains(shown, form) {
						t.Errorf("the key shows as %s:\n%s", form, shown)
					}
				}
				if !strings.Contains(shown, redacted) {
					t.Errorf("want the key replaced by %s:\n%s", redacted, shown)
				}
			})
		})
	}
}

// spellingsOf returns the ways key can show in text: plain, Go-quoted,
// JSON-escaped (as Go and Python escape it).
func spellingsOf(key string) []string {
	q := fmt.Sprintf("%q", key)
	return []string{key, q[1 : len(q)-1], jsonEscaped(key), strings.ReplaceAll(jsonEscaped(key), "/", `\/`)}
}

// TestEchoedKeyScrubbedInEveryEscape: a server that echoes the key
// JSON-escaped (\u0026, \u00XX) used to leave a decodable copy in
// APIError.Body (issue 12).
func TestEchoedKeyScrubbedInEveryEscape(t *testing.T) {
	t.Parallel()
	const key = "osk-live&4f<9c>/2d+é7e"
	for name, echo := range map[string]string{
		"Go JSON":             jsonEscaped(key),
		"Python ensure_ascii": `osk-live&4f<9c>/2d+\u00e97e`,
		"every char escaped":  everyCharEscaped(key),
		"upper-case hex":      `osk-live\u00264f\u003C9c\u003E\/2d+\u00E97e`,
		"percent-encoded":     `osk-live%264f%3C9c%3E%2F2d%2B%C3%A97e`,
		"HTML references":     `osk-live&amp;4f&lt;9c&#62;/2d+&#xe9;7e`,
		"Go quoted":           `osk-live&4f<9c>/2d+\xc3\xa97e`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := `{"code":"BAD","message":"key ` + echo + ` refused","detail":"` + echo + `"}`
			s := newScript(reply{status: 401, body: body})
			cfg := mockConfig(t, Lifecycle, mockTransport(s), WithAPIKey(key))
			_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatal(err)
			}
			if strings.Contains(string(apiErr.Body), echo) || strings.Contains(err.Error(), echo) {
				t.Errorf("the echoed key (%s) survives: Body %s, Error %v", echo, apiErr.Body, err)
			}
			if strings.Count(string(apiErr.Body), redacted) != 2 {
				t.Errorf("Body = %s, want both echoes redacted", apiErr.Body)
			}
		})
	}
}

// everyCharEscaped writes every character of s as \uXXXX.
func everyCharEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

func TestScrubberKeepsOtherText(t *testing.T) {
	t.Parallel()
	sc := newScrubber("abc-secret-123", "t") // "t" is too short to look for
	for in, want := range map[string]string{
		"no secret here":                        "no secret here",
		"a abc-secret-123 b":                    "a [REDACTED] b",
		`a abc\u002dsecret\u002d123 b`:          "a [REDACTED] b",
		"abc-secret-12":                         "abc-secret-12", // not the whole secret
		`path \u00`:                             `path \u00`,
		"GET /signed/tok123/sandboxes/x/port/1": "GET /signed/[REDACTED]/sandboxes/x/port/1",
		`"\/signed\/tok123\/x"`:                 `"\/signed\/[REDACTED]\/x"`,
	} {
		if got := sc.scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sc.scrubCut("ends with abc\\u002dsec"); got != "ends with "+redacted {
		t.Errorf("scrubCut of an escaped start = %q", got)
	}
}
