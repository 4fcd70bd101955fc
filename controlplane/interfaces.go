package controlplane

import (
	"context"
	"time"
)

// Small interfaces, one per capability, so that code using this package
// (and the waiters) can take a fake or a gomock mock from
// controlplane/mockcontrolplane instead of a [*Client].

// SandboxCreator creates sandboxes.
type SandboxCreator interface {
	// Create is [Client.Create].
	Create(ctx context.Context, sb *Sandbox, opts *CreateOptions) (*Sandbox, error)
}

// SandboxGetter reads one sandbox; the waiters need only this.
type SandboxGetter interface {
	// Get is [Client.Get].
	Get(ctx context.Context, name string, opts *GetOptions) (*Sandbox, error)
}

// SandboxLister lists the workspace's sandboxes.
type SandboxLister interface {
	// List is [Client.List].
	List(ctx context.Context, opts *ListOptions) ([]*Sandbox, error)
}

// SandboxUpdater replaces a sandbox's definition.
type SandboxUpdater interface {
	// Update is [Client.Update].
	Update(ctx context.Context, sb *Sandbox, opts *UpdateOptions) (*Sandbox, error)
}

// SandboxDeleter deletes sandboxes.
type SandboxDeleter interface {
	// Delete is [Client.Delete].
	Delete(ctx context.Context, name string, opts *DeleteOptions) (*Sandbox, error)
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

// SandboxEnsurer gets or creates sandboxes by name.
type SandboxEnsurer interface {
	// EnsureSandbox is [Client.EnsureSandbox].
	EnsureSandbox(ctx context.Context, sb *Sandbox, opts *EnsureOptions) (*Sandbox, error)
}

// API is everything a [*Client] does with the control plane.
type API interface {
	SandboxCreator
	SandboxGetter
	SandboxLister
	SandboxUpdater
	SandboxDeleter
	LifetimeManager
	SandboxEnsurer
	// WaitDeployed is [Client.WaitDeployed].
	WaitDeployed(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error)
	// WaitDeleted is [Client.WaitDeleted].
	WaitDeleted(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error)
	// CreateAndWait is [Client.CreateAndWait].
	CreateAndWait(ctx context.Context, sb *Sandbox, opts *WaitOptions) (*Sandbox, error)
	// DeleteAndWait is [Client.DeleteAndWait].
	DeleteAndWait(ctx context.Context, name string, opts *WaitOptions) (*Sandbox, error)
}

var (
	_ SandboxCreator  = (*Client)(nil)
	_ SandboxGetter   = (*Client)(nil)
	_ SandboxLister   = (*Client)(nil)
	_ SandboxUpdater  = (*Client)(nil)
	_ SandboxDeleter  = (*Client)(nil)
	_ LifetimeManager = (*Client)(nil)
	_ SandboxEnsurer  = (*Client)(nil)
	_ API             = (*Client)(nil)
)
