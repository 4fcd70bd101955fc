package mockserver

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// The lifecycle server is a FastAPI application, and clients see its
// framework as much as its logic: routes at / and at /v1, the API key
// checked before routing, JSON 404 and 405 answers, 307 redirects for a
// trailing slash, pydantic's 422 {"detail":[...]} for invalid input, lax
// conversions and Python's rendering of JSON and times. ogen's generated
// server can express none of that, so this file is the mock's HTTP layer
// for the lifecycle API: it routes, reads and checks requests as the real
// server does, calls the operations through the generated
// lifecyclesrv.Handler interface and renders their answers.

// lcRoute is one route of the lifecycle server, in its declaration order
// (which decides 405 answers' Allow header).
type lcRoute struct {
	method string
	path   string // segments; {name} matches one segment
	op     string
	serve  func(h *lcFront, w http.ResponseWriter, r *http.Request, args map[string]string)
}

var lcRoutes = []lcRoute{
	{http.MethodPost, "/sandboxes", OpCreateSandbox, (*lcFront).createSandbox},
	{http.MethodGet, "/sandboxes", OpListSandboxes, (*lcFront).listSandboxes},
	{http.MethodGet, "/sandboxes/{sandboxId}", OpGetSandbox, (*lcFront).getSandbox},
	{http.MethodPatch, "/sandboxes/{sandboxId}/metadata", OpPatchSandboxMetadata, (*lcFront).patchMetadata},
	{http.MethodDelete, "/sandboxes/{sandboxId}", OpDeleteSandbox, (*lcFront).deleteSandbox},
	{http.MethodPost, "/sandboxes/{sandboxId}/pause", OpPauseSandbox, (*lcFront).pauseSandbox},
	{http.MethodPost, "/sandboxes/{sandboxId}/resume", OpResumeSandbox, (*lcFront).resumeSandbox},
	{http.MethodPost, "/sandboxes/{sandboxId}/renew-expiration", OpRenewSandboxExpiration, (*lcFront).renew},
	{http.MethodPost, "/sandboxes/{sandboxId}/snapshots", OpCreateSnapshot, (*lcFront).createSnapshot},
	{http.MethodGet, "/snapshots", OpListSnapshots, (*lcFront).listSnapshots},
	{http.MethodGet, "/snapshots/{snapshotId}", OpGetSnapshot, (*lcFront).getSnapshot},
	{http.MethodDelete, "/snapshots/{snapshotId}", OpDeleteSnapshot, (*lcFront).deleteSnapshot},
	{http.MethodGet, "/sandboxes/{sandboxId}/endpoints/{port}", OpGetSandboxEndpoint, (*lcFront).getEndpoint},
}

// proxyMethods are the methods the server-proxy route forwards.
var proxyMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// lcMatch is the outcome of routing a lifecycle path.
type lcMatch struct {
	route *lcRoute          // the operation; nil when none matched
	args  map[string]string // path parameters, decoded
	allow string            // with route nil: the methods of the first route whose path matched (405)
	// redirect, with route nil and allow "": the path with or without a
	// trailing slash that a route matches (307).
	redirect string
}

// matchLifecycle routes method and the decoded path p (without /v1).
func matchLifecycle(method, p string) lcMatch {
	var m lcMatch
	if r, args, allow := findLCRoute(method, p); r != nil {
		return lcMatch{route: r, args: args}
	} else if allow != "" {
		m.allow = allow
		return m
	}
	if p != "/" && p != "" {
		alt := p + "/"
		if strings.HasSuffix(p, "/") {
			alt = strings.TrimRight(p, "/")
		}
		if r, _, allow := findLCRoute(method, alt); r != nil || allow != "" || isProxyPath(alt) {
			m.redirect = alt
		}
	}
	return m
}

// findLCRoute returns the route for method and path, or the Allow value
// of the first route whose path matches.
func findLCRoute(method, p string) (*lcRoute, map[string]string, string) {
	allow := ""
	for i := range lcRoutes {
		r := &lcRoutes[i]
		args, ok := matchPattern(r.path, p)
		if !ok {
			continue
		}
		if r.method == method {
			return r, args, ""
		}
		if allow == "" {
			allow = r.method
		}
	}
	if allow == "" && isProxyPath(p) && !slices.Contains(proxyMethods, method) {
		allow = strings.Join(proxyMethods, ", ")
	}
	return nil, nil, allow
}

// matchPattern matches a decoded path against a route pattern.
func matchPattern(pattern, p string) (map[string]string, bool) {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	xs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var args map[string]string
	for i, seg := range ps {
		if strings.HasPrefix(seg, "{") {
			if xs[i] == "" {
				return nil, false
			}
			if args == nil {
				args = map[string]string{}
			}
			args[strings.Trim(seg, "{}")] = xs[i]
			continue
		}
		if seg != xs[i] {
			return nil, false
		}
	}
	return args, true
}

