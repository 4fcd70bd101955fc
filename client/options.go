package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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

// WithTracerProvider sets the OpenTelemetry tracer provider handed to the
// generated clients. Without it they use the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *settings) error {
		s.tracer = tp
		return nil
	}
}

// WithMeterProvider sets the OpenTelemetry meter provider handed to the
// generated clients. Without it they use the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *settings) error {
		s.meter = mp
		return nil
	}
}

// WithHeader adds a header to every request that does not already carry
// it; a second WithHeader for the same key replaces the first. Credential
// headers (Authorization, OPEN-SANDBOX-API-KEY, X-Blaxel-Authorization,
// X-Blaxel-Workspace, Cookie, Proxy-Authorization) are refused: use
// [WithAPIKey], [WithToken] and [WithWorkspace], which keep credentials out
// of logs and redirects. So are User-Agent ([WithUserAgent]) and the
// framing headers Host, Content-Length, Transfer-Encoding and Connection.
func WithHeader(key, value string) Option {
	return func(s *settings) error {
		if !validHeaderName(key) {
			return &ValidationError{Field: "header name", Value: key, Reason: "not a valid HTTP header name"}
		}
		canon := http.CanonicalHeaderKey(key)
		if isCredentialHeader(canon) {
			return &ValidationError{Field: "header name", Value: key, Reason: "carries credentials; use WithAPIKey, WithToken or WithWorkspace"}
		}
		switch canon {
		case "User-Agent", "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return &ValidationError{Field: "header name", Value: key, Reason: "is set by the SDK or net/http"}
		}
		if err := checkHeaderValue(value); err != nil {
			// The value is not shown: it may be a secret of the caller's.
			return &ValidationError{Field: "value of header " + canon, Reason: err.Error()}
		}
		if s.headers == nil {
			s.headers = make(http.Header)
		}
		s.headers.Set(canon, value)
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
