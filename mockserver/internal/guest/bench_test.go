package guest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// BenchmarkExec measures POST /process of a short command line, answered
// from the handler (no socket).
func BenchmarkExec(b *testing.B) {
	g := New(Config{Clock: clock.NewManual(epoch)})
	defer g.Close()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/process", strings.NewReader(`{"command":"mkdir -p d && echo hi > d/f && cat d/f | wc -c"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}

// BenchmarkShellLoop measures the interpreter alone: a loop of 300
// iterations, about 900 commands.
func BenchmarkShellLoop(b *testing.B) {
	g := New(Config{Clock: clock.NewManual(epoch)})
	defer g.Close()
	req := &sandboxsrv.ProcessRequest{Command: `i=0; while [ $i -lt 300 ]; do i=$((i+1)); done; echo $i`}
	b.ReportAllocs()
	for b.Loop() {
		g.mu.Lock()
		p, aerr := g.startProcessLocked(req, nil)
		ok := aerr == nil && p.status == statusCompleted && string(p.outFile) == "300\n"
		g.mu.Unlock()
		if !ok {
			b.Fatalf("%v %+v", aerr, p)
		}
	}
}
