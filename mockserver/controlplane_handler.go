package mockserver

import (
	"context"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// controlPlaneHandler implements the generated control plane server. Each
// method unpacks the request, calls the store and shapes its error: the
// gateway's envelope, or for a failed create the create-error body.
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

// fail turns a store error into the answer's error.
func fail[T any](e *cpErr) (T, error) {
	var zero T
	return zero, e.statusErr()
}

// CreateSandbox implements POST /sandboxes.
func (h *controlPlaneHandler) CreateSandbox(ctx context.Context, req *controlplanesrv.Sandbox, params controlplanesrv.CreateSandboxParams) (*controlplanesrv.Sandbox, error) {
	ri := infoFrom(ctx)
	v, err := h.st.create(ri.tenant, ri.workspace, ri.requestID, req, params.CreateIfNotExist.Or(false))
	if err != nil {
		return nil, err.createErr(req.Metadata.Name, ri.workspace, h.srv.clock.Now())
	}
	return &v, nil
}

// GetSandbox implements GET /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) GetSandbox(ctx context.Context, params controlplanesrv.GetSandboxParams) (*controlplanesrv.Sandbox, error) {
	v, err := h.st.get(infoFrom(ctx).tenant, params.SandboxName)
	if err != nil {
		return fail[*controlplanesrv.Sandbox](err)
	}
	return &v, nil
}

// GetSandboxByExternalID implements GET /sandboxes/by-external-id/{externalId}.
func (h *controlPlaneHandler) GetSandboxByExternalID(ctx context.Context, params controlplanesrv.GetSandboxByExternalIDParams) (*controlplanesrv.Sandbox, error) {
	v, err := h.st.byExternalID(infoFrom(ctx).tenant, params.ExternalID)
	if err != nil {
		return fail[*controlplanesrv.Sandbox](err)
	}
	return &v, nil
}

// ListSandboxes implements GET /sandboxes.
func (h *controlPlaneHandler) ListSandboxes(ctx context.Context, params controlplanesrv.ListSandboxesParams) (controlplanesrv.SandboxListing, error) {
	v, err := h.st.list(infoFrom(ctx).tenant, params)
	if err != nil {
		return fail[controlplanesrv.SandboxListing](err)
	}
	return v, nil
}

// UpdateSandbox implements PUT /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) UpdateSandbox(ctx context.Context, req *controlplanesrv.Sandbox, params controlplanesrv.UpdateSandboxParams) (*controlplanesrv.Sandbox, error) {
	v, err := h.st.update(infoFrom(ctx).tenant, params.SandboxName, req)
	if err != nil {
		return fail[*controlplanesrv.Sandbox](err)
	}
	return &v, nil
}

// DeleteSandbox implements DELETE /sandboxes/{sandboxName}.
func (h *controlPlaneHandler) DeleteSandbox(ctx context.Context, params controlplanesrv.DeleteSandboxParams) (*controlplanesrv.Sandbox, error) {
	ri := infoFrom(ctx)
	v, err := h.st.delete(ri.tenant, params.SandboxName, ri.requestID)
	if err != nil {
		return fail[*controlplanesrv.Sandbox](err)
	}
	return &v, nil
}

// ForkSandbox implements POST /sandboxes/{sandboxName}/fork.
func (h *controlPlaneHandler) ForkSandbox(ctx context.Context, req *controlplanesrv.ForkRequest, params controlplanesrv.ForkSandboxParams) (*controlplanesrv.ForkResult, error) {
	ri := infoFrom(ctx)
	v, err := h.st.fork(ri.tenant, ri.requestID, params.SandboxName, req)
	if err != nil {
		return fail[*controlplanesrv.ForkResult](err)
	}
	return &v, nil
}

// ListSandboxSnapshots implements GET /sandboxes/{sandboxName}/snapshots.
func (h *controlPlaneHandler) ListSandboxSnapshots(ctx context.Context, params controlplanesrv.ListSandboxSnapshotsParams) ([]controlplanesrv.Snapshot, error) {
	v, err := h.st.listSnapshots(infoFrom(ctx).tenant, params.SandboxName)
	if err != nil {
		return fail[[]controlplanesrv.Snapshot](err)
	}
	return v, nil
}

