package sandbox_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// multipartServer is a fake of the file and multipart routes.
type multipartServer struct {
	mu          sync.Mutex
	keep        bool // keep part data (false: only sizes and MD5s)
	partDelay   time.Duration
	fault       func(part, attempt int) (status int, err error, badETag bool)
	parts       map[int]storedPart
	attempts    map[int]int
	inflight    int
	maxInflight int
	calls       []string
	written     map[string][]byte // PUT /filesystem and completed uploads
	aborted     bool
}

type storedPart struct {
	data []byte
	etag string
	size int64
}

func newMultipartServer() *multipartServer {
	return &multipartServer{keep: true, parts: map[int]storedPart{}, attempts: map[int]int{}, written: map[string][]byte{}}
}

func (s *multipartServer) log(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *multipartServer) respond(r *http.Request) (*http.Response, error) {
	path := r.URL.Path
	switch {
	case r.Method == "PUT" && strings.HasPrefix(path, "/filesystem/"):
		var body struct{ Content string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.log("PUT " + path)
		s.mu.Lock()
		s.written[strings.TrimPrefix(path, "/filesystem/")] = []byte(body.Content)
		s.mu.Unlock()
		return jsonResponse(r, 200, success), nil
	case r.Method == "POST" && strings.HasPrefix(path, "/filesystem-multipart/initiate/"):
		s.log("initiate")
		return jsonResponse(r, 200, `{"uploadId":"up-1","path":"`+strings.TrimPrefix(path, "/filesystem-multipart/initiate/")+`"}`), nil
	case r.Method == "PUT" && path == "/filesystem-multipart/up-1/part":
		return s.part(r)
	case r.Method == "GET" && path == "/filesystem-multipart/up-1/parts":
		s.log("list")
		s.mu.Lock()
		var list []map[string]any
		for n, p := range s.parts {
			list = append(list, map[string]any{"partNumber": n, "etag": p.etag, "size": p.size})
		}
		s.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"uploadId": "up-1", "parts": list})
		return jsonResponse(r, 200, string(b)), nil
	case r.Method == "POST" && path == "/filesystem-multipart/up-1/complete":
		s.log("complete")
		var body struct {
			Parts []struct {
				PartNumber int
				ETag       string
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		defer s.mu.Unlock()
		var file []byte
		for i, p := range body.Parts {
			stored, ok := s.parts[p.PartNumber]
			if p.PartNumber != i+1 || !ok || stored.etag != p.ETag {
				return jsonResponse(r, 400, fmt.Sprintf(`{"error":"part %d: bad etag or order"}`, p.PartNumber)), nil
			}
			file = append(file, stored.data...)
		}
		s.written["multipart"] = file
		return jsonResponse(r, 200, success), nil
	case r.Method == "DELETE" && path == "/filesystem-multipart/up-1/abort":
		s.log("abort")
		s.mu.Lock()
		s.aborted = true
		s.mu.Unlock()
		return jsonResponse(r, 200, success), nil
	}
	return jsonResponse(r, 404, `{"error":"no route"}`), nil
}

func (s *multipartServer) part(r *http.Request) (*http.Response, error) {
	num, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
	s.mu.Lock()
	s.attempts[num]++
	attempt := s.attempts[num]
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	s.log(fmt.Sprintf("part %d", num))

	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	mr := multipart.NewReader(r.Body, params["boundary"])
	fp, err := mr.NextPart()
	if err != nil || fp.FormName() != "file" {
		return jsonResponse(r, 400, `{"error":"no file field"}`), nil
	}
	h := md5.New()
	var data bytes.Buffer
	w := io.Writer(h)
	if s.keep {
		w = io.MultiWriter(h, &data)
	}
	size, err := io.Copy(w, fp)
	if err != nil {
		return nil, err
	}
	if s.partDelay > 0 {
		<-time.After(s.partDelay) // fake time: the parts overlap
	}
	etag := hex.EncodeToString(h.Sum(nil))
	if s.fault != nil {
		status, err, badETag := s.fault(num, attempt)
		switch {
		case err != nil:
			return nil, err
		case status != 0:
			return jsonResponse(r, status, `{"error":"injected failure"}`), nil
		case badETag:
			etag = strings.Repeat("0", 32)
		}
	}
	s.mu.Lock()
	s.parts[num] = storedPart{data: data.Bytes(), etag: etag, size: size}
	s.mu.Unlock()
	return jsonResponse(r, 200, fmt.Sprintf(`{"partNumber":%d,"etag":%q,"size":%d}`, num, etag, size)), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

// progressTrace records upload progress.
type progressTrace struct {
	mu     sync.Mutex
	events []sandbox.UploadProgress
}

func (p *progressTrace) add(u sandbox.UploadProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, u)
}

func TestUploadSmallText(t *testing.T) {
	t.Parallel()
	srv := newMultipartServer()
	c := mockClient(t, srv.respond)
	var trace progressTrace
	res, err := c.Upload(t.Context(), "notes/a.txt", strings.NewReader("hello\n"), &sandbox.UploadOptions{OnProgress: trace.add})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&sandbox.UploadResult{Path: "notes/a.txt", Size: 6, Parts: 1}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PUT /filesystem/notes/a.txt"}, srv.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if string(srv.written["notes/a.txt"]) != "hello\n" || len(trace.events) != 1 || trace.events[0].Bytes != 6 {
		t.Errorf("written %q, progress %+v", srv.written["notes/a.txt"], trace.events)
	}
}

