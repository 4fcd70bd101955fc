package sandboxkit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy says how often and how patiently requests are retried; see
// the package documentation for which requests are retried at all.
//
// A zero MinDelay, MaxDelay or RetryAfterCap takes its default; a zero
// MaxRetries means no retries. Start from [DefaultRetryPolicy] to change
// one field.
type RetryPolicy struct {
	// MaxRetries is how many times a request is retried after the first
	// attempt. Default 4.
	MaxRetries int
	// MinDelay is the shortest wait before a retry. Default 100ms.
	MinDelay time.Duration
	// MaxDelay is the longest backoff wait. Default 5s.
	MaxDelay time.Duration
	// RetryAfterCap is the longest wait a Retry-After header can ask for;
	// a longer request is shortened to it. Default 30s.
	RetryAfterCap time.Duration
}

// Default retry settings.
const (
	defaultMaxRetries    = 4
	defaultMinDelay      = 100 * time.Millisecond
	defaultMaxDelay      = 5 * time.Second
	defaultRetryAfterCap = 30 * time.Second
)

// DefaultRetryPolicy returns the policy used when [WithRetry] is not
// given: 4 retries, waits from 100ms to 5s, Retry-After capped at 30s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:    defaultMaxRetries,
		MinDelay:      defaultMinDelay,
		MaxDelay:      defaultMaxDelay,
		RetryAfterCap: defaultRetryAfterCap,
	}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MinDelay == 0 {
		p.MinDelay = defaultMinDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(defaultMaxDelay, p.MinDelay)
	}
	if p.RetryAfterCap == 0 {
		p.RetryAfterCap = defaultRetryAfterCap
	}
	return p
}

func (p RetryPolicy) validate() error {
	for _, f := range []struct {
		name string
		neg  bool
		val  any
	}{
		{"MaxRetries", p.MaxRetries < 0, p.MaxRetries},
		{"MinDelay", p.MinDelay < 0, p.MinDelay},
		{"MaxDelay", p.MaxDelay < 0, p.MaxDelay},
		{"RetryAfterCap", p.RetryAfterCap < 0, p.RetryAfterCap},
	} {
		if f.neg {
			return &ValidationError{Field: "RetryPolicy." + f.name, Value: fmt.Sprint(f.val), Reason: "must not be negative"}
		}
	}
	if p.MinDelay > p.MaxDelay {
		return &ValidationError{Field: "RetryPolicy.MinDelay", Value: p.MinDelay.String(), Reason: "is above MaxDelay " + p.MaxDelay.String()}
	}
	return nil
}

// backoff returns the jittered wait before retry number n (0-based): a
// random duration in [max(hi/2, MinDelay), hi] where hi is MinDelay·2^(n+1)
// capped at MaxDelay. Waits grow exponentially, stay within
// [MinDelay, MaxDelay], and concurrent clients spread out even at the cap.
func (p RetryPolicy) backoff(n int) time.Duration {
	hi := p.MaxDelay
	if k := n + 1; k < 63 && p.MinDelay <= p.MaxDelay>>k {
		hi = p.MinDelay << k // cannot overflow: it is at most MaxDelay
	}
	lo := max(hi/2, p.MinDelay)
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

// retryAfter parses a Retry-After header: delta-seconds or an HTTP-date.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			secs = int64(maxRetryAfter / time.Second) // avoid overflow; capped later anyway
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		// time.Until saturates at the largest Duration for a far date.
		return min(max(time.Until(t), 0), maxRetryAfter), true
	}
	return 0, false
}

// maxRetryAfter clamps a Retry-After value (documented on
// APIError.RetryAfter).
const maxRetryAfter = 24 * time.Hour

// idempotent reports whether sending req twice has the effect of sending
// it once: by method, or because it carries an idempotency key (the same
// rule net/http's Transport uses).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// errTooManyRedirects ends a redirect chain; it is never retried.
var errTooManyRedirects = errors.New("sandboxkit: stopped after 10 redirects")

