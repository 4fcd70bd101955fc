//go:build !unix

package sandboxkit_test

// processCPU returns -1: this system does not report the process's CPU
// time through the syscall package.
func processCPU() int64 { return -1 }
