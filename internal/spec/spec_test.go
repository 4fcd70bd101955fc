package spec

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ogen-go/ogen"
)

// operations lists "METHOD /path" for every operation of an OpenAPI document.
func operations(t *testing.T, doc []byte) []string {
	t.Helper()
	s, err := ogen.Parse(doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var ops []string
	for path, item := range s.Paths {
		for method, op := range map[string]*ogen.Operation{
			"GET": item.Get, "PUT": item.Put, "POST": item.Post, "DELETE": item.Delete,
			"OPTIONS": item.Options, "HEAD": item.Head, "PATCH": item.Patch,
		} {
			if op != nil {
				ops = append(ops, method+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// readOperations reads a testdata operation list: one "METHOD /path" a line.
func readOperations(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "operations", name))
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			ops = append(ops, line)
		}
	}
	slices.Sort(ops)
	return ops
}

// TestOperationParity checks that each of our specs has exactly the operation
// set of the published API (recorded in testdata/operations), so no endpoint
// is silently missing or invented.
func TestOperationParity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
		n    int
	}{
		{"lifecycle", Lifecycle, "lifecycle.txt", 13},
		{"sandbox", Sandbox, "sandbox.txt", 0},
		{"controlplane", ControlPlane, "controlplane.txt", 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := operations(t, tc.doc)
			want := readOperations(t, tc.want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("operations differ from testdata/operations/%s (-want +got):\n%s", tc.want, diff)
			}
			if tc.n != 0 && len(got) != tc.n {
				t.Errorf("%s has %d operations, want %d", tc.name, len(got), tc.n)
			}
		})
	}
}

// TestOperationListsMatchReferences checks the recorded operation lists
// against the upstream reference documents. The references live outside
// this repository (../shared/reference, next to a development checkout), so
// this test only runs where they are present; TestOperationParity above
// always runs on the recorded lists.
func TestOperationListsMatchReferences(t *testing.T) {
	t.Parallel()
	refDir := filepath.Join("..", "..", "..", "shared", "reference")
	for _, tc := range []struct{ ref, list string }{
		{"sandbox-lifecycle.openapi.yml", "lifecycle.txt"},
		{"sandbox-api.openapi.yml", "sandbox.txt"},
	} {
		t.Run(tc.list, func(t *testing.T) {
			t.Parallel()
			doc, err := os.ReadFile(filepath.Join(refDir, tc.ref))
			if os.IsNotExist(err) {
				t.Skipf("reference %s not present outside the repo", tc.ref)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(readOperations(t, tc.list), operations(t, doc)); diff != "" {
				t.Errorf("testdata/operations/%s is stale against %s (-recorded +reference):\n%s", tc.list, tc.ref, diff)
			}
		})
	}
}
