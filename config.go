package sandboxkit

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
// credentials, the HTTP client that applies them, logging, retries,
// limits and telemetry. It is immutable and safe for concurrent use. It
// never exposes its credential: there is no accessor for it, and String,
// GoString and LogValue print [REDACTED] in its place (and in place of
// credential header values and URL tokens). Make one with [NewConfig] or
// [Config.ForSandbox]; the zero Config is not usable.
type Config struct {
	s      settings
	sc     *scrubber
	client *http.Client
}

// NewConfig resolves opts for api. Settings no option gave are read from
// the environment (see [EnvLifecycleAPIKey] and the other Env constants)
// unless [WithoutEnvironment] is among opts, then from the defaults. The
// sandbox API has no default base URL, so it needs [WithBaseURL], and
// reads no credential from the environment unless [WithEnvCredentials] is
// among opts.
//
// A credential is never sent over plain http to a host that is not local
// (see [WithInsecureHTTP]): such a configuration is refused.
func NewConfig(api API, opts ...Option) (*Config, error) {
	switch api {
	case Lifecycle, Sandbox, ControlPlane:
	default:
		return nil, &ValidationError{Field: "API", Value: api.String(), Reason: "not one of Lifecycle, Sandbox, ControlPlane"}
	}
	s := settings{api: api, retry: DefaultRetryPolicy(), lim: defaultLimits()}
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	if s.noEnv && s.envCreds {
		return nil, &ValidationError{Field: "options", Reason: "WithEnvCredentials and WithoutEnvironment contradict each other"}
	}
	if !s.noEnv {
		if err := s.applyEnv(); err != nil {
			return nil, err
		}
	}
	return newConfig(s)
}

func defaultLimits() limits {
	return limits{timeout: DefaultTimeout, idle: DefaultStreamIdleTimeout, maxBody: DefaultMaxResponseSize}
}

// ForSandbox returns a configuration for the sandbox API at baseURL (a
// sandbox's URL, as the control plane reports it) that uses this
// configuration's token, workspace, credential headers, HTTP client,
// logger, retry policy, limits, headers and telemetry; opts are applied
// on top. The environment is not read.
//
// This is the one way a credential moves to another host, hence the
// narrow name and the rules. Only a control plane or sandbox
// configuration can be turned into a sandbox one (a lifecycle API key is
// not a sandbox token), and the resulting base URL (after opts) must be
// one of:
//
//   - on this configuration's own origin (scheme, host and port), as the
//     mock server's sandboxes are;
//   - a loopback address, only when this configuration's base URL is a
//     loopback address too (a local mock or server);
//   - an https URL whose host matches a pattern of [WithSandboxHosts]
//     (given here or in opts); or, when this configuration talks to the
//     hosted Blaxel service (a host under blaxel.ai or bl.run), a host
//     under bl.run or blaxel.ai, where Blaxel serves sandboxes; or a
//     name under a special-use domain that public DNS never resolves
//     (.test, .invalid, .localhost), for tests. Plain http is accepted
//     for these only with [WithInsecureHTTP].
//
// Link-local, unspecified and multicast addresses (169.254.169.254, the
// cloud metadata service, among them) are always refused. A refused URL
// gives an error matching [ErrInvalidInput], and nothing is sent.
func (c *Config) ForSandbox(baseURL string, opts ...Option) (*Config, error) {
	if c.s.api == Lifecycle {
		return nil, &ValidationError{Field: "API", Value: c.s.api.String(), Reason: "ForSandbox needs a control plane or sandbox configuration"}
	}
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	s := c.s.clone()
	s.api = Sandbox
	s.baseURL = u
	s.envCreds, s.noEnv = false, true
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	if s.envCreds {
		return nil, &ValidationError{Field: "option WithEnvCredentials", Reason: "ForSandbox reads no environment"}
	}
	if err := c.checkSandboxURL(s.baseURL, &s); err != nil {
		return nil, err
	}
	return newConfig(s)
}

// blaxelDomains are where the hosted Blaxel service runs its control
// plane and serves its sandboxes (https://sbx-<id>-<workspace>.<region>.bl.run).
var blaxelDomains = []string{"blaxel.ai", "bl.run"}

// checkSandboxURL applies ForSandbox's rules to u; s holds the settings
// after ForSandbox's options (its allow-list and WithInsecureHTTP).
func (c *Config) checkSandboxURL(u *url.URL, s *settings) error {
	reject := func(reason string) error {
		return &ValidationError{Field: "sandbox URL", Value: c.sc.scrub(u.String()), Reason: reason}
	}
	from := c.s.baseURL
	if originOf(u) == originOf(from) {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if ip := net.ParseIP(host); ip != nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()) {
		return reject("a link-local, multicast or unspecified address never serves a sandbox")
	}
	if isLoopback(host) {
		if isLoopback(from.Hostname()) {
			return nil
		}
		return reject("a loopback address, but " + c.s.api.String() + " is not on this machine")
	}
	allowed := slices.Concat(c.s.sandboxHosts, s.sandboxHosts, []string{"*.test", "*.invalid", "*.localhost"})
	if under(strings.ToLower(from.Hostname()), blaxelDomains) {
		allowed = append(allowed, "*.bl.run", "*.blaxel.ai")
	}
	if !slices.ContainsFunc(allowed, func(p string) bool { return hostMatches(p, host) }) {
		return reject("not a host this configuration's credentials may go to; allow it with sandboxkit.WithSandboxHosts")
	}
	if u.Scheme != "https" && !s.insecureHTTP {
		return reject("plain http would expose the token; use https (or WithInsecureHTTP)")
	}
	return nil
}