// isProxyPath reports a server-proxy route: /sandboxes/{id}/proxy/{port}[/...].
func isProxyPath(p string) bool {
	xs := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	return len(xs) >= 4 && xs[0] == "sandboxes" && xs[1] != "" && xs[2] == "proxy" && xs[3] != ""
}

// lifecyclePath returns p without a leading /v1 (the server serves every
// route at / and at /v1).
func lifecyclePath(p string) string {
	if p == "/v1" {
		return "/"
	}
	if rest, ok := strings.CutPrefix(p, "/v1/"); ok {
		return "/" + rest
	}
	return p
}

// lifecycleAuthExempt reports the paths the server serves without the
// API key: its health check and documentation (by prefix) and the
// server proxy (numeric port, no "..").
func lifecycleAuthExempt(p string) bool {
	for _, prefix := range []string{"/health", "/docs", "/redoc", "/openapi.json"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	if strings.Contains(p, "..") {
		return false
	}
	q := lifecyclePath(p)
	xs := strings.SplitN(strings.TrimPrefix(q, "/"), "/", 5)
	if len(xs) < 4 || xs[0] != "sandboxes" || xs[1] == "" || xs[2] != "proxy" || xs[3] == "" {
		return false
	}
	for _, c := range xs[3] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// lcFront serves the lifecycle API's operations.
type lcFront struct {
	srv *Server
	h   *lifecycleHandler
}

// serve runs route m.route for r (authenticated, faults applied).
func (f *lcFront) serve(w http.ResponseWriter, r *http.Request, m lcMatch) {
	m.route.serve(f, w, r, m.args)
}

// writeNotFound answers a path no route matches, as FastAPI does.
func writeLCNotFound(w http.ResponseWriter) {
	writePy(w, http.StatusNotFound, pyD().set("detail", pyS("Not Found")))
}

// writeLCMethodNotAllowed answers a method the matching route lacks.
func writeLCMethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writePy(w, http.StatusMethodNotAllowed, pyD().set("detail", pyS("Method Not Allowed")))
}

// writeLCRedirect answers 307 to the same URL with path p.
func writeLCRedirect(w http.ResponseWriter, r *http.Request, p string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + p
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// writePy answers status with v as the server renders JSON. A value
// Python cannot render (NaN) becomes the server's plain-text 500.
func writePy(w http.ResponseWriter, status int, v *pyValue) {
	b, err := pyEncode(v)
	if err != nil {
		writeInternal(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeInternal is the answer to an unhandled server error.
func writeInternal(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "Internal Server Error")
}

// writeLCError answers a failed operation: {"code","message"}.
func writeLCError(w http.ResponseWriter, err error) {
	var oe *opError
	if !errors.As(err, &oe) || oe == errInternal {
		writeInternal(w)
		return
	}
	writePy(w, oe.status, pyD().set("code", pyS(oe.code)).set("message", pyS(oe.msg)))
}

// writeLCValidation answers 422 with the checker's errors.
func writeLCValidation(w http.ResponseWriter, c *checker) {
	detail := pyL()
	for _, e := range c.errs {
		detail.list = append(detail.list, e.render())
	}
	writePy(w, http.StatusUnprocessableEntity, pyD().set("detail", detail))
}

// errBodyUnparsable is the server's 400 for a body it cannot read.
func writeBodyUnparsable(w http.ResponseWriter) {
	writePy(w, http.StatusBadRequest, pyD().set("detail", pyS("There was an error parsing the body")))
}

// readBody reads a JSON request body as FastAPI does: nil when empty;
// the raw text (as a string value) when the content type is not JSON;
// else the decoded document. It answers the request itself (and returns
// false) when the body is too large, not UTF-8 or not JSON.
func (f *lcFront) readBody(w http.ResponseWriter, r *http.Request) (*pyValue, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writePy(w, http.StatusRequestEntityTooLarge, pyD().set("detail", pyS("Request body too large")))
			return nil, false
		}
		writeBodyUnparsable(w)
		return nil, false
	}
	if len(b) == 0 {
		return nil, true
	}
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return pyS(strings.ToValidUTF8(string(b), "\uFFFD")), true
	}
	v, err := pyDecode(b)
	if err != nil {
		var de *pyDecodeError
		if errors.As(err, &de) {
			c := &checker{}
			c.fail("json_invalid", []any{"body", de.pos}, "JSON decode error", pyD(), ctx1("error", pyS(de.msg)))
			writeLCValidation(w, c)
			return nil, false
		}
		writeBodyUnparsable(w)
		return nil, false
	}
	return v, true
}

// isJSONContentType reports application/json or application/*+json.
func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	main, sub, _ := strings.Cut(mt, "/")
	return main == "application" && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

func (f *lcFront) createSandbox(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body, ok := f.readBody(w, r)
	if !ok {
		return
	}
	c := &checker{}
	in, ok := checkCreate(c, body)
	if !ok {
		writeLCValidation(w, c)
		return
	}
	if in.timeout != nil {
		if !in.timeout.IsInt64() {
			writeLCError(w, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "Sandbox timeout %ss is too large to represent safely.", in.timeout.String()))
			return
		}
		in.req.Timeout = lifecyclesrv.NewOptNilInt(int(in.timeout.Int64()))
	}
	res, err := f.h.CreateSandbox(r.Context(), &in.req)
	if err != nil {
		writeLCError(w, err)
		return
	}
	var o pyOut
	o.created(res.Response)
	o.write(w, http.StatusAccepted)
}

