package client

import (
	"net/http"
	"net/url"
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

// credentialHeaders are removed from a redirect that leaves the original
// origin and cannot be set with WithHeader. Canonical form.
var credentialHeaders = []string{
	"Authorization",
	"Proxy-Authorization",
	"Cookie",
	http.CanonicalHeaderKey(HeaderAPIKey),
	http.CanonicalHeaderKey(HeaderBlaxelAuthorization),
	http.CanonicalHeaderKey(HeaderWorkspace),
}

func isCredentialHeader(canonical string) bool {
	for _, h := range credentialHeaders {
		if h == canonical {
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
	next      http.RoundTripper
	origin    origin
	api       API
	cred      *secret
	workspace string
	userAgent string
	headers   http.Header
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
	}
	return t.next.RoundTrip(r)
}
