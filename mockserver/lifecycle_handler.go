package mockserver

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// lifecycleHandler implements the generated lifecycle server.
type lifecycleHandler struct {
	srv *Server
	st  *lcStore
}

var (
	_ lifecyclesrv.Handler         = (*lifecycleHandler)(nil)
	_ lifecyclesrv.SecurityHandler = lifecycleSecurity{}
)

// lifecycleSecurity accepts everything: the server's auth middleware has
// already checked the key before the generated router runs.
type lifecycleSecurity struct{}

func (lifecycleSecurity) HandleApiKeyAuth(ctx context.Context, _ lifecyclesrv.OperationName, _ lifecyclesrv.ApiKeyAuth) (context.Context, error) {
	return ctx, nil
}

func rid(ctx context.Context) lifecyclesrv.OptString {
	return lifecyclesrv.NewOptString(infoFrom(ctx).requestID)
}

// lcErr renders e as the error answer type R of an operation. A status the
// operation's spec does not list becomes a 500.
func lcErr[R any](ctx context.Context, e *opError) R {
	code := e.code
	if code == "" {
		code = codeForStatus(e.status)
	}
	body := lifecyclesrv.ErrorResponse{Code: code, Message: e.msg}
	id := rid(ctx)
	var v any
	switch e.status {
	case http.StatusBadRequest:
		v = &lifecyclesrv.BadRequestHeaders{XRequestID: id, Response: body}
	case http.StatusUnauthorized:
		v = &lifecyclesrv.UnauthorizedHeaders{XRequestID: id, Response: body}
	case http.StatusForbidden:
		v = &lifecyclesrv.ForbiddenHeaders{XRequestID: id, Response: body}
	case http.StatusNotFound:
		v = &lifecyclesrv.NotFoundHeaders{XRequestID: id, Response: body}
	case http.StatusConflict:
		v = &lifecyclesrv.ConflictHeaders{XRequestID: id, Response: body}
	}
	if r, ok := v.(R); ok {
		return r
	}
	body.Code = codeInternal
	return any(&lifecyclesrv.InternalServerErrorHeaders{XRequestID: id, Response: body}).(R)
}

// CreateSandbox implements POST /sandboxes.
func (h *lifecycleHandler) CreateSandbox(ctx context.Context, req *lifecyclesrv.CreateSandboxRequest) (lifecyclesrv.CreateSandboxRes, error) {
	ri := infoFrom(ctx)
	in, err := createInputFrom(req)
	if err != nil {
		return lcErr[lifecyclesrv.CreateSandboxRes](ctx, err), nil
	}
	sb, err := h.st.create(ri.tenant, ri.requestID, in)
	if err != nil {
		return lcErr[lifecyclesrv.CreateSandboxRes](ctx, err), nil
	}
	h.st.mu.RLock()
	v := sb.view()
	h.st.mu.RUnlock()
	resp := lifecyclesrv.CreateSandboxResponse{
		ID:         v.ID,
		Status:     v.Status,
		Platform:   v.Platform,
		ExpiresAt:  v.ExpiresAt,
		CreatedAt:  v.CreatedAt,
		Entrypoint: v.Entrypoint,
	}
	if m, ok := v.Metadata.Get(); ok {
		resp.Metadata = lifecyclesrv.NewOptCreateSandboxResponseMetadata(lifecyclesrv.CreateSandboxResponseMetadata(m))
	}
	return &lifecyclesrv.CreateSandboxResponseHeaders{
		XRequestID: rid(ctx),
		Location:   lifecyclesrv.NewOptString(h.srv.URL() + "/v1/sandboxes/" + url.PathEscape(v.ID)),
		Response:   resp,
	}, nil
}

