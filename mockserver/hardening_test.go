package mockserver_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// tcpServer starts a server on a loopback listener with limits.
func tcpServer(t *testing.T, l mockserver.Limits, opts ...mockserver.Option) *mockserver.Server {
	t.Helper()
	return mockserver.Start(t, append([]mockserver.Option{mockserver.WithListener("127.0.0.1:0"), mockserver.WithLimits(l)}, opts...)...)
}

// dial opens a raw connection to srv with a deadline that bounds the
// test if the server misbehaves.
func dial(t *testing.T, srv *mockserver.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// waitClosed reads until the server closes c; it fails when the
// connection is still open at the test's deadline.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

// TestTCPRefusesHugeBodies: a body declared larger than the limit is
// answered 413 at once, without being read, so three clients announcing
// 256 MiB uploads cost the server nothing.
func TestTCPRefusesHugeBodies(t *testing.T) {
	t.Parallel()
	srv := tcpServer(t, mockserver.Limits{}, mockserver.WithRuntime(mockserver.RuntimeDocker))
	id, err := srv.AddSandbox("", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			c := dial(t, srv)
			fmt.Fprintf(c, "PUT /sandboxes/%s/port/8080/filesystem/big%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", id, i, 256<<20)
			_, _ = c.Write(make([]byte, 4096)) // a start; the rest never comes
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("upload %d: %v", i, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("upload %d: %d, want 413", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	c := dial(t, srv)
	body := `{"metadata":{"k":"` + strings.Repeat("v", 2<<20) + `"}}`
	fmt.Fprintf(c, "POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(string(b), `{"detail":"request body of`) {
		t.Errorf("2 MiB lifecycle body: %d %s", resp.StatusCode, b)
	}
	if n := srv.Count(mockserver.Filter{Status: http.StatusRequestEntityTooLarge}); n != 4 {
		t.Errorf("journal has %d 413s, want 4", n)
	}
}

// TestChunkedBodyOverLimit: a body without a length is cut off at the
// limit; nothing of it is stored.
func TestChunkedBodyOverLimit(t *testing.T) {
	t.Parallel()
	srv := tcpServer(t, mockserver.Limits{MaxUploadBytes: 1024}, mockserver.WithRuntime(mockserver.RuntimeDocker))
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(make([]byte, 64<<10))
		pw.Close()
	}()
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", srv.URL()+"/sandboxes/"+id+"/port/8080/filesystem/%2Ftmp%2Fbig", pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("64 KiB chunked upload with a 1 KiB limit: %d", resp.StatusCode)
		}
	}
	get, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+"/sandboxes/"+id+"/port/8080/filesystem/%2Ftmp%2Fbig", nil)
	get.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the cut-off upload was stored: GET %d", resp.StatusCode)
	}
}

// TestTCPSlowClients: a client that sends its headers, its body or its
// next request too slowly loses the connection.
func TestTCPSlowClients(t *testing.T) {
	t.Parallel()
	srv := tcpServer(t, mockserver.Limits{
		ReadHeaderTimeout: 100 * time.Millisecond,
		ReadTimeout:       300 * time.Millisecond,
		IdleTimeout:       100 * time.Millisecond,
	})
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		c := dial(t, srv)
		_, _ = io.WriteString(c, "GET /v1/sandboxes HTTP/1.1\r\nHost: x\r\n") // and no end of headers
		waitClosed(t, c, "unfinished headers")
	})
	t.Run("dripped body", func(t *testing.T) {
		t.Parallel()
		c := dial(t, srv)
		_, _ = io.WriteString(c, "POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"image\":")
		waitClosed(t, c, "a body that stops coming")
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		c := dial(t, srv)
		_, _ = io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("health: %d", resp.StatusCode)
		}
		waitClosed(t, c, "an idle keep-alive connection")
	})
}

// TestAnswerOutlivesReadTimeout: the read timeout bounds sending a
// request, not the answer: a request whose answer takes longer (here a
// latency fault; also streams) is not cancelled by it.
func TestAnswerOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	srv := tcpServer(t, mockserver.Limits{ReadTimeout: 100 * time.Millisecond})
	inject(t, srv, mockserver.Fault{API: mockserver.APILifecycle, Operation: mockserver.OpListSandboxes, Latency: 400 * time.Millisecond})
	for _, body := range []string{"", "{}"} { // without and with a request body
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+"/v1/sandboxes", strings.NewReader(body))
		if body == "" {
			req.Body = http.NoBody
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"items"`) {
			t.Errorf("slow answer with body %q: %d %q", body, resp.StatusCode, b)
		}
	}
}

// TestJournalBounds: long paths and queries are shortened (also of
// unauthenticated requests), and every record kind keeps only the newest
// records while counting them all.
func TestJournalBounds(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithManualClock(t0), mockserver.WithJournalLimit(2),
		mockserver.WithTenant("key", "t"), mockserver.WithRuntime(mockserver.RuntimeDocker))
	long := strings.Repeat("a", 1<<20)
	do(t, srv, "GET", "/v1/sandboxes/"+long+"?q="+long, "", nil) // 401
	j := srv.Journal()
	if len(j) != 1 || j[0].Status != 401 || len(j[0].Path) > 2048 || len(j[0].Query) > 2048 || len(j[0].SandboxID) > 512 ||
		!strings.Contains(j[0].Path, fmt.Sprintf("(%d bytes)", len("/v1/sandboxes/")+len(long))) {
		t.Fatalf("journal of a 2 MiB URL: %d entries, path %d bytes, query %d bytes, sandbox id %d bytes",
			len(j), len(j[0].Path), len(j[0].Query), len(j[0].SandboxID))
	}

	key := http.Header{"Open-Sandbox-Api-Key": {"key"}}
	var ids []string
	for i := range 3 {
		resp, body := do(t, srv, "POST", "/v1/sandboxes", createBody(fmt.Sprintf(`"timeout":600,"metadata":{"n":"%d"}`, i)), key)
		if resp.StatusCode != 202 {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(body, `{"id":"`), `"`)
		ids = append(ids, id)
		do(t, srv, "POST", "/v1/sandboxes/"+id+"/renew-expiration", `{"expiresAt":"2026-03-01T11:00:00Z"}`, key)
		do(t, srv, "DELETE", "/v1/sandboxes/"+id, "", key)
	}
	if c := srv.Creations(); len(c) != 2 || c[0].ID != ids[1] || c[1].ID != ids[2] {
		t.Errorf("Creations keeps %+v, want the newest two", c)
	}
	if r := srv.Renewals(""); len(r) != 2 || r[0].SandboxID != ids[1] {
		t.Errorf("Renewals keeps %+v", r)
	}
	if d := srv.Deletions(); len(d) != 2 || d[1].ID != ids[2] {
		t.Errorf("Deletions keeps %+v", d)
	}
	st := srv.JournalStats()
	want := mockserver.JournalStats{
		Requests:  mockserver.RecordCount{Recorded: 10, Dropped: 8},
		Creations: mockserver.RecordCount{Recorded: 3, Dropped: 1},
		Renewals:  mockserver.RecordCount{Recorded: 3, Dropped: 1},
		Deletions: mockserver.RecordCount{Recorded: 3, Dropped: 1},
	}
	if st != want {
		t.Errorf("JournalStats = %+v, want %+v", st, want)
	}
	srv.ResetJournal()
	if st := srv.JournalStats(); st != (mockserver.JournalStats{}) {
		t.Errorf("after reset: %+v", st)
	}
}

// TestLimitsOptions: WithLimits keeps defaults for zero fields and
// refuses negative ones.
func TestLimitsOptions(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithLimits(mockserver.Limits{MaxBodyBytes: 10}))
	want := mockserver.DefaultLimits()
	want.MaxBodyBytes = 10
	if got := srv.Limits(); got != want {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
	for _, l := range []mockserver.Limits{{MaxBodyBytes: -1}, {ReadTimeout: -time.Second}, {IdleTimeout: -1}} {
		if _, err := mockserver.New(mockserver.WithLimits(l)); err == nil {
			t.Errorf("WithLimits(%+v) accepted", l)
		}
	}
	resp, body := do(t, srv, "POST", "/v1/sandboxes", createBody(""), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("in memory, a body over the limit: %d %s", resp.StatusCode, body)
	}
}
