package lifecycle

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// ClientTokenKey is the metadata key under which [Client.Create] stores
// the create call's client token. It is reserved: metadata given to
// Create must not contain it. The token stays visible on the sandbox
// ([Sandbox.ClientToken]) so that a sandbox can be traced back to the call
// that made it, and so that a later Create with the same
// [CreateOptions.ClientToken] finds it.
const ClientTokenKey = "sandboxkit.dev/client-token"

// Defaults of [CreateOptions].
const (
	DefaultCreateAttempts = 4
	createMinDelay        = 250 * time.Millisecond
	createMaxDelay        = 5 * time.Second
)

// DefaultSandboxTimeout is the lifetime of a sandbox whose
// [CreateRequest.Timeout] is zero (OpenSandbox's own SDKs default to the
// same). A sandbox forgotten by its creator is thus terminated by the
// service within minutes instead of running, and costing, forever; set
// [CreateRequest.NeverExpires] for one that lives until deleted.
const DefaultSandboxTimeout = 10 * time.Minute

// CreateRequest describes a sandbox to create. Give exactly one source:
// Image (then Entrypoint is required) or SnapshotID.
type CreateRequest struct {
	// Image is the container image to run.
	Image *Image
	// SnapshotID is the snapshot to restore; see [Client.CreateFromSnapshot].
	SnapshotID string
	// Entrypoint is the main process; required with Image. From a
	// snapshot it may be nil: OpenSandbox then runs `tail -f /dev/null`,
	// not the entrypoint of the sandbox the snapshot was taken from.
	Entrypoint []string
	// Platform asks for an OS and architecture; nil leaves the default.
	Platform *Platform
	// Timeout is how long the sandbox lives before the service terminates
	// it; zero means [DefaultSandboxTimeout]. At least one minute; whole
	// seconds are sent (the rest is dropped). The service may cap it.
	// Extend it with [Client.Renew] or a [Renewer].
	Timeout time.Duration
	// NeverExpires asks for a sandbox the service never terminates by
	// itself: it lives, and costs, until it is deleted. Timeout must then
	// be zero. Such a sandbox cannot be renewed (OpenSandbox answers 409),
	// and a [Renewer] stops on it with [StopNoExpiry].
	NeverExpires bool
	// ResourceLimits maps a resource to a quantity, e.g. "cpu": "500m",
	// "memory": "512Mi". OpenSandbox requires it, also when creating from
	// a snapshot (it answers 422 without), unless the sandbox comes from a
	// pool.
	ResourceLimits map[string]string
	// Env holds environment variables for the entrypoint.
	Env map[string]string
	// Metadata holds key/value pairs to find the sandbox by ([ListOptions]).
	// Keys are label keys ("[prefix/]name"); keys under opensandbox.io/ are
	// reserved by the service and [ClientTokenKey] by this package.
	Metadata map[string]string
	// NetworkPolicy restricts outbound traffic; nil allows everything.
	NetworkPolicy *NetworkPolicy
	// CredentialProxy enables the service's credential proxy.
	CredentialProxy bool
	// SecureAccess requires a signed endpoint to reach the sandbox.
	SecureAccess bool
	// Volumes to mount.
	Volumes []Volume
	// Extensions holds provider-specific settings, sent untouched.
	Extensions map[string]string
}

// CreateOptions tunes [Client.Create].
type CreateOptions struct {
	// ClientToken identifies this create across calls. Leave it empty and
	// Create makes up a random one, which protects the retries inside one
	// call. Set it (a label value: 1 to 63 letters, digits, '-', '_' or
	// '.', starting and ending with a letter or digit) to carry the
	// guarantee across calls: before sending anything, Create then looks
	// for a sandbox holding the token and returns it if there is one, and
	// concurrent calls with the token through one [sandboxkit.Config] send a
	// single request. Across processes only the lookup helps (see
	// [Client.Create]). A [*sandboxkit.OutcomeError] reports the token
	// it used in Token.
	ClientToken string
	// MaxAttempts bounds how many times the create request is sent
	// (default [DefaultCreateAttempts]; 1 disables retries).
	MaxAttempts int
	// AttemptTimeout bounds each attempt; when it runs out (and ctx has
	// not) the attempt counts as ambiguous and is resolved and retried like
	// a lost connection. Zero means attempts are bounded only by ctx.
	AttemptTimeout time.Duration
}