// createInputFrom checks the rules the schema cannot express.
func createInputFrom(req *lifecyclesrv.CreateSandboxRequest) (createInput, *opError) {
	var in createInput
	_, hasImage := req.Image.Get()
	snapshotID, hasSnapshot := req.SnapshotId.Get()
	switch {
	case hasImage && hasSnapshot:
		return in, errorf(http.StatusBadRequest, "give either image or snapshotId, not both")
	case !hasImage && !hasSnapshot:
		return in, errorf(http.StatusBadRequest, "one of image or snapshotId is required")
	case hasImage && len(req.Entrypoint) == 0:
		return in, errorf(http.StatusBadRequest, "entrypoint is required when image is given")
	case hasSnapshot && snapshotID == "":
		return in, errorf(http.StatusBadRequest, "snapshotId must not be empty")
	}
	if img, ok := req.Image.Get(); ok && strings.TrimSpace(img.URI) == "" {
		return in, errorf(http.StatusBadRequest, "image.uri must not be empty")
	}
	in.image = req.Image
	in.snapshotID = snapshotID
	in.platform = req.Platform
	in.entrypoint = req.Entrypoint
	if t, ok := req.Timeout.Get(); ok {
		in.timeout = time.Duration(t) * time.Second
	}
	if m, ok := req.Metadata.Get(); ok {
		if err := checkMetadataKeys(m); err != nil {
			return in, err
		}
		in.metadata = m
	}
	if m, ok := req.Env.Get(); ok {
		in.env = m
	}
	if m, ok := req.ResourceLimits.Get(); ok {
		in.resourceLimits = m
	}
	if ext, ok := req.Extensions.Get(); ok {
		if v, ok := ext["access.renew.extend.seconds"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 300 || n > 86400 || strconv.Itoa(n) != v {
				return in, errorf(http.StatusBadRequest, "extensions[access.renew.extend.seconds] must be a whole number of seconds from 300 to 86400, got %q", v)
			}
		}
	}
	return in, nil
}

func checkMetadataKeys[V any](m map[string]V) *opError {
	for k := range m {
		if k == "" {
			return errorf(http.StatusBadRequest, "metadata keys must not be empty")
		}
		if strings.HasPrefix(k, reservedMetadataPrefix) {
			return errorf(http.StatusBadRequest, "metadata key %q: the prefix %s is reserved", k, reservedMetadataPrefix)
		}
	}
	return nil
}

// GetSandbox implements GET /sandboxes/{sandboxId}.
func (h *lifecycleHandler) GetSandbox(ctx context.Context, params lifecyclesrv.GetSandboxParams) (lifecyclesrv.GetSandboxRes, error) {
	v, err := h.st.get(infoFrom(ctx).tenant, params.SandboxId)
	if err != nil {
		return lcErr[lifecyclesrv.GetSandboxRes](ctx, err), nil
	}
	return &lifecyclesrv.SandboxHeaders{XRequestID: rid(ctx), Response: v}, nil
}

// ListSandboxes implements GET /sandboxes.
func (h *lifecycleHandler) ListSandboxes(ctx context.Context, params lifecyclesrv.ListSandboxesParams) (lifecyclesrv.ListSandboxesRes, error) {
	q := listQuery{page: params.Page.Or(1), pageSize: params.PageSize.Or(20)}
	if q.pageSize > h.srv.cfg.maxPageSize {
		return lcErr[lifecyclesrv.ListSandboxesRes](ctx, errorf(http.StatusBadRequest, "pageSize must be at most %d", h.srv.cfg.maxPageSize)), nil
	}
	q.states = params.State
	if raw, ok := params.Metadata.Get(); ok && raw != "" {
		m, err := parseMetadataFilter(raw)
		if err != nil {
			return lcErr[lifecyclesrv.ListSandboxesRes](ctx, err), nil
		}
		q.metadata = m
	}
	items, total := h.st.list(infoFrom(ctx).tenant, q)
	return &lifecyclesrv.ListSandboxesResponseHeaders{
		XRequestID: rid(ctx),
		Response: lifecyclesrv.ListSandboxesResponse{
			Items:      items,
			Pagination: pagination(q.page, q.pageSize, total),
		},
	}, nil
}

// parseMetadataFilter reads the metadata filter the way the upstream
// server does (Python's parse_qsl with strict parsing): key=value pairs
// joined by &, each key and value URL-decoded once more.
func parseMetadataFilter(raw string) (map[string]string, *opError) {
	out := map[string]string{}
	for seg := range strings.SplitSeq(raw, "&") {
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			return nil, &opError{status: http.StatusBadRequest, code: "INVALID_METADATA_FORMAT", msg: "invalid metadata format: bad query field: " + strconv.Quote(seg)}
		}
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, &opError{status: http.StatusBadRequest, code: "INVALID_METADATA_FORMAT", msg: "invalid metadata format: bad escape in " + strconv.Quote(seg)}
		}
		out[key] = val
	}
	return out, nil
}

func pagination(page, pageSize, total int) lifecyclesrv.PaginationInfo {
	pages := (total + pageSize - 1) / pageSize
	return lifecyclesrv.PaginationInfo{
		Page:        page,
		PageSize:    pageSize,
		TotalItems:  total,
		TotalPages:  pages,
		HasNextPage: page < pages,
	}
}

