package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Regression tests for issue 12: no panic on nil input, no trust in the
// server's sizes.

// TestNilInputsAreInvalid: nil readers (UploadPart's used to crash the
// whole process from ogen's body-writer goroutine), a nil context, a zero
// Client and a stream without a source are errors matching
// sandboxkit.ErrInvalidInput, and nothing is sent.
func TestNilInputsAreInvalid(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(200, success))
	var nilReader *bytes.Reader
	var zero sandbox.Client
	calls := map[string]func() error{
		"Upload nil reader": func() error {
			_, err := c.Upload(t.Context(), "/tmp/a", nil, nil)
			return err
		},
		"Upload typed nil reader": func() error {
			_, err := c.Upload(t.Context(), "/tmp/a", nilReader, nil)
			return err
		},
		"UploadPart nil reader": func() error {
			_, err := c.UploadPart(t.Context(), "u", 1, nil, 10)
			return err
		},
		"UploadPart negative size": func() error {
			_, err := c.UploadPart(t.Context(), "u", 1, strings.NewReader("x"), -1)
			return err
		},
		"ResumeUpload nil source": func() error {
			_, err := c.ResumeUpload(t.Context(), "u", nil, 10, nil)
			return err
		},
		"Upload part size over MaxPartSize": func() error {
			_, err := c.Upload(t.Context(), "/tmp/a", strings.NewReader("x"), &sandbox.UploadOptions{PartSize: sandbox.MaxPartSize + 1})
			return err
		},
		"nil context": func() error {
			_, err := c.Health(nilContext())
			return err
		},
		"nil context Write": func() error {
			return c.Write(nilContext(), "a", "x", nil)
		},
		"zero Client": func() error {
			_, err := zero.Health(t.Context())
			return err
		},
		"nil Client": func() error {
			var nc *sandbox.Client
			return nc.Remove(t.Context(), "a", nil)
		},
		"NewStream nil next": func() error {
			s := sandbox.NewStream[int](t.Context(), nil)
			if s.Next() {
				return errors.New("Next returned true")
			}
			return s.Err()
		},
		"NewStream nil context": func() error {
			s := sandbox.NewStream(nilContext(), func(context.Context) (int, error) { return 1, nil })
			if s.Next() {
				return errors.New("Next returned true")
			}
			return s.Err()
		},
		"zero Stream": func() error {
			var s sandbox.Stream[int]
			if s.Next() {
				return errors.New("Next returned true")
			}
			defer s.Close()
			return s.Err()
		},
		"Find with unknown type": func() error {
			_, err := c.Find(t.Context(), ".", &sandbox.FindOptions{Type: "both"})
			return err
		},
		"Run with negative wait delay": func() error {
			_, err := c.Run(t.Context(), "true", &sandbox.RunOptions{Wait: &sandboxkit.WaitOptions{MinDelay: -1}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = call()
			}()
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("error = %v, want one matching sandboxkit.ErrInvalidInput", err)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	var s *sandbox.Stream[int]
	if s.Next() || s.Err() != nil || s.Close() != nil {
		t.Error("a nil *Stream is not an empty stream")
	}
}

// nilContext returns a nil context without the linters seeing a literal.
func nilContext() context.Context {
	var ctx context.Context
	return ctx
}

// TestResumeUploadDistrustsPartSize: the part size ResumeUpload takes from
// the server is checked against the file and MaxPartSize. A part of 1<<62
// bytes used to panic in makeslice; one of 1 GiB allocated 1 GiB for a
// 10-byte file.
func TestResumeUploadDistrustsPartSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int64
		wantErr bool
	}{
		{"1<<62", 1 << 62, true},
		{"1 GiB", 1 << 30, false},
		{"MaxPartSize+1", sandbox.MaxPartSize + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var completed string
			c := mockClient(t, func(r *http.Request) (*http.Response, error) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/parts"):
					return jsonResponse(r, 200, fmt.Sprintf(`{"uploadId":"u","parts":[{"partNumber":1,"etag":"0123456789abcdef0123456789abcdef","size":%d}]}`, tc.size)), nil
				case strings.HasSuffix(r.URL.Path, "/part"):
					_, _ = io.Copy(io.Discard, r.Body)
					return jsonResponse(r, 200, `{"partNumber":1,"etag":"","size":10}`), nil
				case strings.HasSuffix(r.URL.Path, "/complete"):
					b, _ := io.ReadAll(r.Body)
					completed = string(b)
					return jsonResponse(r, 200, success), nil
				}
				return jsonResponse(r, 200, success), nil
			})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := c.ResumeUpload(t.Context(), "u", strings.NewReader("0123456789"), 10, nil)
			runtime.ReadMemStats(&after)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ResumeUpload succeeded with a part of %d bytes reported", tc.size)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Parts != 1 || res.Size != 10 || !strings.Contains(completed, `"partNumber":1`) {
				t.Errorf("result %+v, complete %s", res, completed)
			}
			t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("allocated %d bytes to resume a 10-byte file", grew)
			}
		})
	}
}

