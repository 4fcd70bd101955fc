package mockserver_test

import (
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func benchServer(b *testing.B, opts ...mockserver.Option) (*mockserver.Server, []string) {
	b.Helper()
	srv := mockserver.Start(b, append([]mockserver.Option{mockserver.WithManualClock(t0), mockserver.WithJournalLimit(1024)}, opts...)...)
	return srv, seedSandboxes(b, srv, 10_000)
}

// BenchmarkGetSandbox is GET /v1/sandboxes/{id} over 10,000 sandboxes
// through the generated client and the in-memory transport.
func BenchmarkGetSandbox(b *testing.B) {
	srv, ids := benchServer(b)
	c, err := lifecycleapi.NewClient(srv.URL()+"/v1", keySource(""), lifecycleapi.WithClient(srv.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetSandbox(ctx, lifecycleapi.GetSandboxParams{SandboxID: ids[rng.IntN(len(ids))]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListSandboxesPage20 is GET /v1/sandboxes with pageSize=20 over
// 10,000 sandboxes: a random page of the unfiltered list, and the first
// page of a state+metadata filter (which scans all of them for the total).
func BenchmarkListSandboxesPage20(b *testing.B) {
	srv, _ := benchServer(b)
	c, err := lifecycleapi.NewClient(srv.URL()+"/v1", keySource(""), lifecycleapi.WithClient(srv.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.Run("unfiltered", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.ListSandboxes(ctx, lifecycleapi.ListSandboxesParams{Page: lifecycleapi.NewOptInt(1 + rng.IntN(500)), PageSize: lifecycleapi.NewOptInt(20)})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Items) != 20 || res.Pagination.TotalItems != 10_000 {
				b.Fatalf("answer %+v", res.Pagination)
			}
		}
	})
	b.Run("filtered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.ListSandboxes(ctx, lifecycleapi.ListSandboxesParams{
				State: []string{"Running"}, Metadata: lifecycleapi.NewOptString("shard=3"), PageSize: lifecycleapi.NewOptInt(20),
			})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Items) != 20 || res.Pagination.TotalItems != 625 {
				b.Fatalf("answer %+v", res.Pagination)
			}
		}
	})
}

// BenchmarkLoopbackRequests is GET /v1/sandboxes/{id} over TCP on the
// loopback interface from parallel clients; it reports requests/s.
func BenchmarkLoopbackRequests(b *testing.B) {
	srv, ids := benchServer(b, mockserver.WithListener("127.0.0.1:0"))
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer() // RunParallel does not: leave the seeding out of req/s
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			resp, err := client.Get(srv.URL() + "/v1/sandboxes/" + ids[rng.IntN(len(ids))])
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
