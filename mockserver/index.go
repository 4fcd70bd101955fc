package mockserver

import (
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"
)

// The list indexes. A filtered list page costs O(log n + page) when one
// disjoint family of sets answers it exactly, and otherwise
// O(candidates): see [listIndex.page].

// orderedSet holds distinct items in the total order cmp, with the
// position of every item: insert, remove, the item at a position and the
// number of items before a point all take O(log n) expected time. It is
// a treap whose nodes count the items below them. An item's place in the
// order must not change while it is in the set.
type orderedSet[T comparable] struct {
	root *treapNode[T]
	cmp  func(a, b T) int
	rng  uint64 // state of the priority generator
}

type treapNode[T any] struct {
	item        T
	left, right *treapNode[T]
	size        uint32 // items in this subtree
	prio        uint32 // a max-heap on prio keeps the tree balanced
}

func newOrderedSet[T comparable](cmp func(a, b T) int) *orderedSet[T] {
	return &orderedSet[T]{cmp: cmp, rng: 0x9e3779b97f4a7c15}
}

func (s *orderedSet[T]) len() int { return s.root.len() }

func (n *treapNode[T]) len() int {
	if n == nil {
		return 0
	}
	return int(n.size)
}

// nextPrio is a xorshift64* step: priorities only need to be unrelated
// to the order of the items, and a fixed seed keeps runs repeatable.
func (s *orderedSet[T]) nextPrio() uint32 {
	s.rng ^= s.rng >> 12
	s.rng ^= s.rng << 25
	s.rng ^= s.rng >> 27
	return uint32((s.rng * 0x2545f4914f6cdd1d) >> 32)
}

// insert adds item, which must not be in the set.
func (s *orderedSet[T]) insert(item T) { s.insertNode(item, nil) }

// insertNode adds item, which must not be in the set, in nd (nil: a new
// node): a node another set let go of saves an allocation.
func (s *orderedSet[T]) insertNode(item T, nd *treapNode[T]) {
	if nd == nil {
		nd = &treapNode[T]{}
	}
	*nd = treapNode[T]{item: item, size: 1, prio: s.nextPrio()}
	s.root = s.insertAt(s.root, nd)
}

func (s *orderedSet[T]) insertAt(n, nd *treapNode[T]) *treapNode[T] {
	if n == nil {
		return nd
	}
	n.size++
	if s.cmp(nd.item, n.item) < 0 {
		n.left = s.insertAt(n.left, nd)
		if n.left.prio > n.prio {
			return rotateRight(n)
		}
		return n
	}
	n.right = s.insertAt(n.right, nd)
	if n.right.prio > n.prio {
		return rotateLeft(n)
	}
	return n
}

// rotateRight lifts n's left child above n (whose size is the subtree's).
func rotateRight[T any](n *treapNode[T]) *treapNode[T] {
	l := n.left
	n.left, l.right = l.right, n
	l.size = n.size
	n.size = uint32(1 + n.left.len() + n.right.len())
	return l
}

func rotateLeft[T any](n *treapNode[T]) *treapNode[T] {
	r := n.right
	n.right, r.left = r.left, n
	r.size = n.size
	n.size = uint32(1 + n.left.len() + n.right.len())
	return r
}

// remove deletes item and reports whether it was in the set.
func (s *orderedSet[T]) remove(item T) bool { return s.removeNode(item) != nil }

// removeNode deletes item and returns the node that held it, free for
// reuse (nil when item was not in the set).
func (s *orderedSet[T]) removeNode(item T) *treapNode[T] {
	var gone *treapNode[T]
	s.root, gone = s.removeAt(s.root, item)
	return gone
}

func (s *orderedSet[T]) removeAt(n *treapNode[T], item T) (*treapNode[T], *treapNode[T]) {
	if n == nil {
		return nil, nil
	}
	var gone *treapNode[T]
	switch c := s.cmp(item, n.item); {
	case c < 0:
		n.left, gone = s.removeAt(n.left, item)
	case c > 0:
		n.right, gone = s.removeAt(n.right, item)
	case n.item != item:
		return n, nil // another item in item's place: item is not here
	default:
		rest := join(n.left, n.right)
		n.left, n.right = nil, nil
		return rest, n
	}
	if gone != nil {
		n.size--
	}
	return n, gone
}

