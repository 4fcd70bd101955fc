package mockserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// cpBenchSizes are the numbers of control plane sandboxes the list
// benchmarks run at: a page must cost about the same at each.
var cpBenchSizes = []int{1_000, 10_000, 100_000}

var cpBenchStart = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// cpBenchStatus is the status the benchmark store gives sandbox i: one
// in ten TERMINATED, one in ten FAILED, the others DEPLOYED.
func cpBenchStatus(i int) string {
	switch i % 10 {
	case 0:
		return StatusTerminated
	case 1:
		return StatusFailed
	}
	return StatusDeployed
}

// cpBenchDefinition is sandbox i of the benchmark store: externalId
// ext-(i%100), so each external id is shared by n/100 sandboxes, and the
// label team=(i%5).
func cpBenchDefinition(i int) *controlplanesrv.Sandbox {
	return &controlplanesrv.Sandbox{Metadata: controlplanesrv.Metadata{
		Name:        fmt.Sprintf("sbx-%06d", i),
		DisplayName: controlplanesrv.NewOptString(fmt.Sprintf("Box %d", i)),
		ExternalID:  controlplanesrv.NewOptString(fmt.Sprintf("ext-%d", i%100)),
		Labels:      controlplanesrv.NewOptMetadataLabels(controlplanesrv.MetadataLabels{"team": strconv.Itoa(i % 5)}),
	}}
}

// cpBenchServer is a server whose default tenant holds n control plane
// sandboxes made through the store (create, delete, failure), one second
// apart in creation time for every hundred; TERMINATED ones are retained
// for 48 hours.
func cpBenchServer(b *testing.B, n int, opts ...Option) *Server {
	b.Helper()
	srv := Start(b, append([]Option{WithManualClock(cpBenchStart), WithJournalLimit(64), WithRetention(48 * time.Hour),
		WithTransition(TransitionCPDeploy, Immediate()), WithTransition(TransitionCPDelete, Immediate())}, opts...)...)
	st := srv.cp
	for i := range n {
		if _, err := st.create(DefaultTenant, DefaultTenant, "", cpBenchDefinition(i), false); err != nil {
			b.Fatalf("create %d: %s", i, err.msg)
		}
		name := fmt.Sprintf("sbx-%06d", i)
		switch cpBenchStatus(i) {
		case StatusTerminated:
			if _, err := st.delete(DefaultTenant, name, ""); err != nil {
				b.Fatal(err.msg)
			}
		case StatusFailed:
			st.mu.Lock()
			st.setStatus(st.tenants[DefaultTenant].byName[name], StatusFailed, "Crashed")
			st.mu.Unlock()
		}
		if i%100 == 99 {
			if err := srv.Advance(time.Second); err != nil {
				b.Fatal(err)
			}
		}
	}
	runtime.GC() // not in the timed loop: the garbage of building it
	return srv
}

