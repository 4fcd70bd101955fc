package controlplane

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// SnapshotStatus is the state of a [Snapshot]; the service may add
// values.
type SnapshotStatus string

// The documented snapshot statuses.
const (
	SnapshotPending SnapshotStatus = "pending"
	SnapshotReady   SnapshotStatus = "ready"
	SnapshotFailed  SnapshotStatus = "failed"
)

// Snapshot is a point-in-time copy of a sandbox, to fork from.
type Snapshot struct {
	// ID identifies the snapshot.
	ID string
	// Name is the name given at creation, if any.
	Name string
	// SandboxName is the sandbox it was taken of.
	SandboxName string
	// Workspace is the sandbox's workspace.
	Workspace string
	// Status is pending, ready or failed.
	Status SnapshotStatus
	// CreatedAt is when it was taken; CreatedBy is who took it.
	CreatedAt time.Time
	// CreatedBy is who took it.
	CreatedBy string
}

// CreateSnapshotOptions configures [Client.CreateSnapshot].
type CreateSnapshotOptions struct {
	// Name is a human-readable name for the snapshot.
	Name string
}

// ForkTarget is what [Client.Fork] makes.
type ForkTarget string

// The fork targets.
const (
	// ForkToSandbox makes a new sandbox, which must not exist yet.
	ForkToSandbox ForkTarget = "sandbox"
	// ForkToApplication makes an application, or adds a revision to an
	// existing one.
	ForkToApplication ForkTarget = "application"
)

// ForkRequest says what [Client.Fork] makes.
type ForkRequest struct {
	// Target is the kind of resource to make; it is required.
	Target ForkTarget
	// TargetName names it; it is required (a sandbox name for
	// [ForkToSandbox]).
	TargetName string
	// SnapshotID forks from this snapshot instead of the sandbox's
	// current state.
	SnapshotID string
	// Port is the port an application exposes.
	Port int
	// Prefix is the application's URL prefix.
	Prefix string
	// CustomDomain is the application's custom domain.
	CustomDomain string
	// Traffic, set on an existing application, makes the new revision a
	// canary that gets this percentage (0 to 100) of the traffic.
	Traffic *int
}

// ForkResult is what a fork made.
type ForkResult struct {
	// Target is the kind of resource made.
	Target ForkTarget
	// Name is its name.
	Name string
	// SnapshotID is the snapshot the fork came from.
	SnapshotID string
}

// HubTemplate is a ready-made sandbox template of the Sandbox Hub, to
// create sandboxes from ([Runtime.Image] = Image).
type HubTemplate struct {
	// Name identifies the template.
	Name string
	// DisplayName, Description and LongDescription describe it.
	DisplayName, Description, LongDescription string
	// Image is the sandbox image, e.g. "blaxel/python-data-science:latest".
	Image string
	// Memory is the suggested memory in MB.
	Memory int
	// Ports are the ports it exposes.
	Ports []Port
	// Categories are free-form category objects.
	Categories []map[string]any
	// Tags, Icon and URL are as the hub lists them.
	Tags, Icon, URL string
	// ComingSoon, Enterprise and Hidden are the hub's flags.
	ComingSoon, Enterprise, Hidden bool
}

// ListSnapshots returns the snapshots of the sandbox called sandbox.
//
// GET /sandboxes/{sandboxName}/snapshots
func (c *Client) ListSnapshots(ctx context.Context, sandbox string) ([]*Snapshot, error) {
	const op = "controlplane.ListSnapshots"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.ListSandboxSnapshots(ctx, api.ListSandboxSnapshotsParams{SandboxName: sandbox})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	out := make([]*Snapshot, 0, len(res))
	for i := range res {
		out = append(out, snapshotFromAPI(&res[i]))
	}
	return out, nil
}

// CreateSnapshot takes a snapshot of the sandbox called sandbox and
// returns it, usually pending.
//
// POST /sandboxes/{sandboxName}/snapshots
func (c *Client) CreateSnapshot(ctx context.Context, sandbox string, opts *CreateSnapshotOptions) (*Snapshot, error) {
	const op = "controlplane.CreateSnapshot"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	req := &api.SnapshotRequest{}
	if opts != nil {
		req.Name = optString(opts.Name)
	}
	res, err := c.api.CreateSandboxSnapshot(ctx, req, api.CreateSandboxSnapshotParams{SandboxName: sandbox})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return snapshotFromAPI(res), nil
}

