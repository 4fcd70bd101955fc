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

// index holds one kind of resource by id and, per tenant, in creation
// order (by sequence).
type index[T sequenced] struct {
	byID     map[string]T
	byTenant map[string][]T
}

func newIndex[T sequenced]() index[T] {
	return index[T]{byID: map[string]T{}, byTenant: map[string][]T{}}
}

// add stores v, whose sequence must be the highest so far.
func (ix *index[T]) add(id, tenant string, v T) {
	ix.byID[id] = v
	ix.byTenant[tenant] = append(ix.byTenant[tenant], v)
}

// remove forgets v; it reports false when id does not hold v.
func (ix *index[T]) remove(id, tenant string, v T) bool {
	if ix.byID[id] != v {
		return false
	}
	delete(ix.byID, id)
	ix.byTenant[tenant] = removeOrdered(ix.byTenant[tenant], v)
	return true
}

// removeOrdered returns items, sorted by sequence, without v.
func removeOrdered[T sequenced](items []T, v T) []T {
	i := sort.Search(len(items), func(i int) bool { return items[i].sequence() >= v.sequence() })
	if i < len(items) && items[i] == v {
		return slices.Delete(items, i, i+1)
	}
	return items
}
