package sandbox

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// Conversions between the generated types and the package's own. Times
// that do not parse become the zero time: the server sends "unknown" for
// some of them in development builds, and a report should not fail over a
// field the caller may not look at.

func healthFrom(r *sandboxapi.HealthResponse) *Health {
	h := &Health{
		Status:       r.Status,
		Version:      r.Version.Value,
		GitCommit:    r.GitCommit.Value,
		BuildTime:    parseRFC3339(r.BuildTime.Value),
		GoVersion:    r.GoVersion.Value,
		OS:           r.Os.Value,
		Arch:         r.Arch.Value,
		StartedAt:    parseRFC3339(r.StartedAt.Value),
		UpgradeCount: r.UpgradeCount.Value,
		LastUpgrade:  upgradeStatusFrom(&r.LastUpgrade.Value),
	}
	h.Uptime = uptimeFrom(r.UptimeSeconds.Value, r.Uptime.Value)
	return h
}

func upgradeStatusFrom(r *sandboxapi.UpgradeStatus) UpgradeStatus {
	return UpgradeStatus{
		State:           UpgradeState(r.Status),
		Step:            UpgradeStep(r.Step.Value),
		Version:         r.Version.Value,
		LastAttempt:     parseRFC3339(r.LastAttempt.Value),
		Error:           r.Error.Value,
		DownloadURL:     r.DownloadURL.Value,
		BinaryPath:      r.BinaryPath.Value,
		BytesDownloaded: r.BytesDownloaded.Value,
	}
}

func parseRFC3339(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseProcessTime reads the HTTP-date format of process times, and
// RFC 3339 as a fallback.
func parseProcessTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, err := http.ParseTime(s); err == nil {
		return t
	}
	return parseRFC3339(s)
}

func processFrom(r *sandboxapi.ProcessResponse) *Process {
	return &Process{
		PID:              r.Pid,
		Name:             r.Name,
		Command:          r.Command,
		Status:           ProcessStatus(r.Status),
		StartedAt:        parseProcessTime(r.StartedAt),
		CompletedAt:      parseProcessTime(r.CompletedAt.Value),
		ExitCode:         r.ExitCode,
		WorkingDir:       r.WorkingDir,
		Stdout:           r.Stdout.Value,
		Stderr:           r.Stderr.Value,
		Logs:             r.Logs.Value,
		RestartOnFailure: r.RestartOnFailure.Value,
		MaxRestarts:      r.MaxRestarts.Value,
		RestartCount:     r.RestartCount.Value,
		KeepAlive:        r.KeepAlive.Value,
	}
}

func execRequestTo(r *ExecRequest) *sandboxapi.ProcessRequest {
	out := &sandboxapi.ProcessRequest{
		Command:      r.Command,
		WaitForPorts: r.WaitForPorts,
	}
	if r.Name != "" {
		out.Name = sandboxapi.NewOptString(r.Name)
	}
	if r.WorkingDir != "" {
		out.WorkingDir = sandboxapi.NewOptString(r.WorkingDir)
	}
	if len(r.Env) > 0 {
		out.Env = sandboxapi.NewOptProcessRequestEnv(r.Env)
	}
	if r.WaitForCompletion {
		out.WaitForCompletion = sandboxapi.NewOptBool(true)
	}
	if r.Timeout > 0 {
		out.Timeout = sandboxapi.NewOptInt(int((r.Timeout + time.Second - 1) / time.Second))
	}
	if r.RestartOnFailure {
		out.RestartOnFailure = sandboxapi.NewOptBool(true)
		out.MaxRestarts = sandboxapi.NewOptInt(r.MaxRestarts)
	}
	if r.KeepAlive {
		out.KeepAlive = sandboxapi.NewOptBool(true)
	}
	return out
}

// parsePerm reads octal mode bits such as "644" or "0755".
func parsePerm(s string) os.FileMode {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil {
		return 0
	}
	return os.FileMode(n).Perm()
}

// baseName is name, or the last element of p when the server sent none.
func baseName(name, p string) string {
	if name != "" {
		return name
	}
	return path.Base(p)
}

func fileInfoFrom(r *sandboxapi.File) FileInfo {
	return FileInfo{
		Path:    r.Path,
		Name:    baseName(r.Name.Value, r.Path),
		Mode:    parsePerm(r.Permissions),
		Size:    r.Size,
		ModTime: parseRFC3339(r.LastModified),
		Owner:   r.Owner,
		Group:   r.Group,
	}
}

func directoryFrom(r *sandboxapi.Directory) *Directory {
	d := &Directory{
		Path:           r.Path,
		Name:           baseName(r.Name.Value, r.Path),
		Files:          make([]FileInfo, len(r.Files)),
		Subdirectories: make([]DirEntry, len(r.Subdirectories)),
	}
	for i := range r.Files {
		d.Files[i] = fileInfoFrom(&r.Files[i])
	}
	for i, s := range r.Subdirectories {
		d.Subdirectories[i] = DirEntry{Path: s.Path, Name: baseName(s.Name.Value, s.Path)}
	}
	return d
}

// directoryResult converts the answer of a listing operation.
func directoryResult(r *sandboxapi.FileOrDirectory) (*Directory, error) {
	if d, ok := r.GetDirectory(); ok {
		return directoryFrom(&d), nil
	}
	return nil, ErrNotDirectory
}

func optStrings(v []string) sandboxapi.OptString {
	if v == nil {
		return sandboxapi.OptString{}
	}
	return sandboxapi.NewOptString(strings.Join(v, ","))
}

