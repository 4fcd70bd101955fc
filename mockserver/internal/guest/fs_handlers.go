package guest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// displayPath is how the server shows a requested path in answers: as
// given (relative stays relative), except that "." is the working
// directory.
func (g *Guest) displayPath(p string) string {
	if p == "." || p == "./" {
		return g.cfg.WorkDir
	}
	return p
}

// statLocked is the server's os.Stat of a requested path.
func (g *Guest) statLocked(p string) (*node, error) {
	return g.lookupLocked(g.abs(p))
}

// isNotExist reports whether err says that nothing is there.
func isNotExist(err error) bool {
	var pe *fs.PathError
	if e, ok := err.(*fs.PathError); ok {
		pe = e
	}
	return pe != nil && pe.Err == errNotExist
}

// success is the server's {"path","message"} answer.
func success(p, msg string) *sandboxsrv.SuccessResponse {
	return &sandboxsrv.SuccessResponse{Message: msg, Path: sandboxsrv.NewOptString(p)}
}

// GetFilesystem implements GET /filesystem/{path}: a directory listing, a
// file as JSON, or the file's bytes when ?download=true or the Accept
// header asks for something other than JSON.
func (h handler) GetFilesystem(ctx context.Context, params sandboxsrv.GetFilesystemParams, w http.ResponseWriter) error {
	p := h.formatPath(params.Path)
	h.mu.Lock()
	n, err := h.statLocked(p)
	if err != nil {
		h.mu.Unlock()
		code := http.StatusInternalServerError
		if isNotExist(err) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return nil
	}
	if n.dir {
		d := listingLocked(h.displayPath(p), n)
		h.mu.Unlock()
		b, _ := d.MarshalJSON()
		writeJSON(w, http.StatusOK, b)
		return nil
	}
	r := requestFrom(ctx)
	if (params.Download.Set && params.Download.Value) || (r != nil && wantsRaw(r.Header.Get("Accept"))) {
		data, mtime := bytes.Clone(n.data), n.mtime
		h.mu.Unlock()
		name := path.Base(p)
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"%s\"", name))
		w.Header().Set("Content-Type", contentTypeByExt(name))
		if r == nil {
			r, _ = http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		}
		http.ServeContent(w, r, name, mtime, bytes.NewReader(data))
		return nil
	}
	f := fileWithContentAPI(h.displayPath(p), n)
	h.mu.Unlock()
	b, _ := f.MarshalJSON()
	writeJSON(w, http.StatusOK, b)
	return nil
}