// join merges two treaps, every item of a before every item of b.
func join[T any](a, b *treapNode[T]) *treapNode[T] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.size += b.size
		a.right = join(a.right, b)
		return a
	}
	b.size += a.size
	b.left = join(a, b.left)
	return b
}

// contains reports whether item is in the set.
func (s *orderedSet[T]) contains(item T) bool {
	for n := s.root; n != nil; {
		switch c := s.cmp(item, n.item); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.item == item
		}
	}
	return false
}

// prefixLen is the number of items for which before holds; before must
// hold for a prefix of the order (every item up to some point).
func (s *orderedSet[T]) prefixLen(before func(T) bool) int {
	r := 0
	for n := s.root; n != nil; {
		if before(n.item) {
			r += n.left.len() + 1
			n = n.right
		} else {
			n = n.left
		}
	}
	return r
}

// countBefore is the number of items that come before item in the order
// (item itself need not be in the set).
func (s *orderedSet[T]) countBefore(item T) int {
	return s.prefixLen(func(v T) bool { return s.cmp(v, item) < 0 })
}

// at returns the item at position i (0 ≤ i < len).
func (s *orderedSet[T]) at(i int) T {
	n := s.root
	for {
		switch l := n.left.len(); {
		case i < l:
			n = n.left
		case i == l:
			return n.item
		default:
			i -= l + 1
			n = n.right
		}
	}
}

// cursor walks a set in order, or in reverse order, from a position.
type cursor[T any] struct {
	// stack holds the current node on top, then the ancestors still to
	// visit.
	stack []*treapNode[T]
	back  bool // towards the first item
}

// from returns a cursor at position i (past the end when i ≥ len).
func (s *orderedSet[T]) from(i int) cursor[T] {
	c := cursor[T]{stack: make([]*treapNode[T], 0, 48)}
	for n := s.root; n != nil; {
		switch l := n.left.len(); {
		case i < l:
			c.stack = append(c.stack, n)
			n = n.left
		case i == l:
			c.stack = append(c.stack, n)
			return c
		default:
			i -= l + 1
			n = n.right
		}
	}
	return cursor[T]{}
}

// back returns a cursor that walks from position i towards the first
// item (done when i < 0; at the last item when i ≥ len).
func (s *orderedSet[T]) back(i int) cursor[T] {
	c := cursor[T]{stack: make([]*treapNode[T], 0, 48), back: true}
	if i < 0 {
		return cursor[T]{}
	}
	for n := s.root; n != nil; {
		switch l := n.left.len(); {
		case i < l:
			n = n.left
		case i == l:
			c.stack = append(c.stack, n)
			return c
		default:
			c.stack = append(c.stack, n)
			i -= l + 1
			n = n.right
		}
	}
	return c // i ≥ len: the last item is on top
}

func (c *cursor[T]) done() bool { return len(c.stack) == 0 }

// item is the item under the cursor; the cursor must not be done.
func (c *cursor[T]) item() T { return c.stack[len(c.stack)-1].item }

func (c *cursor[T]) next() {
	n := c.stack[len(c.stack)-1]
	c.stack = c.stack[:len(c.stack)-1]
	if c.back {
		for n = n.left; n != nil; n = n.right {
			c.stack = append(c.stack, n)
		}
		return
	}
	for n = n.right; n != nil; n = n.left {
		c.stack = append(c.stack, n)
	}
}

// all yields the items in order.
func (s *orderedSet[T]) all() iter.Seq[T] {
	return func(yield func(T) bool) {
		for c := s.from(0); !c.done(); c.next() {
			if !yield(c.item()) {
				return
			}
		}
	}
}

// A label is one key=value pair of an item's metadata (labels).
type label struct{ key, value string }

// classLabel files an item under its class and one of its labels at once,
// so that "class in C and one label" is a union of disjoint sets.
type classLabel struct {
	class string
	label
}

// indexEntry records what an indexed item is filed under. Each item
// holds its own for each index that files it (see [indexed] and
// [newListIndexOf]); only the index changes it.
type indexEntry struct {
	filed  bool
	tenant string
	class  string
	labels []label // sorted by key
}

