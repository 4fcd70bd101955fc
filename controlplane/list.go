package controlplane

import (
	"cmp"
	"context"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// PagedAPIVersion is the control plane API version this package asks for
// (header Blaxel-Version) on list calls. From it on, the service answers
// lists in pages, {data, meta}, and honours the search and sort
// parameters; an older service answers a plain array of everything, which
// List also understands (see [ListOptions]).
const PagedAPIVersion = "2026-04-28"

// Limits of [ListOptions.Limit].
const (
	// DefaultListLimit is the page size the service uses when none is
	// given.
	DefaultListLimit = 50
	// MaxListLimit is the largest page size the service gives; List
	// rejects larger ones.
	MaxListLimit = 200
	// maxQueryLength is the longest [ListOptions.Query] the service takes.
	maxQueryLength = 200
)

// SortOrder orders a sandbox list.
type SortOrder string

// The orders the service offers.
const (
	// SortNewestFirst orders by creation time, newest first; it is the
	// service's default.
	SortNewestFirst SortOrder = "createdAt:desc"
	// SortOldestFirst orders by creation time, oldest first.
	SortOldestFirst SortOrder = "createdAt:asc"
	// SortNameAsc orders by name, A to Z.
	SortNameAsc SortOrder = "name:asc"
	// SortNameDesc orders by name, Z to A.
	SortNameDesc SortOrder = "name:desc"
)

// ListOptions filters and pages [Client.List] and [Client.All]. The zero
// value lists the sandboxes that are not TERMINATED, newest first, 50 per
// page.
type ListOptions struct {
	// Statuses keeps sandboxes in any of these statuses. Each must be a
	// documented one ([Status.Known]); the service refuses others. It
	// overrides ShowTerminated: TERMINATED sandboxes are listed when it
	// names TERMINATED.
	Statuses []Status
	// ShowTerminated also lists TERMINATED sandboxes, which the service
	// leaves out by default.
	ShowTerminated bool
	// ExternalID keeps the sandboxes with this [Metadata.ExternalID].
	ExternalID string
	// Query keeps sandboxes whose name, display name, label keys or label
	// values contain it, ignoring case and surrounding spaces; queries
	// shorter than two characters filter nothing. At most 200 characters.
	Query string
	// Sort orders the list; empty means [SortNewestFirst].
	Sort SortOrder
	// Limit is the page size, 1 to [MaxListLimit]; 0 means the service's
	// default ([DefaultListLimit]).
	Limit int
	// Cursor is the [SandboxPage.NextCursor] of the previous page; empty
	// for the first page. A cursor only works with the options that made
	// it, and the service forgets cursors after a day.
	Cursor string
	// FromEnd starts at the last page instead of the first (orders by
	// creation time only).
	FromEnd bool
}

// SandboxPage is one page of a sandbox list.
type SandboxPage struct {
	// Items are the sandboxes of the page.
	Items []*Sandbox
	// HasMore reports that more pages follow; pass NextCursor to get the
	// next one.
	HasMore bool
	// NextCursor is the cursor of the next page, or empty.
	NextCursor string
	// Total is the number of sandboxes of the workspace before filters,
	// when the service reports it.
	Total int
	// Unpaged reports an answer in the older format of the service: one
	// plain array of every sandbox. List then applies the options itself
	// (filters, order, the page size and the cursor, as an offset), so the
	// result is the same.
	Unpaged bool
}

// List returns one page of the workspace's sandboxes; see [ListOptions]
// for the filters. Use [SandboxPage.NextCursor] for the next page, or
// [Client.All] for every page.
//
// GET /sandboxes
func (c *Client) List(ctx context.Context, opts *ListOptions) (*SandboxPage, error) {
	const op = "controlplane.List"
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	params, err := o.params()
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.ListSandboxes(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if res.IsSandboxPage() {
		p := &res.SandboxPage
		page := &SandboxPage{Items: make([]*Sandbox, 0, len(p.Data))}
		for i := range p.Data {
			page.Items = append(page.Items, fromAPI(&p.Data[i]))
		}
		if m, ok := p.Meta.Get(); ok {
			page.HasMore, page.NextCursor, page.Total = m.HasMore.Or(false), m.NextCursor.Or(""), m.Total.Or(0)
		}
		if page.HasMore && page.NextCursor == "" {
			// A page that promises more but gives no way to get it would
			// make All stop silently or loop; say so instead.
			return nil, glue.Wrap(ctx, op, errNoCursor)
		}
		return page, nil
	}
	all := make([]*Sandbox, 0, len(res.SandboxArray))
	for i := range res.SandboxArray {
		all = append(all, fromAPI(&res.SandboxArray[i]))
	}
	return o.pageLocally(all), nil
}

// All iterates over every sandbox matching opts, following the cursors
// from opts.Cursor on (opts is copied; the caller's value is not
// changed). An error is yielded once, with a nil sandbox, and ends the
// iteration. A sandbox is yielded at most once even if the list changes
// between pages.
//
// GET /sandboxes, once per page
func (c *Client) All(ctx context.Context, opts *ListOptions) iter.Seq2[*Sandbox, error] {
	var o ListOptions
	if opts != nil {
		o = *opts
		o.Statuses = slices.Clone(opts.Statuses)
	}
	return func(yield func(*Sandbox, error) bool) {
		seen := map[string]bool{}
		for {
			page, err := c.List(ctx, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, sb := range page.Items {
				if seen[sb.Metadata.Name] {
					continue
				}
				seen[sb.Metadata.Name] = true
				if !yield(sb, nil) {
					return
				}
			}
			if !page.HasMore || len(page.Items) == 0 {
				return
			}
			o.Cursor, o.FromEnd = page.NextCursor, false
		}
	}
}

// errNoCursor reports a page with hasMore but no cursor.
var errNoCursor = &sandboxkit.ValidationError{Field: "meta.nextCursor", Reason: "the service reported more pages without a cursor"}

func (o *ListOptions) params() (api.ListSandboxesParams, error) {
	p := api.ListSandboxesParams{BlaxelVersion: api.NewOptString(PagedAPIVersion)}
	if len(o.Statuses) > 0 {
		var b strings.Builder
		for i, s := range o.Statuses {
			if !s.Known() {
				return p, invalid("ListOptions.Statuses", string(s), "is not a documented status")
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(s))
		}
		p.Status = api.NewOptString(b.String())
	}
	if o.ShowTerminated {
		p.ShowTerminated = api.NewOptBool(true)
	}
	if o.ExternalID != "" {
		if err := validateExternalID(o.ExternalID); err != nil {
			return p, err
		}
		p.ExternalID = api.NewOptString(o.ExternalID)
	}
	if o.Query != "" {
		if utf8.RuneCountInString(o.Query) > maxQueryLength {
			return p, invalid("ListOptions.Query", "", "is longer than 200 characters")
		}
		p.Q = api.NewOptString(o.Query)
	}
	switch o.Sort {
	case "":
	case SortNewestFirst, SortOldestFirst, SortNameAsc, SortNameDesc:
		p.Sort = api.NewOptSort(api.Sort(o.Sort))
	default:
		return p, invalid("ListOptions.Sort", string(o.Sort), "must be createdAt:desc, createdAt:asc, name:asc or name:desc")
	}
	switch {
	case o.Limit < 0 || o.Limit > MaxListLimit:
		return p, invalid("ListOptions.Limit", strconv.Itoa(o.Limit), "must be between 1 and 200 (or 0 for the service's default)")
	case o.Limit > 0:
		p.Limit = api.NewOptInt(o.Limit)
	}
	if o.Cursor != "" {
		if err := validateCursor("ListOptions.Cursor", o.Cursor); err != nil {
			return p, err
		}
		p.Cursor = api.NewOptString(o.Cursor)
	}
	if o.FromEnd {
		if o.Sort == SortNameAsc || o.Sort == SortNameDesc {
			return p, invalid("ListOptions.FromEnd", "true", "works only with the creation-time orders")
		}
		p.Anchor = api.NewOptAnchor(api.AnchorEnd)
	}
	return p, nil
}

// maxCursorLength bounds a cursor: the service's are short opaque tokens.
const maxCursorLength = 4096

// validateCursor checks a cursor handed back to the service.
func validateCursor(field, c string) error {
	if len(c) > maxCursorLength || strings.ContainsFunc(c, unicode.IsControl) {
		return invalid(field, "", "is not a cursor the service gave (too long, or control characters)")
	}
	return nil
}

// pageLocally applies o to the whole list an older service answers: the
// filters, the order, and a page of o.Limit from the offset in o.Cursor.
func (o *ListOptions) pageLocally(all []*Sandbox) *SandboxPage {
	q := strings.ToLower(strings.TrimSpace(o.Query))
	keep := func(sb *Sandbox) bool {
		switch {
		case len(o.Statuses) > 0:
			if !slices.Contains(o.Statuses, sb.Status) {
				return false
			}
		case !o.ShowTerminated && sb.Status == StatusTerminated:
			return false
		}
		if o.ExternalID != "" && sb.Metadata.ExternalID != o.ExternalID {
			return false
		}
		return len(q) < 2 || matchesQuery(sb, q)
	}
	items := slices.DeleteFunc(slices.Clone(all), func(sb *Sandbox) bool { return !keep(sb) })
	slices.SortStableFunc(items, o.compare)
	page := &SandboxPage{Unpaged: true, Total: len(all)}
	limit := cmp.Or(o.Limit, DefaultListLimit)
	cursor := o.Cursor
	if o.FromEnd && cursor == "" && len(items) > limit {
		cursor = localCursorPrefix + strconv.Itoa(len(items)-limit)
	}
	page.Items, page.HasMore, page.NextCursor = offsetPage(items, cursor, limit)
	return page
}

// localCursorPrefix marks the cursors List makes up for an older service's
// plain array (an offset into it).
const localCursorPrefix = "sandboxkit-offset:"

func (o *ListOptions) compare(a, b *Sandbox) int {
	switch o.Sort {
	case SortOldestFirst:
		return cmp.Or(a.Metadata.CreatedAt.Compare(b.Metadata.CreatedAt), strings.Compare(a.Metadata.Name, b.Metadata.Name))
	case SortNameAsc:
		return strings.Compare(a.Metadata.Name, b.Metadata.Name)
	case SortNameDesc:
		return strings.Compare(b.Metadata.Name, a.Metadata.Name)
	}
	return cmp.Or(b.Metadata.CreatedAt.Compare(a.Metadata.CreatedAt), strings.Compare(a.Metadata.Name, b.Metadata.Name))
}

// matchesQuery reports whether the lower-cased q is in sb's name, display
// name, or one of its label keys or values, as the service searches.
func matchesQuery(sb *Sandbox, q string) bool {
	in := func(s string) bool { return strings.Contains(strings.ToLower(s), q) }
	if in(sb.Metadata.Name) || in(sb.Metadata.DisplayName) {
		return true
	}
	for _, k := range slices.Sorted(maps.Keys(sb.Metadata.Labels)) {
		if in(k) || in(sb.Metadata.Labels[k]) {
			return true
		}
	}
	return false
}
