package sandbox

import (
	"context"
	"io"
)

// One small interface per capability, so that code needing one of them
// can take a fake or a mock (package mocksandbox) instead of a *Client.

// HealthChecker reads the server's health; a [HealthWaiter] polls
// through it.
type HealthChecker interface {
	// Health reports the server's health; see [Client.Health].
	Health(ctx context.Context) (*Health, error)
}

// Upgrader upgrades the server in place.
type Upgrader interface {
	// StartUpgrade requests an upgrade; see [Client.StartUpgrade].
	StartUpgrade(ctx context.Context, opts *StartUpgradeOptions) (*UpgradeAck, error)
	// Upgrade requests an upgrade and follows it; see [Client.Upgrade].
	Upgrade(ctx context.Context, opts *UpgradeOptions) (*UpgradeResult, error)
	// WatchUpgrade follows an upgrade; see [Client.WatchUpgrade].
	WatchUpgrade(ctx context.Context, opts *WatchUpgradeOptions) (*UpgradeResult, error)
}

// ProcessGetter reads one process; a [Waiter] polls through it.
type ProcessGetter interface {
	// GetProcess returns a process by pid or name; see [Client.GetProcess].
	GetProcess(ctx context.Context, id string) (*Process, error)
}

// Executor runs commands.
type Executor interface {
	// Exec starts a command; see [Client.Exec].
	Exec(ctx context.Context, req *ExecRequest) (*Process, error)
	// ExecStream starts a command and follows its output; see
	// [Client.ExecStream].
	ExecStream(ctx context.Context, req *ExecRequest, opts *StreamOptions) (*Stream[ProcessEvent], error)
	// Run executes a command to its end; see [Client.Run].
	Run(ctx context.Context, command string, opts *RunOptions) (*RunResult, error)
}

// ProcessManager inspects and controls processes.
type ProcessManager interface {
	ProcessGetter
	// ListProcesses lists the processes; see [Client.ListProcesses].
	ListProcesses(ctx context.Context) ([]*Process, error)
	// StopProcess stops a process; see [Client.StopProcess].
	StopProcess(ctx context.Context, id string) error
	// KillProcess kills a process; see [Client.KillProcess].
	KillProcess(ctx context.Context, id string) error
	// Logs returns the output so far; see [Client.Logs].
	Logs(ctx context.Context, id string) (*ProcessLogs, error)
	// StreamLogs follows the output; see [Client.StreamLogs].
	StreamLogs(ctx context.Context, id string, opts *StreamOptions) (*Stream[ProcessEvent], error)
}

// FileReader reads files and directories.
type FileReader interface {
	// Read returns a text file's content; see [Client.Read].
	Read(ctx context.Context, path string) (string, error)
	// Open streams a file's bytes; see [Client.Open].
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// ListDirectory lists a directory; see [Client.ListDirectory].
	ListDirectory(ctx context.Context, path string) (*Directory, error)
	// Tree lists a directory by absolute path; see [Client.Tree].
	Tree(ctx context.Context, root string) (*Directory, error)
}

// FileWriter creates and removes files and directories.
type FileWriter interface {
	// Write writes a text file; see [Client.Write].
	Write(ctx context.Context, path, content string, opts *WriteOptions) error
	// Upload writes a file of any size; see [Client.Upload].
	Upload(ctx context.Context, path string, r io.Reader, opts *UploadOptions) (*UploadResult, error)
	// WriteTree writes several files; see [Client.WriteTree].
	WriteTree(ctx context.Context, root string, files map[string]string) (*Directory, error)
	// Mkdir creates a directory; see [Client.Mkdir].
	Mkdir(ctx context.Context, path string, opts *MkdirOptions) error
	// Remove deletes a file or directory; see [Client.Remove].
	Remove(ctx context.Context, path string, opts *RemoveOptions) error
	// RemoveTree deletes a directory by absolute path; see
	// [Client.RemoveTree].
	RemoveTree(ctx context.Context, root string, opts *RemoveOptions) error
}

