package mockserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
)

func memClient(h http.HandlerFunc) *http.Client {
	return &http.Client{Transport: &memTransport{h: h}}
}

func TestMemTransportStreams(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		handlerDone := make(chan error, 1)
		c := memClient(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(200)
			for i := 0; ; i++ {
				if _, err := io.WriteString(w, `{"type":"stdout","data":"line"}`+"\n"); err != nil {
					handlerDone <- err
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(time.Second):
				case <-r.Context().Done():
					handlerDone <- r.Context().Err()
					return
				}
			}
		})
		resp, err := c.Get("http://x/stream")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
		}
		sc := bufio.NewScanner(resp.Body)
		start := time.Now()
		for range 3 {
			if !sc.Scan() {
				t.Fatal(sc.Err())
			}
		}
		// Lines arrive as written, not when the handler ends.
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("three lines took %v, want 2s", d)
		}
		// Closing the body ends the handler (no goroutine outlives it).
		resp.Body.Close()
		if err := <-handlerDone; err == nil {
			t.Error("handler saw no cancellation")
		}
	})
}

func TestMemTransportRequestAndErrors(t *testing.T) {
	t.Parallel()
	c := memClient(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Host", r.Host)
			w.Header().Set("X-URI", r.RequestURI)
			_, _ = w.Write(b)
		case "/reset-mid-body":
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/reset":
			panic(http.ErrAbortHandler)
		case "/panic":
			panic("boom")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	resp, err := c.Post("http://mock.test/echo?q=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" || resp.Header.Get("X-Host") != "mock.test" || resp.Header.Get("X-URI") != "/echo?q=1" {
		t.Errorf("echo: %q %v", b, resp.Header)
	}

	resp, err = c.Get("http://x/reset-mid-body")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset mid-body: %v", err)
	}
	if _, err := c.Get("http://x/reset"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset: %v", err)
	}
	if _, err := c.Get("http://x/panic"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: %v", err)
	}
	resp, err = c.Get("http://x/empty")
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("204: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != 0 {
		t.Errorf("204 body %q", b)
	}
	resp.Body.Close()
}

// TestServerInsideSynctest runs the whole server, on the real clock,
// inside a bubble: the default transition delay passes in fake time.
func TestServerInsideSynctest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, WithRuntime(RuntimeKubernetes))
		c := srv.HTTPClient()
		post := func(path, body string) (int, string) {
			resp, err := c.Post(srv.URL()+path, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		st, body := post("/v1/sandboxes", `{"image":{"uri":"python:3.11"},"entrypoint":["sh"],"resourceLimits":{"cpu":"1"}}`)
		if st != 202 {
			t.Fatalf("create: %d %s", st, body)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(body, `{"id":"`), `"`)
		state := func() string {
			info, _ := srv.Sandbox(id)
			return info.State
		}
		if s := state(); s != StateAllocated {
			t.Fatalf("after create: %s", s)
		}
		time.Sleep(DefaultTransitionDelay)
		synctest.Wait()
		if s := state(); s != StateRunning {
			t.Fatalf("after the delay: %s", s)
		}
		if st, _ := post("/v1/sandboxes/"+id+"/pause", ""); st != 202 {
			t.Fatalf("pause: %d", st)
		}
		if s := state(); s != StatePausing {
			t.Fatalf("after pause: %s", s)
		}
		time.Sleep(DefaultTransitionDelay)
		synctest.Wait()
		if s := state(); s != StatePaused {
			t.Fatalf("after pausing: %s", s)
		}
	})
}

