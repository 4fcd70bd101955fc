package guest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// put writes a file with PUT on path (as given: the test picks the form).
func (e *env) put(t *testing.T, path, content string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"content": content})
	resp, body := e.do(t, http.MethodPut, path, string(b))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", path, resp.StatusCode, body)
	}
}

func (e *env) read(t *testing.T, path string) string {
	t.Helper()
	b, err := e.g.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", path, err)
	}
	return string(b)
}

func TestFilesystemPathForms(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct{ urlPath, file string }{
		{"/filesystem/a.txt", "/home/user/a.txt"},                 // relative, one segment
		{"/filesystem/src/pkg/b.txt", "/home/user/src/pkg/b.txt"}, // relative, literal slashes
		{"/filesystem//tmp/c.txt", "/tmp/c.txt"},                  // absolute, literal //
		{"/filesystem/%2Ftmp%2Fd.txt", "/tmp/d.txt"},              // absolute, encoded
		{"/filesystem/%2Ftmp/e.txt", "/tmp/e.txt"},                // absolute, partly encoded
		{"/filesystem/src%2Ff.txt", "/src/f.txt"},                 // any %2F means absolute (real server quirk)
		{"/filesystem/sp%20ace.txt", "/home/user/sp ace.txt"},     // other escapes
	} {
		e.put(t, tc.urlPath, tc.urlPath)
		if got := e.read(t, tc.file); got != tc.urlPath {
			t.Errorf("PUT %s wrote %q to %s", tc.urlPath, got, tc.file)
		}
		resp, body := e.do(t, http.MethodGet, tc.urlPath, "")
		var f sandboxapi.FileWithContent
		if err := f.UnmarshalJSON([]byte(body)); resp.StatusCode != http.StatusOK || err != nil || f.Path != tc.file || f.Content != tc.urlPath {
			t.Errorf("GET %s = %d %s (%v)", tc.urlPath, resp.StatusCode, body, err)
		}
	}
	// The generated client escapes its path parameter, so it reaches
	// single-segment relative paths and absolute ones.
	for p, want := range map[string]string{"a.txt": "/home/user/a.txt", "/tmp/c.txt": "/tmp/c.txt"} {
		res, err := e.client.GetFilesystem(t.Context(), sandboxapi.GetFilesystemParams{Path: p})
		f, ok := res.(*sandboxapi.FileOrDirectory)
		if err != nil || !ok || f.FileWithContent.Path != want {
			t.Errorf("client GetFilesystem(%s) = %#v, %v", p, res, err)
		}
	}
	// The working directory itself.
	resp, body := e.do(t, http.MethodGet, "/filesystem/", "")
	var d sandboxapi.Directory
	if err := d.UnmarshalJSON([]byte(body)); resp.StatusCode != http.StatusOK || err != nil || d.Path != "/home/user" {
		t.Errorf("GET /filesystem/ = %d %s", resp.StatusCode, body)
	}
}

