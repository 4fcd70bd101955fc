package guest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"time"

	ht "github.com/ogen-go/ogen/http"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// maxPartNumber is the highest part number an upload accepts.
const maxPartNumber = 10000

// upload is one multipart upload session.
type upload struct {
	id        string
	path      string // absolute
	perm      fs.FileMode
	initiated time.Time
	parts     map[int]*part
}

type part struct {
	data     []byte
	etag     string
	uploaded time.Time
}

func (p *part) api(n int) sandboxsrv.UploadedPart {
	return sandboxsrv.UploadedPart{
		PartNumber: sandboxsrv.NewOptInt(n),
		Etag:       sandboxsrv.NewOptString(p.etag),
		Size:       sandboxsrv.NewOptInt64(int64(len(p.data))),
		UploadedAt: sandboxsrv.NewOptString(timeJSON(p.uploaded)),
	}
}

// sortedParts returns the part numbers of u in order.
func (u *upload) sortedParts() []int {
	out := make([]int, 0, len(u.parts))
	for n := range u.parts {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// newUUIDLocked returns a random (version 4) UUID.
func (g *Guest) newUUIDLocked() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// InitiateMultipartUpload implements POST
// /filesystem-multipart/initiate/{path}: opens a session for the file; the
// answer names it by its absolute path.
func (h handler) InitiateMultipartUpload(_ context.Context, req sandboxsrv.OptMultipartInitiateRequest, params sandboxsrv.InitiateMultipartUploadParams) (*sandboxsrv.MultipartInitiateResponse, error) {
	perm := fs.FileMode(0o644)
	if s, ok := req.Value.Permissions.Get(); req.Set && ok && s != "" {
		v, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			return nil, failure(http.StatusBadRequest, "invalid permissions format: "+err.Error())
		}
		perm = fs.FileMode(v)
	}
	p := h.abs(h.formatPath(params.Path))
	h.mu.Lock()
	defer h.mu.Unlock()
	u := &upload{
		id:        h.newUUIDLocked(),
		path:      p,
		perm:      perm,
		initiated: h.clk.Now(),
		parts:     map[int]*part{},
	}
	h.uploads[u.id] = u
	h.uploadOrder = append(h.uploadOrder, u.id)
	return &sandboxsrv.MultipartInitiateResponse{UploadID: sandboxsrv.NewOptString(u.id), Path: sandboxsrv.NewOptString(p)}, nil
}

// UploadMultipartPart implements PUT /filesystem-multipart/{uploadId}/part:
// stores one part; its etag is the MD5 of its bytes in hex. An unknown
// upload or a part number outside 1..10000 is a 500, as on the server.
func (h handler) UploadMultipartPart(_ context.Context, req *sandboxsrv.MultipartUploadPartRequestMultipart, params sandboxsrv.UploadMultipartPartParams) (*sandboxsrv.MultipartUploadPartResponse, error) {
	h.mu.Lock()
	_, ok := h.uploads[params.UploadID]
	h.mu.Unlock()
	switch {
	case !ok:
		return nil, failure(http.StatusInternalServerError, "failed to upload part: upload not found: "+params.UploadID)
	case params.PartNumber < 1 || params.PartNumber > maxPartNumber:
		return nil, failure(http.StatusInternalServerError, "failed to upload part: part number must be between 1 and 10000")
	case req.File.File == nil:
		return nil, failure(http.StatusBadRequest, "missing 'file' field in multipart form")
	}
	data, err := readPart(req.File)
	if err != nil {
		return nil, failure(http.StatusInternalServerError, "failed to upload part: failed to write part: "+err.Error())
	}
	sum := md5.Sum(data)
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadID]
	if !ok {
		return nil, failure(http.StatusInternalServerError, "failed to upload part: upload not found: "+params.UploadID)
	}
	pt := &part{data: data, etag: hex.EncodeToString(sum[:]), uploaded: h.clk.Now()}
	u.parts[params.PartNumber] = pt
	return &sandboxsrv.MultipartUploadPartResponse{
		PartNumber: sandboxsrv.NewOptInt(params.PartNumber),
		Etag:       sandboxsrv.NewOptString(pt.etag),
		Size:       sandboxsrv.NewOptInt64(int64(len(data))),
	}, nil
}

// readPart reads an uploaded part into a buffer of its exact size (the
// multipart form knows it), so that a part costs its size and no more.
func readPart(f ht.MultipartFile) ([]byte, error) {
	if f.Size < 0 || f.Size > maxPartBytes {
		return nil, fmt.Errorf("part of %d bytes", f.Size)
	}
	data := make([]byte, f.Size)
	if _, err := io.ReadFull(f.File, data); err != nil {
		return nil, err
	}
	var extra [1]byte
	if n, _ := f.File.Read(extra[:]); n != 0 {
		return nil, errors.New("part longer than its declared size")
	}
	return data, nil
}

// maxPartBytes bounds one part (the mock's request limits are lower).
const maxPartBytes = 1 << 34

