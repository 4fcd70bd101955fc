package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// State is a sandbox's lifecycle state. The constants are the states the
// service documents; a state the service adds later arrives unchanged as
// a State value that is none of them (see [State.Known]).
type State string

// The documented states. Pending→Running; Running→Pausing→Paused;
// Paused→Resuming→Running; Running/Paused→Stopping→Terminated (delete or
// expiry); Pending/Running/Paused/Resuming→Failed.
const (
	StatePending    State = "Pending"
	StateRunning    State = "Running"
	StatePausing    State = "Pausing"
	StatePaused     State = "Paused"
	StateResuming   State = "Resuming"
	StateStopping   State = "Stopping"
	StateTerminated State = "Terminated"
	StateFailed     State = "Failed"
)

// States returns the eight documented states in lifecycle order.
func States() []State {
	return []State{StatePending, StateRunning, StatePausing, StatePaused, StateResuming, StateStopping, StateTerminated, StateFailed}
}

// Known reports whether s is one of the documented states.
func (s State) Known() bool {
	switch s {
	case StatePending, StateRunning, StatePausing, StatePaused, StateResuming, StateStopping, StateTerminated, StateFailed:
		return true
	}
	return false
}

// Terminal reports whether s is Terminated or Failed, which a sandbox
// never leaves.
func (s State) Terminal() bool { return s == StateTerminated || s == StateFailed }

// String returns the state's name.
func (s State) String() string { return string(s) }

// ParseState returns the documented state named s, ignoring case (the
// service compares states case-insensitively). Other strings are an error
// matching [sandboxkit.ErrInvalidInput].
func ParseState(s string) (State, error) {
	for _, st := range States() {
		if strings.EqualFold(s, string(st)) {
			return st, nil
		}
	}
	return "", &sandboxkit.ValidationError{Field: "state", Value: s, Reason: "not one of " + joinStates(States())}
}

