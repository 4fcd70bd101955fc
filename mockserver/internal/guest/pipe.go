package guest

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"time"
)

// Sizes of the simulated shell's data paths.
const (
	// pipeSize is the capacity of a pipe, a Linux pipe's default: a
	// writer blocks while it is full.
	pipeSize = 64 * 1024
	// readChunk is the most a command reads at once.
	readChunk = 64 * 1024
	// maxHeld is the most input or captured output one command holds in
	// memory (a line, a command substitution, the input of sort or wc -l).
	// A command that would need more stalls until a signal ends it, where
	// the real one would run on or run out of memory.
	maxHeld = 64 << 20
	// statusPipe is the status of a command killed by SIGPIPE.
	statusPipe = 128 + 13
)

// pipe is a pipe between the stages of a pipeline. The stages run at the
// same time (each in a flow of its own); a reader waits while it is empty,
// a writer while it is full. When its last reader is gone, a write kills
// the writer with SIGPIPE; when its last writer is gone, reads see the end
// of input.
type pipe struct {
	buf              []byte
	readers, writers int
	// waiting are the coroutines blocked on the pipe; every change wakes
	// them all and each checks again what it waits for.
	waiting []waiter
	// changed is closed and replaced at every change, for the goroutines
	// of registered commands.
	changed chan struct{}
}

// waiter is a coroutine blocked on something, with the identifier of its
// wait.
type waiter struct {
	co *coroutine
	id uint64
}

// newPipe returns a pipe with one reader and one writer, the stages that
// will use it.
func newPipe() *pipe { return &pipe{readers: 1, writers: 1, changed: make(chan struct{})} }

// notifyLocked tells everyone waiting on the pipe that it changed.
func (p *pipe) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
	ws := p.waiting
	p.waiting = nil
	for _, w := range ws {
		w.co.wakeLocked(w.id)
	}
}

// take removes up to max bytes from the pipe; with line set, it stops
// after the first newline.
func (p *pipe) take(max int, line bool) []byte {
	n := min(max, len(p.buf))
	if line {
		if i := bytes.IndexByte(p.buf[:n], '\n'); i >= 0 {
			n = i + 1
		}
	}
	out := bytes.Clone(p.buf[:n])
	p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	return out
}

// pipeEnd is a reference a flow holds on one end of a pipe.
type pipeEnd struct {
	p     *pipe
	write bool
}

// openLocked adds a reference to the end.
func (e pipeEnd) openLocked() {
	if e.write {
		e.p.writers++
	} else {
		e.p.readers++
	}
}

// closeLocked drops a reference to the end; the other side learns when it
// was the last one.
func (e pipeEnd) closeLocked() {
	if e.write {
		e.p.writers--
	} else {
		e.p.readers--
		if e.p.readers == 0 {
			e.p.buf = nil
		}
	}
	e.p.notifyLocked()
}

// holdEnds makes f hold the pipe ends among fds, so that they stay open
// while f runs (a background job writing into a pipeline's pipe).
func (f *flow) holdEnds(fds [10]*fileDesc) {
	for _, d := range fds {
		if d == nil || d.kind != fdPipeIn && d.kind != fdPipeOut {
			continue
		}
		e := pipeEnd{d.pipe, d.kind == fdPipeOut}
		held := false
		for _, h := range f.ends {
			held = held || h == e
		}
		if !held {
			e.openLocked()
			f.ends = append(f.ends, e)
		}
	}
}

// releaseEnds closes the pipe ends f holds (as its process exits).
func (f *flow) releaseEnds() {
	ends := f.ends
	f.ends = nil
	for _, e := range ends {
		e.closeLocked()
	}
}

// cmdDeath unwinds a command that a signal killed while it waited or
// wrote: SIGPIPE on a pipe nobody reads any more, SIGTERM while it was
// blocked. A utility dies with status; a builtin takes its shell with it
// (see runUtility and runBoundary).
type cmdDeath struct{ status int }

// await blocks the command that runs in sh until what id was given to
// wakes it. A SIGTERM kills the command unless the shell ignores it.
func (sh *shell) await(id uint64) {
	for sh.f.co.block(id) != wakeGo {
		if !sh.ignoresTerm() {
			panic(cmdDeath{statusTerm})
		}
	}
}

// stall blocks the command until a signal ends it: what a command does
// that would run forever without output, or need more memory than
// maxHeld.
func (sh *shell) stall() {
	id := sh.f.co.newWait()
	for {
		sh.await(id)
	}
}

