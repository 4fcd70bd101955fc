package guest

import "fmt"

// wake says why a blocked coroutine runs again.
type wake int

const (
	// wakeGo: the coroutine starts, or what it waited for happened.
	wakeGo wake = iota
	// wakeTerm: SIGTERM reached the process group.
	wakeTerm
	// wakeKill: SIGKILL reached the process group (or the guest closes):
	// the coroutine unwinds at once.
	wakeKill
)

// coroutine runs one flow of a simulated process (the shell of a process,
// a background job) in a goroutine of its own, but never at the same time
// as anything else in the guest: whoever wakes it holds g.mu and waits
// until it blocks again or ends. Code inside a coroutine therefore runs as
// if it held g.mu, and a command line that takes no time has run entirely
// when the call that started it returns. The channel hand-offs order every
// access, so the race detector sees the same exclusion as the mutex.
type coroutine struct {
	resume chan wake
	yield  chan struct{}
	// cur identifies what a blocked coroutine waits for; a waker passes
	// the identifier it was given, so a stale timer cannot wake the
	// coroutine out of a later wait.
	cur, next uint64
	blocked   bool
	done      bool
}

// killed is the panic value that unwinds a coroutine hit by SIGKILL.
type killed struct{}

// startCoroutineLocked runs fn in a new coroutine until it first blocks or
// ends, then returns.
func startCoroutineLocked(fn func(co *coroutine)) *coroutine {
	co := &coroutine{resume: make(chan wake), yield: make(chan struct{})}
	go func() {
		<-co.resume
		defer func() {
			p := recover()
			co.done, co.blocked = true, false
			co.yield <- struct{}{}
			if _, ok := p.(killed); p != nil && !ok {
				panic(fmt.Sprintf("guest: simulated process: %v", p))
			}
		}()
		fn(co)
	}()
	co.stepLocked(wakeGo)
	return co
}

// stepLocked hands control to the blocked coroutine and waits until it
// blocks again or ends.
func (co *coroutine) stepLocked(w wake) {
	co.blocked = false
	co.resume <- w
	<-co.yield
}

// newWait returns the identifier of the coroutine's next wait; the caller
// gives it to whatever will wake the coroutine, then calls block.
func (co *coroutine) newWait() uint64 {
	co.next++
	return co.next
}

// block, called inside the coroutine, gives control back until a waker
// with identifier id (or a signal) runs it again. A SIGKILL unwinds.
func (co *coroutine) block(id uint64) wake {
	co.cur, co.blocked = id, true
	co.yield <- struct{}{}
	w := <-co.resume
	if w == wakeKill {
		panic(killed{})
	}
	return w
}

// wakeLocked runs the coroutine if it still waits for id.
func (co *coroutine) wakeLocked(id uint64) {
	if !co.done && co.blocked && co.cur == id {
		co.stepLocked(wakeGo)
	}
}

// signalLocked delivers a signal to the coroutine if it is blocked (a
// coroutine that is not blocked has ended: nothing else can run while it
// does).
func (co *coroutine) signalLocked(w wake) {
	if !co.done && co.blocked {
		co.stepLocked(w)
	}
}
