package guest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// answer is a response reduced to what the scenarios compare: status and
// body, with JSON bodies decoded (key order does not matter, and
// modification times are replaced by "T").
type answer struct {
	Code int
	Body any
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT[0-9:.]+Z$`)

func normalizeJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "lastModified" || k == "uploadedAt" || k == "initiatedAt") && rfc3339.MatchString(s) {
				v[k] = "T"
				continue
			}
			v[k] = normalizeJSON(x)
		}
	case []any:
		for i := range v {
			v[i] = normalizeJSON(v[i])
		}
	}
	return v
}

func (tg *target) answer(t *testing.T, method, path, body string, header ...string) answer {
	t.Helper()
	resp, b := tg.call(t, method, path, body, header...)
	var v any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal([]byte(b), &v) == nil {
		return answer{resp.StatusCode, normalizeJSON(v)}
	}
	return answer{resp.StatusCode, b}
}

// obj builds a JSON object from name, value pairs.
func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func errObj(msg string) map[string]any { return obj("error", msg) }

func fileObj(path, name, perm string, size float64) map[string]any {
	return obj("path", path, "name", name, "permissions", perm, "size", size, "lastModified", "T", "owner", "root", "group", "root")
}

func TestFilesystemPaths(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxfs")
		tg.mkdir(t, d)
		w := tg.workdir
		withContent := func(m map[string]any, content string) map[string]any { m["content"] = content; return m }
		for _, tc := range []struct {
			method, path, body string
			want               answer
		}{
			// Relative paths are echoed as given; a file's JSON has an
			// empty name.
			{"PUT", "/filesystem/" + d + "/a.txt", `{"content":"hello"}`, answer{200, obj("path", d+"/a.txt", "message", "File created/updated successfully")}},
			{"GET", "/filesystem/" + d + "/a.txt", "", answer{200, withContent(fileObj(d+"/a.txt", "", "644", 5), "hello")}},
			{"GET", "/filesystem/" + d + "/../" + d + "/a.txt", "", answer{200, withContent(fileObj(d+"/../"+d+"/a.txt", "", "644", 5), "hello")}},
			{"GET", "/filesystem/" + d, "", answer{200, obj("path", d, "name", d, "files", []any{fileObj(d+"/a.txt", "a.txt", "644", 5)}, "subdirectories", []any{})}},
			// Only an upper-case %2F makes a path absolute.
			{"PUT", "/filesystem/%2Ftmp%2F" + d + "%2Fx.txt", `{"content":"1"}`, answer{200, obj("path", "/tmp/"+d+"/x.txt", "message", "File created/updated successfully")}},
			{"GET", "/filesystem/tmp%2F" + d, "", answer{200, obj("path", "/tmp/"+d, "name", d, "files", []any{fileObj("/tmp/"+d+"/x.txt", "x.txt", "644", 1)}, "subdirectories", []any{})}},
			{"GET", "/filesystem/tmp%2f" + d, "", answer{404, errObj("stat " + w + "/tmp/" + d + ": no such file or directory")}},
			{"GET", "/filesystem//tmp/" + d + "/x.txt", "", answer{200, withContent(fileObj("/tmp/"+d+"/x.txt", "", "644", 1), "1")}},
			// Modes: at creation only, masked by the umask.
			{"PUT", "/filesystem/" + d + "/g", `{"content":"x","permissions":"0777"}`, answer{200, obj("path", d+"/g", "message", "File created/updated successfully")}},
			{"PUT", "/filesystem/" + d + "/g", `{"content":"yy","permissions":"0600"}`, answer{200, obj("path", d+"/g", "message", "File created/updated successfully")}},
			{"GET", "/filesystem/" + d + "/g", "", answer{200, withContent(fileObj(d+"/g", "", "755", 2), "yy")}},
			// Errors, worded as the operating system words them.
			{"GET", "/filesystem/" + d + "/missing", "", answer{404, errObj("stat " + w + "/" + d + "/missing: no such file or directory")}},
			{"GET", "/filesystem/" + d + "/a.txt/x", "", answer{500, errObj("stat " + w + "/" + d + "/a.txt/x: not a directory")}},
			{"PUT", "/filesystem/" + d + "/a.txt/x", `{"content":"x"}`, answer{422, errObj("error writing file: mkdir " + w + "/" + d + "/a.txt: not a directory")}},
			{"PUT", "/filesystem/" + d, `{"content":"x"}`, answer{422, errObj("error writing file: open " + w + "/" + d + ": is a directory")}},
			{"PUT", "/filesystem/" + d + "/a.txt", `{"isDirectory":true}`, answer{422, errObj("error creating directory: mkdir " + w + "/" + d + "/a.txt: not a directory")}},
			{"PUT", "/filesystem/" + d + "/h", `{"content":"x","permissions":"rwx"}`, answer{400, errObj(`invalid permissions format 'rwx': strconv.ParseUint: parsing "rwx": invalid syntax`)}},
			{"PUT", "/filesystem/" + d + "/sub", `{"isDirectory":true}`, answer{200, obj("path", d+"/sub", "message", "Directory created successfully")}},
			{"DELETE", "/filesystem/" + d + "/missing", "", answer{404, errObj("file or directory not found")}},
			{"DELETE", "/filesystem/" + d + "/a.txt/x", "", answer{422, errObj("stat " + w + "/" + d + "/a.txt/x: not a directory")}},
			{"DELETE", "/filesystem/" + d, "", answer{422, errObj("error deleting directory: remove " + w + "/" + d + ": directory not empty")}},
			{"DELETE", "/filesystem/" + d + "/g", "", answer{200, obj("path", d+"/g", "message", "File deleted successfully")}},
			{"DELETE", "/filesystem/" + d + "/sub", "", answer{200, obj("path", d+"/sub", "message", "Directory deleted successfully")}},
			{"DELETE", "/filesystem/%2Ftmp%2F" + d + "?recursive=true", "", answer{200, obj("path", "/tmp/"+d, "message", "Directory deleted successfully")}},
		} {
			if d := cmp.Diff(tc.want, tg.answer(t, tc.method, tc.path, tc.body)); d != "" {
				t.Errorf("%s %s %s (-want +got):\n%s", tc.method, tc.path, tc.body, d)
			}
		}
		// The working directory itself.
		got := tg.answer(t, "GET", "/filesystem/", "")
		if m, ok := got.Body.(map[string]any); got.Code != 200 || !ok || m["path"] != w || m["name"] != w[strings.LastIndex(w, "/")+1:] {
			t.Errorf("GET /filesystem/ = %+v", got)
		}
		// Raw downloads: a content type from the extension, the name in
		// Content-Disposition, ranges.
		for _, tc := range []struct {
			path   string
			header []string
		}{{"/filesystem/" + d + "/a.txt?download=true", nil}, {"/filesystem/" + d + "/a.txt", []string{"Accept", "text/plain"}}} {
			resp, body := tg.call(t, "GET", tc.path, "", tc.header...)
			if resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Content-Disposition") != `attachment; filename="a.txt"` || body != "hello" {
				t.Errorf("download %s: %q %q %q", tc.path, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
			}
		}
		resp, body := tg.call(t, "GET", "/filesystem/"+d+"/a.txt?download=true", "", "Range", "bytes=1-2")
		if resp.StatusCode != http.StatusPartialContent || body != "el" {
			t.Errorf("range: %d %q", resp.StatusCode, body)
		}
		// Directory modes, as a process sees them.
		tg.call(t, "PUT", "/filesystem/"+d+"/dd", `{"isDirectory":true,"permissions":"0777"}`)
		tg.call(t, "PUT", "/filesystem/"+d+"/dd", `{"isDirectory":true,"permissions":"0700"}`)
		if p := tg.run(t, map[string]any{"command": "ls -ld dd | cut -d' ' -f1", "workingDir": d}); str(p.Stdout) != "drwxr-xr-x\n" {
			t.Errorf("mode of a directory made with 0777, then 0700: %q", str(p.Stdout))
		}
	})
}

func TestTreeRoutes(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxtree")
		tg.cleanup(t, "/filesystem/%2Ftmp%2F"+d)
		abs := "/tmp/" + d
		listing := obj("path", abs, "name", d, "files", []any{fileObj(abs+"/a.txt", "a.txt", "644", 1)}, "subdirectories", []any{obj("path", abs+"/sub", "name", "sub")})
		for _, tc := range []struct {
			method, path, body string
			want               answer
		}{
			// Tree paths are absolute.
			{"PUT", "/filesystem/tree/tmp/" + d, `{"files":{"a.txt":"A","sub/b.txt":"B"}}`, answer{200, listing}},
			{"GET", "/filesystem/tree/tmp/" + d, "", answer{200, listing}},
			// Any path that starts with /filesystem/tree is a tree route.
			{"GET", "/filesystem/treetmp/" + d, "", answer{200, listing}},
			{"GET", "/filesystem/tree%2Ftmp%2F" + d, "", answer{200, listing}},
			{"GET", "/filesystem/tree/tmp/" + d + "/a.txt", "", answer{400, errObj("path is not a directory")}},
			{"GET", "/filesystem/tree/tmp/" + d + "-none", "", answer{400, errObj("path is not a directory")}},
			{"DELETE", "/filesystem/tree/tmp/" + d, "", answer{422, errObj("error deleting directory: remove " + abs + ": directory not empty")}},
			{"DELETE", "/filesystem/tree/tmp/" + d + "/a.txt", "", answer{422, errObj("error deleting directory: path points to a file, not a directory")}},
			{"DELETE", "/filesystem/tree/tmp/" + d + "-none", "", answer{422, errObj("error deleting directory: stat " + abs + "-none: no such file or directory")}},
			{"DELETE", "/filesystem/tree/tmp/" + d + "?recursive=true", "", answer{200, obj("path", abs, "message", "Directory deleted successfully")}},
		} {
			if diff := cmp.Diff(tc.want, tg.answer(t, tc.method, tc.path, tc.body)); diff != "" {
				t.Errorf("%s %s %s (-want +got):\n%s", tc.method, tc.path, tc.body, diff)
			}
		}
		// The root of the tree is /.
		if got := tg.answer(t, "GET", "/filesystem/tree", ""); got.Code != 200 || got.Body.(map[string]any)["path"] != "/" || got.Body.(map[string]any)["name"] != "/" {
			t.Errorf("GET /filesystem/tree = %+v", got)
		}
	})
}

func TestRouter(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		welcome := obj("message", "Welcome to your Blaxel Sandbox", "documentation", "https://docs.blaxel.ai/Sandboxes/Overview",
			"description", "This sandbox provides a full-featured environment for running code securely. Visit the documentation to learn how to manage processes, access the filesystem, and more.")
		for _, tc := range []struct {
			method, path string
			want         answer
		}{
			{"GET", "/", answer{200, welcome}},
			{"DELETE", "/", answer{200, welcome}},
			{"GET", "/nope", answer{404, "404 page not found"}},
			{"POST", "/health", answer{404, "404 page not found"}},
			{"OPTIONS", "/anything", answer{204, ""}},
			{"HEAD", "/health", answer{200, ""}},
			{"HEAD", "/filesystem/" + unique("none"), answer{200, ""}},
			{"HEAD", "/process/x/kill", answer{404, ""}},
			{"PUT", "/codegen/fastapply/x.txt", answer{400, errObj(errCodegenOff)}},
			{"GET", "/codegen/reranking/x?query=a", answer{400, errObj(errCodegenOff)}},
		} {
			body := ""
			if tc.path == "/codegen/fastapply/x.txt" {
				body = `{"codeEdit":"x"}`
			}
			if d := cmp.Diff(tc.want, tg.answer(t, tc.method, tc.path, body)); d != "" {
				t.Errorf("%s %s (-want +got):\n%s", tc.method, tc.path, d)
			}
		}
		resp, _ := tg.call(t, "GET", "/health", "")
		for h, want := range map[string]string{"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache, no-store, must-revalidate", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("header %s: %q, want %q", h, got, want)
			}
		}
	})
}
