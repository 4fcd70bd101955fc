package resilience

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// hostile are the strings every string parameter gets, after the zero
// value: path escapes (plain and encoded), CRLF, NUL and 1 MiB.
var hostile = []string{"../x", "%2e%2e/x", "a\r\nb", "a\x00b", strings.Repeat("a", 1<<20)}

// refusingServer answers 400 to every request, in a body each API
// understands, and counts the requests.
func refusingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":"BAD_REQUEST","message":"refused","error":"refused"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// reflectCalls counts every call made by the reflection-driven tests, for
// the log line of TestEveryExportedCallWithZeroAndHostileInput.
var reflectCalls atomic.Int64

// callEach calls fn (a method value or a function) once with zero values
// for every parameter but contexts, once with new(T) for each pointer
// parameter, and once with each hostile string in every string parameter.
// It checks that no call panics and that a call failing with
// ErrInvalidInput sent nothing; when nulRefused is set, a NUL byte in a
// string parameter must be refused before anything is sent.
func callEach(t *testing.T, name string, fn reflect.Value, sent *atomic.Int64, nulRefused bool) {
	t.Helper()
	ft := fn.Type()
	ctxType := reflect.TypeFor[context.Context]()
	hasString, hasPointer := false, false
	for i := range ft.NumIn() {
		hasString = hasString || ft.In(i).Kind() == reflect.String
		hasPointer = hasPointer || ft.In(i).Kind() == reflect.Pointer
	}
	type variant struct {
		label string
		str   string
		alloc bool // new(T) for pointers
	}
	variants := []variant{{label: "zero"}}
	if hasPointer {
		variants = append(variants, variant{label: "new", alloc: true})
	}
	if hasString {
		for _, s := range hostile {
			variants = append(variants, variant{label: fmt.Sprintf("%.12q", s), str: s})
		}
	}
	for _, v := range variants {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		args := make([]reflect.Value, 0, ft.NumIn())
		for i := range ft.NumIn() {
			in := ft.In(i)
			if ft.IsVariadic() && i == ft.NumIn()-1 {
				break
			}
			switch {
			case in == ctxType:
				args = append(args, reflect.ValueOf(ctx))
			case in.Kind() == reflect.String:
				args = append(args, reflect.ValueOf(v.str).Convert(in))
			case in.Kind() == reflect.Pointer && v.alloc:
				args = append(args, reflect.New(in.Elem()))
			default:
				args = append(args, reflect.Zero(in))
			}
		}
		before := sent.Load()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s(%s) panicked: %v", name, v.label, r)
				}
			}()
			out := fn.Call(args)
			for _, o := range out {
				switch x := o.Interface().(type) {
				case error:
					err = x
				case io.Closer:
					if o.Kind() != reflect.Pointer || !o.IsNil() {
						_ = x.Close()
					}
				}
			}
			// Iterators: take one element, then stop.
			for _, o := range out {
				if o.Kind() == reflect.Func && !o.IsNil() && o.Type().NumIn() == 1 && o.Type().In(0).Kind() == reflect.Func {
					yield := reflect.MakeFunc(o.Type().In(0), func(in []reflect.Value) []reflect.Value {
						if len(in) == 2 {
							if e, ok := in[1].Interface().(error); ok {
								err = e
							}
						}
						return []reflect.Value{reflect.ValueOf(false)}
					})
					o.Call([]reflect.Value{yield})
				}
			}
		}()
		cancel()
		reflectCalls.Add(1)
		n := sent.Load() - before
		switch {
		case errors.Is(err, sandboxkit.ErrInvalidInput) && n > 0:
			t.Errorf("%s(%s): ErrInvalidInput after %d requests were sent", name, v.label, n)
		case nulRefused && strings.Contains(v.str, "\x00") && (!errors.Is(err, sandboxkit.ErrInvalidInput) || n > 0):
			t.Errorf("%s(%s): %v after %d requests; want ErrInvalidInput before any", name, v.label, err, n)
		}
	}
}

// callMethods runs callEach on every exported method of c.
func callMethods(t *testing.T, c any, sent *atomic.Int64, nulRefused bool) int {
	t.Helper()
	v := reflect.ValueOf(c)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		callEach(t, fmt.Sprintf("%T.%s", c, m.Name), v.Method(i), sent, nulRefused)
	}
	return v.NumMethod()
}

// exportedFuncs lists the exported package-level functions of the
// non-test Go files in dir (relative to the module root).
func exportedFuncs(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: %v", dir, err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.IsExported() {
				out = append(out, fd.Name.Name)
			}
		}
	}
	return out
}