func (f *lcFront) listSandboxes(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	c := &checker{}
	q := query{c: c, vals: r.URL.Query()}
	params := lifecyclesrv.ListSandboxesParams{State: q.vals["state"]}
	if raw, ok := q.str("metadata"); ok {
		params.Metadata = lifecyclesrv.NewOptString(raw)
	}
	params.Page, params.PageSize = f.pageParams(q)
	if len(c.errs) > 0 {
		writeLCValidation(w, c)
		return
	}
	res, err := f.h.ListSandboxes(r.Context(), params)
	if err != nil {
		writeLCError(w, err)
		return
	}
	writeLCPage(w, res.Items, (*pyOut).sandbox, res.Pagination)
}

func (f *lcFront) getSandbox(w http.ResponseWriter, r *http.Request, args map[string]string) {
	res, err := f.h.GetSandbox(r.Context(), lifecyclesrv.GetSandboxParams{SandboxID: args["sandboxId"]})
	if err != nil {
		writeLCError(w, err)
		return
	}
	var o pyOut
	o.sandbox(*res)
	o.write(w, http.StatusOK)
}

func (f *lcFront) patchMetadata(w http.ResponseWriter, r *http.Request, args map[string]string) {
	body, ok := f.readBody(w, r)
	if !ok {
		return
	}
	c := &checker{}
	patch, _, ok := checkPatch(c, body)
	if !ok {
		writeLCValidation(w, c)
		return
	}
	res, err := f.h.PatchSandboxMetadata(r.Context(), patch, lifecyclesrv.PatchSandboxMetadataParams{SandboxID: args["sandboxId"]})
	if err != nil {
		writeLCError(w, err)
		return
	}
	var o pyOut
	o.sandbox(*res)
	o.write(w, http.StatusOK)
}

