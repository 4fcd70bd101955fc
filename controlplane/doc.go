// Package controlplane manages sandboxes through the control plane's
// sandbox resource (https://api.blaxel.ai/v0): create, read (by name or by
// the caller's own external id), list, update and delete them; wait for
// them to deploy or go away; change their lifetime; get-or-create them by
// name; snapshot and fork them; expose their ports at preview URLs with
// access tokens; run commands in them on a schedule; list the Sandbox
// Hub's templates; and open the sandbox API of one of them.
//
// # Configuration
//
// [New] takes the options of package sandboxkit. What no option gives comes
// from the environment (unless [sandboxkit.WithoutEnvironment] is given):
//
//   - BL_API_KEY: the bearer token ([sandboxkit.WithToken]);
//   - BL_WORKSPACE: the workspace, sent in the X-Blaxel-Workspace header
//     ([sandboxkit.WithWorkspace]);
//   - BL_API_URL: the base URL ([sandboxkit.WithBaseURL]), by default
//     https://api.blaxel.ai/v0.
//
// Credentials live in the transport: they reach only the base URL's origin
// (and, through [Client.SandboxClient], the sandbox's own URL), never an
// error message or a log line. Every answer with a status of 400 or more is
// a [*sandboxkit.APIError]; match it with errors.Is and the sentinels of
// package sandboxkit ([sandboxkit.ErrNotFound], [sandboxkit.ErrConflict], ...). Its
// Code is the service's: the gateway's (WORKLOAD_NOT_FOUND,
// ROUTE_NOT_FOUND, WORKLOAD_UNAVAILABLE, AUTHENTICATION_...) or, for a
// failed create, the create error's (INVALID_IMAGE, ...). Bad arguments (an
// empty name, a negative memory size, a policy value such as "24 hours")
// fail before anything is sent, with an error matching
// [sandboxkit.ErrInvalidInput].
//
// # Sandboxes and unknown fields
//
// A [Sandbox] has every field the service documents: metadata (name,
// external id, labels...), spec (region, VPC, runtime, lifecycle, network,
// volumes) and the read-only status, state (RUNNING or STANDBY),
// infrastructure errors and events. The runtime has no CPU setting: the
// service gives one CPU per 2048 MB of memory. The service has more fields
// and adds some over time: a Sandbox read from it keeps the JSON members
// this package does not model, at every level, and [Client.Update] sends
// them back unchanged, so a read-modify-write does not reset settings it
// does not know about. [Status] and [State] values this package does not
// know are kept as they came.
//
// # Lists
//
// [Client.List] asks for the paged answers of API version
// [PagedAPIVersion]: one page of at most [MaxListLimit] sandboxes
// ([DefaultListLimit] by default), newest first unless [ListOptions.Sort]
// says otherwise, with TERMINATED sandboxes left out unless
// [ListOptions.ShowTerminated] or [ListOptions.Statuses] asks for them,
// filtered by status, external id and a search text; the next page comes
// with [SandboxPage.NextCursor]. [Client.All] walks every page. An older
// service answers one plain array of every sandbox; List then applies the
// options itself, so callers see the same pages ([SandboxPage.Unpaged]
// says so). [Client.ListSchedules] works the same way.
//
// # Creating exactly once
//
// A name identifies one live sandbox. [Client.Create] never makes two and
// never reports a failure for a sandbox it made: when an answer is lost
// after the request was sent (a broken connection, a timeout, a 502 of a
// gateway) it reads the sandbox back by name and returns it if it is the
// one the call made (same [Metadata.ExternalID], created since the call
// began), sends the request again if there is none, and reports a
// conflict if the name is someone else's. Only when the read-back itself
// cannot tell is the error a [*sandboxkit.OutcomeError] (its Token is the
// sandbox's name). [CreateOptions.IfNotExist]
// asks the service for the existing live sandbox instead of a conflict.
//
// [Client.EnsureSandbox] returns the named sandbox once it is DEPLOYED,
// creating it (with IfNotExist) if it is missing and re-creating it if it
// was deleted. Calls for the same name through one Client share their
// requests, and callers elsewhere end up with the same sandbox.
//
// # Durations
//
// The service takes lifetimes as a whole number and one unit: s, m, h, d
// or w ("90s", "30m", "24h", "7d", "2w"). [ParseDuration] accepts exactly
// those; "1h30m", "1.5d", "24 hours", "0m" and "-1h" are errors.
// [FormatDuration] writes them, rounding up to a whole second; a duration
// of zero or less is an error. Dates (runtime.expires, date policies) are
// RFC 3339.
//
// # Waiting
//
// A [Waiter] ([NewWaiter] takes any [Getter] and a
// [*sandboxkit.WaitOptions], nil for the defaults) polls a sandbox with
// jittered exponential backoff until its status is one of those awaited,
// and reports every status change to [sandboxkit.WaitOptions.OnTransition]:
//
//	sb, err := controlplane.NewWaiter(c, nil).Wait(ctx, "agent", controlplane.StatusDeployed)
//
// A sandbox that is gone (404) has the status [StatusGone]; a deleted
// sandbox is awaited as TERMINATED or gone, since the service keeps a
// TERMINATED sandbox visible for its [Lifecycle.TerminatedRetention] (by
// default [DefaultTerminatedRetention]). The wait ends early with a
// [*sandboxkit.StateError] when no awaited status can follow (waiting for
// DEPLOYED fails at once on FAILED, DEACTIVATED, DELETING, TERMINATED or
// gone), and with a [*sandboxkit.WaitTimeoutError] when its time is up
// ([sandboxkit.WaitOptions.Timeout], 15 minutes by default, or the
// context). [Client.CreateAndWait], [Client.DeleteAndWait] and
// [EnsureOptions.Wait] take the same options.
//
// # Lifetime
//
// [Client.SetTTL], [Client.SetExpirationPolicies] and [Client.ExtendTTL]
// read the sandbox, change only its lifetime settings and write it back,
// unknown fields included. A 409 answer to the write is taken as a
// concurrent update: they read again and retry, a bounded number of times
// (see [LifetimeOptions]). SetTTL and SetExpirationPolicies refuse with
// [ErrShortensLifetime] to tighten a limit the sandbox has (a lower
// maximum age, a shorter idle time, an earlier date) or to add one that is
// due already, unless [LifetimeOptions.AllowShorten] is set; adding a kind
// of limit the sandbox did not have (a first TTL) is allowed, as it is
// what the call asks for. ExtendTTL pushes each fixed deadline (maximum
// ages and dates) out just far enough and leaves idle rules alone.
//
// # Previews, schedules, snapshots
//
// A [Preview] exposes one port of a sandbox at a URL of its own; a
// private one wants a [PreviewToken] with each request, in the
// [PreviewTokenHeader] header or the [PreviewTokenParam] query parameter.
// [Client.PreviewHTTPClient] adds the header for the preview's origin
// only; [Preview.URLWithToken] makes a link for a browser. A [Schedule]
// starts a command in a sandbox at set times (cron, at, or after a
// delay); [Client.ListScheduleExecutions] shows the runs. Snapshots
// ([Client.CreateSnapshot]) capture a sandbox, which [Client.Fork] copies
// into a new sandbox or an application.
//
// # Mocks
//
// Every capability has a small interface ([Getter], [Creator], ...,
// [PreviewManager], [ScheduleManager], and [API] for all of them);
// package controlplane/mockcontrolplane has typed gomock mocks of them.
// Package mockserver simulates the whole resource for tests.
package controlplane
