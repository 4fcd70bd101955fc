package fleet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// A pool on the embedded defaults: the in-memory store and the
// in-process mock server. With FallbackCreate, Acquire creates a sandbox
// directly if the pool has not warmed up yet.
func Example() {
	srv, err := mockserver.New(mockserver.WithTransitionDelay(0))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	pool, err := fleet.New(ctx, lc, &fleet.Options{
		Name:     "example",
		Size:     2,
		Fallback: fleet.FallbackCreate,
		Template: &lifecycle.CreateRequest{
			Image:          &lifecycle.Image{URI: "python:3.12"},
			Entrypoint:     []string{"sleep", "infinity"},
			Timeout:        10 * time.Minute,
			ResourceLimits: map[string]string{"cpu": "500m", "memory": "512Mi"},
		},
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close() // a pool on its own store deletes its sandboxes

	asked := time.Now()
	lease, err := pool.Acquire(ctx, &fleet.AcquireOptions{Lifetime: time.Hour})
	if err != nil {
		panic(err)
	}
	sb := lease.Sandbox()
	fmt.Println(sb.State(), sb.Metadata[fleet.PoolLabel], sb.ExpiresAt.Sub(asked) >= time.Hour)
	if err := lease.Release(ctx); err != nil {
		panic(err)
	}
	// Output: Running example true
}
