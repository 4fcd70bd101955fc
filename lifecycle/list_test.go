package lifecycle_test

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
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

// The filter works end to end against the fake service over a real
// socket.
func TestListFiltersOverHTTP(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	b.seed("a", lifecycle.StateRunning, time.Time{}, map[string]string{"project": "Apollo", "note": "Demo Test"})
	b.seed("b", lifecycle.StateRunning, time.Time{}, map[string]string{"project": "Apollo"})
	b.seed("c", lifecycle.StatePaused, time.Time{}, map[string]string{"project": "Apollo", "note": "Demo Test"})
	b.seed("d", lifecycle.StateFailed, time.Time{}, map[string]string{"project": "Gemini"})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	c := newClient(t, srv.Client().Transport, sandboxkit.WithBaseURL(srv.URL+"/v1"))

	tests := []struct {
		opts lifecycle.ListOptions
		want []string
	}{
		{lifecycle.ListOptions{}, []string{"a", "b", "c", "d"}},
		{lifecycle.ListOptions{States: []lifecycle.State{lifecycle.StateRunning, lifecycle.StatePaused}}, []string{"a", "b", "c"}},
		{lifecycle.ListOptions{Metadata: map[string]string{"note": "Demo Test"}}, []string{"a", "c"}},
		{lifecycle.ListOptions{States: []lifecycle.State{"running"}, Metadata: map[string]string{"note": "Demo Test", "project": "Apollo"}}, []string{"a"}},
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
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("List(%+v) (-want +got):\n%s", tt.opts, diff)
		}
	}
}

func TestAllWalksEveryPage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		var want []string
		for i := range 7 {
			id := string(rune('a' + i))
			b.seed(id, lifecycle.StateRunning, time.Time{}, map[string]string{"team": "ml"})
			want = append(want, id)
		}
		b.seed("other", lifecycle.StateRunning, time.Time{}, nil)
		c := b.client(t)
		opts := &lifecycle.ListOptions{Metadata: map[string]string{"team": "ml"}, PageSize: 3}
		var got []string
		for s, err := range c.All(t.Context(), opts) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.ID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("All (-want +got):\n%s", diff)
		}
		if opts.Page != 0 {
			t.Errorf("All changed the caller's options: Page = %d", opts.Page)
		}
		if n := b.count("GET", "/sandboxes"); n != 3 {
			t.Errorf("%d page requests, want 3", n)
		}

		// Stopping early fetches no further page.
		for range c.All(t.Context(), opts) {
			break
		}
		if n := b.count("GET", "/sandboxes"); n != 4 {
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
