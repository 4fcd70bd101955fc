package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
)

func TestClassifyFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Rejected},
		{"400", &APIError{StatusCode: 400}, Rejected},
		{"404", &APIError{StatusCode: 404}, Rejected},
		{"409", &APIError{StatusCode: 409}, Rejected},
		{"408", &APIError{StatusCode: 408}, Ambiguous},
		{"429", &APIError{StatusCode: 429}, NotSent},
		{"500", &APIError{StatusCode: 500}, Ambiguous},
		{"503 wrapped", fmt.Errorf("op: %w", &APIError{StatusCode: 503}), Ambiguous},
		{"dial refused", &url.Error{Op: "Post", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, NotSent},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid"}, NotSent},
		{"reset after write", &url.Error{Op: "Post", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, Ambiguous},
		{"unexpected EOF", &url.Error{Op: "Post", Err: io.ErrUnexpectedEOF}, Ambiguous},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), Ambiguous},
		{"canceled", context.Canceled, Ambiguous},
		{"validation", &ValidationError{Field: "id"}, Rejected},
		{"other", errors.New("boom"), Rejected},
	} {
		if got := ClassifyFailure(tc.err); got != tc.want {
			t.Errorf("%s: ClassifyFailure(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