// tick counts the steps of a command that moves n bytes: one, plus one
// per KiB. Like busyBudget for commands, every busyBudget steps let a
// millisecond of the guest's clock pass (data moves at about 1 GB/s), so
// an endless producer keeps running without holding the guest; a SIGTERM
// meanwhile kills the command.
func (sh *shell) tick(n int) {
	before := sh.f.steps
	sh.f.steps += 1 + n/1024
	if sh.f.steps/busyBudget == before/busyBudget {
		return
	}
	g, co := sh.g, sh.f.co
	id := co.newWait()
	tm := g.afterLocked(time.Millisecond, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		co.wakeLocked(id)
	})
	defer g.stopTimerLocked(tm)
	sh.await(id)
}

// pipeRead reads up to max bytes from p (up to a newline with line set),
// blocking while it is empty; nil at the end of input.
func (sh *shell) pipeRead(p *pipe, max int, line bool) []byte {
	for {
		if len(p.buf) > 0 {
			out := p.take(max, line)
			p.notifyLocked()
			return out
		}
		if p.writers == 0 {
			return nil
		}
		id := sh.f.co.newWait()
		p.waiting = append(p.waiting, waiter{sh.f.co, id})
		sh.await(id)
	}
}

// pipeWrite writes b into p, blocking while it is full. Without readers
// the writer dies of SIGPIPE.
func (sh *shell) pipeWrite(p *pipe, b []byte) {
	for len(b) > 0 {
		if p.readers == 0 {
			panic(cmdDeath{statusPipe})
		}
		if n := min(pipeSize-len(p.buf), len(b)); n > 0 {
			p.buf = append(p.buf, b[:n]...)
			b = b[n:]
			p.notifyLocked()
			continue
		}
		id := sh.f.co.newWait()
		p.waiting = append(p.waiting, waiter{sh.f.co, id})
		sh.await(id)
	}
}

// readDesc reads up to max bytes from d as they arrive: blocking on a
// pipe, endless from /dev/zero and /dev/urandom; nil at the end of input.
func (sh *shell) readDesc(d *fileDesc, max int) []byte {
	if d == nil {
		return nil
	}
	max = min(max, readChunk)
	switch d.kind {
	case fdIn:
		n := min(max, len(d.data)-d.off)
		if n <= 0 {
			return nil
		}
		sh.tick(n)
		b := d.data[d.off : d.off+n]
		d.off += n
		return b
	case fdPipeIn:
		b := sh.pipeRead(d.pipe, max, false)
		sh.tick(len(b))
		return b
	case fdZero:
		sh.tick(max)
		return make([]byte, max)
	case fdRandom:
		sh.tick(max)
		return sh.g.randomBytes(max)
	}
	return nil
}

// randomBytes draws n bytes from the guest's /dev/urandom: a seeded
// source of its own, so runs repeat and process names do not change.
func (g *Guest) randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.devRand.Uint32())
	}
	return b
}

// slurp reads d to its end. An endless input, or one larger than maxHeld,
// stalls the command.
func (sh *shell) slurp(d *fileDesc) []byte {
	if d == nil {
		return nil
	}
	switch d.kind {
	case fdIn:
		b := d.data[d.off:]
		d.off = len(d.data)
		return b
	case fdZero, fdRandom:
		sh.stall()
	case fdPipeIn:
		var out []byte
		for {
			b := sh.readDesc(d, readChunk)
			if b == nil {
				return out
			}
			if len(out)+len(b) > maxHeld {
				sh.stall()
			}
			out = append(out, b...)
		}
	}
	return nil
}

// reader reads one input of a utility as it arrives, in chunks or lines.
type reader struct {
	sh  *shell
	d   *fileDesc
	buf []byte
	eof bool
}

func (sh *shell) newReader(d *fileDesc) *reader { return &reader{sh: sh, d: d} }

// fill reads more input; false at its end.
func (r *reader) fill() bool {
	if r.eof {
		return false
	}
	b := r.sh.readDesc(r.d, readChunk)
	if b == nil {
		r.eof = true
		return false
	}
	r.buf = append(r.buf, b...)
	return true
}

// chunk returns the next piece of input, nil at its end.
func (r *reader) chunk() []byte {
	if len(r.buf) == 0 && !r.fill() {
		return nil
	}
	b := r.buf
	r.buf = nil
	return b
}