func (f *lcFront) deleteSandbox(w http.ResponseWriter, r *http.Request, args map[string]string) {
	if err := f.h.DeleteSandbox(r.Context(), lifecyclesrv.DeleteSandboxParams{SandboxID: args["sandboxId"]}); err != nil {
		writeLCError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *lcFront) pauseSandbox(w http.ResponseWriter, r *http.Request, args map[string]string) {
	if err := f.h.PauseSandbox(r.Context(), lifecyclesrv.PauseSandboxParams{SandboxID: args["sandboxId"]}); err != nil {
		writeLCError(w, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func (f *lcFront) resumeSandbox(w http.ResponseWriter, r *http.Request, args map[string]string) {
	if err := f.h.ResumeSandbox(r.Context(), lifecyclesrv.ResumeSandboxParams{SandboxID: args["sandboxId"]}); err != nil {
		writeLCError(w, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func (f *lcFront) renew(w http.ResponseWriter, r *http.Request, args map[string]string) {
	body, ok := f.readBody(w, r)
	if !ok {
		return
	}
	c := &checker{}
	tv, ok := checkRenew(c, body)
	if !ok {
		writeLCValidation(w, c)
		return
	}
	res, err := f.h.RenewSandboxExpiration(r.Context(), &lifecyclesrv.RenewSandboxExpirationRequest{ExpiresAt: tv.t}, lifecyclesrv.RenewSandboxExpirationParams{SandboxID: args["sandboxId"]})
	if err != nil {
		writeLCError(w, err)
		return
	}
	var o pyOut
	o.open()
	o.key("expiresAt")
	o.time(res.ExpiresAt)
	o.close()
	o.write(w, http.StatusOK)
}

func (f *lcFront) createSnapshot(w http.ResponseWriter, r *http.Request, args map[string]string) {
	body, ok := f.readBody(w, r)
	if !ok {
		return
	}
	c := &checker{}
	req, ok := checkSnapshotBody(c, body)
	if !ok {
		writeLCValidation(w, c)
		return
	}
	res, err := f.h.CreateSnapshot(r.Context(), req, lifecyclesrv.CreateSnapshotParams{SandboxID: args["sandboxId"]})
	if err != nil {
		writeLCError(w, err)
		return
	}
	w.Header().Set("Location", res.Location.Value)
	var o pyOut
	o.snapshot(res.Response)
	o.write(w, http.StatusAccepted)
}

func (f *lcFront) listSnapshots(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	c := &checker{}
	q := query{c: c, vals: r.URL.Query()}
	var params lifecyclesrv.ListSnapshotsParams
	if id, ok := q.str("sandboxId"); ok {
		params.SandboxID = lifecyclesrv.NewOptString(id)
	}
	for _, s := range q.vals["state"] {
		params.State = append(params.State, lifecyclesrv.SnapshotState(s))
	}
	params.Page, params.PageSize = f.pageParams(q)
	if len(c.errs) > 0 {
		writeLCValidation(w, c)
		return
	}
	res, err := f.h.ListSnapshots(r.Context(), params)
	if err != nil {
		writeLCError(w, err)
		return
	}
	writeLCPage(w, res.Items, (*pyOut).snapshot, res.Pagination)
}

func (f *lcFront) getSnapshot(w http.ResponseWriter, r *http.Request, args map[string]string) {
	res, err := f.h.GetSnapshot(r.Context(), lifecyclesrv.GetSnapshotParams{SnapshotID: args["snapshotId"]})
	if err != nil {
		writeLCError(w, err)
		return
	}
	var o pyOut
	o.snapshot(*res)
	o.write(w, http.StatusOK)
}

func (f *lcFront) deleteSnapshot(w http.ResponseWriter, r *http.Request, args map[string]string) {
	if err := f.h.DeleteSnapshot(r.Context(), lifecyclesrv.DeleteSnapshotParams{SnapshotID: args["snapshotId"]}); err != nil {
		writeLCError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *lcFront) getEndpoint(w http.ResponseWriter, r *http.Request, args map[string]string) {
	c := &checker{}
	port, portOK := pathInt(c, "port", args["port"])
	q := query{c: c, vals: r.URL.Query()}
	proxy := q.boolParam("use_server_proxy", false)
	expires, _ := q.optIntParam("expires")
	if len(c.errs) > 0 || !portOK {
		writeLCValidation(w, c)
		return
	}
	params := lifecyclesrv.GetSandboxEndpointParams{
		SandboxID:      args["sandboxId"],
		Port:           smallInt(port, -1),
		UseServerProxy: lifecyclesrv.NewOptBool(proxy),
	}
	if expires != nil {
		params.Expires = lifecyclesrv.NewOptString(expires.String())
	}
	res, err := f.h.GetSandboxEndpoint(r.Context(), params)
	if err != nil {
		writeLCError(w, err)
		return
	}
	ep := res
	var o pyOut
	o.open()
	o.key("endpoint")
	o.str(ep.Endpoint)
	if hs, ok := ep.Headers.Get(); ok {
		o.key("headers")
		o.strings(hs)
	}
	o.close()
	o.write(w, http.StatusOK)
}

// serveHealth answers the server's unauthenticated health check.
func serveLCHealth(w http.ResponseWriter) {
	writePy(w, http.StatusOK, pyD().set("status", pyS("healthy")))
}

// timeValue is a checked date-time: naive ones are taken as UTC.
type timeValue struct {
	t     time.Time
	naive bool
}

// pageParams reads the page and pageSize query parameters of a list,
// with the real server's defaults and bounds.
func (f *lcFront) pageParams(q query) (page, size lifecyclesrv.OptInt) {
	page = lifecyclesrv.NewOptInt(int(q.intParam("page", 1, intRule{ge: bound(1), le: bound(1 << 31)})))
	size = lifecyclesrv.NewOptInt(int(q.intParam("pageSize", 20, intRule{ge: bound(1), le: bound(int64(f.srv.cfg.maxPageSize))})))
	return page, size
}

// writeLCPage writes a 200 list answer: {"items": [...], "pagination": {...}}.
func writeLCPage[T any](w http.ResponseWriter, items []T, item func(*pyOut, T), p lifecyclesrv.PaginationInfo) {
	var o pyOut
	o.open()
	o.key("items")
	o.openList()
	for _, it := range items {
		o.elem()
		item(&o, it)
	}
	o.closeList()
	o.key("pagination")
	o.pagination(p)
	o.close()
	o.write(w, http.StatusOK)
}
