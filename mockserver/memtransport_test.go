package mockserver

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
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
