package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	ht "github.com/ogen-go/ogen/http"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
	"github.com/sandboxkit/sandboxkit/internal/poll"
)

// Upload defaults and limits.
const (
	// DefaultPartSize is the size of a multipart part unless
	// [UploadOptions.PartSize] says otherwise.
	DefaultPartSize = 8 << 20
	// DefaultUploadConcurrency is how many parts are sent at once unless
	// [UploadOptions.Concurrency] says otherwise.
	DefaultUploadConcurrency = 4
	// DefaultPartRetries is how many times a failed part is sent again
	// unless [UploadOptions.PartRetries] says otherwise.
	DefaultPartRetries = 3
	// MaxParts is the most parts a multipart upload may have.
	MaxParts = 10000
	// MaxPartSize is the largest part size Upload and ResumeUpload use,
	// whether given in [UploadOptions.PartSize] or taken from the server.
	MaxPartSize = 1 << 30
)

// UploadOptions tunes [Client.Upload] and [Client.ResumeUpload]. The zero
// value is usable.
type UploadOptions struct {
	// Size is the number of bytes the reader will yield, if known (0:
	// unknown). It is only used for progress reports.
	Size int64
	// Permissions of the file (the server's default is 0644).
	Permissions os.FileMode
	// PartSize is the size of each multipart part ([DefaultPartSize] if
	// zero). ResumeUpload takes it from the parts already received when
	// zero.
	PartSize int64
	// Threshold is the largest file sent in a single request (PartSize
	// if zero, and never more than PartSize); bigger files, and files
	// that are not valid UTF-8 text, go in parts. Negative: always parts.
	Threshold int64
	// Concurrency is how many parts are sent at once
	// ([DefaultUploadConcurrency] if zero). Upload holds at most
	// Concurrency × PartSize bytes in memory.
	Concurrency int
	// PartRetries is how many times a part that failed with a transient
	// error (a 5xx answer, a dropped connection, a checksum mismatch) is
	// sent again ([DefaultPartRetries] if zero; negative: never).
	PartRetries int
	// OnProgress, if set, is called after each part with the bytes sent
	// so far, from one goroutine at a time and with growing Bytes.
	OnProgress func(UploadProgress)
	// KeepOnFailure leaves a failed multipart session open so that
	// [Client.ResumeUpload] can finish it; by default it is aborted.
	KeepOnFailure bool
}

// UploadProgress reports how far an upload is.
type UploadProgress struct {
	// Bytes is how many bytes the server has received.
	Bytes int64
	// Total is the size of the file if known, else 0.
	Total int64
	// Parts is how many parts are done (1 for a single request).
	Parts int
}

// UploadResult describes a finished upload.
type UploadResult struct {
	// Path is the destination as the caller gave it.
	Path string
	// Size is the number of bytes written.
	Size int64
	// UploadID is the multipart session, "" for a single request.
	UploadID string
	// Parts is the number of parts.
	Parts int
}

func (o *UploadOptions) withDefaults() (UploadOptions, error) {
	var out UploadOptions
	if o != nil {
		out = *o
	}
	bad := func(field string, v any) error {
		return &sandboxkit.ValidationError{Field: field, Value: fmt.Sprint(v), Reason: "must not be negative"}
	}
	switch {
	case out.Size < 0:
		return out, bad("Size", out.Size)
	case out.PartSize < 0:
		return out, bad("PartSize", out.PartSize)
	case out.PartSize > MaxPartSize:
		return out, &sandboxkit.ValidationError{Field: "PartSize", Value: fmt.Sprint(out.PartSize), Reason: fmt.Sprintf("must not exceed MaxPartSize (%d)", MaxPartSize)}
	case out.Concurrency < 0:
		return out, bad("Concurrency", out.Concurrency)
	}
	if err := checkPerm("permissions", out.Permissions); err != nil {
		return out, err
	}
	if out.Concurrency == 0 {
		out.Concurrency = DefaultUploadConcurrency
	}
	switch {
	case out.PartRetries == 0:
		out.PartRetries = DefaultPartRetries
	case out.PartRetries < 0:
		out.PartRetries = 0
	}
	return out, nil
}

