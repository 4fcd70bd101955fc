package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// pattern is an endless reader of repeating bytes that allocates nothing.
type pattern struct{ off int }

const patternText = "sandboxkit streams files without holding them in memory.\n"

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = patternText[p.off%len(patternText)]
		p.off++
	}
	return len(b), nil
}

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestOpenStreamsLargeFile reads a 256 MiB download and checks that the
// heap never grows by 16 MiB. It does not run in parallel: it measures
// the whole process's heap.
func TestOpenStreamsLargeFile(t *testing.T) {
	const size = 256 << 20
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("download") != "true" || r.Header.Get("Accept") != "application/octet-stream" {
			http.Error(w, `{"error":"not a download"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain") // the real server's label for .log
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = io.CopyN(w, &pattern{}, size)
	})
	rc, err := c.Open(t.Context(), "/var/log/huge.log")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	base := heapAlloc()
	var peak uint64
	buf := make([]byte, 64<<10)
	var n int64
	var m runtime.MemStats
	for {
		k, err := rc.Read(buf)
		n += int64(k)
		if n%(8<<20) < int64(k) { // about every 8 MiB
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	growth := int64(peak) - int64(base)
	t.Logf("read %d MiB; heap grew by at most %.2f MiB", n>>20, float64(growth)/(1<<20))
	if growth >= 16<<20 {
		t.Errorf("heap grew by %d bytes while streaming, want < 16 MiB", growth)
	}
}

// TestOpenReadEndsWithContext: a read blocked on the network ends when
// the context does, whatever the transport.
func TestOpenReadEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := newBody("first bytes", nil)
		c := mockClient(t, func(r *http.Request) (*http.Response, error) {
			resp := streamResponse(r, "application/json", body)
			resp.Header.Set("Content-Disposition", `attachment; filename="data.json"`)
			return resp, nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		rc, err := c.Open(ctx, "data.json")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if string(b) != "first bytes" || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ReadAll = %q, %v", b, err)
		}
	})
}