// Create creates a sandbox and returns it as the service accepted it
// (OpenSandbox's Docker runtime answers Running once the container has
// started, other services Pending; see [Client.CreateAndWait]). It never
// makes two sandboxes for one call:
//
//   - Every request carries a client token in the metadata under
//     [ClientTokenKey].
//   - Create runs its own retry loop; the transport's retries are turned
//     off for the POST (the transport sends it once).
//   - An attempt that provably did not reach the service (connection
//     refused, DNS failure, 429) is sent again after a backoff. After a
//     429 the wait is at least the answer's Retry-After
//     ([sandboxkit.APIError.RetryAfter]), capped at the client's
//     [sandboxkit.RetryPolicy.RetryAfterCap]; if that wait would pass ctx's
//     deadline, the 429 [*sandboxkit.APIError] is returned at once.
//   - An attempt whose outcome is ambiguous (connection lost or attempt
//     timeout after sending, 408, 5xx) is followed, after a backoff, by a
//     lookup of the token ([Client.List] with a metadata filter). If the
//     first attempt made the sandbox, that sandbox is returned; only if
//     the lookup finds nothing is the request sent again. A lookup
//     answered 500 (OpenSandbox answers a list that races a delete with
//     500 DOCKER::SANDBOX_QUERY_FAILED) is sent again like the transport
//     retries a GET, unless retries are off ([sandboxkit.WithRetry] with
//     MaxRetries 0).
//   - Other errors (400, 401, 409, ...) are returned at once.
//
// The guarantee assumes the service has either committed or dropped an
// attempt by the time of the lookup (the backoff gives it time); a
// request the service is still processing when the lookup runs cannot be
// seen. If ctx ends or attempts run out while the outcome is unknown, the
// error is a [*sandboxkit.OutcomeError] (errors.Is(err,
// [sandboxkit.ErrOutcomeUnknown])) whose Token is the client token, and
// which wraps the last error (ctx's, when ctx ended): calling Create again
// with [CreateOptions.ClientToken] set to it returns the sandbox if a lost
// attempt made one, and creates it otherwise.
//
// With [CreateOptions.ClientToken] set, concurrent calls that share the
// token and the client's [sandboxkit.Config] (one Client, or Clients made
// with [NewFromConfig] from one Config) collapse into one: the first
// sends the request, the others wait for it (each within its own ctx)
// and get a copy of the sandbox it made; if it fails, the next caller
// starts over with a lookup. Across processes, or Clients of separate
// Configs, there is no such coordination: each call looks the token up
// first and returns a sandbox already holding it, but two calls whose
// lookups both run before either sandbox is listed make two sandboxes.
// Callers that need exactly one sandbox across processes must serialize
// their creates themselves.
//
// POST /sandboxes
func (c *Client) Create(ctx context.Context, req *CreateRequest, opts *CreateOptions) (*Sandbox, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	if err := req.validate(); err != nil {
		return nil, glue.Wrap(ctx, opCreate, err)
	}
	if err := opts.validate(); err != nil {
		return nil, glue.Wrap(ctx, opCreate, err)
	}
	if opts.ClientToken == "" {
		return c.create(ctx, req, opts, rand.Text())
	}
	key := flightKey{cfg: c.cfg, token: opts.ClientToken}
	for {
		f, leader := createFlights.join(key)
		if leader {
			s, err := c.create(ctx, req, opts, opts.ClientToken)
			createFlights.finish(key, f, s)
			return s, err
		}
		select {
		case <-f.done:
			if f.made != nil {
				return f.made.clone(), nil
			}
			// The call in flight failed: start over (with a lookup).
		case <-ctx.Done():
			return nil, glue.Wrap(ctx, opCreate, ctx.Err())
		}
	}
}

