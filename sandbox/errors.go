package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors of the sandbox client.
var (
	// ErrLineTooLong ends a stream whose line is longer than
	// [StreamOptions.MaxLineSize].
	ErrLineTooLong = errors.New("sandboxkit: stream line too long")
	// ErrIsDirectory is returned by [Client.Read] and [Client.Open] for a
	// directory.
	ErrIsDirectory = errors.New("sandboxkit: is a directory")
	// ErrNotDirectory is returned by [Client.ListDirectory] for a file.
	ErrNotDirectory = errors.New("sandboxkit: not a directory")
	// ErrUpgradeSkipped is matched by an [*UpgradeError] whose step is
	// "skipped": the server declined to upgrade (a development build does).
	ErrUpgradeSkipped = errors.New("sandboxkit: upgrade skipped by the server")
)

// ExitError is returned by [Client.Run] with [RunOptions.CheckExit] when
// the command ended with a non-zero exit code or was stopped or killed.
// The [RunResult] is returned along with it.
type ExitError struct {
	// Command is the command line.
	Command string
	// PID is the process id.
	PID string
	// Status is the terminal status (failed, stopped, killed, ...).
	Status ProcessStatus
	// ExitCode is the exit code; -1 when a signal ended the process.
	ExitCode int
	// Stderr is the end of the standard error output (at most 1 KiB).
	Stderr string
}

// Error returns e.g. `sandboxkit: sandbox.Run: "make" exited with code 2 (failed): missing rule`.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandboxkit: sandbox.Run: %q exited with code %d (%s)", e.Command, e.ExitCode, e.Status)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(s, 200))
	}
	return b.String()
}

// RunTimeoutError is returned by [Client.Run] when [RunOptions.Timeout]
// ran out before the command ended. Run then kills the process; Killed
// says whether that worked. It is not a [*sandboxkit.WaitTimeoutError]:
// the command outlived the time it was given, and was killed for it; a
// wait's context ending is the caller giving up on watching.
type RunTimeoutError struct {
	// Command is the command line; Name the process's name and PID its
	// pid ("" if it was never seen).
	Command, Name, PID string
	// Timeout is RunOptions.Timeout.
	Timeout time.Duration
	// Killed reports that the process no longer runs: the kill worked,
	// or it ended by itself meanwhile. When false, it may still run;
	// KillErr says why the kill failed, if it did.
	Killed  bool
	KillErr error
	// Process is the process as last seen (after the kill), nil if it
	// could not be read.
	Process *Process
	// Stdout and Stderr are the output so far, as far as it could be
	// read.
	Stdout, Stderr string
	// Err is what reported the timeout: the server's 422 ("process timed
	// out after N seconds"), or context.DeadlineExceeded when Run's own
	// wait ran out.
	Err error
}

// Error returns e.g. `sandboxkit: sandbox.Run: "sleep 60" timed out after
// 1s (killed)`.
func (e *RunTimeoutError) Error() string {
	state := "killed"
	if !e.Killed {
		state = "not killed, may still run"
		if e.KillErr != nil {
			state += ": " + strings.TrimPrefix(e.KillErr.Error(), "sandboxkit: ")
		}
	}
	return fmt.Sprintf("sandboxkit: sandbox.Run: %q timed out after %v (%s)", e.Command, e.Timeout, state)
}

// Unwrap returns Err.
func (e *RunTimeoutError) Unwrap() error { return e.Err }

// UpgradeError is an upgrade attempt the server reported as failed, or
// that restarted the server with another version than the one asked for.
type UpgradeError struct {
	// Step is where the attempt stopped: "download", "validate",
	// "replace", "skipped", or "verify" when the server restarted with
	// another version than the one requested.
	Step string
	// Message is the server's error text.
	Message string
	// Version is the version the attempt targeted.
	Version string
	// DownloadURL is where the new build was fetched from, if known.
	DownloadURL string
	// Status is the server's report of the attempt; nil for "verify".
	Status *UpgradeStatus
}

// Error returns e.g. "sandboxkit: sandbox.Upgrade: failed at download (version v1.2.0): 404 Not Found".
func (e *UpgradeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandboxkit: sandbox.Upgrade: failed at %s", e.Step)
	if e.Version != "" {
		fmt.Fprintf(&b, " (version %s)", e.Version)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Message, 512))
	}
	return b.String()
}

// Is matches [ErrUpgradeSkipped] when the step is "skipped".
func (e *UpgradeError) Is(target error) bool {
	return target == ErrUpgradeSkipped && e.Step == string(StepSkipped)
}

// UploadError is a multipart upload that failed part way. When the
// session was kept ([UploadOptions.KeepOnFailure]), [Client.ResumeUpload]
// with UploadID finishes it.
type UploadError struct {
	// Op is the call, "sandbox.Upload" or "sandbox.ResumeUpload".
	Op string
	// Path is the destination ("" for ResumeUpload).
	Path string
	// UploadID is the multipart session.
	UploadID string
	// Part is the part that failed, 0 if the failure was not a part's.
	Part int
	// Aborted reports whether the session was aborted.
	Aborted bool
	// Err is the cause.
	Err error
}

// Error returns e.g. "sandboxkit: sandbox.Upload: /tmp/f (upload u1, part 3): ...".
func (e *UploadError) Error() string {
	var b strings.Builder
	op := e.Op
	if op == "" {
		op = "sandbox.Upload"
	}
	fmt.Fprintf(&b, "sandboxkit: %s: ", op)
	if e.Path != "" {
		b.WriteString(e.Path + " ")
	}
	fmt.Fprintf(&b, "(upload %s", e.UploadID)
	if e.Part > 0 {
		fmt.Fprintf(&b, ", part %d", e.Part)
	}
	if e.Aborted {
		b.WriteString(", aborted")
	}
	b.WriteString("): ")
	msg := strings.TrimPrefix(e.Err.Error(), "sandboxkit: ")
	b.WriteString(strings.TrimPrefix(msg, op+": "))
	return b.String()
}

// Unwrap returns the cause.
func (e *UploadError) Unwrap() error { return e.Err }

// oneLine replaces line breaks by spaces and cuts s to n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
