package guest

import (
	"testing"
	"time"
)

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*.go", "main.go", true}, {"*.go", "main.gox", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false},
		{"?", "é", true}, {"[a-c]x", "bx", true}, {"[!a-c]x", "bx", false}, {`\*`, "*", true}, {`\*`, "a", false},
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"[", "[", true}, {"a[", "a[", true},
		{"[[:digit:]]*", "1ab", true}, {"*/*", "a/b", true},
		// Linear, not exponential, in the stars.
		{"*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := matchGlob(c.p, c.s); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

// fzfScore matches what the real server's fuzzy search answered for these
// (see TestFind for the same on both targets).
func TestFzfScore(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text, pattern string
		score         int
		ok            bool
	}{
		{"aq7", "q7", 36, true}, {"Q7x", "q7", 0, false}, {"A.Q.7", "q7", 0, false},
		{"xj", "j", 16, true}, {"J", "j", 0, false}, {"ab", "j", 0, false},
		{"b/tmpx/u", "/tmp/u", 16 + 20*3 - 3 + 16 + 20, true}, {"ab", "abc", 0, false},
	} {
		score, ok := fzfScore(c.text, c.pattern)
		if score != c.score || ok != c.ok {
			t.Errorf("fzfScore(%q, %q) = %d, %v; want %d, %v", c.text, c.pattern, score, ok, c.score, c.ok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"echo 'x":          "1: Syntax error: Unterminated quoted string",
		"if true; then":    `1: Syntax error: end of file unexpected (expecting "fi")`,
		"echo a\n)":        `2: Syntax error: ")" unexpected`,
		"a && ":            "1: Syntax error: end of file unexpected",
		"for 1 in x; do :": "1: Syntax error: Bad for loop variable",
		"echo ${":          "1: Syntax error: Missing '}'",
	} {
		_, err := parseScript(src)
		if err == nil || err.Error() != want {
			t.Errorf("parseScript(%q) = %v, want %s", src, err, want)
		}
	}
}

func TestParseSleep(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"1": time.Second, "0.5": 500 * time.Millisecond, "2m": 2 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour, "3s": 3 * time.Second} {
		if got, err := parseSleep(in); err != nil || got != want {
			t.Errorf("parseSleep(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "NaN", "1y", "0x10"} {
		if _, err := parseSleep(in); err == nil {
			t.Errorf("parseSleep(%q) accepted", in)
		}
	}
}
