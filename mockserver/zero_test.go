package mockserver_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// hostileStrings are passed for every string argument.
var hostileStrings = []string{"", "../", "%2e%2e", "a\r\nb", "a\x00b", strings.Repeat("x", 1<<20)}

// TestExportedMethodsTakeZeroAndHostileArguments calls every exported
// method of a Server with zero values and hostile strings: errors are
// fine, panics are not. ServeHTTP (whose nil arguments net/http never
// passes) is left out; Close and Shutdown run last.
func TestExportedMethodsTakeZeroAndHostileArguments(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithManualClock(t0))
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	calls := 0
	v := reflect.ValueOf(srv)
	typ := v.Type()
	var last []int
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		switch m.Name {
		case "ServeHTTP":
			continue
		case "Close", "Shutdown":
			last = append(last, i)
			continue
		}
		for _, args := range argSets(m.Type, 1, id) {
			calls++
			call(t, m.Name, v.Method(i), args)
		}
	}
	for _, i := range last {
		for _, args := range argSets(typ.Method(i).Type, 1, id) {
			calls++
			call(t, typ.Method(i).Name, v.Method(i), args)
		}
	}
	t.Logf("%d calls", calls)
}

// argSets returns argument lists for a method or function type (skip
// receivers with from=1): all zero values, then each string argument in
// turn set to each hostile string and to a real id.
func argSets(ft reflect.Type, from int, id string) [][]reflect.Value {
	zero := func() []reflect.Value {
		var args []reflect.Value
		for j := from; j < ft.NumIn(); j++ {
			in := ft.In(j)
			if ft.IsVariadic() && j == ft.NumIn()-1 {
				break
			}
			switch {
			case in == reflect.TypeFor[context.Context]():
				args = append(args, reflect.ValueOf(context.Background()))
			default:
				args = append(args, reflect.Zero(in))
			}
		}
		return args
	}
	sets := [][]reflect.Value{zero()}
	for j := from; j < ft.NumIn(); j++ {
		if ft.In(j).Kind() != reflect.String || (ft.IsVariadic() && j == ft.NumIn()-1) {
			continue
		}
		for _, s := range append(hostileStrings, id) {
			args := zero()
			args[j-from] = reflect.ValueOf(s).Convert(ft.In(j))
			sets = append(sets, args)
		}
	}
	return sets
}

// call calls f in its own goroutine, so that a call that blocks shows as
// a failure rather than a hung test.
func call(t *testing.T, name string, f reflect.Value, args []reflect.Value) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("%s panicked: %v", name, p)
			}
		}()
		f.Call(args)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not return", name)
	}
}

// TestExportedFunctionsTakeZeroAndHostileArguments does the same for the
// package's functions (options and helpers): an Option that refuses its
// argument makes New fail, it never panics.
func TestExportedFunctionsTakeZeroAndHostileArguments(t *testing.T) {
	t.Parallel()
	calls := 0
	for name, fn := range map[string]any{
		"WithManualClock": mockserver.WithManualClock, "WithTenant": mockserver.WithTenant,
		"WithTransitionDelay": mockserver.WithTransitionDelay, "WithTransition": mockserver.WithTransition,
		"WithRetention": mockserver.WithRetention, "WithListener": mockserver.WithListener,
		"WithBaseURL": mockserver.WithBaseURL, "WithJournalLimit": mockserver.WithJournalLimit,
		"WithRuntime": mockserver.WithRuntime, "WithLimits": mockserver.WithLimits,
		"WithMaxSandboxTimeout": mockserver.WithMaxSandboxTimeout, "ParseRuntime": mockserver.ParseRuntime,
		"Operations": mockserver.Operations, "DefaultLimits": mockserver.DefaultLimits,
		"After": mockserver.After, "Immediate": mockserver.Immediate, "Manual": mockserver.Manual,
		"WithControlToken": mockserver.WithControlToken, "WithUpstream": mockserver.WithUpstream,
		"ParseMode": mockserver.ParseMode, "ParseTransitionKind": mockserver.ParseTransitionKind,
	} {
		f := reflect.ValueOf(fn)
		for _, args := range argSets(f.Type(), 0, "x") {
			calls++
			var out []reflect.Value
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s%v panicked: %v", name, args, p)
					}
				}()
				out = f.Call(args)
			}()
			if len(out) == 1 {
				if opt, ok := out[0].Interface().(mockserver.Option); ok {
					calls++
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("New(%s%v) panicked: %v", name, args, p)
							}
						}()
						if s, err := mockserver.New(opt); err == nil {
							s.Close()
						}
					}()
				}
			}
		}
	}
	t.Logf("%d calls", calls)
}
