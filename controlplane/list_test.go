package controlplane

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// An older service answers GET /sandboxes with one plain array of
// everything and ignores paging, search and sort. List still does what
// the options say, and All walks the pages it makes up.
func TestListUnderstandsTheBareArray(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	for i, s := range []struct{ name, status, extra string }{
		{"a-one", "DEPLOYED", `"externalId":"x","labels":{"tier":"gold"}`},
		{"b-two", "TERMINATED", `"externalId":"x"`},
		{"c-three", "DEPLOYING", `"displayName":"Third Box"`},
		{"d-four", "FAILED", `"labels":{"gold":"no"}`},
		{"e-five", "DEPLOYED", `"externalId":"y"`},
	} {
		f.add(s.status, `{"metadata":{"name":"`+s.name+`",`+s.extra+`},"spec":{}}`)
		f.age(s.name, time.Duration(10-i)*time.Minute, 0) // a-one oldest
	}
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
	// Every page asked with the version header and the options.
	for _, call := range f.seen() {
		if call.Method == http.MethodGet && call.Header.Get("Blaxel-Version") != PagedAPIVersion {
			t.Errorf("list sent without Blaxel-Version: %+v", call)
		}
	}
}
