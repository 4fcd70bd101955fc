package spec

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ogen-go/ogen"
)

// updateFields rewrites testdata/operations/controlplane-fields.txt from
// the published control plane spec (which must be present).
var updateFields = flag.Bool("update-controlplane-fields", false, "rewrite testdata/operations/controlplane-fields.txt from ../shared/reference")

const (
	controlPlaneRef    = "controlplane.openapi.yml"
	controlPlaneFields = "controlplane-fields.txt"
)

// sandboxResource reports whether path belongs to the control plane's
// sandbox resource, the part of the published spec sandboxkit covers.
func sandboxResource(path string) bool {
	return path == "/sandboxes" || strings.HasPrefix(path, "/sandboxes/") || path == "/sandbox/hub"
}

// TestControlPlaneOperationsMatchReference checks the recorded list of
// control plane operations (testdata/operations/controlplane.txt) against
// the sandbox resource of the published spec, where it is present.
func TestControlPlaneOperationsMatchReference(t *testing.T) {
	t.Parallel()
	doc := readReference(t, controlPlaneRef)
	var ref []string
	for _, op := range operations(t, doc) {
		if _, path, _ := strings.Cut(op, " "); sandboxResource(path) {
			ref = append(ref, op)
		}
	}
	if len(ref) != 25 {
		t.Errorf("the published sandbox resource has %d operations, want 25", len(ref))
	}
	if diff := cmp.Diff(readOperations(t, "controlplane.txt"), ref); diff != "" {
		t.Errorf("testdata/operations/controlplane.txt is stale against %s (-recorded +reference):\n%s", controlPlaneRef, diff)
	}
}

// TestControlPlaneFieldsParity checks that our spec carries every
// parameter and every body field of the published sandbox resource, with
// a compatible JSON type, as recorded in
// testdata/operations/controlplane-fields.txt. It runs on the recorded
// list everywhere; TestControlPlaneFieldsMatchReference keeps the list
// current.
func TestControlPlaneFieldsParity(t *testing.T) {
	t.Parallel()
	ours := fieldIndex(t, ControlPlane, false)
	want := readFieldList(t)
	if len(want) < 150 {
		t.Fatalf("testdata/operations/%s has only %d lines", controlPlaneFields, len(want))
	}
	for _, line := range want {
		key, typ := splitField(line)
		got, ok := ours[key]
		switch {
		case !ok:
			t.Errorf("our spec lacks %s", key)
		case typ != "" && !slices.Contains(got, typ) && !slices.Contains(got, "any"):
			t.Errorf("%s: our types %v do not include %s", key, got, typ)
		}
	}
}

