package controlplane

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// An older service answers GET /sandboxes with one plain array of
// everything and ignores paging, search and sort. List still does what
// the options say, and All walks the pages it makes up.
func TestListUnderstandsTheBareArray(t *testing.T) {
	t.Parallel()
	// What an older service answers: every sandbox, in no useful order.
	var items []string
	for i, it := range []struct{ name, status, extra string }{
		{"a-one", "DEPLOYED", `"externalId":"x","labels":{"tier":"gold"}`},
		{"b-two", "TERMINATED", `"externalId":"x"`},
		{"c-three", "DEPLOYING", `"displayName":"Third Box"`},
		{"d-four", "FAILED", `"labels":{"gold":"no"}`},
		{"e-five", "DEPLOYED", `"externalId":"y"`},
	} {
		created := time.Date(2026, 1, 1, 12, i, 0, 0, time.UTC).Format(time.RFC3339) // a-one oldest
		items = append(items, `{"metadata":{"name":"`+it.name+`","createdAt":"`+created+`",`+it.extra+`},"spec":{},"status":"`+it.status+`"}`)
	}
	srv := &rawServer{status: http.StatusOK, body: []byte("[" + strings.Join(items, ",") + "]")}
	c := newHTTPClient(t, srv)
	names := func(opts *ListOptions) []string {
		t.Helper()
		var out []string
		for sb, err := range c.All(t.Context(), opts) {
			if err != nil {
				t.Fatalf("All(%+v): %v", opts, err)
			}
			out = append(out, sb.Metadata.Name)
		}
		return out
	}
	page, err := c.List(t.Context(), &ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !page.Unpaged || !page.HasMore || page.NextCursor == "" || page.Total != 5 || len(page.Items) != 2 ||
		page.Items[0].Metadata.Name != "e-five" {
		t.Errorf("first made-up page: %+v", page)
	}
	for _, c := range []struct {
		opts *ListOptions
		want []string
	}{
		{&ListOptions{Limit: 2}, []string{"e-five", "d-four", "c-three", "a-one"}},
		{&ListOptions{ShowTerminated: true, Sort: SortOldestFirst}, []string{"a-one", "b-two", "c-three", "d-four", "e-five"}},
		{&ListOptions{Statuses: []Status{StatusTerminated, StatusFailed}, Sort: SortNameAsc}, []string{"b-two", "d-four"}},
		{&ListOptions{ExternalID: "x"}, []string{"a-one"}},
		{&ListOptions{Query: "GOLD", Sort: SortNameDesc}, []string{"d-four", "a-one"}},
		{&ListOptions{Query: " third "}, []string{"c-three"}},
		{&ListOptions{Query: "g"}, []string{"e-five", "d-four", "c-three", "a-one"}},
		{&ListOptions{FromEnd: true, Limit: 3}, []string{"d-four", "c-three", "a-one"}},
	} {
		if diff := cmp.Diff(c.want, names(c.opts)); diff != "" {
			t.Errorf("All(%+v) (-want +got):\n%s", c.opts, diff)
		}
	}
	// Pages are asked for with the version header.
	if req := srv.request(); req.Header.Get("Blaxel-Version") != PagedAPIVersion {
		t.Errorf("list sent without Blaxel-Version: %+v", req)
	}
}
