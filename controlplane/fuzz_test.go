package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// The fuzz targets feed arbitrary bytes to the façade as the body of a
// 200 answer (through an http.Client whose transport returns them; no
// network) and check that every call returns a value or an error, never
// panics or hangs, and that a sandbox read and written back unchanged
// keeps its writable part, unknown members included (the read-modify-write
// promise of the package). The other targets check the name path encoding
// and the duration forms. Seed corpora live in testdata/fuzz/<target>;
// run one with e.g.
//
//	go test -run '^$' -fuzz '^FuzzGetSandboxResponse$' -fuzztime 25s ./controlplane/

const fuzzCallTimeout = 10 * time.Second

// fuzzTransport answers GET and DELETE with body, and PUT and POST with
// the request body (an echoing server), always with status 200.
type fuzzTransport struct {
	body []byte
	last *http.Request
	sent []byte
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var in []byte
	if r.Body != nil {
		in, _ = io.ReadAll(r.Body)
		_ = r.Body.Close()
	}
	ft.last, ft.sent = r, in
	out := ft.body
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		out = in
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(out)),
		ContentLength: int64(len(out)),
		Request:       r,
	}, nil
}

func answering(t *testing.T, body []byte) (*Client, *fuzzTransport) {
	t.Helper()
	ft := &fuzzTransport{body: body}
	c, err := New(testOptions("https://cp.test/v0", ft)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, ft
}

func fzCall[T any](t *testing.T, fn func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), fuzzCallTimeout)
	defer cancel()
	v, err := fn(ctx)
	if ctx.Err() != nil {
		t.Fatalf("call did not return within %v: %v", fuzzCallTimeout, err)
	}
	return v, err
}

// allTypes lets cmp see the unexported extra fields.
var allTypes = cmp.AllowUnexported(Sandbox{}, Metadata{}, Spec{}, Runtime{}, Port{}, Env{}, Volume{}, Lifecycle{}, ExpirationPolicy{},
	Network{}, Egress{}, EgressPolicy{}, Firewall{}, Proxy{}, ProxyRoute{})

// writable is the part of a sandbox that Update sends.
func writable(s *Sandbox) *Sandbox {
	return &Sandbox{
		Metadata: Metadata{Name: s.Metadata.Name, DisplayName: s.Metadata.DisplayName, Labels: s.Metadata.Labels,
			ExternalID: s.Metadata.ExternalID, extra: s.Metadata.extra},
		Spec:  s.Spec,
		extra: s.extra,
	}
}

// checkSandbox checks a decoded sandbox: Clone is equal to it, and
// writing it back (to a server that echoes what it gets) keeps its
// writable part.
func checkSandbox(t *testing.T, sb *Sandbox) {
	t.Helper()
	if sb == nil {
		t.Fatal("nil sandbox without an error")
	}
	if diff := cmp.Diff(sb, sb.Clone(), allTypes); diff != "" {
		t.Fatalf("Clone differs (-sandbox +clone):\n%s", diff)
	}
	if rt := sb.Spec.Runtime; rt != nil && (rt.Expires.Year() < 0 || rt.Expires.Year() > 9999) {
		return // no RFC 3339 form to send
	}
	c, ft := answering(t, nil)
	back, err := fzCall(t, func(ctx context.Context) (*Sandbox, error) { return c.update(ctx, "fuzz", sb) })
	if err != nil {
		t.Fatalf("writing the sandbox back failed: %v", err)
	}
	if diff := cmp.Diff(writable(sb), writable(back), allTypes, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("read-modify-write changed the sandbox (-read +written back):\n%s\nsent: %s", diff, ft.sent)
	}
}

func FuzzGetSandboxResponse(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"my-resource","labels":{"team":"ml"},"futureMeta":{"x":1}},` +
		`"spec":{"runtime":{"image":"blaxel/base-image:latest","memory":4096,"ttl":"24h","ports":[{"target":8080,"name":"http","protocol":"HTTP"}]}},` +
		`"status":"DEPLOYED","futureTop":[1,2]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		sb, err := fzCall(t, func(ctx context.Context) (*Sandbox, error) { return c.Get(ctx, "my-resource", nil) })
		if err != nil {
			return
		}
		checkSandbox(t, sb)
	})
}

