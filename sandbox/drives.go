package sandbox

import (
	"context"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// DriveMount is an agent drive mounted (or to mount) in the sandbox.
type DriveMount struct {
	// DriveName is the drive; required to mount.
	DriveName string
	// DrivePath is the directory of the drive that is mounted (the
	// server's default is "/").
	DrivePath string
	// MountPath is the absolute local mount point; required to mount.
	MountPath string
	// ReadOnly refuses writes.
	ReadOnly bool
	// UIDMap and GIDMap are the local uid and gid the drive's files show
	// as owned by.
	UIDMap, GIDMap string
}

// ListDrives lists the mounted drives.
//
// GET /drives/mount
func (c *Client) ListDrives(ctx context.Context) ([]DriveMount, error) {
	const op = "ListDrives"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	r, err := c.api.ListDrives(ctx)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return driveMountsFrom(r), nil
}

// MountDrive mounts a drive and returns the mount as the server made it
// (with the uid and gid it chose).
//
// POST /drives/mount
func (c *Client) MountDrive(ctx context.Context, m *DriveMount) (*DriveMount, error) {
	const op = "MountDrive"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "mount", Reason: "must not be nil"})
	}
	if err := glue.ValidateName("drive name", m.DriveName); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if err := checkAbsPath("mount path", m.MountPath); err != nil {
		return nil, wrap(ctx, op, err)
	}
	r, err := c.api.MountDrive(ctx, driveMountTo(m))
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return mountedDriveFrom(r, m), nil
}

// UnmountDrive releases the drive mounted at mountPath, an absolute path
// such as "/mnt/data".
//
// DELETE /drives/mount/{mountPath}
func (c *Client) UnmountDrive(ctx context.Context, mountPath string) error {
	const op = "UnmountDrive"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkAbsPath("mount path", mountPath); err != nil {
		return wrap(ctx, op, err)
	}
	if mountPathParam(mountPath) == "" {
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "mount path", Value: mountPath, Reason: "must not be the root"})
	}
	_, err := c.api.UnmountDrive(ctx, sandboxapi.UnmountDriveParams{MountPath: mountPathParam(mountPath)}, fsPathOpt)
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}
