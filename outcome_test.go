package sandboxkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

func TestClassifyFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want glue.Outcome
	}{
		{"nil", nil, glue.Rejected},
		{"400", &APIError{StatusCode: 400}, glue.Rejected},
		{"404", &APIError{StatusCode: 404}, glue.Rejected},
		{"409", &APIError{StatusCode: 409}, glue.Rejected},
		{"408", &APIError{StatusCode: 408}, glue.Ambiguous},
		{"429", &APIError{StatusCode: 429}, glue.NotSent},
		{"500", &APIError{StatusCode: 500}, glue.Ambiguous},
		{"503 wrapped", fmt.Errorf("op: %w", &APIError{StatusCode: 503}), glue.Ambiguous},
		{"dial refused", &url.Error{Op: "Post", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, glue.NotSent},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid"}, glue.NotSent},
		{"reset after write", &url.Error{Op: "Post", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, glue.Ambiguous},
		{"unexpected EOF", &url.Error{Op: "Post", Err: io.ErrUnexpectedEOF}, glue.Ambiguous},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), glue.Ambiguous},
		{"canceled", context.Canceled, glue.Ambiguous},
		{"validation", &ValidationError{Field: "id"}, glue.Rejected},
		{"other", errors.New("boom"), glue.Rejected},
	} {
		if got := classifyFailure(tc.err); got != tc.want {
			t.Errorf("%s: ClassifyFailure(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