// TestUploadSmallBinary: bytes that are not UTF-8 cannot travel in the
// JSON request, so even a small file goes in one part.
func TestUploadSmallBinary(t *testing.T) {
	t.Parallel()
	srv := newMultipartServer()
	c := mockClient(t, srv.respond)
	data := []byte{0xff, 0xfe, 0, 1, 2}
	res, err := c.Upload(t.Context(), "/tmp/b.bin", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.UploadID != "up-1" || res.Parts != 1 || !bytes.Equal(srv.written["multipart"], data) {
		t.Errorf("result %+v, written %v", res, srv.written["multipart"])
	}
	if diff := cmp.Diff([]string{"initiate", "part 1", "complete"}, srv.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestUploadParallelParts: parts go Concurrency at a time, in full, in
// order, with progress after each.
func TestUploadParallelParts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newMultipartServer()
		srv.partDelay = time.Second
		c := mockClient(t, srv.respond)
		data := randomBytes(10<<20 + 5)
		var trace progressTrace
		res, err := c.Upload(t.Context(), "/tmp/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{
			PartSize: 1 << 20, Concurrency: 3, Size: int64(len(data)), OnProgress: trace.add,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Parts != 11 || res.Size != int64(len(data)) || res.UploadID != "up-1" {
			t.Errorf("result %+v", res)
		}
		if !bytes.Equal(srv.written["multipart"], data) {
			t.Errorf("assembled file differs (%d bytes, want %d)", len(srv.written["multipart"]), len(data))
		}
		if srv.maxInflight != 3 {
			t.Errorf("at most %d parts in flight, want 3", srv.maxInflight)
		}
		last := trace.events[len(trace.events)-1]
		if len(trace.events) != 11 || last != (sandbox.UploadProgress{Bytes: int64(len(data)), Total: int64(len(data)), Parts: 11}) {
			t.Errorf("progress %+v", trace.events)
		}
		if !slices.IsSortedFunc(trace.events, func(a, b sandbox.UploadProgress) int { return int(a.Bytes - b.Bytes) }) {
			t.Errorf("progress goes backwards: %+v", trace.events)
		}
	})
}

// TestUploadRetriesFailedPart: a part that fails transiently (an error
// status, a reset connection, a wrong checksum) is sent again from its
// buffer.
func TestUploadRetriesFailedPart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newMultipartServer()
		srv.fault = func(part, attempt int) (int, error, bool) {
			switch {
			case part == 2 && attempt == 1:
				return http.StatusServiceUnavailable, nil, false
			case part == 2 && attempt == 2:
				return 0, syscall.ECONNRESET, false
			case part == 3 && attempt == 1:
				return 0, nil, true
			}
			return 0, nil, false
		}
		c := mockClient(t, srv.respond)
		data := randomBytes(4<<20 + 1)
		_, err := c.Upload(t.Context(), "/tmp/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{PartSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(srv.written["multipart"], data) {
			t.Error("assembled file differs")
		}
		if srv.attempts[2] != 3 || srv.attempts[3] != 2 || srv.attempts[1] != 1 {
			t.Errorf("attempts per part %v", srv.attempts)
		}
	})
}

