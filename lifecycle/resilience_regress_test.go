package lifecycle_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// TestCreateLookupErrorNamesCreate (found by internal/resilience's chaos
// test): with a caller's client token, Create looks the token up before
// sending anything. When that lookup failed with a network error after
// the transport's retries, the error read "looking up client token:
// sandboxkit: lifecycle.List: ..." instead of naming lifecycle.Create,
// because glue.Wrap keeps an error that holds an already named one.
func TestCreateLookupErrorNamesCreate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		if _, err := srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "ListSandboxes", Reset: true}); err != nil {
			t.Fatal(err)
		}
		lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = lc.Create(t.Context(), pythonReq, &lifecycle.CreateOptions{ClientToken: "tok-1"})
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Create = %v, want the lookup's connection reset", err)
		}
		if _, ok := errors.AsType[*sandboxkit.OutcomeError](err); ok {
			t.Errorf("Create = %v: a *sandboxkit.OutcomeError, but nothing was sent", err)
		}
		const prefix = "sandboxkit: lifecycle.Create: looking up client token: "
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("Create error = %q, want it to start with %q", err, prefix)
		}
		if n := srv.Count(mockserver.Filter{Operation: "CreateSandbox"}); n != 0 {
			t.Errorf("%d create requests after a failed lookup", n)
		}
	})
}
