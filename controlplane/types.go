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
// TERMINATED. BUILT is reported for a sandbox whose image is built but
// that is not deployed.
const (
	StatusUploading    Status = "UPLOADING"
	StatusBuilding     Status = "BUILDING"
	StatusBuilt        Status = "BUILT"
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
	case StatusUploading, StatusBuilding, StatusBuilt, StatusDeploying, StatusDeployed, StatusFailed,
		StatusDeactivating, StatusDeactivated, StatusDeleting, StatusTerminated:
		return true
	}
	return false
}

// State says whether a sandbox runs or was scaled to zero. The service
// may add values; an unknown one is kept as it was received.
type State string

// The documented states.
const (
	// StateRunning: the sandbox's machine runs.
	StateRunning State = "RUNNING"
	// StateStandby: the sandbox was idle and scaled to zero, memory and
	// processes kept; the next request resumes it.
	StateStandby State = "STANDBY"
)

// String returns the state as sent on the wire.
func (s State) String() string { return string(s) }

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

// PortProtocol is the protocol of a [Port].
type PortProtocol string

// The documented port protocols.
const (
	ProtocolHTTP PortProtocol = "HTTP"
	ProtocolTCP  PortProtocol = "TCP"
	ProtocolUDP  PortProtocol = "UDP"
	ProtocolTLS  PortProtocol = "TLS"
)

// Known reports whether p is one of the documented protocols.
func (p PortProtocol) Known() bool {
	return p == ProtocolHTTP || p == ProtocolTCP || p == ProtocolUDP || p == ProtocolTLS
}

// VolumeType is the kind of a [Volume].
type VolumeType string

// The documented volume types.
const (
	// VolumePersistent attaches an existing volume resource of the
	// workspace, by name; it is the service's default.
	VolumePersistent VolumeType = "persistent"
	// VolumeEphemeral is disk-backed scratch space created with the
	// sandbox and gone when it stops; it needs [Volume.SizeMB].
	VolumeEphemeral VolumeType = "ephemeral"
)

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
// runtime, ports, environment variables, lifecycle, policies, volumes,
// network), and sends them back unchanged, so a read-modify-write does not
// drop settings that a newer service added.
type Sandbox struct {
	// Metadata names and labels the sandbox.
	Metadata Metadata
	// Spec is the sandbox's definition.
	Spec Spec

	// Status is the deployment status (read-only).
	Status Status
	// State is whether the sandbox runs or stands by (read-only); empty
	// when the service does not say.
	State State
	// Errors are the infrastructure failures the service recorded, oldest
	// first (read-only).
	Errors []InfrastructureError
	// Events are the status changes the service recorded (read-only).
	Events []Event
	// ExpiresIn is the time left until the expiration policies delete the
	// sandbox, as of the answer (read-only); nil when no policy applies.
	ExpiresIn *time.Duration
	// ExpiresAt is when the policies delete the sandbox, from the
	// top-level "ttl" Unix timestamp older answers carry (read-only); zero
	// when absent.
	ExpiresAt time.Time
	// LastUsedAt is the last use of the sandbox (read-only); zero when
	// absent or not an RFC 3339 time.
	LastUsedAt time.Time
	// NodeGeneration is the infrastructure generation the sandbox runs on,
	// e.g. "mk3.1" (read-only).
	NodeGeneration string

	extra extraFields
}

// Metadata identifies a sandbox. Name is required; Workspace, URL, Plan
// and the Created/Updated fields are set by the service and never sent.
type Metadata struct {
	// Name identifies the sandbox in its workspace and in the URL path:
	// 1 to 49 lower-case letters, digits and '-', starting and ending
	// with a letter or digit. It cannot change.
	Name string
	// DisplayName is a human-readable name (at most 63 characters).
	DisplayName string
	// ExternalID is an identifier of the caller's own, e.g. a session id:
	// 1 to 64 letters, digits and '-'. [Client.GetByExternalID] and
	// [ListOptions.ExternalID] find sandboxes by it, and [Client.Create]
	// and [Client.EnsureSandbox] use it to recognise their own sandbox.
	ExternalID string
	// Labels are free-form key/value pairs; [ListOptions.Query] searches
	// them.
	Labels map[string]string

	// Plan is the billing plan (read-only).
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
	// Enabled turns the sandbox on or off; nil leaves it to the service
	// (on).
	Enabled *bool
	// Region is where the sandbox runs, e.g. "us-pdx-1"; empty lets the
	// service pick the one closest to the caller.
	Region string
	// VPC names the VPC of the sandbox; empty means "default".
	VPC string
	// Runtime describes the machine: image, memory, ports, environment
	// and lifetime.
	Runtime *Runtime
	// Lifecycle holds the expiration policies and how long a terminated
	// sandbox stays visible.
	Lifecycle *Lifecycle
	// Network restricts and routes the sandbox's traffic; nil leaves the
	// service's defaults.
	Network *Network
	// Volumes are the volumes attached to the sandbox.
	Volumes []Volume

	extra extraFields
}

