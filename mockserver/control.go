package mockserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/go-faster/jx"
	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/mockcontrolsrv"
)

// The control API: the mock's test controls over HTTP, for tests in other
// processes and languages (see [Remote] and the sandboxmock command).
// Its OpenAPI document is internal/spec/mockcontrol.yaml; the generated
// server (internal/gen/mockcontrolsrv) routes and decodes, controlHandler
// calls the same methods Go tests call.

// controlPrefix is the path prefix of the control API. None of the three
// mocked APIs has a path starting with an underscore.
const controlPrefix = "/_sandboxmock"

// healthzPath answers 200 while the server runs (for container health
// checks and readiness probes); it is not journaled.
const healthzPath = "/healthz"

// WithControlToken protects the control API (the /_sandboxmock routes) with
// a bearer token of its own: every control request must then carry
// "Authorization: Bearer <token>". Without a token the control API answers
// only the in-memory transport and clients on the loopback interface, and
// 403 to others, so a server listening beyond loopback needs one.
func WithControlToken(token string) Option {
	return func(c *config) error {
		switch {
		case token == "":
			return errors.New("mockserver: WithControlToken: empty token")
		case strings.ContainsAny(token, " \t\r\n"):
			return errors.New("mockserver: WithControlToken: token contains white space")
		}
		c.controlToken = token
		c.set |= optControlToken
		return nil
	}
}

// Errors the control API maps to its status codes.
type (
	notFoundError struct{ msg string }
	conflictError struct {
		msg string
		err error
	}
)

func (e *notFoundError) Error() string { return e.msg }

// Is reports whether target is sandboxkit.ErrNotFound.
func (e *notFoundError) Is(target error) bool { return target == sandboxkit.ErrNotFound }

func (e *conflictError) Error() string { return e.msg }

// Unwrap returns the cause, if any.
func (e *conflictError) Unwrap() error { return e.err }

// Is reports whether target is sandboxkit.ErrConflict.
func (e *conflictError) Is(target error) bool { return target == sandboxkit.ErrConflict }

// ErrProxyMode is returned by the controls of the mock's own state
// (seeding, clock, transitions, upgrades, commands, state documents) on a
// server in proxy mode ([WithUpstream]), where the upstream server holds
// the state.
var ErrProxyMode = errors.New("mockserver: not available in proxy mode: the upstream server holds the state")

// Error codes of the control API.
const (
	ctlInvalid          = "INVALID_ARGUMENT"
	ctlUnknownOperation = "UNKNOWN_OPERATION"
	ctlNotFound         = "NOT_FOUND"
	ctlConflict         = "CONFLICT"
	ctlRealClock        = "REAL_CLOCK"
	ctlProxyMode        = "PROXY_MODE"
	ctlUnauthorized     = "UNAUTHORIZED"
	ctlForbidden        = "FORBIDDEN"
	ctlInternal         = "INTERNAL"
)

// controlStatus maps an error of a control to its answer.
func controlStatus(err error) (status int, code string, valid []string) {
	var (
		unknown *UnknownOperationError
		input   *inputError
		nf      *notFoundError
		conf    *conflictError
	)
	switch {
	case errors.As(err, &unknown):
		return http.StatusBadRequest, ctlUnknownOperation, unknown.Valid
	case errors.As(err, &input):
		return http.StatusBadRequest, ctlInvalid, nil
	case errors.As(err, &nf):
		return http.StatusNotFound, ctlNotFound, nil
	case errors.Is(err, ErrRealClock):
		return http.StatusConflict, ctlRealClock, nil
	case errors.Is(err, ErrProxyMode):
		return http.StatusConflict, ctlProxyMode, nil
	case errors.As(err, &conf):
		return http.StatusConflict, ctlConflict, nil
	}
	return http.StatusBadRequest, ctlInvalid, nil
}

// newControlHandler builds the control API's HTTP handler.
func (s *Server) newControlHandler() (http.Handler, error) {
	return mockcontrolsrv.NewServer(&controlHandler{s: s}, controlSecurity{},
		mockcontrolsrv.WithPathPrefix(controlPrefix),
		mockcontrolsrv.WithErrorHandler(controlErrorHandler),
		mockcontrolsrv.WithNotFound(func(w http.ResponseWriter, r *http.Request) {
			writeControlError(w, http.StatusNotFound, ctlNotFound, "no control operation "+r.Method+" "+r.URL.Path, nil)
		}),
		mockcontrolsrv.WithMethodNotAllowed(func(w http.ResponseWriter, r *http.Request, allowed string) {
			w.Header().Set("Allow", allowed)
			writeControlError(w, http.StatusMethodNotAllowed, ctlInvalid, r.Method+" not allowed; allowed: "+allowed, nil)
		}),
		mockcontrolsrv.WithTracerProvider(s.tracer), mockcontrolsrv.WithMeterProvider(s.meter))
}

// serveControl answers a control API request once its client may use the
// control API.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if token := s.initial.controlToken; token != "" {
		got, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sandboxmock control API"`)
			writeControlError(w, http.StatusUnauthorized, ctlUnauthorized, "the control API needs the server's control token as a bearer token", nil)
			return
		}
	} else if !fromLoopback(r) {
		writeControlError(w, http.StatusForbidden, ctlForbidden, "without a control token the control API answers loopback clients only; start the server with a control token (sandboxmock -control-token)", nil)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, s.initial.limits.MaxUploadBytes)
	}
	s.control.ServeHTTP(w, r)
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// fromLoopback reports whether r came through the in-memory transport or
// from a loopback address.
func fromLoopback(r *http.Request) bool {
	if inMemory(r.Context()) {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeControlError writes the control API's error body.
func writeControlError(w http.ResponseWriter, status int, code, msg string, valid []string) {
	e := jx.GetEncoder()
	defer jx.PutEncoder(e)
	e.ObjStart()
	e.FieldStart("error")
	e.Str(msg)
	e.FieldStart("code")
	e.Str(code)
	if len(valid) > 0 {
		e.FieldStart("valid")
		e.ArrStart()
		for _, v := range valid {
			e.Str(v)
		}
		e.ArrEnd()
	}
	e.ObjEnd()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(e.Bytes())
}

// controlErrorHandler answers what the generated server could not decode.
func controlErrorHandler(_ context.Context, w http.ResponseWriter, _ *http.Request, err error) {
	status := ogenerrors.ErrorCode(err)
	code := ctlInvalid
	if status >= 500 {
		code = ctlInternal
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	writeControlError(w, status, code, err.Error(), nil)
}

// controlSecurity accepts every request: serveControl has checked the
// token before the generated server sees it.
type controlSecurity struct{}

func (controlSecurity) HandleControlToken(ctx context.Context, _ mockcontrolsrv.OperationName, _ mockcontrolsrv.ControlToken) (context.Context, error) {
	return ctx, nil
}

// serveHealthz answers the mock's own health check.
func serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}
