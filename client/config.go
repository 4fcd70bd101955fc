package client

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.1.0"

// API names one of the three HTTP APIs. It decides which credential
// header is sent and which environment variables apply.
type API int

// The three APIs.
const (
	// Lifecycle is the lifecycle API (/v1/sandboxes...): API key in
	// OPEN-SANDBOX-API-KEY, default base URL [DefaultLifecycleBaseURL].
	Lifecycle API = iota + 1
	// Sandbox is the API inside one sandbox: bearer token, no default
	// base URL.
	Sandbox
	// ControlPlane is the control plane (/v0): bearer token and
	// workspace, default base URL [DefaultControlPlaneBaseURL].
	ControlPlane
)

// String returns "lifecycle", "sandbox" or "controlplane".
func (a API) String() string {
	switch a {
	case Lifecycle:
		return "lifecycle"
	case Sandbox:
		return "sandbox"
	case ControlPlane:
		return "controlplane"
	}
	return fmt.Sprintf("API(%d)", int(a))
}

// Config is the resolved configuration of one API client: base URL,
// credentials, the HTTP client that applies them, logging, retries and
// telemetry. It is immutable and safe for concurrent use. It never
// exposes its credential: there is no accessor for it, and String,
// GoString and LogValue print [REDACTED] in its place. Make one with
// [NewConfig] or [Config.ForSandbox]; the zero Config is not usable.
type Config struct {
	s      settings
	client *http.Client
}

// NewConfig resolves opts for api. Settings no option gave are read from
// the environment (see [EnvLifecycleAPIKey] and the other Env constants)
// unless [WithoutEnvironment] is among opts, then from the defaults. The
// sandbox API has no default base URL, so it needs [WithBaseURL].
func NewConfig(api API, opts ...Option) (*Config, error) {
	switch api {
	case Lifecycle, Sandbox, ControlPlane:
	default:
		return nil, &ValidationError{Field: "API", Value: api.String(), Reason: "not one of Lifecycle, Sandbox, ControlPlane"}
	}
	s := settings{api: api, retry: DefaultRetryPolicy()}
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	if !s.noEnv {
		if err := s.applyEnv(); err != nil {
			return nil, err
		}
	}
	return newConfig(s)
}

// ForSandbox returns a configuration for the sandbox API at baseURL (a
// sandbox's URL, as the control plane reports it) that uses this
// configuration's token, workspace, HTTP client, logger, retry policy,
// headers and telemetry; opts are applied on top. The environment is not
// read.
//
// This is the one way a credential moves to another host, hence the
// narrow name: only a control plane or sandbox configuration can be
// turned into a sandbox one (a lifecycle API key is not a sandbox token),
// and when this configuration uses https, baseURL must too (unless it is a
// loopback address), so the token is never sent in clear text.
func (c *Config) ForSandbox(baseURL string, opts ...Option) (*Config, error) {
	if c.s.api == Lifecycle {
		return nil, &ValidationError{Field: "API", Value: c.s.api.String(), Reason: "ForSandbox needs a control plane or sandbox configuration"}
	}
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if c.s.baseURL.Scheme == "https" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, &ValidationError{Field: "base URL", Value: u.String(), Reason: "plain http would expose the token; use https"}
	}
	s := c.s.clone()
	s.api = Sandbox
	s.baseURL = u
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	return newConfig(s)
}

func (s *settings) apply(opts []Option) error {
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(s); err != nil {
			return err
		}
	}
	return nil
}

// newConfig fills defaults and builds the HTTP client.
func newConfig(s settings) (*Config, error) {
	if s.baseURL == nil {
		var def string
		switch s.api {
		case Lifecycle:
			def = DefaultLifecycleBaseURL
		case ControlPlane:
			def = DefaultControlPlaneBaseURL
		default:
			return nil, &ValidationError{Field: "base URL", Reason: "required for the sandbox API (use WithBaseURL)"}
		}
		u, err := parseBaseURL(def)
		if err != nil {
			return nil, err
		}
		s.baseURL = u
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{}
	}
	return &Config{s: s, client: newHTTPClient(&s)}, nil
}

// API returns the API this configuration is for.
func (c *Config) API() API { return c.s.api }

// BaseURL returns a copy of the base URL, without a trailing slash.
func (c *Config) BaseURL() *url.URL {
	u := *c.s.baseURL
	return &u
}

// HTTPClient returns a client that adds credentials and headers, retries,
// and turns answers with status >= 400 into [*APIError] errors. Every call
// returns a new *http.Client value over the same transport, so changing
// it does not affect the configuration. It follows no redirects itself
// (the transport has already followed them); a redirect answer that
// reaches it is returned as is.
func (c *Config) HTTPClient() *http.Client {
	cp := *c.client
	return &cp
}

// Logger returns the logger; it discards everything unless [WithLogger]
// was given.
func (c *Config) Logger() *slog.Logger { return c.s.logger }

// TracerProvider returns the provider from [WithTracerProvider], or nil
// (the generated clients then use the global one).
func (c *Config) TracerProvider() trace.TracerProvider { return c.s.tracer }

// MeterProvider returns the provider from [WithMeterProvider], or nil
// (the generated clients then use the global one).
func (c *Config) MeterProvider() metric.MeterProvider { return c.s.meter }

// HasCredential reports whether an API key or token will be sent.
func (c *Config) HasCredential() bool { return c.s.cred != nil }

// Workspace returns the workspace sent in X-Blaxel-Workspace, or "".
func (c *Config) Workspace() string { return c.s.workspace }

// RetryPolicy returns the retry policy in effect.
func (c *Config) RetryPolicy() RetryPolicy { return c.s.retry }

// UserAgent returns the User-Agent header value sent with every request.
func (c *Config) UserAgent() string { return userAgent(c.s.userAgents) }

// String describes the configuration with the credential redacted.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client.Config{api: %s, baseURL: %s", c.s.api, c.s.baseURL)
	if c.s.cred != nil {
		b.WriteString(", credential: " + redacted)
	}
	if c.s.workspace != "" {
		fmt.Fprintf(&b, ", workspace: %q", c.s.workspace)
	}
	fmt.Fprintf(&b, ", maxRetries: %d}", c.s.retry.MaxRetries)
	return b.String()
}

// GoString is String, so %#v does not print the fields.
func (c *Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the credential redacted.
func (c *Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("api", c.s.api.String()),
		slog.String("base_url", c.s.baseURL.String()),
	}
	if c.s.cred != nil {
		attrs = append(attrs, slog.String("credential", redacted))
	}
	if c.s.workspace != "" {
		attrs = append(attrs, slog.String("workspace", c.s.workspace))
	}
	return slog.GroupValue(append(attrs, slog.Int("max_retries", c.s.retry.MaxRetries))...)
}

func userAgent(extra []string) string {
	return strings.Join(append([]string{"sandboxkit-go/" + Version}, extra...), " ")
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
