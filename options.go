package sandboxkit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a [Config]. Options check their arguments and make
// [NewConfig] fail with a [*ValidationError] (errors.Is(err,
// ErrInvalidInput)) when one is wrong.
type Option func(*settings) error

// settings is what the options collect; NewConfig resolves it into a
// Config.
type settings struct {
	api        API
	baseURL    *url.URL
	cred       *secret
	workspace  string
	httpClient *http.Client // a copy of the caller's client, never theirs
	userAgents []string
	headers    http.Header
	logger     *slog.Logger
	retry      RetryPolicy
	tracer     trace.TracerProvider
	meter      metric.MeterProvider
	noEnv      bool

	lim          limits
	insecureHTTP bool        // WithInsecureHTTP
	envCreds     bool        // WithEnvCredentials
	credHeaders  http.Header // WithCredentialHeader and credential-like WithHeader names
	urlTokens    []string    // WithURLToken
	sandboxHosts []string    // WithSandboxHosts, lower-case patterns
}

// clone returns a copy that shares nothing mutable with s.
func (s *settings) clone() settings {
	c := *s
	if s.baseURL != nil {
		u := *s.baseURL
		c.baseURL = &u
	}
	c.userAgents = append([]string(nil), s.userAgents...)
	c.headers = s.headers.Clone()
	c.credHeaders = s.credHeaders.Clone()
	c.urlTokens = append([]string(nil), s.urlTokens...)
	c.sandboxHosts = append([]string(nil), s.sandboxHosts...)
	return c
}

// WithBaseURL sets the API's base URL, e.g. "https://api.blaxel.ai/v0". It
// must be an absolute http or https URL without user info, query or
// fragment; a trailing slash is dropped. Required for the sandbox API.
func WithBaseURL(rawURL string) Option {
	return func(s *settings) error {
		u, err := parseBaseURL(rawURL)
		if err != nil {
			return err
		}
		s.baseURL = u
		return nil
	}
}

// WithAPIKey sets the lifecycle API key, sent in the OPEN-SANDBOX-API-KEY
// header. Only valid for the lifecycle API; the other two take
// [WithToken].
func WithAPIKey(key string) Option {
	return func(s *settings) error {
		if s.api != Lifecycle {
			return &ValidationError{Field: "option WithAPIKey", Reason: fmt.Sprintf("the %s API takes WithToken", s.api)}
		}
		return setCredential(s, "API key", key)
	}
}

// WithToken sets the bearer token of the sandbox API or the control plane,
// sent as "Authorization: Bearer <token>". A "Bearer " prefix in token is
// dropped. Not valid for the lifecycle API, which takes [WithAPIKey].
func WithToken(token string) Option {
	return func(s *settings) error {
		if s.api == Lifecycle {
			return &ValidationError{Field: "option WithToken", Reason: "the lifecycle API takes WithAPIKey"}
		}
		t := token // the Option may be applied again, concurrently: keep token as it is
		if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
			t = strings.TrimSpace(t[7:])
		}
		return setCredential(s, "token", t)
	}
}

func setCredential(s *settings, field, v string) error {
	if v == "" {
		return &ValidationError{Field: field, Reason: "must not be empty (leave the option out to send none)"}
	}
	if err := checkHeaderValue(v); err != nil {
		return &ValidationError{Field: field, Reason: err.Error()}
	}
	s.cred = newSecret(v)
	return nil
}

// WithWorkspace sets the workspace sent in the X-Blaxel-Workspace header to
// the control plane and the sandbox API. Not valid for the lifecycle API.
func WithWorkspace(workspace string) Option {
	return func(s *settings) error {
		if s.api == Lifecycle {
			return &ValidationError{Field: "option WithWorkspace", Reason: "the lifecycle API has no workspaces"}
		}
		if workspace == "" {
			return &ValidationError{Field: "workspace", Reason: "must not be empty"}
		}
		if err := checkHeaderValue(workspace); err != nil {
			return &ValidationError{Field: "workspace", Value: workspace, Reason: err.Error()}
		}
		s.workspace = workspace
		return nil
	}
}

// WithHTTPClient makes requests go through a copy of c: its Transport (or
// http.DefaultTransport's pool when nil) carries the requests, its Jar
// stores cookies, its CheckRedirect runs after the SDK's redirect checks,
// and its Timeout bounds each call including retries and reading the
// response. c itself is never modified.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) error {
		if c == nil {
			return &ValidationError{Field: "HTTP client", Reason: "must not be nil"}
		}
		cp := *c
		s.httpClient = &cp
		return nil
	}
}

