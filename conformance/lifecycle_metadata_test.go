package conformance

import (
	"errors"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// TestLifecyclePatchMetadata: a patch sets and deletes keys and keeps the
// others, in its answer and on the next Get; an empty patch changes
// nothing; metadata filters see the patched values.
func TestLifecyclePatchMetadata(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		req := tg.request(t)
		req.Metadata["stage"] = "build"
		req.Metadata["owner"] = "ci"
		sb := tg.create(t, req)

		got, err := tg.lc.PatchMetadata(ctx, sb.ID, &lifecycle.MetadataPatch{
			Set:    map[string]string{"stage": "test", "team": "ml"},
			Delete: []string{"owner", "never-there"},
		})
		if err != nil {
			t.Fatalf("PatchMetadata: %v", err)
		}
		check := func(what string, m map[string]string) {
			t.Helper()
			if m["stage"] != "test" || m["team"] != "ml" || m[runLabel] != tg.run || m[lifecycle.ClientTokenKey] == "" {
				t.Errorf("%s: metadata %v, want stage=test, team=ml and the creation keys kept", what, m)
			}
			if _, ok := m["owner"]; ok {
				t.Errorf("%s: metadata %v still holds the deleted key owner", what, m)
			}
		}
		check("patch answer", got.Metadata)
		read, err := tg.lc.Get(ctx, sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("Get", read.Metadata)

		empty, err := tg.lc.PatchMetadata(ctx, sb.ID, nil)
		if err != nil {
			t.Fatalf("empty PatchMetadata: %v", err)
		}
		check("empty patch", empty.Metadata)

		page, err := tg.lc.List(ctx, &lifecycle.ListOptions{Metadata: map[string]string{runLabel: tg.run, "stage": "test"}})
		if err != nil || page.TotalItems != 1 || page.Items[0].ID != sb.ID {
			t.Errorf("List by a patched value = %+v, %v", page, err)
		}

		if _, err := tg.lc.PatchMetadata(ctx, "no-such-sandbox-"+tg.run, &lifecycle.MetadataPatch{Set: map[string]string{"a": "b"}}); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Errorf("PatchMetadata of an unknown sandbox = %v, want not found", err)
		}
		if _, err := tg.lc.PatchMetadata(ctx, sb.ID, &lifecycle.MetadataPatch{Set: map[string]string{"opensandbox.io/x": "y"}}); !rejectedInput(err) {
			t.Errorf("PatchMetadata of a reserved key = %v, want a bad request", err)
		}
	})
}

// TestLifecyclePatchMetadataDeletedCreationKey: a key the sandbox was
// created with, deleted by a patch, stays deleted through the next patch
// of another key on Kubernetes; on the Docker runtime that next patch
// brings it back (the runtime rebuilds the metadata from the creation
// labels on every patch), as PatchMetadata's documentation warns.
func TestLifecyclePatchMetadataDeletedCreationKey(t *testing.T) {
	forEachLifecycle(t, func(t *testing.T, tg *lifecycleTarget) {
		ctx := tg.ctx(t)
		req := tg.request(t)
		req.Metadata["owner"] = "ci"
		sb := tg.create(t, req)
		got, err := tg.lc.PatchMetadata(ctx, sb.ID, &lifecycle.MetadataPatch{Delete: []string{"owner"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Metadata["owner"]; ok {
			t.Fatalf("delete owner: metadata %v", got.Metadata)
		}
		got, err = tg.lc.PatchMetadata(ctx, sb.ID, &lifecycle.MetadataPatch{Set: map[string]string{"team": "ml"}})
		if err != nil {
			t.Fatal(err)
		}
		owner, back := got.Metadata["owner"]
		switch tg.runtime {
		case docker:
			if !back || owner != "ci" {
				t.Errorf("docker: metadata %v after the next patch; the runtime used to bring owner=ci back", got.Metadata)
			}
		case kubernetes:
			if back {
				t.Errorf("kubernetes: metadata %v after the next patch, want owner still deleted", got.Metadata)
			}
		}
	})
}