// TestControlPlaneFieldsMatchReference regenerates the field list from the
// published spec, where it is present, and compares it with the recorded
// one.
func TestControlPlaneFieldsMatchReference(t *testing.T) {
	t.Parallel()
	doc := readReference(t, controlPlaneRef)
	idx := fieldIndex(t, doc, true)
	var got []string
	for key, types := range idx {
		got = append(got, key+" "+strings.Join(types, "|"))
	}
	slices.Sort(got)
	path := filepath.Join("..", "..", "testdata", "operations", controlPlaneFields)
	if *updateFields {
		header := "# Parameters and body fields of the control plane's sandbox resource, from the\n" +
			"# published spec: \"METHOD /path where name type\". where is param:<in>,\n" +
			"# request, response (2xx) or error (4xx, 5xx, default). A field of a schema\n" +
			"# used in several places is listed where it first appears.\n" +
			"# Regenerate: go test ./internal/spec -run FieldsMatchReference -update-controlplane-fields\n"
		if err := os.WriteFile(path, []byte(header+strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(readFieldList(t), got); diff != "" {
		t.Errorf("testdata/operations/%s is stale against %s (-recorded +reference):\n%s", controlPlaneFields, controlPlaneRef, diff)
	}
}

// readReference reads a published spec from ../shared/reference, or skips
// the test where it is not present (a clone of the repository alone).
func readReference(t *testing.T, name string) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "reference", name))
	if os.IsNotExist(err) {
		t.Skipf("reference %s not present outside the repo", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func readFieldList(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "operations", controlPlaneFields))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// splitField splits "GET /p response a.b string" into its key and type.
func splitField(line string) (key, typ string) {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return line, ""
	}
	return line[:i], line[i+1:]
}

// fieldIndex lists the parameters and body fields of the sandbox resource
// of doc, as "METHOD /path where name" → JSON types. With dedupe, the
// fields of a named schema are listed only where it is first reached
// (operations in sorted order), so each field appears once.
func fieldIndex(t *testing.T, doc []byte, dedupe bool) map[string][]string {
	t.Helper()
	s, err := ogen.Parse(doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	w := &fieldWalker{spec: s, dedupe: dedupe, expanded: map[string]bool{}, out: map[string][]string{}}
	type op struct {
		key  string
		item *ogen.PathItem
		op   *ogen.Operation
	}
	var ops []op
	for path, item := range s.Paths {
		if !sandboxResource(path) {
			continue
		}
		for method, o := range map[string]*ogen.Operation{
			"GET": item.Get, "PUT": item.Put, "POST": item.Post, "DELETE": item.Delete, "PATCH": item.Patch,
		} {
			if o != nil {
				ops = append(ops, op{method + " " + path, item, o})
			}
		}
	}
	slices.SortFunc(ops, func(a, b op) int { return strings.Compare(a.key, b.key) })
	for _, o := range ops {
		for _, p := range slices.Concat(o.item.Parameters, o.op.Parameters) {
			p = w.param(p)
			w.add(o.key+" param:"+p.In+" "+p.Name, w.types(p.Schema))
		}
		if rb := o.op.RequestBody; rb != nil {
			rb = w.requestBody(rb)
			if m, ok := rb.Content["application/json"]; ok {
				w.walk(o.key+" request", "", m.Schema, 0)
			}
		}
		for code, r := range o.op.Responses {
			where := "error"
			if n, err := strconv.Atoi(code); err == nil && n < 400 {
				where = "response"
			}
			r = w.response(r)
			if m, ok := r.Content["application/json"]; ok {
				w.walk(o.key+" "+where, "", m.Schema, 0)
			}
		}
	}
	for k, v := range w.out {
		slices.Sort(v)
		w.out[k] = slices.Compact(v)
	}
	return w.out
}

type fieldWalker struct {
	spec     *ogen.Spec
	dedupe   bool
	expanded map[string]bool
	out      map[string][]string
}

func (w *fieldWalker) add(key string, types []string) { w.out[key] = append(w.out[key], types...) }

func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

func (w *fieldWalker) schema(s *ogen.Schema) (*ogen.Schema, string) {
	name := ""
	for s != nil && s.Ref != "" {
		name = refName(s.Ref)
		s = w.spec.Components.Schemas[name]
	}
	return s, name
}

func (w *fieldWalker) param(p *ogen.Parameter) *ogen.Parameter {
	for p.Ref != "" {
		p = w.spec.Components.Parameters[refName(p.Ref)]
	}
	return p
}

func (w *fieldWalker) requestBody(rb *ogen.RequestBody) *ogen.RequestBody {
	for rb.Ref != "" {
		rb = w.spec.Components.RequestBodies[refName(rb.Ref)]
	}
	return rb
}

func (w *fieldWalker) response(r *ogen.Response) *ogen.Response {
	for r.Ref != "" {
		r = w.spec.Components.Responses[refName(r.Ref)]
	}
	return r
}

// types returns the JSON types a value of s may have: its type, or those
// of its oneOf/anyOf branches; allOf is an object; no type at all is any.
func (w *fieldWalker) types(s *ogen.Schema) []string {
	s, _ = w.schema(s)
	switch {
	case s == nil:
		return []string{"any"}
	case s.Type == "integer" || s.Type == "number":
		return []string{"number"}
	case s.Type != "":
		return []string{s.Type}
	case len(s.AllOf) > 0 || len(s.Properties) > 0:
		return []string{"object"}
	}
	var out []string
	for _, b := range slices.Concat(s.OneOf, s.AnyOf) {
		out = append(out, w.types(b)...)
	}
	if len(out) == 0 {
		return []string{"any"}
	}
	return out
}

// walk records the field at path, then every field below it.
func (w *fieldWalker) walk(prefix, path string, s *ogen.Schema, depth int) {
	w.add(prefix+" "+cmpOrDot(path), w.types(s))
	w.expand(prefix, path, s, depth)
}

// expand records the fields of s (its properties, items and the fields
// of its allOf/oneOf/anyOf branches) below path.
func (w *fieldWalker) expand(prefix, path string, s *ogen.Schema, depth int) {
	if depth > 30 {
		panic(fmt.Sprintf("schema nesting too deep at %s %s", prefix, path))
	}
	s, name := w.schema(s)
	if s == nil {
		return
	}
	if name != "" && w.dedupe {
		if w.expanded[name] {
			return
		}
		w.expanded[name] = true
	}
	for _, p := range s.Properties {
		w.walk(prefix, joinPath(path, p.Name), p.Schema, depth+1)
	}
	if s.Items != nil && s.Items.Item != nil {
		w.walk(prefix, path+"[]", s.Items.Item, depth+1)
	}
	for _, b := range slices.Concat(s.AllOf, s.OneOf, s.AnyOf) {
		w.expand(prefix, path, b, depth+1)
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func cmpOrDot(path string) string {
	if path == "" {
		return "."
	}
	return path
}
