package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Client talks to the API of one sandbox. It is safe for concurrent use.
type Client struct {
	cfg *sandboxkit.Config
	api *sandboxapi.Client

	// upMu guards flight, the Upgrade call in progress (see upgrade.go).
	upMu   sync.Mutex
	flight *upgradeFlight
}

// New returns a client for the sandbox API. The base URL is required
// ([sandboxkit.WithBaseURL]); the token ([sandboxkit.WithToken]) is sent as
// "Authorization: Bearer <token>". Settings no option gives are read from
// the environment unless [sandboxkit.WithoutEnvironment] is among opts.
func New(opts ...sandboxkit.Option) (*Client, error) {
	cfg, err := sandboxkit.NewConfig(sandboxkit.Sandbox, opts...)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig returns a client for a resolved sandbox API configuration,
// such as one from [sandboxkit.Config.ForSandbox].
func NewFromConfig(cfg *sandboxkit.Config) (*Client, error) {
	if cfg == nil {
		return nil, &sandboxkit.ValidationError{Field: "config", Reason: "must not be nil"}
	}
	if cfg.API() != sandboxkit.Sandbox {
		return nil, &sandboxkit.ValidationError{Field: "config", Value: cfg.API().String(), Reason: "not a sandbox API configuration"}
	}
	api, err := sandboxapi.NewClient(cfg.BaseURL().String(), noSecurity{}, sandboxapi.WithClient(cfg.HTTPClient()))
	if err != nil {
		return nil, fmt.Errorf("sandboxkit: sandbox client: %w", err)
	}
	return &Client{cfg: cfg, api: api}, nil
}

// Config returns the client's configuration (nil for a nil Client).
func (c *Client) Config() *sandboxkit.Config {
	if c == nil {
		return nil
	}
	return c.cfg
}

// check rejects what no call can work with: a Client not made by [New] or
// [NewFromConfig], and a nil context. op names the method.
func (c *Client) check(ctx context.Context, op string) error {
	switch {
	case c == nil || c.api == nil:
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "client", Reason: "not made by sandbox.New or NewFromConfig"})
	case ctx == nil:
		return wrap(ctx, op, &sandboxkit.ValidationError{Field: "context", Reason: "must not be nil"})
	}
	return nil
}

// noSecurity lets the transport add the credentials: the generated client
// never sees them.
type noSecurity struct{}

func (noSecurity) BearerAuth(context.Context, sandboxapi.OperationName) (sandboxapi.BearerAuth, error) {
	return sandboxapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}

// wrap names the operation in err; see glue.Wrap. An [*sandboxkit.APIError]
// from a call made on the way (GetProcess inside Wait) is renamed, so that
// errors name the method the caller called.
func wrap(ctx context.Context, op string, err error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	op = "sandbox." + op
	return named(glue.Wrap(ctx, op, err), op)
}

// named returns err, or a copy of it naming op if it is an
// [*sandboxkit.APIError] naming another operation.
func named(err error, op string) error {
	if apiErr, ok := err.(*sandboxkit.APIError); ok && apiErr.Operation != op {
		cp := *apiErr
		cp.Operation = op
		return &cp
	}
	return err
}

// fsPathOpt makes a {path} URL carry its slashes unencoded: the server
// reads any %2F as the mark of an absolute path, and an absolute path
// then arrives as /filesystem//tmp/a, which it takes as absolute.
var fsPathOpt = sandboxapi.WithEditRequest(clearRawPath)

func clearRawPath(r *http.Request) error {
	r.URL.RawPath = ""
	return nil
}

// bodyOwner keeps the response of an operation whose body the generated
// client does not close (the raw-body operations), so the façade can
// close it on every path that does not hand it to the caller.
type bodyOwner struct {
	resp *http.Response
}

// option records the response; fix, if not nil, may adjust it before the
// generated client decodes it.
func (b *bodyOwner) option(fix func(*http.Response)) sandboxapi.RequestOption {
	return sandboxapi.WithEditResponse(func(r *http.Response) error {
		b.resp = r
		if fix != nil {
			fix(r)
		}
		return nil
	})
}

// close drains a little of the body (so the connection may be reused) and
// closes it.
func (b *bodyOwner) close() {
	if b.resp == nil || b.resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(b.resp.Body, 4<<10))
	_ = b.resp.Body.Close()
	b.resp = nil
}

// forceContentType makes a 200 answer decode as the raw variant ct,
// whatever the server labelled it (the real server labels downloads by
// file extension, application/json included).
func forceContentType(ct string) func(*http.Response) {
	return func(r *http.Response) {
		if r.StatusCode == http.StatusOK {
			r.Header.Set("Content-Type", ct)
		}
	}
}
