package mockserver_test

import (
	"maps"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

// FuzzMetadataFilterRoundTrip checks the metadata filter across client
// and server: a sandbox holding arbitrary metadata is found by
// lifecycle.Client.List with exactly that metadata as the filter (encoded
// by lifecycle.EncodeMetadataFilter, decoded by the mock like the upstream
// server), and a sandbox whose value differs in one key is not.
func FuzzMetadataFilterRoundTrip(f *testing.F) {
	f.Add("project", "Apollo", "note", "Demo_Test")
	f.Add("project", "Apollo", "note", "Demo Test")
	f.Add("a=b&c", "d=e&f", "%41", "+ %20")
	f.Add("k", "", "é;", "\x00\n")
	f.Add("app.kubernetes.io/name", "web", "k", "%252520")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1, k2: v2}
		srv := mockserver.Start(t, mockserver.WithManualClock(t0), mockserver.WithJournalLimit(8))
		if _, err := srv.AddSandbox("", mockserver.SandboxSeed{ID: "target", Metadata: m}); err != nil {
			t.Skip("metadata the mock does not take:", err)
		}
		decoy := maps.Clone(m)
		decoy[k1] = m[k1] + "x"
		if _, err := srv.AddSandbox("", mockserver.SandboxSeed{ID: "decoy", Metadata: decoy}); err != nil {
			t.Skip("decoy metadata is not a valid label:", err) // e.g. a 63-character value made 64
		}
		c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
		if err != nil {
			t.Fatal(err)
		}
		page, err := c.List(t.Context(), &lifecycle.ListOptions{Metadata: m})
		if err != nil {
			t.Fatalf("List with metadata %q: %v", m, err)
		}
		if len(page.Items) != 1 || page.Items[0].ID != "target" || !maps.Equal(page.Items[0].Metadata, m) {
			ids := []string{}
			for _, s := range page.Items {
				ids = append(ids, s.ID)
			}
			t.Fatalf("List with metadata %q found %q, want only target", m, ids)
		}
	})
}
