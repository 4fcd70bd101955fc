// Package mockserver is a stateful, in-process mock of the three APIs
// sandboxkit talks to: the lifecycle API, the control plane's sandboxes
// resource, and the sandbox API that runs inside every sandbox. Test code
// against it instead of the real services: it speaks the same wire format
// (it is built on the same OpenAPI documents as the clients), runs the
// same state machines and answers the same errors, and it adds what tests
// need: a clock to move by hand, control over how long transitions take,
// fault injection, a journal of requests, seeding and inspection.
//
// # Use in tests
//
//	srv := mockserver.Start(t, mockserver.WithManualClock(start))
//	cfg, err := client.NewConfig(client.Lifecycle, srv.ClientOptions(client.Lifecycle)...)
//	// ... create a sandbox, then:
//	srv.Advance(mockserver.DefaultTransitionDelay) // Pending → Running
//
// [Start] builds a server for one test and closes it at the end; [New]
// is the same for other uses. By default the server has no socket:
// [Server.URL] is the fake origin http://sandboxkit-mock.test and
// [Server.HTTPClient] returns a client whose transport calls the server in
// memory. That transport streams response bodies, honours the request's
// context, and starts no goroutine that outlives a request, so the server
// works inside a testing/synctest bubble (with the default real clock, a
// bubble's fake time drives its timers). [WithListener] also serves on
// TCP (then URL is http://host:port); [Server.Handler] lets you serve it
// yourself (set [WithBaseURL] then). [Server.ClientOptions] returns the
// sandboxkit client options that point a client at the server.
//
// # URL layout
//
//	{URL}/v1/...                                       lifecycle API
//	{URL}/v0/...                                       control plane (sandboxes)
//	{URL}/sandboxes/{id}/port/{port}/...               sandbox API of lifecycle sandbox id (endpoint)
//	{URL}/v1/sandboxes/{id}/proxy/{port}/...           the same through the lifecycle server (use_server_proxy=true)
//	{URL}/signed/{token}/sandboxes/{id}/port/{port}/... the same as a signed route (expires=...)
//	{URL}/cp/{tenant}/{name}/...                       sandbox API of control plane sandbox name (metadata.url)
//	{URL}/preview/{tenant}/{name}/{preview}/...        a port of control plane sandbox name (a preview's spec.url)
//
// GET /v1/sandboxes/{id}/endpoints/8080 answers {"endpoint":
// "{host}/sandboxes/{id}/port/8080"}, without scheme as upstream does;
// prefix "http://" to use it. Only port 8080 (the sandbox API) has
// something listening; other ports answer 502. The control plane's
// metadata.url is a full URL. A control plane preview of port 8080 reaches
// the sandbox API; other ports reach what [Server.HandleControlPlanePort]
// registered, else 502. A lifecycle sandbox's API answers while the
// sandbox is Running (or still Pausing), 503 while it is Pending, Paused,
// Resuming or Failed, 404 once it is Stopping or Terminated; a control
// plane sandbox's while DEPLOYED, 503 before, 404 once DELETING.
//
// # State machines and timing
//
// Lifecycle sandboxes go Pending → Running, Running → Pausing → Paused,
// Paused → Resuming → Running, any state but Stopping and Terminated →
// Stopping → Terminated (delete or expiry), and Pending, Running, Paused
// and Resuming → Failed ([Server.FailSandbox]). Pausing a sandbox that is
// not Running, resuming one that is not Paused, deleting one that is
// Stopping or Terminated, snapshotting one that is not Running, renewing
// or patching one that is terminating, and deleting a snapshot that is
// still Creating are 409. Renewal needs a time in the future (else 400)
// and after the current expiry (else 409). Terminated sandboxes stay
// visible for [DefaultRetention] ([WithRetention]), then answer 404.
// Snapshots go Creating → Ready and Deleting → gone. Control plane
// sandboxes go DEPLOYING → DEPLOYED and, on delete, DELETING → TERMINATED
// → gone after their spec.lifecycle.terminatedRetention (default
// [DefaultTerminatedRetention], five minutes, as on the service;
// [WithRetention] does not apply); their expiration policies
// (ttl-max-age, ttl-idle, date, and spec.runtime.ttl/expires) delete them
// on the server's clock, and expiresIn counts down to the earliest. A
// create of a name held by a FAILED or TERMINATED sandbox replaces it;
// one held by a live sandbox is 409 (with reason CREATION_IN_PROGRESS
// while it is being created), or with createIfNotExist=true answers it.
// Control plane snapshots go pending → ready ([TransitionSnapshotCreate]).
// Schedules run on the server's clock: when one falls due its command is
// started through the sandbox's API (POST /process) and the run recorded
// with the answer's status (0 when the sandbox is not DEPLOYED).
//
// Every asynchronous transition takes [DefaultTransitionDelay] on the
// server's clock. [WithTransitionDelay] changes that for all of them and
// [WithTransition] for one kind: [Immediate] (the answer already shows the
// final state), [After] a delay, or [Manual] (the transition waits for
// [Server.Step] or [Server.StepAll]; [Server.PendingTransitions] lists
// what waits). [WithManualClock] replaces the wall clock by one that moves
// only in [Server.Advance], which runs every expiry, retention and timed
// transition that falls due, in time order, before it returns. The
// sandbox API simulators run on the same clock (their process sleeps,
// timeouts and upgrade steps move with Advance too).
//
// # Test controls
//
//   - Faults: [Server.InjectFault] makes matching requests (by API and
//     operation name) answer a status and body, wait, drop the connection,
//     or fail after the operation took effect (AfterCommit: the ambiguous
//     create), for the first N requests or with a seeded probability.
//   - Journal: [Server.Journal], [Server.Requests] and [Server.Count] show
//     every request (API, operation, method, path, status, request id,
//     tenant, fault), including 401s and unknown routes; domain facts for
//     invariant checks are in [Server.Creations], [Server.CreationCounts],
//     [Server.Renewals] and [Server.Deletions].
//   - Seeding and inspection: [Server.AddSandbox], [Server.AddSnapshot] and
//     [Server.AddControlPlaneSandbox] add resources in any state;
//     [Server.HandleControlPlanePort] puts a handler behind a port of a
//     control plane sandbox, for its previews;
//     [Server.Sandbox], [Server.Sandboxes], [Server.Snapshot],
//     [Server.Snapshots], [Server.ControlPlaneSandbox] and
//     [Server.ControlPlaneSandboxes] read them.
//   - Upgrades: [Server.ScriptUpgrade] makes the next upgrade of one
//     sandbox's API fail at a step (with the real server's error text),
//     take other durations or install another version.
//   - Clock: [Server.Clock] hands the server's clock to a
//     [lifecycle.Renewer] or [lifecycle.RenewerPool]
//     (RenewerOptions.Clock), so that on a manual clock renewals fall due
//     inside [Server.Advance] like everything else.
//   - Tenants: [WithTenant] maps API keys to tenants. With tenants, a
//     missing or unknown credential is 401 and another tenant's sandboxes
//     are 404; without, the server is open and everything belongs to
//     [DefaultTenant].
//
// Every answer carries X-Request-ID (a new UUID, or the client's own
// X-Request-ID when it sent one). Error bodies have the shape of their
// API: lifecycle {"code","message"}; control plane the gateway's envelope
// {"error":{"code","message","origin","retryable","action","do_not",
// "status"}} (codes WORKLOAD_NOT_FOUND, ROUTE_NOT_FOUND,
// WORKLOAD_UNAVAILABLE, AUTHENTICATION_REQUIRED/FAILED, and INVALID_REQUEST,
// NOT_FOUND, CONFLICT, RATE_LIMITED, INTERNAL_ERROR for the rest), except a
// failed create: {"code","message","sandbox_name","status_code","step",
// "timestamp","workspace"} with codes INVALID_NAME, INVALID_EXTERNAL_ID,
// INVALID_SPEC, ALREADY_EXISTS; sandbox API {"error"}. Unknown routes get
// a plain-text 404 (ROUTE_NOT_FOUND under /v0). Requests the generated
// servers cannot decode (bad JSON, schema violations, bad parameters) are
// 400 in the API's shape.
//
// The command sandboxmock (mockserver/cmd/sandboxmock) serves the mock on
// TCP for other processes.
//
// # Differences from the real services
//
// The mock is faithful where clients can observe it and simple elsewhere.
// Known differences:
//
// Lifecycle API
//   - Delete is accepted in every state but Stopping and Terminated
//     (upstream documents Running/Paused → Stopping), expiry applies in
//     the same states, and a Failed sandbox can be deleted.
//   - No container runs: image, platform, resource limits, network policy,
//     volumes, credential proxy and secureAccess are accepted (and echoed
//     where the API echoes them) but change nothing; secureAccess adds no
//     endpoint headers, and access.renew.extend.seconds is validated but
//     renew-on-access is not simulated. Snapshots do not pause their
//     source and never fail by themselves (seed a Failed one).
//   - Metadata keys and values are not checked against the Kubernetes
//     label rules upstream applies; only empty keys and the reserved
//     opensandbox.io/ prefix are rejected. Concurrent metadata patches
//     never lose updates (upstream warns they may).
//   - Lists are in creation order; state filters ignore case (as
//     upstream); pageSize above 200 is a 400 (upstream may answer 422).
//   - The server-proxy endpoint is {host}/v1/sandboxes/{id}/proxy/{port}
//     and accepts the lifecycle key as the sandbox API credential; signed
//     routes use the mock's own token format (not OSEP-0011's) and carry
//     no headers. Any port gets an endpoint, only 8080 answers.
//   - Creating from an unknown snapshot is 400 SNAPSHOT_NOT_FOUND, from a
//     snapshot that is not Ready 409; error codes are INVALID_REQUEST,
//     INVALID_METADATA_FORMAT, UNAUTHORIZED, NOT_FOUND, CONFLICT and
//     INTERNAL_ERROR, which may be coarser than upstream's. 403 is never
//     answered.
//   - Times on the wire have whole-second precision.
//
// Control plane (the sandbox resource: all 25 operations)
//   - Statuses move DEPLOYING → DEPLOYED and DELETING → TERMINATED;
//     UPLOADING, BUILDING, BUILT, FAILED and DEACTIVATED happen only when
//     seeded. An update does not redeploy. state is RUNNING while
//     DEPLOYED and absent otherwise: nothing scales to zero (STANDBY).
//     errors[] stays empty (no infrastructure fails); nodeGeneration is
//     always mk3.1; plan is never set.
//   - The tenant of the bearer token is the namespace of names;
//     X-Blaxel-Workspace is only reported back in metadata.workspace, and
//     createdBy/updatedBy are the tenant's name. meta.total counts the
//     tenant's sandboxes.
//   - metadata.url is {URL}/cp/{tenant}/{name} and a preview's URL
//     {URL}/preview/{tenant}/{name}/{preview}, not hosts of their own;
//     previews have no custom domains (prefixUrl and customDomain are
//     kept and checked for clashes only), region is "mock". Only sandbox
//     API and preview requests through the mock count as use for
//     ttl-idle.
//   - Secret environment values are answered as stored: the service
//     masks them unless show_secrets (admins only), which the mock
//     ignores. Preview token lists omit the tokens' values (only the
//     create answer has one); whether the service includes them is not
//     documented. A preview token is required to have spec.expiresAt.
//   - Forks to an application answer as the service does but make
//     nothing (the mock has no applications); a fork without a snapshot
//     id snapshots the source first. The Sandbox Hub is a fixed list of
//     three templates.
//   - The cron expressions of schedules take numbers, '*', ranges, steps
//     and lists (no month or day names), in UTC. A run records the status
//     of submitting the command; the service's timeout and keepAlive are
//     passed to the process, which the simulator runs.
//   - Deleting a sandbox that is already DELETING or TERMINATED answers it
//     again with 200. A create while the name's sandbox is DELETING is
//     409. The gateway's action and do_not texts are the mock's own, and
//     it sends no docs_url.
//   - Routing follows the generated router: the sub-resources of a
//     sandbox named by-external-id are out of reach (GET
//     /sandboxes/by-external-id/x is the external-id lookup).
//
// Sandbox API
//   - Each sandbox's API is simulated in memory (no processes run: the
//     simulator's documentation says what its shell understands). The mock
//     checks the credential in front of it, as the hosted gateway does:
//     the owning tenant's key as a bearer token (Authorization or
//     X-Blaxel-Authorization) or in OPEN-SANDBOX-API-KEY.
//
// Transport
//   - The in-memory transport speaks HTTP/1.1 semantics without a wire: no
//     TLS, no HTTP/2, no connection pooling effects. Latency faults wait in
//     real (or synctest) time, not on the manual clock.
package mockserver
