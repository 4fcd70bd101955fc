package lifecycle

import "iter"

// paginate yields every item of the pages fetch returns, starting at page
// first (at least 1) and moving on while fetch reports a next page. An
// error is yielded once, with a zero item, and ends the iteration. Each
// range over the result starts again from first.
func paginate[T any](first int, fetch func(page int) (items []T, hasNext bool, err error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for page := max(first, 1); ; page++ {
			items, hasNext, err := fetch(page)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if !hasNext || len(items) == 0 {
				return
			}
		}
	}
}
