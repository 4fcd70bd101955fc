// Package controlplane manages sandboxes through the control plane's
// sandboxes resource (https://api.blaxel.ai/v0/sandboxes): create, read,
// list, update and delete them, wait for them to deploy or go away, change
// their lifetime, get-or-create them by name, and open the sandbox API of
// one of them.
//
// # Configuration
//
// [New] takes the options of package client. What no option gives comes
// from the environment (unless [client.WithoutEnvironment] is given):
//
//   - BL_API_KEY: the bearer token ([client.WithToken]);
//   - BL_WORKSPACE: the workspace, sent in the X-Blaxel-Workspace header
//     ([client.WithWorkspace]);
//   - BL_API_URL: the base URL ([client.WithBaseURL]), by default
//     https://api.blaxel.ai/v0.
//
// Credentials live in the transport: they reach only the base URL's origin
// (and, through [Client.SandboxClient], the sandbox's own URL), never an
// error message or a log line. Every answer with a status of 400 or more is
// a [*client.APIError]; match it with errors.Is and the sentinels of
// package client ([client.ErrNotFound], [client.ErrConflict], ...). Bad
// arguments (an empty name, a negative memory size, a policy value such as
// "24 hours") fail before anything is sent, with an error matching
// [client.ErrInvalidInput].
//
// # Sandboxes and unknown fields
//
// A [Sandbox] has the fields the service documents. The service has more,
// and adds some over time: a Sandbox read from it keeps the JSON members
// this package does not model, at every level, and [Client.Update] sends
// them back unchanged. So a read-modify-write through this package does not
// reset settings it does not know about. [Status] values this package does
// not know are kept as they came.
//
// # Durations
//
// The service documents lifetimes as a number with one unit: m, h, d or w
// ("30m", "24h", "7d", "2w"). [ParseDuration] accepts those and Go
// durations such as "1h30m"; it rejects everything else ("24 hours",
// "1.5d", "0m", "-1h"). [FormatDuration] writes only the documented forms,
// rounding up to a whole minute. Dates (runtime.expires, date policies) are
// RFC 3339.
//
// # Waiting
//
// [Client.WaitDeployed] and [Client.WaitDeleted] (and [DeployedWaiter] and
// [DeletedWaiter], which take any [Getter]) poll with jittered
// exponential backoff until the status is reached or the context ends.
// Waiting for DEPLOYED fails at once with a [*StateError] on FAILED,
// DEACTIVATED, DELETING or TERMINATED. A sandbox counts as deleted when it
// is TERMINATED or the service answers 404.
//
// # Lifetime
//
// [Client.SetTTL], [Client.SetExpirationPolicies] and [Client.ExtendTTL]
// read the sandbox, change only its lifetime settings and write it back,
// unknown fields included. A 409 answer to the write is taken as a
// concurrent update: they read again and retry, a bounded number of times
// (see [LifetimeOptions]). ExtendTTL only ever pushes deadlines out; the
// two others refuse to tighten a limit (a lower maximum age, a shorter idle
// time, an earlier date, or a first limit on a sandbox that had none)
// unless [LifetimeOptions.AllowShorten] is set.
//
// # Get or create
//
// [Client.EnsureSandbox] returns the named sandbox once it is DEPLOYED,
// creating it if it is missing and re-creating it if it was deleted. Calls
// for the same name through one Client share their requests, and a create
// conflict from another process is resolved by awaiting the sandbox that
// won, so concurrent calls end up with one sandbox.
//
// # Mocks
//
// Every capability has a small interface ([Getter],
// [Creator], ..., and [API] for all of them); package
// controlplane/mockcontrolplane has typed gomock mocks of them.
package controlplane
