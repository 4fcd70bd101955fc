//go:build unix

package sandboxkit_test

import "syscall"

// processCPU returns the CPU time, user and system, the process has used
// so far in nanoseconds, or -1 if it cannot tell.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
