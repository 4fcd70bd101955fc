package mockserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// heapPeak samples the heap while a function runs. With a low GC target
// the heap stays close to the live data, so the peak approximates the
// most memory the code kept at once.
type heapPeak struct {
	stop chan struct{}
	done chan struct{}
	base uint64
	peak uint64
}

// startHeapPeak forces a collection, records the heap as the baseline and
// samples it every 200 µs until end.
func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{}), done: make(chan struct{}), base: heapBytes()}
	go func() {
		defer close(h.done)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := heapBytes(); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// end stops sampling and returns the peak above the baseline.
func (h *heapPeak) end() uint64 {
	close(h.stop)
	<-h.done
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// pattern streams n pseudo-random bytes without holding them.
func pattern(n int64, seed uint64) io.Reader {
	return io.LimitReader(&prng{r: rand.New(rand.NewPCG(seed, seed))}, n)
}

type prng struct{ r *rand.Rand }

func (p *prng) Read(b []byte) (int, error) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := p.r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}

// uploadMultipart uploads size bytes in parts of partSize through the
// sandbox API's multipart routes, streaming every body (the client holds
// no part), and returns the path written.
func uploadMultipart(tb testing.TB, ctx context.Context, srv *mockserver.Server, id string, size, partSize int64) string {
	tb.Helper()
	base := srv.URL() + "/sandboxes/" + id + "/port/8080"
	hc := srv.HTTPClient()
	call := func(method, url, ctype string, body io.Reader, out any) {
		tb.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			tb.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				tb.Fatal(err)
			}
		}
	}
	var init struct{ UploadID string }
	call("POST", base+"/filesystem-multipart/initiate//tmp/big.bin", "application/json", strings.NewReader(`{}`), &init)
	type donePart struct {
		PartNumber int    `json:"partNumber"`
		Etag       string `json:"etag"`
	}
	var parts []donePart
	for n, off := 1, int64(0); off < size; n, off = n+1, off+partSize {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			w, err := mw.CreateFormFile("file", "part")
			if err == nil {
				_, err = io.Copy(w, pattern(min(partSize, size-off), uint64(n)))
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		var p donePart
		call("PUT", fmt.Sprintf("%s/filesystem-multipart/%s/part?partNumber=%d", base, init.UploadID, n), mw.FormDataContentType(), pr, &p)
		parts = append(parts, donePart{PartNumber: n, Etag: p.Etag})
	}
	body, _ := json.Marshal(map[string]any{"parts": parts})
	call("POST", base+"/filesystem-multipart/"+init.UploadID+"/complete", "application/json", bytes.NewReader(body), nil)
	return "/tmp/big.bin"
}

// BenchmarkMultipartUploadMemory uploads a 64 MiB file in 8 MiB parts
// (the sandbox client's default part size) and reports the server's heap
// peak as a multiple of the file's size (peak/file): the parts it keeps
// until the upload completes plus the file it builds from them, 2 at
// most.
func BenchmarkMultipartUploadMemory(b *testing.B) {
	const size, partSize = 64 << 20, 8 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	var worst uint64
	for b.Loop() {
		srv, err := mockserver.New()
		if err != nil {
			b.Fatal(err)
		}
		id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
		// The sandbox API simulator starts at its first request: start
		// it before measuring.
		if st := status(b, srv, "GET", "/sandboxes/"+id+"/port/8080/health", ""); st != 200 {
			b.Fatalf("health: %d", st)
		}
		h := startHeapPeak()
		uploadMultipart(b, b.Context(), srv, id, size, partSize)
		worst = max(worst, h.end())
		srv.Close()
	}
	b.ReportMetric(float64(worst)/size, "peak/file")
	b.SetBytes(size)
}

// BenchmarkWriteReadMemory writes and reads back a 16 MiB file through
// the sandbox client and the mock (in memory) and reports the bytes
// allocated per byte of file (alloc/file) and the heap peak as a multiple
// of the file (peak/file). The client holds the file it writes and the
// copy it reads; the mock keeps one copy.
func BenchmarkWriteReadMemory(b *testing.B) {
	const size = 16 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	srv, err := mockserver.New()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	apiOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		b.Fatal(err)
	}
	api, err := sandbox.New(apiOpts...)
	if err != nil {
		b.Fatal(err)
	}
	content := strings.Repeat("0123456789abcde\n", size/16)
	var worst uint64
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for b.Loop() {
		h := startHeapPeak()
		if err := api.Write(b.Context(), "/tmp/w.txt", content, nil); err != nil {
			b.Fatal(err)
		}
		got, err := api.Read(b.Context(), "/tmp/w.txt")
		if err != nil || len(got) != size {
			b.Fatalf("read %d bytes: %v", len(got), err)
		}
		worst = max(worst, h.end())
	}
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.TotalAlloc-before)/float64(b.N)/size, "alloc/file")
	b.ReportMetric(float64(worst)/size, "peak/file")
	b.SetBytes(size)
}
