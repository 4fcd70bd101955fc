package sandbox

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// lines returns n numbered lines of output, "line 0000…\r\n" and so on.
func lines(from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "line %06d %s\r\n", i, strings.Repeat("x", 40))
	}
	return b.String()
}

// serverReplay is what sandbox-api replays of output total: all of it,
// or its last serverReplayCap bytes from the next line start within 256
// bytes of the cut.
func serverReplay(total string) string {
	if len(total) <= serverReplayCap {
		return total
	}
	cut := len(total) - serverReplayCap
	if i := strings.IndexByte(total[cut:cut+256], '\n'); i >= 0 {
		cut += i + 1
	}
	return total[cut:]
}

func history(delivered ...string) *termHistory {
	h := &termHistory{}
	for _, d := range delivered {
		h.add([]byte(d))
	}
	return h
}

// TestResume checks where a replay is lined up with the delivered output:
// the part returned as new is exactly what was not delivered, or the
// replay is refused as another session's.
func TestResume(t *testing.T) {
	t.Parallel()
	big := lines(0, 3000) // about 150 KiB
	e := "é"
	cases := []struct {
		name      string
		delivered []string // as Read returned it, chunk by chunk
		replay    string
		wantNew   string
		lost      bool
	}{
		{name: "nothing delivered", replay: "$ ls\r\n", wantNew: "$ ls\r\n"},
		{name: "replay extends the history", delivered: []string{"$ ", "echo a\r\n"}, replay: "$ echo a\r\na\r\n$ ", wantNew: "a\r\n$ "},
		{name: "nothing new", delivered: []string{"$ echo a\r\na\r\n$ "}, replay: "$ echo a\r\na\r\n$ ", wantNew: ""},
		{name: "repeated output, untrimmed", delivered: []string{strings.Repeat("y\r\n", 1000)}, replay: strings.Repeat("y\r\n", 1005), wantNew: "y\r\ny\r\ny\r\ny\r\ny\r\n"},
		{name: "new shell, same prompt", delivered: []string{"$ echo hello\r\nhello\r\n$ "}, replay: "$ ", lost: true},
		{name: "new shell, long history", delivered: []string{lines(0, 10)}, replay: "$ ", lost: true},
		{name: "new shell, empty replay", delivered: []string{"$ "}, replay: "", lost: true},
		{
			name:      "trimmed replay overlapping the history",
			delivered: []string{big[:120_000]},
			replay:    serverReplay(big),
			wantNew:   big[120_000:],
		},
		{
			name:      "trimmed replay, history longer than kept",
			delivered: []string{lines(0, 5000), big[:140_000]},
			replay:    serverReplay(lines(0, 5000) + big),
			wantNew:   big[140_000:],
		},
		{
			// More than the server keeps was written while away: the
			// start of it is gone, the rest is new.
			name:      "trimmed replay after a gap",
			delivered: []string{big[:20_000]},
			replay:    serverReplay(big),
			wantNew:   serverReplay(big),
		},
		{
			// The server cut "é" between two live chunks, which arrived as
			// U+FFFD twice; the replay has it whole.
			name:      "character split by the server",
			delivered: []string{"abc\ufffd", "\ufffddef"},
			replay:    "abc" + e + "defgh",
			wantNew:   "gh",
		},
		{
			name:      "drop in the middle of non-ASCII text",
			delivered: []string{"naïve café "},
			replay:    "naïve café über",
			wantNew:   "über",
		},
		{
			name:      "drop inside a run of non-ASCII characters",
			delivered: []string{"x ", "éü"},
			replay:    "x éüßñ!",
			wantNew:   "ßñ!",
		},
		{
			// The server dropped a live chunk; the anchor (the last symbols
			// delivered) is found in the replay.
			name:      "history with a hole",
			delivered: []string{lines(0, 40), lines(45, 40)},
			replay:    lines(0, 90),
			wantNew:   lines(85, 5),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := history(tc.delivered...)
			skip, ok := h.resume([]byte(tc.replay))
			if tc.lost {
				if ok {
					t.Fatalf("resume = %d, true; want the replay refused", skip)
				}
				return
			}
			if !ok {
				t.Fatal("resume refused the replay")
			}
			if got := tc.replay[skip:]; got != tc.wantNew {
				t.Errorf("new output = %q (%d bytes), want %q (%d bytes)", trunc(got), len(got), trunc(tc.wantNew), len(tc.wantNew))
			}
		})
	}
}