// permanent reports transport errors that no retry can fix.
func permanent(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, errTooManyRedirects) || errors.Is(err, errRedirectScheme) || isCertError(err) ||
		// An attempt that used up its whole timeout is not repeated, so a
		// call never takes much longer than the timeout.
		errors.Is(err, ErrTimeout) ||
		errors.Is(err, ErrResponseTooLarge) || errors.Is(err, errUnexpectedUpgrade) {
		return true
	}
	// net/http reports these with untyped errors.
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol scheme") ||
		strings.Contains(msg, "invalid header field") ||
		strings.Contains(msg, "invalid URL")
}

// shouldRetry applies the method-aware rules to one attempt's outcome.
func shouldRetry(req *http.Request, resp *http.Response, err error, st *callState) bool {
	safe := idempotent(req)
	if err != nil {
		if permanent(err) {
			return false
		}
		return safe || neverSent(err, st)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		// Both say the request was not processed.
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		// The request may have been processed, or the gateway may have
		// passed it on, before the failure: only a request that is safe
		// to repeat is sent again. (The lifecycle server answers a List
		// 500 DOCKER::SANDBOX_QUERY_FAILED while sandboxes are deleted.)
		return safe
	}
	return false
}

// send sends r, a request of the transport's own, and retries it by the
// policy. The first attempt goes straight to the inner client: most calls
// need no retry, and a retryablehttp.Client costs every call that uses it
// a client, a request wrapper and closures. When the first attempt's
// outcome calls for a retry, retryablehttp takes over, starting from that
// outcome (see primedTransport), and does every wait and further attempt.
func (t *transport) send(r *http.Request, st *callState) (*http.Response, error) {
	hasBody := r.Body != nil && r.Body != http.NoBody
	if t.policy.MaxRetries == 0 || (hasBody && r.GetBody == nil) || retriesDisabled(r.Context()) {
		// A body that cannot be produced again (a stream) is sent once, as
		// is every request under WithoutRetries.
		return finish(t.first(r, st))
	}
	getBody := r.GetBody
	resp, err := t.first(r, st)
	if retry, _ := t.checkRetry(st.ctx, r, st, resp, err); !retry {
		return finish(resp, err)
	}
	if err != nil && resp != nil { // a failed redirect: the error is the outcome
		_ = resp.Body.Close()
		resp = nil
	}

	// retryablehttp sets the body of the request it is given: give it a
	// copy, since the transport may still be closing r's body. The copy
	// has the call's context: r's may be its first attempt's.
	rr := r.WithContext(st.ctx)
	rreq := &retryablehttp.Request{Request: rr}
	if hasBody {
		// Every attempt reads a fresh copy from GetBody, so nothing is
		// buffered (retryablehttp would read an unknown body into memory).
		if err := rreq.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) { return getBody() })); err != nil {
			if resp != nil {
				_ = resp.Body.Close()
			}
			return nil, err
		}
		rr.ContentLength = r.ContentLength // SetBody cannot know it
	}
	if resp != nil && resp.Header["Set-Cookie"] != nil {
		// The replay goes through the inner client again, which would
		// store these cookies a second time, now for the first URL
		// rather than the one (after redirects) that set them.
		replay := *resp
		replay.Header = resp.Header.Clone()
		delete(replay.Header, "Set-Cookie")
		resp = &replay
	}
	client := *t.inner
	client.Transport = &primedTransport{resp: resp, err: unwrapURLError(err), next: t.inner.Transport}
	// A Client per call: Backoff gets no context, so the wait chosen by
	// CheckRetry (which does) travels through st.
	replayed := false
	rc := &retryablehttp.Client{
		HTTPClient:   &client,
		Logger:       nil, // never stderr; retries are logged by checkRetry
		RetryWaitMin: t.policy.MinDelay,
		RetryWaitMax: t.policy.MaxDelay,
		RetryMax:     t.policy.MaxRetries,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			if !replayed { // the first attempt's outcome, decided above
				replayed = true
				return true, nil
			}
			return t.checkRetry(ctx, r, st, resp, err)
		},
		Backoff: func(time.Duration, time.Duration, int, *http.Response) time.Duration {
			return st.nextDelay
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return finish(rc.Do(rreq))
}