// indexed is an item a [listIndex] can hold: a pointer to a stored
// resource that carries its [indexEntry].
type indexed interface {
	comparable
	entry() *indexEntry
}

// listIndex holds the items of each tenant in list order (cmp) and,
// besides that, filed by class (a single-valued attribute such as a
// state), by label (a key=value pair of multi-valued metadata) and by
// class and label together. Every set is an [orderedSet] in list order,
// so a list filtered by any of the classes in a set C, and by at most one
// label, is a union of |C| disjoint sets: its exact total is the sum of
// their sizes and its page is found by position, whatever the number of
// items. An item filed under m labels sits in 2+2m sets. It is not safe
// for concurrent use: the store's lock guards it (list reads change
// nothing and may run together).
type listIndex[T comparable] struct {
	cmp     func(a, b T) int
	entry   func(T) *indexEntry // the item's record of where it is filed
	tenants map[string]*tenantLists[T]
}

type tenantLists[T comparable] struct {
	all          *orderedSet[T]
	byClass      map[string]*orderedSet[T]
	byLabel      map[label]*orderedSet[T]
	byClassLabel map[classLabel]*orderedSet[T]
}

// newListIndex returns an empty index in list order cmp of items that
// carry their own entry.
func newListIndex[T indexed](cmp func(a, b T) int) *listIndex[T] {
	return newListIndexOf(cmp, func(item T) *indexEntry { return item.entry() })
}

// newListIndexOf returns an empty index in list order cmp; entry gives
// the record an item keeps for this index (an item filed by two indexes,
// in two orders, keeps one for each).
func newListIndexOf[T comparable](cmp func(a, b T) int, entry func(T) *indexEntry) *listIndex[T] {
	return &listIndex[T]{cmp: cmp, entry: entry, tenants: map[string]*tenantLists[T]{}}
}

// labelsOf returns m as labels sorted by key.
func labelsOf(m map[string]string) []label {
	if len(m) == 0 {
		return nil
	}
	out := make([]label, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, label{k, m[k]})
	}
	return out
}

// hasLabel reports whether sorted holds l.
func hasLabel(sorted []label, l label) bool {
	i, ok := slices.BinarySearchFunc(sorted, l.key, func(e label, k string) int { return strings.Compare(e.key, k) })
	return ok && sorted[i].value == l.value
}

// fileIn adds item to the set k of sets, in spare if it is not nil (a
// node [unfileFrom] freed).
func fileIn[K comparable, T comparable](sets map[K]*orderedSet[T], k K, item T, cmp func(a, b T) int, spare *treapNode[T]) {
	s := sets[k]
	if s == nil {
		s = newOrderedSet(cmp)
		sets[k] = s
	}
	s.insertNode(item, spare)
}

// unfileFrom removes item from the set k of sets and returns the node
// that held it.
func unfileFrom[K comparable, T comparable](sets map[K]*orderedSet[T], k K, item T) *treapNode[T] {
	s := sets[k]
	if s == nil {
		return nil
	}
	gone := s.removeNode(item)
	if s.len() == 0 {
		delete(sets, k) // unique labels must not pile up empty sets
	}
	return gone
}

// put files item for tenant under class and labels, or moves it there
// if it is filed already.
func (ix *listIndex[T]) put(tenant string, item T, class string, labels map[string]string) {
	ix.putLabels(tenant, item, class, labelsOf(labels))
}

