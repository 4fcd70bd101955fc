package lifecycle

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// DefaultPoolWorkers is how many requests a [RenewerPool] has in flight at
// most, unless [RenewerPoolOptions.Workers] says otherwise.
const DefaultPoolWorkers = 8

// ErrPoolClosed is returned by [RenewerPool.Add] after Close or after the
// pool's context ended.
var ErrPoolClosed = errors.New("sandboxkit: renewer pool closed")

// RenewerPoolOptions tunes a [RenewerPool].
type RenewerPoolOptions struct {
	// RenewerOptions apply to every sandbox of the pool. Its callbacks are
	// called from the pool's workers, possibly concurrently, and must not
	// call the pool's Close.
	RenewerOptions
	// Workers bounds the requests in flight ([DefaultPoolWorkers] if
	// zero).
	Workers int
}

// RenewerPool keeps many sandboxes alive with a fixed number of
// goroutines: one scheduler holding a min-heap of the sandboxes' next
// check times, and Workers goroutines that do the Get and Renew calls. Ten
// thousand sandboxes cost ten thousand small heap entries, not ten
// thousand goroutines. Each sandbox follows the schedule of a [Renewer]
// (see [RenewerOptions]). Sandboxes can be added and removed at any time;
// a sandbox that stops by itself (not found, terminated, ...) leaves the
// pool and is reported to OnStop. All methods are safe for concurrent
// use.
type RenewerPool struct {
	api  RenewerAPI
	opts RenewerOptions // resolved

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	jobs   chan *poolEntry
	wake   chan struct{}

	mu      sync.Mutex
	entries map[string]*poolEntry
	queue   entryHeap
	closed  bool
}

type poolEntry struct {
	task    renewTask
	next    time.Time
	index   int  // position in the heap; -1 while out of it
	removed bool // no longer in entries: drop when a worker returns it
}

// NewRenewerPool starts an empty pool that renews through api until
// Close is called or ctx ends. It returns an error only for invalid
// options.
func NewRenewerPool(ctx context.Context, api RenewerAPI, opts *RenewerPoolOptions) (*RenewerPool, error) {
	if api == nil {
		return nil, &sandboxkit.ValidationError{Field: "api", Reason: "must not be nil"}
	}
	var po RenewerPoolOptions
	if opts != nil {
		po = *opts
	}
	ro, err := po.RenewerOptions.resolved()
	if err != nil {
		return nil, err
	}
	workers := po.Workers
	switch {
	case workers == 0:
		workers = DefaultPoolWorkers
	case workers < 0:
		return nil, &sandboxkit.ValidationError{Field: "RenewerPoolOptions.Workers", Value: fmt.Sprint(workers), Reason: "must not be negative"}
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &RenewerPool{
		api:     api,
		opts:    ro,
		ctx:     ctx,
		cancel:  cancel,
		jobs:    make(chan *poolEntry),
		wake:    make(chan struct{}, 1),
		entries: make(map[string]*poolEntry),
	}
	p.wg.Add(1 + workers)
	go p.schedule()
	for range workers {
		go p.work()
	}
	return p, nil
}

// Add starts keeping sandbox id alive; its first check (a Get) runs as
// soon as a worker is free. Adding an id the pool already holds does
// nothing. After Close, or once the pool's context ended, it returns
// [ErrPoolClosed].
func (p *RenewerPool) Add(id string) error {
	if err := validateSandboxID(id); err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed || p.ctx.Err() != nil {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	if _, ok := p.entries[id]; ok {
		p.mu.Unlock()
		return nil
	}
	e := &poolEntry{task: renewTask{api: p.api, op: opRenewerPoolAdd, id: id, opts: &p.opts}, next: p.opts.Clock.Now(), index: -1}
	p.entries[id] = e
	heap.Push(&p.queue, e)
	p.mu.Unlock()
	p.signal()
	return nil
}

// Remove stops keeping sandbox id alive and reports whether the pool held
// it. A check of it already in progress finishes, but nothing follows.
func (p *RenewerPool) Remove(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[id]
	if !ok {
		return false
	}
	delete(p.entries, id)
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&p.queue, e.index)
	}
	return true
}

// Len returns the number of sandboxes the pool keeps alive.
func (p *RenewerPool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// Close stops the pool and returns once all its goroutines have exited;
// requests in flight are cancelled. It is safe to call more than once,
// but not from one of the pool's callbacks.
func (p *RenewerPool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

func (p *RenewerPool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// schedule hands due entries to the workers, in order of due time.
func (p *RenewerPool) schedule() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		var (
			due   *poolEntry
			until time.Time // zero: no entries, wait for a signal
		)
		if len(p.queue) > 0 {
			if next := p.queue[0].next; !next.After(p.opts.Clock.Now()) {
				due = heap.Pop(&p.queue).(*poolEntry)
			} else {
				until = next
			}
		}
		p.mu.Unlock()

		if due != nil {
			select {
			case p.jobs <- due:
				continue
			case <-p.ctx.Done():
				return
			}
		}
		if until.IsZero() {
			select {
			case <-p.wake:
			case <-p.ctx.Done():
			}
		} else {
			sleepUntil(p.ctx, p.opts.Clock, until, p.wake)
		}
		if p.ctx.Err() != nil {
			return
		}
	}
}

// work runs one step per entry it receives and puts the entry back.
func (p *RenewerPool) work() {
	defer p.wg.Done()
	for {
		select {
		case e := <-p.jobs:
			p.run(e)
		case <-p.ctx.Done():
			return
		}
	}
}

func (p *RenewerPool) run(e *poolEntry) {
	next, stop := e.task.step(p.ctx)
	p.mu.Lock()
	if e.removed || p.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	if stop != nil {
		delete(p.entries, e.task.id)
		e.removed = true
		p.mu.Unlock()
		if !stop.callerCaused() && p.opts.OnStop != nil {
			p.opts.OnStop(stop)
		}
		return
	}
	e.next = next
	heap.Push(&p.queue, e)
	p.mu.Unlock()
	p.signal()
}

// entryHeap orders entries by next check time (container/heap).
type entryHeap []*poolEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*poolEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}
