package guest

import (
	"context"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// defaultExcludeDirs are the directories searches skip unless told
// otherwise, as on the real server.
var defaultExcludeDirs = []string{
	"node_modules", "vendor", ".git", "dist", "build",
	"target", "__pycache__", ".venv", ".next", "coverage",
}

// excludeSet reads an excludeDirs parameter as the server does: absent or
// empty means the defaults; otherwise the comma-separated names, trimmed,
// empty ones ignored (so "," excludes nothing).
func excludeSet(p sandboxsrv.OptString) map[string]bool {
	names := defaultExcludeDirs
	if p.Set && p.Value != "" {
		names = strings.Split(p.Value, ",")
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out[n] = true
		}
	}
	return out
}

// splitPatterns splits a patterns parameter: comma-separated, trimmed.
func splitPatterns(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// maxResults reads a maxResults parameter: def when absent, -1 (no bound)
// for 0, at most 1000; ok is false for a negative value.
func maxResults(p sandboxsrv.OptInt, def int) (n int, ok bool) {
	if !p.Set {
		return def, true
	}
	switch v := p.Value; {
	case v < 0:
		return 0, false
	case v == 0:
		return -1, true
	default:
		return min(v, 1000), true
	}
}

func matchAny(patterns []string, name string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// rel returns p relative to root.
func rel(root, p string) string {
	if p == root {
		return "."
	}
	if root == "/" {
		return strings.TrimPrefix(p, "/")
	}
	return strings.TrimPrefix(p, root+"/")
}

// FindFiles implements GET /filesystem-find/{path}: entries below path
// whose names match, with paths relative to it. As on the server, type
// defaults to file, the hidden and excluded-directory rules apply to the
// starting directory itself, and a path that is a file finds itself (".").
func (h handler) FindFiles(_ context.Context, params sandboxsrv.FindFilesParams) (*sandboxsrv.FindResponse, error) {
	limit, ok := maxResults(params.MaxResults, 20)
	if !ok {
		return nil, failure(http.StatusBadRequest, "invalid maxResults: "+strconv.Itoa(params.MaxResults.Value))
	}
	kind := "file"
	if t := params.Type.Or(""); t != "" {
		kind = t
		if kind != "file" && kind != "directory" {
			return nil, failure(http.StatusBadRequest, "invalid search type: "+kind)
		}
	}
	patterns := splitPatterns(params.Patterns.Or(""))
	exclude := excludeSet(params.ExcludeDirs)
	hidden := params.ExcludeHidden.Or(true)
	root := h.abs(params.Path)

	h.mu.Lock()
	defer h.mu.Unlock()
	start, err := h.lookupLocked(root)
	if err != nil {
		return nil, failure(http.StatusInternalServerError, "error walking directory: "+strings.Replace(err.Error(), "stat ", "lstat ", 1))
	}
	matches := []sandboxsrv.FindMatch{}
	walkLocked(start, root, func(p string, n *node) bool {
		base := path.Base(p)
		if n.dir && exclude[base] {
			return false
		}
		if hidden && strings.HasPrefix(base, ".") {
			return false
		}
		switch {
		case kind == "file" && n.dir, kind == "directory" && !n.dir:
			return true
		case !n.dir && len(patterns) > 0 && !matchAny(patterns, base):
			return true
		}
		if limit < 0 || len(matches) < limit {
			t := "file"
			if n.dir {
				t = "directory"
			}
			matches = append(matches, sandboxsrv.FindMatch{Path: rel(root, p), Type: t})
		}
		return true
	})
	return &sandboxsrv.FindResponse{Matches: matches, Total: len(matches)}, nil
}

// FuzzySearch implements GET /filesystem-search/{path}. As on the real
// server, the path is both where to search and what to search for: the
// entries below it whose relative paths contain its characters in order
// are scored with fzf's algorithm as the server runs it, best first;
// patterns is parsed and ignored.
func (h handler) FuzzySearch(_ context.Context, params sandboxsrv.FuzzySearchParams) (*sandboxsrv.FuzzySearchResponse, error) {
	limit, ok := maxResults(params.MaxResults, 20)
	if !ok {
		return nil, failure(http.StatusBadRequest, "invalid maxResults: "+strconv.Itoa(params.MaxResults.Value))
	}
	exclude := excludeSet(params.ExcludeDirs)
	hidden := params.ExcludeHidden.Or(true)
	query := params.Path
	root := h.abs(query)
	if query == "" || query == "/" || query == "." {
		return nil, failure(http.StatusBadRequest, "query parameter is required in path")
	}

	h.mu.Lock()
	var matches []sandboxsrv.FuzzySearchMatch
	if start, err := h.lookupLocked(root); err == nil {
		walkLocked(start, root, func(p string, n *node) bool {
			base := path.Base(p)
			if hidden && strings.HasPrefix(base, ".") || n.dir && exclude[base] {
				return false
			}
			if p == root {
				return true
			}
			r := rel(root, p)
			if score, ok := fzfScore(r, query); ok {
				t := "file"
				if n.dir {
					t = "directory"
				}
				matches = append(matches, sandboxsrv.FuzzySearchMatch{Path: r, Score: score, Type: t})
			}
			return true
		})
	}
	h.mu.Unlock()
	slices.SortStableFunc(matches, func(a, b sandboxsrv.FuzzySearchMatch) int { return b.Score - a.Score })
	if limit > 0 && len(matches) > limit {
		matches = matches[:limit]
	}
	if matches == nil {
		matches = []sandboxsrv.FuzzySearchMatch{}
	}
	return &sandboxsrv.FuzzySearchResponse{Matches: matches, Total: len(matches)}, nil
}

// Scores of fzf's fuzzy matcher (version 2).
const (
	fzfMatch       = 16
	fzfGapStart    = -3
	fzfGapExtend   = -1
	fzfConsecutive = 4
)

// fzfScore scores text against pattern as the real server's call of fzf's
// FuzzyMatchV2 does. The server hands fzf runes, never initializes fzf's
// character classes and passes the pattern as is: so no position earns a
// word-boundary bonus and ASCII letters match only in the same case
// (non-ASCII capitals are folded).
func fzfScore(text, pattern string) (int, bool) {
	t, p := []rune(text), []rune(pattern)
	m, n := len(p), len(t)
	if m == 0 {
		return 0, true
	}
	if m > n {
		return 0, false
	}
	for i, r := range t {
		if r >= 0x80 && unicode.IsUpper(r) {
			t[i] = unicode.ToLower(r)
		}
	}
	// The first occurrence of each pattern character, in order, and the
	// last occurrence of the last one.
	first := make([]int, m)
	k, last := 0, -1
	for i, r := range t {
		if r == p[min(k, m-1)] {
			if k < m {
				first[k] = i
				k++
			}
			last = i
		}
	}
	if k < m {
		return 0, false
	}
	// Row 0: the first pattern character.
	h0 := make([]int, n)
	c0 := make([]int, n)
	prev, inGap, best := 0, false, 0
	for i, r := range t {
		if r == p[0] {
			h0[i], c0[i], inGap = fzfMatch, 1, false
		} else {
			gap := fzfGapStart
			if inGap {
				gap = fzfGapExtend
			}
			h0[i], inGap = max(prev+gap, 0), true
		}
		prev = h0[i]
	}
	if m == 1 {
		for _, v := range h0 {
			best = max(best, v)
		}
		return best, true
	}
	hPrev, cPrev := h0, c0
	for row := 1; row < m; row++ {
		h := make([]int, n)
		c := make([]int, n)
		inGap := false
		left := 0
		for col := first[row]; col <= last; col++ {
			gap := fzfGapStart
			if inGap {
				gap = fzfGapExtend
			}
			s2 := left + gap
			if col == first[row] {
				s2 = gap
			}
			s1, consecutive := 0, 0
			if t[col] == p[row] {
				diag, cdiag := 0, 0
				if col > 0 {
					diag, cdiag = hPrev[col-1], cPrev[col-1]
				}
				s1 = diag + fzfMatch
				consecutive = cdiag + 1
				b := 0
				if consecutive > 1 {
					b = fzfConsecutive
				}
				if s1+b < s2 {
					consecutive = 0
				} else {
					s1 += b
				}
			}
			c[col] = consecutive
			inGap = s1 < s2
			score := max(s1, s2, 0)
			if row == m-1 && score > best {
				best = score
			}
			h[col] = score
			left = score
		}
		hPrev, cPrev = h, c
	}
	return best, true
}

// ContentSearch implements GET /filesystem-content-search/{path}: the lines
// of the regular files below path that contain query (hidden files
// included), with 1-based line and column, without context. As on the
// real server, "/" and "." search the working directory, and maxResults=0
// yields a single match.
func (h handler) ContentSearch(_ context.Context, params sandboxsrv.ContentSearchParams) (*sandboxsrv.ContentSearchResponse, error) {
	if params.Query == "" {
		return nil, failure(http.StatusBadRequest, "query parameter is required")
	}
	dir := params.Path
	h.mu.Lock()
	if dir != "" && dir != "/" && dir != "." {
		dir = h.formatPath(dir)
		n, err := h.statLocked(dir)
		switch {
		case err != nil && !isNotExist(err):
			h.mu.Unlock()
			return nil, failure(http.StatusUnprocessableEntity, err.Error())
		case err != nil || !n.dir:
			h.mu.Unlock()
			return nil, failure(http.StatusBadRequest, "specified directory does not exist: "+dir)
		}
	} else {
		dir = "."
	}
	h.mu.Unlock()
	sensitive := params.CaseSensitive.Or(false)
	limit, ok := maxResults(params.MaxResults, 100)
	if !ok {
		return nil, failure(http.StatusBadRequest, "invalid maxResults: "+strconv.Itoa(params.MaxResults.Value))
	}
	if limit < 0 {
		limit = 1 // the server's collector stops at its first match then
	}
	query := params.Query
	if !sensitive {
		query = strings.ToLower(query)
	}
	filePattern := params.FilePattern.Or("")
	exclude := excludeSet(params.ExcludeDirs)
	root := h.abs(dir)

	h.mu.Lock()
	defer h.mu.Unlock()
	var matches []sandboxsrv.ContentSearchMatch
	if start, err := h.lookupLocked(root); err == nil {
		walkLocked(start, root, func(p string, n *node) bool {
			if len(matches) >= limit {
				return false
			}
			if n.dir {
				return !exclude[path.Base(p)]
			}
			if filePattern != "" && !matchAny([]string{filePattern}, path.Base(p)) {
				return true
			}
			for i, line := range strings.Split(string(n.data), "\n") {
				if len(matches) >= limit {
					break
				}
				hay := line
				if !sensitive {
					hay = strings.ToLower(line)
				}
				col := strings.Index(hay, query)
				if col < 0 {
					continue
				}
				matches = append(matches, sandboxsrv.ContentSearchMatch{
					Path: rel(root, p), Line: i + 1, Column: col + 1, Text: line,
				})
			}
			return true
		})
	}
	return &sandboxsrv.ContentSearchResponse{Query: params.Query, Matches: matches, Total: len(matches)}, nil
}
