package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestPathEncoding checks what reaches the server for relative and
// absolute paths: the real server takes any %2F as the mark of an
// absolute path, and an absolute path must come as a doubled slash.
func TestPathEncoding(t *testing.T) {
	t.Parallel()
	ops := []struct {
		name   string
		prefix string // route up to {path}
		call   func(ctx context.Context, c *sandbox.Client, p string) error
		answer string
	}{
		{"Read", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.Read(ctx, p)
			return err
		}, `{"path":"x","permissions":"644","size":1,"lastModified":"","owner":"","group":"","content":"x"}`},
		{"ListDirectory", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.ListDirectory(ctx, p)
			return err
		}, `{"path":"x","files":[],"subdirectories":[]}`},
		{"Open", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			rc, err := c.Open(ctx, p)
			if err == nil {
				rc.Close()
			}
			return err
		}, `raw`},
		{"Write", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			return c.Write(ctx, p, "x", nil)
		}, success},
		{"Mkdir", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			return c.Mkdir(ctx, p, nil)
		}, success},
		{"Remove", "/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			return c.Remove(ctx, p, nil)
		}, success},
		{"Find", "/filesystem-find/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.Find(ctx, p, nil)
			return err
		}, `{"matches":[],"total":0}`},
		{"Search", "/filesystem-search/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.Search(ctx, p, nil)
			return err
		}, `{"matches":[],"total":0}`},
		{"Grep", "/filesystem-content-search/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.Grep(ctx, p, "q", nil)
			return err
		}, `{"query":"q","matches":[],"total":0}`},
		{"InitiateUpload", "/filesystem-multipart/initiate/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.InitiateUpload(ctx, p, nil)
			return err
		}, `{"uploadId":"u"}`},
		{"FastApply", "/codegen/fastapply/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.FastApply(ctx, p, "edit", nil)
			return err
		}, `{"success":true}`},
		{"Rerank", "/codegen/reranking/", func(ctx context.Context, c *sandbox.Client, p string) error {
			_, err := c.Rerank(ctx, p, "q", nil)
			return err
		}, `{"success":true,"files":[]}`},
		{"Watch", "/watch/filesystem/", func(ctx context.Context, c *sandbox.Client, p string) error {
			s, err := c.Watch(ctx, p, nil)
			if err == nil {
				s.Close()
			}
			return err
		}, ``},
	}
	paths := []struct{ path, wire string }{
		{"rel/file", "rel/file"},
		{"/abs/file", "/abs/file"},
		{"/", "/"},
		{"dir with space/a?b#c%2Fd.txt", "dir%20with%20space/a%3Fb%23c%252Fd.txt"},
		{"/tmp/é", "/tmp/%C3%A9"},
	}
	for _, op := range ops {
		for _, p := range paths {
			t.Run(op.name+"/"+p.path, func(t *testing.T) {
				t.Parallel()
				c, srv := setup(t, func(w http.ResponseWriter, _ *http.Request) {
					if op.answer == "raw" {
						w.Header().Set("Content-Type", "text/plain")
					} else {
						w.Header().Set("Content-Type", "application/json")
					}
					_, _ = io.WriteString(w, op.answer)
				})
				if err := op.call(t.Context(), c, p.path); err != nil {
					t.Fatal(err)
				}
				got, _, _ := strings.Cut(srv.requests()[0].URI, "?")
				if want := op.prefix + p.wire; got != want {
					t.Errorf("request URI = %s, want %s", got, want)
				}
			})
		}
	}
}

// TestTreePathsMustBeAbsolute: the real server resolves tree roots from
// "/" whatever they look like, so a relative root is refused.
func TestTreePathsMustBeAbsolute(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(200, fileListJSON))
	ctx := t.Context()
	if _, err := c.Tree(ctx, "src"); err == nil {
		t.Error("Tree(src) succeeded")
	}
	if _, err := c.WriteTree(ctx, "src", nil); err == nil {
		t.Error("WriteTree(src) succeeded")
	}
	if err := c.RemoveTree(ctx, "src", nil); err == nil {
		t.Error("RemoveTree(src) succeeded")
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestWatchRecursive checks the /** suffix and the ignore list.
func TestWatchRecursive(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
	})
	s, err := c.Watch(t.Context(), "/srv/app/", &sandbox.WatchOptions{Recursive: true, Ignore: []string{".git", "node_modules"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, want := srv.requests()[0].URI, "/watch/filesystem//srv/app/%2A%2A?ignore=.git%2Cnode_modules"; got != want {
		t.Errorf("request URI = %s, want %s", got, want)
	}
}

// TestRelativePathsStartingWithTree: the real server takes every URL
// starting with /filesystem/tree for its tree routes, which resolve from
// "/", so Remove("trees", recursive) would remove /s. Such relative paths
// leave as ./tree...; the "./" the server echoes back is taken off.
func TestRelativePathsStartingWithTree(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Query().Get("download") == "true":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Disposition", `attachment; filename="x"`)
			_, _ = io.WriteString(w, "bytes")
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/file"):
			_, _ = io.WriteString(w, `{"path":"./trees/file","name":"","permissions":"644","size":1,"lastModified":"","owner":"","group":"","content":"x"}`)
		case r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"path":"./trees","name":"trees","files":[{"path":"./trees/file","name":"file","permissions":"644","size":1,"lastModified":"","owner":"","group":""}],"subdirectories":[{"path":"./trees/sub","name":"sub"}]}`)
		default:
			_, _ = io.WriteString(w, `{"path":"./trees","message":"ok"}`)
		}
	})
	ctx := t.Context()
	if err := c.Remove(ctx, "trees", &sandbox.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, "tree.txt", "x", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "tree", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx, "trees/file"); err != nil {
		t.Fatal(err)
	}
	d, err := c.ListDirectory(ctx, "trees")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Open(ctx, "treetop/x")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	// Paths that do not start with "tree" and absolute paths are sent as
	// they are.
	if err := c.Remove(ctx, "subtree", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/tree", nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.Method+" "+r.URI)
	}
	want := []string{
		"DELETE /filesystem/./trees?recursive=true",
		"PUT /filesystem/./tree.txt",
		"PUT /filesystem/./tree",
		"GET /filesystem/./trees/file",
		"GET /filesystem/./trees",
		"GET /filesystem/./treetop/x?download=true",
		"DELETE /filesystem/subtree",
		"DELETE /filesystem//tree",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	wantDir := &sandbox.Directory{
		Path: "trees", Name: "trees",
		Files:          []sandbox.FileInfo{{Path: "trees/file", Name: "file", Mode: 0o644, Size: 1}},
		Subdirectories: []sandbox.DirEntry{{Path: "trees/sub", Name: "sub"}},
	}
	if diff := cmp.Diff(wantDir, d); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

// TestOpenDirectory: the real server answers a download of a directory
// with its JSON listing and no Content-Disposition; Open reports it.
func TestOpenDirectory(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, reply(http.StatusOK, `{"path":"d","name":"d","files":[],"subdirectories":[]}`))
	rc, err := c.Open(t.Context(), "d")
	if !errors.Is(err, sandbox.ErrIsDirectory) || rc != nil {
		t.Fatalf("Open of a directory = %v, %v; want ErrIsDirectory", rc, err)
	}
	// A JSON file comes with Content-Disposition and is read as bytes.
	c, _ = setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="d.json"`)
		_, _ = io.WriteString(w, `{"files":[]}`)
	})
	rc, err = c.Open(t.Context(), "d.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != `{"files":[]}` {
		t.Fatalf("Open of a JSON file = %q, %v", b, err)
	}
}