// first sends the first attempt of r. Unless it needs what only the inner
// client does before an attempt (cookies from its jar, Basic credentials
// from the URL's user:password), the attempt goes straight to the inner
// client's transport: net/http's Client would copy the request's URL and
// headers for redirects that almost never come. A redirect answer is then
// handed to the inner client, which follows it (with redirectPolicy) as if
// it had sent the first request itself. Errors are what the inner client
// would report, without its *url.Error (see finish).
func (t *transport) first(r *http.Request, st *callState) (*http.Response, error) {
	if !t.direct(r) {
		return t.inner.Do(r)
	}
	resp, err := t.attempts.RoundTrip(r)
	if st.prepared != nil { // not taken; cannot happen (see limitTransport.watches)
		st.prepared = nil
		st.first.w.cancel(context.Canceled)
	}
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		if rh, ok := err.(tls.RecordHeaderError); ok && string(rh.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch // as net/http's Client reports it
		}
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		client := *t.inner
		client.Transport = &primedTransport{resp: resp, next: t.inner.Transport}
		return client.Do(r.WithContext(st.ctx)) // the next hops are attempts of their own
	}
	return resp, nil
}

// direct reports whether the first attempt of r can skip the inner
// client (see first).
func (t *transport) direct(r *http.Request) bool {
	return t.inner.Jar == nil && r.URL.User == nil && r.RequestURI == ""
}

// primedTransport answers its first round trip with the outcome of an
// attempt already made (the body of the request is closed unread), and
// passes the others on: it lets retryablehttp's loop start from an
// attempt made without it.
type primedTransport struct {
	resp *http.Response
	err  error
	used bool
	next http.RoundTripper
}

func (t *primedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.used {
		return t.next.RoundTrip(req)
	}
	t.used = true
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return t.resp, t.err
}

// finish unwraps the inner client's *url.Error (the outer client adds its
// own) and never returns a response together with an error.
func finish(resp *http.Response, err error) (*http.Response, error) {
	if err == nil {
		return resp, nil
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	return nil, unwrapURLError(err)
}

// unwrapURLError returns the cause of a *url.Error, else err.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// checkRetry decides on each attempt's outcome. When it retries it has
// already chosen the wait (Retry-After or backoff) and checked it against
// the deadline; returning false lets the last answer or error through
// unchanged.
func (t *transport) checkRetry(ctx context.Context, req *http.Request, st *callState, resp *http.Response, err error) (bool, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	if !shouldRetry(req, resp, err, st) {
		return false, nil
	}
	attrs := t.attemptAttrs(req, resp, err, st)
	if st.retries >= t.policy.MaxRetries {
		t.logger.LogAttrs(ctx, slog.LevelDebug, "sandboxkit: giving up: retries exhausted", attrs...)
		return false, nil
	}
	delay := t.policy.backoff(st.retries)
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header); ok {
			delay = min(d, t.policy.RetryAfterCap)
		}
	}
	attrs = append(attrs, slog.Duration("delay", delay))
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Add(delay).Before(deadline) {
		t.logger.LogAttrs(ctx, slog.LevelDebug, "sandboxkit: giving up: the wait would pass the deadline", attrs...)
		return false, nil
	}
	st.retries++
	st.nextDelay = delay
	t.logger.LogAttrs(ctx, slog.LevelDebug, "sandboxkit: retrying request", attrs...)
	return true, nil
}

// attemptAttrs describes an attempt for the log: never headers, query or
// body, and credentials (a signed route's token in the path, a key a
// server got into an error) scrubbed.
func (t *transport) attemptAttrs(req *http.Request, resp *http.Response, err error, st *callState) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("api", t.api.String()),
		slog.String("method", req.Method),
		slog.String("path", t.sc.scrub(req.URL.Path)),
		slog.Int("attempt", st.retries+1),
	}
	if resp != nil {
		return append(attrs, slog.Int("status", resp.StatusCode))
	}
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // its message would repeat the URL, query included
	}
	return append(attrs, slog.String("error", t.sc.scrub(err.Error())))
}