func TestGetFileJSONOrBytes(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.clock.Advance(time.Minute)
	e.put(t, "/filesystem/doc.txt", "0123456789")
	resp, body := e.do(t, http.MethodGet, "/filesystem/doc.txt", "")
	var f sandboxapi.FileWithContent
	if err := f.UnmarshalJSON([]byte(body)); err != nil {
		t.Fatal(err)
	}
	want := sandboxapi.FileWithContent{
		Path: "/home/user/doc.txt", Name: sandboxapi.NewOptString("doc.txt"), Permissions: "644", Size: 10,
		LastModified: "2026-01-29T18:46:49Z", Owner: "root", Group: "root", Content: "0123456789",
	}
	if d := cmp.Diff(want, f); d != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("JSON file (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		name, path string
		header     []string
		raw        bool
	}{
		{"no Accept", "/filesystem/doc.txt", nil, false},
		{"Accept JSON", "/filesystem/doc.txt", []string{"Accept", "application/json"}, false},
		{"Accept */*", "/filesystem/doc.txt", []string{"Accept", "*/*"}, false},
		{"Accept text/plain", "/filesystem/doc.txt", []string{"Accept", "text/plain"}, true},
		{"Accept octet-stream", "/filesystem/doc.txt", []string{"Accept", "application/octet-stream, application/json"}, true},
		{"download=true", "/filesystem/doc.txt?download=true", nil, true},
		{"download=false", "/filesystem/doc.txt?download=false", nil, false},
	} {
		resp, body := e.do(t, http.MethodGet, tc.path, "", tc.header...)
		raw := resp.Header.Get("Content-Type") == "application/octet-stream"
		if raw != tc.raw || resp.StatusCode != http.StatusOK || (raw && body != "0123456789") {
			t.Errorf("%s: %d %s %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, body = e.do(t, http.MethodGet, "/filesystem/doc.txt?download=true", "", "Range", "bytes=2-4")
	if resp.StatusCode != http.StatusPartialContent || body != "234" {
		t.Errorf("Range: %d %q", resp.StatusCode, body)
	}
	// Through the generated client, raw bytes come back as a response.
	res, err := e.client.GetFilesystem(t.Context(), sandboxapi.GetFilesystemParams{Path: "doc.txt", Download: sandboxapi.NewOptBool(true)})
	rawRes, ok := res.(*sandboxapi.GetFilesystemOKRawApplicationOctetStream)
	if err != nil || !ok {
		t.Fatalf("client download = %#v, %v", res, err)
	}
	defer rawRes.Response.Body.Close()
	if b, _ := io.ReadAll(rawRes.Response.Body); string(b) != "0123456789" {
		t.Errorf("client download body %q", b)
	}
	resp, body = e.do(t, http.MethodGet, "/filesystem/missing", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing file: %d %s", resp.StatusCode, body)
	}
	errorBody(t, resp, body)
}

func TestDirectoriesAndPermissions(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tc := range []struct{ path, body string }{
		{"/filesystem/proj/bin", `{"isDirectory":true,"permissions":"0700"}`},
		{"/filesystem/proj/run.sh", `{"content":"#!/bin/sh","permissions":"755"}`},
		{"/filesystem/proj/readme", `{"content":"hi"}`},
	} {
		if resp, body := e.do(t, http.MethodPut, tc.path, tc.body); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", tc.path, resp.StatusCode, body)
		}
	}
	res, err := e.client.GetFilesystem(t.Context(), sandboxapi.GetFilesystemParams{Path: "proj"})
	dir, ok := res.(*sandboxapi.FileOrDirectory)
	if err != nil || !ok || dir.Type != sandboxapi.DirectoryFileOrDirectory {
		t.Fatalf("GetFilesystem(proj) = %#v, %v", res, err)
	}
	var got []string
	for _, f := range dir.Directory.Files {
		got = append(got, f.Path+" "+f.Permissions+" "+f.Owner)
	}
	for _, s := range dir.Directory.Subdirectories {
		got = append(got, s.Path+"/")
	}
	want := []string{"/home/user/proj/readme 644 root", "/home/user/proj/run.sh 755 root", "/home/user/proj/bin/"}
	if d := cmp.Diff(want, got); d != "" || dir.Directory.Path != "/home/user/proj" || dir.Directory.Name.Or("") != "proj" {
		t.Errorf("listing of %s (-want +got):\n%s", dir.Directory.Path, d)
	}
	e.g.mu.Lock()
	n, _ := e.g.lookupLocked("/home/user/proj/bin")
	perm := n.perm
	e.g.mu.Unlock()
	if perm != 0o700 {
		t.Errorf("directory mode %o, want 700", perm)
	}
	// Rewriting keeps the mode unless told otherwise.
	e.put(t, "/filesystem/proj/run.sh", "echo")
	if f := fileOf(t, e, "/home/user/proj/run.sh"); f.Permissions != "755" || f.Content != "echo" {
		t.Errorf("rewritten file: %s %q", f.Permissions, f.Content)
	}
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{"/filesystem/x", `{"content":"a","permissions":"rwx"}`, http.StatusBadRequest},
		{"/filesystem/proj/readme/sub", `{"content":"a"}`, http.StatusUnprocessableEntity}, // parent is a file
		{"/filesystem/proj", `{"content":"a"}`, http.StatusUnprocessableEntity},            // a directory
	} {
		resp, body := e.do(t, http.MethodPut, tc.path, tc.body)
		if resp.StatusCode != tc.code {
			t.Errorf("PUT %s %s = %d %s, want %d", tc.path, tc.body, resp.StatusCode, body, tc.code)
		}
		errorBody(t, resp, body)
	}
}

func fileOf(t *testing.T, e *env, path string) sandboxapi.FileWithContent {
	t.Helper()
	res, err := e.client.GetFilesystem(t.Context(), sandboxapi.GetFilesystemParams{Path: path})
	f, ok := res.(*sandboxapi.FileOrDirectory)
	if err != nil || !ok || f.Type != sandboxapi.FileWithContentFileOrDirectory {
		t.Fatalf("GetFilesystem(%s) = %#v, %v", path, res, err)
	}
	return f.FileWithContent
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	e.put(t, "/filesystem/d/sub/f.txt", "x")
	e.put(t, "/filesystem//tmp/g.txt", "y")
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/filesystem/d", http.StatusUnprocessableEntity}, // not empty
		{"/filesystem/d/sub/f.txt", http.StatusOK},
		{"/filesystem/d/sub/f.txt", http.StatusNotFound},
		{"/filesystem/%2Ftmp%2Fg.txt", http.StatusOK},
		{"/filesystem/d/sub", http.StatusOK}, // empty now
		{"/filesystem/nope", http.StatusNotFound},
	} {
		resp, body := e.do(t, http.MethodDelete, tc.path, "")
		if resp.StatusCode != tc.code {
			t.Errorf("DELETE %s = %d %s, want %d", tc.path, resp.StatusCode, body, tc.code)
		}
		if tc.code != http.StatusOK {
			errorBody(t, resp, body)
		}
	}
	e.put(t, "/filesystem/d/a/b/c", "z")
	res, err := e.client.DeleteFilesystem(t.Context(), sandboxapi.DeleteFilesystemParams{Path: "d", Recursive: sandboxapi.NewOptBool(true)})
	if ok, isOK := res.(*sandboxapi.SuccessResponse); err != nil || !isOK || ok.Path.Or("") != "/home/user/d" {
		t.Fatalf("recursive delete = %#v, %v", res, err)
	}
	if _, err := e.g.ReadFile("d/a/b/c"); err == nil {
		t.Error("file survived a recursive delete")
	}
}

