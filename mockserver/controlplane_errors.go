package mockserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-faster/jx"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// Error codes of the control plane's answers. The gateway's own codes
// (WORKLOAD_*, ROUTE_NOT_FOUND, AUTHENTICATION_*) are the service's; the
// others are the mock's names for failures the published material shows
// without a code.
const (
	cpCodeWorkloadNotFound    = "WORKLOAD_NOT_FOUND"
	cpCodeWorkloadUnavailable = "WORKLOAD_UNAVAILABLE"
	cpCodeRouteNotFound       = "ROUTE_NOT_FOUND"
	cpCodeAuthFailed          = "AUTHENTICATION_FAILED"
	cpCodeAuthRequired        = "AUTHENTICATION_REQUIRED"
	cpCodeInvalidRequest      = "INVALID_REQUEST"
	cpCodeForbidden           = "FORBIDDEN"
	cpCodeNotFound            = "NOT_FOUND"
	cpCodeConflict            = "CONFLICT"
	cpCodeRateLimited         = "RATE_LIMITED"
	cpCodeInternal            = "INTERNAL_ERROR"

	// Codes of create errors ({code, message, sandbox_name, ...}).
	cpCodeInvalidName       = "INVALID_NAME"
	cpCodeInvalidExternalID = "INVALID_EXTERNAL_ID"
	cpCodeInvalidSpec       = "INVALID_SPEC"
	cpCodeAlreadyExists     = "ALREADY_EXISTS"

	// cpReasonCreationInProgress is the reason of a 409 for a name whose
	// sandbox is still being created.
	cpReasonCreationInProgress = "CREATION_IN_PROGRESS"
)

// cpErr is a failed control plane operation.
type cpErr struct {
	status int
	code   string // "" derives it from status
	msg    string
	reason string // optional 409 reason
}

func (e *cpErr) Error() string { return e.msg }

func cpErrorf(status int, code, format string, args ...any) *cpErr {
	return &cpErr{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// cpCodeForStatus is the gateway code of a status without a better one.
func cpCodeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusUnsupportedMediaType:
		return cpCodeInvalidRequest
	case http.StatusUnauthorized:
		return cpCodeAuthFailed
	case http.StatusForbidden:
		return cpCodeForbidden
	case http.StatusNotFound:
		return cpCodeNotFound
	case http.StatusConflict:
		return cpCodeConflict
	case http.StatusTooManyRequests:
		return cpCodeRateLimited
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return cpCodeWorkloadUnavailable
	}
	if status >= 500 {
		return cpCodeInternal
	}
	return http.StatusText(status)
}

// cpRetryable says whether the same request may succeed later.
func cpRetryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout ||
		(status >= 500 && status != http.StatusNotImplemented)
}

// cpAdvice returns the action and do_not texts of the envelope.
func cpAdvice(status int) (action, doNot string) {
	switch {
	case status == http.StatusUnauthorized:
		return "Send valid credentials.", "Do not retry with the same credentials."
	case status == http.StatusTooManyRequests:
		return "Wait and retry with backoff.", "Do not retry at once."
	case status >= 500:
		return "Retry with backoff.", "Do not assume the request had no effect."
	case status == http.StatusConflict:
		return "Read the resource's current state.", "Do not retry the same request unchanged."
	}
	return "Fix the request.", "Do not retry the same request unchanged."
}

// cpEnvelope builds the gateway's error envelope.
func cpEnvelope(status int, code, msg, reason string) controlplanesrv.ErrorBody {
	if code == "" {
		code = cpCodeForStatus(status)
	}
	action, doNot := cpAdvice(status)
	g := controlplanesrv.GatewayError{
		Code:      controlplanesrv.NewOptString(code),
		Message:   controlplanesrv.NewOptString(msg),
		Origin:    controlplanesrv.NewOptString("platform"),
		Retryable: controlplanesrv.NewOptBool(cpRetryable(status)),
		Action:    controlplanesrv.NewOptString(action),
		DoNot:     controlplanesrv.NewOptString(doNot),
		Status:    controlplanesrv.NewOptInt(status),
	}
	b := controlplanesrv.ErrorBody{Error: controlplanesrv.NewOptErrorDetail(controlplanesrv.NewGatewayErrorErrorDetail(g))}
	if reason != "" {
		b.Reason = controlplanesrv.NewOptString(reason)
	}
	return b
}

// statusErr turns e into the generated server's error answer in the
// gateway's envelope.
func (e *cpErr) statusErr() *controlplanesrv.ErrorStatusCode {
	return &controlplanesrv.ErrorStatusCode{StatusCode: e.status, Response: cpEnvelope(e.status, e.code, e.msg, e.reason)}
}

// createErr turns e into the answer of a failed create: the flat body
// {code, message, sandbox_name, status_code, step, timestamp, workspace}.
func (e *cpErr) createErr(name, workspace string, now time.Time) *controlplanesrv.ErrorStatusCode {
	code := e.code
	if code == "" {
		code = cpCodeForStatus(e.status)
	}
	b := controlplanesrv.ErrorBody{
		Code:        controlplanesrv.NewOptErrorCode(controlplanesrv.NewStringErrorCode(code)),
		Message:     controlplanesrv.NewOptString(e.msg),
		SandboxName: controlplanesrv.NewOptString(name),
		StatusCode:  controlplanesrv.NewOptInt(e.status),
		Step:        controlplanesrv.NewOptString("validate_and_prepare"),
		Timestamp:   controlplanesrv.NewOptString(now.UTC().Format(time.RFC3339Nano)),
		Workspace:   controlplanesrv.NewOptString(workspace),
	}
	if e.reason != "" {
		b.Reason = controlplanesrv.NewOptString(e.reason)
	}
	return &controlplanesrv.ErrorStatusCode{StatusCode: e.status, Response: b}
}

// NewError answers an error no handler shaped (it should not happen) as
// a 500 in the gateway's envelope.
func (h *controlPlaneHandler) NewError(_ context.Context, err error) *controlplanesrv.ErrorStatusCode {
	var e *cpErr
	if errors.As(err, &e) {
		return e.statusErr()
	}
	return cpErrorf(http.StatusInternalServerError, "", "%v", err).statusErr()
}

// writeCPError writes the gateway's envelope for status with msg, for
// answers made outside the generated server (authentication, faults,
// undecodable requests, unknown routes).
func writeCPError(w http.ResponseWriter, status int, code, msg string) {
	body := cpEnvelope(status, code, msg, "")
	e := jx.GetEncoder()
	defer jx.PutEncoder(e)
	body.Encode(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(e.Bytes())
}

// cpRouteNotFound answers a path under /v0 that names no operation, as
// the gateway does.
func cpRouteNotFound(w http.ResponseWriter, r *http.Request) {
	writeCPError(w, http.StatusNotFound, cpCodeRouteNotFound, "no route for "+r.Method+" "+r.URL.EscapedPath())
}
