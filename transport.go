package sandboxkit

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// The transport of Config.HTTPClient, outermost first:
//
//	outer *http.Client          Timeout from the caller's client; follows no redirects
//	  errorTransport            status >= 400 -> *APIError; one callState per call
//	    authTransport           credentials, workspace, User-Agent, extra headers
//	      retryTransport        retryablehttp.Client: CheckRetry, Backoff, passthrough
//	        inner *http.Client  the caller's client copied: Jar, redirects (checkRedirect)
//	          limitTransport    per attempt: timeouts, answer size cap, no stray 101
//	            connTracer      records whether each attempt got a connection
//	              base          the caller's Transport, or a shared clone of the default
//
// Redirects are followed by the inner client, inside the retry loop, so its
// CheckRedirect is the one that strips credentials. The outer client must
// not follow redirects itself: it would send them through authTransport
// again.

// defaultTransport is shared by all configurations without their own
// transport, so they share one connection pool.
var defaultTransport = sync.OnceValue(func() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return http.DefaultTransport
})

// newHTTPClient assembles the transport described above from s; sc
// scrubs its credentials from errors and logs.
func newHTTPClient(s *settings, sc *scrubber) *http.Client {
	user := s.httpClient // already a copy
	base := user.Transport
	if base == nil {
		base = defaultTransport()
	}
	var extra []string
	for k := range s.credHeaders {
		extra = append(extra, k)
	}
	inner := &http.Client{
		Transport:     &limitTransport{next: &connTracer{base: base}, lim: s.lim},
		CheckRedirect: redirectPolicy(user.CheckRedirect, extra),
		Jar:           user.Jar,
	}
	var rt http.RoundTripper = &retryTransport{
		inner:  inner,
		policy: s.retry,
		logger: s.logger,
		api:    s.api,
		sc:     sc,
	}
	rt = &authTransport{
		next:        rt,
		origin:      originOf(s.baseURL),
		api:         s.api,
		cred:        s.cred,
		workspace:   s.workspace,
		userAgent:   userAgent(s.userAgents),
		headers:     s.headers.Clone(),
		credHeaders: s.credHeaders.Clone(),
	}
	return &http.Client{
		Transport: &errorTransport{next: rt, base: base, sc: sc},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: user.Timeout,
	}
}

// errorTransport turns every final answer with status >= 400 into an
// *APIError returned as the error, with the body read (capped) and closed.
// If the request's context is done, its error is returned instead of
// whatever the inner layers reported.
type errorTransport struct {
	next http.RoundTripper
	base http.RoundTripper // for CloseIdleConnections
	sc   *scrubber
}

func (t *errorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := &callState{}
	resp, err := t.next.RoundTrip(req.WithContext(withCallState(req.Context(), st)))
	if ctxErr := req.Context().Err(); ctxErr != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		return nil, ctxErr
	}
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		if st.retries > 0 {
			err = &retriedError{err: err, retries: st.retries}
		}
		return nil, &scrubbedError{err: err, sc: t.sc}
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	return nil, newAPIError(resp, st.retries, t.sc)
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *errorTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// retriedError records that a transport error came after retries.
type retriedError struct {
	err     error
	retries int
}

func (e *retriedError) Error() string {
	return e.err.Error() + " (after " + strconv.Itoa(e.retries) + " retries)"
}

func (e *retriedError) Unwrap() error { return e.err }

// scrubbedError is a transport error whose text has the configuration's
// credentials replaced: a server can get a credential into net/http's
// errors (a reflected key in a malformed status or header line, which Go
// quotes), and a signed route's token is part of the URL that errors
// name. glue.Wrap uses its scrubber on the whole text of the error that
// wraps it, URL included.
type scrubbedError struct {
	err error
	sc  *scrubber
}

func (e *scrubbedError) Error() string { return e.sc.scrub(e.err.Error()) }

func (e *scrubbedError) Unwrap() error { return e.err }

// Timeout keeps *url.Error's Timeout method working through the wrapper
// (it asks its direct cause, not the chain).
func (e *scrubbedError) Timeout() bool {
	ne, ok := errors.AsType[net.Error](e.err)
	return ok && ne.Timeout()
}