// DeleteSandbox implements DELETE /sandboxes/{sandboxId}.
func (h *lifecycleHandler) DeleteSandbox(ctx context.Context, params lifecyclesrv.DeleteSandboxParams) (lifecyclesrv.DeleteSandboxRes, error) {
	ri := infoFrom(ctx)
	if err := h.st.delete(ri.tenant, params.SandboxId, ri.requestID); err != nil {
		return lcErr[lifecyclesrv.DeleteSandboxRes](ctx, err), nil
	}
	return &lifecyclesrv.DeleteSandboxNoContent{XRequestID: rid(ctx)}, nil
}

// PauseSandbox implements POST /sandboxes/{sandboxId}/pause.
func (h *lifecycleHandler) PauseSandbox(ctx context.Context, params lifecyclesrv.PauseSandboxParams) (lifecyclesrv.PauseSandboxRes, error) {
	if err := h.st.pause(infoFrom(ctx).tenant, params.SandboxId); err != nil {
		return lcErr[lifecyclesrv.PauseSandboxRes](ctx, err), nil
	}
	return &lifecyclesrv.PauseSandboxAccepted{XRequestID: rid(ctx)}, nil
}

// ResumeSandbox implements POST /sandboxes/{sandboxId}/resume.
func (h *lifecycleHandler) ResumeSandbox(ctx context.Context, params lifecyclesrv.ResumeSandboxParams) (lifecyclesrv.ResumeSandboxRes, error) {
	if err := h.st.resume(infoFrom(ctx).tenant, params.SandboxId); err != nil {
		return lcErr[lifecyclesrv.ResumeSandboxRes](ctx, err), nil
	}
	return &lifecyclesrv.ResumeSandboxAccepted{XRequestID: rid(ctx)}, nil
}

// PatchSandboxMetadata implements PATCH /sandboxes/{sandboxId}/metadata.
func (h *lifecycleHandler) PatchSandboxMetadata(ctx context.Context, req lifecyclesrv.PatchSandboxMetadataRequest, params lifecyclesrv.PatchSandboxMetadataParams) (lifecyclesrv.PatchSandboxMetadataRes, error) {
	if err := checkMetadataKeys(req); err != nil {
		return lcErr[lifecyclesrv.PatchSandboxMetadataRes](ctx, err), nil
	}
	set := map[string]string{}
	var del []string
	for k, v := range req {
		if s, ok := v.Get(); ok {
			set[k] = s
		} else {
			del = append(del, k)
		}
	}
	v, err := h.st.patchMetadata(infoFrom(ctx).tenant, params.SandboxId, set, del)
	if err != nil {
		return lcErr[lifecyclesrv.PatchSandboxMetadataRes](ctx, err), nil
	}
	return &lifecyclesrv.SandboxHeaders{XRequestID: rid(ctx), Response: v}, nil
}

// RenewSandboxExpiration implements POST /sandboxes/{sandboxId}/renew-expiration.
func (h *lifecycleHandler) RenewSandboxExpiration(ctx context.Context, req *lifecyclesrv.RenewSandboxExpirationRequest, params lifecyclesrv.RenewSandboxExpirationParams) (lifecyclesrv.RenewSandboxExpirationRes, error) {
	ri := infoFrom(ctx)
	if err := h.st.renew(ri.tenant, params.SandboxId, ri.requestID, req.ExpiresAt); err != nil {
		return lcErr[lifecyclesrv.RenewSandboxExpirationRes](ctx, err), nil
	}
	return &lifecyclesrv.RenewSandboxExpirationResponseHeaders{
		XRequestID: rid(ctx),
		Response:   lifecyclesrv.RenewSandboxExpirationResponse{ExpiresAt: req.ExpiresAt},
	}, nil
}