// cpBenchList answers GET /v0/sandboxes?query through the server's
// handler with API version 2026-04-28 (or none when bare) and fails
// unless it is a 200.
func cpBenchList(b *testing.B, srv *Server, query string, bare bool) []byte {
	r := httptest.NewRequest(http.MethodGet, "/v0/sandboxes?"+query, nil)
	if !bare {
		r.Header.Set("Blaxel-Version", cpPagedVersion)
	}
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET /v0/sandboxes?%s: %d %s", query, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

// cpBenchCase is a list query of the benchmarks and the sandboxes it
// matches.
type cpBenchCase struct {
	name     string
	statuses []string // the status parameter
	external string
	q        string
	sort     string
	match    func(i int) bool
}

func (c cpBenchCase) values() url.Values {
	v := url.Values{"limit": {"20"}}
	if len(c.statuses) > 0 {
		v.Set("status", strings.Join(c.statuses, ","))
	}
	if c.external != "" {
		v.Set("externalId", c.external)
	}
	if c.q != "" {
		v.Set("q", c.q)
	}
	if c.sort != "" {
		v.Set("sort", c.sort)
	}
	return v
}

// cursorAfter is the cursor of c's query that resumes after sandbox i,
// as the list would hand it out.
func (c cpBenchCase) cursorAfter(srv *Server, i int) string {
	query := strings.Join([]string{"sandboxes", strings.Join(c.statuses, ","), boolText(false), c.external, c.q, c.sort}, "\x00")
	st := srv.cp
	st.mu.Lock()
	key := st.tenants[DefaultTenant].byName[fmt.Sprintf("sbx-%06d", i)].key()
	st.mu.Unlock()
	raw, _ := json.Marshal(cpCursor{Query: fingerprint(query), After: key, Issued: srv.Now().Unix()})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// cpBenchOrder is the indexes of the sandboxes that match c, in c's list
// order.
func (c cpBenchCase) order(n int) []int {
	var out []int
	for i := range n {
		if c.match(i) {
			out = append(out, i)
		}
	}
	switch c.sort {
	case "createdAt:asc", "name:asc":
	default:
		slices.Reverse(out)
	}
	return out
}

// wantNames checks once, outside the timed loop, that a paged answer
// lists the sandboxes want, in that order.
func wantNames(b *testing.B, body []byte, want []int) {
	b.Helper()
	var page struct {
		Data []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		b.Fatal(err)
	}
	var got []string
	for _, d := range page.Data {
		got = append(got, d.Metadata.Name)
	}
	var names []string
	for _, i := range want {
		names = append(names, fmt.Sprintf("sbx-%06d", i))
	}
	if !slices.Equal(got, names) {
		b.Fatalf("listed %v, want %v", got, names)
	}
}

// BenchmarkCPListFiltered is GET /v0/sandboxes in pages of 20 (API
// version 2026-04-28) at 1k, 10k and 100k sandboxes: the default view
// (TERMINATED hidden), a status filter, an external id, q and a name
// sort; the first page, one after a cursor in the middle of the matches
// and the last (anchor=end). q is a substring search the index cannot
// answer: it is checked on the sandboxes the other filters leave, in
// list order, until the page is full, so a rare q costs a walk over
// those (q-rare, the 100 oldest sandboxes, is the worst case).
func BenchmarkCPListFiltered(b *testing.B) {
	live := func(i int) bool { return cpBenchStatus(i) != StatusTerminated }
	failed := func(i int) bool { return cpBenchStatus(i) == StatusFailed }
	cases := []cpBenchCase{
		{name: "default", match: live},
		{name: "status", statuses: []string{StatusFailed}, match: failed},
		{name: "statuses", statuses: []string{StatusFailed, StatusTerminated}, match: func(i int) bool { return !live(i) || failed(i) }},
		{name: "externalId", external: "ext-7", match: func(i int) bool { return live(i) && i%100 == 7 }},
		{name: "status+externalId", statuses: []string{StatusFailed}, external: "ext-21", match: func(i int) bool { return failed(i) && i%100 == 21 }},
		{name: "name-sort", statuses: []string{StatusDeployed}, sort: "name:asc", match: func(i int) bool { return cpBenchStatus(i) == StatusDeployed }},
		{name: "q-common", q: "team", match: live},
		{name: "q-externalId", external: "ext-7", q: "box", match: func(i int) bool { return live(i) && i%100 == 7 }},
		{name: "q-rare", q: "sbx-0001", match: func(i int) bool { return live(i) && i/100 == 1 }},
	}
	for _, n := range cpBenchSizes {
		srv := cpBenchServer(b, n)
		for _, c := range cases {
			order := c.order(n)
			for _, at := range []string{"first", "middle", "end"} {
				v := c.values()
				want := order[:min(20, len(order))]
				switch at {
				case "middle":
					mid := len(order) / 2
					v.Set("cursor", c.cursorAfter(srv, order[mid]))
					want = order[mid+1 : min(mid+21, len(order))]
				case "end":
					if strings.HasPrefix(c.sort, "name:") {
						continue
					}
					v.Set("anchor", "end")
					want = order[max(len(order)-20, 0):]
				}
				query := v.Encode()
				b.Run(fmt.Sprintf("n=%d/%s/%s", n, c.name, at), func(b *testing.B) {
					wantNames(b, cpBenchList(b, srv, query, false), want)
					b.ReportAllocs()
					for b.Loop() {
						cpBenchList(b, srv, query, false)
					}
				})
			}
		}
	}
}

// BenchmarkCPListUnfiltered is GET /v0/sandboxes?showTerminated=true in
// pages of 20 (first and middle) and, without the version header, the
// bare array of one external id's sandboxes (n/100 of them), at 1k, 10k
// and 100k sandboxes.
func BenchmarkCPListUnfiltered(b *testing.B) {
	for _, n := range cpBenchSizes {
		srv := cpBenchServer(b, n)
		b.Run(fmt.Sprintf("n=%d/all/first", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cpBenchList(b, srv, "limit=20&showTerminated=true", false)
			}
		})
		b.Run(fmt.Sprintf("n=%d/bare-externalId", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cpBenchList(b, srv, "externalId=ext-7", true)
			}
		})
	}
}

