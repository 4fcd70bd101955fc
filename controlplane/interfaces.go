package controlplane

import (
	"context"
	"time"
)

// Small interfaces, one per capability, so that code using this package
// (and the waiters) can take a fake or a gomock mock from
// controlplane/mockcontrolplane instead of a [*Client].

// Creator creates sandboxes.
type Creator interface {
	// Create is [Client.Create].
	Create(ctx context.Context, sb *Sandbox, opts *CreateOptions) (*Sandbox, error)
}

// Getter reads one sandbox; the waiters need only this.
type Getter interface {
	// Get is [Client.Get].
	Get(ctx context.Context, name string, opts *GetOptions) (*Sandbox, error)
}

// Lister lists the workspace's sandboxes.
type Lister interface {
	// List is [Client.List].
	List(ctx context.Context, opts *ListOptions) ([]*Sandbox, error)
}

// Updater replaces a sandbox's definition.
type Updater interface {
	// Update is [Client.Update].
	Update(ctx context.Context, sb *Sandbox, opts *UpdateOptions) (*Sandbox, error)
}

// Deleter deletes sandboxes.
type Deleter interface {
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

// Ensurer gets or creates sandboxes by name.
type Ensurer interface {
	// EnsureSandbox is [Client.EnsureSandbox].
	EnsureSandbox(ctx context.Context, sb *Sandbox, opts *EnsureOptions) (*Sandbox, error)
}

// API is everything a [*Client] does with the control plane.
type API interface {
	Creator
	Getter
	Lister
	Updater
	Deleter
	LifetimeManager
	Ensurer
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
	_ Creator         = (*Client)(nil)
	_ Getter          = (*Client)(nil)
	_ Lister          = (*Client)(nil)
	_ Updater         = (*Client)(nil)
	_ Deleter         = (*Client)(nil)
	_ LifetimeManager = (*Client)(nil)
	_ Ensurer         = (*Client)(nil)
	_ API             = (*Client)(nil)
)