func TestTree(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	res, err := e.client.PutTree(t.Context(), &sandboxapi.TreeRequest{Files: sandboxapi.NewOptTreeRequestFiles(map[string]string{
		"main.go": "package main", "internal/x.go": "package internal",
	})}, sandboxapi.PutTreeParams{Path: "app"})
	tree, ok := res.(*sandboxapi.FileOrDirectory)
	if err != nil || !ok || tree.Directory.Path != "/home/user/app" || len(tree.Directory.Files) != 1 || len(tree.Directory.Subdirectories) != 1 {
		t.Fatalf("PutTree = %#v, %v", res, err)
	}
	if got := e.read(t, "/home/user/app/internal/x.go"); got != "package internal" {
		t.Errorf("x.go = %q", got)
	}
	resp, body := e.do(t, http.MethodGet, "/filesystem/tree/app/internal", "")
	var d sandboxapi.Directory
	if err := d.UnmarshalJSON([]byte(body)); err != nil || resp.StatusCode != http.StatusOK || len(d.Files) != 1 || d.Files[0].Path != "/home/user/app/internal/x.go" {
		t.Errorf("GET tree app/internal = %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/filesystem/tree/app/main.go", http.StatusBadRequest}, // a file
		{http.MethodGet, "/filesystem/tree/nope", http.StatusBadRequest},
		{http.MethodDelete, "/filesystem/tree/app", http.StatusUnprocessableEntity}, // not empty
		{http.MethodDelete, "/filesystem/tree/app?recursive=true", http.StatusOK},
		{http.MethodDelete, "/filesystem/tree/app?recursive=true", http.StatusUnprocessableEntity}, // gone
		{http.MethodGet, "/filesystem/tree//tmp", http.StatusOK},
	} {
		resp, body := e.do(t, tc.method, tc.path, "")
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
		}
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, f := range []string{"p/a.go", "p/b.js", "p/sub/c.go", "p/.hidden/d.go", "p/node_modules/e.go", "p/.f.go"} {
		if err := e.g.WriteFile(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	find := func(p sandboxapi.FindFilesParams) []string {
		t.Helper()
		res, err := e.client.FindFiles(t.Context(), p)
		fr, ok := res.(*sandboxapi.FindResponse)
		if err != nil || !ok || fr.Total != len(fr.Matches) {
			t.Fatalf("FindFiles(%+v) = %#v, %v", p, res, err)
		}
		var out []string
		for _, m := range fr.Matches {
			out = append(out, m.Path+":"+m.Type)
		}
		return out
	}
	for _, tc := range []struct {
		params sandboxapi.FindFilesParams
		want   []string
	}{
		{sandboxapi.FindFilesParams{Path: "p"}, []string{"a.go:file", "b.js:file", "sub/c.go:file"}},
		{sandboxapi.FindFilesParams{Path: "p", Patterns: sandboxapi.NewOptString("*.go")}, []string{"a.go:file", "sub/c.go:file"}},
		{sandboxapi.FindFilesParams{Path: "p", Type: sandboxapi.NewOptString("directory")}, []string{".:directory", "sub:directory"}},
		{sandboxapi.FindFilesParams{Path: "p", ExcludeHidden: sandboxapi.NewOptBool(false), Patterns: sandboxapi.NewOptString("*.go")}, []string{".f.go:file", ".hidden/d.go:file", "a.go:file", "sub/c.go:file"}},
		{sandboxapi.FindFilesParams{Path: "p", ExcludeDirs: sandboxapi.NewOptString(""), Patterns: sandboxapi.NewOptString("e.go")}, []string{"node_modules/e.go:file"}},
		{sandboxapi.FindFilesParams{Path: "p", ExcludeDirs: sandboxapi.NewOptString("sub")}, []string{"a.go:file", "b.js:file", "node_modules/e.go:file"}},
		{sandboxapi.FindFilesParams{Path: "p", MaxResults: sandboxapi.NewOptInt(2)}, []string{"a.go:file", "b.js:file"}},
		{sandboxapi.FindFilesParams{Path: "/home/user/p/sub"}, []string{"c.go:file"}},
	} {
		if d := cmp.Diff(tc.want, find(tc.params)); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.params, d)
		}
	}
	resp, body := e.do(t, http.MethodGet, "/filesystem-find/p?type=socket", "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("type=socket: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodGet, "/filesystem-find/p/sub?patterns=*.go", "") // relative with slashes
	if !strings.Contains(body, `"c.go"`) || resp.StatusCode != http.StatusOK {
		t.Errorf("relative search root: %d %s", resp.StatusCode, body)
	}
}