// WithUserAgent appends product (e.g. "my-agent/1.2") to the User-Agent
// header, which starts with "sandboxkit-go/<version>".
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		product := strings.TrimSpace(product) // a copy: the Option may be applied again, concurrently
		if product == "" {
			return &ValidationError{Field: "user agent", Reason: "must not be empty"}
		}
		if err := checkHeaderValue(product); err != nil {
			return &ValidationError{Field: "user agent", Value: product, Reason: err.Error()}
		}
		s.userAgents = append(s.userAgents, product)
		return nil
	}
}

// WithLogger sends the SDK's log records (debug records for retries, never
// headers or credentials) to l. By default nothing is logged; a nil l
// restores that.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = l
		return nil
	}
}

// WithRetry replaces the retry policy; see [RetryPolicy] for how zero
// fields are read. Negative fields, or MinDelay above MaxDelay, are
// errors.
func WithRetry(p RetryPolicy) Option {
	return func(s *settings) error {
		q := p.withDefaults() // the Option may be applied again, concurrently: keep p as it is
		if err := q.validate(); err != nil {
			return err
		}
		s.retry = q
		return nil
	}
}

// WithTracerProvider makes the transport record a client span per call
// (retries and redirects included) with tp, following OpenTelemetry's
// HTTP client conventions. Without it no span is recorded, and calls pay
// nothing for tracing; pass otel.GetTracerProvider() to use the global
// provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *settings) error {
		s.tracer = tp
		return nil
	}
}

// WithMeterProvider makes the transport record each call's duration
// (retries and redirects included) with mp, in the histogram
// http.client.request.duration (seconds). Without it nothing is
// recorded; pass otel.GetMeterProvider() to use the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *settings) error {
		s.meter = mp
		return nil
	}
}

// WithHeader adds a header to every request that does not already carry
// it; a second WithHeader for the same key replaces the first.
//
// A header whose name marks it as a credential is treated like the API
// key, as if given to [WithCredentialHeader]: the known ones
// (OpenSandbox-Secure-Access, OpenSandbox-Ingress-To,
// OPENSANDBOX-EGRESS-AUTH, X-Api-Key, ...) and any name containing
// "auth", "token", "secret", "key", "password", "passwd", "session",
// "signature", "credential" or "cookie". The headers the SDK sets itself
// are refused: Authorization, OPEN-SANDBOX-API-KEY,
// X-Blaxel-Authorization, X-Blaxel-Workspace, Cookie and
// Proxy-Authorization (use [WithAPIKey], [WithToken] and
// [WithWorkspace]), User-Agent ([WithUserAgent]), and the framing headers
// Host, Content-Length, Transfer-Encoding and Connection.
func WithHeader(key, value string) Option {
	return func(s *settings) error {
		canon, err := checkExtraHeader(key, value)
		if err != nil {
			return err
		}
		if looksLikeCredential(canon) {
			setHeader(&s.credHeaders, canon, value)
			s.headers.Del(canon)
			return nil
		}
		setHeader(&s.headers, canon, value)
		s.credHeaders.Del(canon)
		return nil
	}
}

// WithCredentialHeader adds a header that carries a credential, such as
// the headers a lifecycle endpoint names (OpenSandbox-Secure-Access) or a
// gateway's key. Like the API key or token, it is sent only to the base
// URL's origin (scheme, host and port), removed from a redirect that
// leaves it, needs https or a loopback host (see [WithInsecureHTTP]), and
// its value is replaced by [REDACTED] in errors, log records and printed
// configurations. A second one for the same key replaces the first. The
// names [WithHeader] refuses are refused here too.
func WithCredentialHeader(key, value string) Option {
	return func(s *settings) error {
		canon, err := checkExtraHeader(key, value)
		if err != nil {
			return err
		}
		if value == "" {
			return &ValidationError{Field: "value of header " + canon, Reason: "must not be empty"}
		}
		setHeader(&s.credHeaders, canon, value)
		s.headers.Del(canon)
		return nil
	}
}

