package lifecycle

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// ListOptions filters and pages [Client.List] and [Client.All]. The zero
// value lists every sandbox, 20 per page.
type ListOptions struct {
	// States keeps sandboxes in any of these states (OR). Each must be one
	// of the documented states; case is ignored.
	States []State
	// Metadata keeps sandboxes holding every one of these pairs (AND).
	Metadata map[string]string
	// Page is the 1-based page to fetch; 0 means 1. All starts here.
	Page int
	// PageSize is the number of sandboxes per page; 0 leaves the service's
	// default (20).
	PageSize int
}

// List returns one page of sandboxes.
//
// GET /sandboxes
func (c *Client) List(ctx context.Context, opts *ListOptions) (*SandboxPage, error) {
	if opts == nil {
		opts = &ListOptions{}
	}
	params, err := opts.params()
	if err != nil {
		return nil, glue.Wrap(ctx, opList, err)
	}
	res, err := c.api.ListSandboxes(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, opList, err)
	}
	return &SandboxPage{
		Items:      fromSandboxes(res.Items),
		Pagination: fromPagination(res.Pagination),
	}, nil
}

// All iterates over every sandbox matching opts, fetching page after page
// from opts.Page (opts is copied; the caller's value is not changed). An
// error is yielded once, with a nil sandbox, and ends the iteration. A
// page read answered 500 is read again as [Client.Create]'s lookup is.
//
// Sandboxes may come and go while All reads the pages, which the service
// numbers by offset. All still yields no sandbox twice, and yields every
// sandbox that matches opts from the start of the iteration to its end,
// provided that sandboxes starting to match during the iteration are
// listed before the others: true of new sandboxes on OpenSandbox, which
// lists newest first. (A sandbox that starts to match in the middle of the
// list, by a state change under a States filter or a metadata patch under
// a Metadata filter, while another is deleted between the same two page
// reads, can make All miss one.) Sandboxes created, deleted or changing
// state during the iteration may or may not be yielded. To keep the
// promise, All remembers the id of every sandbox it yielded, and when the
// number of matching sandboxes (TotalItems) went down between two page
// reads it reads the pages again from opts.Page, yielding only sandboxes
// not yet yielded (see [ErrListChanged] for the limit).
//
// GET /sandboxes
func (c *Client) All(ctx context.Context, opts *ListOptions) iter.Seq2[*Sandbox, error] {
	var o ListOptions
	if opts != nil {
		o = *opts
		o.States = slices.Clone(opts.States)
		o.Metadata = maps.Clone(opts.Metadata)
	}
	return walkPages(o.Page, func(s *Sandbox) string { return s.ID }, func(n int) (page[*Sandbox], error) {
		o := o
		o.Page = n
		p, err := retryRead(ctx, c, func() (*SandboxPage, error) { return c.List(ctx, &o) })
		if err != nil {
			return page[*Sandbox]{}, err
		}
		return page[*Sandbox]{items: p.Items, total: p.TotalItems, hasNext: p.HasNextPage}, nil
	})
}

func (o *ListOptions) params() (api.ListSandboxesParams, error) {
	var p api.ListSandboxesParams
	for _, s := range o.States {
		st, err := ParseState(string(s))
		if err != nil {
			return p, &sandboxkit.ValidationError{Field: "ListOptions.States", Value: string(s), Reason: "not one of " + joinStates(States())}
		}
		p.State = append(p.State, string(st))
	}
	if len(o.Metadata) > 0 {
		f, err := EncodeMetadataFilter(o.Metadata)
		if err != nil {
			return p, err
		}
		p.Metadata = api.NewOptString(f)
	}
	if err := pageParams(o.Page, o.PageSize, "ListOptions", &p.Page, &p.PageSize); err != nil {
		return p, err
	}
	return p, nil
}

func pageParams(page, size int, field string, pp, sp *api.OptInt) error {
	switch {
	case page < 0:
		return &sandboxkit.ValidationError{Field: field + ".Page", Value: fmt.Sprint(page), Reason: "must be at least 1 (or 0 for the first page)"}
	case size < 0:
		return &sandboxkit.ValidationError{Field: field + ".PageSize", Value: fmt.Sprint(size), Reason: "must be at least 1 (or 0 for the service's default)"}
	}
	if page > 0 {
		*pp = api.NewOptInt(page)
	}
	if size > 0 {
		*sp = api.NewOptInt(size)
	}
	return nil
}

// EncodeMetadataFilter returns the value of the metadata query parameter
// that selects sandboxes holding every pair in m: each key and value
// URL-encoded (a space as %20), joined as key=value pairs with '&', in key
// order. [Client.List] sends it as one query parameter, which encodes it
// once more, so project=Apollo and note=Demo Test travel as
//
//	metadata=project%3DApollo%26note%3DDemo%2520Test
//
// The service decodes the parameter and then parses the pairs with a
// decoding query parser (two decodings in all), which yields the pairs
// back. The upstream reference's example writes the space as %252520,
// one encoding more than that: sent as written it would be decoded to
// "Demo%20Test" and match nothing, so it is not followed.
//
// Keys must not be empty. The result is an error matching
// [sandboxkit.ErrInvalidInput] otherwise.
func EncodeMetadataFilter(m map[string]string) (string, error) {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" {
			return "", &sandboxkit.ValidationError{Field: "metadata filter", Reason: "keys must not be empty"}
		}
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeFilter(k))
		b.WriteByte('=')
		b.WriteString(escapeFilter(m[k]))
	}
	return b.String(), nil
}

// escapeFilter query-escapes s, writing a space as %20 rather than '+'
// (both decode to a space; %20 is what the reference shows).
func escapeFilter(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
