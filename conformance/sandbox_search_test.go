package conformance

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// searchTree writes the files the search scenarios look at below a fresh
// directory and returns it.
func searchTree(t *testing.T, tg *sandboxTarget) string {
	t.Helper()
	dir := tg.dir(t)
	files := map[string]string{
		"src/main.go":          "package main\n// needle here\n",
		"src/util.py":          "# no match\n",
		"src/.hidden.go":       "// needle hidden\n",
		"node_modules/lib.go":  "// needle in a dependency\n",
		"docs/readme.md":       "Needle in capitals\n",
		"docs/" + dir + ".txt": "named after the root\n",
	}
	for p, c := range files {
		if err := tg.sb.Write(tg.ctx(t), dir+"/"+p, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func findPaths(m []sandbox.FindMatch) []string {
	var out []string
	for _, x := range m {
		out = append(out, string(x.Type)+":"+x.Path)
	}
	slices.Sort(out)
	return out
}

// TestSandboxFind: with no type, Find finds files (the server's default);
// directories only on request; the server's default list of excluded
// directories applies unless ExcludeDirs is set, and an empty one
// excludes nothing; hidden entries only on request.
func TestSandboxFind(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := searchTree(t, tg)
		for _, tc := range []struct {
			name string
			opts *sandbox.FindOptions
			want []string
		}{
			{"defaults", nil, []string{"file:docs/" + dir + ".txt", "file:docs/readme.md", "file:src/main.go", "file:src/util.py"}},
			{"patterns", &sandbox.FindOptions{Patterns: []string{"*.go"}}, []string{"file:src/main.go"}},
			{"exclude nothing", &sandbox.FindOptions{Patterns: []string{"*.go"}, ExcludeDirs: []string{}}, []string{"file:node_modules/lib.go", "file:src/main.go"}},
			{"hidden", &sandbox.FindOptions{Patterns: []string{"*.go"}, IncludeHidden: true}, []string{"file:src/.hidden.go", "file:src/main.go"}},
			{"directories", &sandbox.FindOptions{Type: sandbox.TypeDirectory}, []string{"directory:.", "directory:docs", "directory:src"}},
		} {
			m, err := tg.sb.Find(ctx, dir, tc.opts)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, findPaths(m)); diff != "" {
				t.Errorf("Find %s (-want +got):\n%s", tc.name, diff)
			}
		}
		m, err := tg.sb.Find(ctx, dir, &sandbox.FindOptions{MaxResults: 1})
		if err != nil || len(m) != 1 {
			t.Errorf("Find with MaxResults 1 = %v, %v", m, err)
		}
	})
}

// TestSandboxSearch: the real server's fuzzy search takes root itself as
// the query and scores the paths below it; patterns change nothing.
func TestSandboxSearch(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := searchTree(t, tg)
		for _, opts := range []*sandbox.SearchOptions{nil, {Patterns: []string{"*.py"}}} {
			m, err := tg.sb.Search(ctx, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range m {
				got = append(got, string(x.Type)+":"+x.Path)
				if x.Score <= 0 {
					t.Errorf("%s scored %d", x.Path, x.Score)
				}
			}
			if diff := cmp.Diff([]string{"file:docs/" + dir + ".txt"}, got); diff != "" {
				t.Errorf("Search(%s, %+v) (-want +got):\n%s", dir, opts, diff)
			}
		}
	})
}

// TestSandboxGrep: content search, case-insensitive by default, hidden
// files included, with line and column (both from 1), the default
// excluded directories, and an empty ExcludeDirs that excludes nothing.
func TestSandboxGrep(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := searchTree(t, tg)
		render := func(m []sandbox.GrepMatch) []string {
			var out []string
			for _, x := range m {
				out = append(out, x.Path+":"+strconv.Itoa(x.Line)+":"+strconv.Itoa(x.Column)+":"+x.Text)
			}
			slices.Sort(out)
			return out
		}
		m, err := tg.sb.Grep(ctx, dir, "needle", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Hidden files are searched; columns count from 1.
		want := []string{"docs/readme.md:1:1:Needle in capitals", "src/.hidden.go:1:4:// needle hidden", "src/main.go:2:4:// needle here"}
		if diff := cmp.Diff(want, render(m)); diff != "" {
			t.Errorf("Grep (-want +got):\n%s", diff)
		}
		m, err = tg.sb.Grep(ctx, dir, "needle", &sandbox.GrepOptions{CaseSensitive: true, FilePattern: "*.go", ExcludeDirs: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		want = []string{"node_modules/lib.go:1:4:// needle in a dependency", "src/.hidden.go:1:4:// needle hidden", "src/main.go:2:4:// needle here"}
		if diff := cmp.Diff(want, render(m)); diff != "" {
			t.Errorf("Grep case-sensitive in *.go, nothing excluded (-want +got):\n%s", diff)
		}
	})
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
