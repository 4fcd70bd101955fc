// Package client holds what the three sandboxkit API clients share:
// configuration and credentials, the retrying HTTP transport, typed errors
// and input validation.
//
// Application code rarely imports this package directly except for its
// options and errors. The façade packages (lifecycle, sandbox,
// controlplane) turn their options into a [*Config] with [NewConfig] and
// send every request through [Config.HTTPClient].
//
// # Credentials
//
// Credentials live only inside a [Config] and the transport built from it.
// No accessor returns them, [Config] prints and logs them as [REDACTED], and
// the transport adds them to a request only when the request goes to the
// configured base URL's origin (scheme, host and port). When a redirect
// leaves that origin, every credential header is removed before the
// redirected request is sent.
//
// # Retries
//
// Requests that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE, or any
// request carrying an Idempotency-Key header) are retried after connection
// errors and after 429, 502, 503 and 504 answers. POST and PATCH are
// retried only when the request provably never reached the server (the
// connection could not be made) or the server answered 429 or 503, which
// say the request was not processed. A Retry-After header on 429 and 503 is
// honoured up to [RetryPolicy.RetryAfterCap]; otherwise the wait is a
// jittered exponential backoff between [RetryPolicy.MinDelay] and
// [RetryPolicy.MaxDelay]. No retry starts when its wait would end after the
// context's deadline, and a cancelled context ends the call at once with the
// context's error. A request whose context comes from [WithoutRetries] is
// sent once, for callers that run their own retry loop.
//
// # Errors
//
// Every final answer with a status of 400 or more is returned as an
// [*APIError] error instead of a response, so callers can use [errors.As]
// and [errors.Is] with the sentinels ([ErrNotFound], [ErrConflict], ...).
// Façades pass their errors through [Wrap] to name the operation.
package client
