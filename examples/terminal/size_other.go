//go:build !unix

package main

import "github.com/sandboxkit/sandboxkit/sandbox"

// followSize does nothing where there is no SIGWINCH: the terminal keeps
// the size it was opened with.
func followSize(int, *sandbox.Terminal) (stop func()) { return func() {} }
