package controlplane

import (
	"time"

	"github.com/go-faster/jx"
)

// Status is a sandbox's deployment status. The service may add values: an
// unknown one is kept as it was received ([Status.Known] reports false).
type Status string

// The documented statuses. A new sandbox moves through UPLOADING,
// BUILDING and DEPLOYING to DEPLOYED; a deleted one through DELETING to
// TERMINATED.
const (
	StatusUploading    Status = "UPLOADING"
	StatusBuilding     Status = "BUILDING"
	StatusDeploying    Status = "DEPLOYING"
	StatusDeployed     Status = "DEPLOYED"
	StatusFailed       Status = "FAILED"
	StatusDeactivating Status = "DEACTIVATING"
	StatusDeactivated  Status = "DEACTIVATED"
	StatusDeleting     Status = "DELETING"
	StatusTerminated   Status = "TERMINATED"
)

// String returns the status as sent on the wire.
func (s Status) String() string { return string(s) }

// Known reports whether s is one of the documented statuses.
func (s Status) Known() bool {
	switch s {
	case StatusUploading, StatusBuilding, StatusDeploying, StatusDeployed, StatusFailed,
		StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated:
		return true
	}
	return false
}

// gone reports a sandbox on its way out (or out): DELETING or TERMINATED.
func (s Status) gone() bool { return s == StatusDeleting || s == StatusTerminated }

// PolicyType is the kind of an [ExpirationPolicy].
type PolicyType string

// The documented expiration policy types.
const (
	// PolicyTTLIdle deletes the sandbox after Value (a duration) without
	// use. The service starts counting at the first use.
	PolicyTTLIdle PolicyType = "ttl-idle"
	// PolicyTTLMaxAge deletes the sandbox Value (a duration) after its
	// creation, like [Runtime.TTL].
	PolicyTTLMaxAge PolicyType = "ttl-max-age"
	// PolicyDate deletes the sandbox at Value (an RFC 3339 time), like
	// [Runtime.Expires].
	PolicyDate PolicyType = "date"
)

// Known reports whether t is one of the documented policy types.
func (t PolicyType) Known() bool {
	return t == PolicyTTLIdle || t == PolicyTTLMaxAge || t == PolicyDate
}

// PolicyAction is what happens when an [ExpirationPolicy] fires.
type PolicyAction string

// ActionDelete deletes the sandbox; it is the only documented action.
const ActionDelete PolicyAction = "delete"

// extraFields holds the JSON members of an object that this package does
// not model, exactly as the service sent them, so that a sandbox read,
// changed and written back keeps them.
type extraFields map[string]jx.Raw

// Sandbox is a sandbox as the control plane describes it. Metadata and
// Spec are what [Client.Create] and [Client.Update] send; the other fields
// are read-only and never sent.
//
// A Sandbox read from the service also remembers the JSON members this
// package does not model, at every level (sandbox, metadata, spec,
// runtime, ports, environment variables, lifecycle, policies, volumes), and
// sends them back unchanged, so a read-modify-write does not drop settings
// that a newer service added.
type Sandbox struct {
	// Metadata names and labels the sandbox.
	Metadata Metadata
	// Spec is the sandbox's definition.
	Spec Spec

	// Status is the deployment status (read-only).
	Status Status
	// Events are the status changes the service recorded (read-only).
	Events []Event
	// ExpiresIn is the time left until the expiration policies delete the
	// sandbox, as of the answer (read-only); nil when no policy applies.
	ExpiresIn *time.Duration
	// ExpiresAt is when the policies delete the sandbox, from the
	// top-level "ttl" Unix timestamp (read-only); zero when absent.
	ExpiresAt time.Time
	// LastUsedAt is the last use of the sandbox (read-only); zero when
	// absent or not an RFC 3339 time.
	LastUsedAt time.Time

	extra extraFields
}

// Metadata identifies a sandbox. Name is required; Workspace, URL and the
// Created/Updated fields are set by the service and never sent.
type Metadata struct {
	// Name identifies the sandbox in its workspace and in the URL path.
	Name string
	// DisplayName is a human-readable name.
	DisplayName string
	// Labels are free-form key/value pairs.
	Labels map[string]string
	// Plan is the billing plan, when the service reports one.
	Plan string

	// Workspace is the workspace the sandbox belongs to (read-only).
	Workspace string
	// URL is the base URL of the sandbox API of this sandbox (read-only);
	// see [Client.SandboxClient].
	URL string
	// CreatedAt is when the sandbox was created (read-only).
	CreatedAt time.Time
	// UpdatedAt is when the sandbox was last updated (read-only).
	UpdatedAt time.Time
	// CreatedBy is who created the sandbox (read-only).
	CreatedBy string
	// UpdatedBy is who last updated the sandbox (read-only).
	UpdatedBy string

	extra extraFields
}

