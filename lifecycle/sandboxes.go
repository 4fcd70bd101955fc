package lifecycle

import (
	"context"
	"time"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Get returns a sandbox as it is now. A sandbox that does not exist (or no
// longer does) is an error matching [sandboxkit.ErrNotFound].
//
// GET /sandboxes/{sandboxId}
func (c *Client) Get(ctx context.Context, id string) (*Sandbox, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, glue.Wrap(ctx, opGet, err)
	}
	res, err := c.api.GetSandbox(ctx, api.GetSandboxParams{SandboxID: id})
	if err != nil {
		return nil, glue.Wrap(ctx, opGet, err)
	}
	return fromSandbox(res), nil
}

// Delete terminates a sandbox. On OpenSandbox's Docker runtime it is
// gone, not found, when Delete returns; on its Kubernetes runtime it keeps
// reading the state it had until the deletion completes, then it is not
// found; the API's state machine also allows Stopping, then Terminated.
// [Client.DeleteAndWait] waits for the end in every case. Deleting a
// sandbox that does not exist, or no longer does, is an error matching
// [sandboxkit.ErrNotFound] (a service that keeps Terminated sandboxes may
// answer 409 instead).
//
// A lost connection never makes Delete fail by itself: when an attempt's
// outcome is unknown (the connection dropped after the request was sent,
// or a 5xx), Delete reads the sandbox back. Stopping, Terminated or not
// found means the delete took effect, and Delete succeeds; any other
// state may mean it did not (or, on Kubernetes, that the deletion is
// still running), and the request is sent again (at most four requests
// in all), which a deletion under way accepts. A 409 or 404 answering a
// repeated request is settled the same way. When the sandbox cannot be
// read back, the error is a [*sandboxkit.OutcomeError].
//
// DELETE /sandboxes/{sandboxId}
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := validateSandboxID(id); err != nil {
		return glue.Wrap(ctx, opDelete, err)
	}
	return c.act(ctx, action{op: opDelete, id: id, settle: deleteSettle, settleOn: deleteMaySettle,
		send: func(ctx context.Context) error {
			return c.api.DeleteSandbox(ctx, api.DeleteSandboxParams{SandboxID: id})
		}})
}

// Pause asks a Running sandbox to pause: it moves to Pausing, then Paused
// ([Client.PauseAndWait] waits for that; OpenSandbox's Docker runtime is
// Paused when Pause returns). Any other state is an error matching
// [sandboxkit.ErrConflict], except that the Docker runtime answers a pause of
// a Paused sandbox with 500, which Pause settles by reading the sandbox
// back (below) and so returns nil.
//
// Pause is never repeated blindly. When an attempt's outcome is unknown
// (the connection dropped after the request was sent, or a 5xx), Pause
// reads the sandbox back: Pausing or Paused means the pause took effect
// and Pause succeeds (the state it asked for holds, whoever caused it);
// Running means it did not, and the request is sent again (at most four
// requests in all); any other state, or a failed read, gives an
// [*OutcomeError]. A 409 answering a repeated request is settled the same
// way; a 409 to the first request is returned as it is.
//
// POST /sandboxes/{sandboxId}/pause
func (c *Client) Pause(ctx context.Context, id string) error {
	if err := validateSandboxID(id); err != nil {
		return glue.Wrap(ctx, opPause, err)
	}
	return c.act(ctx, action{op: opPause, id: id, settleOn: conflictAfterAmbiguous,
		settle: settleStates([]State{StatePausing, StatePaused}, []State{StateRunning}),
		send: func(ctx context.Context) error {
			return c.api.PauseSandbox(ctx, api.PauseSandboxParams{SandboxID: id})
		}})
}

// Resume asks a Paused sandbox to resume: it moves to Resuming, then
// Running ([Client.ResumeAndWait] waits for that; OpenSandbox's Docker
// runtime is Running when Resume returns). Any other state is an error
// matching [sandboxkit.ErrConflict].
//
// Resume is never repeated blindly. When an attempt's outcome is unknown
// (the connection dropped after the request was sent, or a 5xx), Resume
// reads the sandbox back: Resuming or Running means the resume took
// effect (Running: it has already completed) and Resume succeeds; Paused
// means it did not, and the request is sent again (at most four requests
// in all); any other state, or a failed read, gives a [*sandboxkit.OutcomeError]. A
// 409 answering a repeated request is settled the same way; a 409 to the
// first request is returned as it is.
//
// POST /sandboxes/{sandboxId}/resume
func (c *Client) Resume(ctx context.Context, id string) error {
	if err := validateSandboxID(id); err != nil {
		return glue.Wrap(ctx, opResume, err)
	}
	return c.act(ctx, action{op: opResume, id: id, settleOn: conflictAfterAmbiguous,
		settle: settleStates([]State{StateResuming, StateRunning}, []State{StatePaused}),
		send: func(ctx context.Context) error {
			return c.api.ResumeSandbox(ctx, api.ResumeSandboxParams{SandboxID: id})
		}})
}

