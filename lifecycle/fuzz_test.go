package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// The fuzz targets feed arbitrary bytes to the façade as the body of a
// 200 answer (through an http.Client whose transport returns them; no
// network) and check that every call returns a value or an error, never
// panics or hangs, and that a decoded value survives being encoded back
// to the wire form and decoded again (decode ∘ encode ∘ decode = decode).
// The other targets check the id path encoding, ParseState and the
// metadata filter against their documentation. Seed corpora live in
// testdata/fuzz/<target>; run one with e.g.
//
//	go test -run '^$' -fuzz '^FuzzGetSandboxResponse$' -fuzztime 25s ./lifecycle/

// fuzzCallTimeout bounds every call: a call that takes longer hangs.
const fuzzCallTimeout = 10 * time.Second

// bodyTransport answers every request with status 200, a JSON content
// type and body, and remembers the last request.
type bodyTransport struct {
	body []byte
	last *http.Request
}

func (b *bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	b.last = r
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req-fuzz"}},
		Body:          io.NopCloser(bytes.NewReader(b.body)),
		ContentLength: int64(len(b.body)),
		Request:       r,
	}, nil
}

// answering returns a client whose every request is answered with body.
func answering(t *testing.T, body []byte) (*lifecycle.Client, *bodyTransport) {
	t.Helper()
	rt := &bodyTransport{body: body}
	return newClient(t, rt), rt
}

// call runs fn with a bounded context and fails the input if it hangs.
func call[T any](t *testing.T, fn func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), fuzzCallTimeout)
	defer cancel()
	v, err := fn(ctx)
	if ctx.Err() != nil {
		t.Fatalf("call did not return within %v: %v", fuzzCallTimeout, err)
	}
	return v, err
}

// Wire forms of the façade's types, written with encoding/json: the
// re-encoding half of the round trips.
type (
	fzAuth struct {
		Username string `json:"username,omitempty"`
		Password string `json:"password,omitempty"`
	}
	fzImage struct {
		URI  string  `json:"uri"`
		Auth *fzAuth `json:"auth,omitempty"`
	}
	fzPlatform struct {
		OS   string `json:"os"`
		Arch string `json:"arch"`
	}
	fzStatus struct {
		State            string    `json:"state"`
		Reason           string    `json:"reason,omitempty"`
		Message          string    `json:"message,omitempty"`
		LastTransitionAt time.Time `json:"lastTransitionAt,omitzero"`
	}
	fzSandbox struct {
		ID         string            `json:"id"`
		Image      *fzImage          `json:"image,omitempty"`
		SnapshotID string            `json:"snapshotId,omitempty"`
		Platform   *fzPlatform       `json:"platform,omitempty"`
		Status     fzStatus          `json:"status"`
		Metadata   map[string]string `json:"metadata,omitzero"`
		Entrypoint []string          `json:"entrypoint"`
		ExpiresAt  time.Time         `json:"expiresAt,omitzero"`
		CreatedAt  time.Time         `json:"createdAt"`
	}
	fzPagination struct {
		Page        int  `json:"page"`
		PageSize    int  `json:"pageSize"`
		TotalItems  int  `json:"totalItems"`
		TotalPages  int  `json:"totalPages"`
		HasNextPage bool `json:"hasNextPage"`
	}
	fzSandboxPage struct {
		Items      []fzSandbox  `json:"items"`
		Pagination fzPagination `json:"pagination"`
	}
	fzSnapshot struct {
		ID        string    `json:"id"`
		SandboxID string    `json:"sandboxId"`
		Name      string    `json:"name,omitempty"`
		Status    fzStatus  `json:"status"`
		CreatedAt time.Time `json:"createdAt"`
	}
	fzSnapshotPage struct {
		Items      []fzSnapshot `json:"items"`
		Pagination fzPagination `json:"pagination"`
	}
	fzEndpoint struct {
		Endpoint string            `json:"endpoint"`
		Headers  map[string]string `json:"headers,omitzero"`
	}
)

