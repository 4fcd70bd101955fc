package sandbox

import (
	"context"
	"io"
	"net/http"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// Open returns the bytes of a file as a stream, read from the network as
// the caller reads: a file of any size is never held in memory. The
// caller must close it. Reads fail with the context's error once ctx
// ends, and with io.ErrUnexpectedEOF if the connection drops early.
//
// GET /filesystem/{path}?download=true
func (c *Client) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	const op = "Open"
	if err := checkPath("path", path); err != nil {
		return nil, wrap(ctx, op, err)
	}
	var body bodyOwner
	res, err := c.api.GetFilesystem(ctx, sandboxapi.GetFilesystemParams{Path: path, Download: sandboxapi.NewOptBool(true)},
		// The real server labels downloads by file extension (text/plain,
		// even application/json): read every 200 as raw bytes.
		body.option(forceContentType("application/octet-stream")),
		sandboxapi.WithEditRequest(func(r *http.Request) error {
			r.Header.Set("Accept", "application/octet-stream")
			return clearRawPath(r)
		}))
	if err != nil {
		body.close()
		return nil, wrap(ctx, op, err)
	}
	r, ok := res.(*sandboxapi.GetFilesystemOKRawApplicationOctetStream)
	if !ok {
		body.close()
		return nil, wrap(ctx, op, unexpected(res))
	}
	f := &fileReader{ctx: ctx, body: r.Response.Body}
	// Whatever the transport, a blocked read ends with ctx.
	f.stop = context.AfterFunc(ctx, func() { _ = f.body.Close() })
	return f, nil
}

// fileReader names the operation in read errors and lets ctx's error win.
type fileReader struct {
	ctx  context.Context
	body io.ReadCloser
	stop func() bool
}

func (f *fileReader) Read(p []byte) (int, error) {
	n, err := f.body.Read(p)
	if err != nil && err != io.EOF {
		err = wrap(f.ctx, "Open", err)
	}
	return n, err
}

func (f *fileReader) Close() error {
	f.stop()
	return f.body.Close()
}
