package mockserver

import (
	"slices"
	"sort"
)

// sequenced is a stored resource numbered in creation order. The stores
// keep per-tenant slices of them sorted by that number, which makes lists
// come out in creation order and removal a binary search.
type sequenced interface {
	comparable
	sequence() uint64
}

func (sb *lcSandbox) sequence() uint64  { return sb.seq }
func (sn *lcSnapshot) sequence() uint64 { return sn.seq }
func (sb *cpSandbox) sequence() uint64  { return sb.seq }

// removeOrdered returns items, sorted by sequence, without v.
func removeOrdered[T sequenced](items []T, v T) []T {
	i := sort.Search(len(items), func(i int) bool { return items[i].sequence() >= v.sequence() })
	if i < len(items) && items[i] == v {
		return slices.Delete(items, i, i+1)
	}
	return items
}
