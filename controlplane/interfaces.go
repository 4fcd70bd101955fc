package controlplane

import (
	"context"
	"iter"
	"net/http"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// Small interfaces, one per capability, so that code using this package
// (and the waiters) can take a fake or a gomock mock from
// controlplane/mockcontrolplane instead of a [*Client].

// Creator creates sandboxes.
type Creator interface {
	// Create is [Client.Create].
	Create(ctx context.Context, sb *Sandbox, opts *CreateOptions) (*Sandbox, error)
}

// Getter reads one sandbox; a [Waiter] needs only this.
type Getter interface {
	// Get is [Client.Get].
	Get(ctx context.Context, name string, opts *GetOptions) (*Sandbox, error)
}

// ExternalIDGetter finds a sandbox by its external id.
type ExternalIDGetter interface {
	// GetByExternalID is [Client.GetByExternalID].
	GetByExternalID(ctx context.Context, externalID string) (*Sandbox, error)
}

// Lister lists the workspace's sandboxes.
type Lister interface {
	// List is [Client.List].
	List(ctx context.Context, opts *ListOptions) (*SandboxPage, error)
	// All is [Client.All].
	All(ctx context.Context, opts *ListOptions) iter.Seq2[*Sandbox, error]
}

// Updater replaces a sandbox's definition.
type Updater interface {
	// Update is [Client.Update].
	Update(ctx context.Context, sb *Sandbox) (*Sandbox, error)
}

// Deleter deletes sandboxes.
type Deleter interface {
	// Delete is [Client.Delete].
	Delete(ctx context.Context, name string) (*Sandbox, error)
}

// LifetimeManager changes when sandboxes expire.
type LifetimeManager interface {
	// SetTTL is [Client.SetTTL].
	SetTTL(ctx context.Context, name string, ttl time.Duration, opts *LifetimeOptions) (*Sandbox, error)
	// SetExpirationPolicies is [Client.SetExpirationPolicies].
	SetExpirationPolicies(ctx context.Context, name string, policies []ExpirationPolicy, opts *LifetimeOptions) (*Sandbox, error)
	// ExtendTTL is [Client.ExtendTTL].
	ExtendTTL(ctx context.Context, name string, atLeast time.Duration, opts *LifetimeOptions) (*Sandbox, error)
}

// Ensurer gets or creates sandboxes by name.
type Ensurer interface {
	// EnsureSandbox is [Client.EnsureSandbox].
	EnsureSandbox(ctx context.Context, sb *Sandbox, opts *EnsureOptions) (*Sandbox, error)
}

// Forker copies sandboxes.
type Forker interface {
	// Fork is [Client.Fork].
	Fork(ctx context.Context, sandbox string, req *ForkRequest) (*ForkResult, error)
}

// Snapshotter takes, lists and deletes snapshots of sandboxes.
type Snapshotter interface {
	// ListSnapshots is [Client.ListSnapshots].
	ListSnapshots(ctx context.Context, sandbox string) ([]*Snapshot, error)
	// CreateSnapshot is [Client.CreateSnapshot].
	CreateSnapshot(ctx context.Context, sandbox string, opts *CreateSnapshotOptions) (*Snapshot, error)
	// DeleteSnapshot is [Client.DeleteSnapshot].
	DeleteSnapshot(ctx context.Context, sandbox, id string) error
}

// PreviewManager exposes ports of sandboxes at preview URLs and hands out
// tokens for private ones.
type PreviewManager interface {
	// ListPreviews is [Client.ListPreviews].
	ListPreviews(ctx context.Context, sandbox string) ([]*Preview, error)
	// CreatePreview is [Client.CreatePreview].
	CreatePreview(ctx context.Context, sandbox string, p *Preview, opts *CreatePreviewOptions) (*Preview, error)
	// GetPreview is [Client.GetPreview].
	GetPreview(ctx context.Context, sandbox, preview string) (*Preview, error)
	// UpdatePreview is [Client.UpdatePreview].
	UpdatePreview(ctx context.Context, sandbox string, p *Preview) (*Preview, error)
	// DeletePreview is [Client.DeletePreview].
	DeletePreview(ctx context.Context, sandbox, preview string) (*Preview, error)
	// ListPreviewTokens is [Client.ListPreviewTokens].
	ListPreviewTokens(ctx context.Context, sandbox, preview string) ([]*PreviewToken, error)
	// CreatePreviewToken is [Client.CreatePreviewToken].
	CreatePreviewToken(ctx context.Context, sandbox, preview string, expiresAt time.Time, opts *CreatePreviewTokenOptions) (*PreviewToken, error)
	// DeletePreviewToken is [Client.DeletePreviewToken].
	DeletePreviewToken(ctx context.Context, sandbox, preview, token string) error
	// PreviewHTTPClient is [Client.PreviewHTTPClient].
	PreviewHTTPClient(p *Preview, token *PreviewToken, base *http.Client) (*http.Client, error)
}

// ScheduleManager runs commands in sandboxes on a schedule.
type ScheduleManager interface {
	// ListSchedules is [Client.ListSchedules].
	ListSchedules(ctx context.Context, sandbox string, opts *ScheduleListOptions) (*SchedulePage, error)
	// AllSchedules is [Client.AllSchedules].
	AllSchedules(ctx context.Context, sandbox string, opts *ScheduleListOptions) iter.Seq2[*Schedule, error]
	// CreateSchedule is [Client.CreateSchedule].
	CreateSchedule(ctx context.Context, sandbox string, s *Schedule) (*Schedule, error)
	// GetSchedule is [Client.GetSchedule].
	GetSchedule(ctx context.Context, sandbox, id string) (*Schedule, error)
	// UpdateSchedule is [Client.UpdateSchedule].
	UpdateSchedule(ctx context.Context, sandbox string, s *Schedule) (*Schedule, error)
	// DeleteSchedule is [Client.DeleteSchedule].
	DeleteSchedule(ctx context.Context, sandbox, id string) (*Schedule, error)
	// ListScheduleExecutions is [Client.ListScheduleExecutions].
	ListScheduleExecutions(ctx context.Context, sandbox string, opts *ExecutionListOptions) (*ExecutionPage, error)
	// AllScheduleExecutions is [Client.AllScheduleExecutions].
	AllScheduleExecutions(ctx context.Context, sandbox string, opts *ExecutionListOptions) iter.Seq2[*ScheduleExecution, error]
}

// HubLister lists the Sandbox Hub's templates.
type HubLister interface {
	// ListHub is [Client.ListHub].
	ListHub(ctx context.Context) ([]*HubTemplate, error)
}

// API is everything a [*Client] does with the control plane.
type API interface {
	Creator
	Getter
	ExternalIDGetter
	Lister
	Updater
	Deleter
	LifetimeManager
	Ensurer
	Forker
	Snapshotter
	PreviewManager
	ScheduleManager
	HubLister
	// CreateAndWait is [Client.CreateAndWait].
	CreateAndWait(ctx context.Context, sb *Sandbox, opts *sandboxkit.WaitOptions) (*Sandbox, error)
	// DeleteAndWait is [Client.DeleteAndWait].
	DeleteAndWait(ctx context.Context, name string, opts *sandboxkit.WaitOptions) (*Sandbox, error)
}

var (
	_ Creator          = (*Client)(nil)
	_ Getter           = (*Client)(nil)
	_ ExternalIDGetter = (*Client)(nil)
	_ Lister           = (*Client)(nil)
	_ Updater          = (*Client)(nil)
	_ Deleter          = (*Client)(nil)
	_ LifetimeManager  = (*Client)(nil)
	_ Ensurer          = (*Client)(nil)
	_ Forker           = (*Client)(nil)
	_ Snapshotter      = (*Client)(nil)
	_ PreviewManager   = (*Client)(nil)
	_ ScheduleManager  = (*Client)(nil)
	_ HubLister        = (*Client)(nil)
	_ API              = (*Client)(nil)
)
