package conformance

import (
	"errors"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecycleErrors: the answers a user handles by sentinel — 401 for a
// wrong key, 404 for an unknown sandbox, 409 for an action in the wrong
// state, a bad request for a parameter out of the server's range — are
// *APIError values naming the operation and carrying the request id.
func TestLifecycleErrors(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		check := func(name string, err, sentinel error, op string) {
			t.Helper()
			apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
			if !ok || !errors.Is(err, sentinel) {
				t.Errorf("%s: err = %v, want an *APIError matching %v", name, err, sentinel)
				return
			}
			if apiErr.RequestID == "" || apiErr.Message == "" || apiErr.Operation != op {
				t.Errorf("%s: APIError = %+v, want a request id, a message and operation %s", name, apiErr, op)
			}
		}

		wrongKey := tg.newClient(t, sandboxkit.WithAPIKey("not-the-key"))
		_, err := wrongKey.List(ctx, &lifecycle.ListOptions{Metadata: tg.mine()})
		check("wrong key", err, sandboxkit.ErrUnauthorized, "lifecycle.List")

		_, err = tg.lc.Get(ctx, "no-such-sandbox-"+tg.run)
		check("unknown sandbox", err, sandboxkit.ErrNotFound, "lifecycle.Get")
		if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); ok && apiErr.Code == "" {
			t.Errorf("404 without a code: %+v", apiErr)
		}
		err = tg.lc.Pause(ctx, "no-such-sandbox-"+tg.run)
		check("pause unknown", err, sandboxkit.ErrNotFound, "lifecycle.Pause")

		_, err = tg.lc.List(ctx, &lifecycle.ListOptions{Metadata: tg.mine(), PageSize: 201})
		if !rejectedInput(err) {
			t.Errorf("page size 201: err = %v, want a bad request", err)
		}

		sb := tg.create(t, tg.request(t))
		err = tg.lc.Resume(ctx, sb.ID)
		check("resume a running sandbox", err, sandboxkit.ErrConflict, "lifecycle.Resume")
	})
}

// TestLifecycleInvalidInput: arguments the SDK can judge fail with
// ErrInvalidInput, and nothing is sent.
func TestLifecycleInvalidInput(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		c := tg.lc
		calls := map[string]func() error{
			"Get empty id":        func() error { _, err := c.Get(ctx, ""); return err },
			"Get dot-dot":         func() error { _, err := c.Get(ctx, ".."); return err },
			"Delete slash":        func() error { return c.Delete(ctx, "a/b") },
			"Pause empty":         func() error { return c.Pause(ctx, "") },
			"Resume empty":        func() error { return c.Resume(ctx, "") },
			"Endpoint port 0":     func() error { _, err := c.Endpoint(ctx, "sb", 0, nil); return err },
			"Endpoint port 65536": func() error { _, err := c.Endpoint(ctx, "sb", 65536, nil); return err },
			"List negative page":  func() error { _, err := c.List(ctx, &lifecycle.ListOptions{Page: -1}); return err },
			"List unknown state": func() error {
				_, err := c.List(ctx, &lifecycle.ListOptions{States: []lifecycle.State{"Sleeping"}})
				return err
			},
			"List empty metadata key": func() error {
				_, err := c.List(ctx, &lifecycle.ListOptions{Metadata: map[string]string{"": "x"}})
				return err
			},
			"Patch set and delete": func() error {
				_, err := c.PatchMetadata(ctx, "sb", &lifecycle.MetadataPatch{Set: map[string]string{"a": "1"}, Delete: []string{"a"}})
				return err
			},
			"Waiter.Wait no target": func() error { _, err := lifecycle.NewWaiter(c, nil).Wait(ctx, "sb"); return err },
			"GetSnapshot empty":     func() error { _, err := c.GetSnapshot(ctx, ""); return err },
			"ListSnapshots bad state": func() error {
				_, err := c.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{States: []lifecycle.SnapshotState{"Gone"}})
				return err
			},
		}
		tg.requestsSent()
		for name, call := range calls {
			if err := call(); !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
			}
		}
		if n, ok := tg.requestsSent(); ok && n != 0 {
			t.Errorf("%d requests sent for invalid input", n)
		}
	})
}
