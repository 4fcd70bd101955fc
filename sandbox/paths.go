package sandbox

import (
	"fmt"
	"os"
	"strings"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// How paths reach the server
//
// The generated client escapes the whole {path} parameter, so "src/a.txt"
// would leave as src%2Fa.txt. The real server (gin, reading URL.RawPath)
// takes any %2F in the URL as the sign of an absolute path, so that would
// turn a relative path into an absolute one. fsPathOpt (client.go) clears
// RawPath before sending, so net/http writes the path from URL.Path with
// its slashes as they are:
//
//	"src/a.txt" -> /filesystem/src/a.txt   (relative to the working directory)
//	"/tmp/a"    -> /filesystem//tmp/a      (absolute: the server strips one slash)
//
// Every other reserved character (space, '?', '#', '%') is still escaped.
//
// The real server hands every URL that starts with /filesystem/tree to its
// tree handlers, which resolve from "/": /filesystem/trees would be the
// directory /s, /filesystem/tree.txt the directory /.txt. A relative path
// that starts with "tree" therefore leaves as ./tree... on the routes under
// /filesystem/ (fsPath); the server reads it as the same relative path and
// echoes it with the "./", which the client takes off again (fsEcho).

// checkPath validates a file system path argument.
func checkPath(field, p string) error {
	return glue.ValidatePath(field, p)
}

// isAbs reports whether p is an absolute path in the sandbox.
func isAbs(p string) bool { return strings.HasPrefix(p, "/") }

// fsPath returns the {path} of a /filesystem/{path} request for p, and
// whether it had to be changed: a relative path starting with "tree"
// gets a leading "./" so that the server does not take it for a tree
// route.
func fsPath(p string) (string, bool) {
	if strings.HasPrefix(p, "tree") {
		return "./" + p, true
	}
	return p, false
}

// fsEcho turns a path the server echoed back for a request fsPath changed
// into the path the caller gave.
func fsEcho(changed bool, p string) string {
	if changed {
		return strings.TrimPrefix(p, "./")
	}
	return p
}

// checkAbsPath validates a path that the server resolves from "/" whatever
// it is given (the /filesystem/tree routes).
func checkAbsPath(field, p string) error {
	if err := checkPath(field, p); err != nil {
		return err
	}
	if !isAbs(p) {
		return &sandboxkit.ValidationError{Field: field, Value: p, Reason: `must be absolute: the server resolves tree roots from "/"`}
	}
	return nil
}

// checkProcessID validates a process pid or name used in a URL.
func checkProcessID(id string) error {
	return glue.ValidateID("process id", id)
}

// checkPID validates a numeric operating-system process id.
func checkPID(pid int) error {
	if pid <= 0 {
		return &sandboxkit.ValidationError{Field: "pid", Value: fmt.Sprint(pid), Reason: "must be positive"}
	}
	return nil
}

// permString renders mode bits as the server expects them, e.g. "0644".
func permString(m os.FileMode) string {
	return fmt.Sprintf("%04o", m.Perm())
}

// checkPerm rejects mode bits other than the permission bits.
func checkPerm(field string, m os.FileMode) error {
	if m&^os.ModePerm != 0 {
		return &sandboxkit.ValidationError{Field: field, Value: m.String(), Reason: "only permission bits (0o777) may be set"}
	}
	return nil
}

// mountPathParam turns an absolute mount point such as "/mnt/data" into the
// {mountPath} value the server reads back as "/mnt/data" (the route is a
// catch-all that keeps the leading slash of the URL segment).
func mountPathParam(p string) string {
	return strings.TrimLeft(p, "/")
}
