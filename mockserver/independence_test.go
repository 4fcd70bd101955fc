package mockserver_test

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// The server's clock goes to lifecycle renewers as it is.
var _ lifecycle.Clock = mockserver.Clock(nil)

const modulePath = "github.com/sandboxkit/sandboxkit"

// facades are the packages mockserver must not depend on: their own
// tests use the mock, and the mock promises to work with any client.
var facades = []string{modulePath + "/lifecycle", modulePath + "/sandbox", modulePath + "/controlplane"}

// TestNoFacadeDependency fails when a non-test file of mockserver or of a
// package below it reaches a façade package, directly or through another
// package of the module.
func TestNoFacadeDependency(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	err = filepath.WalkDir(filepath.Join(root, "mockserver"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			starts = append(starts, modulePath+"/"+filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(starts) < 2 {
		t.Fatalf("found only %v under mockserver", starts)
	}
	via := depsWithin(t, root, starts)
	if _, ok := via[modulePath+"/mockserver"]; !ok {
		t.Fatalf("mockserver itself was not read: %v", starts)
	}
	for _, f := range facades {
		if _, ok := via[f]; ok {
			t.Errorf("mockserver depends on façade %s: %s", f, chain(via, f))
		}
	}
}

// depsWithin returns every package of the module that the non-test files
// of starts import, directly or not, each mapped to the package that
// imports it ("" for the starts). Directories without Go files are
// skipped.
func depsWithin(t *testing.T, root string, starts []string) map[string]string {
	t.Helper()
	via := map[string]string{}
	queue := []string{}
	for _, s := range starts {
		via[s] = ""
		queue = append(queue, s)
	}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(path, modulePath)))
		pkg, err := build.Default.ImportDir(dir, 0)
		if _, ok := err.(*build.NoGoError); ok {
			continue
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if imp != modulePath && !strings.HasPrefix(imp, modulePath+"/") {
				continue
			}
			if _, seen := via[imp]; seen {
				continue
			}
			via[imp] = path
			queue = append(queue, imp)
		}
	}
	return via
}

// chain spells how pkg was reached: "a → b → pkg".
func chain(via map[string]string, pkg string) string {
	parts := []string{pkg}
	for p := via[pkg]; p != ""; p = via[p] {
		parts = append([]string{p}, parts...)
	}
	return strings.Join(parts, " → ")
}
