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
//
// GET /v1/sandboxes/{id}/endpoints/8080 answers {"endpoint":
// "{host}/sandboxes/{id}/port/8080"}, without scheme as upstream does;
// prefix "http://" to use it. Only port 8080 (the sandbox API) has
// something listening; other ports answer 502. The control plane's
// metadata.url is a full URL. A lifecycle sandbox's API answers while the
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
// → gone after the retention; their expiration policies (ttl-max-age,
// ttl-idle, date, and spec.runtime.ttl/expires) delete them on the
// server's clock, and expiresIn counts down to the earliest.
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
// API: lifecycle {"code","message"}, control plane {"error","code"},
// sandbox API {"error"}; unknown routes get a plain-text 404. Requests the
// generated servers cannot decode (bad JSON, schema violations, bad
// parameters) are 400 in the API's shape.
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
// Control plane
//   - Only the sandboxes resource exists. Statuses move DEPLOYING →
//     DEPLOYED and DELETING → TERMINATED; UPLOADING, BUILDING, FAILED and
//     DEACTIVATED happen only when seeded. An update does not redeploy.
//   - The tenant of the bearer token is the namespace of names;
//     X-Blaxel-Workspace is only reported back in metadata.workspace, and
//     createdBy/updatedBy are the tenant's name. Names must be RFC 1123
//     labels (at most 63 lower-case letters, digits and '-').
//   - metadata.url is {URL}/cp/{tenant}/{name}, not a per-sandbox host.
//     Only sandbox API requests through the mock count as use for
//     ttl-idle. The only policy action is delete; durations are Go
//     durations or whole days (7d) or weeks (2w).
//   - Deleting a sandbox that is already DELETING or TERMINATED answers it
//     again with 200.
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