// flightKey identifies the creates that collapse into one: same
// configuration (base URL and credential), same client token.
type flightKey struct {
	cfg   *sandboxkit.Config
	token string
}

// createFlight is one create in progress that others wait for.
type createFlight struct {
	done chan struct{} // closed when the create returned
	made *Sandbox      // the sandbox it returned, or nil after an error
}

// flights holds the creates in progress by key.
type flights struct {
	mu sync.Mutex
	m  map[flightKey]*createFlight
}

// createFlights is shared by every Client of the process, so that Clients
// made from one Config collapse their creates too.
var createFlights flights

// join returns the flight for key, and whether the caller leads it (and
// must call finish).
func (fs *flights) join(key flightKey) (*createFlight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		return f, false
	}
	if fs.m == nil {
		fs.m = make(map[flightKey]*createFlight)
	}
	f := &createFlight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

// finish ends the leader's flight with the sandbox it made (nil on error).
func (fs *flights) finish(key flightKey, f *createFlight, made *Sandbox) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	if made != nil {
		f.made = made.clone()
	}
	close(f.done)
}

// create is Create's retry loop for one validated request and token.
func (c *Client) create(ctx context.Context, req *CreateRequest, opts *CreateOptions, token string) (*Sandbox, error) {
	metadata := make(map[string]string, len(req.Metadata)+1)
	maps.Copy(metadata, req.Metadata)
	metadata[ClientTokenKey] = token
	body := req.toAPI(metadata)

	maxAttempts := opts.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = DefaultCreateAttempts
	}
	var (
		attempts  int
		lastErr   error
		ambiguous bool
		lookup    = opts.ClientToken != "" // the token may belong to an earlier call
	)
	fail := func(err error) (*Sandbox, error) {
		err = glue.Wrap(ctx, opCreate, err)
		if ambiguous {
			return nil, &sandboxkit.OutcomeError{Op: opCreate, Kind: KindSandbox, Token: token,
				Err: fmt.Errorf("%s: %w", attemptCount(attempts), err)}
		}
		return nil, err
	}
	for {
		if lookup {
			s, err := c.findByClientToken(ctx, token)
			switch {
			case err != nil:
				err = fmt.Errorf("looking up client token: %w", err)
				if !ambiguous {
					// Nothing was sent: a plain error, which must name
					// Create. glue.Wrap leaves it as it is, since the
					// List error inside is already named.
					err = fmt.Errorf("sandboxkit: %s: %w", opCreate, err)
				}
				return fail(err)
			case s != nil:
				return s, nil
			}
			// Nothing was made: sending again is safe.
			lookup, ambiguous = false, false
		}
		if attempts >= maxAttempts {
			return fail(lastErr)
		}
		attempts++
		res, err := c.createOnce(ctx, body, opts.AttemptTimeout)
		if err == nil {
			return fromCreated(&res.Response, req), nil
		}
		lastErr = err
		switch classifyAttempt(ctx, err) {
		case attemptPermanent:
			return fail(err)
		case attemptAmbiguous:
			ambiguous, lookup = true, true
		case attemptNotSent:
		}
		if ctx.Err() != nil {
			return fail(err)
		}
		if attempts >= maxAttempts && !lookup {
			return fail(err)
		}
		if err := sleepBefore(ctx, c.retryDelay(err, poll.Delay(createMinDelay, createMaxDelay, attempts))); err != nil {
			if lookup {
				// No time left to wait, but the lookup may still settle it.
				s, lerr := c.findByClientToken(ctx, token)
				if lerr == nil && s != nil {
					return s, nil
				}
			}
			return fail(lastErr)
		}
	}
}

