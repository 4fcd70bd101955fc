package guest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// maxPartNumber is the highest part number an upload accepts.
const maxPartNumber = 10000

// upload is one multipart upload session.
type upload struct {
	id        string
	path      string
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
		UploadedAt: sandboxsrv.NewOptString(p.uploaded.UTC().Format(time.RFC3339Nano)),
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

// InitiateMultipartUpload implements POST
// /filesystem-multipart/initiate/{path}: opens a session for the file.
func (h handler) InitiateMultipartUpload(_ context.Context, req sandboxsrv.OptMultipartInitiateRequest, params sandboxsrv.InitiateMultipartUploadParams) (sandboxsrv.InitiateMultipartUploadRes, error) {
	perm := fs.FileMode(0o644)
	if s, ok := req.Value.Permissions.Get(); req.Set && ok && s != "" {
		m, err := parsePerm(s)
		if err != nil {
			return &sandboxsrv.InitiateMultipartUploadBadRequest{Error: "invalid permissions format: " + err.Error()}, nil
		}
		perm = m
	}
	p := h.abs(params.Path)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uploadN++
	u := &upload{
		id:        fmt.Sprintf("%08x-0000-4000-8000-%012x", h.uploadN, h.uploadN),
		path:      p,
		perm:      perm,
		initiated: h.clk.Now(),
		parts:     map[int]*part{},
	}
	h.uploads[u.id] = u
	return &sandboxsrv.MultipartInitiateResponse{UploadId: sandboxsrv.NewOptString(u.id), Path: sandboxsrv.NewOptString(p)}, nil
}

// UploadMultipartPart implements PUT /filesystem-multipart/{uploadId}/part:
// stores one part; its etag is the MD5 of its bytes in hex.
func (h handler) UploadMultipartPart(_ context.Context, req *sandboxsrv.MultipartUploadPartRequestMultipart, params sandboxsrv.UploadMultipartPartParams) (sandboxsrv.UploadMultipartPartRes, error) {
	if params.PartNumber < 1 || params.PartNumber > maxPartNumber {
		return &sandboxsrv.UploadMultipartPartBadRequest{Error: fmt.Sprintf("invalid partNumber: must be between 1 and %d", maxPartNumber)}, nil
	}
	h.mu.Lock()
	_, ok := h.uploads[params.UploadId]
	h.mu.Unlock()
	if !ok {
		return &sandboxsrv.UploadMultipartPartNotFound{Error: "upload not found: " + params.UploadId}, nil
	}
	var data []byte
	if req.File.File != nil {
		var err error
		if data, err = io.ReadAll(req.File.File); err != nil {
			return &sandboxsrv.UploadMultipartPartBadRequest{Error: "error reading multipart part: " + err.Error()}, nil
		}
	}
	sum := md5.Sum(data)
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadId]
	if !ok {
		return &sandboxsrv.UploadMultipartPartNotFound{Error: "upload not found: " + params.UploadId}, nil
	}
	pt := &part{data: data, etag: hex.EncodeToString(sum[:]), uploaded: h.clk.Now()}
	u.parts[params.PartNumber] = pt
	return &sandboxsrv.MultipartUploadPartResponse{
		PartNumber: sandboxsrv.NewOptInt(params.PartNumber),
		Etag:       sandboxsrv.NewOptString(pt.etag),
		Size:       sandboxsrv.NewOptInt64(int64(len(data))),
	}, nil
}

// ListMultipartParts implements GET /filesystem-multipart/{uploadId}/parts.
func (h handler) ListMultipartParts(_ context.Context, params sandboxsrv.ListMultipartPartsParams) (sandboxsrv.ListMultipartPartsRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadId]
	if !ok {
		return &sandboxsrv.ListMultipartPartsNotFound{Error: "upload not found: " + params.UploadId}, nil
	}
	parts := []sandboxsrv.UploadedPart{}
	for _, n := range u.sortedParts() {
		parts = append(parts, u.parts[n].api(n))
	}
	return &sandboxsrv.MultipartListPartsResponse{UploadId: sandboxsrv.NewOptString(u.id), Parts: parts}, nil
}

