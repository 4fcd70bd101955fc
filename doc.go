// Package sandboxkit is a Go SDK for AI code sandboxes. This root package
// holds what its three API clients share: options, configuration and
// credentials, the retry policy, typed errors and the wait vocabulary.
// The clients live below it:
//
//   - [github.com/sandboxkit/sandboxkit/lifecycle]: create, watch, pause,
//     resume, renew and delete sandboxes through the lifecycle API (/v1).
//   - [github.com/sandboxkit/sandboxkit/sandbox]: the API that runs inside one
//     sandbox (health, upgrade, filesystem, processes, terminal, network).
//   - [github.com/sandboxkit/sandboxkit/controlplane]: the control plane's
//     sandboxes resource (/v0).
//   - [github.com/sandboxkit/sandboxkit/fleet]: warm pools, leases and
//     renewals shared by many worker processes.
//   - [github.com/sandboxkit/sandboxkit/mockserver]: a stateful mock of all
//     three APIs for tests, in-process or as the sandboxmock command.
//
// Application code imports this package for its options ([WithAPIKey],
// [WithToken], [WithBaseURL], ...), its errors ([*APIError], [ErrNotFound],
// ...) and [WaitOptions]. The clients turn their options into a [*Config]
// with [NewConfig] and send every request through [Config.HTTPClient].
//
// # Credentials
//
// Credentials live only inside a [Config] and the transport built from it.
// No accessor returns them, [Config] prints and logs them as [REDACTED], and
// the transport adds them to a request only when the request goes to the
// configured base URL's origin (scheme, host and port). When a redirect
// leaves that origin, every credential header is removed before the
// redirected request is sent, and a redirect to a scheme other than http
// and https is not followed at all.
//
// Where each credential may go:
//
//   - The lifecycle API key ([WithAPIKey], or $OPEN_SANDBOX_API_KEY),
//     sent as OPEN-SANDBOX-API-KEY: to the lifecycle base URL's origin
//     only. It never becomes another API's credential.
//   - The control plane token and workspace ([WithToken],
//     [WithWorkspace], or $BL_API_KEY and $BL_WORKSPACE), sent as
//     Authorization: Bearer and X-Blaxel-Workspace: to the control plane's
//     origin, and to a sandbox's URL only through [Config.ForSandbox]
//     (controlplane.Client.SandboxClient), which allows the control
//     plane's own origin, loopback when the control plane is on loopback,
//     Blaxel's sandbox domains for the hosted service, and the hosts of
//     [WithSandboxHosts].
//   - A sandbox API token ([WithToken]): to that sandbox's origin. A
//     sandbox API configuration reads $BL_API_KEY and $BL_WORKSPACE only
//     with [WithEnvCredentials]: they are the control plane's.
//   - Credential headers ([WithCredentialHeader], and [WithHeader] for
//     names that mark a credential, such as the OpenSandbox-Secure-Access
//     and OpenSandbox-Ingress-To headers a lifecycle endpoint names): to
//     the base URL's origin only.
//
// None of them goes over plain http to a host that is not local (a
// loopback address, localhost, or a name under .localhost, .test or
// .invalid) unless [WithInsecureHTTP] says so.
//
// Errors and log records never show a credential: the transport replaces
// the configured credential, the credential header values and the URL
// tokens of [WithURLToken] (and the token of a /signed/<token>/ route) by
// [REDACTED] wherever a server echoes them, written plainly or escaped
// (JSON, Go quoting, percent-encoding, HTML), in [APIError] fields, in
// transport errors (returned by the façades) and in retry log records.
// What a server echoes of the request body (the lifecycle server's
// validation reports repeat it whole) is dropped from errors.
//
// # Timeouts and answer sizes
//
// Each attempt of a unary call has [DefaultTimeout] (2 minutes) from the
// moment its request is sent to the end of its answer ([WithTimeout]);
// streams, which the façades mark as such, have instead an idle
// timeout, [DefaultStreamIdleTimeout] (90 s), on the wait for their first
// byte and each read's wait for more ([WithStreamIdleTimeout]).
// [WithoutTimeouts] turns both off. An attempt that runs out fails with
// [ErrTimeout] and is not retried, so even with context.Background() a
// call ends. A unary answer is read up to [DefaultMaxResponseSize]
// (64 MiB) after decompression ([WithMaxResponseSize]); beyond it the call
// fails with [ErrResponseTooLarge]. A 101 Switching Protocols answer to a
// request that asked for no upgrade fails at once.
//
// # Retries
//
// Requests that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE, or any
// request carrying an Idempotency-Key header) are retried after connection
// errors and after 429, 500, 502, 503 and 504 answers. POST and PATCH are
// retried only when the request provably never reached the server (the
// connection could not be made) or the server answered 429 or 503, which
// say the request was not processed. A Retry-After header on 429 and 503 is
// honoured up to [RetryPolicy.RetryAfterCap]; otherwise the wait is a
// jittered exponential backoff between [RetryPolicy.MinDelay] and
// [RetryPolicy.MaxDelay]. No retry starts when its wait would end after the
// context's deadline, and a cancelled context ends the call at once with the
// context's error. A façade call that runs its own retry loop (the
// exactly-once create) sends each of its attempts once.
//
// # Errors
//
// Every final answer with a status of 400 or more is returned as an
// [*APIError] error instead of a response, so callers can use [errors.As]
// and [errors.Is] with the sentinels ([ErrNotFound], [ErrConflict], ...).
// The error bodies of all three APIs are understood: the lifecycle
// server's {code, message} with namespaced codes (DOCKER::…, SANDBOX::…),
// FastAPI validation reports ({"detail": [...]}, in [APIError.Fields],
// matching [ErrBadRequest]), the sandbox API's {"error": "..."}, and the
// control plane's gateway envelope and create errors (code, message,
// retryable, reason). The façades' errors name the operation, e.g.
// "sandboxkit: lifecycle.Get: 404 ...".
package sandboxkit
