package conformance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecycleEndpoint: a port's endpoint is an address without scheme;
// through the server proxy it names the sandbox and port; signed routes
// are a runtime feature (Kubernetes has them, Docker refuses them).
func TestLifecycleEndpoint(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		sb := tg.create(t, tg.request(t))

		ep, err := tg.lc.Endpoint(ctx, sb.ID, 8080, nil)
		if err != nil {
			t.Fatalf("Endpoint(8080): %v", err)
		}
		if ep.Address == "" || strings.Contains(ep.Address, "://") {
			t.Errorf("Endpoint(8080) = %+v, want an address without scheme", ep)
		}

		proxy, err := tg.lc.Endpoint(ctx, sb.ID, 8080, &lifecycle.EndpointOptions{UseServerProxy: true})
		if err != nil {
			t.Fatalf("Endpoint(8080, server proxy): %v", err)
		}
		if !strings.Contains(proxy.Address, "sandboxes/"+sb.ID+"/proxy/8080") || strings.Contains(proxy.Address, "://") {
			t.Errorf("server proxy endpoint = %+v, want {host}/…/sandboxes/%s/proxy/8080", proxy, sb.ID)
		}

		if _, err := tg.lc.Endpoint(ctx, "no-such-sandbox-"+tg.run, 8080, nil); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("Endpoint of an unknown sandbox = %v, want not found", err)
		}

		signed, err := tg.lc.Endpoint(ctx, sb.ID, 8080, &lifecycle.EndpointOptions{SignedUntil: time.Now().Add(time.Hour)})
		switch tg.runtime {
		case docker:
			if !errors.Is(err, sandboxkit.ErrBadRequest) {
				t.Errorf("docker: signed endpoint = %+v, %v; want a bad request (not supported)", signed, err)
			}
		case kubernetes:
			if err != nil || signed.Address == "" {
				t.Errorf("kubernetes: signed endpoint = %+v, %v", signed, err)
			}
		}
	})
}
