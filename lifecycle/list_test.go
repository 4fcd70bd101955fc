package lifecycle_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// serverDecode decodes a raw metadata query parameter the way the service
// does: once by the web framework, once more by the pair parser.
func serverDecode(t *testing.T, rawParam string) map[string]string {
	t.Helper()
	once, err := url.QueryUnescape(rawParam)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMetadataFilter(once)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rawParam returns the undecoded value of name in a raw query.
func rawParam(rawQuery, name string) string {
	for kv := range strings.SplitSeq(rawQuery, "&") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestMetadataFilterEncoding(t *testing.T) {
	t.Parallel()
	// The reference's example: project=Apollo and note=Demo Test.
	const reference = "project%3DApollo%26note%3DDemo%252520Test"

	e := setup(t, 200, `{"items":[],"pagination":{"page":1,"pageSize":20,"totalItems":0,"totalPages":0,"hasNextPage":false}}`)
	want := map[string]string{"project": "Apollo", "note": "Demo Test"}
	if _, err := e.c.List(t.Context(), &lifecycle.ListOptions{Metadata: want}); err != nil {
		t.Fatal(err)
	}
	got := rawParam(e.requests()[0].rawQuery, "metadata")

	// Keys are sorted, so the pairs come in a fixed order.
	if got != "note%3DDemo%2520Test%26project%3DApollo" {
		t.Errorf("wire form = %q", got)
	}
	// Decoded as the service decodes it, it yields the pairs back.
	if diff := cmp.Diff(want, serverDecode(t, got)); diff != "" {
		t.Errorf("service would read (-want +got):\n%s", diff)
	}
	// Pair by pair against the reference: the key/value structure and the
	// plain pair are identical; the space is encoded once less. Sent as the
	// reference writes it, the service would read "Demo%20Test" and match
	// nothing (see EncodeMetadataFilter).
	refPairs := strings.Split(reference, "%26")
	gotPairs := strings.Split(got, "%26")
	slices.Sort(refPairs)
	if diff := cmp.Diff([]string{"note%3DDemo%252520Test", "project%3DApollo"}, refPairs); diff != "" {
		t.Fatalf("reference pairs:\n%s", diff)
	}
	if gotPairs[1] != refPairs[1] {
		t.Errorf("plain pair %q, reference %q", gotPairs[1], refPairs[1])
	}
	if gotPairs[0] != strings.Replace(refPairs[0], "%252520", "%2520", 1) {
		t.Errorf("pair with a space %q, reference %q less one encoding", gotPairs[0], refPairs[0])
	}
	if m := serverDecode(t, reference); m["note"] != "Demo%20Test" {
		t.Errorf("the reference literal decodes to note=%q", m["note"])
	}
}

func TestMetadataFilterRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []map[string]string{
		{"project": "Apollo"},
		{"sandboxkit.dev/client-token": "ABC234"},
		{"a&b": "c=d", "e+f": "g h%20", "ü/ß": "✓ ok", "semi;colon": "#hash?q"},
		{"empty": ""},
	}
	for _, m := range cases {
		f, err := lifecycle.EncodeMetadataFilter(m)
		if err != nil {
			t.Fatal(err)
		}
		// What ogen puts on the wire is url.QueryEscape of the filter.
		if diff := cmp.Diff(m, serverDecode(t, url.QueryEscape(f))); diff != "" {
			t.Errorf("%q round trip (-want +got):\n%s", f, diff)
		}
	}
	if f, _ := lifecycle.EncodeMetadataFilter(map[string]string{"project": "Apollo", "note": "Demo Test"}); f != "note=Demo%20Test&project=Apollo" {
		t.Errorf("EncodeMetadataFilter = %q", f)
	}
}

// The filter works end to end against the mock server over a real
// socket. (Label values cannot hold a space on the service: the mock
// refuses "Demo Test" as the real server does.)
func TestListFiltersOverHTTP(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t, mockserver.WithListener("127.0.0.1:0"))
	for id, seed := range map[string]mockserver.SandboxSeed{
		"a": {Metadata: map[string]string{"project": "Apollo", "note": "Demo.Test"}},
		"b": {Metadata: map[string]string{"project": "Apollo"}},
		"c": {State: mockserver.StatePaused, Metadata: map[string]string{"project": "Apollo", "note": "Demo.Test"}},
		"d": {State: mockserver.StateFailed, Metadata: map[string]string{"project": "Gemini"}},
	} {
		seed.ID = id
		seedSandbox(t, srv, seed)
	}
	c := mockClient(t, srv, sandboxkit.WithHTTPClient(&http.Client{}))

	tests := []struct {
		opts lifecycle.ListOptions
		want []string
	}{
		{lifecycle.ListOptions{}, []string{"a", "b", "c", "d"}},
		{lifecycle.ListOptions{States: []lifecycle.State{lifecycle.StateRunning, lifecycle.StatePaused}}, []string{"a", "b", "c"}},
		{lifecycle.ListOptions{Metadata: map[string]string{"note": "Demo.Test"}}, []string{"a", "c"}},
		{lifecycle.ListOptions{States: []lifecycle.State{"running"}, Metadata: map[string]string{"note": "Demo.Test", "project": "Apollo"}}, []string{"a"}},
		{lifecycle.ListOptions{Metadata: map[string]string{"project": "Apollo", "note": "Demo"}}, nil},
	}
	for _, tt := range tests {
		page, err := c.List(t.Context(), &tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range page.Items {
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("List(%+v) (-want +got):\n%s", tt.opts, diff)
		}
	}
}

func TestAllWalksEveryPage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t)
		var want []string
		for i := range 7 {
			id := string(rune('a' + i))
			seedSandbox(t, srv, mockserver.SandboxSeed{ID: id, Metadata: map[string]string{"team": "ml"},
				CreatedAt: time.Now().Add(time.Duration(i) * time.Second)})
			want = append(want, id)
		}
		seedSandbox(t, srv, mockserver.SandboxSeed{ID: "other"})
		c := mockClient(t, srv)
		opts := &lifecycle.ListOptions{Metadata: map[string]string{"team": "ml"}, PageSize: 3}
		var got []string
		for s, err := range c.All(t.Context(), opts) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.ID)
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("All (-want +got):\n%s", diff)
		}
		if opts.Page != 0 {
			t.Errorf("All changed the caller's options: Page = %d", opts.Page)
		}
		lists := func() int { return srv.Count(mockserver.Filter{Operation: "ListSandboxes"}) }
		if n := lists(); n != 3 {
			t.Errorf("%d page requests, want 3", n)
		}

		// Stopping early fetches no further page.
		for range c.All(t.Context(), opts) {
			break
		}
		if n := lists(); n != 4 {
			t.Errorf("%d page requests after an early break, want 4", n)
		}

		// An error is yielded once and ends the iteration.
		var errs int
		for s, err := range c.All(t.Context(), &lifecycle.ListOptions{States: []lifecycle.State{"nope"}}) {
			if err == nil || s != nil {
				t.Fatalf("got %v, %v", s, err)
			}
			errs++
		}
		if errs != 1 {
			t.Errorf("%d errors yielded, want 1", errs)
		}
	})
}