// Runtime describes a sandbox's machine. The service has no CPU setting:
// a sandbox gets one CPU per 2048 MB of Memory.
type Runtime struct {
	// Image is the sandbox image, e.g. "blaxel/base-image:latest".
	Image string
	// Memory is the memory in MB; zero leaves it to the service.
	Memory int
	// Ports are the ports the sandbox exposes.
	Ports []Port
	// Envs are the environment variables.
	Envs []Env
	// TTL is the maximum age of the sandbox, a number and a unit s, m, h,
	// d or w such as "24h" or "7d" (see [ParseDuration]); the sandbox is
	// deleted that long after its creation, used or not. Empty means
	// none.
	TTL string
	// Expires is when the sandbox is deleted; zero means never. Sent as
	// RFC 3339.
	Expires time.Time
	// ExtraArgs selects kernel options ("iptables", "nfs", "tun") with the
	// values "enabled" or "disabled". They cannot change after creation.
	ExtraArgs map[string]string
	// TerminationGracePeriodSeconds is how long the sandbox gets to stop
	// gracefully; zero (the service's default) stops it at once.
	TerminationGracePeriodSeconds int

	extra extraFields
}

// Port is a port a sandbox exposes.
type Port struct {
	// Name names the port, e.g. "http".
	Name string
	// Target is the port number inside the sandbox (1 to 65535); it is
	// required.
	Target int
	// Protocol is the port's protocol; empty leaves it to the service.
	Protocol PortProtocol

	extra extraFields
}

// Env is an environment variable of a sandbox.
type Env struct {
	// Name is the variable's name.
	Name string
	// Value is the variable's value.
	Value string
	// Secret asks the service to store the value as a secret (shown only
	// with [GetOptions.ShowSecrets]).
	Secret bool

	extra extraFields
}

// Volume is a volume attached to a sandbox.
type Volume struct {
	// Name is the volume resource to attach (persistent), or a name of
	// the caller's choice (ephemeral).
	Name string
	// MountPath is where the volume appears inside the sandbox (an
	// absolute path).
	MountPath string
	// ReadOnly mounts the volume read-only.
	ReadOnly bool
	// Type is the kind of volume; empty leaves the service's default
	// ([VolumePersistent]).
	Type VolumeType
	// SizeMB is the size of an ephemeral volume in MB (required for
	// those; ignored for persistent ones).
	SizeMB int

	extra extraFields
}

// Lifecycle holds a sandbox's expiration policies and its retention.
type Lifecycle struct {
	// ExpirationPolicies delete the sandbox when the first of them fires.
	ExpirationPolicies []ExpirationPolicy
	// TerminatedRetention is how long the sandbox stays visible once it is
	// TERMINATED (for its logs), a duration such as "1h" or "7d"; empty
	// means the service's default, [DefaultTerminatedRetention].
	TerminatedRetention string

	extra extraFields
}

// DefaultTerminatedRetention is how long the service keeps a TERMINATED
// sandbox visible when [Lifecycle.TerminatedRetention] is not set.
const DefaultTerminatedRetention = 5 * time.Minute

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
// d is rounded up to a whole second (see [FormatDuration]). d must be
// positive: otherwise the policy is invalid ([ExpirationPolicy.Validate]),
// and every call given it fails with an error matching
// [sandboxkit.ErrInvalidInput] before anything is sent.
func TTLIdle(d time.Duration) ExpirationPolicy { return ttlPolicy(PolicyTTLIdle, d) }

// TTLMaxAge returns a policy that deletes the sandbox d after its
// creation. d is rounded up to a whole second (see [FormatDuration]). d
// must be positive: otherwise the policy is invalid, as for [TTLIdle].
func TTLMaxAge(d time.Duration) ExpirationPolicy { return ttlPolicy(PolicyTTLMaxAge, d) }

// ttlPolicy builds a duration policy. A duration that cannot be written
// keeps its Go form ("-1h0m0s"), which no validator accepts, so the
// mistake surfaces as an ErrInvalidInput instead of a silent default.
func ttlPolicy(t PolicyType, d time.Duration) ExpirationPolicy {
	v, err := FormatDuration(d)
	if err != nil {
		v = d.String()
	}
	return ExpirationPolicy{Type: t, Value: v, Action: ActionDelete}
}

// ExpireAt returns a policy that deletes the sandbox at t, which is
// rounded up to a whole second. A zero t gives an invalid policy.
func ExpireAt(t time.Time) ExpirationPolicy {
	v := ""
	if !t.IsZero() {
		v = formatTime(ceilSecond(t))
	}
	return ExpirationPolicy{Type: PolicyDate, Value: v, Action: ActionDelete}
}

// Validate checks p as every call that sends it does: a documented type,
// a value of the type's form (a positive duration, or an RFC 3339 time)
// and the delete action or none. The error matches
// [sandboxkit.ErrInvalidInput].
func (p ExpirationPolicy) Validate() error {
	return validatePolicies([]ExpirationPolicy{p})
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

// InfrastructureError is a failure of the machinery under a sandbox, as
// the service recorded it.
type InfrastructureError struct {
	// Code identifies the kind of failure, e.g. "VM_NETWORK_FAILURE".
	Code string
	// Fatal reports a failure that left the sandbox FAILED; false means
	// a restart cleared it.
	Fatal bool
	// Instance is the instance the failure was reported for.
	Instance string
	// Message is the reason given with the failure.
	Message string
	// Time is when it was recorded; zero when absent or not RFC 3339.
	Time time.Time
}

// lastMessage returns the message of the newest event with one, or of
// the newest fatal infrastructure error.
func (s *Sandbox) lastMessage() string {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if m := s.Events[i].Message; m != "" {
			return m
		}
	}
	for i := len(s.Errors) - 1; i >= 0; i-- {
		if e := s.Errors[i]; e.Fatal && e.Message != "" {
			return e.Message
		}
	}
	return ""
}

// GetOptions configures [Client.Get].
type GetOptions struct {
	// ShowSecrets asks for the values of secret environment variables
	// (workspace admins only).
	ShowSecrets bool
}