// Renew moves a sandbox's expiry to expiresAt and returns the expiry now
// in force. expiresAt must lie in the future (checked before sending, on
// the wall clock, or on the [Clock] of the [Renewer] or [RenewerPool]
// that calls Renew). The service checks nothing else: an expiresAt before
// the current expiry shortens the sandbox's life (OpenSandbox, Docker and
// Kubernetes runtimes alike), though some services refuse it with 409.
// A sandbox created with [CreateRequest.NeverExpires] cannot be renewed
// (409). The wire format has microseconds, so a finer expiresAt is
// rounded up to the next microsecond, never down. To keep a sandbox alive
// without ever shortening its life, use a [Renewer].
//
// Renew is never repeated blindly. When an attempt's outcome is unknown
// (the connection dropped after the request was sent, or a 5xx), Renew
// reads the sandbox back: an expiry equal to expiresAt means the renewal
// took effect, and Renew returns it; any other expiry means it did not,
// and the request is sent again (at most four requests in all). A 409
// answering a repeated request is success when the expiry in force is
// expiresAt. A failed read gives a [*sandboxkit.OutcomeError].
//
// POST /sandboxes/{sandboxId}/renew-expiration
func (c *Client) Renew(ctx context.Context, id string, expiresAt time.Time) (time.Time, error) {
	if err := validateSandboxID(id); err != nil {
		return time.Time{}, glue.Wrap(ctx, opRenew, err)
	}
	if !expiresAt.After(clockFrom(ctx).Now()) {
		return time.Time{}, glue.Wrap(ctx, opRenew, &sandboxkit.ValidationError{
			Field: "expiresAt", Value: expiresAt.UTC().Format(time.RFC3339), Reason: "must be in the future"})
	}
	if t := expiresAt.Truncate(time.Microsecond); !t.Equal(expiresAt) {
		expiresAt = t.Add(time.Microsecond)
	}
	var got time.Time
	err := c.act(ctx, action{op: opRenew, id: id, settleOn: conflictAfterAmbiguous,
		settle: renewSettle(expiresAt, &got),
		send: func(ctx context.Context) error {
			res, err := c.api.RenewSandboxExpiration(ctx,
				&api.RenewSandboxExpirationRequest{ExpiresAt: expiresAt.UTC()},
				api.RenewSandboxExpirationParams{SandboxID: id})
			if err != nil {
				return err
			}
			got = res.ExpiresAt
			return nil
		}})
	if err != nil {
		return time.Time{}, err
	}
	return got, nil
}

// MetadataPatch changes some metadata keys and keeps the others.
type MetadataPatch struct {
	// Set adds or replaces these pairs.
	Set map[string]string
	// Delete removes these keys (absent keys are ignored by the service).
	Delete []string
}

// PatchMetadata applies patch to a sandbox's metadata (a JSON merge
// patch: set keys get the new value, deleted keys are sent as null, other
// keys are kept) and returns the whole sandbox. A key must not be both
// set and deleted. Keys under opensandbox.io/ are reserved by the service.
//
// A nil or empty patch sends nothing and returns the sandbox as [Client.Get]
// does: OpenSandbox's Docker runtime rewrites the metadata on every patch,
// even an empty one, and in doing so brings back keys the sandbox was
// created with that an earlier patch deleted. The same holds for every
// non-empty patch there: a creation key deleted by one patch is back
// after the next patch of any key.
//
// PATCH /sandboxes/{sandboxId}/metadata (GET /sandboxes/{sandboxId} for an empty patch)
func (c *Client) PatchMetadata(ctx context.Context, id string, patch *MetadataPatch) (*Sandbox, error) {
	if err := validateSandboxID(id); err != nil {
		return nil, glue.Wrap(ctx, opPatchMetadata, err)
	}
	if patch == nil {
		patch = &MetadataPatch{}
	}
	body := make(api.PatchSandboxMetadataRequest, len(patch.Set)+len(patch.Delete))
	for k, v := range patch.Set {
		if k == "" {
			return nil, glue.Wrap(ctx, opPatchMetadata, &sandboxkit.ValidationError{Field: "MetadataPatch.Set", Reason: "keys must not be empty"})
		}
		body[k] = api.NewNilString(v)
	}
	for _, k := range patch.Delete {
		if k == "" {
			return nil, glue.Wrap(ctx, opPatchMetadata, &sandboxkit.ValidationError{Field: "MetadataPatch.Delete", Reason: "keys must not be empty"})
		}
		if _, ok := patch.Set[k]; ok {
			return nil, glue.Wrap(ctx, opPatchMetadata, &sandboxkit.ValidationError{Field: "MetadataPatch", Value: k, Reason: "key is both set and deleted"})
		}
		body[k] = api.NilString{Null: true}
	}
	if len(body) == 0 {
		return c.Get(ctx, id)
	}
	res, err := c.api.PatchSandboxMetadata(ctx, body, api.PatchSandboxMetadataParams{SandboxID: id})
	if err != nil {
		return nil, glue.Wrap(ctx, opPatchMetadata, err)
	}
	return fromSandbox(res), nil
}
