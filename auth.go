package sandboxkit

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Header names used by the three APIs.
const (
	// HeaderAPIKey carries the lifecycle API key.
	HeaderAPIKey = "OPEN-SANDBOX-API-KEY"
	// HeaderBlaxelAuthorization is the hosted service's alternative to
	// Authorization. The SDK never sends it, but strips it on redirects
	// like any credential.
	HeaderBlaxelAuthorization = "X-Blaxel-Authorization"
	// HeaderWorkspace carries the control plane workspace.
	HeaderWorkspace = "X-Blaxel-Workspace"
	// HeaderRequestID identifies a request in the server's logs; it fills
	// APIError.RequestID.
	HeaderRequestID = "X-Request-ID"
)

// Headers that OpenSandbox lifecycle endpoints name for reaching a
// sandbox port: each carries a credential (a route signature or an access
// token). Give them to [WithCredentialHeader] (or [WithHeader], which
// recognises them).
const (
	// HeaderSecureAccess carries a sandbox's secure-access token.
	HeaderSecureAccess = "OpenSandbox-Secure-Access"
	// HeaderIngressTo routes a request through the ingress gateway; on a
	// signed route it holds the route's signature.
	HeaderIngressTo = "OpenSandbox-Ingress-To"
	// HeaderEgressAuth carries the token of a sandbox's egress proxy.
	HeaderEgressAuth = "OPENSANDBOX-EGRESS-AUTH"
)

// credentialHeaders are set by the SDK only (WithHeader and
// WithCredentialHeader refuse them) and removed from a redirect that
// leaves the original origin. Canonical form.
var credentialHeaders = []string{
	"Authorization",
	"Proxy-Authorization",
	"Cookie",
	http.CanonicalHeaderKey(HeaderAPIKey),
	http.CanonicalHeaderKey(HeaderBlaxelAuthorization),
	http.CanonicalHeaderKey(HeaderWorkspace),
}

func isCredentialHeader(canonical string) bool {
	return slices.Contains(credentialHeaders, canonical)
}

// knownSecretHeaders are header names WithHeader treats as credentials
// although no word in credentialWords marks them. Canonical form.
var knownSecretHeaders = []string{
	http.CanonicalHeaderKey(HeaderIngressTo),
}

// credentialWords mark a header name as a credential's.
var credentialWords = []string{"auth", "token", "secret", "key", "password", "passwd", "session", "signature", "credential", "cookie", "secure-access"}

// looksLikeCredential reports whether a header (canonical name) given to
// WithHeader is to be treated as a credential.
func looksLikeCredential(canonical string) bool {
	if slices.Contains(knownSecretHeaders, canonical) {
		return true
	}
	lower := strings.ToLower(canonical)
	for _, w := range credentialWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// origin is a URL's scheme, lower-case host and port (the default port
// filled in), the unit credentials are bound to.
type origin struct {
	scheme, host, port string
}

func originOf(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "http":
			o.port = "80"
		case "https":
			o.port = "443"
		}
	}
	return o
}

// authTransport adds the configured headers to a clone of each request.
// Credentials and the workspace go only to the configured origin, so a
// request for another host through the same client (a download link in
// an answer, say) carries none of them.
type authTransport struct {
	next        http.RoundTripper
	origin      origin
	api         API
	cred        *secret
	workspace   string
	userAgent   string
	headers     http.Header
	credHeaders http.Header // sent to the origin only
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context()) // the caller's request and headers stay as they were
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	for k, v := range t.headers {
		if _, ok := r.Header[k]; !ok {
			r.Header[k] = append([]string(nil), v...)
		}
	}
	r.Header.Set("User-Agent", t.userAgent)
	if originOf(r.URL) == t.origin {
		if t.cred != nil {
			switch t.api {
			case Lifecycle:
				r.Header.Set(HeaderAPIKey, t.cred.reveal())
			default:
				r.Header.Set("Authorization", "Bearer "+t.cred.reveal())
			}
		}
		if t.workspace != "" {
			r.Header.Set(HeaderWorkspace, t.workspace)
		}
		for k, v := range t.credHeaders {
			if _, ok := r.Header[k]; !ok {
				r.Header[k] = append([]string(nil), v...)
			}
		}
	}
	return t.next.RoundTrip(r)
}
