package mockserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

// listBenchSizes are the numbers of sandboxes (or snapshots) the list
// benchmarks run at: a page must cost about the same at each.
var listBenchSizes = []int{1_000, 10_000, 100_000}

// listBenchServer is a Docker-runtime server holding n sandboxes of the
// default tenant: every third one Paused, the others Running, with the
// metadata shard=i%16 and team=i%5.
func listBenchServer(b *testing.B, n int) *mockserver.Server {
	b.Helper()
	srv := mockserver.Start(b, mockserver.WithManualClock(t0), mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithJournalLimit(64))
	for i := range n {
		state := mockserver.StateRunning
		if i%3 == 0 {
			state = mockserver.StatePaused
		}
		if _, err := srv.AddSandbox("", mockserver.SandboxSeed{
			ID:        fmt.Sprintf("sbx-%06d", i),
			State:     state,
			Metadata:  map[string]string{"shard": strconv.Itoa(i % 16), "team": strconv.Itoa(i % 5)},
			ExpiresAt: t0.Add(24 * time.Hour),
		}); err != nil {
			b.Fatal(err)
		}
	}
	return srv
}

// serveBench answers one request through the server's in-process handler
// and fails unless it gets want.
func serveBench(b *testing.B, srv *mockserver.Server, method, target, body string, want int) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var r *http.Request
	if rd != nil {
		r = httptest.NewRequest(method, target, rd)
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
	}
	return w
}

