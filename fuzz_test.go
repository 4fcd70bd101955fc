package sandboxkit

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets check the validators against a reference reading of
// their documentation, and the safety properties callers rely on. Seed
// corpora live in testdata/fuzz/<target>; run one target with e.g.
//
//	go test -run '^$' -fuzz '^FuzzValidateID$' -fuzztime 25s ./client/
//
// The property of an accepted id (ValidateID) is: it is exactly one URL
// path segment that means the same before and after percent-decoding.
// Precisely, for every id ValidateID accepts:
//
//   - it is 1 to MaxIDLength bytes of valid UTF-8, not "." or "..", and
//     strings.TrimSpace leaves it unchanged;
//   - it contains no '/', '\', '?', '#', '%' and no control character
//     (unicode.IsControl: C0, DEL, C1; NUL included);
//   - url.PathUnescape(id) == id: there is nothing to decode, so a server
//     that decodes once more (or not at all) sees the same id;
//   - url.PathEscape(id) contains no '/', decodes back to id, and
//     "http://h/x/"+url.PathEscape(id) parses to path "/x/"+id with no
//     query and no fragment;
//   - path.Clean leaves "/x/"+id unchanged (no dot segment can climb).
//
// url.PathEscape(id) == id does not hold in general: spaces inside the
// id and non-ASCII letters are allowed and travel escaped. And the
// converse holds too: every string meeting the documented rules is
// accepted (refValidID).

// refValidID is ValidateID's documentation written out independently.
func refValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength || !utf8.ValidString(id) || id == "." || id == ".." {
		return false
	}
	if strings.TrimSpace(id) != id {
		return false
	}
	for _, r := range id {
		if strings.ContainsRune(`/\?#%`, r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// checkValidationError checks the shape every rejection has: a
// *ValidationError for field, matching ErrInvalidInput, whose message is
// one line of valid UTF-8 without control characters (it is safe to log
// whatever the input) and of bounded length.
func checkValidationError(t *testing.T, err error, field, input string) {
	t.Helper()
	ve, ok := errors.AsType[*ValidationError](err)
	if !ok || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("error %v (%T) for %q is not a *ValidationError matching ErrInvalidInput", err, err, input)
	}
	if ve.Field != field {
		t.Errorf("Field = %q, want %q", ve.Field, field)
	}
	if ve.Value != "" && ve.Value != input {
		t.Errorf("Value = %q, want the input %q", ve.Value, input)
	}
	msg := err.Error()
	if !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
		t.Errorf("message %q is not printable UTF-8", msg)
	}
	// "sandboxkit: invalid " + field + a quoted value of at most
	// maxQuotedValue bytes (each escaped to at most 4 characters, plus
	// "…") + ": " + a reason that quotes one byte.
	if limit := 64 + len(field) + 4*maxQuotedValue + 8; len(msg) > limit {
		t.Errorf("message of %d bytes for a %d-byte input, want at most %d: %q", len(msg), len(input), limit, msg)
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{
		"sbx-123", "sandbox-abc123", "a", "a..b", "...", " a", "a ", "a b", "ÜNICODE-ok",
		"a/b", `a\b`, "a?b", "a#b", "a%2Fb", "%2e%2e", ".", "..", "\x00", "a\x7f", "a\u0085b",
		"\u00a0a", "a\u2028", "\xff", "\xed\xa0\x80", strings.Repeat("x", MaxIDLength), strings.Repeat("é", 127),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		const field = "sandbox id"
		err := validateID(field, id)
		if want := refValidID(id); (err == nil) != want {
			t.Fatalf("ValidateID(%q) = %v, documentation says valid=%v", id, err, want)
		}
		if err != nil {
			checkValidationError(t, err, field, id)
			return
		}
		if dec, err := url.PathUnescape(id); err != nil || dec != id {
			t.Errorf("PathUnescape(%q) = %q, %v: an accepted id must decode to itself", id, dec, err)
		}
		esc := url.PathEscape(id)
		if strings.Contains(esc, "/") {
			t.Errorf("PathEscape(%q) = %q holds a slash", id, esc)
		}
		if dec, err := url.PathUnescape(esc); err != nil || dec != id {
			t.Errorf("PathUnescape(PathEscape(%q)) = %q, %v", id, dec, err)
		}
		u, err := url.Parse("http://h/x/" + esc)
		if err != nil || u.Path != "/x/"+id || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			t.Errorf("URL with %q: %+v, %v: want path /x/%s only", id, u, err, id)
		}
		if p := "/x/" + id; path.Clean(p) != p {
			t.Errorf("path.Clean(%q) = %q", p, path.Clean(p))
		}
	})
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"/tmp/a", "src/a.txt", "a b/c?d#e%f", "..", "../../etc/passwd", "", "a\x00b", "\x00", "\xff", "C:\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		const field = "path"
		err := validatePath(field, p)
		dotdot := slices.Contains(strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }), "..")
		if want := p != "" && !strings.ContainsRune(p, 0) && !dotdot; (err == nil) != want {
			t.Fatalf("ValidatePath(%q) = %v, documentation says valid=%v", p, err, want)
		}
		if err != nil {
			checkValidationError(t, err, field, p)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"MY_ENV", "build", "label name", "é", "", "a\nb", "a\x00", "\x7f", "a\u0085", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		const field = "name"
		err := validateName(field, name)
		if want := name != "" && !strings.ContainsFunc(name, unicode.IsControl); (err == nil) != want {
			t.Fatalf("ValidateName(%q) = %v, documentation says valid=%v", name, err, want)
		}
		if err != nil {
			checkValidationError(t, err, field, name)
		}
	})
}

func FuzzValidatePort(f *testing.F) {
	for _, p := range []int{0, 1, 80, 8080, 65535, 65536, -1, 1 << 40, -1 << 63} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, port int) {
		err := validatePort(port)
		if want := port >= 1 && port <= 65535; (err == nil) != want {
			t.Fatalf("ValidatePort(%d) = %v, want valid=%v", port, err, want)
		}
		if err != nil {
			checkValidationError(t, err, "port", fmt.Sprint(port))
		}
	})
}
