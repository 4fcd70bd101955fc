package lifecycle

import (
	"context"
	"iter"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Small interfaces, one per capability, so that code taking a sandbox
// client can accept a fake or a gomock mock (package mocklifecycle) in its
// tests. [*Client] implements all of them; [API] gathers every method of
// Client.

// Getter reads one sandbox. [Waiter] needs only this.
type Getter interface {
	// Get is [Client.Get].
	Get(ctx context.Context, id string) (*Sandbox, error)
}

// Lister lists sandboxes one page at a time.
type Lister interface {
	// List is [Client.List].
	List(ctx context.Context, opts *ListOptions) (*SandboxPage, error)
}

// Creator creates sandboxes.
type Creator interface {
	// Create is [Client.Create].
	Create(ctx context.Context, req *CreateRequest, opts *CreateOptions) (*Sandbox, error)
}

// Deleter deletes sandboxes.
type Deleter interface {
	// Delete is [Client.Delete].
	Delete(ctx context.Context, id string) error
}

// Pauser pauses sandboxes.
type Pauser interface {
	// Pause is [Client.Pause].
	Pause(ctx context.Context, id string) error
}

// Resumer resumes sandboxes.
type Resumer interface {
	// Resume is [Client.Resume].
	Resume(ctx context.Context, id string) error
}

// ExpiryRenewer moves a sandbox's expiry. With [Getter] it makes a
// [RenewerAPI].
type ExpiryRenewer interface {
	// Renew is [Client.Renew].
	Renew(ctx context.Context, id string, expiresAt time.Time) (time.Time, error)
}

// EndpointGetter returns addresses of ports inside sandboxes.
type EndpointGetter interface {
	// Endpoint is [Client.Endpoint].
	Endpoint(ctx context.Context, id string, port int, opts *EndpointOptions) (*Endpoint, error)
}

// MetadataPatcher changes sandbox metadata.
type MetadataPatcher interface {
	// PatchMetadata is [Client.PatchMetadata].
	PatchMetadata(ctx context.Context, id string, patch *MetadataPatch) (*Sandbox, error)
}

// SnapshotGetter reads one snapshot. [SnapshotWaiter] needs only this.
type SnapshotGetter interface {
	// GetSnapshot is [Client.GetSnapshot].
	GetSnapshot(ctx context.Context, id string) (*Snapshot, error)
}

// Snapshotter manages snapshots.
type Snapshotter interface {
	// CreateSnapshot is [Client.CreateSnapshot].
	CreateSnapshot(ctx context.Context, sandboxID string, opts *CreateSnapshotOptions) (*Snapshot, error)
	// GetSnapshot is [Client.GetSnapshot].
	GetSnapshot(ctx context.Context, id string) (*Snapshot, error)
	// ListSnapshots is [Client.ListSnapshots].
	ListSnapshots(ctx context.Context, opts *ListSnapshotsOptions) (*SnapshotPage, error)
	// DeleteSnapshot is [Client.DeleteSnapshot].
	DeleteSnapshot(ctx context.Context, id string) error
}

// API is every method of [*Client]: the interface to depend on when a
// component uses much of the lifecycle API.
type API interface {
	Getter
	Lister
	Creator
	Deleter
	Pauser
	Resumer
	ExpiryRenewer
	EndpointGetter
	MetadataPatcher
	Snapshotter

	// All is [Client.All].
	All(ctx context.Context, opts *ListOptions) iter.Seq2[*Sandbox, error]
	// AllSnapshots is [Client.AllSnapshots].
	AllSnapshots(ctx context.Context, opts *ListSnapshotsOptions) iter.Seq2[*Snapshot, error]
	// CreateFromSnapshot is [Client.CreateFromSnapshot].
	CreateFromSnapshot(ctx context.Context, snapshotID string, req *CreateRequest, opts *CreateOptions) (*Sandbox, error)
	// CreateAndWait is [Client.CreateAndWait].
	CreateAndWait(ctx context.Context, req *CreateRequest, opts *CreateAndWaitOptions) (*Sandbox, error)
	// PauseAndWait is [Client.PauseAndWait].
	PauseAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) (*Sandbox, error)
	// ResumeAndWait is [Client.ResumeAndWait].
	ResumeAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) (*Sandbox, error)
	// DeleteAndWait is [Client.DeleteAndWait].
	DeleteAndWait(ctx context.Context, id string, wait *sandboxkit.WaitOptions) error
	// SandboxClient is [Client.SandboxClient].
	SandboxClient(ctx context.Context, id string, opts ...sandboxkit.Option) (*sandbox.Client, error)
	// CreateSnapshotAndWait is [Client.CreateSnapshotAndWait].
	CreateSnapshotAndWait(ctx context.Context, sandboxID string, opts *CreateSnapshotAndWaitOptions) (*Snapshot, error)
}

var (
	_ API             = (*Client)(nil)
	_ Getter          = (*Client)(nil)
	_ Lister          = (*Client)(nil)
	_ Creator         = (*Client)(nil)
	_ Deleter         = (*Client)(nil)
	_ Pauser          = (*Client)(nil)
	_ Resumer         = (*Client)(nil)
	_ ExpiryRenewer   = (*Client)(nil)
	_ RenewerAPI      = (*Client)(nil)
	_ EndpointGetter  = (*Client)(nil)
	_ MetadataPatcher = (*Client)(nil)
	_ Snapshotter     = (*Client)(nil)
	_ SnapshotGetter  = (*Client)(nil)
)