// parseMetadataFilter parses a metadata filter as the service does once
// the framework has decoded the query parameter: a query string whose
// keys and values are decoded once more.
func parseMetadataFilter(raw string) (map[string]string, error) {
	out := map[string]string{}
	for seg := range strings.SplitSeq(raw, "&") {
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			return nil, fmt.Errorf("bad field %q", seg)
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

// TestListPageItemsAreIndependent reads a page of two different sandboxes
// (the conversion fills them side by side) twice: each item has its own
// values, and changing one item changes neither the other nor what the
// next call returns.
func TestListPageItemsAreIndependent(t *testing.T) {
	t.Parallel()
	const other = `{"id":"sandbox-node","image":{"uri":"node:22"},"platform":{"os":"linux","arch":"arm64"},
  "status":{"state":"Paused"},"metadata":{"team":"b"},"entrypoint":["node","server.js"],
  "createdAt":"2026-03-01T10:31:00Z"}`
	e := setup(t, http.StatusOK, `{"items":[`+sandboxJSON+`,`+other+`],
  "pagination":{"page":1,"pageSize":20,"totalItems":2,"totalPages":1,"hasNextPage":false}}`)
	want := []*lifecycle.Sandbox{wantSandbox, {
		ID:         "sandbox-node",
		Image:      &lifecycle.Image{URI: "node:22"},
		Platform:   &lifecycle.Platform{OS: "linux", Arch: "arm64"},
		Status:     lifecycle.Status{State: lifecycle.StatePaused},
		Metadata:   map[string]string{"team": "b"},
		Entrypoint: []string{"node", "server.js"},
		CreatedAt:  t1,
	}}

	first, err := e.c.List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, first.Items); diff != "" {
		t.Fatalf("items (-want +got):\n%s", diff)
	}
	a := first.Items[0]
	a.Image.URI = "changed"
	a.Platform.OS = "changed"
	a.Metadata["team"] = "changed"
	a.Entrypoint[0] = "changed"
	if diff := cmp.Diff(want[1], first.Items[1]); diff != "" {
		t.Errorf("second item after changing the first (-want +got):\n%s", diff)
	}

	second, err := e.c.List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, second.Items); diff != "" {
		t.Errorf("next call after changing the first answer (-want +got):\n%s", diff)
	}
}

// TestListSnapshotsPageItems reads a page of two snapshots: each item
// keeps its own values.
func TestListSnapshotsPageItems(t *testing.T) {
	t.Parallel()
	const second = `{"id":"snap-2","sandboxId":"sandbox-xyz","status":{"state":"Creating"},"createdAt":"2026-03-01T10:31:00Z"}`
	e := setup(t, http.StatusOK, `{"items":[`+snapshotJSON+`,`+second+`],
  "pagination":{"page":1,"pageSize":20,"totalItems":2,"totalPages":1,"hasNextPage":false}}`)
	page, err := e.c.ListSnapshots(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []*lifecycle.Snapshot{wantSnapshot, {
		ID: "snap-2", SandboxID: "sandbox-xyz",
		Status: lifecycle.SnapshotStatus{State: lifecycle.SnapshotCreating}, CreatedAt: t1,
	}}
	if diff := cmp.Diff(want, page.Items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}