func TestFuzzySearch(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, f := range []string{"src/handlers/user_handler.go", "src/models/user.go", "src/main.go", "docs/usage.md"} {
		if err := e.g.WriteFile(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.client.FuzzySearch(t.Context(), sandboxapi.FuzzySearchParams{Path: "/home/user", Patterns: sandboxapi.NewOptString("user.go")})
	fr, ok := res.(*sandboxapi.FuzzySearchResponse)
	if err != nil || !ok || fr.Total == 0 {
		t.Fatalf("FuzzySearch = %#v, %v", res, err)
	}
	if fr.Matches[0].Path != "src/models/user.go" {
		t.Errorf("best match %+v", fr.Matches[0])
	}
	for i := 1; i < len(fr.Matches); i++ {
		if fr.Matches[i].Score > fr.Matches[i-1].Score {
			t.Errorf("not sorted by score: %+v", fr.Matches)
		}
	}
	for _, m := range fr.Matches {
		if m.Path == "src/main.go" || m.Path == "docs/usage.md" {
			t.Errorf("%s matched user.go", m.Path)
		}
	}
	// Without patterns the last element of the path is the pattern.
	res, err = e.client.FuzzySearch(t.Context(), sandboxapi.FuzzySearchParams{Path: "src"})
	if fr, ok := res.(*sandboxapi.FuzzySearchResponse); err != nil || !ok {
		t.Fatalf("FuzzySearch(src) = %#v, %v", res, err)
	} else if fr.Total != 0 && fr.Matches[0].Score < 0 {
		t.Errorf("negative score %+v", fr.Matches)
	}
}

func TestContentSearch(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	files := map[string]string{
		"s/a.go":            "package a\n// TODO fix\nfunc A() {}\n",
		"s/b.txt":           "nothing\nTodo: later\n",
		"s/vendor/v.go":     "// TODO vendored\n",
		"s/deep/c.go":       "x := 1 // todo\n",
		"/tmp/elsewhere.go": "TODO",
	}
	for f, c := range files {
		if err := e.g.WriteFile(f, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	search := func(p sandboxapi.ContentSearchParams) []string {
		t.Helper()
		res, err := e.client.ContentSearch(t.Context(), p)
		cr, ok := res.(*sandboxapi.ContentSearchResponse)
		if err != nil || !ok || cr.Query != p.Query || cr.Total != len(cr.Matches) {
			t.Fatalf("ContentSearch(%+v) = %#v, %v", p, res, err)
		}
		var out []string
		for _, m := range cr.Matches {
			out = append(out, m.Path+":"+strconv.Itoa(m.Line)+":"+strconv.Itoa(m.Column)+":"+m.Text)
		}
		return out
	}
	for _, tc := range []struct {
		params sandboxapi.ContentSearchParams
		want   []string
	}{
		{sandboxapi.ContentSearchParams{Path: "s", Query: "todo"}, []string{"a.go:2:4:// TODO fix", "b.txt:2:1:Todo: later", "deep/c.go:1:11:x := 1 // todo"}},
		{sandboxapi.ContentSearchParams{Path: "s", Query: "TODO", CaseSensitive: sandboxapi.NewOptBool(true)}, []string{"a.go:2:4:// TODO fix"}},
		{sandboxapi.ContentSearchParams{Path: "s", Query: "todo", FilePattern: sandboxapi.NewOptString("*.go")}, []string{"a.go:2:4:// TODO fix", "deep/c.go:1:11:x := 1 // todo"}},
		{sandboxapi.ContentSearchParams{Path: "s", Query: "todo", ExcludeDirs: sandboxapi.NewOptString("deep")}, []string{"a.go:2:4:// TODO fix", "b.txt:2:1:Todo: later", "vendor/v.go:1:4:// TODO vendored"}},
		{sandboxapi.ContentSearchParams{Path: "s", Query: "todo", MaxResults: sandboxapi.NewOptInt(1)}, []string{"a.go:2:4:// TODO fix"}},
		{sandboxapi.ContentSearchParams{Path: "s", Query: "absent"}, nil},
	} {
		if d := cmp.Diff(tc.want, search(tc.params)); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.params, d)
		}
	}
	_, body := e.do(t, http.MethodGet, "/filesystem-content-search/s?query=absent", "")
	if !strings.Contains(body, `"matches":null`) {
		t.Errorf("no match: %s, want matches null", body)
	}
	_, body = e.do(t, http.MethodGet, "/filesystem-content-search/s?query=func", "")
	if !strings.Contains(body, `"context":"// TODO fix\nfunc A() {}\n"`) {
		t.Errorf("context missing: %s", body)
	}
}
