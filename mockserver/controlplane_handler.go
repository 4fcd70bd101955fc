package mockserver

import (
	"context"
	"net/http"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// controlPlaneHandler implements the generated control plane server.
type controlPlaneHandler struct {
	srv *Server
	st  *cpStore
}

var (
	_ controlplanesrv.Handler         = (*controlPlaneHandler)(nil)
	_ controlplanesrv.SecurityHandler = controlPlaneSecurity{}
)

// controlPlaneSecurity accepts everything: the server's auth middleware
// has already checked the token.
type controlPlaneSecurity struct{}

func (controlPlaneSecurity) HandleBearerAuth(ctx context.Context, _ controlplanesrv.OperationName, _ controlplanesrv.BearerAuth) (context.Context, error) {
	return ctx, nil
}

func cpErrBody(e *opError) *controlplanesrv.Error {
	return &controlplanesrv.Error{
		Error: controlplanesrv.NewOptString(e.msg),
		Code:  controlplanesrv.NewOptString(codeForStatus(e.status)),
	}
}

// CreateSandbox implements POST /sandboxes.
func (h *controlPlaneHandler) CreateSandbox(ctx context.Context, req *controlplanesrv.Sandbox) (controlplanesrv.CreateSandboxRes, error) {
	ri := infoFrom(ctx)
	v, err := h.st.create(ri.tenant, ri.workspace, ri.requestID, req)
	if err != nil {
		b := cpErrBody(err)
		switch err.status {
		case http.StatusBadRequest:
			return (*controlplanesrv.CreateSandboxBadRequest)(b), nil
		case http.StatusConflict:
			return (*controlplanesrv.CreateSandboxConflict)(b), nil
		}
		return (*controlplanesrv.CreateSandboxInternalServerError)(b), nil
	}
	return &v, nil
}

// GetSandbox implements GET /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) GetSandbox(ctx context.Context, params controlplanesrv.GetSandboxParams) (controlplanesrv.GetSandboxRes, error) {
	v, err := h.st.get(infoFrom(ctx).tenant, params.SandboxName)
	if err != nil {
		b := cpErrBody(err)
		if err.status == http.StatusNotFound {
			return (*controlplanesrv.GetSandboxNotFound)(b), nil
		}
		return (*controlplanesrv.GetSandboxInternalServerError)(b), nil
	}
	return &v, nil
}

// ListSandboxes implements GET /sandboxes.
func (h *controlPlaneHandler) ListSandboxes(ctx context.Context) (controlplanesrv.ListSandboxesRes, error) {
	out := controlplanesrv.ListSandboxesOKApplicationJSON(h.st.list(infoFrom(ctx).tenant))
	return &out, nil
}

// UpdateSandbox implements PUT /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) UpdateSandbox(ctx context.Context, req *controlplanesrv.Sandbox, params controlplanesrv.UpdateSandboxParams) (controlplanesrv.UpdateSandboxRes, error) {
	v, err := h.st.update(infoFrom(ctx).tenant, params.SandboxName, req)
	if err != nil {
		b := cpErrBody(err)
		switch err.status {
		case http.StatusBadRequest:
			return (*controlplanesrv.UpdateSandboxBadRequest)(b), nil
		case http.StatusNotFound:
			return (*controlplanesrv.UpdateSandboxNotFound)(b), nil
		case http.StatusConflict:
			return (*controlplanesrv.UpdateSandboxConflict)(b), nil
		}
		return (*controlplanesrv.UpdateSandboxInternalServerError)(b), nil
	}
	return &v, nil
}

// DeleteSandbox implements DELETE /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) DeleteSandbox(ctx context.Context, params controlplanesrv.DeleteSandboxParams) (controlplanesrv.DeleteSandboxRes, error) {
	ri := infoFrom(ctx)
	v, err := h.st.delete(ri.tenant, params.SandboxName, ri.requestID)
	if err != nil {
		b := cpErrBody(err)
		if err.status == http.StatusNotFound {
			return (*controlplanesrv.DeleteSandboxNotFound)(b), nil
		}
		return (*controlplanesrv.DeleteSandboxInternalServerError)(b), nil
	}
	return &v, nil
}
