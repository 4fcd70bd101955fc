package sandbox

import (
	"bytes"
	"unicode/utf8"
)

// How a Terminal lines a replay up with what it has already delivered.
//
// The server keeps the last bytes of a session's output (at most
// serverReplayCap, trimmed at a line start) and sends them, as one output
// message starting with an attribute reset (ESC [0m), to every client that
// attaches to the session. It numbers nothing, so the terminal finds the
// part of the replay it has not delivered yet by comparing the replay with
// its own history of delivered output:
//
//   - If the replay starts with everything delivered so far, the rest of
//     it is new. This is the common case: the session has written less
//     than the server keeps.
//   - If the replay is as long as the server keeps (its start has been
//     cut), the longest prefix of the replay that is a suffix of the
//     history has been delivered; the rest is new. A prefix of zero means
//     that more than the server keeps was written while the terminal was
//     away: the start of that is lost.
//   - Otherwise the history lacks a piece the replay has (the server drops
//     live output for a client that does not keep up): the new part starts
//     after the last place in the replay where the history's last
//     anchorLen symbols occur.
//   - If none of these holds, the replay belongs to another session: the
//     shell under the same id has ended and the server started a new one.
//
// Live output and replays differ in one more way: the server cuts its live
// output into chunks without regard to UTF-8, and the JSON encoding turns
// each byte of a character cut in two into U+FFFD, while the replay holds
// the character whole. Both sides are therefore compared after folding
// every run of non-ASCII bytes into a single symbol (runMark).

const (
	// serverReplayCap is how much output the real server keeps per
	// session for replays (100 KiB).
	serverReplayCap = 100 << 10
	// replayFloor: a replay at least this long comes from a buffer the
	// server has trimmed (it trims to between serverReplayCap-256 and
	// serverReplayCap bytes).
	replayFloor = serverReplayCap - 4<<10
	// historyCap is how much delivered output a Terminal keeps to line
	// replays up with; more than the server keeps.
	historyCap = 128 << 10
	// anchorLen is how many of the history's last symbols are looked for
	// in a replay that neither starts with the whole history nor is full;
	// at least minAnchorLen must be there.
	anchorLen    = 256
	minAnchorLen = 32
	// runMark stands for a run of non-ASCII bytes in folded text.
	runMark = 0x80
)

// replayPrefix is what the server puts in front of a replay.
const replayPrefix = "\x1b[0m"

// termHistory is the tail of the output a Terminal has delivered.
type termHistory struct {
	buf   []byte // the last delivered bytes, at most 2*historyCap
	seen  int64  // symbols delivered in all, folded as described above
	inRun bool   // the last byte delivered was not ASCII
}

// add records delivered output.
func (h *termHistory) add(p []byte) {
	for _, c := range p {
		switch {
		case c < utf8.RuneSelf:
			h.seen++
			h.inRun = false
		case !h.inRun:
			h.seen++
			h.inRun = true
		}
	}
	h.buf = append(h.buf, p...)
	if len(h.buf) > 2*historyCap {
		n := copy(h.buf, h.buf[len(h.buf)-historyCap:])
		h.buf = h.buf[:n]
	}
}

// tail returns at most historyCap of the last delivered bytes.
func (h *termHistory) tail() []byte {
	if len(h.buf) > historyCap {
		return h.buf[len(h.buf)-historyCap:]
	}
	return h.buf
}

// resume returns how many leading bytes of replay (without replayPrefix)
// have been delivered already. ok is false when the replay cannot be the
// session the history comes from.
func (h *termHistory) resume(replay []byte) (skip int, ok bool) {
	if h.seen == 0 {
		return 0, true
	}
	hist := h.tail()
	hn, _ := fold(hist)
	rn, ends := fold(replay)
	n := overlap(rn, hn)
	switch {
	case int64(n) == h.seen:
		// The replay starts with everything delivered.
	case len(replay) >= replayFloor:
		// The server trimmed its buffer; n may be 0 (a gap).
	case len(hn) >= minAnchorLen:
		anchor := hn[len(hn)-min(len(hn), anchorLen):]
		i := bytes.LastIndex(rn, anchor)
		if i < 0 {
			return 0, false
		}
		n = i + len(anchor)
	default:
		return 0, false
	}
	return boundary(replay, rn, ends, n, hist), true
}

// boundary converts a count n of folded symbols of replay into a byte
// offset. When the last of them is a run of non-ASCII bytes, the history
// may have seen only the start of it (the connection dropped in the middle
// of the run): the offset then ends where the history's last run ends, if
// the replay's run starts with it.
func boundary(replay, rn []byte, ends []int, n int, hist []byte) int {
	if n == 0 {
		return 0
	}
	end := ends[n-1]
	if rn[n-1] != runMark {
		return end
	}
	start := 0
	if n > 1 {
		start = ends[n-2]
	}
	k := len(hist)
	for k > 0 && hist[k-1] >= utf8.RuneSelf {
		k--
	}
	if last := hist[k:]; bytes.HasPrefix(replay[start:end], last) {
		return start + len(last)
	}
	return end
}

// fold returns b with every run of non-ASCII bytes replaced by runMark,
// and for each symbol of the result the offset in b just after it.
func fold(b []byte) (folded []byte, ends []int) {
	folded = make([]byte, 0, len(b))
	ends = make([]int, 0, len(b))
	for i, c := range b {
		if c < utf8.RuneSelf {
			folded = append(folded, c)
			ends = append(ends, i+1)
			continue
		}
		if len(folded) > 0 && folded[len(folded)-1] == runMark {
			ends[len(ends)-1] = i + 1
			continue
		}
		folded = append(folded, runMark)
		ends = append(ends, i+1)
	}
	return folded, ends
}

// overlap returns the length of the longest prefix of p that is a suffix
// of t (Knuth–Morris–Pratt).
func overlap(p, t []byte) int {
	if len(p) == 0 || len(t) == 0 {
		return 0
	}
	if len(t) > len(p) {
		t = t[len(t)-len(p):] // a longer suffix cannot match
	}
	fail := make([]int, len(p))
	for i, k := 1, 0; i < len(p); i++ {
		for k > 0 && p[i] != p[k] {
			k = fail[k-1]
		}
		if p[i] == p[k] {
			k++
		}
		fail[i] = k
	}
	q := 0
	for _, c := range t {
		if q == len(p) {
			q = fail[q-1]
		}
		for q > 0 && c != p[q] {
			q = fail[q-1]
		}
		if c == p[q] {
			q++
		}
	}
	return q
}

// utf8Split returns the length of the longest prefix of b that does not
// end inside a UTF-8 sequence that more bytes could still complete; the
// rest (at most 3 bytes) is held back until the next write.
func utf8Split(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if !utf8.RuneStart(b[i]) {
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return i
		}
		break
	}
	return len(b)
}