// maxPartMemory is the largest part the form parser keeps in memory;
// larger ones are spooled to a temporary file first.
const maxPartMemory = 1 << 20

// ListMultipartParts implements GET /filesystem-multipart/{uploadId}/parts.
func (h handler) ListMultipartParts(_ context.Context, params sandboxsrv.ListMultipartPartsParams) (*sandboxsrv.MultipartListPartsResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadID]
	if !ok {
		return nil, failure(http.StatusNotFound, "upload not found: "+params.UploadID)
	}
	parts := []sandboxsrv.UploadedPart{}
	for _, n := range u.sortedParts() {
		parts = append(parts, u.parts[n].api(n))
	}
	return &sandboxsrv.MultipartListPartsResponse{UploadID: sandboxsrv.NewOptString(params.UploadID), Parts: parts}, nil
}

// ListMultipartUploads implements GET /filesystem-multipart: the sessions
// still open (the server lists them in no particular order; the mock in
// the order they were opened).
func (h handler) ListMultipartUploads(context.Context) (*sandboxsrv.MultipartListUploadsResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []sandboxsrv.MultipartUpload{}
	for _, id := range h.uploadOrder {
		u, ok := h.uploads[id]
		if !ok {
			continue
		}
		parts := sandboxsrv.MultipartUploadParts{}
		for n, p := range u.parts {
			parts[strconv.Itoa(n)] = p.api(n)
		}
		out = append(out, sandboxsrv.MultipartUpload{
			UploadID:    sandboxsrv.NewOptString(u.id),
			Path:        sandboxsrv.NewOptString(u.path),
			Permissions: sandboxsrv.NewOptInt(int(u.perm)),
			InitiatedAt: sandboxsrv.NewOptString(timeJSON(u.initiated)),
			Parts:       sandboxsrv.NewOptMultipartUploadParts(parts),
		})
	}
	return &sandboxsrv.MultipartListUploadsResponse{Uploads: out}, nil
}

// CompleteMultipartUpload implements POST
// /filesystem-multipart/{uploadId}/complete: every listed part must have
// been received with the etag given (an empty etag does not match), else
// 500; the parts are joined in part-number order whatever the order of
// the list. A new file gets the session's mode (masked by the umask), an
// existing one keeps its own.
func (h handler) CompleteMultipartUpload(_ context.Context, req *sandboxsrv.MultipartCompleteRequest, params sandboxsrv.CompleteMultipartUploadParams) (*sandboxsrv.SuccessResponse, error) {
	if len(req.Parts) == 0 {
		return nil, failure(http.StatusBadRequest, "at least one part is required")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadID]
	if !ok {
		return nil, failure(http.StatusNotFound, "upload not found: "+params.UploadID)
	}
	fail := func(msg string) (*sandboxsrv.SuccessResponse, error) {
		return nil, failure(http.StatusInternalServerError, "failed to complete upload: "+msg)
	}
	numbers := make([]int, 0, len(req.Parts))
	for _, pi := range req.Parts {
		n := pi.PartNumber.Or(0)
		pt, ok := u.parts[n]
		if !ok {
			return fail(fmt.Sprintf("part %d not found", n))
		}
		if pi.Etag.Or("") != pt.etag {
			return fail(fmt.Sprintf("etag mismatch for part %d", n))
		}
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	if _, err := h.mkdirAllLocked(path.Dir(u.path), 0o755&^umask, true); err != nil {
		return fail("failed to create parent directory: " + err.Error())
	}
	if n, err := h.lookupLocked(u.path); err == nil && n.dir {
		return fail("failed to create final file: " + pathErr("open", u.path, errIsDir).Error())
	}
	if err := h.writeFileLocked(u.path, nil, u.perm); err != nil {
		return fail("failed to create final file: " + err.Error())
	}
	n, _ := h.lookupLocked(u.path)
	// One allocation of the file's exact size: the parts and the file are
	// all the upload holds at its peak (twice the file).
	total := 0
	for _, num := range numbers {
		total += len(u.parts[num].data)
	}
	n.data = make([]byte, 0, total)
	for _, num := range numbers {
		if data := u.parts[num].data; len(data) > 0 {
			h.appendNodeLocked(n, u.path, data)
		}
		u.parts[num].data = nil // copied: the collector may take it back
	}
	delete(h.uploads, u.id)
	return success(u.path, "Multipart upload completed successfully"), nil
}

// AbortMultipartUpload implements DELETE
// /filesystem-multipart/{uploadId}/abort.
func (h handler) AbortMultipartUpload(_ context.Context, params sandboxsrv.AbortMultipartUploadParams) (*sandboxsrv.SuccessResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.uploads[params.UploadID]; !ok {
		return nil, failure(http.StatusNotFound, "upload not found: "+params.UploadID)
	}
	delete(h.uploads, params.UploadID)
	return success("", "Multipart upload aborted successfully"), nil
}