// DeleteSnapshot deletes the snapshot with id of the sandbox called
// sandbox.
//
// DELETE /sandboxes/{sandboxName}/snapshots/{snapshotId}
func (c *Client) DeleteSnapshot(ctx context.Context, sandbox, id string) error {
	const op = "controlplane.DeleteSnapshot"
	if err := validateName(sandbox); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	if err := glue.ValidateID("snapshot id", id); err != nil {
		return glue.Wrap(ctx, op, err)
	}
	return glue.Wrap(ctx, op, c.api.DeleteSandboxSnapshot(ctx, api.DeleteSandboxSnapshotParams{SandboxName: sandbox, SnapshotID: id}))
}

// Fork copies the sandbox called sandbox (or one of its snapshots) into a
// new sandbox or an application, as req says. A sandbox target that
// exists already is an error matching [sandboxkit.ErrConflict].
//
// POST /sandboxes/{sandboxName}/fork
func (c *Client) Fork(ctx context.Context, sandbox string, req *ForkRequest) (*ForkResult, error) {
	const op = "controlplane.Fork"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := validateFork(req); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	body := &api.ForkRequest{
		TargetType:   string(req.Target),
		TargetName:   req.TargetName,
		SnapshotID:   optString(req.SnapshotID),
		Prefix:       optString(req.Prefix),
		CustomDomain: optString(req.CustomDomain),
	}
	if req.Port != 0 {
		body.Port = api.NewOptInt(req.Port)
	}
	if req.Traffic != nil {
		body.Traffic = api.NewOptInt(*req.Traffic)
	}
	res, err := c.api.ForkSandbox(ctx, body, api.ForkSandboxParams{SandboxName: sandbox})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return &ForkResult{Target: ForkTarget(res.Type.Or("")), Name: res.Name.Or(""), SnapshotID: res.SnapshotID.Or("")}, nil
}

// ListHub returns the templates of the Sandbox Hub.
//
// GET /sandbox/hub
func (c *Client) ListHub(ctx context.Context) ([]*HubTemplate, error) {
	const op = "controlplane.ListHub"
	res, err := c.api.ListSandboxHubDefinitions(ctx)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	out := make([]*HubTemplate, 0, len(res))
	for _, d := range res {
		t := &HubTemplate{
			Name: d.Name.Or(""), DisplayName: d.DisplayName.Or(""), Description: d.Description.Or(""),
			LongDescription: d.LongDescription.Or(""), Image: d.Image.Or(""), Memory: d.Memory.Or(0),
			Tags: d.Tags.Or(""), Icon: d.Icon.Or(""), URL: d.URL.Or(""),
			ComingSoon: d.ComingSoon.Or(false), Enterprise: d.Enterprise.Or(false), Hidden: d.Hidden.Or(false),
		}
		t.Ports = convertEach(d.Ports, func(p api.Port) Port {
			return Port{Name: p.Name.Or(""), Target: p.Target, Protocol: PortProtocol(p.Protocol.Or(""))}
		})
		for _, cat := range d.Categories {
			m := make(map[string]any, len(cat))
			for k, raw := range cat {
				var v any
				if json.Unmarshal(raw, &v) == nil {
					m[k] = v
				}
			}
			t.Categories = append(t.Categories, m)
		}
		out = append(out, t)
	}
	return out, nil
}

func validateFork(req *ForkRequest) error {
	if req == nil {
		return invalid("fork request", "", "must not be nil")
	}
	switch req.Target {
	case ForkToSandbox:
		if err := validateNewName(req.TargetName); err != nil {
			return err
		}
	case ForkToApplication:
		if err := glue.ValidateID("fork target name", req.TargetName); err != nil {
			return err
		}
	default:
		return invalid("fork target", string(req.Target), "must be sandbox or application")
	}
	if req.Port < 0 || req.Port > 65535 {
		return invalid("fork port", strconv.Itoa(req.Port), "must be between 1 and 65535 (or 0 for none)")
	}
	if t := req.Traffic; t != nil && (*t < 0 || *t > 100) {
		return invalid("fork traffic", strconv.Itoa(*t), "must be between 0 and 100")
	}
	return nil
}
