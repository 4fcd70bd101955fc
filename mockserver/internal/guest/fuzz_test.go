package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// cancelOnWrite records a response and cancels the request as soon as the
// handler writes anything, so that streams end at once.
type cancelOnWrite struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w cancelOnWrite) Write(b []byte) (int, error) {
	defer w.cancel()
	return w.ResponseRecorder.Write(b)
}

func (w cancelOnWrite) WriteHeader(code int) {
	defer w.cancel()
	w.ResponseRecorder.WriteHeader(code)
}

func (w cancelOnWrite) Flush() {
	defer w.cancel()
	w.ResponseRecorder.Flush()
}

// FuzzServeHTTP feeds arbitrary requests to a guest: it must answer every
// one (a status from 200 to 599, JSON errors in the {"error"} shape)
// without panicking or hanging. Requests that would wait on the guest's
// clock (waitForCompletion) are cut short by the request's deadline.
// The seed corpus is in testdata/fuzz/FuzzServeHTTP.
func FuzzServeHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://sandbox.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if strings.Contains(target, "part") {
			req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		}
		g := New(Config{Clock: clock.NewManual(epoch)})
		defer g.Close()
		_ = g.WriteFile("/tmp/seed/a.txt", []byte("hello\nworld\n"))
		w := cancelOnWrite{httptest.NewRecorder(), cancel}
		func() {
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					t.Fatalf("%s %s %q: panic %v", method, target, body, p)
				}
			}()
			g.ServeHTTP(w, req)
		}()
		if code := w.Code; code < 200 || code > 599 {
			t.Fatalf("%s %s %q: status %d", method, target, body, code)
		}
		if w.Code >= 400 && w.Code != http.StatusNotFound && !strings.HasPrefix(w.Body.String(), `{"error":`) {
			t.Fatalf("%s %s %q: error body %q", method, target, body, w.Body.String())
		}
	})
}

// FuzzShell runs arbitrary command lines: the simulated shell must
// neither panic nor hold the guest (a command line that loops without
// sleeping is paused on the clock), and Close must end whatever still
// runs. The seed corpus is in testdata/fuzz/FuzzShell.
func FuzzShell(f *testing.F) {
	for _, s := range []string{
		"echo hi | wc -c > f; cat f", "while :; do :; done", "f() { f; }; f", "x='eval \"$x\"'; eval \"$x\"",
		"sleep 5 & wait; echo $?", "trap 'echo t' EXIT TERM; sleep 1", "cat <<EOF\n$((1/0))\nEOF", "case a in (*) echo;; esac",
		"for i in *; do echo \"$i\"; done", "a=${b:?x}", "echo $(echo $(echo `echo hi`))", "set -eux; false",
		"mkdir -p a/b && cd a && rm -rf ../a && pwd", "seq 1000 | tail -1", "exec 3>&1; echo x >&3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		wd := time.AfterFunc(20*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("WATCHDOG %q\n%s", script, buf[:n]))
		})
		defer wd.Stop()
		clk := clock.NewManual(epoch)
		g := New(Config{Clock: clk})
		defer g.Close()
		_ = g.WriteFile("a.txt", []byte("hello\n"))
		body, _ := json.Marshal(map[string]string{"command": script})
		req := httptest.NewRequest(http.MethodPost, "/process", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("%q: POST /process = %d %s", script, w.Code, w.Body)
		}
		clk.Advance(10 * time.Millisecond)
	})
}