// TestMemTransportWebSocket: a WebSocket opens over the in-memory
// transport (101 and a hijacked net.Pipe), carries messages both ways
// inside a synctest bubble, outlives the handshake's context, and
// closing it ends the handler.
func TestMemTransportWebSocket(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		handlerDone := make(chan error, 1)
		c := memClient(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, nil)
			if err != nil {
				handlerDone <- err
				return
			}
			defer conn.CloseNow()
			for {
				typ, b, err := conn.Read(r.Context())
				if err != nil {
					handlerDone <- err
					return
				}
				if err := conn.Write(r.Context(), typ, append([]byte("echo "), b...)); err != nil {
					handlerDone <- err
					return
				}
			}
		})
		dialCtx, cancelDial := context.WithCancel(t.Context())
		conn, resp, err := websocket.Dial(dialCtx, "ws://mock.test/ws", &websocket.DialOptions{HTTPClient: c})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
			t.Errorf("handshake answer %d %v", resp.StatusCode, resp.Header)
		}
		cancelDial() // the connection belongs to the caller now
		for _, m := range []string{"one", "two"} {
			if err := conn.Write(t.Context(), websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
			_, b, err := conn.Read(t.Context())
			if err != nil || string(b) != "echo "+m {
				t.Fatalf("read %q, %v; want %q", b, err, "echo "+m)
			}
		}
		if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-handlerDone; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("handler ended with %v, want the client's normal closure", err)
		}
	})
}

// TestMemTransportHijack: what a client sees of a handler that takes the
// connection over without a 101: the raw answer it writes, or a reset if
// it closes the connection unanswered; and how the writer behaves around
// a hijack.
func TestMemTransportHijack(t *testing.T) {
	t.Parallel()
	checks := make(chan string, 10)
	c := memClient(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/raw", "/drop":
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				checks <- "hijack: " + err.Error()
				return
			}
			defer conn.Close()
			if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, http.ErrHijacked) {
				checks <- fmt.Sprintf("second hijack: %v", err)
			}
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
				checks <- fmt.Sprintf("write after hijack: %v", err)
			}
			if r.URL.Path == "/raw" {
				_, _ = brw.WriteString("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 5\r\nX-Raw: yes\r\n\r\nshort")
				_ = brw.Flush()
			}
		case "/late":
			w.WriteHeader(http.StatusOK)
			if _, _, err := w.(http.Hijacker).Hijack(); err == nil {
				checks <- "hijack after a 200 header succeeded"
			}
		}
	})
	resp, err := c.Get("http://x/raw")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Raw") != "yes" || string(b) != "short" {
		t.Errorf("raw answer: %d %v %q %v", resp.StatusCode, resp.Header, b, err)
	}
	if _, err := c.Get("http://x/drop"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection closed unanswered: %v, want ECONNRESET", err)
	}
	resp, err = c.Get("http://x/late")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	close(checks)
	for msg := range checks {
		t.Error(msg)
	}
}

// TestServerTerminalInMemory: the sandbox API's terminal opens through
// Server.HTTPClient, in process and inside a bubble, with no listener.
func TestServerTerminalInMemory(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, WithTenant("key", "me"))
		if _, err := srv.AddSandbox("me", SandboxSeed{ID: "sbx-1"}); err != nil {
			t.Fatal(err)
		}
		url := strings.Replace(srv.URL(), "http", "ws", 1) + "/sandboxes/sbx-1/port/8080/terminal/ws?sessionId=mem"
		conn, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{
			HTTPClient: srv.HTTPClient(),
			HTTPHeader: http.Header{"Authorization": {"Bearer key"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		var out strings.Builder
		read := func(until string) {
			t.Helper()
			for !strings.HasSuffix(out.String(), until) {
				_, b, err := conn.Read(t.Context())
				if err != nil {
					t.Fatalf("read after %q: %v", out.String(), err)
				}
				var m struct{ Type, Data string }
				if err := json.Unmarshal(b, &m); err != nil || m.Type != "output" {
					t.Fatalf("message %q", b)
				}
				out.WriteString(m.Data)
			}
		}
		read("# ")
		if err := conn.Write(t.Context(), websocket.MessageText, []byte(`{"type":"input","data":"sleep 2; echo done\r"}`)); err != nil {
			t.Fatal(err)
		}
		read("\r\n")
		time.Sleep(2 * time.Second) // the guest runs on the bubble's clock
		read("done\r\n# ")
		if want := "# sleep 2; echo done\r\ndone\r\n# "; out.String() != want {
			t.Errorf("session %q, want %q", out.String(), want)
		}
	})
}