// packageFuncs are the exported functions of each package, by name; the
// test fails when a package gains one that is not listed here.
var packageFuncs = map[string]map[string]any{
	".": {
		"DefaultRetryPolicy": sandboxkit.DefaultRetryPolicy, "IsTransient": sandboxkit.IsTransient,
		"NewConfig": sandboxkit.NewConfig, "StatusCode": sandboxkit.StatusCode,
		"WithAPIKey": sandboxkit.WithAPIKey, "WithBaseURL": sandboxkit.WithBaseURL,
		"WithCredentialHeader": sandboxkit.WithCredentialHeader, "WithEnvCredentials": sandboxkit.WithEnvCredentials,
		"WithHTTPClient": sandboxkit.WithHTTPClient, "WithHeader": sandboxkit.WithHeader,
		"WithInsecureHTTP": sandboxkit.WithInsecureHTTP, "WithLogger": sandboxkit.WithLogger,
		"WithMaxResponseSize": sandboxkit.WithMaxResponseSize, "WithMeterProvider": sandboxkit.WithMeterProvider,
		"WithRetry": sandboxkit.WithRetry, "WithSandboxHosts": sandboxkit.WithSandboxHosts,
		"WithStreamIdleTimeout": sandboxkit.WithStreamIdleTimeout, "WithTimeout": sandboxkit.WithTimeout,
		"WithToken": sandboxkit.WithToken, "WithTracerProvider": sandboxkit.WithTracerProvider,
		"WithURLToken": sandboxkit.WithURLToken, "WithUserAgent": sandboxkit.WithUserAgent,
		"WithWorkspace": sandboxkit.WithWorkspace, "WithoutEnvironment": sandboxkit.WithoutEnvironment,
		"WithoutTimeouts": sandboxkit.WithoutTimeouts,
	},
	"lifecycle": {
		"EncodeMetadataFilter": lifecycle.EncodeMetadataFilter, "New": lifecycle.New,
		"NewFromConfig": lifecycle.NewFromConfig, "NewRenewer": lifecycle.NewRenewer,
		"NewRenewerPool": lifecycle.NewRenewerPool, "NewSnapshotWaiter": lifecycle.NewSnapshotWaiter,
		"NewWaiter": lifecycle.NewWaiter, "ParseState": lifecycle.ParseState,
		"SnapshotStates": lifecycle.SnapshotStates, "States": lifecycle.States,
	},
	"controlplane": {
		"ExpireAt": controlplane.ExpireAt, "FormatDuration": controlplane.FormatDuration,
		"New": controlplane.New, "NewFromConfig": controlplane.NewFromConfig,
		"NewWaiter": controlplane.NewWaiter, "ParseDuration": controlplane.ParseDuration,
		"TTLIdle": controlplane.TTLIdle, "TTLMaxAge": controlplane.TTLMaxAge,
	},
	"sandbox": {
		"New": sandbox.New, "NewFromConfig": sandbox.NewFromConfig,
		"NewHealthWaiter": sandbox.NewHealthWaiter, "NewWaiter": sandbox.NewWaiter,
		"NewStream": sandbox.NewStream[string], "StreamOf": sandbox.StreamOf[string],
	},
}

// TestEveryExportedCallWithZeroAndHostileInput calls every exported
// method of the three clients, and every exported function of the root
// package and of the three façade packages, with zero values, nil and new(T) pointers, and hostile strings
// (see hostile): nothing panics, and what is refused as invalid input is
// refused before any request. For the lifecycle and control plane
// clients, whose string parameters are identifiers and names, a NUL byte
// is always refused before sending. (mockserver and the sandbox client
// have their own, deeper versions: mockserver/zero_test.go,
// sandbox/hardening_test.go.)
func TestEveryExportedCallWithZeroAndHostileInput(t *testing.T) {
	srv, sent := refusingServer(t)
	base := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithRetry(sandboxkit.RetryPolicy{MaxRetries: 0})}

	lc, err := lifecycle.New(append(base, sandboxkit.WithBaseURL(srv.URL+"/v1"), sandboxkit.WithAPIKey("k"))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(base, sandboxkit.WithBaseURL(srv.URL+"/v0"), sandboxkit.WithToken("t"), sandboxkit.WithWorkspace("w"))...)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(append(base, sandboxkit.WithBaseURL(srv.URL), sandboxkit.WithToken("t"))...)
	if err != nil {
		t.Fatal(err)
	}
	methods := 0
	t.Run("lifecycle", func(t *testing.T) { methods += callMethods(t, lc, sent, true) })
	t.Run("controlplane", func(t *testing.T) { methods += callMethods(t, cp, sent, true) })
	t.Run("sandbox", func(t *testing.T) { methods += callMethods(t, sb, sent, false) })

	funcs := 0
	for dir, table := range packageFuncs {
		t.Run("funcs "+dir, func(t *testing.T) {
			for _, name := range exportedFuncs(t, dir) {
				fn, ok := table[name]
				if !ok {
					t.Errorf("%s.%s is not in packageFuncs: add it so it is called with hostile input", dir, name)
					continue
				}
				funcs++
				callEach(t, name, reflect.ValueOf(fn), sent, false)
			}
		})
	}
	t.Logf("%d calls of %d client methods and %d functions", reflectCalls.Load(), methods, funcs)
}