// excludeDirs encodes an ExcludeDirs option: nil is unset (the server's
// default list); a list that names nothing is ",", which the real server
// reads as "exclude nothing" where it reads an empty value as unset.
func excludeDirs(v []string) sandboxapi.OptString {
	if v == nil {
		return sandboxapi.OptString{}
	}
	if s := strings.Join(v, ","); strings.Trim(s, ", ") != "" {
		return sandboxapi.NewOptString(s)
	}
	return sandboxapi.NewOptString(",")
}

func optPositive(n int) sandboxapi.OptInt {
	if n <= 0 {
		return sandboxapi.OptInt{}
	}
	return sandboxapi.NewOptInt(n)
}

// maxUptimeSeconds is the longest uptime a time.Duration holds, in seconds.
const maxUptimeSeconds = float64(math.MaxInt64) / float64(time.Second)

// uptimeFrom reads the server's uptime: uptimeSeconds when it is positive,
// else the uptime string. The result is never negative, and a value beyond
// the range of time.Duration is clamped to its maximum rather than
// wrapped.
func uptimeFrom(seconds float64, text string) time.Duration {
	switch {
	case seconds >= maxUptimeSeconds:
		return math.MaxInt64
	case seconds > 0:
		return time.Duration(seconds * float64(time.Second))
	}
	if d, err := time.ParseDuration(text); err == nil && d > 0 {
		return d
	}
	return 0
}

// uploadedPartFrom converts one part of a multipart session.
func uploadedPartFrom(p sandboxapi.UploadedPart) UploadedPart {
	return UploadedPart{
		PartNumber: p.PartNumber.Value,
		ETag:       p.Etag.Value,
		Size:       p.Size.Value,
		UploadedAt: parseRFC3339(p.UploadedAt.Value),
	}
}

// driveMountFrom converts one mount of GET /drives/mount.
func driveMountFrom(m *sandboxapi.DriveMountInfo) DriveMount {
	return DriveMount{
		DriveName: m.DriveName.Value,
		DrivePath: m.DrivePath.Value,
		MountPath: m.MountPath.Value,
		ReadOnly:  m.ReadOnly.Value,
		UIDMap:    m.UIDMap.Value,
		GIDMap:    m.GidMap.Value,
	}
}

// driveMountTo is the body of POST /drives/mount for m.
func driveMountTo(m *DriveMount) *sandboxapi.DriveMountRequest {
	req := &sandboxapi.DriveMountRequest{DriveName: m.DriveName, MountPath: m.MountPath}
	if m.DrivePath != "" {
		req.DrivePath = sandboxapi.NewOptString(m.DrivePath)
	}
	if m.ReadOnly {
		req.ReadOnly = sandboxapi.NewOptBool(true)
	}
	if m.UIDMap != "" {
		req.UIDMap = sandboxapi.NewOptString(m.UIDMap)
	}
	if m.GIDMap != "" {
		req.GidMap = sandboxapi.NewOptString(m.GIDMap)
	}
	return req
}

// mountedDriveFrom is the mount the server reports having made for the
// request m; fields it leaves out are m's.
func mountedDriveFrom(r *sandboxapi.DriveMountResponse, m *DriveMount) *DriveMount {
	return &DriveMount{
		DriveName: r.DriveName.Or(m.DriveName),
		DrivePath: r.DrivePath.Or(m.DrivePath),
		MountPath: r.MountPath.Or(m.MountPath),
		ReadOnly:  r.ReadOnly.Or(m.ReadOnly),
		UIDMap:    r.UIDMap.Value,
		GIDMap:    r.GidMap.Value,
	}
}

// Four operations answer 200 with a raw body or in one of two shapes, so
// the generated client returns a sum type for them. The helpers below take
// the shape the request asked for; another one (a server that ignored the
// Accept header) is an error.

// errAnswerShape reports a 200 answer in a shape the request did not ask
// for; got says which.
func errAnswerShape(got string) error {
	return fmt.Errorf("the server answered with %s, not what the request asked for", got)
}

// execResult is the process object of a JSON exec answer.
func execResult(res sandboxapi.ExecProcessRes) (*sandboxapi.ProcessResponse, error) {
	if r, ok := res.(*sandboxapi.ProcessResponse); ok {
		return r, nil
	}
	return nil, errAnswerShape("an output stream")
}

// entryResult is the JSON file or listing of a GET /filesystem/{path}
// answer.
func entryResult(res sandboxapi.GetFilesystemRes) (*sandboxapi.FileOrDirectory, error) {
	if r, ok := res.(*sandboxapi.FileOrDirectory); ok {
		return r, nil
	}
	return nil, errAnswerShape("raw file bytes")
}

// downloadBody is the body of a raw GET /filesystem/{path} answer.
func downloadBody(res sandboxapi.GetFilesystemRes) (io.ReadCloser, error) {
	if r, ok := res.(*sandboxapi.GetFilesystemOKRawApplicationOctetStream); ok {
		return r.Response.Body, nil
	}
	return nil, errAnswerShape("JSON")
}

// logStreamBody is the body of a GET /process/{identifier}/logs/stream
// answer.
func logStreamBody(res sandboxapi.StreamProcessLogsRes) (io.ReadCloser, error) {
	if r, ok := res.(*sandboxapi.StreamProcessLogsOKRawTextPlain); ok {
		return r.Response.Body, nil
	}
	return nil, errAnswerShape("no stream")
}

// watchBody is the body of a GET /watch/filesystem/{path} answer.
func watchBody(res sandboxapi.WatchFilesystemRes) (io.ReadCloser, error) {
	if r, ok := res.(*sandboxapi.WatchFilesystemOKRawTextPlain); ok {
		return r.Response.Body, nil
	}
	return nil, errAnswerShape("no stream")
}
