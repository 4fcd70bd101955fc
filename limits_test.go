package sandboxkit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// TestSilentServerTimesOutByDefault: with a context that never ends, a
// call to a server that accepts the connection and never answers used to
// block for ever (issue 12). Now the default per-attempt timeout ends it,
// and the attempt is not repeated.
func TestSilentServerTimesOutByDefault(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n, tr := newPipeNet(t, silent)
		cfg := pipeConfig(t, Lifecycle, tr)
		if cfg.Timeout() != DefaultTimeout || cfg.StreamIdleTimeout() != DefaultStreamIdleTimeout || cfg.MaxResponseSize() != DefaultMaxResponseSize {
			t.Errorf("limits %v %v %d, want the defaults", cfg.Timeout(), cfg.StreamIdleTimeout(), cfg.MaxResponseSize())
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			start := time.Now()
			_, err := send(context.Background(), cfg, method, "/sandboxes", `{"a":1}`)
			if elapsed := time.Since(start); elapsed != DefaultTimeout {
				t.Errorf("%s returned after %v, want %v", method, elapsed, DefaultTimeout)
			}
			te, ok := errors.AsType[*TimeoutError](err)
			if !ok || !errors.Is(err, ErrTimeout) || te.Stream || te.After != DefaultTimeout {
				t.Errorf("%s: err = %v, want a unary *TimeoutError after %v", method, err, DefaultTimeout)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: the SDK's timeout reads as the caller's deadline: %v", method, err)
			}
			if !IsTransient(err) || classifyFailure(err) != glue.Ambiguous {
				t.Errorf("%s: IsTransient %v, outcome %v; want transient and ambiguous", method, IsTransient(err), classifyFailure(err))
			}
			wrapped := wrap(context.Background(), "lifecycle.List", err)
			if !errors.Is(wrapped, ErrTimeout) || !strings.Contains(wrapped.Error(), "WithTimeout") {
				t.Errorf("Wrap = %v", wrapped)
			}
		}
		if got := n.dialCount(); got != 2 {
			t.Errorf("%d connections, want 2: a timed-out attempt is not retried", got)
		}
	})
}

func TestTimeoutOptions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, silent)

		cfg := pipeConfig(t, Lifecycle, tr, WithTimeout(5*time.Second))
		start := time.Now()
		if _, err := send(context.Background(), cfg, http.MethodGet, "/x", ""); !errors.Is(err, ErrTimeout) || time.Since(start) != 5*time.Second {
			t.Errorf("WithTimeout(5s): err %v after %v", err, time.Since(start))
		}

		// Off only on request: then the caller's deadline is all there is.
		cfg = pipeConfig(t, Lifecycle, tr, WithoutTimeouts())
		if cfg.Timeout() != 0 || cfg.StreamIdleTimeout() != 0 {
			t.Errorf("WithoutTimeouts: %v %v", cfg.Timeout(), cfg.StreamIdleTimeout())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start = time.Now()
		if _, err := send(ctx, cfg, http.MethodGet, "/x", ""); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
			t.Errorf("WithoutTimeouts: err %v after %v, want the caller's deadline after 1h", err, time.Since(start))
		}

		// The caller's deadline wins when it comes first.
		cfg = pipeConfig(t, Lifecycle, tr)
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := send(ctx, cfg, http.MethodGet, "/x", ""); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
			t.Errorf("caller's deadline first: err = %v", err)
		}
	})
}

// slowReader yields one byte per tick: a large upload over a slow link.
type slowReader struct {
	left int
	tick time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.tick)
	p[0] = 'x'
	r.left--
	return 1, nil
}

// TestTimeoutCountsFromTheLastByteSent: an upload that takes longer than
// the timeout but keeps moving is not cut; the timeout bounds the wait
// for the answer once the body is sent.
func TestTimeoutCountsFromTheLastByteSent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, func(conn net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); ok {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
			}
		})
		cfg := pipeConfig(t, Lifecycle, tr, WithTimeout(time.Minute))
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, cfg.BaseURL().String()+"/upload",
			&slowReader{left: 20, tick: 30 * time.Second}) // 10 minutes of sending
		start := time.Now()
		resp, err := cfg.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("slow upload: %v after %v", err, time.Since(start))
		}
		_ = resp.Body.Close()
		if time.Since(start) < 10*time.Minute {
			t.Errorf("finished after %v, before the body was sent", time.Since(start))
		}
	})
}