// CreateSandboxSnapshot implements POST /sandboxes/{sandboxName}/snapshots.
func (h *controlPlaneHandler) CreateSandboxSnapshot(ctx context.Context, req *controlplanesrv.SnapshotRequest, params controlplanesrv.CreateSandboxSnapshotParams) (*controlplanesrv.Snapshot, error) {
	v, err := h.st.createSnapshot(infoFrom(ctx).tenant, params.SandboxName, req)
	if err != nil {
		return fail[*controlplanesrv.Snapshot](err)
	}
	return &v, nil
}

// DeleteSandboxSnapshot implements DELETE /sandboxes/{sandboxName}/snapshots/{snapshotId}.
func (h *controlPlaneHandler) DeleteSandboxSnapshot(ctx context.Context, params controlplanesrv.DeleteSandboxSnapshotParams) error {
	if err := h.st.deleteSnapshot(infoFrom(ctx).tenant, params.SandboxName, params.SnapshotID); err != nil {
		return err.statusErr()
	}
	return nil
}

// ListSandboxPreviews implements GET /sandboxes/{sandboxName}/previews.
func (h *controlPlaneHandler) ListSandboxPreviews(ctx context.Context, params controlplanesrv.ListSandboxPreviewsParams) ([]controlplanesrv.Preview, error) {
	v, err := h.st.listPreviews(infoFrom(ctx).tenant, params.SandboxName)
	if err != nil {
		return fail[[]controlplanesrv.Preview](err)
	}
	return v, nil
}

// CreateSandboxPreview implements POST /sandboxes/{sandboxName}/previews.
func (h *controlPlaneHandler) CreateSandboxPreview(ctx context.Context, req *controlplanesrv.Preview, params controlplanesrv.CreateSandboxPreviewParams) (*controlplanesrv.Preview, error) {
	v, err := h.st.createPreview(infoFrom(ctx).tenant, params.SandboxName, req, params.Force.Or(false))
	if err != nil {
		return fail[*controlplanesrv.Preview](err)
	}
	return &v, nil
}

// GetSandboxPreview implements GET /sandboxes/{sandboxName}/previews/{previewName}.
func (h *controlPlaneHandler) GetSandboxPreview(ctx context.Context, params controlplanesrv.GetSandboxPreviewParams) (*controlplanesrv.Preview, error) {
	v, err := h.st.getPreview(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName)
	if err != nil {
		return fail[*controlplanesrv.Preview](err)
	}
	return &v, nil
}

// UpdateSandboxPreview implements PUT /sandboxes/{sandboxName}/previews/{previewName}.
func (h *controlPlaneHandler) UpdateSandboxPreview(ctx context.Context, req *controlplanesrv.Preview, params controlplanesrv.UpdateSandboxPreviewParams) (*controlplanesrv.Preview, error) {
	v, err := h.st.updatePreview(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName, req)
	if err != nil {
		return fail[*controlplanesrv.Preview](err)
	}
	return &v, nil
}

// DeleteSandboxPreview implements DELETE /sandboxes/{sandboxName}/previews/{previewName}.
func (h *controlPlaneHandler) DeleteSandboxPreview(ctx context.Context, params controlplanesrv.DeleteSandboxPreviewParams) (*controlplanesrv.Preview, error) {
	v, err := h.st.deletePreview(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName)
	if err != nil {
		return fail[*controlplanesrv.Preview](err)
	}
	return &v, nil
}

// ListSandboxPreviewTokens implements GET /sandboxes/{sandboxName}/previews/{previewName}/tokens.
func (h *controlPlaneHandler) ListSandboxPreviewTokens(ctx context.Context, params controlplanesrv.ListSandboxPreviewTokensParams) ([]controlplanesrv.PreviewToken, error) {
	v, err := h.st.listPreviewTokens(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName)
	if err != nil {
		return fail[[]controlplanesrv.PreviewToken](err)
	}
	return v, nil
}

// CreateSandboxPreviewToken implements POST /sandboxes/{sandboxName}/previews/{previewName}/tokens.
func (h *controlPlaneHandler) CreateSandboxPreviewToken(ctx context.Context, req *controlplanesrv.PreviewToken, params controlplanesrv.CreateSandboxPreviewTokenParams) (*controlplanesrv.PreviewToken, error) {
	v, err := h.st.createPreviewToken(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName, req)
	if err != nil {
		return fail[*controlplanesrv.PreviewToken](err)
	}
	return &v, nil
}