// Upload writes everything r yields to path. Files up to
// [UploadOptions.Threshold] (8 MiB by default) that are valid UTF-8 go in
// one PUT /filesystem request; anything else goes through a multipart
// session: parts of PartSize bytes read one after the other from r and
// sent Concurrency at a time, so memory stays within Concurrency ×
// PartSize whatever the file's size. A part that fails transiently is
// sent again from its buffer (each part's MD5 is checked against the
// server's etag). If a part fails for good, the other parts are stopped
// and the session is aborted (or kept with KeepOnFailure) and the error is
// an [*UploadError]; since r cannot be read again, finishing it needs
// [Client.ResumeUpload] with an io.ReaderAt over the same bytes.
//
// POST /filesystem-multipart/initiate/{path}, PUT /filesystem-multipart/{uploadId}/part,
// POST /filesystem-multipart/{uploadId}/complete (or PUT /filesystem/{path})
func (c *Client) Upload(ctx context.Context, path string, r io.Reader, opts *UploadOptions) (*UploadResult, error) {
	const op = "Upload"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("path", path); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if isNil(r) {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "reader", Reason: "must not be nil"})
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	threshold := o.Threshold
	if threshold == 0 || threshold > o.PartSize {
		threshold = o.PartSize
	}

	first, eof, err := readFirstPart(r, o.PartSize)
	if err != nil {
		return nil, wrap(ctx, op, fmt.Errorf("reading the source: %w", err))
	}
	n := len(first)
	if eof && int64(n) <= threshold && utf8.Valid(first) {
		// Small text: one request.
		var wo *WriteOptions
		if o.Permissions != 0 {
			wo = &WriteOptions{Permissions: o.Permissions}
		}
		if err := c.Write(ctx, path, string(first[:n]), wo); err != nil {
			return nil, rename(err, "sandbox.Write", "sandbox."+op)
		}
		if o.OnProgress != nil {
			o.OnProgress(UploadProgress{Bytes: int64(n), Total: int64(n), Parts: 1})
		}
		return &UploadResult{Path: path, Size: int64(n), Parts: 1}, nil
	}

	id, err := c.InitiateUpload(ctx, path, &InitiateUploadOptions{Permissions: o.Permissions})
	if err != nil {
		return nil, rename(err, "sandbox.InitiateUpload", "sandbox."+op)
	}
	u := newPartUploader(ctx, c, path, id, o)
	u.pool.allocated = 1 // first
	// Read the source part by part; each part is sent by a goroutine of
	// its own while the next is read.
	buf, data, num := first, first[:n], 1
	for {
		if num > MaxParts {
			u.fail(0, fmt.Errorf("more than %d parts of %d bytes; use a larger PartSize", MaxParts, o.PartSize))
			break
		}
		if u.ctx.Err() != nil {
			u.pool.put(buf) // a part failed meanwhile
			break
		}
		u.send(num, buf, data)
		if eof {
			break
		}
		if buf = u.pool.get(u.ctx); buf == nil {
			break // failed or cancelled
		}
		n, rerr := io.ReadFull(r, buf)
		if rerr == io.EOF {
			u.pool.put(buf)
			break
		}
		if rerr == io.ErrUnexpectedEOF {
			eof = true
		} else if rerr != nil {
			u.pool.put(buf)
			u.fail(0, fmt.Errorf("reading the source: %w", rerr))
			break
		}
		data, num = buf[:n], num+1
	}
	return u.finish(ctx, op)
}

// readFirstPart reads up to size bytes, growing its buffer as data comes
// so that a small file costs a small buffer. eof reports that r ended.
func readFirstPart(r io.Reader, size int64) (buf []byte, eof bool, err error) {
	buf = make([]byte, 0, min(size, 64<<10))
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return buf, true, nil
		case err != nil:
			return nil, false, err
		case int64(len(buf)) == size:
			return buf, false, nil
		}
		grown := make([]byte, len(buf), min(size, 2*int64(cap(buf))))
		copy(grown, buf)
		buf = grown
	}
}

