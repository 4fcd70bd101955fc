package guest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseScript(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": "/home/user", "N": "3"}
	for _, tc := range []struct {
		src  string
		want []step
	}{
		{"echo hi", []step{{"", []string{"echo", "hi"}}}},
		{"  echo   a\tb  ", []step{{"", []string{"echo", "a", "b"}}}},
		{`echo 'a b' "c d" e\ f`, []step{{"", []string{"echo", "a b", "c d", "e f"}}}},
		{`echo '$HOME' "$HOME" ${N}x $N$N $ "\$N" \$N`, []step{{"", []string{"echo", "$HOME", "/home/user", "3x", "33", "$", "$N", "$N"}}}},
		{`echo ""`, []step{{"", []string{"echo", ""}}}},
		{"a; b && c || d", []step{{"", []string{"a"}}, {";", []string{"b"}}, {"&&", []string{"c"}}, {"||", []string{"d"}}}},
		{"a &&\n  b\n\nc;", []step{{"", []string{"a"}}, {"&&", []string{"b"}}, {";", []string{"c"}}}},
		{"a # comment\nb", []step{{"", []string{"a"}}, {";", []string{"b"}}}},
		{";a", []step{{"", []string{"a"}}}},
		{"", nil},
	} {
		got, err := parseScript(tc.src, env)
		if err != nil {
			t.Errorf("parseScript(%q): %v", tc.src, err)
			continue
		}
		if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(step{})); d != "" {
			t.Errorf("parseScript(%q) (-want +got):\n%s", tc.src, d)
		}
	}
	for _, src := range []string{"a | b", "a > f", "a &", "echo 'open", `echo "open`, "&& a", "a &&", "a ;; b", "$(x)"} {
		if got, err := parseScript(src, env); err == nil {
			t.Errorf("parseScript(%q) = %v, want an error", src, got)
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
	for _, in := range []string{"", "x", "-1", "NaN", "1y"} {
		if _, err := parseSleep(in); err == nil {
			t.Errorf("parseSleep(%q) accepted", in)
		}
	}
	if d, err := parseSleep("1e300"); err != nil || d <= 0 {
		t.Errorf("parseSleep(1e300) = %v, %v; want a long positive duration", d, err)
	}
}