// line returns the next line with its newline (the last one may have
// none); ok is false at the end of input. A line longer than maxHeld
// stalls the command.
func (r *reader) line() (line []byte, ok bool) {
	for searched := 0; ; {
		if i := bytes.IndexByte(r.buf[searched:], '\n'); i >= 0 {
			l := r.buf[:searched+i+1]
			r.buf = r.buf[searched+i+1:]
			return l, true
		}
		searched = len(r.buf)
		if len(r.buf) > maxHeld {
			r.sh.stall()
		}
		if !r.fill() {
			l := r.buf
			r.buf = nil
			return l, len(l) > 0
		}
	}
}

// close gives back to a seekable input what was read but not used, as
// GNU utilities reposition a file they stop reading early.
func (r *reader) close() {
	if r.d != nil && r.d.kind == fdIn {
		r.d.off -= min(len(r.buf), r.d.off)
	}
	r.buf = nil
}

// cmdStdin is the standard input of a registered command run from sh: a
// reader of what is left on the shell's descriptor 0.
func (sh *shell) cmdStdin(c *Cmd) io.Reader {
	d := sh.fds[0]
	if d == nil {
		return bytes.NewReader(nil)
	}
	switch d.kind {
	case fdIn:
		b := d.data[d.off:]
		d.off = len(d.data)
		return bytes.NewReader(b)
	case fdPipeIn:
		return pipeReader{c, d.pipe}
	case fdZero:
		return zeroReader{}
	case fdRandom:
		return randReader{sh.g}
	}
	return bytes.NewReader(nil)
}

// pipeReader is a registered command's end of a pipe it reads.
type pipeReader struct {
	c *Cmd
	p *pipe
}

func (r pipeReader) Read(b []byte) (int, error) {
	g := r.c.g
	for {
		g.mu.Lock()
		if len(r.p.buf) > 0 {
			n := copy(b, r.p.take(len(b), false))
			r.p.notifyLocked()
			g.mu.Unlock()
			return n, nil
		}
		if r.p.writers == 0 {
			g.mu.Unlock()
			return 0, io.EOF
		}
		changed := r.p.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-r.c.ctx.Done():
			return 0, io.ErrClosedPipe
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

type randReader struct{ g *Guest }

func (r randReader) Read(b []byte) (int, error) {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	copy(b, r.g.randomBytes(len(b)))
	return len(b), nil
}

// writeFromGoroutine writes b to d for code that runs outside the
// simulated shells (a registered command, a simulated server answering a
// request): it takes g.mu itself and, on a full pipe, waits with g.mu
// released until there is room or ctx is done. It fails with
// io.ErrClosedPipe when the pipe has no reader any more (epipe is then
// true) or ctx is done.
func (g *Guest) writeFromGoroutine(ctx context.Context, d *fileDesc, b []byte, alive func() bool) (n int, epipe bool, err error) {
	for {
		g.mu.Lock()
		if !alive() {
			g.mu.Unlock()
			return n, false, io.ErrClosedPipe
		}
		if d == nil || d.kind != fdPipeOut {
			g.writeDescLocked(d, b)
			g.mu.Unlock()
			return n + len(b), false, nil
		}
		p := d.pipe
		if p.readers == 0 {
			g.mu.Unlock()
			return n, true, io.ErrClosedPipe
		}
		if k := min(pipeSize-len(p.buf), len(b)); k > 0 {
			p.buf = append(p.buf, b[:k]...)
			b, n = b[k:], n+k
			p.notifyLocked()
		}
		changed := p.changed
		g.mu.Unlock()
		if len(b) == 0 {
			return n, false, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return n, false, io.ErrClosedPipe
		}
	}
}

// writeDescLocked writes b to an output descriptor that cannot block: the
// process's output, a file, a capture. Pipes are written by pipeWrite or
// writeFromGoroutine.
func (g *Guest) writeDescLocked(d *fileDesc, b []byte) {
	if d == nil || len(b) == 0 {
		return
	}
	switch d.kind {
	case fdOut:
		d.proc.writeLocked(d.stream, b)
	case fdFile:
		g.appendNodeLocked(d.n, d.path, b)
	case fdBuf:
		if d.buf.Len()+len(b) <= maxHeld {
			d.buf.Write(b)
		}
	}
}

// newDevRand returns the source of /dev/urandom.
func newDevRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
