package sandboxkit

import (
	"errors"
	"net/http"
)

// maxRedirects is how many redirects one request may follow; the next one
// fails the call.
const maxRedirects = 10

// errRedirectScheme ends a redirect to anything but http or https; it is
// never retried.
var errRedirectScheme = errors.New("sandboxkit: refused to follow a redirect to a scheme other than http or https")

// redirectPolicy returns the inner client's CheckRedirect. net/http copies
// the first request's headers onto every redirected request; Go itself
// drops Authorization and Cookie when the domain changes, but forwards
// custom headers such as OPEN-SANDBOX-API-KEY anywhere. This policy:
//
//   - refuses a redirect to a scheme other than http and https (a custom
//     transport may serve file: or others) with errRedirectScheme;
//   - follows at most maxRedirects redirects, then fails with
//     errTooManyRedirects (never retried);
//   - removes every credential header (the SDK's own and the
//     configuration's credential headers, extra) once the chain has left
//     the original origin (scheme, host and port: an https to http
//     downgrade counts), and keeps them off for the rest of the chain even
//     if it comes back, since the foreign host chose where it leads;
//   - keeps them for redirects within the origin;
//   - then runs the caller's own CheckRedirect, if any.
func redirectPolicy(user func(*http.Request, []*http.Request) error, extra []string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return errRedirectScheme
		}
		if len(via) > maxRedirects { // via holds one request per redirect so far
			return errTooManyRedirects
		}
		first := originOf(via[0].URL)
		left := originOf(req.URL) != first
		for _, hop := range via[1:] {
			left = left || originOf(hop.URL) != first
		}
		if left {
			for _, h := range credentialHeaders {
				req.Header.Del(h)
			}
			for _, h := range extra {
				req.Header.Del(h)
			}
		}
		if user != nil {
			return user(req, via)
		}
		return nil
	}
}