// TestTimeoutCoversReadingTheAnswer: an answer whose body stops half-way
// fails with the timeout when it is read, not with "context canceled".
func TestTimeoutCoversReadingTheAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, func(conn net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); ok {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"items\":[")
				_, _ = io.Copy(io.Discard, conn)
			}
		})
		cfg := pipeConfig(t, Lifecycle, tr, WithTimeout(time.Minute))
		start := time.Now()
		_, err := send(context.Background(), cfg, http.MethodGet, "/sandboxes", "")
		if te, ok := errors.AsType[*TimeoutError](err); !ok || te.Stream || time.Since(start) != time.Minute {
			t.Errorf("err = %v after %v, want the timeout after 1m", err, time.Since(start))
		}
	})
}

// streamServer answers a request with headers, then a line every period
// for lines times, then stays silent.
func streamServer(contentType string, period time.Duration, lines int) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); !ok {
			return
		}
		if _, err := fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", contentType); err != nil {
			return
		}
		for range lines {
			time.Sleep(period)
			if _, err := fmt.Fprintf(conn, "c\r\n[keepalive]\n\r\n"); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, conn)
	}
}

// TestStreamIdleTimeout: a stream lives as long as data keeps coming (far
// longer than the unary timeout), and ends once it has been silent for
// the idle timeout.
func TestStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		contentType string
		accept      string
		marked      bool
	}{
		{"marked with Streaming", "application/json", "", true},
		{"accepts only an event stream", "application/x-ndjson", "text/event-stream", false},
		{"answer is not JSON", "text/plain; charset=utf-8", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				_, tr := newPipeNet(t, streamServer(tt.contentType, 30*time.Second, 20)) // 10 minutes of keepalives
				cfg := pipeConfig(t, Lifecycle, tr, WithTimeout(time.Minute), WithStreamIdleTimeout(45*time.Second))
				ctx := context.Background()
				if tt.marked {
					ctx = glue.Streaming(ctx)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.BaseURL().String()+"/stream", nil)
				if tt.accept != "" {
					req.Header.Set("Accept", tt.accept)
				}
				start := time.Now()
				resp, err := cfg.HTTPClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				data, err := io.ReadAll(resp.Body)
				if te, ok := errors.AsType[*TimeoutError](err); !ok || !te.Stream || te.After != 45*time.Second {
					t.Errorf("err = %v, want the stream idle timeout", err)
				}
				if got := strings.Count(string(data), "[keepalive]"); got != 20 {
					t.Errorf("read %d lines, want all 20", got)
				}
				if want := 10*time.Minute + 45*time.Second; time.Since(start) != want {
					t.Errorf("ended after %v, want %v", time.Since(start), want)
				}
			})
		})
	}
}

// TestStreamTimeToFirstByte: a stream whose server never answers fails
// after the idle timeout.
func TestStreamTimeToFirstByte(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, silent)
		cfg := pipeConfig(t, Lifecycle, tr)
		start := time.Now()
		_, err := send(glue.Streaming(context.Background()), cfg, http.MethodGet, "/stream", "")
		if te, ok := errors.AsType[*TimeoutError](err); !ok || !te.Stream || time.Since(start) != DefaultStreamIdleTimeout {
			t.Errorf("err = %v after %v, want the stream idle timeout after %v", err, time.Since(start), DefaultStreamIdleTimeout)
		}
	})
}

// TestUnexpected101FailsAtOnce: a server answering 101 Switching Protocols
// to a plain request used to hold the call until it closed the connection,
// past any deadline (issue 12).
func TestUnexpected101FailsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, func(conn net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); ok {
				_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				_, _ = io.Copy(io.Discard, conn)
			}
		})
		cfg := pipeConfig(t, Lifecycle, tr, WithoutTimeouts())
		start := time.Now()
		_, err := send(context.Background(), cfg, http.MethodGet, "/sandboxes/x", "")
		if !errors.Is(err, errUnexpectedUpgrade) || time.Since(start) != 0 {
			t.Errorf("err = %v after %v, want the unexpected 101 at once", err, time.Since(start))
		}
		if IsTransient(err) {
			t.Errorf("IsTransient(%v) = true", err)
		}
	})
}