// contentTypeByExt is the server's guess of a download's content type.
func contentTypeByExt(name string) string {
	switch path.Ext(name) {
	case ".txt", ".log":
		return "text/plain"
	case ".html", ".htm":
		return "text/html"
	case ".css":
		return "text/css"
	case ".js":
		return "application/javascript"
	case ".json":
		return "application/json"
	case ".xml":
		return "application/xml"
	case ".pdf":
		return "application/pdf"
	case ".zip":
		return "application/zip"
	case ".tar":
		return "application/x-tar"
	case ".gz":
		return "application/gzip"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// wantsRaw applies the real server's rule: an Accept header that names
// application/octet-stream, or names neither JSON nor */*, asks for bytes.
func wantsRaw(accept string) bool {
	if accept == "" {
		return false
	}
	if strings.Contains(accept, "application/octet-stream") {
		return true
	}
	return !strings.Contains(accept, "application/json") && !strings.Contains(accept, "*/*")
}

// requestedPerm reads the permissions of a request: the default when
// empty, else octal digits (400 otherwise, worded as the server's).
func requestedPerm(s string, def fs.FileMode) (fs.FileMode, string) {
	if s == "" {
		return def, ""
	}
	m, err := parsePerm(s)
	if err != nil {
		return 0, fmt.Sprintf("invalid permissions format '%s': %v", s, err)
	}
	return m, ""
}

// PutFilesystem implements PUT /filesystem/{path}: writes a file (its mode
// only if it is new, masked by the umask), or makes a directory and its
// parents when isDirectory is set.
func (h handler) PutFilesystem(_ context.Context, req *sandboxsrv.FileRequest, params sandboxsrv.PutFilesystemParams) (*sandboxsrv.SuccessResponse, error) {
	p := h.formatPath(params.Path)
	isDir := req.IsDirectory.Or(false)
	def := fs.FileMode(0o644)
	if isDir {
		def = 0o755
	}
	perm, msg := requestedPerm(req.Permissions.Or(""), def)
	if msg != "" {
		return nil, failure(http.StatusBadRequest, msg)
	}
	ap := h.abs(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if isDir {
		if _, err := h.mkdirAllLocked(ap, perm&^umask, true); err != nil {
			return nil, failure(http.StatusUnprocessableEntity, "error creating directory: "+err.Error())
		}
		return success(p, "Directory created successfully"), nil
	}
	if _, err := h.mkdirAllLocked(path.Dir(ap), 0o755&^umask, true); err != nil {
		return nil, failure(http.StatusUnprocessableEntity, "error writing file: "+err.Error())
	}
	if err := h.writeFileLocked(ap, []byte(req.Content.Or("")), perm); err != nil {
		return nil, failure(http.StatusUnprocessableEntity, "error writing file: "+err.Error())
	}
	return success(p, "File created/updated successfully"), nil
}

// DeleteFilesystem implements DELETE /filesystem/{path}: 404 when nothing
// is there, 422 for a directory with entries unless recursive=true.
func (h handler) DeleteFilesystem(_ context.Context, params sandboxsrv.DeleteFilesystemParams) (*sandboxsrv.SuccessResponse, error) {
	p := h.formatPath(params.Path)
	ap := h.abs(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(ap)
	switch {
	case err != nil && isNotExist(err):
		return nil, failure(http.StatusNotFound, "file or directory not found")
	case err != nil:
		return nil, failure(http.StatusUnprocessableEntity, err.Error())
	case n.dir:
		if err := h.removeLocked(ap, params.Recursive.Or(false)); err != nil {
			return nil, failure(http.StatusUnprocessableEntity, "error deleting directory: "+err.Error())
		}
		return success(p, "Directory deleted successfully"), nil
	}
	if err := h.removeLocked(ap, false); err != nil {
		return nil, failure(http.StatusUnprocessableEntity, "error deleting file: "+err.Error())
	}
	return success(p, "File deleted successfully"), nil
}

// GetTree implements GET /filesystem/tree/{path} (and any path that starts
// with /filesystem/tree): the listing of a directory, always resolved
// from / (400 when the path is not a directory).
func (h handler) GetTree(_ context.Context, params sandboxsrv.GetTreeParams) (sandboxsrv.FileOrDirectory, error) {
	p := h.formatPath(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.statLocked(p)
	switch {
	case err != nil && !isNotExist(err):
		return sandboxsrv.FileOrDirectory{}, failure(http.StatusUnprocessableEntity, err.Error())
	case err != nil || !n.dir:
		return sandboxsrv.FileOrDirectory{}, failure(http.StatusBadRequest, "path is not a directory")
	}
	return sandboxsrv.FileOrDirectory{Type: sandboxsrv.DirectoryFileOrDirectory, Directory: listingLocked(h.displayPath(p), n)}, nil
}

// PutTree implements PUT /filesystem/tree/{path}: makes the directory,
// writes every file of the map below it and answers the new listing.
func (h handler) PutTree(_ context.Context, req *sandboxsrv.TreeRequest, params sandboxsrv.PutTreeParams) (sandboxsrv.FileOrDirectory, error) {
	p := h.formatPath(params.Path)
	root := h.abs(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(root)
	switch {
	case err != nil && !isNotExist(err):
		return sandboxsrv.FileOrDirectory{}, failure(http.StatusUnprocessableEntity, err.Error())
	case err != nil || !n.dir:
		if _, err := h.mkdirAllLocked(root, 0o755&^umask, true); err != nil {
			return sandboxsrv.FileOrDirectory{}, failure(http.StatusUnprocessableEntity, "error creating root directory: "+err.Error())
		}
	}
	files := req.Files.Or(nil)
	for _, rel := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		fp := path.Join(root, rel)
		if _, err := h.mkdirAllLocked(path.Dir(fp), 0o755&^umask, true); err != nil {
			return sandboxsrv.FileOrDirectory{}, failure(http.StatusUnprocessableEntity, "error creating parent directory: "+err.Error())
		}
		if err := h.writeFileLocked(fp, []byte(files[rel]), 0o644); err != nil {
			return sandboxsrv.FileOrDirectory{}, failure(http.StatusUnprocessableEntity, "error writing file: "+err.Error())
		}
	}
	n, _ = h.lookupLocked(root)
	return sandboxsrv.FileOrDirectory{Type: sandboxsrv.DirectoryFileOrDirectory, Directory: listingLocked(h.displayPath(p), n)}, nil
}

// DeleteTree implements DELETE /filesystem/tree/{path}: removes a
// directory, its content only with recursive=true; every failure is 422.
func (h handler) DeleteTree(_ context.Context, params sandboxsrv.DeleteTreeParams) (*sandboxsrv.SuccessResponse, error) {
	p := params.Path
	ap := h.abs(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(ap)
	if err == nil && !n.dir {
		err = osErr("path points to a file, not a directory")
	}
	if err == nil {
		err = h.removeLocked(ap, params.Recursive.Or(false))
	}
	if err != nil {
		return nil, failure(http.StatusUnprocessableEntity, "error deleting directory: "+err.Error())
	}
	return success(p, "Directory deleted successfully"), nil
}
