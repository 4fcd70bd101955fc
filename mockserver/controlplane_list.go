package mockserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// Paging of the control plane's lists, as the service does it from API
// version 2026-04-28: opaque cursors bound to the query (filters and
// sort) and valid for a day, keyset positions (so deletions between pages
// do not shift them), a default and a clamped maximum page size.
const (
	// cpPagedVersion is the first API version (Blaxel-Version header)
	// that answers lists in pages.
	cpPagedVersion = "2026-04-28"
	// cpMaxLimit is the largest page size; larger ones are clamped.
	cpMaxLimit = 200
	// cpCursorLifetime is how long a cursor is accepted.
	cpCursorLifetime = 24 * time.Hour
)

// pagedVersion reports whether the Blaxel-Version header asks for pages.
func pagedVersion(v controlplanesrv.OptString) bool {
	s, ok := v.Get()
	if !ok {
		return false
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return false
	}
	return s >= cpPagedVersion
}

// cpKey is an item's position in a list: creation time and sequence, or
// name (id) and sequence.
type cpKey struct {
	T    int64  `json:"t,omitempty"`
	Seq  uint64 `json:"s,omitempty"`
	Name string `json:"n,omitempty"`
}

// cpOrder compares two keys in the order of sort (default createdAt:desc).
func cpOrder(sort string) func(a, b cpKey) int {
	switch sort {
	case "createdAt:asc":
		return func(a, b cpKey) int { return cmp.Or(cmp.Compare(a.T, b.T), cmp.Compare(a.Seq, b.Seq)) }
	case "name:asc":
		return func(a, b cpKey) int { return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Seq, b.Seq)) }
	case "name:desc":
		return func(a, b cpKey) int { return cmp.Or(strings.Compare(b.Name, a.Name), cmp.Compare(b.Seq, a.Seq)) }
	}
	return func(a, b cpKey) int { return cmp.Or(cmp.Compare(b.T, a.T), cmp.Compare(b.Seq, a.Seq)) }
}

// cpCursor is what an opaque cursor holds.
type cpCursor struct {
	Query  string `json:"q"` // fingerprint of the query
	After  cpKey  `json:"a"`
	Issued int64  `json:"i"` // Unix seconds on the server's clock
}

// cpPageReq is one page request.
type cpPageReq struct {
	query   string // fingerprint source: filters and sort
	sort    string
	limit   int
	cursor  string
	fromEnd bool
	now     time.Time
}

func fingerprint(query string) string {
	h := sha256.Sum256([]byte(query))
	return hex.EncodeToString(h[:8])
}

// start reads where req's page starts: after the key its cursor holds
// (after), at the end (fromEnd: the last page), or else at the first
// item. A cursor wins over anchor=end.
func (req cpPageReq) start() (after *cpKey, fromEnd bool, err *cpErr) {
	switch {
	case req.cursor != "":
		raw, err := base64.RawURLEncoding.DecodeString(req.cursor)
		var c cpCursor
		if err != nil || json.Unmarshal(raw, &c) != nil {
			return nil, false, cpErrorf(http.StatusBadRequest, "", "invalid cursor")
		}
		if c.Query != fingerprint(req.query) {
			return nil, false, cpErrorf(http.StatusBadRequest, "", "the cursor belongs to another query (filters or sort changed)")
		}
		if req.now.Sub(time.Unix(c.Issued, 0)) > cpCursorLifetime {
			return nil, false, cpErrorf(http.StatusBadRequest, "", "the cursor has expired")
		}
		return &c.After, false, nil
	case req.fromEnd:
		if strings.HasPrefix(req.sort, "name:") {
			return nil, false, cpErrorf(http.StatusBadRequest, "", "anchor=end needs a createdAt sort")
		}
		return nil, true, nil
	}
	return nil, false, nil
}

