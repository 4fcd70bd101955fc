package spec

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ogen-go/ogen"
)

// The room map: CONTRIBUTING.md lists the steps of adding an operation
// (spec → generate → façade method → interface → gomock mock → mock
// handler → conformance). TestRoomMap fails, naming the operation and the
// step, when one of them is missing for any operation of our three specs.

// facade describes where one API's steps live, relative to the module root.
type facade struct {
	spec        string // spec file in internal/spec
	pkg         string // façade package directory
	mock        string // gomock package directory
	conformance string // glob of the API's conformance scenario files
	mockAPI     string // the API's name in mockserver/operations.go
}

var facades = []facade{
	{"lifecycle.yaml", "lifecycle", "lifecycle/mocklifecycle", "conformance/lifecycle_*_test.go", "APILifecycle"},
	{"sandbox.yaml", "sandbox", "sandbox/mocksandbox", "conformance/sandbox_*_test.go", "APISandbox"},
	{"controlplane.yaml", "controlplane", "controlplane/mockcontrolplane", "conformance/controlplane_*_test.go", "APIControlPlane"},
}

// specOp is one operation of a spec.
type specOp struct {
	id, method, path string
	responses        map[string]*ogen.Response
}

func (o specOp) String() string { return o.method + " " + o.path + " (" + o.id + ")" }

func TestRoomMap(t *testing.T) {
	t.Parallel()
	mockOps := mockserverOperations(t)
	for _, f := range facades {
		t.Run(f.pkg, func(t *testing.T) {
			t.Parallel()
			ops := specOperations(t, f.spec)
			pkg := parseDir(t, filepath.Join("..", "..", f.pkg))
			ifaces := interfaceMethods(pkg)
			mocked := mockMethods(t, filepath.Join("..", "..", f.mock))
			called := conformanceCalls(t, filepath.Join("..", "..", f.conformance))
			for _, op := range ops {
				methods := documentedMethods(pkg, op)
				if len(methods) == 0 {
					t.Errorf("%s: no exported %s method documents %q (step: façade method, doc comment with METHOD /path)", op, f.pkg, op.method+" "+op.path)
					continue
				}
				if !slices.ContainsFunc(methods, func(m string) bool { return ifaces[m] }) {
					t.Errorf("%s: none of %v is in an interface of package %s (step: interface)", op, methods, f.pkg)
				}
				if !slices.ContainsFunc(methods, func(m string) bool { return mocked[m] }) {
					t.Errorf("%s: none of %v is in %s (step: go generate the gomock mock, after adding the interface to gen.go's mockgen line)", op, methods, f.mock)
				}
				if !slices.Contains(mockOps[f.mockAPI], capitalize(op.id)) {
					t.Errorf("%s: mockserver's %s operations do not list %q (step: mock handler and its operation name in mockserver/operations.go)", op, f.mockAPI, capitalize(op.id))
				}
				if !slices.ContainsFunc(methods, func(m string) bool { return called[m] }) {
					t.Errorf("%s: no conformance scenario (%s) calls any of %v (step: conformance)", op, f.conformance, methods)
				}
			}
		})
	}
}

// TestErrorsAreOneDefaultResponse holds the specs to the shape ogen turns
// into plain (T, error) methods: an operation lists only its success
// answers (2xx) and the shared `default` error response, so that no
// façade needs a type switch over error answers. Which error statuses a
// server gives goes into the operation's description instead.
func TestErrorsAreOneDefaultResponse(t *testing.T) {
	t.Parallel()
	for _, f := range facades {
		for _, op := range specOperations(t, f.spec) {
			for code, r := range op.responses {
				switch {
				case code == "default":
					if r.Ref != "#/components/responses/Error" {
						t.Errorf("%s %s: default answer %q, want $ref '#/components/responses/Error'", f.spec, op, r.Ref)
					}
				case !strings.HasPrefix(code, "2"):
					t.Errorf("%s %s: lists error answer %s; errors are the shared default response (say the status in the description)", f.spec, op, code)
				}
			}
			if _, ok := op.responses["default"]; !ok {
				t.Errorf("%s %s: no default error response", f.spec, op)
			}
		}
	}
}

// specOperations lists the operations of one of our specs.
func specOperations(t *testing.T, name string) []specOp {
	t.Helper()
	doc, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ogen.Parse(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var ops []specOp
	for path, item := range s.Paths {
		for method, op := range map[string]*ogen.Operation{
			"GET": item.Get, "PUT": item.Put, "POST": item.Post, "DELETE": item.Delete,
			"OPTIONS": item.Options, "HEAD": item.Head, "PATCH": item.Patch,
		} {
			if op != nil {
				ops = append(ops, specOp{op.OperationID, method, path, op.Responses})
			}
		}
	}
	slices.SortFunc(ops, func(a, b specOp) int { return strings.Compare(a.String(), b.String()) })
	if len(ops) == 0 {
		t.Fatalf("%s: no operations", name)
	}
	return ops
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// documentedMethods returns the exported functions and methods whose doc
// comment names op as "METHOD /path" (followed by the end of the line, a
// space or punctuation).
func documentedMethods(files []*ast.File, op specOp) []string {
	re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(op.method+" "+op.path) + `($|[\s,;.)])`)
	var out []string
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Doc == nil || !fd.Name.IsExported() {
				continue
			}
			for line := range strings.SplitSeq(fd.Doc.Text(), "\n") {
				if re.MatchString(line) {
					out = append(out, fd.Name.Name)
					break
				}
			}
		}
	}
	return out
}

// interfaceMethods returns the names of the methods of the package's
// exported interfaces.
func interfaceMethods(files []*ast.File) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			if it, ok := ts.Type.(*ast.InterfaceType); ok {
				for _, m := range it.Methods.List {
					for _, name := range m.Names {
						out[name.Name] = true
					}
				}
			}
			return true
		})
	}
	return out
}

var mockMethod = regexp.MustCompile(`(?m)^func \(\w+ \*Mock\w+\) (\w+)\(`)

// mockMethods returns the methods of the gomock mocks in dir.
func mockMethods(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	out := map[string]bool{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mockMethod.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}

// conformanceCalls returns the names of the methods the conformance
// scenarios call (x.Name(...)).
func conformanceCalls(t *testing.T, glob string) map[string]bool {
	t.Helper()
	names, err := filepath.Glob(glob)
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: no conformance files (%v)", glob, err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
					out[sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	return out
}

// mockserverOperations reads the operation names mockserver lists per API
// (its apiOperations table in mockserver/operations.go), resolving the
// Op* constants of that file.
func mockserverOperations(t *testing.T) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "mockserver", "operations.go"), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	out := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					consts[name.Name] = strings.Trim(lit.Value, "\"")
				}
			}
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		key, ok := kv.Key.(*ast.Ident)
		call, ok2 := kv.Value.(*ast.CallExpr)
		if !ok || !ok2 {
			return true
		}
		for _, a := range call.Args {
			if id, ok := a.(*ast.Ident); ok {
				if v, ok := consts[id.Name]; ok {
					out[key.Name] = append(out[key.Name], v)
				}
			}
		}
		return true
	})
	if len(out) < 3 {
		t.Fatalf("mockserver/operations.go: found operation lists for %v only", fmt.Sprint(out))
	}
	return out
}

// capitalize turns an operationId into ogen's Go name for it: the first
// letter upper case, and "Id" as a word written "ID" (the specs generate
// with naming/camel_initialisms).
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return idWord.ReplaceAllString(strings.ToUpper(s[:1])+s[1:], "ID$1")
}

var idWord = regexp.MustCompile(`Id([A-Z]|$)`)
