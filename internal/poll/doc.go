// Package poll is the polling loop behind every sandboxkit waiter: the
// lifecycle state waiters, the sandbox process and health waiters and the
// control plane deployment waiters.
//
// It follows the shape of aws-sdk-go-v2's waiters: jittered exponential
// backoff between MinDelay and MaxDelay, the last sleep trimmed so that one
// final check still happens before the context deadline, and transient
// errors tolerated up to a limit.
package poll