// hostileStrings are the string arguments TestEveryMethodWithHostileInput
// tries in every string parameter at once ("" is the zero value).
var hostileStrings = []string{"", "../x", "%2e%2e/x", "a\r\nb", "a\x00b", strings.Repeat("a", 1<<20)}

// TestEveryMethodWithHostileInput calls every exported method of *Client
// with zero values for every parameter but the context, and with each of
// hostileStrings in every string parameter: none panics, every one
// returns an error (the server answers 400 to anything), and input with a
// NUL byte, which no path, id or command may hold, is refused before
// anything is sent.
func TestEveryMethodWithHostileInput(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(http.StatusBadRequest, `{"error":"refused"}`))
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	ct := reflect.TypeOf(c)
	calls := 0
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		mt := m.Type
		if mt.NumOut() == 0 || mt.Out(mt.NumOut()-1) != errType {
			continue // Config
		}
		hasString := false
		for j := 1; j < mt.NumIn(); j++ {
			hasString = hasString || mt.In(j).Kind() == reflect.String
		}
		for _, str := range hostileStrings {
			if str != "" && !hasString {
				continue
			}
			name := fmt.Sprintf("%s(%.12q)", m.Name, str)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			args := []reflect.Value{reflect.ValueOf(c)}
			for j := 1; j < mt.NumIn(); j++ {
				switch in := mt.In(j); {
				case in == ctxType:
					args = append(args, reflect.ValueOf(ctx))
				case in.Kind() == reflect.String:
					args = append(args, reflect.ValueOf(str).Convert(in))
				default:
					args = append(args, reflect.Zero(in))
				}
			}
			before := len(srv.requests())
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panicked: %v", name, r)
					}
				}()
				out := m.Func.Call(args)
				err, _ = out[len(out)-1].Interface().(error)
				if err == nil && out[0].Kind() == reflect.Pointer && !out[0].IsNil() {
					// A stream may only learn the server's answer when
					// read (Watch returns before the answer comes).
					if next := out[0].MethodByName("Next"); next.IsValid() {
						next.Call(nil)
						err, _ = out[0].MethodByName("Err").Call(nil)[0].Interface().(error)
					}
					// Close what a successful call opened.
					if closer, ok := out[0].Interface().(io.Closer); ok {
						_ = closer.Close()
					}
				}
			}()
			cancel()
			calls++
			sent := len(srv.requests()) - before
			switch {
			case err == nil:
				t.Errorf("%s succeeded against a server that refuses everything", name)
			case strings.Contains(str, "\x00") && (!errors.Is(err, sandboxkit.ErrInvalidInput) || sent > 0):
				t.Errorf("%s: error %v after %d requests, want ErrInvalidInput before any", name, err, sent)
			case errors.Is(err, sandboxkit.ErrInvalidInput) && sent > 0:
				t.Errorf("%s: ErrInvalidInput after %d requests were sent", name, sent)
			}
		}
	}
	t.Logf("%d calls of %d methods", calls, ct.NumMethod()-1)
	if ct.NumMethod() < 46 {
		t.Errorf("only %d methods found", ct.NumMethod())
	}
}