// Spec is a sandbox's definition.
type Spec struct {
	// Enabled turns the sandbox on or off; nil leaves it to the service.
	Enabled *bool
	// Region is where the sandbox runs, e.g. "us-pdx-1".
	Region string
	// Runtime describes the machine: image, memory, ports, environment
	// and lifetime.
	Runtime *Runtime
	// Lifecycle holds the expiration policies.
	Lifecycle *Lifecycle
	// Volumes are the volumes attached to the sandbox.
	Volumes []Volume

	extra extraFields
}

// Runtime describes a sandbox's machine.
type Runtime struct {
	// Image is the container image, e.g. "blaxel/base-image:latest".
	Image string
	// Memory is the memory in MiB; zero leaves it to the service.
	Memory int
	// CPU is the number of CPUs; zero leaves it to the service.
	CPU int
	// Ports are the ports the sandbox exposes.
	Ports []Port
	// Envs are the environment variables.
	Envs []Env
	// TTL is the maximum age of the sandbox, a duration such as "24h" or
	// "7d" (see [ParseDuration]); the sandbox is deleted that long after
	// its creation. Empty means none.
	TTL string
	// Expires is when the sandbox is deleted; zero means never. Sent as
	// RFC 3339.
	Expires time.Time

	extra extraFields
}

// Port is a port a sandbox exposes.
type Port struct {
	// Name names the port, e.g. "http".
	Name string
	// Target is the port number inside the sandbox (1 to 65535).
	Target int
	// Protocol is e.g. "HTTP" or "TCP".
	Protocol string

	extra extraFields
}

// Env is an environment variable of a sandbox.
type Env struct {
	// Name is the variable's name.
	Name string
	// Value is the variable's value.
	Value string
	// Secret asks the service to store the value as a secret.
	Secret bool

	extra extraFields
}

// Volume is a volume attached to a sandbox.
type Volume struct {
	// Name is the volume's name.
	Name string
	// MountPath is where the volume appears inside the sandbox.
	MountPath string
	// ReadOnly mounts the volume read-only.
	ReadOnly bool

	extra extraFields
}

// Lifecycle holds a sandbox's expiration policies.
type Lifecycle struct {
	// ExpirationPolicies delete the sandbox when the first of them fires.
	ExpirationPolicies []ExpirationPolicy

	extra extraFields
}

// ExpirationPolicy deletes a sandbox after a time of inactivity, at an
// age, or at a date. [TTLIdle], [TTLMaxAge] and [ExpireAt] build one.
type ExpirationPolicy struct {
	// Type is the kind of policy.
	Type PolicyType
	// Value is a duration such as "24h" or "7d" for the ttl types (see
	// [ParseDuration]) and an RFC 3339 time for [PolicyDate].
	Value string
	// Action is what happens when the policy fires. Empty leaves the
	// field out; the service then applies [ActionDelete].
	Action PolicyAction

	extra extraFields
}

// TTLIdle returns a policy that deletes the sandbox after d without use.
// d is rounded up to a whole minute (see [FormatDuration]).
func TTLIdle(d time.Duration) ExpirationPolicy {
	return ExpirationPolicy{Type: PolicyTTLIdle, Value: FormatDuration(d), Action: ActionDelete}
}

// TTLMaxAge returns a policy that deletes the sandbox d after its
// creation. d is rounded up to a whole minute (see [FormatDuration]).
func TTLMaxAge(d time.Duration) ExpirationPolicy {
	return ExpirationPolicy{Type: PolicyTTLMaxAge, Value: FormatDuration(d), Action: ActionDelete}
}

// ExpireAt returns a policy that deletes the sandbox at t, which is
// rounded up to a whole second.
func ExpireAt(t time.Time) ExpirationPolicy {
	return ExpirationPolicy{Type: PolicyDate, Value: formatTime(ceilSecond(t)), Action: ActionDelete}
}

// Event is a status change the service recorded for a sandbox.
type Event struct {
	// Type is the kind of event, e.g. "deployment".
	Type string
	// Status is the status the sandbox reached.
	Status Status
	// Message describes the event, e.g. why a deployment failed.
	Message string
	// Revision is the revision the event is about.
	Revision string
	// CanaryRevision is the canary revision, if any.
	CanaryRevision string
	// Time is when the event happened; zero when absent or not an RFC
	// 3339 time.
	Time time.Time
}

// lastMessage returns the message of the newest event with one.
func (s *Sandbox) lastMessage() string {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if m := s.Events[i].Message; m != "" {
			return m
		}
	}
	return ""
}

// Options of the five operations. They have no fields yet; nil is fine.
type (
	// CreateOptions configures [Client.Create].
	CreateOptions struct{}
	// GetOptions configures [Client.Get].
	GetOptions struct{}
	// ListOptions configures [Client.List].
	ListOptions struct{}
	// UpdateOptions configures [Client.Update].
	UpdateOptions struct{}
	// DeleteOptions configures [Client.Delete].
	DeleteOptions struct{}
)