// CreateFromSnapshot creates a sandbox from a snapshot: Create with
// req.SnapshotID set to snapshotID. req's Image must be nil. req may be
// nil only for a service that needs nothing else: OpenSandbox requires
// ResourceLimits (it answers 422 without), and without an Entrypoint it
// runs `tail -f /dev/null`, not the entrypoint of the sandbox the
// snapshot was taken from.
//
// POST /sandboxes
func (c *Client) CreateFromSnapshot(ctx context.Context, snapshotID string, req *CreateRequest, opts *CreateOptions) (*Sandbox, error) {
	if err := validateSnapshotID(snapshotID); err != nil {
		return nil, glue.Wrap(ctx, opCreate, err)
	}
	var r CreateRequest
	if req != nil {
		r = *req
	}
	if r.Image != nil {
		return nil, glue.Wrap(ctx, opCreate, &sandboxkit.ValidationError{Field: "CreateRequest.Image", Reason: "must be nil when creating from a snapshot"})
	}
	r.SnapshotID = snapshotID
	return c.Create(ctx, &r, opts)
}

func (c *Client) createOnce(ctx context.Context, body *api.CreateSandboxRequest, timeout time.Duration) (*api.CreateSandboxResponseHeaders, error) {
	ctx = glue.WithoutRetries(ctx)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.api.CreateSandbox(ctx, body)
}

// findByClientToken returns the oldest sandbox holding token, or nil.
func (c *Client) findByClientToken(ctx context.Context, token string) (*Sandbox, error) {
	page, err := retryRead(ctx, c, func() (*SandboxPage, error) {
		return c.List(ctx, &ListOptions{Metadata: map[string]string{ClientTokenKey: token}, PageSize: 10})
	})
	if err != nil {
		return nil, err
	}
	var found *Sandbox
	for _, s := range page.Items {
		if s.Metadata[ClientTokenKey] != token {
			continue // a server that ignored the filter
		}
		if found == nil || s.CreatedAt.Before(found.CreatedAt) {
			found = s
		}
	}
	return found, nil
}

