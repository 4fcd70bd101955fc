package sandboxkit

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// redacted replaces secret values in printed output, logs and errors.
const redacted = "[REDACTED]"

// secret holds a credential. It is always used through a pointer so that
// fmt prints only an address when a struct holding it is printed with %v
// or %#v (fmt cannot call methods on unexported fields, but it does not
// follow nested pointers either). Printed directly, it shows [REDACTED].
//
// The value sits behind a second pointer because a verb that does not
// suit pointers (%s, %q) makes fmt print the struct a field's pointer
// points to, "%!s(*client.secret=&{...})", without its methods; what
// it finds there is another pointer, printed as an address.
type secret struct {
	value *string
}

// newSecret returns nil for an empty value, so "no credential" is nil.
func newSecret(v string) *secret {
	if v == "" {
		return nil
	}
	return &secret{value: &v}
}

// reveal returns the credential for the one place that needs it: the
// request header set by the auth transport.
func (s *secret) reveal() string {
	if s == nil {
		return ""
	}
	return *s.value
}

// String implements fmt.Stringer without revealing the value.
func (s *secret) String() string {
	if s == nil {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without revealing the value.
func (s *secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format makes every fmt verb (%x and %q included) print the redacted form.
func (s *secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without revealing the value.
func (s *secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// scrubber replaces credentials in text meant for people: error messages,
// error bodies, log records, printed configurations. It knows the
// configuration's credential, the values of its credential headers and
// the tokens in its base URL, and finds each of them written out plainly
// or in any of the escaped forms a server echo or a Go error message
// produces: JSON (\u0026, \/, \"), Go quoting (\x26, \u00e9, \U0001f600),
// percent-encoding (%26) and HTML character references (&amp;, &#38;).
// It also replaces the path segment after a "signed" segment (a signed
// route's token, as in /signed/<token>/...). A nil *scrubber does the
// latter only.
//
// The values are held as [*secret]s, so that printing a transport or a
// configuration with fmt shows none of them.
type scrubber struct {
	values []*secret // longest first, so that a value holding another goes whole
}

// minScrubbed is the length below which a value is not looked for: a
// credential of a few characters cannot be told from ordinary text (a
// token "t" would take every t out of every message), and is no secret
// anyway.
const minScrubbed = 6

// newScrubber returns a scrubber for the values of at least minScrubbed
// bytes.
func newScrubber(values ...string) *scrubber {
	var vs []string
	for _, v := range values {
		if len(v) >= minScrubbed && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
	sc := &scrubber{}
	for _, v := range vs {
		sc.values = append(sc.values, newSecret(v))
	}
	return sc
}

// scrub returns text with every credential replaced by [REDACTED].
func (sc *scrubber) scrub(text string) string { return sc.apply(text, false) }

// scrubCut is scrub for text that was cut to a length limit: a credential
// that the cut left unfinished at the end of text is replaced as well,
// since its start can be as good as the whole for many key formats.
func (sc *scrubber) scrubCut(text string) string { return sc.apply(text, true) }

func (sc *scrubber) apply(text string, cut bool) string {
	if text == "" {
		return text
	}
	if sc != nil {
		for _, v := range sc.values {
			text = scrubValue(text, v.reveal(), cut)
		}
	}
	return signedSegment.ReplaceAllString(text, "${1}"+redacted)
}

// signedSegment finds the token after a "signed" path segment, also when
// the slashes are JSON-escaped.
var signedSegment = regexp.MustCompile(`((?:/|\\/)signed(?:/|\\/))[^/?#\s"'\\&<>]+`)

// scrubValue replaces every spelling of v in text (see scrubber).
func scrubValue(text, v string, cut bool) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(text); i++ {
		if c := text[i]; c != v[0] && c != '\\' && c != '%' && c != '&' {
			continue
		}
		end, partial := matchSpelled(text[i:], v)
		switch {
		case end > 0:
			b.WriteString(text[last:i])
			b.WriteString(redacted)
			last = i + end
			i = last - 1
		case partial && cut:
			b.WriteString(text[last:i])
			b.WriteString(redacted)
			return b.String()
		}
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// matchSpelled reports whether text starts with v, each character of v
// written plainly or escaped (see scrubber): end is the length of the
// match in text, or 0. partial reports that text ended in the middle of
// a match that had begun.
func matchSpelled(text, v string) (end int, partial bool) {
	if v == "" {
		return 0, false
	}
	if len(text) == 0 {
		return 0, true
	}
	r, size := utf8.DecodeRuneInString(v)
	raw := v[:size]
	if r == utf8.RuneError && size == 1 {
		r = -1 // an invalid byte: only its byte spellings match
	}
	rest := v[size:]
	for _, n := range spellings(text, r, raw) {
		if n < 0 { // text ended inside this spelling
			partial = true
			continue
		}
		if rest == "" {
			return n, false
		}
		e, p := matchSpelled(text[n:], rest)
		if e > 0 {
			return n + e, false
		}
		partial = partial || p
	}
	return 0, partial
}

// spellings returns the lengths of the prefixes of text that spell the
// character r (UTF-8 bytes raw; r < 0 for a lone invalid byte), one per
// form that matches; -1 stands for a form that text ends in the middle of.
func spellings(text string, r rune, raw string) []int {
	var out []int
	add := func(n int) {
		if n != 0 {
			out = append(out, n)
		}
	}
	add(prefixLen(text, raw))
	add(byteEscapes(text, raw))
	if r >= 0 {
		u, bigU := unicodeEscapes(text, r)
		add(u)
		add(bigU)
		add(htmlReference(text, r))
		if named, ok := namedEscapes[r]; ok {
			for _, e := range named {
				add(prefixLen(text, e))
			}
		}
	}
	return out
}

// namedEscapes are the short escapes of JSON, Go and HTML.
var namedEscapes = map[rune][]string{
	'/':  {`\/`},
	'"':  {`\"`, "&quot;"},
	'\\': {`\\`},
	'\'': {`\'`, "&apos;"},
	'\t': {`\t`},
	'&':  {"&amp;"},
	'<':  {"&lt;"},
	'>':  {"&gt;"},
}

// prefixLen returns len(p) if text starts with p, -1 if text is a proper
// prefix of p, else 0.
func prefixLen(text, p string) int {
	switch {
	case strings.HasPrefix(text, p):
		return len(p)
	case len(text) < len(p) && strings.HasPrefix(p, text):
		return -1
	}
	return 0
}

// byteEscapes matches raw written byte by byte as \xHH or %HH (either
// form for each byte, hex digits in either case).
func byteEscapes(text, raw string) int {
	n := 0
	for i := 0; i < len(raw); i++ {
		k := either(escapeAt(text[n:], `\x`, 2, rune(raw[i])), escapeAt(text[n:], "%", 2, rune(raw[i])))
		if k <= 0 {
			return k
		}
		n += k
	}
	return n
}

// unicodeEscapes matches r as \uHHHH (a UTF-16 surrogate pair beyond the
// BMP) or as \UHHHHHHHH; it returns a result per form.
func unicodeEscapes(text string, r rune) (u, bigU int) {
	bigU = escapeAt(text, `\U`, 8, r)
	if r <= 0xFFFF {
		return escapeAt(text, `\u`, 4, r), bigU
	}
	hi, lo := utf16.EncodeRune(r)
	a := escapeAt(text, `\u`, 4, hi)
	if a <= 0 {
		return a, bigU
	}
	b := escapeAt(text[a:], `\u`, 4, lo)
	if b <= 0 {
		return b, bigU
	}
	return a + b, bigU
}

// escapeAt matches prefix followed by n hex digits whose value is want;
// results as prefixLen.
func escapeAt(text, prefix string, n int, want rune) int {
	if p := prefixLen(text, prefix); p <= 0 {
		return p
	}
	v, ok, short := hexAt(text, len(prefix), n)
	switch {
	case short:
		return -1
	case ok && v == want:
		return len(prefix) + n
	}
	return 0
}

// either combines two results for the same place: a match wins, then
// "text ended inside", then no match.
func either(a, b int) int {
	switch {
	case a > 0:
		return a
	case b > 0:
		return b
	case a < 0 || b < 0:
		return -1
	}
	return 0
}

// htmlReference matches r as &#DDD; or &#xHHH;.
func htmlReference(text string, r rune) int {
	if !strings.HasPrefix(text, "&#") {
		if text == "&" {
			return -1
		}
		return 0
	}
	i, base := 2, 10
	if i < len(text) && (text[i] == 'x' || text[i] == 'X') {
		i, base = 3, 16
	}
	start := i
	var v rune
	for ; i < len(text) && text[i] != ';'; i++ {
		d, ok := digitVal(text[i], base)
		if !ok || i-start > 8 {
			return 0
		}
		v = v*rune(base) + d
	}
	switch {
	case i == len(text):
		return -1
	case i == start || v != r:
		return 0
	}
	return i + 1
}

// hexAt parses n hex digits of text at i. short reports that text ends
// before them (while the digits present are hex).
func hexAt(text string, i, n int) (v rune, ok, short bool) {
	for k := 0; k < n; k++ {
		if i+k >= len(text) {
			return 0, false, true
		}
		d, isHex := digitVal(text[i+k], 16)
		if !isHex {
			return 0, false, false
		}
		v = v<<4 | d
	}
	return v, true, false
}

func digitVal(c byte, base int) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case base == 16 && 'a' <= c && c <= 'f':
		return rune(c-'a') + 10, true
	case base == 16 && 'A' <= c && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}