// GetSandboxEndpoint implements GET /sandboxes/{sandboxId}/endpoints/{port}.
func (h *lifecycleHandler) GetSandboxEndpoint(ctx context.Context, params lifecyclesrv.GetSandboxEndpointParams) (lifecyclesrv.GetSandboxEndpointRes, error) {
	tenant := infoFrom(ctx).tenant
	if _, err := h.st.get(tenant, params.SandboxId); err != nil {
		return lcErr[lifecyclesrv.GetSandboxEndpointRes](ctx, err), nil
	}
	proxy := params.UseServerProxy.Or(false)
	expires, signed := params.Expires.Get()
	if proxy && signed {
		return lcErr[lifecyclesrv.GetSandboxEndpointRes](ctx, errorf(http.StatusBadRequest, "use_server_proxy and expires cannot be combined")), nil
	}
	host := h.srv.host()
	id, port := url.PathEscape(params.SandboxId), strconv.Itoa(params.Port)
	var ep lifecyclesrv.Endpoint
	switch {
	case proxy:
		ep.Endpoint = host + "/v1/sandboxes/" + id + "/proxy/" + port
	case signed:
		exp, err := strconv.ParseUint(expires, 10, 64)
		if err != nil || exp > 1<<62 {
			return lcErr[lifecyclesrv.GetSandboxEndpointRes](ctx, errorf(http.StatusBadRequest, "expires %q is not a Unix time in seconds", expires)), nil
		}
		if int64(exp) <= h.srv.clock.Now().Unix() {
			return lcErr[lifecyclesrv.GetSandboxEndpointRes](ctx, errorf(http.StatusBadRequest, "expires %s lies in the past", expires)), nil
		}
		ep.Endpoint = host + "/signed/" + h.srv.signRoute(params.SandboxId, params.Port, int64(exp)) + "/sandboxes/" + id + "/port/" + port
	default:
		ep.Endpoint = host + "/sandboxes/" + id + "/port/" + port
	}
	return &lifecyclesrv.GetSandboxEndpointOKHeaders{XRequestID: rid(ctx), Response: ep}, nil
}

// CreateSnapshot implements POST /sandboxes/{sandboxId}/snapshots.
func (h *lifecycleHandler) CreateSnapshot(ctx context.Context, req lifecyclesrv.OptCreateSnapshotRequest, params lifecyclesrv.CreateSnapshotParams) (lifecyclesrv.CreateSnapshotRes, error) {
	var name string
	if r, ok := req.Get(); ok {
		name = r.Name.Or("")
	}
	v, err := h.st.createSnapshot(infoFrom(ctx).tenant, params.SandboxId, name)
	if err != nil {
		return lcErr[lifecyclesrv.CreateSnapshotRes](ctx, err), nil
	}
	return &lifecyclesrv.SnapshotHeaders{
		XRequestID: rid(ctx),
		Location:   lifecyclesrv.NewOptString(h.srv.URL() + "/v1/snapshots/" + url.PathEscape(v.ID)),
		Response:   v,
	}, nil
}

// GetSnapshot implements GET /snapshots/{snapshotId}.
func (h *lifecycleHandler) GetSnapshot(ctx context.Context, params lifecyclesrv.GetSnapshotParams) (lifecyclesrv.GetSnapshotRes, error) {
	v, err := h.st.getSnapshot(infoFrom(ctx).tenant, params.SnapshotId)
	if err != nil {
		return lcErr[lifecyclesrv.GetSnapshotRes](ctx, err), nil
	}
	return &lifecyclesrv.GetSnapshotOKHeaders{XRequestID: rid(ctx), Response: v}, nil
}

// DeleteSnapshot implements DELETE /snapshots/{snapshotId}.
func (h *lifecycleHandler) DeleteSnapshot(ctx context.Context, params lifecyclesrv.DeleteSnapshotParams) (lifecyclesrv.DeleteSnapshotRes, error) {
	if err := h.st.deleteSnapshot(infoFrom(ctx).tenant, params.SnapshotId); err != nil {
		return lcErr[lifecyclesrv.DeleteSnapshotRes](ctx, err), nil
	}
	return &lifecyclesrv.DeleteSnapshotNoContent{XRequestID: rid(ctx)}, nil
}

// ListSnapshots implements GET /snapshots.
func (h *lifecycleHandler) ListSnapshots(ctx context.Context, params lifecyclesrv.ListSnapshotsParams) (lifecyclesrv.ListSnapshotsRes, error) {
	q := snapshotQuery{
		sandboxID: params.SandboxId.Or(""),
		page:      params.Page.Or(1),
		pageSize:  params.PageSize.Or(20),
	}
	if q.pageSize > h.srv.cfg.maxPageSize {
		return lcErr[lifecyclesrv.ListSnapshotsRes](ctx, errorf(http.StatusBadRequest, "pageSize must be at most %d", h.srv.cfg.maxPageSize)), nil
	}
	for _, s := range params.State {
		q.states = append(q.states, string(s))
	}
	items, total := h.st.listSnapshots(infoFrom(ctx).tenant, q)
	return &lifecyclesrv.ListSnapshotsResponseHeaders{
		XRequestID: rid(ctx),
		Response: lifecyclesrv.ListSnapshotsResponse{
			Items:      items,
			Pagination: pagination(q.page, q.pageSize, total),
		},
	}, nil
}