// putLabels is put with the labels as [labelsOf] gives them; the index
// keeps ls, which must not change afterwards.
func (ix *listIndex[T]) putLabels(tenant string, item T, class string, ls []label) {
	e := ix.entry(item)
	if e.filed && e.tenant != tenant {
		ix.drop(item)
	}
	if !e.filed {
		t := ix.tenants[tenant]
		if t == nil {
			t = &tenantLists[T]{
				all:          newOrderedSet(ix.cmp),
				byClass:      map[string]*orderedSet[T]{},
				byLabel:      map[label]*orderedSet[T]{},
				byClassLabel: map[classLabel]*orderedSet[T]{},
			}
			ix.tenants[tenant] = t
		}
		*e = indexEntry{filed: true, tenant: tenant, class: class, labels: ls}
		t.all.insert(item)
		fileIn(t.byClass, class, item, ix.cmp, nil)
		for _, l := range ls {
			fileIn(t.byLabel, l, item, ix.cmp, nil)
			fileIn(t.byClassLabel, classLabel{class, l}, item, ix.cmp, nil)
		}
		return
	}
	t := ix.tenants[tenant]
	var spare []*treapNode[T] // nodes of the labels it loses, for those it gains
	for _, l := range e.labels {
		if !hasLabel(ls, l) {
			spare = append(spare, unfileFrom(t.byLabel, l, item), unfileFrom(t.byClassLabel, classLabel{e.class, l}, item))
		}
	}
	reuse := func() *treapNode[T] {
		if len(spare) == 0 {
			return nil
		}
		nd := spare[len(spare)-1]
		spare = spare[:len(spare)-1]
		return nd
	}
	for _, l := range ls {
		if !hasLabel(e.labels, l) {
			fileIn(t.byLabel, l, item, ix.cmp, reuse())
			fileIn(t.byClassLabel, classLabel{e.class, l}, item, ix.cmp, reuse())
		}
	}
	if !slices.Equal(e.labels, ls) {
		e.labels = ls
	}
	ix.setClass(item, class)
}

// setClass moves a filed item to class; it does nothing to an item that
// is not filed.
func (ix *listIndex[T]) setClass(item T, class string) {
	e := ix.entry(item)
	if !e.filed || e.class == class {
		return
	}
	t := ix.tenants[e.tenant]
	fileIn(t.byClass, class, item, ix.cmp, unfileFrom(t.byClass, e.class, item))
	for _, l := range e.labels {
		fileIn(t.byClassLabel, classLabel{class, l}, item, ix.cmp, unfileFrom(t.byClassLabel, classLabel{e.class, l}, item))
	}
	e.class = class
}

// drop removes item from the index, if it is there.
func (ix *listIndex[T]) drop(item T) {
	e := ix.entry(item)
	if !e.filed {
		return
	}
	t := ix.tenants[e.tenant]
	t.all.remove(item)
	unfileFrom(t.byClass, e.class, item)
	for _, l := range e.labels {
		unfileFrom(t.byLabel, l, item)
		unfileFrom(t.byClassLabel, classLabel{e.class, l}, item)
	}
	if t.all.len() == 0 {
		delete(ix.tenants, e.tenant)
	}
	*e = indexEntry{}
}

// listFilter selects items: of a class for which class reports true (nil:
// any class) and with every one of labels.
type listFilter struct {
	class  func(string) bool
	labels map[string]string
}

// page returns the items of tenant that pass f, in list order, skipping
// the first from and keeping at most size, and the number of them all.
//
// Without labels, or with one, the matches are a union of disjoint sets
// (all; the classes' sets; the label's set; the (class, label) sets), and
// a page costs O(c² log² n + c·size) for c matching classes. With
// several labels it walks the smallest such union that holds every match
// and checks the other labels on each item: O(candidates·log m).
func (ix *listIndex[T]) page(tenant string, f listFilter, from, size int) ([]T, int) {
	t := ix.tenants[tenant]
	if t == nil {
		return nil, 0
	}
	sources, check := t.plan(f)
	if len(check) == 0 {
		total := 0
		for _, s := range sources {
			total += s.len()
		}
		if from >= total {
			return nil, total
		}
		var out []T
		for item := range ix.merge(sources, ix.starts(sources, from)) {
			out = append(out, item)
			if len(out) == size {
				break
			}
		}
		return out, total
	}
	var out []T
	total := 0
	for item := range ix.merge(sources, make([]int, len(sources))) {
		ls := ix.entry(item).labels
		if slices.ContainsFunc(check, func(l label) bool { return !hasLabel(ls, l) }) {
			continue
		}
		if total >= from && len(out) < size {
			out = append(out, item)
		}
		total++
	}
	return out, total
}