// checkExtraHeader checks a header given to WithHeader or
// WithCredentialHeader and returns its canonical name.
func checkExtraHeader(key, value string) (string, error) {
	if !validHeaderName(key) {
		return "", &ValidationError{Field: "header name", Value: key, Reason: "not a valid HTTP header name"}
	}
	canon := http.CanonicalHeaderKey(key)
	if isCredentialHeader(canon) {
		return "", &ValidationError{Field: "header name", Value: key, Reason: "is set by the SDK; use WithAPIKey, WithToken or WithWorkspace"}
	}
	switch canon {
	case "User-Agent", "Host", "Content-Length", "Transfer-Encoding", "Connection":
		return "", &ValidationError{Field: "header name", Value: key, Reason: "is set by the SDK or net/http"}
	}
	if err := checkHeaderValue(value); err != nil {
		// The value is not shown: it may be a secret of the caller's.
		return "", &ValidationError{Field: "value of header " + canon, Reason: err.Error()}
	}
	return canon, nil
}

func setHeader(h *http.Header, canon, value string) {
	if *h == nil {
		*h = make(http.Header)
	}
	h.Set(canon, value)
}

// WithInsecureHTTP lets the credential (API key, token, credential
// headers) travel over plain http to a host that is not local. Without
// it, a configuration that has a credential and a plain-http base URL is
// refused unless the host is a loopback address, "localhost", or a name
// under one of the special-use domains that public DNS never resolves
// (.localhost, .test, .invalid; the mock server's in-memory origin is
// http://sandboxkit-mock.test): anyone on the network path could read
// the credential. Use it for a lifecycle server on a trusted private
// network, knowingly.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
		s.insecureHTTP = true
		return nil
	}
}

// WithEnvCredentials makes a sandbox API configuration read its token from
// $BL_API_KEY ([EnvToken]) and its workspace from $BL_WORKSPACE
// ([EnvWorkspace]). Those variables hold the control plane's credentials,
// so a sandbox API configuration reads them only when asked to: without
// this option it sends no credential it was not given. Control plane
// configurations read them anyway (unless [WithoutEnvironment]); for the
// lifecycle API, which reads OPEN_SANDBOX_API_KEY, and together with
// WithoutEnvironment, this option is an error.
func WithEnvCredentials() Option {
	return func(s *settings) error {
		if s.api == Lifecycle {
			return &ValidationError{Field: "option WithEnvCredentials", Reason: "the lifecycle API reads " + EnvLifecycleAPIKey + " already"}
		}
		s.envCreds = true
		return nil
	}
}

// WithURLToken declares token, a part of the base URL such as the
// signature of a signed endpoint, a credential: it is replaced by
// [REDACTED] wherever the URL shows up (transport errors passed through
// façade errors, retry log records, printed configurations), like the API key.
// The segment after a "signed" path segment (/signed/<token>/...) is
// treated so without this option.
func WithURLToken(token string) Option {
	return func(s *settings) error {
		if token == "" {
			return &ValidationError{Field: "URL token", Reason: "must not be empty"}
		}
		if err := checkHeaderValue(token); err != nil {
			return &ValidationError{Field: "URL token", Reason: err.Error()}
		}
		s.urlTokens = append(s.urlTokens, token)
		return nil
	}
}

// WithSandboxHosts widens where [Config.ForSandbox] (and so
// controlplane.Client.SandboxClient) may send this configuration's token:
// besides the defaults (see ForSandbox), to https URLs whose host matches
// one of patterns. A pattern is a host name ("sbx.example.com"), an IP
// address, or "*." and a domain of at least two labels
// ("*.sandboxes.example.com" matches every name under it, not the domain
// itself). Only for control plane and sandbox API configurations.
func WithSandboxHosts(patterns ...string) Option {
	return func(s *settings) error {
		if s.api == Lifecycle {
			return &ValidationError{Field: "option WithSandboxHosts", Reason: "the lifecycle API's key is never handed to sandboxes"}
		}
		if len(patterns) == 0 {
			return &ValidationError{Field: "sandbox hosts", Reason: "none given"}
		}
		for _, p := range patterns {
			q, err := checkHostPattern(p)
			if err != nil {
				return err
			}
			s.sandboxHosts = append(s.sandboxHosts, q)
		}
		return nil
	}
}

