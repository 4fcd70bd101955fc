package conformance

import (
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestSandboxFiles: write, read, list, mkdir and remove, by relative path
// (answers keep it relative) and by absolute path.
func TestSandboxFiles(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		for _, dir := range []string{tg.dir(t), tg.absDir(t)} {
			t.Run(dir[:1], func(t *testing.T) {
				if err := tg.sb.Write(ctx, dir+"/src/a.txt", "hello\n", nil); err != nil {
					t.Fatal(err)
				}
				if err := tg.sb.Write(ctx, dir+"/src/b.txt", "b", &sandbox.WriteOptions{Permissions: 0o600}); err != nil {
					t.Fatal(err)
				}
				if err := tg.sb.Mkdir(ctx, dir+"/src/sub", nil); err != nil {
					t.Fatal(err)
				}
				if got, err := tg.sb.Read(ctx, dir+"/src/a.txt"); err != nil || got != "hello\n" {
					t.Errorf("Read = %q, %v", got, err)
				}
				// Replacing keeps the file.
				if err := tg.sb.Write(ctx, dir+"/src/a.txt", "again\n", nil); err != nil {
					t.Fatal(err)
				}
				if got, err := tg.sb.Read(ctx, dir+"/src/a.txt"); err != nil || got != "again\n" {
					t.Errorf("Read after rewrite = %q, %v", got, err)
				}
				d, err := tg.sb.ListDirectory(ctx, dir+"/src")
				if err != nil {
					t.Fatal(err)
				}
				var files []string
				for _, f := range d.Files {
					files = append(files, f.Path)
					if f.Path == dir+"/src/b.txt" && (f.Mode != 0o600 || f.Size != 1 || f.Name != "b.txt" || f.ModTime.IsZero()) {
						t.Errorf("b.txt = %+v", f)
					}
				}
				slices.Sort(files)
				if diff := cmp.Diff([]string{dir + "/src/a.txt", dir + "/src/b.txt"}, files); diff != "" || d.Path != dir+"/src" ||
					len(d.Subdirectories) != 1 || d.Subdirectories[0].Path != dir+"/src/sub" || d.Subdirectories[0].Name != "sub" {
					t.Errorf("List = %+v (files -want +got:\n%s)", d, diff)
				}

				_, err = tg.sb.Read(ctx, dir+"/src")
				if !errors.Is(err, sandbox.ErrIsDirectory) {
					t.Errorf("Read of a directory: %v", err)
				}
				_, err = tg.sb.ListDirectory(ctx, dir+"/src/a.txt")
				if !errors.Is(err, sandbox.ErrNotDirectory) {
					t.Errorf("List of a file: %v", err)
				}
				_, err = tg.sb.Read(ctx, dir+"/missing")
				assertAPIError(t, err, 404, "sandbox.Read", "no such file or directory")

				// A directory that is not empty needs Recursive.
				err = tg.sb.Remove(ctx, dir+"/src", nil)
				assertAPIError(t, err, 422, "sandbox.Remove", "")
				if err := tg.sb.Remove(ctx, dir+"/src/sub", nil); err != nil {
					t.Errorf("Remove of an empty directory: %v", err)
				}
				if err := tg.sb.Remove(ctx, dir+"/src", &sandbox.RemoveOptions{Recursive: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := tg.sb.ListDirectory(ctx, dir+"/src"); !errors.Is(err, sandboxkit.ErrNotFound) {
					t.Errorf("List after Remove: %v", err)
				}
			})
		}
	})
}

// TestSandboxTreePrefixedPaths: the real server takes every URL starting
// with /filesystem/tree for its tree routes (which resolve from "/"); the
// client sends relative paths starting with "tree" so that they stay
// relative files and directories.
func TestSandboxTreePrefixedPaths(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		file := tg.fresh(t, "tree-conformance-") + ".txt"
		dir := tg.fresh(t, "trees-conformance-")
		if err := tg.sb.Write(ctx, file, "leaf\n", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := tg.sb.Read(ctx, file); err != nil || got != "leaf\n" {
			t.Errorf("Read(%s) = %q, %v", file, got, err)
		}
		if err := tg.sb.Write(ctx, dir+"/x/y.txt", "y", nil); err != nil {
			t.Fatal(err)
		}
		d, err := tg.sb.ListDirectory(ctx, dir)
		if err != nil || d.Path != dir || len(d.Subdirectories) != 1 || d.Subdirectories[0].Path != dir+"/x" {
			t.Errorf("List(%s) = %+v, %v", dir, d, err)
		}
		rc, err := tg.sb.Open(ctx, dir+"/x/y.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "y" {
			t.Errorf("Open = %q, %v", b, err)
		}
		if err := tg.sb.Remove(ctx, dir, &sandbox.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if err := tg.sb.Remove(ctx, file, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, file} {
			if _, err := tg.sb.ListDirectory(ctx, p); !errors.Is(err, sandboxkit.ErrNotFound) {
				t.Errorf("%s after Remove: %v", p, err)
			}
		}
		if tg.real {
			// On the host, where relative paths land.
			for _, p := range []string{dir, file} {
				if _, err := os.Stat(path.Join(getenv(envSandboxAPIWork), p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s in the working directory: %v", p, err)
				}
			}
		}
	})
}

// TestSandboxTrees: the tree routes, whose roots are absolute.
func TestSandboxTrees(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		root := tg.absDir(t)
		d, err := tg.sb.WriteTree(ctx, root, map[string]string{"a.txt": "a", "x/b.txt": "b"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Path != root || len(d.Files) != 1 || d.Files[0].Name != "a.txt" || len(d.Subdirectories) != 1 {
			t.Errorf("WriteTree = %+v", d)
		}
		d, err = tg.sb.Tree(ctx, root+"/x")
		if err != nil || len(d.Files) != 1 || d.Files[0].Path != root+"/x/b.txt" {
			t.Errorf("Tree = %+v, %v", d, err)
		}
		if got, err := tg.sb.Read(ctx, root+"/x/b.txt"); err != nil || got != "b" {
			t.Errorf("Read = %q, %v", got, err)
		}
		err = tg.sb.RemoveTree(ctx, root, nil)
		assertAPIError(t, err, 422, "sandbox.RemoveTree", "")
		if err := tg.sb.RemoveTree(ctx, root, &sandbox.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.sb.Tree(ctx, root); err == nil {
			t.Error("Tree after RemoveTree succeeded")
		}
	})
}

// TestSandboxOpen: Open streams a file's bytes, whatever its name says;
// a directory is ErrIsDirectory; a missing file is 404.
func TestSandboxOpen(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.dir(t)
		for name, content := range map[string]string{"data.json": `{"files":[]}`, "note.txt": "plain\n", "blob": "\x00\xff\x01"} {
			if _, err := tg.sb.Upload(ctx, dir+"/"+name, stringsReader(content), nil); err != nil {
				t.Fatal(err)
			}
			rc, err := tg.sb.Open(ctx, dir+"/"+name)
			if err != nil {
				t.Fatalf("Open(%s): %v", name, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != content {
				t.Errorf("Open(%s) = %q, %v", name, b, err)
			}
		}
		if _, err := tg.sb.Open(ctx, dir); !errors.Is(err, sandbox.ErrIsDirectory) {
			t.Errorf("Open of a directory: %v", err)
		}
		_, err := tg.sb.Open(ctx, dir+"/missing")
		assertAPIError(t, err, 404, "sandbox.Open", "")
	})
}

// TestSandboxWatch: a watch reports a file created in the directory, and
// below it when recursive.
func TestSandboxWatch(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.absDir(t)
		if err := tg.sb.Mkdir(ctx, dir+"/sub", nil); err != nil {
			t.Fatal(err)
		}
		w, err := tg.sb.Watch(ctx, dir, &sandbox.WatchOptions{Recursive: true, Ignore: []string{"ignored"}})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, p := range []string{dir + "/ignored.txt", dir + "/new.txt", dir + "/sub/deep.txt"} {
			if err := tg.sb.Write(ctx, p, "x", nil); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]sandbox.FileOp{}
		for len(seen) < 2 && w.Next() {
			ev := w.Event()
			if ev.Op.Has(sandbox.OpCreate) {
				seen[ev.Path()] = ev.Op
			}
		}
		if err := w.Err(); err != nil {
			t.Fatal(err)
		}
		if _, ok := seen[dir+"/new.txt"]; !ok {
			t.Errorf("no CREATE of new.txt in %v", seen)
		}
		if _, ok := seen[dir+"/sub/deep.txt"]; !ok {
			t.Errorf("no CREATE of sub/deep.txt in %v", seen)
		}
		if _, ok := seen[dir+"/ignored.txt"]; ok {
			t.Errorf("an ignored path was reported: %v", seen)
		}
		// A watch of something that is not a directory is refused.
		_, err = tg.sb.Watch(ctx, dir+"/new.txt", nil)
		assertAPIError(t, err, 400, "sandbox.Watch", "not a directory")
	})
}
