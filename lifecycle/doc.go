// Package lifecycle is the client of the sandbox lifecycle API (/v1): it
// creates sandboxes from images or snapshots, lists and inspects them,
// pauses, resumes, renews and deletes them, manages snapshots, hands out
// endpoints, waits for state changes and keeps sandboxes alive.
//
//	c, err := lifecycle.New(sandboxkit.WithAPIKey(key))
//	sb, err := c.CreateAndWait(ctx, &lifecycle.CreateRequest{
//		Image:          &lifecycle.Image{URI: "python:3.12"},
//		Entrypoint:     []string{"python", "-m", "http.server"},
//		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
//		Timeout:        time.Hour,
//	}, nil)
//
// Methods take (ctx, required arguments..., opts) and return the
// package's own types; a nil opts means defaults. Arguments are checked
// before anything is sent: an empty or path-escaping id, a port outside
// 1..65535, an expiry not in the future, a negative page size or an
// unknown state filter fail with an error matching
// [sandboxkit.ErrInvalidInput]. Answers with status 400 or more are
// [*sandboxkit.APIError] errors matching the sentinels of package sandboxkit
// (errors.Is(err, sandboxkit.ErrNotFound), ...), named after the operation
// ("sandboxkit: lifecycle.Get: 404 ...").
//
// # States
//
// [State] has a constant for each of the eight documented states. A state
// the service adds later is passed through as it is ([State.Known]
// reports false); nothing in this package fails on it.
//
// # Metadata filters
//
// [ListOptions.Metadata] selects sandboxes holding all the given pairs. It
// travels as one query parameter whose value is itself a query string of
// URL-encoded keys and values ([EncodeMetadataFilter] has the details and
// the wire form of the reference's project=Apollo, note=Demo Test
// example).
//
// # Creating exactly once
//
// [Client.Create] never makes two sandboxes for one call, even when an
// attempt's outcome is ambiguous (the connection dropped after the request
// was sent, a 5xx, an attempt timeout). Every attempt carries a client
// token in the metadata under [ClientTokenKey] ("sandboxkit.dev/client-token");
// before sending the request again after an ambiguous attempt, Create
// looks the token up and returns the sandbox the earlier attempt made, if
// any. Passing [CreateOptions.ClientToken] extends the guarantee across
// calls: concurrent calls with one token through one [sandboxkit.Config]
// collapse into one create, and any later call returns the sandbox the
// token already made. Across processes the lookup narrows the window but
// cannot close it (see [Client.Create]). The token stays in the sandbox's
// metadata.
//
// # Lifetimes
//
// Every sandbox expires unless asked otherwise: a zero
// [CreateRequest.Timeout] means [DefaultSandboxTimeout] (10 minutes), and
// a sandbox that lives until deleted needs [CreateRequest.NeverExpires].
// [Client.Renew] sets the expiry to any time in the future, earlier ones
// included; a [Renewer] only ever extends it.
//
// The other state-changing calls recover the same way, by reading state
// rather than repeating blindly. After an ambiguous attempt,
// [Client.Pause], [Client.Resume] and [Client.Delete] get the sandbox:
// if its state shows the change (Pausing or Paused; Resuming or Running;
// Stopping, Terminated or gone) they succeed, if it is still where the
// change starts they send it again (at most four requests in all), and
// otherwise they return a [*sandboxkit.OutcomeError]. [Client.Renew] succeeds once
// the expiry in force reaches the one asked for and sends the renewal
// again while it does not. A 409 to a repeated request is settled the
// same way; a 409 to the first is returned as it is. The ...AndWait calls
// inherit this.
//
// # Runtimes
//
// The states and transitions above are the API's; deployments show
// different parts of them. OpenSandbox's Kubernetes runtime may read
// Pending, or Allocated (a state this package does not name; waiters wait
// through it), before Running, and goes through Pausing and Resuming; a
// deleted or expired sandbox keeps reading the state it had (the spec's
// Stopping is never reported) until it is not found. Its Docker runtime
// does each change before it answers: a create answers Running, a pause
// Paused, a resume Running, and a deleted or expired sandbox is not found
// (404) at once; Terminated
// and Failed there mean the entrypoint exited (with 0 or another code),
// except that an expiring sandbox is killed before it is removed, so a
// read in between shows it Failed with exit code 137.
// Code written against this package works with both: wait for states
// with the ...AndWait calls or a [Waiter] rather than expecting an
// intermediate one, and treat not found after a delete as done.
//
// # Waiting
//
// Waits speak the SDK's shared vocabulary (package sandboxkit's wait.go),
// the same in every façade: options are a [*sandboxkit.WaitOptions] (nil
// means the defaults), progress goes to its OnTransition as a
// [sandboxkit.Transition], and a wait ends with the awaited resource, a
// [*sandboxkit.StateError] or a [*sandboxkit.WaitTimeoutError].
//
//	w := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{MaxDelay: time.Second})
//	sb, err := w.Wait(ctx, id, lifecycle.StateRunning)
//
// [NewWaiter] makes a [Waiter] that polls [Client.Get] with jittered
// exponential backoff between MinDelay and MaxDelay until the sandbox
// reaches an awaited state, trimming the last pause so a final poll
// happens before ctx's deadline, tolerating transient errors (5xx, 429,
// network) up to MaxTransient, and reporting every observed state change
// to OnTransition (Kind [KindSandbox], Observed the *[Sandbox] read). A
// wait ends early with a [*sandboxkit.StateError] (errors.Is(err,
// [sandboxkit.ErrUnexpectedState])) when the awaited states can no longer
// follow:
//
//	Awaiting           Done at               Fails at once at
//	Running            Running               Failed, Terminated, Stopping, 404,
//	                                         Paused entered from another state
//	Paused             Paused                Failed, Terminated, Stopping, 404,
//	                                         Running entered from another state
//	Terminated         Terminated or 404     Failed
//	any set of states  any of them           Failed or Terminated unless awaited;
//	                                         Stopping unless Terminated is awaited;
//	                                         404 unless Terminated is awaited;
//	                                         Running or Paused, not awaited,
//	                                         entered from another state
//
// "Entered from another state" means a change was observed: a sandbox
// that goes Pausing → Running was resumed by someone else and will not
// pause by itself. A stable state seen on the first poll is not held
// against the wait (a pause or resume just accepted may not show yet);
// Pending, Pausing, Resuming and unknown states are waited through. A 404
// gives a StateError with an empty State that also matches
// [sandboxkit.ErrNotFound]. When the wait's time is up
// ([sandboxkit.WaitOptions.Timeout], 15 minutes by default) or ctx ends
// first, the error is a [*sandboxkit.WaitTimeoutError] (errors.Is(err,
// [sandboxkit.ErrWaitTimeout])) carrying the last observed state and
// wrapping the context's error. Both errors name the call in Op
// ("lifecycle.Waiter.Wait", "lifecycle.PauseAndWait", ...).
// [Client.CreateAndWait], [Client.PauseAndWait], [Client.ResumeAndWait]
// and [Client.DeleteAndWait] combine an action with the matching wait;
// once its delete is accepted, DeleteAndWait waits through every state
// (Failed included) until Terminated or 404.
//
// [NewSnapshotWaiter] makes a [SnapshotWaiter] that waits the same way
// for a snapshot (Kind [KindSnapshot]), usually until it is Ready:
// Creating and unknown states are waited through; Failed and Deleting
// (unless awaited) and 404 end it at once with a
// [*sandboxkit.StateError]. [Client.CreateSnapshotAndWait] snapshots a
// sandbox and waits for Ready.
//
// A state-changing call whose outcome stays unknown (see above) ends
// with a [*sandboxkit.OutcomeError] (errors.Is(err,
// [sandboxkit.ErrOutcomeUnknown])): ID names the sandbox for Pause,
// Resume, Renew and Delete; for Create, Token is the client token to
// call Create again with.
//
// # The sandbox API inside a sandbox
//
// [Client.SandboxClient] returns a [sandbox.Client] for the API that
// listens on [SandboxAPIPort] inside a sandbox, at the address its
// endpoint names. That client gets the endpoint's headers as credential
// headers of the endpoint's origin, plus what its options give (a token
// for a gateway that wants one), and never the lifecycle API key.
//
//	api, err := c.SandboxClient(ctx, sb.ID)
//	h, err := api.WaitReady(ctx, nil)
//
// # Keeping sandboxes alive
//
// A [Renewer] keeps one sandbox alive from its own goroutine; a
// [RenewerPool] keeps thousands alive from one scheduler goroutine and a
// few workers. Both read the current expiry before renewing and only ever
// extend it; see [RenewerOptions] for the schedule. Renewals and retried
// errors are reported to callbacks; a renewer stops with a
// [*RenewStoppedError] saying why (not found, terminated, failed, context
// done, stopped). They run on the wall clock unless [RenewerOptions.Clock]
// gives another, such as the manual clock of a mock server.
//
// # Testing code that uses this package
//
// Waiters and renewers accept small interfaces ([Getter], [RenewerAPI]),
// and [API] covers every method of [*Client]. Package mocklifecycle holds
// go.uber.org/mock mocks of all of them.
package lifecycle
