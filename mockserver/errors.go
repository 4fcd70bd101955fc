package mockserver

import (
	"context"
	"net/http"

	"github.com/go-faster/errors"
	"github.com/go-faster/jx"
	"github.com/ogen-go/ogen/ogenerrors"
)

// Error codes of lifecycle error bodies (and the "code" of control plane
// ones), by status.
const (
	codeInvalidRequest = "INVALID_REQUEST"
	codeUnauthorized   = "UNAUTHORIZED"
	codeForbidden      = "FORBIDDEN"
	codeNotFound       = "NOT_FOUND"
	codeConflict       = "CONFLICT"
	codeInternal       = "INTERNAL_ERROR"
)

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusUnsupportedMediaType:
		return codeInvalidRequest
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusForbidden:
		return codeForbidden
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusConflict:
		return codeConflict
	case http.StatusTooManyRequests:
		return "RATE_LIMITED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return codeInternal
	}
	return http.StatusText(status)
}

// writeAPIError writes an error body in the shape of api:
// lifecycle {"code","message"}, control plane the gateway's envelope
// {"error":{"code","message",...}}, sandbox API {"error"}; an unknown
// route gets plain text.
func writeAPIError(w http.ResponseWriter, api API, status int, msg string) {
	e := jx.GetEncoder()
	defer jx.PutEncoder(e)
	switch api {
	case APILifecycle:
		e.ObjStart()
		e.FieldStart("code")
		e.Str(codeForStatus(status))
		e.FieldStart("message")
		e.Str(msg)
		e.ObjEnd()
	case APIControlPlane:
		writeCPError(w, status, "", msg)
		return
	case APISandbox:
		e.ObjStart()
		e.FieldStart("error")
		e.Str(msg)
		e.ObjEnd()
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(e.Bytes())
}

// ogenErrorHandler turns errors of the generated servers (undecodable
// bodies, invalid parameters, handler errors) into answers in api's error
// shape: 400 for what the client sent wrong, 500 otherwise.
func ogenErrorHandler(api API) ogenerrors.ErrorHandler {
	return func(_ context.Context, w http.ResponseWriter, _ *http.Request, err error) {
		status := ogenerrors.ErrorCode(err)
		if status == http.StatusUnsupportedMediaType {
			status = http.StatusBadRequest
		}
		msg := err.Error()
		var (
			decReq    *ogenerrors.DecodeRequestError
			decParams *ogenerrors.DecodeParamsError
		)
		switch {
		case errors.As(err, &decReq):
			msg = "invalid request body: " + decReq.Err.Error()
		case errors.As(err, &decParams):
			msg = "invalid parameter: " + decParams.Err.Error()
		}
		writeAPIError(w, api, status, msg)
	}
}

// plainNotFound answers an unknown route like the real services: a
// plain-text 404.
func plainNotFound(w http.ResponseWriter, _ *http.Request) {
	writeAPIError(w, APIUnknown, http.StatusNotFound, "404 page not found")
}
