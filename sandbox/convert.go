package sandbox

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-faster/jx"
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

func findMatchesFrom(r *sandboxapi.FindResponse) []FindMatch {
	out := make([]FindMatch, len(r.Matches))
	for i, m := range r.Matches {
		out[i] = FindMatch{Path: m.Path, Type: EntryType(m.Type)}
	}
	return out
}

func searchMatchesFrom(r *sandboxapi.FuzzySearchResponse) []SearchMatch {
	out := make([]SearchMatch, len(r.Matches))
	for i, m := range r.Matches {
		out[i] = SearchMatch{Path: m.Path, Score: m.Score, Type: EntryType(m.Type)}
	}
	return out
}

func grepMatchesFrom(r *sandboxapi.ContentSearchResponse) []GrepMatch {
	out := make([]GrepMatch, len(r.Matches))
	for i, m := range r.Matches {
		out[i] = GrepMatch{Path: m.Path, Line: m.Line, Column: m.Column, Text: m.Text, Context: m.Context.Value}
	}
	return out
}

// decodePorts reads the "ports" array (absent or null: none).
func decodePorts(raw jx.Raw) ([]PortInfo, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := jx.DecodeBytes(raw)
	if d.Next() == jx.Null {
		return nil, nil
	}
	var out []PortInfo
	err := d.Arr(func(d *jx.Decoder) error {
		var p PortInfo
		err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
			if d.Next() == jx.Null {
				return d.Null()
			}
			var err error
			switch string(key) {
			case "pid":
				p.PID, err = d.Int()
			case "protocol":
				p.Protocol, err = d.Str()
			case "localAddr":
				p.LocalAddr, err = d.Str()
			case "localPort":
				p.LocalPort, err = d.Int()
			case "remoteAddr":
				p.RemoteAddr, err = d.Str()
			case "remotePort":
				p.RemotePort, err = d.Int()
			case "state":
				p.State, err = d.Str()
			case "processName":
				p.ProcessName, err = d.Str()
			default:
				err = d.Skip()
			}
			return err
		})
		out = append(out, p)
		return err
	})
	return out, err
}

// upgradeRequestTo is the body of POST /upgrade for o: none when o sets
// nothing, so that the server picks its default version.
func upgradeRequestTo(o *StartUpgradeOptions) sandboxapi.OptUpgradeRequest {
	if o.Version == "" && o.BaseURL == "" {
		return sandboxapi.OptUpgradeRequest{}
	}
	var r sandboxapi.UpgradeRequest
	if o.Version != "" {
		r.Version = sandboxapi.NewOptString(o.Version)
	}
	if o.BaseURL != "" {
		r.BaseURL = sandboxapi.NewOptString(o.BaseURL)
	}
	return sandboxapi.NewOptUpgradeRequest(r)
}

func upgradeAckFrom(r *sandboxapi.UpgradeResponse) *UpgradeAck {
	return &UpgradeAck{Message: r.Message, Version: r.Version.Value, BaseURL: r.BaseURL.Value}
}

// resultProcessFrom decodes the process object that the data of an exec
// stream's result event holds, with d (reused between events).
func resultProcessFrom(d *jx.Decoder, data []byte) (*Process, error) {
	var r sandboxapi.ProcessResponse
	d.ResetBytes(data)
	if err := r.Decode(d); err != nil {
		return nil, err
	}
	return processFrom(&r), nil
}

func rankedFilesFrom(r *sandboxapi.RerankingResponse) []RankedFile {
	out := make([]RankedFile, len(r.Files))
	for i, f := range r.Files {
		out[i] = RankedFile{Path: f.Path.Value, Score: f.Score.Value, Content: f.Content.Value}
	}
	return out
}

func driveMountsFrom(r *sandboxapi.DriveListResponse) []DriveMount {
	out := make([]DriveMount, len(r.Mounts))
	for i := range r.Mounts {
		out[i] = driveMountFrom(&r.Mounts[i])
	}
	return out
}

// uploadedPartsFrom converts the parts of a multipart session, in part
// order.
func uploadedPartsFrom(parts []sandboxapi.UploadedPart) []UploadedPart {
	out := make([]UploadedPart, len(parts))
	for i, p := range parts {
		out[i] = uploadedPartFrom(p)
	}
	slices.SortFunc(out, func(a, b UploadedPart) int { return a.PartNumber - b.PartNumber })
	return out
}

func multipartUploadsFrom(r *sandboxapi.MultipartListUploadsResponse) []MultipartUpload {
	out := make([]MultipartUpload, len(r.Uploads))
	for i, up := range r.Uploads {
		out[i] = MultipartUpload{
			UploadID:    up.UploadID.Value,
			Path:        up.Path.Value,
			Permissions: os.FileMode(up.Permissions.Value).Perm(),
			InitiatedAt: parseRFC3339(up.InitiatedAt.Value),
		}
		for _, p := range up.Parts.Value {
			out[i].Parts = append(out[i].Parts, uploadedPartFrom(p))
		}
		slices.SortFunc(out[i].Parts, func(a, b UploadedPart) int { return a.PartNumber - b.PartNumber })
	}
	return out
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