// wantPage checks once, outside the timed loop, that a list answers
// items items of total matches.
func wantPage(b *testing.B, srv *mockserver.Server, target string, items, total int) {
	b.Helper()
	w := serveBench(b, srv, "GET", target, "", http.StatusOK)
	var page struct {
		Items      []json.RawMessage `json:"items"`
		Pagination struct {
			TotalItems int `json:"totalItems"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		b.Fatal(err)
	}
	if len(page.Items) != items || page.Pagination.TotalItems != total {
		b.Fatalf("%s: %d items of %d, want %d of %d", target, len(page.Items), page.Pagination.TotalItems, items, total)
	}
}

// countOf is how many i in [0, n) satisfy f.
func countOf(n int, f func(i int) bool) int {
	c := 0
	for i := range n {
		if f(i) {
			c++
		}
	}
	return c
}

// BenchmarkListFiltered is GET /v1/sandboxes with pageSize=20 and a
// state filter, a metadata filter or both, at 1k, 10k and 100k
// sandboxes: the first page and one in the middle of the matches. The
// *-and-* cases filter by two metadata pairs, which the index answers
// from the smaller of their candidate lists.
func BenchmarkListFiltered(b *testing.B) {
	for _, n := range listBenchSizes {
		srv := listBenchServer(b, n)
		paused := func(i int) bool { return i%3 == 0 }
		cases := []struct {
			name, query string
			match       func(i int) bool
		}{
			{"state", "state=paused", paused},
			{"metadata", "metadata=shard%3D3", func(i int) bool { return i%16 == 3 }},
			{"both", "state=Running&metadata=shard%3D3", func(i int) bool { return !paused(i) && i%16 == 3 }},
			{"states-both", "state=Running&state=Paused&metadata=shard%3D3", func(i int) bool { return i%16 == 3 }},
			{"metadata-and-metadata", "metadata=shard%3D3%26team%3D1", func(i int) bool { return i%16 == 3 && i%5 == 1 }},
		}
		for _, c := range cases {
			total := countOf(n, c.match)
			for _, at := range []string{"first", "middle"} {
				page := 1
				if at == "middle" {
					page = total/20/2 + 1
				}
				target := fmt.Sprintf("/v1/sandboxes?%s&pageSize=20&page=%d", c.query, page)
				b.Run(fmt.Sprintf("n=%d/%s/%s", n, c.name, at), func(b *testing.B) {
					wantPage(b, srv, target, min(20, total-(page-1)*20), total)
					b.ReportAllocs()
					for b.Loop() {
						serveBench(b, srv, "GET", target, "", http.StatusOK)
					}
				})
			}
		}
	}
}

// BenchmarkListUnfiltered is GET /v1/sandboxes with pageSize=20, first
// and middle page, at 1k, 10k and 100k sandboxes.
func BenchmarkListUnfiltered(b *testing.B) {
	for _, n := range listBenchSizes {
		srv := listBenchServer(b, n)
		for _, page := range []int{1, n / 20 / 2} {
			target := fmt.Sprintf("/v1/sandboxes?pageSize=20&page=%d", page)
			b.Run(fmt.Sprintf("n=%d/page=%d", n, page), func(b *testing.B) {
				wantPage(b, srv, target, 20, n)
				b.ReportAllocs()
				for b.Loop() {
					serveBench(b, srv, "GET", target, "", http.StatusOK)
				}
			})
		}
	}
}

// BenchmarkCreateDelete is POST /v1/sandboxes ("create") and
// DELETE /v1/sandboxes/{id} of a random older sandbox followed by a
// create ("churn", the store size stays put), at 1k, 10k and 100k
// sandboxes, with metadata so that the indexes have work to do.
func BenchmarkCreateDelete(b *testing.B) {
	body := `{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":3600,` +
		`"resourceLimits":{"cpu":"500m","memory":"512Mi"},"metadata":{"shard":"3","team":"1"}}`
	for _, n := range listBenchSizes {
		b.Run(fmt.Sprintf("n=%d/create", n), func(b *testing.B) {
			srv := listBenchServer(b, n)
			b.ReportAllocs()
			for b.Loop() {
				serveBench(b, srv, "POST", "/v1/sandboxes", body, http.StatusAccepted)
			}
		})
		b.Run(fmt.Sprintf("n=%d/churn", n), func(b *testing.B) {
			srv := listBenchServer(b, n)
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("sbx-%06d", i)
			}
			next := uint64(1)
			b.ReportAllocs()
			for b.Loop() {
				next = next*6364136223846793005 + 1442695040888963407
				k := int(next>>33) % len(ids)
				serveBench(b, srv, "DELETE", "/v1/sandboxes/"+ids[k], "", http.StatusNoContent)
				w := serveBench(b, srv, "POST", "/v1/sandboxes", body, http.StatusAccepted)
				var created struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil {
					b.Fatal(err)
				}
				ids[k] = created.ID
			}
		})
	}
}

// BenchmarkListSnapshots is GET /v1/snapshots with pageSize=20 filtered
// by state (a third of them Ready) at 1k, 10k and 100k snapshots.
func BenchmarkListSnapshots(b *testing.B) {
	for _, n := range listBenchSizes {
		srv := mockserver.Start(b, mockserver.WithManualClock(t0), mockserver.WithRuntime(mockserver.RuntimeDocker), mockserver.WithJournalLimit(64))
		for i := range n {
			state := mockserver.SnapshotFailed
			if i%3 == 0 {
				state = mockserver.SnapshotReady
			}
			if _, err := srv.AddSnapshot("", mockserver.SnapshotSeed{ID: fmt.Sprintf("snap-%06d", i), SandboxID: "sbx-" + strconv.Itoa(i%7), State: state}); err != nil {
				b.Fatal(err)
			}
			if i%1000 == 999 {
				if err := srv.Advance(time.Second); err != nil {
					b.Fatal(err)
				}
			}
		}
		ready := countOf(n, func(i int) bool { return i%3 == 0 })
		bySandbox := countOf(n, func(i int) bool { return i%3 == 0 && i%7 == 2 })
		for _, c := range []struct {
			name, query string
			total       int
		}{
			{"state", "state=Ready", ready},
			{"state+sandbox", "state=Ready&sandboxId=sbx-2", bySandbox},
		} {
			target := "/v1/snapshots?pageSize=20&" + c.query
			b.Run(fmt.Sprintf("n=%d/%s", n, c.name), func(b *testing.B) {
				wantPage(b, srv, target, 20, c.total)
				b.ReportAllocs()
				for b.Loop() {
					serveBench(b, srv, "GET", target, "", http.StatusOK)
				}
			})
		}
	}
}
