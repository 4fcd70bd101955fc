package guest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// BenchmarkPipeline measures data through a pipeline of three stages:
// 1 MB from yes through cat into wc, in 64 KiB pipes. The clock advances
// about a millisecond per MB (data moves at about 1 GB/s of guest time).
func BenchmarkPipeline(b *testing.B) {
	clk := clock.NewManual(epoch)
	g := New(Config{Clock: clk})
	defer g.Close()
	req := &sandboxsrv.ProcessRequest{Command: `yes | head -c 1000000 | cat | wc -c`}
	b.SetBytes(1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		g.mu.Lock()
		p, aerr := g.startProcessLocked(req, nil)
		g.mu.Unlock()
		for i := 0; ; i++ {
			g.mu.Lock()
			done := aerr != nil || p.status != statusRunning
			g.mu.Unlock()
			if done || i > 100 {
				break
			}
			clk.Advance(time.Millisecond)
		}
		g.mu.Lock()
		ok := aerr == nil && p.status == statusCompleted && string(p.outFile) == "1000000\n"
		g.mu.Unlock()
		if !ok {
			b.Fatalf("%v %+v", aerr, p)
		}
	}
}