// ResumeUpload finishes a multipart session that an earlier Upload left
// open ([UploadOptions.KeepOnFailure]) or that was filled elsewhere: src
// holds the whole file (size bytes), the parts the server already has
// with a matching MD5 are skipped, the others are sent, and the session
// is completed. The part size must be the one the session was begun with;
// when opts.PartSize is zero it is taken from the largest part received.
//
// GET /filesystem-multipart/{uploadId}/parts, PUT /filesystem-multipart/{uploadId}/part,
// POST /filesystem-multipart/{uploadId}/complete
func (c *Client) ResumeUpload(ctx context.Context, uploadID string, src io.ReaderAt, size int64, opts *UploadOptions) (*UploadResult, error) {
	const op = "ResumeUpload"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := glue.ValidateID("upload id", uploadID); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if size < 0 {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "size", Value: fmt.Sprint(size), Reason: "must not be negative"})
	}
	if isNil(src) {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "source", Reason: "must not be nil"})
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	have, err := c.ListUploadedParts(ctx, uploadID)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	byNum := make(map[int]UploadedPart, len(have))
	var largest int64
	for _, p := range have {
		byNum[p.PartNumber] = p
		largest = max(largest, p.Size)
	}
	if o.PartSize == 0 && largest > 0 {
		// The server's word, checked: a part larger than the whole file
		// cannot be one of its parts, and a part size past MaxPartSize is
		// not one Upload would have used.
		if largest > MaxPartSize {
			return nil, wrap(ctx, op, fmt.Errorf("the server reports a part of %d bytes, more than MaxPartSize (%d); give UploadOptions.PartSize", largest, MaxPartSize))
		}
		o.PartSize = min(largest, max(size, 1))
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	count := size / o.PartSize
	if size%o.PartSize != 0 || size == 0 {
		count++
	}
	if count > MaxParts {
		return nil, wrap(ctx, op, fmt.Errorf("%d bytes make more than %d parts of %d bytes", size, MaxParts, o.PartSize))
	}
	o.Size = size

	u := newPartUploader(ctx, c, "", uploadID, o)
	// No buffer larger than the file.
	u.pool.size = min(o.PartSize, size)
	for num := 1; num <= int(count); num++ {
		buf := u.pool.get(u.ctx)
		if buf == nil {
			break
		}
		off := int64(num-1) * o.PartSize
		data := buf[:min(o.PartSize, size-off)]
		if n, err := src.ReadAt(data, off); n < len(data) {
			u.pool.put(buf)
			u.fail(num, fmt.Errorf("reading the source: %w", cmp.Or(err, io.ErrUnexpectedEOF)))
			break
		}
		if p, ok := byNum[num]; ok && p.Size == int64(len(data)) && p.ETag == md5Hex(data) {
			u.pool.put(buf)
			u.done(num, p.ETag, int64(len(data)))
			continue
		}
		if u.ctx.Err() != nil {
			u.pool.put(buf)
			break
		}
		u.send(num, buf, data)
	}
	return u.finish(ctx, op)
}

// partUploader sends the parts of one multipart session.
type partUploader struct {
	c      *Client
	path   string
	id     string
	opts   UploadOptions
	ctx    context.Context // ends when a part fails for good
	cancel context.CancelFunc
	pool   bufferPool
	wg     sync.WaitGroup

	mu    sync.Mutex
	parts []CompletedPart
	bytes int64
	part  int   // the part that failed
	err   error // the first failure
}

func newPartUploader(ctx context.Context, c *Client, path, id string, o UploadOptions) *partUploader {
	u := &partUploader{c: c, path: path, id: id, opts: o}
	u.ctx, u.cancel = context.WithCancel(ctx)
	u.pool = bufferPool{size: o.PartSize, limit: o.Concurrency, free: make(chan []byte, o.Concurrency)}
	return u
}

// send uploads data (held in buf, which goes back to the pool after) as
// part num, in a goroutine of its own.
func (u *partUploader) send(num int, buf, data []byte) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.pool.put(buf)
		etag, err := u.sendPart(num, data)
		if err != nil {
			u.fail(num, err)
			return
		}
		u.done(num, etag, int64(len(data)))
	}()
}

// errChecksum reports a part whose etag is not the MD5 of what was sent.
var errChecksum = errors.New("the server's etag does not match the part's MD5")

// sendPart sends one part, again after transient failures.
func (u *partUploader) sendPart(num int, data []byte) (string, error) {
	sum := md5Hex(data)
	for attempt := 0; ; attempt++ {
		p, err := u.c.UploadPart(u.ctx, u.id, num, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			if p.ETag == "" || !isMD5(p.ETag) || p.ETag == sum {
				return cmp.Or(p.ETag, sum), nil
			}
			err = errChecksum
		}
		if attempt >= u.opts.PartRetries || u.ctx.Err() != nil ||
			!(sandboxkit.IsTransient(err) || errors.Is(err, errChecksum)) {
			return "", err
		}
		if err := sleep(u.ctx, poll.Delay(250*time.Millisecond, 5*time.Second, attempt+1)); err != nil {
			return "", err
		}
	}
}

