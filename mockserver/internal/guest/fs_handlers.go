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

// GetFilesystem implements GET /filesystem/{path}: a directory listing, a
// file as JSON, or the file's bytes when ?download=true or the Accept
// header asks for something other than JSON.
func (h handler) GetFilesystem(ctx context.Context, params sandboxsrv.GetFilesystemParams, w http.ResponseWriter) error {
	p := h.abs(params.Path)
	h.mu.Lock()
	n, err := h.lookupLocked(p)
	if err != nil {
		h.mu.Unlock()
		writeError(w, http.StatusNotFound, err.Error())
		return nil
	}
	if n.dir {
		d := listingLocked(p, n)
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
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		if r == nil {
			r, _ = http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		}
		http.ServeContent(w, r, name, mtime, bytes.NewReader(data))
		return nil
	}
	f := fileWithContentAPI(p, n)
	h.mu.Unlock()
	b, _ := f.MarshalJSON()
	writeJSON(w, http.StatusOK, b)
	return nil
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

// PutFilesystem implements PUT /filesystem/{path}: writes a file, or makes
// a directory (and its parents) when isDirectory is set.
func (h handler) PutFilesystem(_ context.Context, req *sandboxsrv.FileRequest, params sandboxsrv.PutFilesystemParams) (sandboxsrv.PutFilesystemRes, error) {
	p := h.abs(params.Path)
	isDir := req.IsDirectory.Or(false)
	perm, setPerm := fs.FileMode(0o644), false
	if isDir {
		perm = 0o755
	}
	if s, ok := req.Permissions.Get(); ok && s != "" {
		m, err := parsePerm(s)
		if err != nil {
			return &sandboxsrv.PutFilesystemBadRequest{Error: fmt.Sprintf("invalid permissions format '%s': %v", s, err)}, nil
		}
		perm, setPerm = m, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if isDir {
		n, err := h.mkdirAllLocked(p, perm, true)
		if err != nil {
			return &sandboxsrv.PutFilesystemUnprocessableEntity{Error: "error creating directory: " + err.Error()}, nil
		}
		if setPerm && n.perm != perm && n != h.root {
			n.perm = perm
			h.emitLocked("CHMOD", p)
		}
		return &sandboxsrv.SuccessResponse{Message: "Directory created successfully", Path: sandboxsrv.NewOptString(p)}, nil
	}
	if err := h.writeFileLocked(p, []byte(req.Content.Or("")), perm, setPerm); err != nil {
		return &sandboxsrv.PutFilesystemUnprocessableEntity{Error: "error writing file: " + err.Error()}, nil
	}
	return &sandboxsrv.SuccessResponse{Message: "File created successfully", Path: sandboxsrv.NewOptString(p)}, nil
}

// DeleteFilesystem implements DELETE /filesystem/{path}: 404 when nothing
// is there, 422 for a directory with entries unless recursive=true.
func (h handler) DeleteFilesystem(_ context.Context, params sandboxsrv.DeleteFilesystemParams) (sandboxsrv.DeleteFilesystemRes, error) {
	p := h.abs(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(p)
	if err != nil {
		return &sandboxsrv.DeleteFilesystemNotFound{Error: "file or directory not found"}, nil
	}
	isDir := n.dir
	if err := h.removeLocked(p, params.Recursive.Or(false)); err != nil {
		what := "file"
		if isDir {
			what = "directory"
		}
		return &sandboxsrv.DeleteFilesystemUnprocessableEntity{Error: "error deleting " + what + ": " + err.Error()}, nil
	}
	msg := "File deleted successfully"
	if isDir {
		msg = "Directory deleted successfully"
	}
	return &sandboxsrv.SuccessResponse{Message: msg, Path: sandboxsrv.NewOptString(p)}, nil
}

// GetTree implements GET /filesystem/tree/{path}: the listing of a
// directory (400 when the path is not one).
func (h handler) GetTree(_ context.Context, params sandboxsrv.GetTreeParams) (sandboxsrv.GetTreeRes, error) {
	p := h.abs(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(p)
	if err != nil || !n.dir {
		return &sandboxsrv.GetTreeBadRequest{Error: "path is not a directory"}, nil
	}
	return &sandboxsrv.FileOrDirectory{Type: sandboxsrv.DirectoryFileOrDirectory, Directory: listingLocked(p, n)}, nil
}

// PutTree implements PUT /filesystem/tree/{path}: makes the directory,
// writes every file of the map below it and answers the new listing.
func (h handler) PutTree(_ context.Context, req *sandboxsrv.TreeRequest, params sandboxsrv.PutTreeParams) (sandboxsrv.PutTreeRes, error) {
	p := h.abs(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	root, err := h.mkdirAllLocked(p, 0o755, true)
	if err != nil {
		return &sandboxsrv.PutTreeUnprocessableEntity{Error: "error creating root directory: " + err.Error()}, nil
	}
	files := req.Files.Or(nil)
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, rel := range names {
		fp := path.Join(p, rel)
		if err := h.writeFileLocked(fp, []byte(files[rel]), 0, false); err != nil {
			return &sandboxsrv.PutTreeUnprocessableEntity{Error: "error writing file: " + err.Error()}, nil
		}
	}
	return &sandboxsrv.FileOrDirectory{Type: sandboxsrv.DirectoryFileOrDirectory, Directory: listingLocked(p, root)}, nil
}

// DeleteTree implements DELETE /filesystem/tree/{path}: removes a
// directory, its content only with recursive=true; every failure is 422.
func (h handler) DeleteTree(_ context.Context, params sandboxsrv.DeleteTreeParams) (sandboxsrv.DeleteTreeRes, error) {
	p := h.abs(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.lookupLocked(p)
	if err == nil && !n.dir {
		err = pathErr("remove", p, errNotDir)
	}
	if err == nil {
		err = h.removeLocked(p, params.Recursive.Or(false))
	}
	if err != nil {
		return &sandboxsrv.DeleteTreeUnprocessableEntity{Error: "error deleting directory: " + err.Error()}, nil
	}
	return &sandboxsrv.SuccessResponse{Message: "Directory deleted successfully", Path: sandboxsrv.NewOptString(p)}, nil
}
