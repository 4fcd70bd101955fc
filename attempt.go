package sandboxkit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// callState follows one call through the transport layers: the
// transport creates it, the retry policy counts retries in it, and the
// innermost transport records whether each attempt got a connection.
type callState struct {
	// ctx is the call's context: the caller's, with this state (and the
	// call's span, if any) in it. Retries and redirects are sent with it,
	// and its Err is the caller's cancellation.
	ctx context.Context

	retries   int           // retries done so far
	nextDelay time.Duration // the wait chosen by the last retry decision

	// first holds the first attempt's watchdog and body, so that a call
	// that needs no retry allocates no attempt of its own (takeFirst). When the
	// transport made the first attempt's context itself (see
	// transport.RoundTrip), prepared is that context until the attempt
	// layer takes it, and first.w.cancel cancels it.
	first      attempt
	firstTaken bool
	prepared   context.Context

	// Per attempt (and per redirect hop): whether the transport asked
	// for a connection and whether it got one. Hooks may run on other
	// goroutines, hence atomics.
	askedConn atomic.Bool
	gotConn   atomic.Bool
}

// takeFirst returns the storage for the call's first attempt, or nil if
// it is taken (or st is nil).
func (st *callState) takeFirst() *attempt {
	if st == nil || st.firstTaken {
		return nil
	}
	st.firstTaken = true
	return &st.first
}

type callStateKey struct{}

// callContext is a call's context and its callState in one allocation:
// the transport makes one per call.
type callContext struct {
	context.Context
	st callState
}

func newCallContext(parent context.Context) *callContext {
	cc := &callContext{Context: parent}
	cc.st.ctx = cc
	return cc
}

// Value returns the call's state for callStateKey, else asks the parent.
func (c *callContext) Value(key any) any {
	if key == (callStateKey{}) {
		return &c.st
	}
	return c.Context.Value(key)
}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// connTracer is the innermost transport: it wraps the base transport and,
// on each attempt of a request that is not idempotent, installs an
// httptrace hook that records whether a connection was requested and
// obtained (only such a request needs to know, see neverSent; a hook
// costs every request that carries one).
//
// It deliberately does not implement CloseIdleConnections: retryablehttp
// calls that on the inner client after every failed call, which would
// close the whole shared pool. Callers that want it use the outer client,
// whose transport forwards it to the base transport.
type connTracer struct {
	base http.RoundTripper
}

func (t *connTracer) RoundTrip(req *http.Request) (*http.Response, error) {
	if idempotent(req) {
		return t.base.RoundTrip(req)
	}
	st := callStateFrom(req.Context())
	if st == nil {
		return t.base.RoundTrip(req)
	}
	st.askedConn.Store(false)
	st.gotConn.Store(false)
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { st.askedConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { st.gotConn.Store(true) },
	}
	return t.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

// neverSent reports whether an attempt that failed with err provably did
// not reach the server, so even a POST may be sent again: the dial or the
// DNS lookup failed, or the transport (one that reports httptrace events,
// as net/http's does) asked for a connection and never got one, e.g.
// because the TLS handshake or the proxy failed.
func neverSent(err error, st *callState) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	return st.askedConn.Load() && !st.gotConn.Load()
}

// retriesDisabled reports whether ctx came from glue.WithoutRetries: its
// requests are sent exactly once, whatever the [RetryPolicy] says, for
// callers that run their own retry loop (a create that must look up
// whether an ambiguous attempt took effect before it sends another).
// Redirects are still followed.
func retriesDisabled(ctx context.Context) bool { return glue.RetriesDisabled(ctx) }
