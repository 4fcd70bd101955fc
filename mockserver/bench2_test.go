package mockserver_test

import (
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkInMemoryRequests is BenchmarkLoopbackRequests over the
// in-memory transport (Server.HTTPClient, no socket): GET
// /v1/sandboxes/{id} over 10,000 sandboxes from parallel clients; it
// reports requests/s.
func BenchmarkInMemoryRequests(b *testing.B) {
	srv, ids := benchServer(b)
	client := srv.HTTPClient()
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
