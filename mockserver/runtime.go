package mockserver

import (
	"fmt"
	"strings"
)

// Runtime selects which of the lifecycle server's two runtimes the mock
// behaves like. The OpenSandbox server runs sandboxes either as Docker
// containers or as Kubernetes workloads, and the two differ in ways a
// client can see: see [RuntimeDocker] and [RuntimeKubernetes]. Choose one
// with [WithRuntime]; the default is [DefaultRuntime].
type Runtime string

const (
	// RuntimeDocker behaves like the server's Docker runtime. Every
	// operation is done when it answers: a create answers 202 with the
	// sandbox already Running, pause and resume leave it Paused or
	// Running, and a deleted or expired sandbox answers 404 at once (it is
	// never Terminated). The entrypoint matters: a sandbox
	// whose entrypoint exits becomes Terminated (exit code 0, reason
	// CONTAINER_EXITED) or Failed (CONTAINER_EXITED_ERROR) and stays listed
	// until it is deleted or expires ([Server.ExitSandbox]; see the package
	// documentation for the entrypoints the mock runs). Pausing a Paused
	// sandbox is a 500 DOCKER::SANDBOX_PAUSE_FAILED; signed endpoints
	// (expires), secureAccess, networkPolicy and poolRef are 400. Error
	// codes start with DOCKER::. Reasons are CONTAINER_RUNNING,
	// CONTAINER_PAUSED, CONTAINER_EXITED and CONTAINER_EXITED_ERROR, and
	// status.lastTransitionAt is the container's creation time until it
	// exits. Deleting a sandbox's metadata key and patching again brings
	// the key back if the sandbox was created with it, as the Docker
	// runtime's label store does. Snapshot images behave as Docker's: a
	// sandbox restored from a snapshot also shows the source's creation
	// metadata and, without a timeout of its own, the source's expiry
	// (which never fires: renewing it is a 409), and a snapshot cannot be
	// deleted while such a sandbox exists (409 SNAPSHOT::DELETE_CONFLICT;
	// it stays Deleting until a later delete succeeds).
	RuntimeDocker Runtime = "docker"

	// RuntimeKubernetes behaves like the server's Kubernetes runtime with
	// its default workload provider, BatchSandbox (the agent-sandbox
	// provider cannot pause). A create answers 202 with state Running,
	// but a read can show Allocated (an IP but not ready yet) until the
	// Provision transition completes; pause goes through Pausing to
	// Paused, resume through Resuming to Running, and a deleted or expired
	// sandbox keeps answering with its last state until its deletion
	// completes, after which it answers 404 (the runtime never reports the
	// spec's Stopping). Those
	// transitions follow [WithTransition] and [WithTransitionDelay], and
	// [Server.Step] completes them. An operation the current state does
	// not allow (pausing a Paused or Pausing sandbox, resuming a Running
	// one) is a 409 KUBERNETES::INVALID_STATE; other error codes start
	// with KUBERNETES::. Reasons are RUNNING, PAUSING, PAUSED, RESUMING,
	// IP_ASSIGNED and FAILED. Signed endpoints are supported.
	RuntimeKubernetes Runtime = "kubernetes"
)

// DefaultRuntime is the runtime of a server made without [WithRuntime]:
// the Kubernetes one, because it is the asynchronous one. A test written
// against it must wait for every state change (Allocated to Running,
// Pausing to Paused, a deleted sandbox to be gone), and such a test also
// holds on the
// Docker runtime, where every change is already done when the call
// answers; a test written against a synchronous mock would expect the
// Kubernetes runtime to be done at once too, and fail there. What only the
// Docker runtime does (entrypoints that exit, 500 on a second pause, no
// signed endpoints) needs a run WithRuntime(RuntimeDocker): run a suite
// against both, as sandboxkit's conformance tests do.
const DefaultRuntime = RuntimeKubernetes

// String returns "docker" or "kubernetes".
func (r Runtime) String() string { return string(r) }

// ParseRuntime reads a runtime name as the sandboxmock flag -runtime
// takes it: "docker" or "kubernetes" (case-insensitive; "k8s" is
// accepted for the latter).
func ParseRuntime(s string) (Runtime, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "docker":
		return RuntimeDocker, nil
	case "kubernetes", "k8s":
		return RuntimeKubernetes, nil
	}
	return "", fmt.Errorf("mockserver: unknown runtime %q (want docker or kubernetes)", s)
}

func (r Runtime) valid() bool { return r == RuntimeDocker || r == RuntimeKubernetes }

// WithRuntime makes the lifecycle API behave like the server's Docker or
// Kubernetes runtime; see [Runtime]. On [RuntimeDocker] sandbox state
// changes are synchronous, so [WithTransition] for TransitionProvision,
// TransitionPause, TransitionResume or TransitionStop is an error there.
func WithRuntime(r Runtime) Option {
	return func(c *config) error {
		if !r.valid() {
			return fmt.Errorf("mockserver: WithRuntime: unknown runtime %q (want RuntimeDocker or RuntimeKubernetes)", string(r))
		}
		c.runtime = r
		c.set |= optRuntime
		return nil
	}
}

// syncOnDocker lists the transition kinds the Docker runtime does not
// have: its sandboxes change state before the call answers.
var syncOnDocker = []TransitionKind{TransitionProvision, TransitionPause, TransitionResume, TransitionStop}

// checkRuntime rejects options that contradict the runtime.
func (c *config) checkRuntime() error {
	if c.runtime != RuntimeDocker {
		return nil
	}
	for _, k := range syncOnDocker {
		if _, ok := c.modes[k]; ok {
			return fmt.Errorf("mockserver: WithTransition(%s) has no effect with RuntimeDocker, whose sandboxes change state before the call answers; use RuntimeKubernetes", k)
		}
	}
	return nil
}
