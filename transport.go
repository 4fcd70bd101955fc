package sandboxkit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// The transport of Config.HTTPClient, outermost first:
//
//	outer *http.Client          Timeout from the caller's client; follows no redirects
//	  transport                 one per configuration; per call:
//	                              headers: credentials, workspace, User-Agent, extra headers
//	                              spans and metrics, when a provider was given
//	                              the first attempt directly, retries through retryablehttp
//	                              status >= 400 -> *APIError
//	    inner *http.Client      the caller's client copied: Jar, redirects (checkRedirect);
//	                            skipped by a first attempt that needs neither (see first)
//	      limitTransport        per attempt: timeouts, answer size cap, no stray 101
//	        connTracer          for requests that are not idempotent: whether each
//	                            attempt got a connection
//	          base              the caller's Transport, or a shared clone of the default
//
// Redirects are followed by the inner client, inside the retry loop, so its
// CheckRedirect is the one that strips credentials. The outer client must
// not follow redirects itself: it would send them through the transport
// again.
//
// The layers are few on purpose: every call pays for each of them (a
// request copy, a context, a closure), and BenchmarkTransport holds a
// call's cost close to that of plain net/http. A call that needs no retry
// allocates, in the SDK's own code, 8 objects: its state (callContext,
// which also holds the first attempt's watchdog and body), one copy of
// the request, its header map (2), the first attempt's context (2) and
// timer (2); the last 4 are left out when the caller's deadline comes
// before any SDK timeout (limitTransport.watches). Retries and redirects
// pay for their own attempts.

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
	attempts := &limitTransport{next: &connTracer{base: base}, lim: s.lim}
	inner := &http.Client{
		Transport:     attempts,
		CheckRedirect: redirectPolicy(user.CheckRedirect, extra),
		Jar:           user.Jar,
	}
	return &http.Client{
		Transport: &transport{
			inner:    inner,
			attempts: attempts,
			base:     base,
			headers:  newHeaderSet(s),
			policy:   s.retry,
			logger:   s.logger,
			api:      s.api,
			sc:       sc,
			tel:      newTelemetry(s, sc),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: user.Timeout,
	}
}

// transport sends each call: it adds the configured headers to a copy of
// the request, sends it through the retry loop over the inner client, and
// turns every final answer with status >= 400 into an *APIError returned
// as the error, with the body read (capped) and closed. If the request's
// context is done, its error is returned instead of whatever the inner
// layers reported.
type transport struct {
	inner    *http.Client
	attempts *limitTransport   // inner's transport
	base     http.RoundTripper // for CloseIdleConnections
	headers  *headerSet
	policy   RetryPolicy
	logger   *slog.Logger
	api      API
	sc       *scrubber
	tel      *telemetry // nil without a tracer or meter provider
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	cc := newCallContext(req.Context())
	var ctx context.Context = cc
	if t.tel == nil && t.direct(req) && t.attempts.watches(req) {
		// The first attempt goes straight to the attempt layer (see
		// first), which would give it a context of its own and a copy of
		// the request to carry it: make that context now, so the copy
		// below is the only one.
		actx, cancel := context.WithCancelCause(cc)
		cc.st.takeFirst().w.cancel = cancel
		cc.st.prepared = actx
		ctx = actx
	}
	r := req.WithContext(ctx) // a shallow copy: the caller's request and headers stay as they were
	r.Header = t.headers.apply(req.Header, req.URL)
	if t.tel == nil {
		return t.call(r, &cc.st)
	}
	return t.tel.observe(r, &cc.st, t.call)
}

// call sends r (a request of the transport's own) and classifies the outcome.
func (t *transport) call(r *http.Request, st *callState) (*http.Response, error) {
	resp, err := t.send(r, st)
	if ctxErr := st.ctx.Err(); ctxErr != nil {
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
func (t *transport) CloseIdleConnections() {
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
