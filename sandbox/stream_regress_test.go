package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// fixedBody answers every request with body, a body whose Close does not
// interrupt reads (as some transports behave).
type fixedBody string

func (b fixedBody) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"text/plain"}},
		Body:       io.NopCloser(strings.NewReader(string(b))),
	}, nil
}

// A stream whose context ends must report the context's error, even when
// the body it was reading reaches EOF at the same time: ending "normally"
// would silently drop the unfinished line and the missing result.
func TestStreamEndedByContextReportsContextError(t *testing.T) {
	t.Parallel()
	c, err := sandbox.New(
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL("http://sandbox.test"),
		sandboxkit.WithHTTPClient(&http.Client{Transport: fixedBody("stdout:hello\nstderr:oops\n[keepalive]\nstdout:par")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s, err := c.StreamLogs(ctx, "build", &sandbox.StreamOptions{MaxLineSize: 64, MaxReconnects: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	for s.Next() {
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("Err() = %v after the context was cancelled, want context.Canceled", s.Err())
	}
}

// Output without newlines longer than MaxLineSize comes in pieces of
// exactly MaxLineSize, as ProcessEvent.Text documents.
func TestOverlongOutputIsCutAtMaxLineSize(t *testing.T) {
	t.Parallel()
	chunk := `{"type":"stdout","data":"` + strings.Repeat("x", 400) + `"}` + "\n"
	body := strings.Repeat(chunk, 3) + `{"type":"result","data":"{\"pid\":\"1\",\"name\":\"n\",\"command\":\"c\",\"status\":\"completed\",\"exitCode\":0,\"workingDir\":\"/\",\"startedAt\":\"\",\"completedAt\":null,\"logs\":null,\"stdout\":null,\"stderr\":null}"}` + "\n"
	c, err := sandbox.New(
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithBaseURL("http://sandbox.test"),
		sandboxkit.WithHTTPClient(&http.Client{Transport: ndjsonBody(body)}),
	)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.ExecStream(t.Context(), &sandbox.ExecRequest{Command: "c", Name: "n"}, &sandbox.StreamOptions{MaxLineSize: 1024, MaxReconnects: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sizes []int
	for s.Next() {
		if ev := s.Event(); ev.Type == sandbox.EventStdout {
			sizes = append(sizes, len(ev.Text))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0] != 1024 || sizes[1] != 176 {
		t.Errorf("1200 bytes of output without newline came in pieces %v, want [1024 176]", sizes)
	}
}

type ndjsonBody string

func (b ndjsonBody) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/x-ndjson"}},
		Body:       io.NopCloser(strings.NewReader(string(b))),
	}, nil
}
