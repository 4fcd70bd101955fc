// Package conformance holds scenarios written once against sandboxkit's
// public packages and run against every target that is available:
//
//   - the in-process mock (mockserver), always;
//   - the real OpenSandbox lifecycle server, when OPENSANDBOX_REAL_URL is
//     set;
//   - the real sandbox API, when SANDBOX_API_REAL_URL is set.
//
// The variables are the ones ../shared/real/up prints (see the README's
// "Conformance against the real servers"). A scenario asserts what a user
// may rely on from every target; where real deployments legitimately
// differ (the Docker runtime is synchronous; Kubernetes shows Allocated,
// Pausing and Resuming, and a deleted sandbox's last state until it is
// gone) it asserts what holds for all of them and tests each variant in a
// subtest of its own. A scenario that cannot run on a
// real server here says why in its skip message; none is skipped on the
// mock.
//
// The package has tests only.
package conformance
