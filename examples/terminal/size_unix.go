//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// followSize resizes t whenever the local terminal (fd) changes size
// (SIGWINCH), until the returned function is called.
func followSize(fd int, t *sandbox.Terminal) (stop func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-winch:
				if cols, rows, err := term.GetSize(fd); err == nil {
					_ = t.Resize(cols, rows)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		<-finished
	}
}