// cursorAfter is the cursor of req's query that resumes after the item
// at key.
func (req cpPageReq) cursorAfter(key cpKey) string {
	raw, _ := json.Marshal(cpCursor{Query: fingerprint(req.query), After: key, Issued: req.now.Unix()})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// cpPage cuts one page out of items (of any order); key gives each
// item's position. It returns the page, the next cursor ("" on the last
// page) and whether more follow.
func cpPage[T any](items []T, key func(T) cpKey, req cpPageReq) ([]T, string, bool, *cpErr) {
	order := cpOrder(req.sort)
	slices.SortStableFunc(items, func(a, b T) int { return order(key(a), key(b)) })
	after, fromEnd, err := req.start()
	if err != nil {
		return nil, "", false, err
	}
	start := 0
	switch {
	case after != nil:
		start, _ = slices.BinarySearchFunc(items, *after, func(it T, k cpKey) int {
			if order(key(it), k) <= 0 {
				return -1
			}
			return 1
		})
	case fromEnd:
		start = max(len(items)-req.limit, 0)
	}
	end := min(start+req.limit, len(items))
	page := items[start:end]
	if end >= len(items) || len(page) == 0 {
		return page, "", false, nil
	}
	return page, req.cursorAfter(key(page[len(page)-1])), true, nil
}

// clampLimit applies a list's default and maximum page size.
func clampLimit(v controlplanesrv.OptInt, def, maxLimit int) int {
	n := v.Or(def)
	return min(max(n, 1), maxLimit)
}

// normQuery is the q filter as the service applies it: trimmed, lower
// case, ignored when shorter than 2 characters.
func normQuery(v controlplanesrv.OptString) string {
	q := strings.ToLower(strings.TrimSpace(v.Or("")))
	if len([]rune(q)) < 2 {
		return ""
	}
	return q
}

func (sb *cpSandbox) matches(q string) bool {
	if q == "" || strings.Contains(sb.name, q) || strings.Contains(sb.displayLC, q) {
		return true
	}
	for k, v := range sb.labels {
		if strings.Contains(strings.ToLower(k), q) || strings.Contains(strings.ToLower(v), q) {
			return true
		}
	}
	return false
}

func (sb *cpSandbox) key() cpKey {
	return cpKey{T: sb.createdAt.UnixNano(), Seq: sb.seq, Name: sb.name}
}

// The orders of the control plane's list indexes: createdAt:asc and
// name:asc as [cpOrder] has them; createdAt:desc and name:desc are
// exactly their reverses.
func createdFirst(a, b *cpSandbox) int {
	return cmp.Or(cmp.Compare(a.createdAt.UnixNano(), b.createdAt.UnixNano()), cmp.Compare(a.seq, b.seq))
}

func nameFirst(a, b *cpSandbox) int {
	return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.seq, b.seq))
}

// cpExternalIDLabel is the label the list indexes file a sandbox's
// external id under.
const cpExternalIDLabel = "externalId"

// file files sb in the list indexes under its status and external id,
// or moves it there. Called with st.mu held, whenever either changes.
func (st *cpStore) file(sb *cpSandbox) {
	var ls []label
	if sb.externalID != "" {
		ls = []label{{cpExternalIDLabel, sb.externalID}}
	}
	st.byCreation.putLabels(sb.tenant, sb, sb.status, ls)
	st.byName.putLabels(sb.tenant, sb, sb.status, ls)
}

// walkOrder is the index that holds the list order sort, and whether the
// list walks it backwards.
func (st *cpStore) walkOrder(sort string) (*listIndex[*cpSandbox], bool) {
	switch sort {
	case "createdAt:asc":
		return st.byCreation, false
	case "name:asc":
		return st.byName, false
	case "name:desc":
		return st.byName, true
	}
	return st.byCreation, true // createdAt:desc, the default
}