// MultipartUploader drives multipart upload sessions step by step.
type MultipartUploader interface {
	// InitiateUpload opens a session; see [Client.InitiateUpload].
	InitiateUpload(ctx context.Context, path string, opts *InitiateUploadOptions) (string, error)
	// UploadPart sends a part; see [Client.UploadPart].
	UploadPart(ctx context.Context, uploadID string, partNumber int, r io.Reader, size int64) (*UploadedPart, error)
	// ListUploadedParts lists the parts received; see [Client.ListUploadedParts].
	ListUploadedParts(ctx context.Context, uploadID string) ([]UploadedPart, error)
	// CompleteUpload joins the parts; see [Client.CompleteUpload].
	CompleteUpload(ctx context.Context, uploadID string, parts []CompletedPart) error
	// AbortUpload discards a session; see [Client.AbortUpload].
	AbortUpload(ctx context.Context, uploadID string) error
	// ResumeUpload finishes a session; see [Client.ResumeUpload].
	ResumeUpload(ctx context.Context, uploadID string, src io.ReaderAt, size int64, opts *UploadOptions) (*UploadResult, error)
	// ListMultipartUploads lists open sessions; see [Client.ListMultipartUploads].
	ListMultipartUploads(ctx context.Context) ([]MultipartUpload, error)
}

// FileSearcher finds files by name or content.
type FileSearcher interface {
	// Find finds entries by name; see [Client.Find].
	Find(ctx context.Context, root string, opts *FindOptions) ([]FindMatch, error)
	// Search fuzzy-matches paths; see [Client.Search].
	Search(ctx context.Context, root string, opts *SearchOptions) ([]SearchMatch, error)
	// Grep searches file contents; see [Client.Grep].
	Grep(ctx context.Context, root, query string, opts *GrepOptions) ([]GrepMatch, error)
}

// FileWatcher follows changes in a directory.
type FileWatcher interface {
	// Watch follows changes; see [Client.Watch].
	Watch(ctx context.Context, dir string, opts *WatchOptions) (*Stream[FileEvent], error)
}

// NetworkManager handles process ports and the outbound tunnel.
type NetworkManager interface {
	// ListPorts lists a process's sockets; see [Client.ListPorts].
	ListPorts(ctx context.Context, pid int) ([]PortInfo, error)
	// MonitorPorts reports new ports; see [Client.MonitorPorts].
	MonitorPorts(ctx context.Context, pid int, callbackURL string) error
	// StopMonitoringPorts stops that; see [Client.StopMonitoringPorts].
	StopMonitoringPorts(ctx context.Context, pid int) error
	// UpdateTunnel replaces the tunnel; see [Client.UpdateTunnel].
	UpdateTunnel(ctx context.Context, config []byte) error
	// DisconnectTunnel removes it; see [Client.DisconnectTunnel].
	DisconnectTunnel(ctx context.Context) error
}

// DriveManager mounts agent drives.
type DriveManager interface {
	// ListDrives lists the mounts; see [Client.ListDrives].
	ListDrives(ctx context.Context) ([]DriveMount, error)
	// MountDrive mounts a drive; see [Client.MountDrive].
	MountDrive(ctx context.Context, m *DriveMount) (*DriveMount, error)
	// UnmountDrive releases a mount; see [Client.UnmountDrive].
	UnmountDrive(ctx context.Context, mountPath string) error
}

// EnvironmentReloader re-reads the sandbox environment.
type EnvironmentReloader interface {
	// ReloadEnvironment applies the metadata's environment; see
	// [Client.ReloadEnvironment].
	ReloadEnvironment(ctx context.Context) (*EnvironmentReload, error)
}

// CodeAssistant uses the server's code-editing models.
type CodeAssistant interface {
	// FastApply merges a sketched edit; see [Client.FastApply].
	FastApply(ctx context.Context, path, edit string, opts *FastApplyOptions) (*FastApplyResult, error)
	// Rerank ranks files by relevance; see [Client.Rerank].
	Rerank(ctx context.Context, dir, query string, opts *RerankOptions) ([]RankedFile, error)
}

// API is every capability of the sandbox API.
type API interface {
	HealthChecker
	Upgrader
	Executor
	ProcessManager
	FileReader
	FileWriter
	MultipartUploader
	FileSearcher
	FileWatcher
	NetworkManager
	DriveManager
	EnvironmentReloader
	CodeAssistant
	TerminalOpener
}

var _ API = (*Client)(nil)