// plan picks the disjoint sets whose union holds every item that passes
// f, and the labels left to check on each of them. No sets: no match.
func (t *tenantLists[T]) plan(f listFilter) (sources []*orderedSet[T], check []label) {
	var classes []string
	if f.class != nil {
		for c := range t.byClass {
			if f.class(c) {
				classes = append(classes, c)
			}
		}
		if len(classes) == 0 {
			return nil, nil
		}
		slices.Sort(classes)
	}
	ls := labelsOf(f.labels)
	if len(ls) == 0 {
		if f.class == nil {
			return []*orderedSet[T]{t.all}, nil
		}
		for _, c := range classes {
			sources = append(sources, t.byClass[c])
		}
		return sources, nil
	}
	best, bestCost := -1, 0
	for i, l := range ls {
		var sets []*orderedSet[T]
		if f.class == nil {
			if s := t.byLabel[l]; s != nil {
				sets = append(sets, s)
			}
		} else {
			for _, c := range classes {
				if s := t.byClassLabel[classLabel{c, l}]; s != nil {
					sets = append(sets, s)
				}
			}
		}
		cost := 0
		for _, s := range sets {
			cost += s.len()
		}
		if cost == 0 {
			return nil, nil
		}
		if best < 0 || cost < bestCost {
			best, bestCost, sources = i, cost, sets
		}
	}
	return sources, slices.Delete(ls, best, best+1)
}

// starts returns, for disjoint sources, the position in each at which
// their merged order reaches from: the items of source i before
// starts[i] are exactly those among the first from of the merge.
func (ix *listIndex[T]) starts(sources []*orderedSet[T], from int) []int {
	out := make([]int, len(sources))
	if len(sources) == 1 {
		out[0] = from
		return out
	}
	for i, s := range sources {
		// The merged position of s.at(j) grows with j: find the first j
		// whose position is at least from.
		out[i] = sort.Search(s.len(), func(j int) bool {
			item := s.at(j)
			pos := j
			for k, o := range sources {
				if k != i {
					pos += o.countBefore(item)
				}
			}
			return pos >= from
		})
	}
	return out
}

// merge yields the items of disjoint sources in list order, each source
// from its start.
func (ix *listIndex[T]) merge(sources []*orderedSet[T], starts []int) iter.Seq[T] {
	cs := make([]cursor[T], len(sources))
	for i, s := range sources {
		cs[i] = s.from(starts[i])
	}
	return ix.mergeCursors(cs)
}

// mergeCursors yields the items under cs, cursors on disjoint sets all
// walking in the same direction, in that direction's order.
func (ix *listIndex[T]) mergeCursors(cs []cursor[T]) iter.Seq[T] {
	return func(yield func(T) bool) {
		for {
			first := -1
			for i := range cs {
				if cs[i].done() {
					continue
				}
				if first < 0 {
					first = i
					continue
				}
				c := ix.cmp(cs[i].item(), cs[first].item())
				if cs[i].back {
					c = -c
				}
				if c < 0 {
					first = i
				}
			}
			if first < 0 || !yield(cs[first].item()) {
				return
			}
			cs[first].next()
		}
	}
}

// walk yields the items of tenant that pass f in list order, or in
// reverse list order when reverse is set, leaving out those for which
// skip holds. skip (nil: none) must hold for a prefix of the walk's
// order: the items up to a keyset cursor.
//
// Starting costs O(c·log n) for the c disjoint sets [tenantLists.plan]
// picks; each item then costs O(c), plus O(log m) per label left to
// check when f has several labels (items that fail them are walked over
// too).
func (ix *listIndex[T]) walk(tenant string, f listFilter, reverse bool, skip func(T) bool) iter.Seq[T] {
	return func(yield func(T) bool) {
		t := ix.tenants[tenant]
		if t == nil {
			return
		}
		sources, check := t.plan(f)
		cs := make([]cursor[T], len(sources))
		for i, s := range sources {
			switch {
			case !reverse && skip == nil:
				cs[i] = s.from(0)
			case !reverse:
				cs[i] = s.from(s.prefixLen(skip))
			case skip == nil:
				cs[i] = s.back(s.len() - 1)
			default:
				// Walking backwards, skip holds for a suffix of the set's
				// order: start before it.
				cs[i] = s.back(s.prefixLen(func(item T) bool { return !skip(item) }) - 1)
			}
		}
		for item := range ix.mergeCursors(cs) {
			if len(check) > 0 {
				ls := ix.entry(item).labels
				if slices.ContainsFunc(check, func(l label) bool { return !hasLabel(ls, l) }) {
					continue
				}
			}
			if !yield(item) {
				return
			}
		}
	}
}