func toWire(s *lifecycle.Sandbox) fzSandbox {
	w := fzSandbox{
		ID: s.ID, SnapshotID: s.SnapshotID, Metadata: s.Metadata, Entrypoint: s.Entrypoint,
		ExpiresAt: s.ExpiresAt, CreatedAt: s.CreatedAt,
		Status: fzStatus{State: string(s.Status.State), Reason: s.Status.Reason, Message: s.Status.Message, LastTransitionAt: s.Status.LastTransitionAt},
	}
	if w.Entrypoint == nil {
		w.Entrypoint = []string{}
	}
	if im := s.Image; im != nil {
		w.Image = &fzImage{URI: im.URI}
		if a := im.Auth; a != nil {
			w.Image.Auth = &fzAuth{Username: a.Username, Password: a.Password}
		}
	}
	if p := s.Platform; p != nil {
		w.Platform = &fzPlatform{OS: p.OS, Arch: p.Arch}
	}
	return w
}

func pageToWire(p lifecycle.Pagination) fzPagination {
	return fzPagination{Page: p.Page, PageSize: p.PageSize, TotalItems: p.TotalItems, TotalPages: p.TotalPages, HasNextPage: p.HasNextPage}
}

func snapshotToWire(s *lifecycle.Snapshot) fzSnapshot {
	return fzSnapshot{ID: s.ID, SandboxID: s.SandboxID, Name: s.Name, CreatedAt: s.CreatedAt,
		Status: fzStatus{State: string(s.Status.State), Reason: s.Status.Reason, Message: s.Status.Message, LastTransitionAt: s.Status.LastTransitionAt}}
}

// sandboxStrings lists every string of s that the wire form carries.
func sandboxStrings(s *lifecycle.Sandbox) []string {
	out := []string{s.ID, s.SnapshotID, string(s.Status.State), s.Status.Reason, s.Status.Message}
	out = append(out, s.Entrypoint...)
	for k, v := range s.Metadata {
		out = append(out, k, v)
	}
	if s.Image != nil {
		out = append(out, s.Image.URI)
		if s.Image.Auth != nil {
			out = append(out, s.Image.Auth.Username, s.Image.Auth.Password)
		}
	}
	if s.Platform != nil {
		out = append(out, s.Platform.OS, s.Platform.Arch)
	}
	return out
}

// allValid reports whether every string is valid UTF-8. encoding/json
// replaces invalid bytes (which the decoder lets through, e.g. from a
// lone surrogate escape) with U+FFFD, so such values cannot round-trip
// through it; that is the test's encoder, not the façade.
func allValid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %#v: %v", v, err)
	}
	return b
}

// equalDecoded compares two decoded values; nil and empty slices and maps
// are the same on the wire, and times compare with Equal.
var equalDecoded = cmpopts.EquateEmpty()

// checkState checks the State invariants: ParseState accepts exactly the
// documented states (ignoring case) and returns the canonical one.
func checkState(t *testing.T, st lifecycle.State) {
	t.Helper()
	parsed, err := lifecycle.ParseState(string(st))
	if st.Known() && (err != nil || parsed != st) {
		t.Errorf("ParseState(%q) = %q, %v for a known state", st, parsed, err)
	}
	if st.Terminal() && !st.Known() {
		t.Errorf("state %q is terminal but not known", st)
	}
	if err == nil && !strings.EqualFold(string(parsed), string(st)) {
		t.Errorf("ParseState(%q) = %q", st, parsed)
	}
}

func checkSandbox(t *testing.T, s *lifecycle.Sandbox) {
	t.Helper()
	if s == nil {
		t.Fatal("nil sandbox without an error")
	}
	checkState(t, s.Status.State)
	if s.State() != s.Status.State {
		t.Errorf("State() = %q, Status.State = %q", s.State(), s.Status.State)
	}
	if s.ClientToken() != s.Metadata[lifecycle.ClientTokenKey] {
		t.Errorf("ClientToken() = %q", s.ClientToken())
	}
}