// done records a part the server has.
func (u *partUploader) done(num int, etag string, n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.parts = append(u.parts, CompletedPart{PartNumber: num, ETag: etag})
	u.bytes += n
	if u.opts.OnProgress != nil && u.err == nil {
		u.opts.OnProgress(UploadProgress{Bytes: u.bytes, Total: u.opts.Size, Parts: len(u.parts)})
	}
}

// fail records the first failure and stops the other parts.
func (u *partUploader) fail(num int, err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err, u.part = err, num
	}
	u.mu.Unlock()
	u.cancel()
}

// finish waits for the parts, then completes the session, or aborts it
// after a failure. op names the method in errors.
func (u *partUploader) finish(ctx context.Context, op string) (*UploadResult, error) {
	u.wg.Wait()
	u.cancel()
	u.mu.Lock()
	err, part := u.err, u.part
	u.mu.Unlock()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil {
		slices.SortFunc(u.parts, func(a, b CompletedPart) int { return a.PartNumber - b.PartNumber })
		if err = u.c.CompleteUpload(ctx, u.id, u.parts); err == nil {
			return &UploadResult{Path: u.path, Size: u.bytes, UploadID: u.id, Parts: len(u.parts)}, nil
		}
	}
	ue := &UploadError{Op: "sandbox." + op, Path: u.path, UploadID: u.id, Part: part, Err: named(err, "sandbox."+op)}
	if !u.opts.KeepOnFailure {
		// The caller's context may be over; the abort gets a moment of
		// its own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		ue.Aborted = u.c.AbortUpload(actx, u.id) == nil
		cancel()
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller's deadline or cancellation is the reason.
		ue.Err = ctxErr
	}
	return nil, ue
}

// bufferPool hands out at most limit buffers of size bytes.
type bufferPool struct {
	size      int64
	limit     int
	allocated int
	free      chan []byte
}

// get returns a free buffer, allocating one while under the limit and
// otherwise waiting for one; nil if ctx ends first.
func (p *bufferPool) get(ctx context.Context) []byte {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.allocated < p.limit {
		p.allocated++
		return make([]byte, p.size)
	}
	select {
	case b := <-p.free:
		return b
	case <-ctx.Done():
		return nil
	}
}

func (p *bufferPool) put(b []byte) { p.free <- b[:cap(b)] }

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func isMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// isNil reports whether v is nil or a nil pointer, map, slice, channel
// or function in an interface, which no method can be called on safely.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// rename replaces the operation name in an error from a method the
// caller did not call directly.
func rename(err error, from, to string) error {
	if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); ok && apiErr.Operation == from {
		cp := *apiErr
		cp.Operation = to
		return &cp
	}
	return err
}

// InitiateUploadOptions tunes [Client.InitiateUpload].
type InitiateUploadOptions struct {
	// Permissions of the assembled file (the server's default is 0644).
	Permissions os.FileMode
}

// InitiateUpload opens a multipart session for the file at path and
// returns its id. [Client.Upload] does the whole exchange.
//
// POST /filesystem-multipart/initiate/{path}
func (c *Client) InitiateUpload(ctx context.Context, path string, opts *InitiateUploadOptions) (string, error) {
	const op = "InitiateUpload"
	if err := c.check(ctx, op); err != nil {
		return "", err
	}
	if err := checkPath("path", path); err != nil {
		return "", wrap(ctx, op, err)
	}
	var req sandboxapi.OptMultipartInitiateRequest
	if opts != nil && opts.Permissions != 0 {
		if err := checkPerm("permissions", opts.Permissions); err != nil {
			return "", wrap(ctx, op, err)
		}
		req = sandboxapi.NewOptMultipartInitiateRequest(sandboxapi.MultipartInitiateRequest{
			Permissions: sandboxapi.NewOptString(permString(opts.Permissions)),
		})
	}
	r, err := c.api.InitiateMultipartUpload(ctx, req, sandboxapi.InitiateMultipartUploadParams{Path: path}, fsPathOpt)
	if err != nil {
		return "", wrap(ctx, op, err)
	}
	if r.UploadID.Value == "" {
		return "", wrap(ctx, op, errors.New("the server returned no upload id"))
	}
	return r.UploadID.Value, nil
}

// UploadedPart is a part the server has received.
type UploadedPart struct {
	// PartNumber is the part's position, from 1.
	PartNumber int
	// ETag is the MD5 of the part, in hex.
	ETag string
	// Size is its size in bytes.
	Size int64
	// UploadedAt is when it arrived (zero if not reported).
	UploadedAt time.Time
}

