package guest

import (
	"context"
	"fmt"
	"path"
	"slices"
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

// excludeSet reads an excludeDirs parameter: absent means the defaults,
// empty means none (as our spec documents; the real server treats an
// empty value like an absent one).
func excludeSet(p sandboxsrv.OptString) map[string]bool {
	names := defaultExcludeDirs
	if p.Set {
		names = splitList(p.Value)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

// splitList splits a comma-separated parameter, trimming and dropping
// empty elements.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
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
// whose names match, with paths relative to it.
func (h handler) FindFiles(_ context.Context, params sandboxsrv.FindFilesParams) (sandboxsrv.FindFilesRes, error) {
	limit, ok := maxResults(params.MaxResults, 20)
	if !ok {
		return &sandboxsrv.FindFilesBadRequest{Error: fmt.Sprintf("invalid maxResults: %d", params.MaxResults.Value)}, nil
	}
	kind := params.Type.Or("file")
	if kind != "file" && kind != "directory" {
		return &sandboxsrv.FindFilesBadRequest{Error: "invalid search type: " + kind}, nil
	}
	patterns := splitList(params.Patterns.Or(""))
	exclude := excludeSet(params.ExcludeDirs)
	hidden := params.ExcludeHidden.Or(true)
	root := h.abs(params.Path)

	h.mu.Lock()
	defer h.mu.Unlock()
	start, err := h.lookupLocked(root)
	if err != nil {
		return &sandboxsrv.FindFilesInternalServerError{Error: "error walking directory: " + err.Error()}, nil
	}
	matches := []sandboxsrv.FindMatch{}
	walkLocked(start, root, func(p string, n *node) bool {
		if limit >= 0 && len(matches) >= limit {
			return false
		}
		base := path.Base(p)
		if n.dir && exclude[base] && p != root {
			return false
		}
		if hidden && strings.HasPrefix(base, ".") && p != root {
			return false
		}
		switch {
		case kind == "file" && n.dir, kind == "directory" && !n.dir:
			return true
		case !n.dir && len(patterns) > 0 && !matchAny(patterns, base):
			return true
		}
		t := "file"
		if n.dir {
			t = "directory"
		}
		matches = append(matches, sandboxsrv.FindMatch{Path: rel(root, p), Type: t})
		return true
	})
	return &sandboxsrv.FindResponse{Matches: matches, Total: len(matches)}, nil
}

// FuzzySearch implements GET /filesystem-search/{path}: the paths below
// path scored against a fuzzy pattern, best first.
//
// The real server matches against the requested path itself (and ignores
// patterns); the mock matches against the comma-separated patterns when
// given (stars removed, best term wins) and otherwise against the last
// element of the requested path.
func (h handler) FuzzySearch(_ context.Context, params sandboxsrv.FuzzySearchParams) (sandboxsrv.FuzzySearchRes, error) {
	limit, ok := maxResults(params.MaxResults, 20)
	if !ok {
		return &sandboxsrv.FuzzySearchBadRequest{Error: fmt.Sprintf("invalid maxResults: %d", params.MaxResults.Value)}, nil
	}
	var terms []string
	for _, t := range splitList(params.Patterns.Or("")) {
		if t = strings.ReplaceAll(t, "*", ""); t != "" {
			terms = append(terms, t)
		}
	}
	root := h.abs(params.Path)
	if len(terms) == 0 {
		if b := path.Base(root); b != "/" {
			terms = []string{b}
		}
	}
	if len(terms) == 0 {
		return &sandboxsrv.FuzzySearchBadRequest{Error: "query parameter is required in path"}, nil
	}
	exclude := excludeSet(params.ExcludeDirs)
	hidden := params.ExcludeHidden.Or(true)

	h.mu.Lock()
	start, err := h.lookupLocked(root)
	if err != nil {
		h.mu.Unlock()
		return &sandboxsrv.FuzzySearchInternalServerError{Error: "error walking directory: " + err.Error()}, nil
	}
	var matches []sandboxsrv.FuzzySearchMatch
	walkLocked(start, root, func(p string, n *node) bool {
		if p == root {
			return true
		}
		base := path.Base(p)
		if hidden && strings.HasPrefix(base, ".") || n.dir && exclude[base] {
			return false
		}
		r := rel(root, p)
		best := -1
		for _, t := range terms {
			best = max(best, fuzzyScore(r, t))
		}
		if best >= 0 {
			t := "file"
			if n.dir {
				t = "directory"
			}
			matches = append(matches, sandboxsrv.FuzzySearchMatch{Path: r, Score: best, Type: t})
		}
		return true
	})
	h.mu.Unlock()
	slices.SortStableFunc(matches, func(a, b sandboxsrv.FuzzySearchMatch) int { return b.Score - a.Score })
	if limit >= 0 && len(matches) > limit {
		matches = matches[:limit]
	}
	if matches == nil {
		matches = []sandboxsrv.FuzzySearchMatch{}
	}
	return &sandboxsrv.FuzzySearchResponse{Matches: matches, Total: len(matches)}, nil
}

// fuzzyScore scores pattern against s as an ordered, case-insensitive
// subsequence: -1 when it does not match, otherwise higher for
// consecutive characters, matches at word starts and shorter strings.
func fuzzyScore(s, pattern string) int {
	sr, pr := []rune(strings.ToLower(s)), []rune(strings.ToLower(pattern))
	if len(pr) == 0 {
		return -1
	}
	score, j, prev := 0, 0, -2
	for i := 0; i < len(sr) && j < len(pr); i++ {
		if sr[i] != pr[j] {
			continue
		}
		score += 16
		if i == prev+1 {
			score += 8
		}
		if i == 0 || !unicode.IsLetter(sr[i-1]) && !unicode.IsDigit(sr[i-1]) {
			score += 8
		}
		prev = i
		j++
	}
	if j < len(pr) {
		return -1
	}
	return max(score-len(sr)/4, 0)
}

// ContentSearch implements GET /filesystem-content-search/{path}: lines
// of the files below path that contain query. Columns count from 1; the
// context is the line before and the line after.
func (h handler) ContentSearch(_ context.Context, params sandboxsrv.ContentSearchParams) (sandboxsrv.ContentSearchRes, error) {
	if params.Query == "" {
		return &sandboxsrv.ContentSearchBadRequest{Error: "query parameter is required"}, nil
	}
	limit, ok := maxResults(params.MaxResults, 100)
	if !ok {
		return &sandboxsrv.ContentSearchBadRequest{Error: fmt.Sprintf("invalid maxResults: %d", params.MaxResults.Value)}, nil
	}
	sensitive := params.CaseSensitive.Or(false)
	query := params.Query
	if !sensitive {
		query = strings.ToLower(query)
	}
	filePattern := params.FilePattern.Or("")
	exclude := excludeSet(params.ExcludeDirs)
	root := h.abs(params.Path)

	h.mu.Lock()
	defer h.mu.Unlock()
	start, err := h.lookupLocked(root)
	if err != nil {
		return &sandboxsrv.ContentSearchInternalServerError{Error: "error walking directory: " + err.Error()}, nil
	}
	var matches []sandboxsrv.ContentSearchMatch
	walkLocked(start, root, func(p string, n *node) bool {
		if limit >= 0 && len(matches) >= limit {
			return false
		}
		if n.dir {
			return p == root || !exclude[path.Base(p)]
		}
		if filePattern != "" && !matchAny([]string{filePattern}, path.Base(p)) {
			return true
		}
		lines := strings.Split(string(n.data), "\n")
		for i, line := range lines {
			if limit >= 0 && len(matches) >= limit {
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
			ctx := lines[max(i-1, 0):min(i+2, len(lines))]
			matches = append(matches, sandboxsrv.ContentSearchMatch{
				Path:    rel(root, p),
				Line:    i + 1,
				Column:  col + 1,
				Text:    line,
				Context: sandboxsrv.NewOptString(strings.Join(ctx, "\n")),
			})
		}
		return true
	})
	return &sandboxsrv.ContentSearchResponse{Query: params.Query, Matches: matches, Total: len(matches)}, nil
}