func FuzzGetSandboxResponse(f *testing.F) {
	f.Add([]byte(sandboxJSON))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		get := func(ctx context.Context) (*lifecycle.Sandbox, error) { return c.Get(ctx, "sandbox-abc123") }
		s, err := call(t, get)
		if err != nil {
			return
		}
		checkSandbox(t, s)
		if !allValid(sandboxStrings(s)...) {
			return
		}
		c2, _ := answering(t, mustJSON(t, toWire(s)))
		s2, err := call(t, func(ctx context.Context) (*lifecycle.Sandbox, error) { return c2.Get(ctx, "sandbox-abc123") })
		if err != nil {
			t.Fatalf("re-encoded sandbox rejected: %v\n%s", err, mustJSON(t, toWire(s)))
		}
		if diff := cmp.Diff(s, s2, equalDecoded); diff != "" {
			t.Errorf("sandbox changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

func FuzzListSandboxesResponse(f *testing.F) {
	f.Add([]byte(`{"items":[` + sandboxJSON + `],"pagination":{"page":1,"pageSize":20,"totalItems":1,"totalPages":1,"hasNextPage":false}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		p, err := call(t, func(ctx context.Context) (*lifecycle.SandboxPage, error) { return c.List(ctx, nil) })
		if err != nil {
			return
		}
		if p == nil {
			t.Fatal("nil page without an error")
		}
		w := fzSandboxPage{Items: []fzSandbox{}, Pagination: pageToWire(p.Pagination)}
		valid := true
		for _, s := range p.Items {
			checkSandbox(t, s)
			valid = valid && allValid(sandboxStrings(s)...)
			w.Items = append(w.Items, toWire(s))
		}
		if !valid {
			return
		}
		c2, _ := answering(t, mustJSON(t, w))
		p2, err := call(t, func(ctx context.Context) (*lifecycle.SandboxPage, error) { return c2.List(ctx, nil) })
		if err != nil {
			t.Fatalf("re-encoded page rejected: %v", err)
		}
		if diff := cmp.Diff(p, p2, equalDecoded); diff != "" {
			t.Errorf("page changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

func FuzzRenewResponse(f *testing.F) {
	f.Add([]byte(`{"expiresAt":"2026-03-01T11:30:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		renew := func(c *lifecycle.Client) func(ctx context.Context) (time.Time, error) {
			return func(ctx context.Context) (time.Time, error) {
				return c.Renew(ctx, "sandbox-abc123", time.Now().Add(time.Hour))
			}
		}
		got, err := call(t, renew(c))
		if err != nil {
			return
		}
		if got.Year() < 0 || got.Year() > 9999 {
			return // no RFC 3339 form; the decoder cannot have read one
		}
		c2, _ := answering(t, mustJSON(t, map[string]time.Time{"expiresAt": got}))
		got2, err := call(t, renew(c2))
		if err != nil || !got2.Equal(got) {
			t.Errorf("expiry %v re-read as %v, %v", got, got2, err)
		}
	})
}

func FuzzEndpointResponse(f *testing.F) {
	f.Add([]byte(`{"endpoint":"gw.test/sandboxes/abc/port/8080"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		ep := func(c *lifecycle.Client) func(ctx context.Context) (*lifecycle.Endpoint, error) {
			return func(ctx context.Context) (*lifecycle.Endpoint, error) {
				return c.Endpoint(ctx, "sandbox-abc123", 8080, nil)
			}
		}
		e, err := call(t, ep(c))
		if err != nil {
			return
		}
		if e == nil {
			t.Fatal("nil endpoint without an error")
		}
		ss := []string{e.Address}
		for k, v := range e.Headers {
			ss = append(ss, k, v)
		}
		if !allValid(ss...) {
			return
		}
		c2, _ := answering(t, mustJSON(t, fzEndpoint{Endpoint: e.Address, Headers: e.Headers}))
		e2, err := call(t, ep(c2))
		if err != nil {
			t.Fatalf("re-encoded endpoint rejected: %v", err)
		}
		if diff := cmp.Diff(e, e2, equalDecoded); diff != "" {
			t.Errorf("endpoint changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

func snapshotStrings(s *lifecycle.Snapshot) []string {
	return []string{s.ID, s.SandboxID, s.Name, string(s.Status.State), s.Status.Reason, s.Status.Message}
}

func FuzzGetSnapshotResponse(f *testing.F) {
	f.Add([]byte(snapshotJSON))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		get := func(c *lifecycle.Client) func(ctx context.Context) (*lifecycle.Snapshot, error) {
			return func(ctx context.Context) (*lifecycle.Snapshot, error) { return c.GetSnapshot(ctx, "snap-1") }
		}
		s, err := call(t, get(c))
		if err != nil {
			return
		}
		if s == nil {
			t.Fatal("nil snapshot without an error")
		}
		if !allValid(snapshotStrings(s)...) {
			return
		}
		c2, _ := answering(t, mustJSON(t, snapshotToWire(s)))
		s2, err := call(t, get(c2))
		if err != nil {
			t.Fatalf("re-encoded snapshot rejected: %v", err)
		}
		if diff := cmp.Diff(s, s2, equalDecoded); diff != "" {
			t.Errorf("snapshot changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

func FuzzListSnapshotsResponse(f *testing.F) {
	f.Add([]byte(`{"items":[` + snapshotJSON + `],"pagination":{"page":1,"pageSize":20,"totalItems":1,"totalPages":1,"hasNextPage":false}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		list := func(c *lifecycle.Client) func(ctx context.Context) (*lifecycle.SnapshotPage, error) {
			return func(ctx context.Context) (*lifecycle.SnapshotPage, error) { return c.ListSnapshots(ctx, nil) }
		}
		p, err := call(t, list(c))
		if err != nil {
			return
		}
		if p == nil {
			t.Fatal("nil page without an error")
		}
		w := fzSnapshotPage{Items: []fzSnapshot{}, Pagination: pageToWire(p.Pagination)}
		for _, s := range p.Items {
			if s == nil {
				t.Fatal("nil snapshot in a page")
			}
			if !allValid(snapshotStrings(s)...) {
				return
			}
			w.Items = append(w.Items, snapshotToWire(s))
		}
		c2, _ := answering(t, mustJSON(t, w))
		p2, err := call(t, list(c2))
		if err != nil {
			t.Fatalf("re-encoded page rejected: %v", err)
		}
		if diff := cmp.Diff(p, p2, equalDecoded); diff != "" {
			t.Errorf("page changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

// FuzzSandboxIDPath checks what Get does with any id: an id ValidateID
// rejects fails with ErrInvalidInput before anything is sent; any other
// one becomes exactly one path segment that a server decodes back to the
// id, with no query or fragment, and that no path cleaning can move.
func FuzzSandboxIDPath(f *testing.F) {
	for _, id := range []string{"sandbox-abc123", "a b", "é", "...", "a;b", "a+b", "a&b=c", "..", "a/b", "a%2Fb", "a?b", "a#b", ""} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		c, rt := answering(t, []byte(sandboxJSON))
		_, err := call(t, func(ctx context.Context) (*lifecycle.Sandbox, error) { return c.Get(ctx, id) })
		if verr := glue.ValidateID("sandbox id", id); verr != nil {
			if !errors.Is(err, sandboxkit.ErrInvalidInput) || rt.last != nil {
				t.Fatalf("Get(%q) = %v, sent=%v; ValidateID says %v", id, err, rt.last != nil, verr)
			}
			return
		}
		if err != nil || rt.last == nil {
			t.Fatalf("Get(%q) = %v, sent=%v", id, err, rt.last != nil)
		}
		const prefix = "/v1/sandboxes/"
		wire := rt.last.URL.RequestURI()
		u, perr := url.ParseRequestURI(wire)
		if perr != nil {
			t.Fatalf("request URI %q does not parse: %v", wire, perr)
		}
		if u.Path != prefix+id || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			t.Errorf("Get(%q) sent %q: path %q, query %q", id, wire, u.Path, u.RawQuery)
		}
		if seg := strings.TrimPrefix(u.EscapedPath(), prefix); strings.Contains(seg, "/") || seg == u.EscapedPath() {
			t.Errorf("Get(%q) sent %q: the id is not one segment", id, wire)
		}
		if path.Clean(u.Path) != u.Path {
			t.Errorf("Get(%q) sent %q, which path cleaning changes to %q", id, wire, path.Clean(u.Path))
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range append(lifecycle.States(), "running", "RUNNING", "Pauſing", "Unknown", "", "Running ", "\xff") {
		f.Add(string(s))
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := lifecycle.ParseState(s)
		var match lifecycle.State
		for _, k := range lifecycle.States() {
			if strings.EqualFold(s, string(k)) {
				match = k
			}
		}
		switch {
		case match == "" && (err == nil || !errors.Is(err, sandboxkit.ErrInvalidInput)):
			t.Fatalf("ParseState(%q) = %q, %v; want an ErrInvalidInput error", s, st, err)
		case match != "" && (err != nil || st != match):
			t.Fatalf("ParseState(%q) = %q, %v; want %q", s, st, err, match)
		}
		if lifecycle.State(s).Known() && st != lifecycle.State(s) {
			t.Errorf("ParseState(%q) = %q for a known state", s, st)
		}
	})
}

// FuzzEncodeMetadataFilter checks the metadata filter end to end: List
// sends it, and a server that decodes the query (once, as any framework
// does) and then parses the pairs like the upstream server (split on '&',
// cut at the first '=', URL-decode key and value) gets the map back.
func FuzzEncodeMetadataFilter(f *testing.F) {
	f.Add("project", "Apollo", "note", "Demo Test", uint8(2))
	f.Add("a=b&c", "d=e&f", "%41", "+ %20", uint8(2))
	f.Add("sandboxkit.dev/client-token", "tok-1", "", "", uint8(1))
	f.Add("k", "", "", "x", uint8(2))
	f.Add("é;", "\x00\xff", "k", "v", uint8(2))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, n uint8) {
		m := map[string]string{k1: v1}
		if n%2 == 0 {
			m[k2] = v2
		}
		enc, err := lifecycle.EncodeMetadataFilter(m)
		if _, empty := m[""]; empty {
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Fatalf("EncodeMetadataFilter(%q) = %q, %v; want ErrInvalidInput for an empty key", m, enc, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("EncodeMetadataFilter(%q): %v", m, err)
		}
		c, rt := answering(t, []byte(`{"items":[],"pagination":{"page":1,"pageSize":20,"totalItems":0,"totalPages":0,"hasNextPage":false}}`))
		if _, err := call(t, func(ctx context.Context) (*lifecycle.SandboxPage, error) {
			return c.List(ctx, &lifecycle.ListOptions{Metadata: m})
		}); err != nil {
			t.Fatalf("List with metadata %q: %v", m, err)
		}
		q, err := url.ParseQuery(rt.last.URL.RawQuery)
		if err != nil || len(q["metadata"]) != 1 {
			t.Fatalf("query %q: %v, %q", rt.last.URL.RawQuery, err, q)
		}
		raw := q.Get("metadata")
		if raw != enc {
			t.Errorf("List sent metadata=%q, EncodeMetadataFilter gives %q", raw, enc)
		}
		got := map[string]string{}
		for seg := range strings.SplitSeq(raw, "&") {
			k, v, ok := strings.Cut(seg, "=")
			if !ok {
				t.Fatalf("segment %q of %q has no '='", seg, raw)
			}
			key, err1 := url.QueryUnescape(k)
			val, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				t.Fatalf("segment %q of %q: %v %v", seg, raw, err1, err2)
			}
			if _, dup := got[key]; dup {
				t.Fatalf("key %q twice in %q", key, raw)
			}
			got[key] = val
		}
		if !maps.Equal(got, m) {
			t.Errorf("metadata %q travelled as %q and came back as %q", m, rt.last.URL.RawQuery, got)
		}
	})
}