// list answers GET /sandboxes: a page from API version 2026-04-28 on, a
// plain array of every matching sandbox before.
//
// The status filter (or the default of hiding TERMINATED) and externalId
// are answered by the list indexes, so a page of them costs
// O(c·log n + c·limit) for c matching statuses, whatever the number of
// sandboxes; anchor=end walks from the end at the same cost. q, a
// substring search over name, display name and labels, cannot be
// indexed: it is checked on the sandboxes the other filters leave, in
// list order, until the page is full, so a q that matches few of them
// costs a walk over all of them. A bare array costs O(matches).
func (st *cpStore) list(tenant string, p controlplanesrv.ListSandboxesParams) (controlplanesrv.SandboxListing, *cpErr) {
	var statuses []string
	if s, ok := p.Status.Get(); ok && s != "" {
		for v := range strings.SplitSeq(s, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains(cpStatuses, v) {
				return controlplanesrv.SandboxListing{}, cpErrorf(http.StatusBadRequest, "", "status %q is not one of %s", v, strings.Join(cpStatuses, ", "))
			}
			statuses = append(statuses, v)
		}
	}
	showTerminated := p.ShowTerminated.Or(false)
	externalID := p.ExternalID.Or("")
	paged := pagedVersion(p.BlaxelVersion)
	q := ""
	sort := ""
	if paged {
		q = normQuery(p.Q)
		sort = string(p.Sort.Or(""))
	}

	f := listFilter{}
	switch {
	case len(statuses) > 0:
		f.class = func(s string) bool { return slices.Contains(statuses, s) }
	case !showTerminated:
		f.class = func(s string) bool { return s != StatusTerminated }
	}
	if externalID != "" {
		f.labels = map[string]string{cpExternalIDLabel: externalID}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	render := func(items []*cpSandbox) []controlplanesrv.Sandbox {
		out := make([]controlplanesrv.Sandbox, 0, len(items))
		for _, sb := range items {
			v := st.view(sb)
			v.Events = nil // lists carry the lite shape, without history
			out = append(out, v)
		}
		return out
	}
	if !paged {
		return controlplanesrv.NewSandboxArraySandboxListing(render(slices.Collect(st.byCreation.walk(tenant, f, true, nil)))), nil
	}
	req := cpPageReq{
		query: strings.Join([]string{"sandboxes", strings.Join(statuses, ","), boolText(showTerminated), externalID, q, sort}, "\x00"),
		sort:  sort, limit: clampLimit(p.Limit, 50, cpMaxLimit), cursor: p.Cursor.Or(""),
		fromEnd: p.Anchor.Or("") == controlplanesrv.AnchorEnd, now: st.srv.clock.Now(),
	}
	after, fromEnd, err := req.start()
	if err != nil {
		return controlplanesrv.SandboxListing{}, err
	}
	// The indexes answer status and external id; q is checked on what
	// they yield, until the page (and one more, to tell whether more
	// follow) is full.
	ix, reverse := st.walkOrder(sort)
	var skip func(*cpSandbox) bool
	if after != nil {
		order := cpOrder(sort)
		skip = func(sb *cpSandbox) bool { return order(sb.key(), *after) <= 0 }
	}
	want := req.limit + 1
	if fromEnd {
		reverse, want = !reverse, req.limit // the last page, read from the end
	}
	var page []*cpSandbox
	for sb := range ix.walk(tenant, f, reverse, skip) {
		if !sb.matches(q) {
			continue
		}
		page = append(page, sb)
		if len(page) == want {
			break
		}
	}
	more, next := false, ""
	switch {
	case fromEnd:
		slices.Reverse(page)
	case len(page) > req.limit:
		page = page[:req.limit]
		more, next = true, req.cursorAfter(page[len(page)-1].key())
	}
	total := 0
	if t := st.tenants[tenant]; t != nil {
		total = len(t.order)
	}
	return controlplanesrv.NewSandboxPageSandboxListing(controlplanesrv.SandboxPage{
		Data: render(page),
		Meta: controlplanesrv.NewOptPageMeta(pageMeta(more, next, total)),
	}), nil
}

func pageMeta(more bool, next string, total int) controlplanesrv.PageMeta {
	return controlplanesrv.PageMeta{
		HasMore:    controlplanesrv.NewOptBool(more),
		NextCursor: controlplanesrv.NewOptString(next),
		Total:      controlplanesrv.NewOptInt(total),
	}
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
