package controlplane

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// How a request presents a preview token to a private preview: in this
// header, or in this query parameter (the form a browser can use; the
// service then sets a cookie).
const (
	PreviewTokenHeader = "X-Blaxel-Preview-Token"
	PreviewTokenParam  = "bl_preview_token"
)

// Preview exposes one port of a sandbox at a URL of its own. A public
// preview is open to anyone with the URL; a private one wants a
// [PreviewToken] with every request ([Client.CreatePreviewToken],
// [Preview.URLWithToken], [Client.PreviewHTTPClient]).
type Preview struct {
	// Metadata names the preview.
	Metadata PreviewMetadata
	// Spec says which port it exposes and how.
	Spec PreviewSpec

	// Status is the preview's deployment status (read-only).
	Status Status
	// Events are the status changes the service recorded (read-only).
	Events []Event

	extra extraFields
}

// PreviewMetadata identifies a preview. Only Name and DisplayName are
// sent; the rest is set by the service.
type PreviewMetadata struct {
	// Name identifies the preview within its sandbox.
	Name string
	// DisplayName is a human-readable name.
	DisplayName string

	// ResourceName is the sandbox's name (read-only).
	ResourceName string
	// ResourceType is the kind of resource, e.g. "sandbox" (read-only).
	ResourceType string
	// Workspace is the workspace (read-only).
	Workspace string
	// CreatedAt and UpdatedAt are when it was created and last changed
	// (read-only).
	CreatedAt, UpdatedAt time.Time
	// CreatedBy and UpdatedBy are who created and last changed it
	// (read-only).
	CreatedBy, UpdatedBy string

	extra extraFields
}

// PreviewSpec is a preview's definition.
type PreviewSpec struct {
	// Port is the port of the sandbox the preview reaches (1 to 65535).
	Port int
	// Public opens the preview to anyone with its URL; false (the zero
	// value) asks for a token with every request.
	Public bool
	// PrefixURL is the prefix of the preview's URL, with a custom domain.
	PrefixURL string
	// CustomDomain is a custom domain bound to the preview.
	CustomDomain string
	// TTL deletes the preview this long after its creation, a duration
	// such as "1h" or "7d" (see [ParseDuration]); empty means never.
	TTL string
	// Expires deletes the preview at this time; zero means never.
	Expires time.Time
	// RequestHeaders are added to every request the preview passes on,
	// e.g. an Authorization header for the application behind it.
	RequestHeaders map[string]string
	// ResponseHeaders are added to every answer of the preview, e.g. CORS
	// headers.
	ResponseHeaders map[string]string

	// Region is where the preview runs (read-only).
	Region string
	// URL is the preview's URL (read-only).
	URL string

	extra extraFields
}

// PreviewToken lets requests into a private preview until it expires.
// Its Value is a credential: the String, GoString and LogValue methods of
// PreviewToken leave it out, so printing or logging a token does not
// reveal it.
type PreviewToken struct {
	// Name identifies the token within its preview.
	Name string
	// ExpiresAt is when the token stops working.
	ExpiresAt time.Time
	// Value is the token itself (read-only, set by the service); send it
	// as [PreviewTokenHeader] or [PreviewTokenParam].
	Value string
	// Expired reports a token past its expiry (read-only).
	Expired bool

	// PreviewName, ResourceName, ResourceType and Workspace say what the
	// token opens (read-only).
	PreviewName, ResourceName, ResourceType, Workspace string
}

// String describes t without its value.
func (t *PreviewToken) String() string {
	if t == nil {
		return "<nil>"
	}
	return fmt.Sprintf("PreviewToken{Name: %q, Preview: %q, ExpiresAt: %s, Expired: %t, Value: [REDACTED]}",
		t.Name, t.PreviewName, t.ExpiresAt.Format(time.RFC3339), t.Expired)
}

// GoString is String, so %#v does not reveal the value either.
func (t *PreviewToken) GoString() string { return t.String() }

// LogValue describes t for log/slog without its value.
func (t *PreviewToken) LogValue() slog.Value {
	if t == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("name", t.Name), slog.String("preview", t.PreviewName),
		slog.Time("expiresAt", t.ExpiresAt), slog.Bool("expired", t.Expired))
}

// CreatePreviewOptions configures [Client.CreatePreview].
type CreatePreviewOptions struct {
	// Force replaces previews that hold the same custom-domain prefix.
	Force bool
}

// CreatePreviewTokenOptions configures [Client.CreatePreviewToken].
type CreatePreviewTokenOptions struct {
	// Name names the token; empty makes up one ("token-" and random
	// letters).
	Name string
}

// ListPreviews returns the previews of the sandbox called sandbox.
//
// GET /sandboxes/{sandboxName}/previews
func (c *Client) ListPreviews(ctx context.Context, sandbox string) ([]*Preview, error) {
	const op = "controlplane.ListPreviews"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.ListSandboxPreviews(ctx, api.ListSandboxPreviewsParams{SandboxName: sandbox})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	out := make([]*Preview, 0, len(res))
	for i := range res {
		out = append(out, previewFromAPI(&res[i]))
	}
	return out, nil
}

