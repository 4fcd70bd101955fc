// Package jobrunner runs shell commands in throw-away sandboxes. It plays
// the part of your own code in the testing example: jobrunner_test.go
// shows how to test code like this against sandboxkit's mock server (with
// fault injection) and against gomock mocks of sandboxkit's interfaces.
package jobrunner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Defaults of [Runner].
const (
	DefaultImage    = "python:3.12"
	DefaultAttempts = 3
	DefaultBackoff  = 200 * time.Millisecond
)

// Lifecycle is what a [Runner] needs of the lifecycle API.
// *lifecycle.Client implements it, and so does mocklifecycle.MockAPI.
type Lifecycle interface {
	lifecycle.Creator
	lifecycle.Getter
	lifecycle.Deleter
	lifecycle.EndpointGetter
}

// Connect returns a client of the sandbox API at a sandbox's port-8080
// endpoint. A *sandbox.Client is a sandbox.Executor.
type Connect func(ep *lifecycle.Endpoint) (sandbox.Executor, error)

// Runner runs jobs: each in a sandbox of its own, deleted afterwards.
type Runner struct {
	// Lifecycle creates, watches and deletes the sandboxes.
	Lifecycle Lifecycle
	// Connect opens the sandbox API of a sandbox.
	Connect Connect
	// Image is the image jobs run in ([DefaultImage] if empty).
	Image string
	// Attempts is how many times a command that failed with a transient
	// error (a 5xx, a 429, a dropped connection) is run in all
	// ([DefaultAttempts] if zero). Commands must be safe to repeat.
	Attempts int
	// Backoff is the pause before the second attempt; it doubles with
	// each one ([DefaultBackoff] if zero).
	Backoff time.Duration
	// Logf, if set, receives progress.
	Logf func(format string, args ...any)
}

// Result is what a job left behind.
type Result struct {
	// SandboxID is the sandbox the job ran in (deleted by now).
	SandboxID string
	// Stdout is the command's output.
	Stdout string
	// ExitCode is the command's exit status.
	ExitCode int
	// Attempts is how many times the command was run.
	Attempts int
}

// Run runs command in a new sandbox and deletes the sandbox, whatever
// happened. jobID names this run of the job (1 to 63 letters, digits,
// '-', '_' or '.'): it is the create's client token, so a retried or
// ambiguous create never makes a second sandbox, and it is stored in the
// sandbox's metadata under "job".
func (r *Runner) Run(ctx context.Context, jobID, command string) (res *Result, err error) {
	sb, err := r.Lifecycle.Create(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: cmp.Or(r.Image, DefaultImage)},
		Entrypoint:     []string{"sleep", "infinity"},
		Timeout:        15 * time.Minute, // a job that hangs does not outlive this
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
		Metadata:       map[string]string{"job": jobID},
	}, &lifecycle.CreateOptions{ClientToken: jobID})
	if err != nil {
		return nil, fmt.Errorf("jobrunner: job %s: create sandbox: %w", jobID, err)
	}
	r.logf("job %s: sandbox %s created", jobID, sb.ID)
	defer func() {
		// Delete even when ctx has ended, but not forever.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycle.CleanupTimeout)
		defer cancel()
		if derr := r.Lifecycle.Delete(dctx, sb.ID); derr != nil && !errors.Is(derr, sandboxkit.ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("jobrunner: job %s: delete sandbox %s: %w", jobID, sb.ID, derr))
			return
		}
		r.logf("job %s: sandbox %s deleted", jobID, sb.ID)
	}()

	w := lifecycle.NewWaiter(r.Lifecycle, &sandboxkit.WaitOptions{MinDelay: 50 * time.Millisecond})
	if _, err := w.Wait(ctx, sb.ID, lifecycle.StateRunning); err != nil {
		return nil, fmt.Errorf("jobrunner: job %s: %w", jobID, err)
	}
	ep, err := r.Lifecycle.Endpoint(ctx, sb.ID, 8080, nil)
	if err != nil {
		return nil, fmt.Errorf("jobrunner: job %s: %w", jobID, err)
	}
	exec, err := r.Connect(ep)
	if err != nil {
		return nil, fmt.Errorf("jobrunner: job %s: connect: %w", jobID, err)
	}

	attempts, backoff := r.Attempts, r.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	for attempt := 1; ; attempt++ {
		out, err := exec.Run(ctx, command, nil)
		if err == nil {
			r.logf("job %s: %q exited %d (attempt %d)", jobID, command, out.ExitCode, attempt)
			return &Result{SandboxID: sb.ID, Stdout: out.Stdout, ExitCode: out.ExitCode, Attempts: attempt}, nil
		}
		if attempt == attempts || !sandboxkit.IsTransient(err) {
			return nil, fmt.Errorf("jobrunner: job %s: run %q (attempt %d of %d): %w", jobID, command, attempt, attempts, err)
		}
		r.logf("job %s: attempt %d failed, retrying in %s: %v", jobID, attempt, backoff, err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, fmt.Errorf("jobrunner: job %s: %w", jobID, ctx.Err())
		}
		backoff *= 2
	}
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}
