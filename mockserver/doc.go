// Package mockserver is a stateful, in-process mock of the three APIs
// sandboxkit talks to: the lifecycle API (an OpenSandbox server), the
// control plane's sandboxes resource, and the sandbox API that runs
// inside every sandbox. Test code against it instead of the real
// services. Its promise: a test that passes against the mock passes
// against the real services. For the lifecycle API the real server is
// the reference, framework included: the mock routes, validates, answers
// and errs as the OpenSandbox server does, byte for byte where a client
// can tell (its tests replay requests recorded from the real server).
// It adds what tests need: a clock to move by hand, control over how
// long transitions take, fault injection, a journal of requests, seeding
// and inspection.
//
// # Use in tests
//
//	srv := mockserver.Start(t, mockserver.WithManualClock(start))
//	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...) // on the in-memory transport
//	// ... create a sandbox, then:
//	srv.Advance(mockserver.DefaultTransitionDelay) // Allocated → Running
//	opts, err := srv.SandboxAPIOptions(id) // the sandbox's own API
//	api, err := sandbox.New(opts...)
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
// sandboxkit client options that point a client at the server, and
// [Server.SandboxAPIOptions] those for one sandbox's API.
//
// The package imports none of the façade packages (lifecycle, sandbox,
// controlplane): it hands out options, not clients, and its [Clock] has
// the method set of lifecycle.Clock without naming it. So the façades'
// own tests can use it, and one mock serves every test of an API.
//
// # Runtimes
//
// The OpenSandbox server runs sandboxes on Docker or on Kubernetes, and a
// client sees the difference; [WithRuntime] chooses which one the mock
// behaves like ([RuntimeDocker] and [RuntimeKubernetes] describe each).
// In short: on Docker every call is done when it answers (pause leaves the
// sandbox Paused, delete and expiry make it answer 404 at once), a second
// pause is a 500, the entrypoint can exit (Terminated or Failed), signed
// endpoints are refused; on Kubernetes a new sandbox reads Allocated
// before Running, pause and resume pass through Pausing and Resuming, a
// deleted sandbox is gone only when its deletion completes, and
// operations the state does not allow are 409s. Both
// answer a create with 202 and state Running, and neither keeps a deleted
// or expired sandbox. The default is [DefaultRuntime], the Kubernetes
// one: tests written against it wait for each state change, which holds
// on Docker too. Run a suite against both runtimes to cover what only
// Docker does.
//
// # URL layout
//
//	{URL}/... and {URL}/v1/...                          lifecycle API (both, as the server serves them)
//	{URL}/sandboxes/{id}/proxy/{port}/... (also /v1)    sandbox API through the lifecycle server (server proxy)
//	{URL}/sandboxes/{id}/port/{port}/...                sandbox API of lifecycle sandbox id (endpoint)
//	{URL}/signed/{token}/sandboxes/{id}/port/{port}/... the same as a signed route (Kubernetes, expires=...)
//	{URL}/v0/...                                        control plane (sandboxes)
//	{URL}/cp/{tenant}/{name}/...                        sandbox API of control plane sandbox name (metadata.url)
//	{URL}/preview/{tenant}/{name}/{preview}/...         a port of control plane sandbox name (a preview's spec.url)
//
// GET /v1/sandboxes/{id}/endpoints/8080 answers {"endpoint":
// "{host}/sandboxes/{id}/port/8080"}, without scheme as upstream does;
// prefix "http://" to use it. With use_server_proxy=true it answers
// {host}/sandboxes/{id}/proxy/8080, the real server's form; like the real
// proxy it needs no credential. Only port 8080 (the sandbox API) has
// something listening; other ports answer 502. The control plane's
// metadata.url is a full URL. A control plane preview of port 8080 reaches
// the sandbox API; other ports reach what [Server.HandleControlPlanePort]
// registered, else 502. A lifecycle sandbox's API answers while the
// sandbox is Running (or still Pausing) and 404 once it is gone. On
// Kubernetes it answers 503 while the sandbox is Pending, Allocated,
// Paused, Resuming or Failed; on Docker a request to a Paused sandbox
// waits, as a paused container holds the connection without answering,
// until the sandbox resumes or the client gives up, and one to a sandbox
// whose entrypoint has exited gets a 502 (nothing listens). A control
// plane sandbox's API answers while DEPLOYED, 503 before, 404 once
// DELETING.
//
// # State machines and timing
//
// Lifecycle sandboxes on Kubernetes go Allocated → Running (the Provision
// transition; a seeded Pending sandbox also goes to Running), Running →
// Pausing → Paused, Paused → Resuming → Running, and any state → gone
// after a delete or an expiry, when the Stop transition completes (until
// then it shows its state: the runtimes never report the spec's
// Stopping). On Docker the same changes happen within the call. Renewal
// accepts any time in the future, to the microsecond (an earlier one
// shortens the lifetime), refuses one in the past (400) and a sandbox
// created without timeout (409); a Failed sandbox can be renewed.
// Snapshots go Creating → Ready and are gone when their delete answers.
// Control plane sandboxes go DEPLOYING → DEPLOYED and, on delete,
// DELETING → TERMINATED → gone after their
// spec.lifecycle.terminatedRetention (default [DefaultTerminatedRetention],
// five minutes, as on the service; [WithRetention] changes the default);
// their expiration policies (ttl-max-age, ttl-idle, date, and
// spec.runtime.ttl/expires) delete them on the server's clock, and
// expiresIn counts down to the earliest. A create of a name held by a
// FAILED or TERMINATED sandbox replaces it; one held by a live sandbox is
// 409 (with reason CREATION_IN_PROGRESS while it is being created), or
// with createIfNotExist=true answers it. Control plane snapshots go
// pending → ready ([TransitionSnapshotCreate]). Schedules run on the
// server's clock: when one falls due its command is started through the
// sandbox's API (POST /process) and the run recorded with the answer's
// status (0 when the sandbox is not DEPLOYED).
//
// Every asynchronous transition takes [DefaultTransitionDelay] on the
// server's clock. [WithTransitionDelay] changes that for all of them and
// [WithTransition] for one kind: [Immediate] (the answer already shows the
// final state), [After] a delay, or [Manual] (the transition waits for
// [Server.Step] or [Server.StepAll]; [Server.PendingTransitions] lists
// what waits). [WithManualClock] replaces the wall clock by one that moves
// only in [Server.Advance], which runs every expiry, exit, retention and
// timed transition that falls due, in time order, before it returns. The
// sandbox API simulators run on the same clock (their process sleeps,
// timeouts and upgrade steps move with Advance too).
//
// On Docker the mock knows how some entrypoints end: true, :, echo and
// printf exit 0 at once and false exits 1; sleep N exits 0 after N
// seconds (counted while the container runs); exit N, and sh -c (also
// bash, ash, dash, zsh) scripts that chain those with ;, && and ||, end
// as a shell would. Every other entrypoint runs until the sandbox is
// deleted or [Server.ExitSandbox] ends it.
//
// # Test controls
//
//   - Faults: [Server.InjectFault] makes matching requests (by API and
//     operation name, one of the Op* constants) answer a status and body,
//     wait, drop the connection, or fail after the operation took effect
//     (AfterCommit: the ambiguous create), for the first N requests or
//     with a seeded probability. An operation name the API does not have
//     is an error.
//   - Journal: [Server.Journal], [Server.Requests] and [Server.Count] show
//     every request (API, operation, method, path, status, request id,
//     tenant, fault), including 401s and unknown routes; domain facts for
//     invariant checks are in [Server.Creations], [Server.CreationCounts],
//     [Server.Renewals] and [Server.Deletions]. Each kind keeps the newest
//     records ([WithJournalLimit]); [Server.JournalStats] counts them all.
//   - Memory: what the mock keeps is bounded by what exists or by a cap,
//     so a long-running server under steady load stays flat. Each journal
//     kind keeps [WithJournalLimit] records; at most [WithTerminatedLimit]
//     TERMINATED control plane sandboxes wait out their retention (the
//     oldest is forgotten first; [Server.JournalStats] counts them).
//     Deleted lifecycle sandboxes and snapshots are forgotten as on the
//     real server. Inside a sandbox the simulator keeps what the real
//     sandbox API keeps, until the sandbox is gone: files, and the record
//     and logs of every process (a process that has ended keeps only
//     those).
//   - Seeding and inspection: [Server.AddSandbox], [Server.AddSnapshot] and
//     [Server.AddControlPlaneSandbox] add resources in any state the
//     runtime has; [Server.HandleControlPlanePort] puts a handler behind a
//     port of a control plane sandbox, for its previews; [Server.Sandbox],
//     [Server.Sandboxes], [Server.Snapshot],
//     [Server.Snapshots], [Server.ControlPlaneSandbox] and
//     [Server.ControlPlaneSandboxes] read them. [Server.FailSandbox] and
//     [Server.ExitSandbox] end a sandbox's entrypoint.
//   - Upgrades: [Server.ScriptUpgrade] makes the next upgrade of one
//     sandbox's API fail at a step (with the real server's error text),
//     take other durations or install another version.
//   - Clock: [Server.Clock] hands the server's clock to a
//     lifecycle.Renewer or lifecycle.RenewerPool (RenewerOptions.Clock),
//     so that on a manual clock renewals fall due inside [Server.Advance]
//     like everything else.
//   - Tenants: [WithTenant] maps API keys to tenants. With tenants, a
//     missing or unknown credential is 401 (MISSING_API_KEY,
//     INVALID_API_KEY on the lifecycle API) and another tenant's sandboxes
//     are 404; without, the server is open and everything belongs to
//     [DefaultTenant], as a real server configured without a key.
//   - Limits: [WithLimits] bounds request bodies and, on TCP, how long a
//     client may take to send a request or keep an idle connection, so a
//     slow or hostile client cannot hold the server ([DefaultLimits]).
//     [WithMaxSandboxTimeout] caps create timeouts as the server's
//     max_sandbox_timeout_seconds does.
//
// Every answer carries X-Request-ID: the client's own (trimmed, up to 128
// printable characters) or, on the lifecycle server's model, a random
// UUID as 32 hex digits. Error bodies have the shape of their API:
// lifecycle {"code","message"} with the server's codes (DOCKER::…,
// KUBERNETES::…, SANDBOX::…, SNAPSHOT::…), FastAPI's {"detail":[…]} 422
// for invalid requests and {"detail":"…"} for unknown routes and methods;
// control plane the gateway's envelope {"error":{"code","message",
// "origin","retryable","action","do_not","status"}} (codes
// WORKLOAD_NOT_FOUND, ROUTE_NOT_FOUND, WORKLOAD_UNAVAILABLE,
// AUTHENTICATION_REQUIRED/FAILED, and INVALID_REQUEST, NOT_FOUND,
// CONFLICT, RATE_LIMITED, INTERNAL_ERROR for the rest), except a failed
// create: {"code","message","sandbox_name","status_code","step",
// "timestamp","workspace"} with codes INVALID_NAME, INVALID_EXTERNAL_ID,
// INVALID_SPEC, ALREADY_EXISTS; sandbox API {"error"}. Control plane
// requests the generated server cannot decode (bad JSON, schema
// violations, bad parameters) are 400 in its shape.
//
// The command sandboxmock (mockserver/cmd/sandboxmock) serves the mock on
// TCP for other processes, with flags for the runtime and the limits.
//
// # Differences from the real services
//
// What a mock cannot do, and where it chooses to differ:
//
// Lifecycle API
//   - No container runs. Every image exists (the real server fails a pull
//     with 500 DOCKER::SANDBOX_IMAGE_PULL_FAILED); resource limits,
//     platform, volumes (beyond their schema: host path allow-lists, PVCs
//     and OSSFS are not checked), network policy, credential proxy and
//     secureAccess are accepted where the runtime accepts them and change
//     nothing: no endpoint headers, no egress rules, no renew-on-access
//     (its extension is validated). Pools do not exist: poolRef is a 400 on
//     Docker and a 404 KUBERNETES::POOL_NOT_FOUND on Kubernetes.
//   - Behind the endpoint the mock serves the sandbox API simulator on
//     port 8080, as sandboxkit expects a sandbox to; an OpenSandbox image
//     serves whatever it runs there, and OpenSandbox's own in-sandbox
//     daemon (execd, on 44772) is not simulated.
//   - The endpoint of a port is {host}/sandboxes/{id}/port/{port}, where
//     the Docker runtime hands out {host}:{port} (host network) or
//     {host}:{mapped port} (bridge): a per-sandbox address would need a
//     listener per sandbox. Clients use both the same way. The mock's own
//     endpoint route checks the owning tenant's credential (as a hosted
//     gateway does); signed routes (Kubernetes) use the mock's own token
//     format, not OSEP-0011's, and need no gateway configuration. The
//     server proxy does not forward WebSocket upgrades.
//   - Only the entrypoints listed above end by themselves, and only on
//     Docker; on Kubernetes an entrypoint never ends (the workload
//     provider's restart and failure policies are not simulated).
//   - The Docker runtime's create answer carries the server's clock and
//     later reads Docker's container creation time, some tenths of a
//     second later; the mock shows the same instant in both. Expiry
//     happens exactly at expiresAt (the real server within seconds).
//     Creating a snapshot takes the transition delay (the real server
//     about half a second) and does not pause the source meanwhile.
//   - The real Docker runtime can fail a list with 500
//     DOCKER::SANDBOX_QUERY_FAILED while sandboxes are being deleted;
//     inject that with a fault. The diagnostics, pool and documentation
//     routes are absent (404), and CORS headers and preflight answers
//     are not simulated.
//   - Metadata keys come back sorted (the real server's order depends on
//     its storage). Request bodies must be UTF-8 (the real server also
//     reads UTF-16 and UTF-32). Bodies larger than [Limits] are answered
//     413 (the real server reads any size).
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
//   - The service keeps every TERMINATED sandbox for its retention; the
//     mock keeps the newest [DefaultTerminatedLimit] of them (see
//     [WithTerminatedLimit]) and forgets older ones early.
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
//     X-Blaxel-Authorization) or in OPEN-SANDBOX-API-KEY; the lifecycle
//     server's proxy and signed routes need none.
//
// Transport
//   - The in-memory transport speaks HTTP/1.1 semantics without a wire: no
//     TLS, no HTTP/2, no connection pooling effects. Latency faults wait in
//     real (or synctest) time, not on the manual clock.
package mockserver
