// Package resilience holds the SDK's resilience and security tests. It has
// no code of its own: everything is in its _test.go files.
//
// # Chaos
//
// TestChaos runs concurrent sandbox workflows (create → wait Running →
// exec through the sandbox API → renew → pause → resume → delete and
// wait) against the mock server while it answers 20% of requests 503 with
// Retry-After, resets 5% of connections, fails 2% of creates with a 500
// and 2% with a reset after the sandbox was made, and every request takes
// 10–200 ms. Every workflow must finish or fail with a typed error (and
// then delete what it made); the mock's journal must show no sandbox made
// twice, none left undeleted and only extending renewals; no goroutine
// may be left behind. It runs in a testing/synctest bubble, so latency,
// Retry-After waits and state transitions cost fake time only, and it
// prints its counts (requests, faults, retries, duplicates, leaks) with
// -v.
//
//	go test -race ./internal/resilience/                                  # 20 workflows
//	go test -race -run Chaos ./internal/resilience/ -chaos.full -count=1 -v # 200 workflows
//	go test -run Chaos ./internal/resilience/ -chaos.seed=7 -v             # other fault draws
//
// The seed fixes each fault's sequence of draws; which request gets which
// draw also depends on goroutine scheduling, so two runs with one seed
// see the same fault rates, not the same faulted requests.
// TestCreateExactlyOnce and TestCreateExactlyOnceOverTCP check the
// exactly-once create request by request, for each kind of fault.
//
// # Security
//
// The security tests check that API keys and tokens never show in errors
// (however printed), in debug logs or in printed clients and
// configurations, even when a server echoes them back; that no credential
// header follows a redirect to another origin, for every façade; that the
// mock keeps tenants apart on all three APIs; and that every method taking
// an id, a name or a path rejects a path-escaping one before anything is
// sent. They include the credentials of lifecycle endpoints
// (OpenSandbox-Secure-Access, OpenSandbox-Ingress-To), echoes in every
// error shape of the three APIs (the control plane's gateway envelope, a
// FastAPI validation report that repeats the request, \u-escaped JSON),
// and a create whose environment values and registry password the
// lifecycle server repeats in its 422 (also against the real server, when
// ../shared/real runs one); and that a sandbox API client does not take
// the control plane's credentials from the environment unless asked to.
//
// # Calls that end, answers that fit
//
// TestUnaryCallsReturnWithinTheDefaultTimeout calls every unary method of
// the three clients, with context.Background() and no timeout option,
// against a server that accepts connections and never answers (an
// in-memory network inside a testing/synctest bubble, so the two minutes
// of sandboxkit.DefaultTimeout pass on fake time): each returns
// sandboxkit.ErrTimeout after exactly the default timeout.
// TestCompositeCallsAreBounded does the same for calls that make more
// than one request. TestOversizedAnswersRefused sends each client a
// success answer far larger than its cap, plain and as a gzip bomb.
// BenchmarkOversizedAnswer reports what a 384 MiB answer costs a client
// with the default cap.
package resilience
