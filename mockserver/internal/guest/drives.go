package guest

import (
	"context"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

var driveNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// MountDrive implements POST /drives/mount. Nothing is really mounted: the
// mount is recorded and its mount point created as an empty directory.
// A mount point already in use is a 409.
func (h handler) MountDrive(_ context.Context, req *sandboxsrv.DriveMountRequest) (*sandboxsrv.DriveMountResponse, error) {
	if !driveNameRE.MatchString(req.DriveName) {
		return nil, failure(http.StatusBadRequest, "invalid drive name: "+req.DriveName)
	}
	if !strings.HasPrefix(req.MountPath, "/") {
		return nil, failure(http.StatusBadRequest, "invalid mount path: must be an absolute path")
	}
	mp := path.Clean(req.MountPath)
	if mp == "/" {
		return nil, failure(http.StatusBadRequest, "invalid mount path: cannot mount on /")
	}
	drivePath := req.DrivePath.Or("/")
	if drivePath == "" {
		drivePath = "/"
	}
	if !strings.HasPrefix(drivePath, "/") {
		return nil, failure(http.StatusBadRequest, "Invalid drive path: Drive path must start with /")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.mounts[mp]; busy {
		return nil, failure(http.StatusConflict, "Failed to mount drive: mount path is already in use: "+mp)
	}
	if _, err := h.mkdirAllLocked(mp, 0o755, true); err != nil {
		return nil, failure(http.StatusInternalServerError, "Failed to mount drive: "+err.Error())
	}
	info := sandboxsrv.DriveMountInfo{
		DriveName: sandboxsrv.NewOptString(req.DriveName),
		DrivePath: sandboxsrv.NewOptString(drivePath),
		MountPath: sandboxsrv.NewOptString(mp),
		ReadOnly:  sandboxsrv.NewOptBool(req.ReadOnly.Or(false)),
		UIDMap:    sandboxsrv.NewOptString(req.UIDMap.Or("")),
		GidMap:    sandboxsrv.NewOptString(req.GidMap.Or("")),
	}
	h.mounts[mp] = info
	return &sandboxsrv.DriveMountResponse{
		Success:   sandboxsrv.NewOptBool(true),
		Message:   sandboxsrv.NewOptString("Drive mounted successfully"),
		DriveName: info.DriveName,
		DrivePath: info.DrivePath,
		MountPath: info.MountPath,
		ReadOnly:  info.ReadOnly,
		UIDMap:    info.UIDMap,
		GidMap:    info.GidMap,
	}, nil
}

// ListDrives implements GET /drives/mount: the mounts by mount point.
func (h handler) ListDrives(context.Context) (*sandboxsrv.DriveListResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.mounts))
	for k := range h.mounts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []sandboxsrv.DriveMountInfo{}
	for _, k := range keys {
		out = append(out, h.mounts[k])
	}
	return &sandboxsrv.DriveListResponse{Mounts: out}, nil
}

// UnmountDrive implements DELETE /drives/mount/{mountPath}. The mount
// point is always absolute (a relative one gets a leading slash); one that
// is not mounted is a 500, as on the real server.
func (h handler) UnmountDrive(_ context.Context, params sandboxsrv.UnmountDriveParams) (*sandboxsrv.DriveUnmountResponse, error) {
	mp := path.Clean("/" + params.MountPath)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.mounts[mp]; !ok {
		return nil, failure(http.StatusInternalServerError, "Failed to unmount drive: mount path does not exist: "+mp)
	}
	delete(h.mounts, mp)
	return &sandboxsrv.DriveUnmountResponse{
		Success:   sandboxsrv.NewOptBool(true),
		Message:   sandboxsrv.NewOptString("Drive unmounted successfully"),
		MountPath: sandboxsrv.NewOptString(mp),
	}, nil
}