// CreatePreview exposes a port of the sandbox called sandbox as
// described by p (Metadata.Name and Spec.Port are required) and returns
// the preview with its URL.
//
// POST /sandboxes/{sandboxName}/previews
func (c *Client) CreatePreview(ctx context.Context, sandbox string, p *Preview, opts *CreatePreviewOptions) (*Preview, error) {
	const op = "controlplane.CreatePreview"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := validatePreview(p); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	params := api.CreateSandboxPreviewParams{SandboxName: sandbox}
	if opts != nil && opts.Force {
		params.Force = api.NewOptBool(true)
	}
	res, err := c.api.CreateSandboxPreview(ctx, previewToAPI(p), params)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return previewFromAPI(res), nil
}

// GetPreview returns the preview called preview of the sandbox called
// sandbox. A missing one is an error matching [sandboxkit.ErrNotFound].
//
// GET /sandboxes/{sandboxName}/previews/{previewName}
func (c *Client) GetPreview(ctx context.Context, sandbox, preview string) (*Preview, error) {
	const op = "controlplane.GetPreview"
	if err := validatePreviewPath(sandbox, preview); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.GetSandboxPreview(ctx, api.GetSandboxPreviewParams{SandboxName: sandbox, PreviewName: preview})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return previewFromAPI(res), nil
}

// UpdatePreview replaces the definition of the preview called
// p.Metadata.Name of the sandbox called sandbox. Unknown fields of a
// preview read from the service are sent back as they were.
//
// PUT /sandboxes/{sandboxName}/previews/{previewName}
func (c *Client) UpdatePreview(ctx context.Context, sandbox string, p *Preview) (*Preview, error) {
	const op = "controlplane.UpdatePreview"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := validatePreview(p); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.UpdateSandboxPreview(ctx, previewToAPI(p), api.UpdateSandboxPreviewParams{SandboxName: sandbox, PreviewName: p.Metadata.Name})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return previewFromAPI(res), nil
}

// DeletePreview deletes the preview called preview of the sandbox called
// sandbox and returns it as it was.
//
// DELETE /sandboxes/{sandboxName}/previews/{previewName}
func (c *Client) DeletePreview(ctx context.Context, sandbox, preview string) (*Preview, error) {
	const op = "controlplane.DeletePreview"
	if err := validatePreviewPath(sandbox, preview); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.DeleteSandboxPreview(ctx, api.DeleteSandboxPreviewParams{SandboxName: sandbox, PreviewName: preview})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return previewFromAPI(res), nil
}

// ListPreviewTokens returns the tokens of a private preview. Whether the
// service includes their values in a list is not documented; use the
// value [Client.CreatePreviewToken] returns.
//
// GET /sandboxes/{sandboxName}/previews/{previewName}/tokens
func (c *Client) ListPreviewTokens(ctx context.Context, sandbox, preview string) ([]*PreviewToken, error) {
	const op = "controlplane.ListPreviewTokens"
	if err := validatePreviewPath(sandbox, preview); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.ListSandboxPreviewTokens(ctx, api.ListSandboxPreviewTokensParams{SandboxName: sandbox, PreviewName: preview})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	out := make([]*PreviewToken, 0, len(res))
	for i := range res {
		out = append(out, previewTokenFromAPI(&res[i]))
	}
	return out, nil
}

// CreatePreviewToken makes a token for the private preview called preview
// of the sandbox called sandbox, valid until expiresAt (which must be in
// the future), and returns it with its value.
//
// POST /sandboxes/{sandboxName}/previews/{previewName}/tokens
func (c *Client) CreatePreviewToken(ctx context.Context, sandbox, preview string, expiresAt time.Time, opts *CreatePreviewTokenOptions) (*PreviewToken, error) {
	const op = "controlplane.CreatePreviewToken"
	if err := validatePreviewPath(sandbox, preview); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if !expiresAt.After(time.Now()) {
		return nil, glue.Wrap(ctx, op, invalid("expiresAt", formatTime(expiresAt), "must be in the future"))
	}
	name := ""
	if opts != nil {
		name = opts.Name
	}
	if name == "" {
		name = "token-" + strings.ToLower(rand.Text()[:12])
	} else if err := glue.ValidateID("token name", name); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	req := &api.PreviewToken{
		Metadata: api.PreviewTokenMetadata{Name: name},
		Spec:     api.PreviewTokenSpec{ExpiresAt: api.NewOptString(formatTime(ceilSecond(expiresAt).UTC()))},
	}
	res, err := c.api.CreateSandboxPreviewToken(ctx, req, api.CreateSandboxPreviewTokenParams{SandboxName: sandbox, PreviewName: preview})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return previewTokenFromAPI(res), nil
}