var (
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	volumeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

func (o *CreateOptions) validate() error {
	switch {
	case o.ClientToken != "" && (len(o.ClientToken) > 63 || !labelValueRE.MatchString(o.ClientToken)):
		return &sandboxkit.ValidationError{Field: "CreateOptions.ClientToken", Value: o.ClientToken,
			Reason: "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"}
	case o.MaxAttempts < 0:
		return &sandboxkit.ValidationError{Field: "CreateOptions.MaxAttempts", Value: fmt.Sprint(o.MaxAttempts), Reason: "must not be negative"}
	case o.AttemptTimeout < 0:
		return &sandboxkit.ValidationError{Field: "CreateOptions.AttemptTimeout", Value: o.AttemptTimeout.String(), Reason: "must not be negative"}
	}
	return nil
}

func (r *CreateRequest) validate() error {
	reject := func(field, value, reason string) error {
		return &sandboxkit.ValidationError{Field: "CreateRequest." + field, Value: value, Reason: reason}
	}
	if r == nil {
		return &sandboxkit.ValidationError{Field: "CreateRequest", Reason: "must not be nil"}
	}
	hasImage := r.Image != nil
	switch {
	case hasImage && r.SnapshotID != "":
		return reject("Image", "", "give either Image or SnapshotID, not both")
	case !hasImage && r.SnapshotID == "":
		return reject("Image", "", "give Image or SnapshotID")
	case hasImage && strings.TrimSpace(r.Image.URI) == "":
		return reject("Image.URI", "", "must not be empty")
	case hasImage && len(r.Entrypoint) == 0:
		return reject("Entrypoint", "", "required with Image")
	case r.Entrypoint != nil && len(r.Entrypoint) == 0:
		return reject("Entrypoint", "", "must not be an empty list (leave it nil)")
	case r.Timeout < 0:
		return reject("Timeout", r.Timeout.String(), "must not be negative")
	case r.Timeout > 0 && r.Timeout < time.Minute:
		return reject("Timeout", r.Timeout.String(), "must be at least 1m (or zero for the default, "+DefaultSandboxTimeout.String()+")")
	case r.NeverExpires && r.Timeout != 0:
		return reject("Timeout", r.Timeout.String(), "must be zero with NeverExpires")
	}
	if r.SnapshotID != "" {
		if err := validateSnapshotID(r.SnapshotID); err != nil {
			return err
		}
	}
	if _, ok := r.Metadata[ClientTokenKey]; ok {
		return reject("Metadata", ClientTokenKey, "key is reserved for the client token (use CreateOptions.ClientToken)")
	}
	for k := range r.Metadata {
		if k == "" {
			return reject("Metadata", "", "keys must not be empty")
		}
	}
	if np := r.NetworkPolicy; np != nil {
		if np.DefaultAction != "" && !np.DefaultAction.valid() {
			return reject("NetworkPolicy.DefaultAction", string(np.DefaultAction), `must be "allow" or "deny"`)
		}
		for i, rule := range np.Egress {
			if !rule.Action.valid() {
				return reject(fmt.Sprintf("NetworkPolicy.Egress[%d].Action", i), string(rule.Action), `must be "allow" or "deny"`)
			}
			if rule.Target == "" {
				return reject(fmt.Sprintf("NetworkPolicy.Egress[%d].Target", i), "", "must not be empty")
			}
		}
	}
	for i := range r.Volumes {
		if err := r.Volumes[i].validate(fmt.Sprintf("CreateRequest.Volumes[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (a NetworkAction) valid() bool { return a == NetworkAllow || a == NetworkDeny }

func (v *Volume) validate(field string) error {
	reject := func(f, value, reason string) error {
		return &sandboxkit.ValidationError{Field: field + "." + f, Value: value, Reason: reason}
	}
	backends := 0
	for _, set := range []bool{v.Host != nil, v.PVC != nil, v.OSSFS != nil} {
		if set {
			backends++
		}
	}
	switch {
	case len(v.Name) > 63 || !volumeNameRE.MatchString(v.Name):
		return reject("Name", v.Name, "must be a DNS label: lower-case letters, digits and '-', at most 63")
	case !strings.HasPrefix(v.MountPath, "/"):
		return reject("MountPath", v.MountPath, "must be an absolute path")
	case backends != 1:
		return reject("Host", "", "set exactly one of Host, PVC and OSSFS")
	case v.PVC != nil && v.PVC.ClaimName == "":
		return reject("PVC.ClaimName", "", "must not be empty")
	case v.Host != nil && v.Host.Path == "":
		return reject("Host.Path", "", "must not be empty")
	case v.OSSFS != nil && !slices.Contains([]string{"", "1.0", "2.0"}, v.OSSFS.Version):
		return reject("OSSFS.Version", v.OSSFS.Version, `must be "1.0" or "2.0"`)
	}
	return nil
}

// retryDelay is the wait before sending a create again after err, given
// the loop's own backoff: after a 429 it is stretched to the server's
// Retry-After, capped at the client's RetryPolicy().RetryAfterCap (as the
// transport's retries do), and never shortened.
func (c *Client) retryDelay(err error, backoff time.Duration) time.Duration {
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	if !ok || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.RetryAfter <= 0 {
		return backoff
	}
	return max(backoff, min(apiErr.RetryAfter, c.cfg.RetryPolicy().RetryAfterCap))
}

// sleepBefore waits d unless ctx ends first or its deadline falls before
// the wait would end (or when it ends, as the transport's retries judge
// it); then it returns an error without waiting.
func sleepBefore(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Add(d).Before(deadline) {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryRead runs read (a GET) again after a 500 that the transport did not
// retry, with the transport's backoff, up to its MaxRetries: a read has no
// effect to repeat, and OpenSandbox answers a list that races a delete
// with 500 DOCKER::SANDBOX_QUERY_FAILED. It retries nothing when the
// client's retries are off.
func retryRead[T any](ctx context.Context, c *Client, read func() (T, error)) (T, error) {
	policy := c.cfg.RetryPolicy()
	for retry := 1; ; retry++ {
		v, err := read()
		apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
		if err == nil || !ok || apiErr.StatusCode != http.StatusInternalServerError ||
			apiErr.Retries > 0 || retry > policy.MaxRetries {
			return v, err
		}
		if sleepBefore(ctx, poll.Delay(policy.MinDelay, policy.MaxDelay, retry)) != nil {
			return v, err
		}
	}
}