// ListMultipartUploads implements GET /filesystem-multipart: the sessions
// still open, oldest first.
func (h handler) ListMultipartUploads(context.Context) (sandboxsrv.ListMultipartUploadsRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ups := make([]*upload, 0, len(h.uploads))
	for _, u := range h.uploads {
		ups = append(ups, u)
	}
	slices.SortFunc(ups, func(a, b *upload) int { return strings.Compare(a.id, b.id) })
	out := []sandboxsrv.MultipartUpload{}
	for _, u := range ups {
		parts := sandboxsrv.MultipartUploadParts{}
		for n, p := range u.parts {
			parts[strconv.Itoa(n)] = p.api(n)
		}
		out = append(out, sandboxsrv.MultipartUpload{
			UploadId:    sandboxsrv.NewOptString(u.id),
			Path:        sandboxsrv.NewOptString(u.path),
			Permissions: sandboxsrv.NewOptInt(int(u.perm)),
			InitiatedAt: sandboxsrv.NewOptString(u.initiated.UTC().Format(time.RFC3339Nano)),
			Parts:       sandboxsrv.NewOptMultipartUploadParts(parts),
		})
	}
	return &sandboxsrv.MultipartListUploadsResponse{Uploads: out}, nil
}

// CompleteMultipartUpload implements POST
// /filesystem-multipart/{uploadId}/complete: joins the listed parts in the
// order given, writes the file and closes the session. Every listed part
// must have been received, with the etag given (when one is given).
func (h handler) CompleteMultipartUpload(_ context.Context, req *sandboxsrv.MultipartCompleteRequest, params sandboxsrv.CompleteMultipartUploadParams) (sandboxsrv.CompleteMultipartUploadRes, error) {
	if len(req.Parts) == 0 {
		return &sandboxsrv.CompleteMultipartUploadBadRequest{Error: "at least one part is required"}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.uploads[params.UploadId]
	if !ok {
		return &sandboxsrv.CompleteMultipartUploadNotFound{Error: "upload not found: " + params.UploadId}, nil
	}
	var data []byte
	for _, pi := range req.Parts {
		n := pi.PartNumber.Or(0)
		pt, ok := u.parts[n]
		if !ok {
			return &sandboxsrv.CompleteMultipartUploadBadRequest{Error: fmt.Sprintf("part %d not found", n)}, nil
		}
		if e, ok := pi.Etag.Get(); ok && e != "" && e != pt.etag {
			return &sandboxsrv.CompleteMultipartUploadBadRequest{Error: fmt.Sprintf("etag mismatch for part %d", n)}, nil
		}
		data = append(data, pt.data...)
	}
	if err := h.writeFileLocked(u.path, data, u.perm, true); err != nil {
		return &sandboxsrv.CompleteMultipartUploadInternalServerError{Error: "failed to complete upload: " + err.Error()}, nil
	}
	delete(h.uploads, u.id)
	return &sandboxsrv.SuccessResponse{Message: "Upload completed successfully", Path: sandboxsrv.NewOptString(u.path)}, nil
}

// AbortMultipartUpload implements DELETE
// /filesystem-multipart/{uploadId}/abort.
func (h handler) AbortMultipartUpload(_ context.Context, params sandboxsrv.AbortMultipartUploadParams) (sandboxsrv.AbortMultipartUploadRes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.uploads[params.UploadId]; !ok {
		return &sandboxsrv.AbortMultipartUploadNotFound{Error: "upload not found: " + params.UploadId}, nil
	}
	delete(h.uploads, params.UploadId)
	return &sandboxsrv.SuccessResponse{Message: "Upload aborted successfully"}, nil
}