func FuzzListSandboxesResponse(f *testing.F) {
	f.Add([]byte(`[{"metadata":{"name":"a"},"spec":{}},{"metadata":{"name":"b"},"spec":{"region":"us-pdx-1"},"status":"DELETING"}]`))
	f.Add([]byte(`{"data":[{"metadata":{"name":"a"},"spec":{}}],"meta":{"hasMore":true,"nextCursor":"c1","total":7}}`))
	f.Add([]byte(`{"data":[],"meta":{"hasMore":true}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _ := answering(t, body)
		page, err := fzCall(t, func(ctx context.Context) (*SandboxPage, error) { return c.List(ctx, nil) })
		if err != nil {
			return
		}
		if page == nil || page.Items == nil {
			t.Fatal("nil page without an error")
		}
		if page.HasMore && page.NextCursor == "" {
			t.Fatal("a page with more and no cursor")
		}
		for _, sb := range page.Items {
			checkSandbox(t, sb)
		}
	})
}

// FuzzSandboxNamePath checks what Get does with any name: one rejected by
// ValidateID fails with ErrInvalidInput before anything is sent; any
// other becomes exactly one path segment that decodes back to the name.
func FuzzSandboxNamePath(f *testing.F) {
	for _, n := range []string{"my-resource", "a b", "é", "...", "..", "a/b", "a%2Fb", "a?b", ""} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, ft := answering(t, []byte(`{"metadata":{"name":"x"},"spec":{}}`))
		_, err := fzCall(t, func(ctx context.Context) (*Sandbox, error) { return c.Get(ctx, name, nil) })
		if verr := glue.ValidateID("sandbox name", name); verr != nil {
			if !errors.Is(err, sandboxkit.ErrInvalidInput) || ft.last != nil {
				t.Fatalf("Get(%q) = %v, sent=%v; ValidateID says %v", name, err, ft.last != nil, verr)
			}
			return
		}
		if err != nil || ft.last == nil {
			t.Fatalf("Get(%q) = %v, sent=%v", name, err, ft.last != nil)
		}
		const prefix = "/v0/sandboxes/"
		wire := ft.last.URL.RequestURI()
		u, perr := url.ParseRequestURI(wire)
		if perr != nil {
			t.Fatalf("request URI %q does not parse: %v", wire, perr)
		}
		seg := strings.TrimPrefix(u.EscapedPath(), prefix)
		if u.Path != prefix+name || u.RawQuery != "" || strings.Contains(seg, "/") || path.Clean(u.Path) != u.Path {
			t.Errorf("Get(%q) sent %q", name, wire)
		}
	})
}

// documentedForm is what FormatDuration writes: a positive whole number
// and one unit.
var documentedForm = regexp.MustCompile(`^[1-9][0-9]*[smhdw]$`)

// ceilSecondDur is d rounded up to a whole second; ok is false when that
// is not a time.Duration.
func ceilSecondDur(d time.Duration) (time.Duration, bool) {
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	if s > math.MaxInt64/time.Second {
		return 0, false
	}
	return s * time.Second, true
}

// checkFormat checks FormatDuration(d): an error matching ErrInvalidInput
// for d <= 0; otherwise the documented form, read back by ParseDuration
// as d rounded up to a whole second (never shorter).
func checkFormat(t *testing.T, d time.Duration) {
	t.Helper()
	s, err := FormatDuration(d)
	if d <= 0 {
		if !errors.Is(err, sandboxkit.ErrInvalidInput) || s != "" {
			t.Fatalf("FormatDuration(%d) = %q, %v; want an ErrInvalidInput", d, s, err)
		}
		return
	}
	if err != nil || !documentedForm.MatchString(s) {
		t.Fatalf("FormatDuration(%d) = %q, %v; not a documented form", d, s, err)
	}
	want, ok := ceilSecondDur(d)
	if !ok {
		// Within a second of the largest Duration, rounding up has
		// nowhere to go: FormatDuration rounds down instead.
		want = d / time.Second * time.Second
	}
	got, err := ParseDuration(s)
	if err != nil || got != want {
		t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v; want %v", d, s, got, err, want)
	}
	if again, _ := FormatDuration(got); again != s {
		t.Fatalf("FormatDuration(%v) = %q but FormatDuration(%v) = %q", d, s, got, again)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30m", "24h", "7d", "2w", "1h30m", "90s", "24 hours", "1.5d", "0m", "-1h", "+1h", "0d", "01d",
		"1d1h", "d", "w", "", "9223372036854775807ns", "15250w", "106751d", "2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, sandboxkit.ErrInvalidInput) || d != 0 {
				t.Fatalf("ParseDuration(%q) = %v, %v; want 0 and ErrInvalidInput", s, d, err)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("ParseDuration(%q) = %v, not positive", s, d)
		}
		if !regexp.MustCompile(`^[0-9]+[smhdw]$`).MatchString(s) {
			t.Fatalf("ParseDuration accepted %q, not a number and one unit", s)
		}
		if documentedForm.MatchString(s) {
			n := len(s)
			unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': day, 'w': week}[s[n-1]]
			var v int64
			if _, err := fmt.Sscan(s[:n-1], &v); err != nil || time.Duration(v)*unit != d {
				t.Fatalf("ParseDuration(%q) = %v", s, d)
			}
		}
		checkFormat(t, d)
	})
}

func FuzzFormatDuration(f *testing.F) {
	for _, d := range []int64{0, 1, -1, int64(time.Minute), int64(time.Minute) + 1, int64(time.Hour), int64(day), int64(week),
		int64(90 * time.Minute), math.MaxInt64, math.MinInt64, math.MaxInt64 - int64(time.Second), int64(time.Second), int64(-time.Hour)} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		checkFormat(t, time.Duration(n))
	})
}
