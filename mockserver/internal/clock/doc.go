// Package clock is the mock server's notion of time: the real clock, or a
// manual one that tests move forward with Advance so that expiries and
// asynchronous state transitions happen exactly when the test says.
package clock