func joinStates(states []State) string {
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// Status is where a sandbox is in its lifecycle and why.
type Status struct {
	// State is the lifecycle state.
	State State
	// Reason is a short machine-readable cause, e.g. "user_delete" or
	// "ttl_expiry"; may be empty.
	Reason string
	// Message explains the state for people; may be empty.
	Message string
	// LastTransitionAt is when the sandbox entered State; zero if the
	// service did not say.
	LastTransitionAt time.Time
}

// Sandbox is a sandbox as the lifecycle API describes it.
type Sandbox struct {
	// ID identifies the sandbox.
	ID string
	// Image is the container image the sandbox runs; nil for a sandbox
	// made from a snapshot.
	Image *Image
	// SnapshotID is the snapshot the sandbox was made from, or "".
	SnapshotID string
	// Platform is the sandbox's OS and architecture, if reported.
	Platform *Platform
	// Status is the lifecycle state.
	Status Status
	// Metadata holds the key/value pairs given at creation or patched
	// since. Sandboxes made by [Client.Create] carry [ClientTokenKey].
	Metadata map[string]string
	// Entrypoint is the sandbox's main process.
	Entrypoint []string
	// ExpiresAt is when the service terminates the sandbox by itself; zero
	// when it never does.
	ExpiresAt time.Time
	// CreatedAt is when the sandbox was created.
	CreatedAt time.Time
}

// clone returns a deep copy of s.
func (s *Sandbox) clone() *Sandbox {
	c := *s
	if s.Image != nil {
		im := *s.Image
		if s.Image.Auth != nil {
			a := *s.Image.Auth
			im.Auth = &a
		}
		c.Image = &im
	}
	if s.Platform != nil {
		p := *s.Platform
		c.Platform = &p
	}
	c.Metadata = cloneMap(s.Metadata)
	c.Entrypoint = slices.Clone(s.Entrypoint)
	return &c
}

// State returns s.Status.State.
func (s *Sandbox) State() State { return s.Status.State }

// ClientToken returns the idempotency token [Client.Create] stored in the
// sandbox's metadata under [ClientTokenKey], or "".
func (s *Sandbox) ClientToken() string { return s.Metadata[ClientTokenKey] }

// Image names a container image.
type Image struct {
	// URI is the image reference, e.g. "python:3.11".
	URI string
	// Auth holds credentials for a private registry, or nil.
	Auth *ImageAuth
}

// ImageAuth holds registry credentials. Its String method hides the
// password, so printing a request or sandbox does not leak it.
type ImageAuth struct {
	// Username is the registry user.
	Username string
	// Password is the registry password or token.
	Password string
}

// String returns the user name with the password redacted.
func (a ImageAuth) String() string {
	if a.Password == "" {
		return fmt.Sprintf("{Username:%s}", a.Username)
	}
	return fmt.Sprintf("{Username:%s Password:[REDACTED]}", a.Username)
}

// GoString is String, so %#v hides the password too.
func (a ImageAuth) GoString() string { return "lifecycle.ImageAuth" + a.String() }

// Platform is an OS and CPU architecture.
type Platform struct {
	// OS is "linux" or "windows".
	OS string
	// Arch is "amd64" or "arm64".
	Arch string
}

// Pagination describes one page of a list.
type Pagination struct {
	// Page is the 1-based page number.
	Page int
	// PageSize is the number of items per page.
	PageSize int
	// TotalItems is the number of items on all pages.
	TotalItems int
	// TotalPages is the number of pages.
	TotalPages int
	// HasNextPage reports whether a page follows this one.
	HasNextPage bool
}

// SandboxPage is one page of [Client.List].
type SandboxPage struct {
	// Items are the sandboxes on this page.
	Items []*Sandbox
	Pagination
}

// Endpoint is the address of a port inside a sandbox.
type Endpoint struct {
	// Address is host and path without a scheme, e.g.
	// "gateway.example.com/sandboxes/abc/port/8080".
	Address string
	// Headers must be sent with every request to Address (a routing or
	// signature header); may be nil.
	Headers map[string]string
}

// NetworkAction is what a network rule does: allow or deny.
type NetworkAction string

// The two network actions.
const (
	NetworkAllow NetworkAction = "allow"
	NetworkDeny  NetworkAction = "deny"
)

// NetworkPolicy restricts a sandbox's outbound traffic.
type NetworkPolicy struct {
	// DefaultAction applies to destinations no rule matches; "" leaves
	// the service's default.
	DefaultAction NetworkAction
	// Egress rules, by domain or wildcard domain.
	Egress []NetworkRule
}

// NetworkRule allows or denies traffic to a domain.
type NetworkRule struct {
	// Action is NetworkAllow or NetworkDeny.
	Action NetworkAction
	// Target is a domain or wildcard domain, e.g. "*.pypi.org".
	Target string
}

// Volume mounts storage into a sandbox. Set exactly one of Host, PVC and
// OSSFS.
type Volume struct {
	// Name is a DNS label: lower-case letters, digits and '-', at most 63.
	Name string
	// MountPath is the absolute path inside the sandbox.
	MountPath string
	// ReadOnly mounts the volume read-only.
	ReadOnly bool
	// SubPath mounts only this directory of the volume.
	SubPath string
	// Host mounts a directory of the host.
	Host *HostVolume
	// PVC mounts a Kubernetes persistent volume claim.
	PVC *PVCVolume
	// OSSFS mounts an Alibaba Cloud OSS bucket.
	OSSFS *OSSFSVolume
}

// HostVolume is a directory on the host.
type HostVolume struct {
	// Path is the directory on the host.
	Path string
}

// PVCVolume is a Kubernetes persistent volume claim.
type PVCVolume struct {
	// ClaimName names the claim.
	ClaimName string
	// CreateIfNotExists creates the claim when missing; nil leaves the
	// service's default (true).
	CreateIfNotExists *bool
	// DeleteOnSandboxTermination deletes the claim with the sandbox.
	DeleteOnSandboxTermination bool
	// StorageClass is the storage class of a claim the service creates;
	// "" leaves the default.
	StorageClass string
	// Storage is the size of a claim the service creates, e.g. "10Gi";
	// "" leaves the default.
	Storage string
	// AccessModes of a claim the service creates, e.g. "ReadWriteOnce";
	// nil leaves the default.
	AccessModes []string
}

// OSSFSVolume is an OSS bucket mounted with ossfs.
type OSSFSVolume struct {
	// Bucket is the bucket name.
	Bucket string
	// Endpoint is the OSS endpoint, e.g. "oss-cn-hangzhou.aliyuncs.com".
	Endpoint string
	// Version is "1.0" or "2.0"; "" leaves the default ("2.0").
	Version string
	// Options are extra ossfs mount options.
	Options []string
	// AccessKeyID and AccessKeySecret are the OSS credentials.
	AccessKeyID     string
	AccessKeySecret string
}

// String hides the access key secret.
func (v OSSFSVolume) String() string {
	return fmt.Sprintf("{Bucket:%s Endpoint:%s Version:%s Options:%v AccessKeyID:%s AccessKeySecret:[REDACTED]}",
		v.Bucket, v.Endpoint, v.Version, v.Options, v.AccessKeyID)
}

// GoString is String, so %#v hides the secret too.
func (v OSSFSVolume) GoString() string { return "lifecycle.OSSFSVolume" + v.String() }

// SnapshotState is a snapshot's state. Unknown future states pass through
// unchanged.
type SnapshotState string

// The documented snapshot states.
const (
	SnapshotCreating SnapshotState = "Creating"
	SnapshotReady    SnapshotState = "Ready"
	SnapshotDeleting SnapshotState = "Deleting"
	SnapshotFailed   SnapshotState = "Failed"
)

// SnapshotStates returns the documented snapshot states.
func SnapshotStates() []SnapshotState {
	return []SnapshotState{SnapshotCreating, SnapshotReady, SnapshotDeleting, SnapshotFailed}
}

// Known reports whether s is one of the documented snapshot states.
func (s SnapshotState) Known() bool {
	switch s {
	case SnapshotCreating, SnapshotReady, SnapshotDeleting, SnapshotFailed:
		return true
	}
	return false
}

// SnapshotStatus is where a snapshot is and why.
type SnapshotStatus struct {
	// State is the snapshot's state.
	State SnapshotState
	// Reason is a short machine-readable cause; may be empty.
	Reason string
	// Message explains the state for people; may be empty.
	Message string
	// LastTransitionAt is when the snapshot entered State; zero if unknown.
	LastTransitionAt time.Time
}

// Snapshot is a durable capture of a sandbox, from which new sandboxes
// can be created ([Client.CreateFromSnapshot]).
type Snapshot struct {
	// ID identifies the snapshot.
	ID string
	// SandboxID is the sandbox it was taken from.
	SandboxID string
	// Name is the caller's name for it, or "".
	Name string
	// Status is the snapshot's state.
	Status SnapshotStatus
	// CreatedAt is when it was taken.
	CreatedAt time.Time
}

// SnapshotPage is one page of [Client.ListSnapshots].
type SnapshotPage struct {
	// Items are the snapshots on this page.
	Items []*Snapshot
	Pagination
}
