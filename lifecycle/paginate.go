package lifecycle

import (
	"errors"
	"iter"
)

// maxListWalks bounds how many times [Client.All] and [Client.AllSnapshots]
// walk the pages of one iteration.
const maxListWalks = 4

// ErrListChanged is yielded, once and last, by [Client.All] and
// [Client.AllSnapshots] when items matching the iteration kept
// disappearing while the pages were read, through every one of
// maxListWalks (4) walks: everything yielded before it was yielded once,
// but an item that existed throughout may have been skipped.
var ErrListChanged = errors.New("sandboxkit: list kept shrinking while it was read; items may be missing")

// page is one page as [walkPages] needs it.
type page[T any] struct {
	items   []T
	total   int // TotalItems: how many match, on all pages
	hasNext bool
}

// walkPages yields every item of the pages fetch returns, starting at page
// first (at least 1) and moving on while fetch reports a next page, each
// item once (by id), and none skipped that matched throughout. An error
// is yielded once, with a zero item, and ends the iteration. Each range
// over the result starts again from first.
//
// The services page by offset over a list sorted newest first, so a
// change between two page reads shifts the later pages: a new item at
// the front moves items seen already onto the next page (they are
// dropped by id), and a deleted item before the page boundary moves an
// item not yet seen onto the page already read (it would be skipped).
// With new items at the front, a shift of the second kind makes the total
// between the two reads go down, by at least as many items as were moved
// past. So when a page reports a lower total than the page before it, the
// walk goes on to the end and then starts again from first, yielding only
// items not yet seen; a walk without such a decrease skipped nothing.
// After maxListWalks walks that all saw a decrease, [ErrListChanged] ends
// the iteration.
func walkPages[T any](first int, id func(T) string, fetch func(page int) (page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		seen := make(map[string]struct{})
		for walk := 1; ; walk++ {
			shrank := false
			prevTotal := -1
			for n := max(first, 1); ; n++ {
				p, err := fetch(n)
				if err != nil {
					yield(zero, err)
					return
				}
				if prevTotal >= 0 && p.total < prevTotal {
					shrank = true
				}
				prevTotal = p.total
				for _, it := range p.items {
					k := id(it)
					if _, dup := seen[k]; dup {
						continue
					}
					seen[k] = struct{}{}
					if !yield(it, nil) {
						return
					}
				}
				if !p.hasNext || len(p.items) == 0 {
					break
				}
			}
			switch {
			case !shrank:
				return
			case walk == maxListWalks:
				yield(zero, ErrListChanged)
				return
			}
		}
	}
}