// DeleteSandboxPreviewToken implements DELETE /sandboxes/{sandboxName}/previews/{previewName}/tokens/{tokenName}.
func (h *controlPlaneHandler) DeleteSandboxPreviewToken(ctx context.Context, params controlplanesrv.DeleteSandboxPreviewTokenParams) (*controlplanesrv.MessageResult, error) {
	if err := h.st.deletePreviewToken(infoFrom(ctx).tenant, params.SandboxName, params.PreviewName, params.TokenName); err != nil {
		return fail[*controlplanesrv.MessageResult](err)
	}
	return &controlplanesrv.MessageResult{Message: controlplanesrv.NewOptString("token " + params.TokenName + " deleted")}, nil
}

// ListSandboxSchedules implements GET /sandboxes/{sandboxName}/schedules.
func (h *controlPlaneHandler) ListSandboxSchedules(ctx context.Context, params controlplanesrv.ListSandboxSchedulesParams) (controlplanesrv.ScheduleListing, error) {
	v, err := h.st.listSchedules(infoFrom(ctx).tenant, params)
	if err != nil {
		return fail[controlplanesrv.ScheduleListing](err)
	}
	return v, nil
}

// CreateSandboxSchedule implements POST /sandboxes/{sandboxName}/schedules.
func (h *controlPlaneHandler) CreateSandboxSchedule(ctx context.Context, req *controlplanesrv.Schedule, params controlplanesrv.CreateSandboxScheduleParams) (*controlplanesrv.Schedule, error) {
	v, err := h.st.createSchedule(infoFrom(ctx).tenant, params.SandboxName, req)
	if err != nil {
		return fail[*controlplanesrv.Schedule](err)
	}
	return &v, nil
}

// GetSandboxSchedule implements GET /sandboxes/{sandboxName}/schedules/{scheduleId}.
func (h *controlPlaneHandler) GetSandboxSchedule(ctx context.Context, params controlplanesrv.GetSandboxScheduleParams) (*controlplanesrv.Schedule, error) {
	v, err := h.st.getSchedule(infoFrom(ctx).tenant, params.SandboxName, params.ScheduleID)
	if err != nil {
		return fail[*controlplanesrv.Schedule](err)
	}
	return &v, nil
}

// UpdateSandboxSchedule implements PUT /sandboxes/{sandboxName}/schedules/{scheduleId}.
func (h *controlPlaneHandler) UpdateSandboxSchedule(ctx context.Context, req *controlplanesrv.Schedule, params controlplanesrv.UpdateSandboxScheduleParams) (*controlplanesrv.Schedule, error) {
	v, err := h.st.updateSchedule(infoFrom(ctx).tenant, params.SandboxName, params.ScheduleID, req)
	if err != nil {
		return fail[*controlplanesrv.Schedule](err)
	}
	return &v, nil
}

// DeleteSandboxSchedule implements DELETE /sandboxes/{sandboxName}/schedules/{scheduleId}.
func (h *controlPlaneHandler) DeleteSandboxSchedule(ctx context.Context, params controlplanesrv.DeleteSandboxScheduleParams) (*controlplanesrv.Schedule, error) {
	v, err := h.st.deleteSchedule(infoFrom(ctx).tenant, params.SandboxName, params.ScheduleID)
	if err != nil {
		return fail[*controlplanesrv.Schedule](err)
	}
	return &v, nil
}

// ListSandboxScheduleExecutions implements GET /sandboxes/{sandboxName}/schedule-executions.
func (h *controlPlaneHandler) ListSandboxScheduleExecutions(ctx context.Context, params controlplanesrv.ListSandboxScheduleExecutionsParams) (*controlplanesrv.ScheduleExecutionPage, error) {
	v, err := h.st.listExecutions(infoFrom(ctx).tenant, params)
	if err != nil {
		return fail[*controlplanesrv.ScheduleExecutionPage](err)
	}
	return &v, nil
}

// ListSandboxHubDefinitions implements GET /sandbox/hub.
func (h *controlPlaneHandler) ListSandboxHubDefinitions(context.Context) ([]controlplanesrv.HubDefinition, error) {
	return cpHub(), nil
}