// checkHostPattern checks and lower-cases a WithSandboxHosts pattern.
func checkHostPattern(p string) (string, error) {
	reject := func(reason string) error {
		return &ValidationError{Field: "sandbox host pattern", Value: p, Reason: reason}
	}
	q := strings.ToLower(strings.TrimSpace(p))
	name, wild := strings.CutPrefix(q, "*.")
	switch {
	case q == "":
		return "", reject("must not be empty")
	case strings.ContainsAny(q, "/:@?#[] \t"):
		return "", reject("must be a host name or an IP address, without scheme, port or path")
	case strings.Contains(name, "*"):
		return "", reject(`a wildcard may only start the pattern, as "*."`)
	case wild && net.ParseIP(name) != nil:
		return "", reject("an IP address cannot have a wildcard")
	case wild && strings.Count(name, ".") < 1:
		return "", reject("a wildcard needs a domain of at least two labels")
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return "", reject("has an empty label")
	}
	return q, nil
}

// WithTimeout sets how long each attempt of a unary call may take from
// the moment its request has been sent (every byte of its body; a body
// still being sent restarts the clock with each piece) until its answer
// has been read to the end; default [DefaultTimeout]. d must be positive;
// [WithoutTimeouts] turns the timeouts off. An attempt that runs out
// fails with a [*TimeoutError] (errors.Is(err, ErrTimeout)) and is not
// retried. Streams (process output, log and watch streams, file transfers) have [WithStreamIdleTimeout]
// instead. The caller's context deadline applies as well, whichever ends
// first.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return &ValidationError{Field: "timeout", Value: d.String(), Reason: "must be positive (WithoutTimeouts turns timeouts off)"}
		}
		s.lim.timeout = d
		return nil
	}
}

// WithStreamIdleTimeout sets how long a stream (process output, log and watch streams, file transfers) may stay
// silent: the wait for the first byte of its answer, and every read's
// wait for more (time the reader spends between reads does not count);
// default [DefaultStreamIdleTimeout]. d must be positive;
// [WithoutTimeouts] turns the timeouts off.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return &ValidationError{Field: "stream idle timeout", Value: d.String(), Reason: "must be positive (WithoutTimeouts turns timeouts off)"}
		}
		s.lim.idle = d
		return nil
	}
}

// WithoutTimeouts turns off the per-attempt timeout of unary calls and the
// idle timeout of streams, for callers that bound every call with their
// own context deadline. A later [WithTimeout] or [WithStreamIdleTimeout]
// turns its timeout on again.
func WithoutTimeouts() Option {
	return func(s *settings) error {
		s.lim.timeout, s.lim.idle = 0, 0
		return nil
	}
}

// WithMaxResponseSize caps the size of a unary call's answer, counted after
// decompression (so a small compressed answer cannot expand without
// limit); default [DefaultMaxResponseSize]. A larger answer fails the
// call with an error matching [ErrResponseTooLarge], before it is read
// past the limit. n must be positive. Streams (process output, log and watch streams, file transfers) are not
// capped: they are read piece by piece. Error answers are read up to
// [MaxErrorBodySize].
func WithMaxResponseSize(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return &ValidationError{Field: "maximum response size", Value: strconv.FormatInt(n, 10), Reason: "must be positive"}
		}
		s.lim.maxBody = n
		return nil
	}
}

// WithoutEnvironment makes [NewConfig] ignore the environment variables
// (OPEN_SANDBOX_*, BL_*), so only options and built-in defaults apply.
func WithoutEnvironment() Option {
	return func(s *settings) error {
		s.noEnv = true
		return nil
	}
}

// parseBaseURL checks and normalises a base URL.
func parseBaseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	reject := func(value, reason string) error {
		return &ValidationError{Field: "base URL", Value: value, Reason: reason}
	}
	if raw == "" {
		return nil, reject("", "must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			// It may hold a password, and url.Parse's message quotes
			// parts of the input: show neither.
			return nil, reject("", "not a URL (and must not contain user info)")
		}
		reason := "not a URL"
		if ue, ok := errors.AsType[*url.Error](err); ok {
			reason = "not a URL: " + ue.Err.Error()
		}
		return nil, reject(raw, reason)
	}
	switch {
	case u.User != nil:
		return nil, reject(u.Redacted(), "must not contain user info; use WithAPIKey or WithToken")
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return nil, reject(raw, "must be an absolute http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return nil, reject(raw, "has no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, reject(raw, "must not have a query or fragment")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkHeaderValue refuses control characters other than tab, which
// net/http would reject later with a less helpful error (and CR/LF could
// otherwise split headers).
func checkHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return errors.New("contains a control character")
		}
	}
	return nil
}