// TestResumeRepeatedTrimmed: a trimmed replay of one line over and over
// lines up as late as it can: output is skipped rather than repeated (the
// limit the Terminal documents), so no more is delivered than is new.
func TestResumeRepeatedTrimmed(t *testing.T) {
	t.Parallel()
	total := strings.Repeat("y\r\n", 50_000)
	const delivered = 100_002
	h := history(total[:delivered])
	replay := serverReplay(total)
	skip, ok := h.resume([]byte(replay))
	if !ok {
		t.Fatal("resume refused the replay")
	}
	if n := len(replay) - skip; n > len(total)-delivered || n%3 != 0 {
		t.Errorf("%d bytes delivered as new, want whole lines and at most %d", n, len(total)-delivered)
	}
}

// TestHistoryBounded: the history keeps the end of the output in bounded
// memory and still counts all of it.
func TestHistoryBounded(t *testing.T) {
	t.Parallel()
	h := &termHistory{}
	chunk := []byte(lines(0, 100))
	for range 200 {
		h.add(chunk)
	}
	if len(h.buf) > 2*historyCap {
		t.Errorf("history holds %d bytes, want at most %d", len(h.buf), 2*historyCap)
	}
	if tail := h.tail(); len(tail) != historyCap || !bytes.HasSuffix(tail, chunk) {
		t.Errorf("tail is %d bytes, want the last %d", len(tail), historyCap)
	}
	if want := int64(200 * len(chunk)); h.seen != want {
		t.Errorf("seen = %d, want %d", h.seen, want)
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	folded, ends := fold([]byte("aé€b\ufffd"))
	if want := "a\x80b\x80"; string(folded) != want {
		t.Errorf("fold = %q, want %q", folded, want)
	}
	if want := []int{1, 6, 7, 10}; fmt.Sprint(ends) != fmt.Sprint(want) {
		t.Errorf("ends = %v, want %v", ends, want)
	}
}

func TestOverlap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, t string
		want int
	}{
		{"abcdef", "xxabc", 3},
		{"abcdef", "abcdef", 6},
		{"abcdef", "zzzabcdef", 6},
		{"aab", "aaaa", 2},
		{"abab", "xabab", 4},
		{"abc", "", 0},
		{"", "abc", 0},
		{"abc", "xyz", 0},
	} {
		if got := overlap([]byte(tc.p), []byte(tc.t)); got != tc.want {
			t.Errorf("overlap(%q, %q) = %d, want %d", tc.p, tc.t, got, tc.want)
		}
	}
}

func TestUTF8Split(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"abc", 3},
		{"ab\xc3", 2},
		{"ab\xe2\x82", 2},
		{"ab\xe2\x82\xac", 5},
		{"ab\xf0\x9f\x98", 2},
		{"ab\xff", 3},
		{"\x80", 1},
		{"", 0},
	} {
		if got := utf8Split([]byte(tc.in)); got != tc.want {
			t.Errorf("utf8Split(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}

// BenchmarkResume measures lining up a full (trimmed) replay with a full
// history, the most a reconnection costs.
func BenchmarkResume(b *testing.B) {
	big := lines(0, 3000)
	h := history(big[:140_000])
	replay := []byte(serverReplay(big))
	b.SetBytes(int64(len(replay)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := h.resume(replay); !ok {
			b.Fatal("refused")
		}
	}
}