// UploadPart sends one part of a multipart session: size bytes read from
// r. The body is streamed and sent once, without retries (r cannot be
// read twice); [Client.Upload] retries parts itself.
//
// PUT /filesystem-multipart/{uploadId}/part
func (c *Client) UploadPart(ctx context.Context, uploadID string, partNumber int, r io.Reader, size int64) (*UploadedPart, error) {
	const op = "UploadPart"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := glue.ValidateID("upload id", uploadID); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if partNumber < 1 || partNumber > MaxParts {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "part number", Value: strconv.Itoa(partNumber), Reason: fmt.Sprintf("must be between 1 and %d", MaxParts)})
	}
	if isNil(r) {
		// ogen would read it in a goroutine of its own, where a panic
		// ends the process.
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "reader", Reason: "must not be nil"})
	}
	if size < 0 {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "size", Value: strconv.FormatInt(size, 10), Reason: "must not be negative"})
	}
	req := &sandboxapi.MultipartUploadPartRequestMultipart{
		File: ht.MultipartFile{Name: "part-" + strconv.Itoa(partNumber), File: r, Size: size},
	}
	p, err := c.api.UploadMultipartPart(glue.Streaming(ctx), req, sandboxapi.UploadMultipartPartParams{UploadID: uploadID, PartNumber: partNumber})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return &UploadedPart{PartNumber: p.PartNumber.Or(partNumber), ETag: p.Etag.Value, Size: p.Size.Or(size)}, nil
}

// ListUploadedParts lists the parts of a multipart session received so far,
// by part number.
//
// GET /filesystem-multipart/{uploadId}/parts
func (c *Client) ListUploadedParts(ctx context.Context, uploadID string) ([]UploadedPart, error) {
	const op = "ListUploadedParts"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := glue.ValidateID("upload id", uploadID); err != nil {
		return nil, wrap(ctx, op, err)
	}
	r, err := c.api.ListMultipartParts(ctx, sandboxapi.ListMultipartPartsParams{UploadID: uploadID})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return uploadedPartsFrom(r.Parts), nil
}

// CompletedPart names a part to join in [Client.CompleteUpload].
type CompletedPart struct {
	// PartNumber is the part's position, from 1.
	PartNumber int
	// ETag is the etag the server returned for it.
	ETag string
}

// CompleteUpload joins the parts, in order, into the target file and
// closes the session.
//
// POST /filesystem-multipart/{uploadId}/complete
func (c *Client) CompleteUpload(ctx context.Context, uploadID string, parts []CompletedPart) error {
	const op = "CompleteUpload"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := glue.ValidateID("upload id", uploadID); err != nil {
		return wrap(ctx, op, err)
	}
	req := &sandboxapi.MultipartCompleteRequest{Parts: make([]sandboxapi.MultipartPartInfo, len(parts))}
	for i, p := range parts {
		req.Parts[i] = sandboxapi.MultipartPartInfo{PartNumber: sandboxapi.NewOptInt(p.PartNumber), Etag: sandboxapi.NewOptString(p.ETag)}
	}
	_, err := c.api.CompleteMultipartUpload(ctx, req, sandboxapi.CompleteMultipartUploadParams{UploadID: uploadID})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// AbortUpload closes a multipart session and discards its parts.
//
// DELETE /filesystem-multipart/{uploadId}/abort
func (c *Client) AbortUpload(ctx context.Context, uploadID string) error {
	const op = "AbortUpload"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := glue.ValidateID("upload id", uploadID); err != nil {
		return wrap(ctx, op, err)
	}
	_, err := c.api.AbortMultipartUpload(ctx, sandboxapi.AbortMultipartUploadParams{UploadID: uploadID})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// MultipartUpload is a multipart session in progress.
type MultipartUpload struct {
	// UploadID is the session id.
	UploadID string
	// Path is the absolute path the file will be written to.
	Path string
	// Permissions of the assembled file.
	Permissions os.FileMode
	// InitiatedAt is when the session was opened.
	InitiatedAt time.Time
	// Parts are the parts received so far, by part number.
	Parts []UploadedPart
}

// ListMultipartUploads lists the multipart sessions in progress.
//
// GET /filesystem-multipart
func (c *Client) ListMultipartUploads(ctx context.Context) ([]MultipartUpload, error) {
	const op = "ListMultipartUploads"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	r, err := c.api.ListMultipartUploads(ctx)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return multipartUploadsFrom(r), nil
}
