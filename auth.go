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

// headerSet holds the headers the transport adds to each request.
// Credentials and the workspace go only to the configured origin, so a
// request for another host through the same client (a download link in
// an answer, say) carries none of them.
//
// The value slices are shared by every request and never written to:
// each has its length as capacity, so that an append copies it.
type headerSet struct {
	origin      origin
	headers     http.Header // sent with every request that lacks them
	credHeaders http.Header // the same, to the origin only
	userAgent   []string
	credKey     string    // canonical name of the credential's header
	cred        *[]string // its value, nil without one; a pointer, so printing never shows it
	workspace   []string  // nil without one
}

func newHeaderSet(s *settings) *headerSet {
	hs := &headerSet{
		origin:      originOf(s.baseURL),
		headers:     s.headers.Clone(), // Clone caps each value slice at its length
		credHeaders: s.credHeaders.Clone(),
		userAgent:   []string{userAgent(s.userAgents)},
	}
	if s.cred != nil {
		v := []string{s.cred.reveal()}
		hs.credKey = http.CanonicalHeaderKey(HeaderAPIKey)
		if s.api != Lifecycle {
			v[0] = "Bearer " + v[0]
			hs.credKey = "Authorization"
		}
		hs.cred = &v
	}
	if s.workspace != "" {
		hs.workspace = []string{s.workspace}
	}
	return hs
}

// apply returns the headers of a request for u that had h: a new map
// (h stays as it was) with the configured headers added.
func (hs *headerSet) apply(h http.Header, u *url.URL) http.Header {
	out := make(http.Header, len(h)+len(hs.headers)+len(hs.credHeaders)+3)
	for k, v := range h {
		out[k] = v
	}
	for k, v := range hs.headers {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	out["User-Agent"] = hs.userAgent
	if originOf(u) != hs.origin {
		return out
	}
	if hs.cred != nil {
		out[hs.credKey] = *hs.cred
	}
	if hs.workspace != nil {
		out[workspaceKey] = hs.workspace
	}
	for k, v := range hs.credHeaders {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// workspaceKey is HeaderWorkspace in canonical form.
var workspaceKey = http.CanonicalHeaderKey(HeaderWorkspace)