// BenchmarkCPCreateDelete is POST /v0/sandboxes and, for "churn",
// DELETE of a random older sandbox (with no TERMINATED retention, so it
// is forgotten at once) and a create in its place (the store size stays
// put), at 1k, 10k and 100k sandboxes.
func BenchmarkCPCreateDelete(b *testing.B) {
	body := `{"metadata":{"name":"%s","externalId":"ext-x","labels":{"team":"1"}},"spec":{"runtime":{"image":"blaxel/base-image:latest"}}}`
	serve := func(b *testing.B, srv *Server, method, target, body string, want int) {
		var r *http.Request
		if body != "" {
			r = httptest.NewRequest(method, target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
		} else {
			r = httptest.NewRequest(method, target, nil)
		}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
	}
	for _, n := range cpBenchSizes {
		b.Run(fmt.Sprintf("n=%d/create", n), func(b *testing.B) {
			srv := cpBenchServer(b, n)
			k := 0
			b.ReportAllocs()
			for b.Loop() {
				k++
				serve(b, srv, http.MethodPost, "/v0/sandboxes", fmt.Sprintf(body, "new-"+strconv.Itoa(k)), http.StatusOK)
			}
		})
		b.Run(fmt.Sprintf("n=%d/churn", n), func(b *testing.B) {
			srv := cpBenchServer(b, n, WithRetention(0)) // the TERMINATED ones are gone
			var names []string
			for _, info := range srv.ControlPlaneSandboxes() {
				names = append(names, info.Name)
			}
			next, k := uint64(1), 0
			b.ReportAllocs()
			for b.Loop() {
				next = next*6364136223846793005 + 1442695040888963407
				j := int(next>>33) % len(names)
				serve(b, srv, http.MethodDelete, "/v0/sandboxes/"+names[j], "", http.StatusOK)
				k++
				names[j] = "new-" + strconv.Itoa(k)
				serve(b, srv, http.MethodPost, "/v0/sandboxes", fmt.Sprintf(body, names[j]), http.StatusOK)
			}
		})
	}
}

// BenchmarkCPListIndexMemory reports what the control plane's two list
// indexes keep per sandbox (their sets, their nodes and the two entries
// in the sandbox) at 100,000 sandboxes in three statuses: without an
// external id, with one shared by a hundred sandboxes, and with one of
// its own (the worst case: four sets per sandbox).
func BenchmarkCPListIndexMemory(b *testing.B) {
	const n = 100_000
	for _, ext := range []string{"none", "shared", "unique"} {
		b.Run("externalId="+ext, func(b *testing.B) {
			items := make([]*cpSandbox, n)
			for i := range items {
				sb := &cpSandbox{tenant: DefaultTenant, name: fmt.Sprintf("sbx-%06d", i), seq: uint64(i + 1), createdAt: cpBenchStart, status: cpBenchStatus(i)}
				switch ext {
				case "shared":
					sb.externalID = fmt.Sprint("ext-", i%100)
				case "unique":
					sb.externalID = fmt.Sprint("ext-", i)
				}
				items[i] = sb
			}
			var retained uint64
			for b.Loop() {
				for _, sb := range items {
					sb.listedByCreation, sb.listedByName = indexEntry{}, indexEntry{}
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				st := &cpStore{
					byCreation: newListIndexOf(createdFirst, func(sb *cpSandbox) *indexEntry { return &sb.listedByCreation }),
					byName:     newListIndexOf(nameFirst, func(sb *cpSandbox) *indexEntry { return &sb.listedByName }),
				}
				for _, sb := range items {
					st.file(sb)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(st)
				retained = after.HeapAlloc - before.HeapAlloc
			}
			b.ReportMetric(float64(retained)/n+2*float64(unsafe.Sizeof(indexEntry{})), "B/sandbox")
		})
	}
}
