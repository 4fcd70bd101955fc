package mockserver_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ogen-go/ogen"

	"github.com/sandboxkit/sandboxkit/internal/spec"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// specOperations returns the operation names of an OpenAPI document: its
// operationIds, capitalised.
func specOperations(t *testing.T, doc []byte) []string {
	t.Helper()
	s, err := ogen.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, item := range s.Paths {
		for _, op := range []*ogen.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch, item.Head, item.Options} {
			if op != nil {
				out = append(out, goName(op.OperationID))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestOperationsMatchTheSpecs: the names Operations lists (and faults and
// filters accept) are exactly the operations of each API's document.
func TestOperationsMatchTheSpecs(t *testing.T) {
	t.Parallel()
	for api, doc := range map[mockserver.API][]byte{
		mockserver.APILifecycle:    spec.Lifecycle,
		mockserver.APISandbox:      spec.Sandbox,
		mockserver.APIControlPlane: spec.ControlPlane,
	} {
		if diff := cmp.Diff(specOperations(t, doc), mockserver.Operations(api)); diff != "" {
			t.Errorf("%s operations (-spec +Operations):\n%s", api, diff)
		}
	}
	all := mockserver.Operations("")
	if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) || !slices.Contains(all, mockserver.OpWatchFilesystem) {
		t.Errorf("Operations(\"\") = %v", all)
	}
}

// TestLifecycleRoutesAnswerEveryOperation: every lifecycle operation of
// the spec has a route in the mock (the journal names it).
func TestLifecycleRoutesAnswerEveryOperation(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	s, err := ogen.Parse(spec.Lifecycle)
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range s.Paths {
		for method, op := range map[string]*ogen.Operation{"GET": item.Get, "POST": item.Post, "DELETE": item.Delete, "PATCH": item.Patch, "PUT": item.Put} {
			if op == nil {
				continue
			}
			p := strings.NewReplacer("{sandboxId}", "x", "{snapshotId}", "y", "{port}", "8080").Replace(path)
			for _, prefix := range []string{"", "/v1"} {
				srv.ResetJournal()
				do(t, srv, method, prefix+p, "", nil)
				j := srv.Journal()
				want := goName(op.OperationID)
				if len(j) != 1 || j[0].Operation != want || j[0].API != mockserver.APILifecycle {
					t.Errorf("%s %s: journal %+v, want operation %s", method, prefix+p, j, want)
				}
			}
		}
	}
}

// goName is ogen's Go name for an operationId: the first letter upper
// case, and "Id" as a word written "ID" (naming/camel_initialisms).
func goName(id string) string {
	return idWord.ReplaceAllString(strings.ToUpper(id[:1])+id[1:], "ID$1")
}

var idWord = regexp.MustCompile(`Id([A-Z]|$)`)
