package controlplane

// MaxEnsureRounds exposes maxEnsureRounds to the tests of package
// controlplane_test.
const MaxEnsureRounds = maxEnsureRounds

// CmpSandbox exposes cmpSandbox (comparison options that see unknown
// fields) to the tests of package controlplane_test.
var CmpSandbox = cmpSandbox
