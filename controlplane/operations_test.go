package controlplane_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ogen-go/ogen"

	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/controlplane/mockcontrolplane"
	"github.com/sandboxkit/sandboxkit/internal/spec"
)

// opLine is the "METHOD /path" that starts the last paragraph of a
// method's doc comment.
var opLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH) (/[^\s,]*)`)

// TestEveryOperationHasItsMethod checks, like go-github's generator, that
// every operation of the control plane spec is the documented operation
// of a Client method ("METHOD /path" starting the last paragraph of its
// doc), and that the method is part of the API interface and of the
// gomock mock; the mock server's handler is checked by the compiler
// (mockserver asserts it implements the generated Handler). It also
// checks that no method documents an operation the spec does not have.
func TestEveryOperationHasItsMethod(t *testing.T) {
	t.Parallel()
	doc, err := ogen.Parse(spec.ControlPlane)
	if err != nil {
		t.Fatal(err)
	}
	type op struct{ id, key string }
	var ops []op
	for path, item := range doc.Paths {
		for method, o := range map[string]*ogen.Operation{"GET": item.Get, "PUT": item.Put, "POST": item.Post, "DELETE": item.Delete, "PATCH": item.Patch} {
			if o != nil {
				ops = append(ops, op{o.OperationID, method + " " + path})
			}
		}
	}
	if len(ops) != 25 {
		t.Errorf("the spec has %d operations, want 25", len(ops))
	}

	documented := map[string][]string{} // "METHOD /path" → methods
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Doc == nil || !fn.Name.IsExported() {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Client" {
				continue
			}
			paras := strings.Split(strings.TrimSpace(fn.Doc.Text()), "\n\n")
			if m := opLine.FindStringSubmatch(paras[len(paras)-1]); m != nil {
				documented[m[1]+" "+m[2]] = append(documented[m[1]+" "+m[2]], fn.Name.Name)
			}
		}
	}

	api := reflect.TypeFor[controlplane.API]()
	mock := reflect.TypeFor[*mockcontrolplane.MockAPI]()
	keys := map[string]bool{}
	for _, o := range ops {
		keys[o.key] = true
		methods := documented[o.key]
		if len(methods) == 0 {
			t.Errorf("%s (%s) is no Client method's documented operation", o.key, o.id)
			continue
		}
		for _, m := range methods {
			if _, ok := api.MethodByName(m); !ok {
				t.Errorf("Client.%s (%s) is not in the API interface", m, o.key)
			}
			if _, ok := mock.MethodByName(m); !ok {
				t.Errorf("Client.%s (%s) has no gomock mock method", m, o.key)
			}
		}
	}
	for key, methods := range documented {
		if !keys[key] {
			slices.Sort(methods)
			t.Errorf("%v document %s, which the spec does not have", methods, key)
		}
	}
}
