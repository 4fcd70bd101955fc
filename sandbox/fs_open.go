package sandbox

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Open returns the bytes of a file as a stream, read from the network as
// the caller reads: a file of any size is never held in memory. The
// caller must close it. Reads fail with the context's error once ctx
// ends, and with io.ErrUnexpectedEOF if the connection drops early.
// Opening a directory fails with [ErrIsDirectory]: the server answers a
// download with Content-Disposition, a directory with its JSON listing
// without it.
//
// GET /filesystem/{path}?download=true
func (c *Client) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	const op = "Open"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("path", path); err != nil {
		return nil, wrap(ctx, op, err)
	}
	wire, _ := fsPath(path)
	var body bodyOwner
	var isDir bool
	res, err := c.api.GetFilesystem(glue.Streaming(ctx), sandboxapi.GetFilesystemParams{Path: wire, Download: sandboxapi.NewOptBool(true)},
		body.option(func(r *http.Response) {
			if r.StatusCode != http.StatusOK {
				return
			}
			// A download carries Content-Disposition; a directory is
			// answered with its JSON listing instead.
			isDir = r.Header.Get("Content-Disposition") == "" && isJSON(r.Header.Get("Content-Type"))
			// The real server labels downloads by file extension
			// (text/plain, even application/json): read every 200 as raw
			// bytes.
			r.Header.Set("Content-Type", "application/octet-stream")
		}),
		sandboxapi.WithEditRequest(func(r *http.Request) error {
			r.Header.Set("Accept", "application/octet-stream")
			return clearRawPath(r)
		}))
	if err != nil {
		body.close()
		return nil, wrap(ctx, op, err)
	}
	rc, err := downloadBody(res)
	if err != nil {
		body.close()
		return nil, wrap(ctx, op, err)
	}
	if isDir {
		_ = rc.Close()
		return nil, wrap(ctx, op, ErrIsDirectory)
	}
	f := &fileReader{ctx: ctx, body: rc}
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

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