// DeletePreviewToken revokes the token called token of a private preview.
//
// DELETE /sandboxes/{sandboxName}/previews/{previewName}/tokens/{tokenName}
func (c *Client) DeletePreviewToken(ctx context.Context, sandbox, preview, token string) error {
	const op = "controlplane.DeletePreviewToken"
	if err := validatePreviewPath(sandbox, preview); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	if err := glue.ValidateID("token name", token); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	_, err := c.api.DeleteSandboxPreviewToken(ctx, api.DeleteSandboxPreviewTokenParams{SandboxName: sandbox, PreviewName: preview, TokenName: token})
	return glue.Wrap(ctx, op, err)
}

// URLWithToken returns p's URL with token's value in the
// [PreviewTokenParam] query parameter: the form to hand to a browser. The
// result holds a credential; treat it like one. A preview without a URL
// yet or a token without a value is an error matching
// [sandboxkit.ErrInvalidInput].
func (p *Preview) URLWithToken(token *PreviewToken) (string, error) {
	u, err := p.url()
	if err != nil {
		return "", err
	}
	if token == nil || token.Value == "" {
		return "", invalid("token", "", "has no value")
	}
	q := u.Query()
	q.Set(PreviewTokenParam, token.Value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// url parses p's URL.
func (p *Preview) url() (*url.URL, error) {
	if p == nil || p.Spec.URL == "" {
		return nil, invalid("preview", "", "has no URL yet")
	}
	u, err := url.Parse(p.Spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("preview URL", p.Spec.URL, "is not an absolute http(s) URL")
	}
	return u, nil
}

// PreviewHTTPClient returns an HTTP client for the preview p, made from
// base (nil: a new client with http.DefaultTransport): requests to p's
// origin carry token's value in the [PreviewTokenHeader] header (token may
// be nil for a public preview); requests anywhere else, redirects
// included, never do. base is copied, not changed. Answers come as they
// are, whatever their status: the preview reaches the caller's own
// application. When the control plane is reached over https the preview
// URL must be https too (or a loopback address), so that the token never
// travels in clear text.
func (c *Client) PreviewHTTPClient(p *Preview, token *PreviewToken, base *http.Client) (*http.Client, error) {
	const op = "controlplane.PreviewHTTPClient"
	ctx := context.Background()
	u, err := p.url()
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if c.cfg.BaseURL().Scheme == "https" && u.Scheme != "https" && !loopbackHost(u.Hostname()) {
		return nil, glue.Wrap(ctx, op, invalid("preview URL", p.Spec.URL, "must be https when the control plane is"))
	}
	var hc http.Client
	if base != nil {
		hc = *base
	}
	value := ""
	if token != nil {
		value = token.Value
	}
	hc.Transport = &previewTransport{base: hc.Transport, scheme: u.Scheme, host: u.Host, token: value}
	return &hc, nil
}

// previewTransport adds the preview token to requests for the preview's
// origin only. http.Client builds each redirect from the original
// request, so a redirect elsewhere gets no token.
type previewTransport struct {
	base         http.RoundTripper
	scheme, host string
	token        string
}

func (t *previewTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.token == "" || req.URL.Scheme != t.scheme || !strings.EqualFold(req.URL.Host, t.host) {
		return base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set(PreviewTokenHeader, t.token)
	return base.RoundTrip(r)
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validatePreviewPath(sandbox, preview string) error {
	if err := validateName(sandbox); err != nil {
		return err
	}
	return glue.ValidateID("preview name", preview)
}

func validatePreview(p *Preview) error {
	if p == nil {
		return invalid("preview", "", "must not be nil")
	}
	if err := glue.ValidateID("preview name", p.Metadata.Name); err != nil {
		return err
	}
	if p.Spec.Port < 1 || p.Spec.Port > 65535 {
		return invalid("spec.port", strconv.Itoa(p.Spec.Port), "must be between 1 and 65535")
	}
	if p.Spec.TTL != "" {
		if _, err := ParseDuration(p.Spec.TTL); err != nil {
			return invalid("spec.ttl", p.Spec.TTL, durationReason)
		}
	}
	for k := range p.Spec.RequestHeaders {
		if !validHeaderName(k) {
			return invalid("spec.requestHeaders", k, "is not a valid header name")
		}
	}
	for k := range p.Spec.ResponseHeaders {
		if !validHeaderName(k) {
			return invalid("spec.responseHeaders", k, "is not a valid header name")
		}
	}
	return nil
}

// validHeaderName reports an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of p, unknown fields included.
func (p *Preview) Clone() *Preview {
	if p == nil {
		return nil
	}
	c := *p
	c.Metadata.extra = maps.Clone(p.Metadata.extra)
	c.Spec.RequestHeaders = maps.Clone(p.Spec.RequestHeaders)
	c.Spec.ResponseHeaders = maps.Clone(p.Spec.ResponseHeaders)
	c.Spec.extra = maps.Clone(p.Spec.extra)
	c.Events = cloneEach(p.Events, func(e Event) Event { return e })
	c.extra = maps.Clone(p.extra)
	return &c
}