// lazyJSON is a JSON answer of n bytes produced on the fly.
type lazyJSON struct{ n, off int }

func (r *lazyJSON) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := min(len(p), r.n-r.off)
	for i := range k {
		switch pos := r.off + i; {
		case pos == 0:
			p[i] = '['
		case pos == r.n-1:
			p[i] = ']'
		default:
			p[i] = ' '
		}
	}
	r.off += k
	return k, nil
}

// TestAnswerSizeCap: a success answer larger than the cap fails once the
// cap is passed, whether its length is announced or not, and nothing past
// it is read; an answer of exactly the cap passes, as do streams.
func TestAnswerSizeCap(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	for _, tt := range []struct {
		name    string
		size    int
		length  bool // announce Content-Length
		stream  bool
		wantErr bool
	}{
		{"announced, too large", limit + 1, true, false, true},
		{"chunked, too large", 4 * limit, false, false, true},
		{"exactly the cap", limit, false, false, false},
		{"stream, not capped", 4 * limit, false, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var served int64
			s := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				body := &countingReader{r: &lazyJSON{n: tt.size}, n: &served}
				resp := &http.Response{StatusCode: 200, Header: hdr("Content-Type", "application/json"),
					Body: io.NopCloser(body), ContentLength: -1, Request: req}
				if tt.length {
					resp.ContentLength = int64(tt.size)
				}
				return resp, nil
			})
			cfg := mockConfig(t, Lifecycle, s, WithMaxResponseSize(limit))
			ctx := t.Context()
			if tt.stream {
				ctx = glue.Streaming(ctx)
			}
			body, err := send(ctx, cfg, http.MethodGet, "/sandboxes", "")
			if tt.wantErr != errors.Is(err, ErrResponseTooLarge) {
				t.Fatalf("err = %v, want too large: %v", err, tt.wantErr)
			}
			if tt.wantErr && (len(body) > limit || served > limit+32<<10) {
				t.Errorf("read %d bytes, served %d; want nothing far past the cap", len(body), served)
			}
			if !tt.wantErr && len(body) != tt.size {
				t.Errorf("read %d bytes, want %d", len(body), tt.size)
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// TestGzipBombCapped: the cap counts decompressed bytes, so a small
// compressed answer cannot expand without bound (issue 12: 0.4 MiB of
// gzip cost 1.2 GiB of heap).
func TestGzipBombCapped(t *testing.T) {
	t.Parallel()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = io.Copy(zw, &lazyJSON{n: 16 << 20})
	_ = zw.Close()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, func(conn net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); ok {
				_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n", zipped.Len())
				_, _ = conn.Write(zipped.Bytes())
			}
		})
		cfg := pipeConfig(t, Lifecycle, tr, WithMaxResponseSize(1<<20))
		body, err := send(context.Background(), cfg, http.MethodGet, "/sandboxes", "")
		if !errors.Is(err, ErrResponseTooLarge) || len(body) > 1<<20 {
			t.Errorf("%d KiB compressed: err = %v after %d bytes, want the cap", zipped.Len()>>10, err, len(body))
		}
	})
}

// TestStreamReaderMayPause: time the reader spends between reads is not
// silence of the server.
func TestStreamReaderMayPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, tr := newPipeNet(t, func(conn net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); ok {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\na\nb\nc\n")
				_, _ = io.Copy(io.Discard, conn)
			}
		})
		cfg := pipeConfig(t, Lifecycle, tr)
		req, _ := http.NewRequestWithContext(glue.Streaming(context.Background()), http.MethodGet, cfg.BaseURL().String()+"/logs", nil)
		resp, err := cfg.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got []byte
		buf := make([]byte, 2)
		for {
			time.Sleep(10 * time.Minute) // the reader is busy elsewhere
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
		}
		if string(got) != "a\nb\nc\n" {
			t.Errorf("read %q", got)
		}
	})
}
