package sandboxkit

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func TestNewConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		api      API
		opts     []Option
		wantBase string
	}{
		{Lifecycle, nil, DefaultLifecycleBaseURL},
		{ControlPlane, nil, DefaultControlPlaneBaseURL},
		{Sandbox, []Option{WithBaseURL("https://sbx.test/")}, "https://sbx.test"},
	}
	for _, tt := range tests {
		cfg, err := NewConfig(tt.api, append([]Option{WithoutEnvironment()}, tt.opts...)...)
		if err != nil {
			t.Fatalf("%s: %v", tt.api, err)
		}
		if cfg.API() != tt.api || cfg.BaseURL().String() != tt.wantBase {
			t.Errorf("%s: API %s, base %s; want base %s", tt.api, cfg.API(), cfg.BaseURL(), tt.wantBase)
		}
		if cfg.HasCredential() || cfg.Workspace() != "" {
			t.Errorf("%s: credential or workspace without options or environment", tt.api)
		}
		if diff := cmp.Diff(DefaultRetryPolicy(), cfg.RetryPolicy()); diff != "" {
			t.Errorf("%s: retry policy (-want +got):\n%s", tt.api, diff)
		}
		if cfg.Logger() == nil || cfg.Logger().Enabled(t.Context(), slog.LevelError) {
			t.Errorf("%s: default logger must exist and discard everything", tt.api)
		}
		if cfg.UserAgent() != "sandboxkit-go/"+Version {
			t.Errorf("%s: User-Agent = %q", tt.api, cfg.UserAgent())
		}
		if cfg.TracerProvider() != nil || cfg.MeterProvider() != nil {
			t.Errorf("%s: telemetry providers set without options", tt.api)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		api  API
		opts []Option
		want string // part of the message
	}{
		{"unknown API", API(0), nil, "not one of"},
		{"sandbox without base URL", Sandbox, nil, "required for the sandbox API"},
		{"relative URL", Lifecycle, []Option{WithBaseURL("/v1")}, "absolute http or https"},
		{"ftp URL", Lifecycle, []Option{WithBaseURL("ftp://files.test/")}, "absolute http or https"},
		{"no host", Lifecycle, []Option{WithBaseURL("http://")}, "no host"},
		{"unparsable URL", Lifecycle, []Option{WithBaseURL("http://a b.test/\x7f")}, "not a URL"},
		{"URL with query", ControlPlane, []Option{WithBaseURL("https://cp.test/v0?x=1")}, "query or fragment"},
		{"URL with user info", ControlPlane, []Option{WithBaseURL("https://me:pw@cp.test/v0")}, "user info"},
		{"empty URL", ControlPlane, []Option{WithBaseURL(" ")}, "must not be empty"},
		{"negative retries", Lifecycle, []Option{WithRetry(RetryPolicy{MaxRetries: -1})}, "MaxRetries"},
		{"negative min delay", Lifecycle, []Option{WithRetry(RetryPolicy{MinDelay: -time.Second})}, "MinDelay"},
		{"negative max delay", Lifecycle, []Option{WithRetry(RetryPolicy{MaxDelay: -time.Second})}, "MaxDelay"},
		{"negative cap", Lifecycle, []Option{WithRetry(RetryPolicy{RetryAfterCap: -1})}, "RetryAfterCap"},
		{"min above max", Lifecycle, []Option{WithRetry(RetryPolicy{MinDelay: 2 * time.Second, MaxDelay: time.Second})}, "above MaxDelay"},
		{"Authorization via WithHeader", ControlPlane, []Option{WithHeader("authorization", "Bearer x")}, "use WithAPIKey, WithToken"},
		{"API key via WithHeader", Lifecycle, []Option{WithHeader("open-sandbox-api-key", "k")}, "use WithAPIKey, WithToken"},
		{"Blaxel auth via WithHeader", Sandbox, []Option{WithBaseURL(sandboxBase), WithHeader(HeaderBlaxelAuthorization, "Bearer x")}, "use WithAPIKey, WithToken"},
		{"workspace via WithHeader", ControlPlane, []Option{WithHeader(HeaderWorkspace, "w")}, "use WithAPIKey, WithToken"},
		{"Cookie via WithHeader", ControlPlane, []Option{WithHeader("Cookie", "a=b")}, "use WithAPIKey, WithToken"},
		{"Authorization via WithCredentialHeader", ControlPlane, []Option{WithCredentialHeader("Authorization", "Bearer x")}, "use WithAPIKey, WithToken"},
		{"empty credential header", ControlPlane, []Option{WithCredentialHeader("X-Key", "")}, "must not be empty"},
		{"zero timeout", ControlPlane, []Option{WithTimeout(0)}, "WithoutTimeouts turns timeouts off"},
		{"negative idle timeout", ControlPlane, []Option{WithStreamIdleTimeout(-time.Second)}, "must be positive"},
		{"zero response size", ControlPlane, []Option{WithMaxResponseSize(0)}, "must be positive"},
		{"empty URL token", Sandbox, []Option{WithBaseURL(sandboxBase), WithURLToken("")}, "must not be empty"},
		{"env credentials for lifecycle", Lifecycle, []Option{WithEnvCredentials()}, "reads OPEN_SANDBOX_API_KEY"},
		{"env credentials without environment", Sandbox, []Option{WithBaseURL(sandboxBase), WithEnvCredentials()}, "contradict"},
		{"sandbox hosts for lifecycle", Lifecycle, []Option{WithSandboxHosts("*.x.test")}, "never handed to sandboxes"},
		{"no sandbox hosts", ControlPlane, []Option{WithSandboxHosts()}, "none given"},
		{"sandbox host with scheme", ControlPlane, []Option{WithSandboxHosts("https://x.test")}, "without scheme"},
		{"sandbox host wildcard on a TLD", ControlPlane, []Option{WithSandboxHosts("*.com")}, "two labels"},
		{"sandbox host inner wildcard", ControlPlane, []Option{WithSandboxHosts("a.*.x.test")}, "only start"},
		{"token over plain http", ControlPlane, []Option{WithBaseURL("http://cp.example.com/v0"), WithToken("t")}, "plain http"},
		{"API key over plain http", Lifecycle, []Option{WithBaseURL("http://10.0.0.5:8080/v1"), WithAPIKey("k")}, "plain http"},
		{"credential header over plain http", Sandbox, []Option{WithBaseURL("http://sbx.example.com"), WithCredentialHeader("X-Gate", "g")}, "plain http"},
		{"User-Agent via WithHeader", ControlPlane, []Option{WithHeader("User-Agent", "x")}, "set by the SDK"},
		{"bad header name", ControlPlane, []Option{WithHeader("Bad Header", "x")}, "not a valid HTTP header name"},
		{"header value with CRLF", ControlPlane, []Option{WithHeader("X-A", "a\r\nX-B: b")}, "control character"},
		{"API key for control plane", ControlPlane, []Option{WithAPIKey("k")}, "takes WithToken"},
		{"token for lifecycle", Lifecycle, []Option{WithToken("t")}, "takes WithAPIKey"},
		{"workspace for lifecycle", Lifecycle, []Option{WithWorkspace("w")}, "no workspaces"},
		{"empty API key", Lifecycle, []Option{WithAPIKey("")}, "must not be empty"},
		{"empty token", ControlPlane, []Option{WithToken("")}, "must not be empty"},
		{"token with newline", ControlPlane, []Option{WithToken("abc\ndef")}, "control character"},
		{"empty workspace", ControlPlane, []Option{WithWorkspace("")}, "must not be empty"},
		{"nil HTTP client", ControlPlane, []Option{WithHTTPClient(nil)}, "must not be nil"},
		{"empty user agent", ControlPlane, []Option{WithUserAgent(" ")}, "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := NewConfig(tt.api, append([]Option{WithoutEnvironment()}, tt.opts...)...)
			if err == nil {
				t.Fatalf("NewConfig = %v, want an error", cfg)
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("errors.Is(%v, ErrInvalidInput) = false", err)
			}
			if _, ok := errors.AsType[*ValidationError](err); !ok {
				t.Errorf("err = %T, want *ValidationError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestOptionValues(t *testing.T) {
	t.Parallel()
	tp, mp := tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
	logger := slog.New(slog.DiscardHandler)
	cfg, err := NewConfig(ControlPlane, WithoutEnvironment(),
		WithBaseURL("HTTPS://cp.test/v0///"),
		WithToken("Bearer "+testToken),
		WithWorkspace("team-a"),
		WithUserAgent("a/1"), WithUserAgent("b/2"),
		WithLogger(logger),
		WithRetry(RetryPolicy{MaxRetries: 2, MinDelay: time.Second}),
		WithTracerProvider(tp), WithMeterProvider(mp),
		nil, // ignored
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.BaseURL().String(); got != "https://cp.test/v0" {
		t.Errorf("BaseURL = %s", got)
	}
	if !cfg.HasCredential() || cfg.Workspace() != "team-a" {
		t.Errorf("HasCredential = %v, Workspace = %q", cfg.HasCredential(), cfg.Workspace())
	}
	if got := cfg.UserAgent(); got != "sandboxkit-go/"+Version+" a/1 b/2" {
		t.Errorf("UserAgent = %q", got)
	}
	if cfg.Logger() != logger || cfg.TracerProvider() != tp || cfg.MeterProvider() != mp {
		t.Errorf("logger or telemetry providers not kept")
	}
	want := RetryPolicy{MaxRetries: 2, MinDelay: time.Second, MaxDelay: 5 * time.Second, RetryAfterCap: 30 * time.Second}
	if diff := cmp.Diff(want, cfg.RetryPolicy()); diff != "" {
		t.Errorf("retry policy (-want +got):\n%s", diff)
	}

	s := newScript(reply{status: 200})
	cfg = mockConfig(t, Sandbox, mockTransport(s), WithToken("bearer "+testToken))
	if _, err := send(t.Context(), cfg, http.MethodGet, "/health", ""); err != nil {
		t.Fatal(err)
	}
	if got := s.request(0).Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q; want a single Bearer prefix", got)
	}
}

func TestBaseURLIsACopy(t *testing.T) {
	t.Parallel()
	cfg := mockConfig(t, ControlPlane, http.DefaultTransport)
	u := cfg.BaseURL()
	u.Host = "evil.test"
	u.Path = "/x"
	if got := cfg.BaseURL().String(); got != cpBase {
		t.Errorf("BaseURL changed to %s after editing a returned copy", got)
	}
}

func TestHTTPClientIsACopy(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 200})
	cfg := mockConfig(t, Lifecycle, mockTransport(s))
	c := cfg.HTTPClient()
	c.Transport = http.DefaultTransport
	c.Timeout = time.Nanosecond
	if got := cfg.HTTPClient(); got.Transport == http.DefaultTransport || got.Timeout != 0 {
		t.Errorf("editing a returned client changed the configuration")
	}
	if _, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", ""); err != nil || s.calls() != 1 {
		t.Errorf("err = %v, calls = %d", err, s.calls())
	}
}

func TestCallerHTTPClientNotMutated(t *testing.T) {
	t.Parallel()
	s := newScript(reply{status: 302, header: hdr("Location", lifecycleBase+"/moved")}, reply{status: 200})
	mt := mockTransport(s)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	redirects := 0
	check := func(*http.Request, []*http.Request) error { redirects++; return nil }
	user := &http.Client{Transport: mt, CheckRedirect: check, Jar: jar, Timeout: time.Minute}
	type fields struct {
		transport     http.RoundTripper
		checkRedirect uintptr
		jar           http.CookieJar
		timeout       time.Duration
	}
	snapshot := func(c *http.Client) fields {
		return fields{c.Transport, reflect.ValueOf(c.CheckRedirect).Pointer(), c.Jar, c.Timeout}
	}
	before := snapshot(user)

	cfg, err := NewConfig(Lifecycle, WithoutEnvironment(), WithBaseURL(lifecycleBase), WithAPIKey(testAPIKey), WithHTTPClient(user))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(t.Context(), cfg, http.MethodGet, "/start", ""); err != nil {
		t.Fatal(err)
	}

	if after := snapshot(user); after != before { // interface fields compare by identity
		t.Errorf("caller's client changed: before %+v, after %+v", before, after)
	}
	if redirects != 1 || s.calls() != 2 {
		t.Errorf("caller's CheckRedirect ran %d times over %d calls; want 1 and 2", redirects, s.calls())
	}
	if cfg.HTTPClient().Timeout != time.Minute {
		t.Errorf("caller's Timeout not applied to the call")
	}
}

func TestForSandbox(t *testing.T) {
	t.Parallel()
	t.Run("carries token, workspace and settings", func(t *testing.T) {
		t.Parallel()
		s := newScript(reply{status: 200})
		logger := slog.New(slog.DiscardHandler)
		parent := mockConfig(t, ControlPlane, mockTransport(s), WithWorkspace("team-a"), WithLogger(logger),
			WithRetry(RetryPolicy{MaxRetries: 1}), WithUserAgent("app/1"), WithHeader("X-Tag", "t"),
			WithSandboxHosts("*.sandbox.test"))

		sbx, err := parent.ForSandbox("https://sbx-9.sandbox.test/", WithHeader("X-Extra", "e"))
		if err != nil {
			t.Fatal(err)
		}
		if sbx.API() != Sandbox || sbx.BaseURL().String() != "https://sbx-9.sandbox.test" {
			t.Errorf("API %s, base %s", sbx.API(), sbx.BaseURL())
		}
		if sbx.Logger() != logger || sbx.RetryPolicy().MaxRetries != 1 || sbx.Workspace() != "team-a" {
			t.Errorf("settings not carried over: %v", sbx)
		}
		if _, err := send(t.Context(), sbx, http.MethodGet, "/health", ""); err != nil {
			t.Fatal(err)
		}
		h := s.request(0).Header
		want := hdr("Authorization", "Bearer "+testToken, HeaderWorkspace, "team-a", "X-Tag", "t", "X-Extra", "e",
			"User-Agent", "sandboxkit-go/"+Version+" app/1")
		for k := range want {
			if h.Get(k) != want.Get(k) {
				t.Errorf("%s = %q, want %q", k, h.Get(k), want.Get(k))
			}
		}
		if _, ok := parent.s.headers["X-Extra"]; ok {
			t.Errorf("options of the derived config leaked into the parent")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		lc := mockConfig(t, Lifecycle, http.DefaultTransport)
		if _, err := lc.ForSandbox("http://127.0.0.1:9000"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("lifecycle ForSandbox err = %v, want ErrInvalidInput", err)
		}
		cp := mockConfig(t, ControlPlane, http.DefaultTransport, WithSandboxHosts("*.sandbox.test"))
		if _, err := cp.ForSandbox("http://sbx.sandbox.test"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("https to plain http err = %v, want ErrInvalidInput", err)
		}
		if _, err := cp.ForSandbox("not a url"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("bad URL err = %v, want ErrInvalidInput", err)
		}
		if _, err := cp.ForSandbox("https://sbx.sandbox.test", WithAPIKey("k")); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("WithAPIKey on a sandbox config err = %v, want ErrInvalidInput", err)
		}
		// The control plane is not on this machine, so a loopback URL
		// (possibly another local service) does not get its token.
		for _, local := range []string{"http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"} {
			if _, err := cp.ForSandbox(local); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("ForSandbox(%s) = %v; want ErrInvalidInput from a remote control plane", local, err)
			}
		}
	})
}