// hostMatches reports whether host (lower case) matches a WithSandboxHosts
// pattern.
func hostMatches(pattern, host string) bool {
	if domain, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+domain)
	}
	return host == pattern
}

// under reports whether host is one of domains or a name under one.
func under(host string, domains []string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
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

// newConfig fills defaults, checks that no credential would travel in
// clear text, and builds the HTTP client.
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
	values := append([]string{s.cred.reveal()}, s.urlTokens...)
	for _, v := range s.credHeaders {
		values = append(values, v...)
	}
	sc := newScrubber(values...)
	if s.baseURL.Scheme == "http" && !s.insecureHTTP && (s.cred != nil || len(s.credHeaders) > 0) && !localHost(s.baseURL.Hostname()) {
		return nil, &ValidationError{Field: "base URL", Value: sc.scrub(s.baseURL.String()),
			Reason: "plain http to a host that is not local would expose the credential; use https, or WithInsecureHTTP to accept the risk"}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{}
	}
	return &Config{s: s, sc: sc, client: newHTTPClient(&s, sc)}, nil
}

// localHost reports whether a credential may go to host over plain http:
// a loopback address, localhost, or a name under a special-use domain
// that public DNS never resolves (RFC 6761: .localhost, .test, .invalid).
func localHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return isLoopback(h) || under(h, []string{"localhost", "test", "invalid"})
}

// API returns the API this configuration is for.
func (c *Config) API() API { return c.s.api }

// BaseURL returns a copy of the base URL, without a trailing slash.
func (c *Config) BaseURL() *url.URL {
	u := *c.s.baseURL
	return &u
}

// HTTPClient returns a client that adds credentials and headers, retries,
// bounds each attempt (see [WithTimeout],
// [WithMaxResponseSize]), and turns answers with status >= 400 into
// [*APIError] errors. Its transport errors name the request's URL as
// net/http does, URL tokens included (the façades' errors redact them);
// [*APIError] values are scrubbed of credentials. Every call
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
// (no spans are recorded).
func (c *Config) TracerProvider() trace.TracerProvider { return c.s.tracer }

// MeterProvider returns the provider from [WithMeterProvider], or nil
// (no metrics are recorded).
func (c *Config) MeterProvider() metric.MeterProvider { return c.s.meter }

// HasCredential reports whether an API key or token will be sent.
func (c *Config) HasCredential() bool { return c.s.cred != nil }

// Workspace returns the workspace sent in X-Blaxel-Workspace, or "".
func (c *Config) Workspace() string { return c.s.workspace }

// RetryPolicy returns the retry policy in effect.
func (c *Config) RetryPolicy() RetryPolicy { return c.s.retry }

// UserAgent returns the User-Agent header value sent with every request.
func (c *Config) UserAgent() string { return userAgent(c.s.userAgents) }

// Timeout returns the per-attempt timeout of unary calls, 0 if off (see
// [WithTimeout]).
func (c *Config) Timeout() time.Duration { return c.s.lim.timeout }

// StreamIdleTimeout returns the idle timeout of streams, 0 if off (see
// [WithStreamIdleTimeout]).
func (c *Config) StreamIdleTimeout() time.Duration { return c.s.lim.idle }

// MaxResponseSize returns the size cap of unary answers (see
// [WithMaxResponseSize]).
func (c *Config) MaxResponseSize() int64 { return c.s.lim.maxBody }

// String describes the configuration with the credential, credential
// header values and URL tokens redacted.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandboxkit.Config{api: %s, baseURL: %s", c.s.api, c.sc.scrub(c.s.baseURL.String()))
	if c.s.cred != nil {
		b.WriteString(", credential: " + redacted)
	}
	if c.s.workspace != "" {
		fmt.Fprintf(&b, ", workspace: %q", c.s.workspace)
	}
	if names := c.headerNames(); len(names) > 0 {
		fmt.Fprintf(&b, ", headers: [%s]", strings.Join(names, " "))
	}
	fmt.Fprintf(&b, ", maxRetries: %d}", c.s.retry.MaxRetries)
	return b.String()
}

// headerNames lists the extra headers as "Name" (or "Name=[REDACTED]"
// for credential headers), sorted; values of plain headers are left out
// as well, being the caller's business.
func (c *Config) headerNames() []string {
	var names []string
	for k := range c.s.headers {
		names = append(names, k)
	}
	for k := range c.s.credHeaders {
		names = append(names, k+"="+redacted)
	}
	slices.Sort(names)
	return names
}

// GoString is String, so %#v does not print the fields.
func (c *Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the credential redacted.
func (c *Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("api", c.s.api.String()),
		slog.String("base_url", c.sc.scrub(c.s.baseURL.String())),
	}
	if c.s.cred != nil {
		attrs = append(attrs, slog.String("credential", redacted))
	}
	if c.s.workspace != "" {
		attrs = append(attrs, slog.String("workspace", c.s.workspace))
	}
	if names := c.headerNames(); len(names) > 0 {
		attrs = append(attrs, slog.String("headers", strings.Join(names, " ")))
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
