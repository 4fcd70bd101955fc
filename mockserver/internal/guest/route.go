package guest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// The real server's router (gin) is faithful to a few quirks that clients
// see; route reproduces them before handing a request to the generated
// router: every answer carries CORS and no-cache headers, OPTIONS is 204
// on any path, / welcomes any method, HEAD is 200 on the routes that have
// a GET, any path that starts with /filesystem/tree goes to the tree
// handlers, and the file system path after a route is extracted the way
// the server extracts it.

// pathRoutes are the routes followed by a file system path (gin's
// catch-all parameters).
var pathRoutes = []string{
	"/filesystem/",
	"/filesystem-find/",
	"/filesystem-search/",
	"/filesystem-content-search/",
	"/filesystem-multipart/initiate/",
	"/watch/filesystem/",
	"/codegen/fastapply/",
	"/codegen/reranking/",
	"/drives/mount/",
}

// headRoutes are the route patterns that answer HEAD ("*" is one segment,
// "**" the rest of the path).
var headRoutes = []string{
	"/filesystem-multipart", "/filesystem-multipart/*/parts",
	"/filesystem-find/**", "/filesystem-search/**", "/filesystem-content-search/**",
	"/watch/filesystem/**", "/filesystem/**",
	"/process", "/process/*/logs", "/process/*/logs/stream", "/process/*",
	"/network/process/*/ports", "/codegen/reranking/**",
	"/terminal", "/terminal/ws", "/upgrade", "/health", "/drives/mount",
}

func matchRoute(pattern, p string) bool {
	if rest, ok := strings.CutSuffix(pattern, "/**"); ok {
		return strings.HasPrefix(p, rest+"/")
	}
	ps, ts := strings.Split(pattern, "/"), strings.Split(p, "/")
	if len(ps) != len(ts) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != ts[i] || ps[i] == "*" && ts[i] == "" {
			return false
		}
	}
	return true
}

// welcome is the answer of the root route.
const welcome = `{"message":"Welcome to your Blaxel Sandbox","documentation":"https://docs.blaxel.ai/Sandboxes/Overview","description":"This sandbox provides a full-featured environment for running code securely. Visit the documentation to learn how to manage processes, access the filesystem, and more."}`

// route serves an authorized request.
func (g *Guest) route(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := r.URL.Path
	if p == "/" {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
			writeJSON(w, http.StatusOK, []byte(welcome))
			return
		}
	}
	u := *r.URL
	if rest, ok := strings.CutPrefix(p, "/filesystem/tree"); ok && (r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodDelete) {
		// Any path that starts with /filesystem/tree (/filesystem/treetop
		// too) is a tree request, rooted at /.
		root := "/" + strings.TrimPrefix(rest, "/")
		for strings.Contains(root, "//") {
			root = strings.ReplaceAll(root, "//", "/")
		}
		setPath(&u, "/filesystem/tree/", root)
		g.serveRouted(w, r, &u)
		return
	}
	if r.Method == http.MethodHead {
		for _, pat := range headRoutes {
			if matchRoute(pat, p) {
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		notFound(w, r)
		return
	}
	for _, prefix := range pathRoutes {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		param := "/" + rest // gin's catch-all keeps the slash
		if prefix == "/drives/mount/" {
			if param == "/" {
				writeError(w, http.StatusBadRequest, "Mount path is required (must start with /)")
				return
			}
			setPath(&u, prefix, param)
			break
		}
		if prefix == "/filesystem/" && r.Method == http.MethodPut && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			g.putBinary(w, r, extractPath(r.URL, param))
			return
		}
		setPath(&u, prefix, extractPath(r.URL, param))
		break
	}
	g.serveRouted(w, r, &u)
}

// putBinary is PUT /filesystem/{path} with a multipart/form-data body:
// the part named "file" becomes the file, an optional "permissions" part
// gives its mode (at creation, masked by the umask).
func (g *Guest) putBinary(w http.ResponseWriter, r *http.Request, p string) {
	p = g.formatPath(p)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "error reading multipart data: "+err.Error())
		return
	}
	perm := fs.FileMode(0o644)
	var data []byte
	wrote := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "error reading multipart part: "+err.Error())
			return
		}
		switch {
		case part.FormName() == "permissions" && part.FileName() == "":
			b, _ := io.ReadAll(part)
			if s := strings.TrimSpace(string(b)); s != "" {
				m, err := parsePerm(s)
				if err != nil {
					writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid permissions format '%s': %v", s, err))
					return
				}
				perm = m
			}
		case part.FormName() == "file" && part.FileName() != "" && !wrote:
			if data, err = io.ReadAll(part); err != nil {
				writeError(w, http.StatusUnprocessableEntity, "error writing binary file: "+err.Error())
				return
			}
			wrote = true
			g.mu.Lock()
			ap := g.abs(p)
			_, err := g.mkdirAllLocked(path.Dir(ap), 0o755&^umask, true)
			if err == nil {
				err = g.writeFileLocked(ap, data, perm)
			}
			g.mu.Unlock()
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, "error writing binary file: "+err.Error())
				return
			}
		}
		_ = part.Close()
	}
	if !wrote {
		writeError(w, http.StatusBadRequest, "missing 'file' field in multipart form")
		return
	}
	b, _ := success(p, "Binary file uploaded successfully").MarshalJSON()
	writeJSON(w, http.StatusOK, b)
}

// extractPath is the server's reading of a file system path parameter:
// absolute when the request's path contains an upper-case %2F anywhere
// (so /filesystem/src%2Fa is /src/a), otherwise relative to the working
// directory with the leading slash dropped ("." for nothing). A path that
// starts with two slashes (/filesystem//tmp/a, or an encoded one in
// front) stays absolute either way.
func extractPath(u *url.URL, param string) string {
	raw := u.RawPath
	if raw == "" {
		raw = u.Path
	}
	switch {
	case strings.Contains(raw, "%2F"):
		return param
	case param == "/":
		return "."
	}
	return param[1:]
}

// setPath makes u's path prefix followed by p as the single escaped
// segment the generated router expects.
func setPath(u *url.URL, prefix, p string) {
	u.Path = prefix + p
	u.RawPath = prefix + url.PathEscape(p)
}

func (g *Guest) serveRouted(w http.ResponseWriter, r *http.Request, u *url.URL) {
	r2 := r.WithContext(context.WithValue(r.Context(), requestKey{}, r))
	r2.URL = u
	g.srv.ServeHTTP(w, r2)
}
