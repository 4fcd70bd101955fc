package sandboxkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestWrapNamesOperation: wrap turns whatever the transport and generated
// code returned into an error that names the operation and matches the
// sentinels.
func TestWrapNamesOperation(t *testing.T) {
	t.Parallel()
	raw := fmt.Errorf("decode response: %w", &url.Error{
		Op:  "Get",
		URL: "http://localhost:8080/v1/sandboxes/sbx-1",
		Err: &APIError{StatusCode: http.StatusNotFound, Code: "NOT_FOUND", Message: "sandbox sbx-1 not found", RequestID: "r-17"},
	})
	err := wrap(context.Background(), "lifecycle.Get", raw)
	if got, want := err.Error(), "sandboxkit: lifecycle.Get: 404 NOT_FOUND: sandbox sbx-1 not found (request id r-17)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrNotFound) || StatusCode(err) != 404 {
		t.Errorf("errors.Is(ErrNotFound) = %v, StatusCode = %d", errors.Is(err, ErrNotFound), StatusCode(err))
	}
	if err := validateID("sandbox id", "sbx-1"); err != nil {
		t.Errorf("validateID(sbx-1) = %v", err)
	}
	if got, want := fmt.Sprint(validateID("sandbox id", "../etc")), `sandboxkit: invalid sandbox id "../etc": contains '/'`; got != want {
		t.Errorf("validateID(../etc) = %q, want %q", got, want)
	}
}

// TestWrapKeepsWaitErrors: a typed wait error keeps its type and fields
// through wrap, also once the context has ended.
func TestWrapKeepsWaitErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range []error{
		&WaitTimeoutError{Op: "lifecycle.Waiter.Wait", ID: "a", Err: context.Canceled},
		&StateError{Op: "lifecycle.Waiter.Wait", ID: "a", State: "Failed"},
		&OutcomeError{Op: "lifecycle.Create", Token: "t", Err: context.Canceled},
	} {
		if got := wrap(ctx, "x", err); got != err {
			t.Errorf("wrap(%T) = %v (%T), want the error itself", err, got, got)
		}
	}
}