// TestUploadFailureAborts: a part that fails for good stops the upload
// and aborts the session.
func TestUploadFailureAborts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newMultipartServer()
		srv.fault = func(part, _ int) (int, error, bool) {
			if part == 3 {
				return http.StatusBadRequest, nil, false
			}
			return 0, nil, false
		}
		c := mockClient(t, srv.respond)
		_, err := c.Upload(t.Context(), "/tmp/big.bin", bytes.NewReader(randomBytes(8<<20)), &sandbox.UploadOptions{PartSize: 1 << 20, Concurrency: 2})
		ue, ok := errors.AsType[*sandbox.UploadError](err)
		if !ok {
			t.Fatalf("error %v (%T) is not an *UploadError", err, err)
		}
		if ue.Part != 3 || !ue.Aborted || ue.UploadID != "up-1" || !errors.Is(err, sandboxkit.ErrBadRequest) {
			t.Errorf("UploadError %+v", ue)
		}
		if !srv.aborted || slices.Contains(srv.calls, "complete") || srv.attempts[3] != 1 {
			t.Errorf("calls %v", srv.calls)
		}
	})
}

// TestUploadResume: a session kept after a failure is finished by
// ResumeUpload, which sends only the parts the server lacks or holds
// wrong.
func TestUploadResume(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newMultipartServer()
		srv.fault = func(part, _ int) (int, error, bool) {
			if part == 3 {
				return http.StatusBadRequest, nil, false
			}
			return 0, nil, false
		}
		c := mockClient(t, srv.respond)
		data := randomBytes(3<<20 + 100)
		_, err := c.Upload(t.Context(), "/tmp/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{PartSize: 1 << 20, Concurrency: 1, KeepOnFailure: true})
		ue, ok := errors.AsType[*sandbox.UploadError](err)
		if !ok || ue.Aborted || srv.aborted || ue.Part != 3 {
			t.Fatalf("Upload: %v", err)
		}
		if diff := cmp.Diff([]string{"initiate", "part 1", "part 2", "part 3"}, srv.calls); diff != "" {
			t.Errorf("calls of the failed upload (-want +got):\n%s", diff)
		}
		// Corrupt a stored part: ResumeUpload must notice.
		srv.mu.Lock()
		p := srv.parts[1]
		p.etag = strings.Repeat("f", 32)
		srv.parts[1] = p
		srv.fault = nil
		srv.calls = nil
		srv.mu.Unlock()

		var trace progressTrace
		res, err := c.ResumeUpload(t.Context(), ue.UploadID, bytes.NewReader(data), int64(len(data)), &sandbox.UploadOptions{OnProgress: trace.add})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(srv.written["multipart"], data) || res.Parts != 4 || res.Size != int64(len(data)) {
			t.Errorf("result %+v; assembled file equal: %v", res, bytes.Equal(srv.written["multipart"], data))
		}
		// Part 2 is intact and skipped; part 1 is corrupt, 3 failed, 4
		// was never sent.
		slices.Sort(srv.calls)
		if diff := cmp.Diff([]string{"complete", "list", "part 1", "part 3", "part 4"}, srv.calls); diff != "" {
			t.Errorf("calls of the resumed upload (-want +got):\n%s", diff)
		}
		if last := trace.events[len(trace.events)-1]; last.Bytes != int64(len(data)) || last.Parts != 4 {
			t.Errorf("last progress %+v", last)
		}
	})
}

// TestUploadMemoryBounded uploads 128 MiB in 4 MiB parts, 4 at a time,
// and checks that the heap stays within about 4 × 4 MiB. It does not run
// in parallel: it measures the whole process's heap.
func TestUploadMemoryBounded(t *testing.T) {
	const size, partSize, concurrency = 128 << 20, 4 << 20, 4
	srv := newMultipartServer()
	srv.keep = false
	c := mockClient(t, srv.respond)
	base := heapAlloc()
	var peak uint64
	var m runtime.MemStats
	res, err := c.Upload(context.Background(), "/tmp/huge.bin", io.LimitReader(&pattern{}, size), &sandbox.UploadOptions{
		PartSize: partSize, Concurrency: concurrency,
		OnProgress: func(sandbox.UploadProgress) {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != size || res.Parts != size/partSize {
		t.Fatalf("result %+v", res)
	}
	growth := int64(peak) - int64(base)
	t.Logf("uploaded %d MiB in %d parts of %d MiB, %d at a time (at most %d in flight); heap grew by at most %.1f MiB",
		size>>20, res.Parts, partSize>>20, concurrency, srv.maxInflight, float64(growth)/(1<<20))
	if limit := int64(concurrency*partSize + 8<<20); growth > limit {
		t.Errorf("heap grew by %d bytes, want at most %d", growth, limit)
	}
}
