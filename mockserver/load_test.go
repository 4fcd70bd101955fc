package mockserver_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// seedSandboxes adds n Running sandboxes to the default tenant.
func seedSandboxes(tb testing.TB, srv *mockserver.Server, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := srv.AddSandbox("", mockserver.SandboxSeed{
			ID:        fmt.Sprintf("sbx-%05d", i),
			Metadata:  map[string]string{"shard": strconv.Itoa(i % 16)},
			ExpiresAt: t0.Add(24 * time.Hour),
		})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// TestLoad runs 32 concurrent clients doing mixed operations on 10,000
// sandboxes and checks that no update is lost: every metadata patch a
// client saw succeed is in the final metadata, renewals of a sandbox form
// one chain (each starts from the expiry the previous one set), and the
// journal accounts for every request.
func TestLoad(t *testing.T) {
	t.Parallel()
	const clients = 32
	opsPerClient := 400
	if testing.Short() {
		opsPerClient = 60
	}
	e := setup(t, mockserver.WithTransitionDelay(0), mockserver.WithJournalLimit(0))
	ids := seedSandboxes(t, e.srv, 10_000)
	ctx := t.Context()

	type tally struct {
		patches map[string]int // sandbox → successful patches of this client's key
		ok, bad int
		created []string
	}
	tallies := make([]tally, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			key := "c" + strconv.Itoa(c)
			tl := tally{patches: map[string]int{}}
			// Each client patches a small hot set of sandboxes shared with
			// the others, so patches of the same sandbox interleave.
			pick := func() string {
				if rng.IntN(2) == 0 {
					return ids[rng.IntN(64)]
				}
				return ids[rng.IntN(len(ids))]
			}
			for range opsPerClient {
				id := pick()
				var err error
				switch op := rng.IntN(100); {
				case op < 35:
					_, err = e.lc.GetSandbox(ctx, lifecycleapi.GetSandboxParams{SandboxID: id})
				case op < 65:
					n := tl.patches[id] + 1
					_, err = e.lc.PatchSandboxMetadata(ctx, lifecycleapi.PatchSandboxMetadataRequest{key: lifecycleapi.NewNilString(strconv.Itoa(n))},
						lifecycleapi.PatchSandboxMetadataParams{SandboxID: id})
					if err == nil {
						tl.patches[id] = n
					}
				case op < 75:
					_, err = e.lc.RenewSandboxExpiration(ctx, &lifecycleapi.RenewSandboxExpirationRequest{ExpiresAt: t0.Add(24*time.Hour + time.Duration(rng.IntN(3600))*time.Second)},
						lifecycleapi.RenewSandboxExpirationParams{SandboxID: id})
				case op < 82:
					err = e.lc.PauseSandbox(ctx, lifecycleapi.PauseSandboxParams{SandboxID: id})
				case op < 89:
					err = e.lc.ResumeSandbox(ctx, lifecycleapi.ResumeSandboxParams{SandboxID: id})
				case op < 94:
					_, err = e.lc.ListSandboxes(ctx, lifecycleapi.ListSandboxesParams{Page: lifecycleapi.NewOptInt(1 + rng.IntN(500)), PageSize: lifecycleapi.NewOptInt(20)})
				case op < 96:
					_, err = e.lc.ListSandboxes(ctx, lifecycleapi.ListSandboxesParams{State: []string{"Paused"}, Metadata: lifecycleapi.NewOptString("shard=" + strconv.Itoa(rng.IntN(16)))})
				case op < 99:
					var r *lifecycleapi.CreateSandboxResponseHeaders
					r, err = e.lc.CreateSandbox(ctx, &lifecycleapi.CreateSandboxRequest{
						Image: lifecycleapi.NewOptImageSpec(lifecycleapi.ImageSpec{URI: "python:3.11"}), Entrypoint: []string{"sh"},
						ResourceLimits: lifecycleapi.NewOptResourceLimits(lifecycleapi.ResourceLimits{"cpu": "1"}),
						Metadata:       lifecycleapi.NewOptCreateSandboxRequestMetadata(map[string]string{"client": key}),
					})
					if err == nil {
						tl.created = append(tl.created, r.Response.ID)
					}
				default:
					err = e.lc.DeleteSandbox(ctx, lifecycleapi.DeleteSandboxParams{SandboxID: ids[64+rng.IntN(len(ids)-64)]})
				}
				if err == nil {
					tl.ok++
					continue
				}
				if ae, ok := errors.AsType[*lifecycleapi.ErrorStatusCodeWithHeaders](err); ok &&
					(ae.StatusCode == http.StatusConflict || ae.StatusCode == http.StatusNotFound) {
					tl.bad++ // pause of a paused sandbox, a sandbox deleted by another client
					continue
				}
				t.Errorf("client %d: %v", c, err)
				return
			}
			tallies[c] = tl
		})
	}
	wg.Wait()

	total := 0
	for c, tl := range tallies {
		total += tl.ok + tl.bad
		key := "c" + strconv.Itoa(c)
		for id, n := range tl.patches {
			info, ok := e.srv.Sandbox(id)
			if !ok {
				continue // deleted since
			}
			if got := info.Metadata[key]; got != strconv.Itoa(n) {
				t.Errorf("sandbox %s: %s=%q, want %d (lost update)", id, key, got, n)
			}
		}
		if got := e.srv.CreationCounts("client")[key]; got != len(tl.created) {
			t.Errorf("client %d created %d sandboxes, the server recorded %d", c, len(tl.created), got)
		}
	}
	if n := len(e.srv.Journal()); n != total {
		t.Errorf("journal has %d entries, clients made %d requests", n, total)
	}
	last := map[string]time.Time{}
	for _, r := range e.srv.Renewals("") {
		if !last[r.SandboxID].IsZero() && !r.Old.Equal(last[r.SandboxID]) {
			t.Errorf("renewal %+v does not start from the previous expiry %v", r, last[r.SandboxID])
		}
		last[r.SandboxID] = r.New
	}
	for id, exp := range last {
		if info, ok := e.srv.Sandbox(id); ok && !info.ExpiresAt.Equal(exp) {
			t.Errorf("sandbox %s expires at %v, its last renewal said %v", id, info.ExpiresAt, exp)
		}
	}
	t.Logf("%d requests, %d renewals", total, len(e.srv.Renewals("")))
}
