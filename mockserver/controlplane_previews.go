package mockserver

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// How a request shows a preview token: in this header or query
// parameter.
const (
	previewTokenHeader = "X-Blaxel-Preview-Token"
	previewTokenParam  = "bl_preview_token"
)

// cpPreview is a preview of a control plane sandbox: a URL that reaches
// one of its ports. Guarded by cpStore.mu.
type cpPreview struct {
	def                  controlplanesrv.Preview // as written, read-only fields removed
	createdAt, updatedAt time.Time
	tokens               []*cpPreviewToken
}

type cpPreviewToken struct {
	name      string
	value     string
	expiresAt time.Time
}

func (p *cpPreview) name() string { return p.def.Metadata.Name }

// deadline is when the preview's ttl or expires delete it; zero if never.
func (p *cpPreview) deadline() time.Time {
	var d time.Time
	if v, ok := p.def.Spec.TTL.Get(); ok && v != "" {
		if ttl, err := parseTTL(v); err == nil {
			d = p.createdAt.Add(ttl)
		}
	}
	if v, ok := p.def.Spec.Expires.Get(); ok && v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// prunePreviews drops sb's previews whose lifetime has ended. Called with
// st.mu held.
func (st *cpStore) prunePreviews(sb *cpSandbox) {
	now := st.srv.clock.Now()
	sb.previews = slices.DeleteFunc(sb.previews, func(p *cpPreview) bool {
		d := p.deadline()
		return !d.IsZero() && !now.Before(d)
	})
}

func (sb *cpSandbox) preview(name string) (*cpPreview, int) {
	for i, p := range sb.previews {
		if p.name() == name {
			return p, i
		}
	}
	return nil, -1
}

// previewURL is the URL of tenant's preview of sandbox.
func (st *cpStore) previewURL(tenant, sandbox, preview string) string {
	return st.srv.URL() + "/preview/" + url.PathEscape(tenant) + "/" + url.PathEscape(sandbox) + "/" + url.PathEscape(preview)
}

// previewView renders p for the wire. Called with st.mu held.
func (st *cpStore) previewView(sb *cpSandbox, p *cpPreview) controlplanesrv.Preview {
	v := p.def
	md := &v.Metadata
	md.ResourceName = controlplanesrv.NewOptString(sb.name)
	md.ResourceType = controlplanesrv.NewOptString("sandbox")
	md.Workspace = controlplanesrv.NewOptString(sb.workspace)
	md.CreatedAt = controlplanesrv.NewOptString(p.createdAt.Format(time.RFC3339))
	md.UpdatedAt = controlplanesrv.NewOptString(p.updatedAt.Format(time.RFC3339))
	md.CreatedBy = controlplanesrv.NewOptString(sb.tenant)
	md.UpdatedBy = controlplanesrv.NewOptString(sb.tenant)
	v.Spec.URL = controlplanesrv.NewOptString(st.previewURL(sb.tenant, sb.name, p.name()))
	v.Spec.Region = controlplanesrv.NewOptString("mock")
	v.Status = controlplanesrv.NewOptString(StatusDeployed)
	return v
}

// checkPreview validates a preview definition and strips its read-only
// fields.
func checkPreview(in *controlplanesrv.Preview) (controlplanesrv.Preview, *cpErr) {
	v := *in
	if n := v.Metadata.Name; len(n) > 63 || !cpNameRE.MatchString(n) {
		return v, cpErrorf(http.StatusBadRequest, "", "metadata.name %q must be 1 to 63 lower-case letters, digits or '-'", n)
	}
	if port := v.Spec.Port.Or(0); port < 1 || port > 65535 {
		return v, cpErrorf(http.StatusBadRequest, "", "spec.port %d is not a port number", port)
	}
	if ttl := v.Spec.TTL.Or(""); ttl != "" {
		if _, err := parseTTL(ttl); err != nil {
			return v, cpErrorf(http.StatusBadRequest, "", "spec.ttl: %v", err)
		}
	}
	if exp := v.Spec.Expires.Or(""); exp != "" {
		if _, err := time.Parse(time.RFC3339, exp); err != nil {
			return v, cpErrorf(http.StatusBadRequest, "", "spec.expires %q is not an RFC 3339 time", exp)
		}
	}
	for k := range v.Spec.RequestHeaders.Or(nil) {
		if http.CanonicalHeaderKey(k) == previewTokenHeader {
			return v, cpErrorf(http.StatusBadRequest, "", "spec.requestHeaders must not set %s", previewTokenHeader)
		}
	}
	md := &v.Metadata
	md.ResourceName.Reset()
	md.ResourceType.Reset()
	md.Workspace.Reset()
	md.CreatedAt.Reset()
	md.UpdatedAt.Reset()
	md.CreatedBy.Reset()
	md.UpdatedBy.Reset()
	v.Spec.URL.Reset()
	v.Spec.Region.Reset()
	v.Status.Reset()
	v.Events = nil
	return v, nil
}

func (st *cpStore) listPreviews(tenant, sandbox string) ([]controlplanesrv.Preview, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, sandbox)
	if err != nil {
		return nil, err
	}
	st.prunePreviews(sb)
	out := []controlplanesrv.Preview{}
	for _, p := range sb.previews {
		out = append(out, st.previewView(sb, p))
	}
	return out, nil
}

func (st *cpStore) createPreview(tenant, sandbox string, in *controlplanesrv.Preview, force bool) (controlplanesrv.Preview, *cpErr) {
	def, err := checkPreview(in)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.liveSandbox(tenant, sandbox)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	st.prunePreviews(sb)
	if p, _ := sb.preview(def.Metadata.Name); p != nil {
		return controlplanesrv.Preview{}, cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "preview %q of sandbox %q already exists", def.Metadata.Name, sandbox)
	}
	if domain := def.Spec.CustomDomain.Or(""); domain != "" {
		prefix := def.Spec.PrefixURL.Or("")
		clash := func(p *cpPreview) bool {
			return p.def.Spec.CustomDomain.Or("") == domain && p.def.Spec.PrefixURL.Or("") == prefix
		}
		if slices.ContainsFunc(sb.previews, clash) {
			if !force {
				return controlplanesrv.Preview{}, cpErrorf(http.StatusConflict, "", "prefix %q of %s is used by another preview (force replaces it)", prefix, domain)
			}
			sb.previews = slices.DeleteFunc(sb.previews, clash)
		}
	}
	now := st.srv.now()
	p := &cpPreview{def: def, createdAt: now, updatedAt: now}
	sb.previews = append(sb.previews, p)
	return st.previewView(sb, p), nil
}

// lookupPreview finds tenant's preview of sandbox.
func (st *cpStore) lookupPreview(tenant, sandbox, preview string) (*cpSandbox, *cpPreview, int, *cpErr) {
	sb, err := st.lookup(tenant, sandbox)
	if err != nil {
		return nil, nil, -1, err
	}
	st.prunePreviews(sb)
	p, i := sb.preview(preview)
	if p == nil {
		return sb, nil, -1, cpErrorf(http.StatusNotFound, cpCodeNotFound, "preview %q of sandbox %q not found", preview, sandbox)
	}
	return sb, p, i, nil
}

func (st *cpStore) getPreview(tenant, sandbox, preview string) (controlplanesrv.Preview, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, p, _, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	return st.previewView(sb, p), nil
}

func (st *cpStore) updatePreview(tenant, sandbox, preview string, in *controlplanesrv.Preview) (controlplanesrv.Preview, *cpErr) {
	if in.Metadata.Name != preview {
		return controlplanesrv.Preview{}, cpErrorf(http.StatusBadRequest, "", "metadata.name %q does not match the path's %q", in.Metadata.Name, preview)
	}
	def, err := checkPreview(in)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, p, _, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	p.def, p.updatedAt = def, st.srv.now()
	return st.previewView(sb, p), nil
}

func (st *cpStore) deletePreview(tenant, sandbox, preview string) (controlplanesrv.Preview, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, p, i, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return controlplanesrv.Preview{}, err
	}
	v := st.previewView(sb, p)
	sb.previews = slices.Delete(sb.previews, i, i+1)
	return v, nil
}

func (st *cpStore) tokenView(sb *cpSandbox, p *cpPreview, tk *cpPreviewToken, withValue bool) controlplanesrv.PreviewToken {
	v := controlplanesrv.PreviewToken{
		Metadata: controlplanesrv.PreviewTokenMetadata{
			Name:         tk.name,
			PreviewName:  controlplanesrv.NewOptString(p.name()),
			ResourceName: controlplanesrv.NewOptString(sb.name),
			ResourceType: controlplanesrv.NewOptString("sandbox"),
			Workspace:    controlplanesrv.NewOptString(sb.workspace),
		},
		Spec: controlplanesrv.PreviewTokenSpec{
			ExpiresAt: controlplanesrv.NewOptString(tk.expiresAt.Format(time.RFC3339)),
			Expired:   controlplanesrv.NewOptBool(!st.srv.clock.Now().Before(tk.expiresAt)),
		},
	}
	if withValue {
		v.Spec.Token = controlplanesrv.NewOptString(tk.value)
	}
	return v
}

func (st *cpStore) listPreviewTokens(tenant, sandbox, preview string) ([]controlplanesrv.PreviewToken, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, p, _, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return nil, err
	}
	out := []controlplanesrv.PreviewToken{}
	for _, tk := range p.tokens {
		out = append(out, st.tokenView(sb, p, tk, false))
	}
	return out, nil
}

func (st *cpStore) createPreviewToken(tenant, sandbox, preview string, in *controlplanesrv.PreviewToken) (controlplanesrv.PreviewToken, *cpErr) {
	name := in.Metadata.Name
	if name == "" || len(name) > 63 || strings.ContainsAny(name, "/?#% \t\r\n") {
		return controlplanesrv.PreviewToken{}, cpErrorf(http.StatusBadRequest, "", "metadata.name %q is not a valid token name", name)
	}
	exp, ok := in.Spec.ExpiresAt.Get()
	if !ok {
		return controlplanesrv.PreviewToken{}, cpErrorf(http.StatusBadRequest, "", "spec.expiresAt is required")
	}
	expiresAt, perr := time.Parse(time.RFC3339, exp)
	if perr != nil {
		return controlplanesrv.PreviewToken{}, cpErrorf(http.StatusBadRequest, "", "spec.expiresAt %q is not an RFC 3339 time", exp)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, p, _, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return controlplanesrv.PreviewToken{}, err
	}
	if !expiresAt.After(st.srv.clock.Now()) {
		return controlplanesrv.PreviewToken{}, cpErrorf(http.StatusBadRequest, "", "spec.expiresAt %s is not in the future", exp)
	}
	for _, tk := range p.tokens {
		if tk.name == name {
			return controlplanesrv.PreviewToken{}, cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "token %q of preview %q already exists", name, preview)
		}
	}
	tk := &cpPreviewToken{name: name, value: "bl-pt-" + strings.ToLower(rand.Text()), expiresAt: expiresAt}
	p.tokens = append(p.tokens, tk)
	return st.tokenView(sb, p, tk, true), nil
}

func (st *cpStore) deletePreviewToken(tenant, sandbox, preview, token string) *cpErr {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, p, _, err := st.lookupPreview(tenant, sandbox, preview)
	if err != nil {
		return err
	}
	for i, tk := range p.tokens {
		if tk.name == token {
			p.tokens = slices.Delete(p.tokens, i, i+1)
			return nil
		}
	}
	return cpErrorf(http.StatusNotFound, cpCodeNotFound, "token %q of preview %q not found", token, preview)
}

// HandleControlPlanePort makes h the server behind port of tenant's (""
// for [DefaultTenant]) control plane sandbox name, so that a preview of
// that port reaches h (with the preview's prefix removed from the path).
// Port 8080 is the sandbox API and cannot be replaced; nil h removes the
// handler. Without a handler, a preview of a port other than 8080 answers
// 502, as the gateway does when nothing listens.
func (s *Server) HandleControlPlanePort(tenant, name string, port int, h http.Handler) error {
	if port < 1 || port > 65535 || port == guestPort {
		return fmt.Errorf("mockserver: HandleControlPlanePort: port %d (8080 is the sandbox API)", port)
	}
	st := s.cp
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(cmpOr(tenant, DefaultTenant), name)
	if err != nil {
		return errors.New("mockserver: HandleControlPlanePort: " + err.msg)
	}
	if h == nil {
		delete(sb.ports, port)
		return nil
	}
	if sb.ports == nil {
		sb.ports = map[int]http.Handler{}
	}
	sb.ports[port] = h
	return nil
}

// previewRoute classifies /preview/{tenant}/{sandbox}/{preview}/... : a
// request for a sandbox's port through one of its previews. The preview,
// not the API key, decides who may pass, so the route needs no tenant
// key.
func previewRoute(p string) route {
	segs, rest, ok := cutSegments(p, 4)
	if !ok {
		return route{}
	}
	rt := route{kind: routePreviewCP, api: APISandbox, owner: segs[1], sandboxID: segs[2], rest: rest}
	rt.restPath, _ = url.PathUnescape(rest)
	return rt
}

// servePreview passes a request through a preview to the port it
// exposes, as the gateway does: a private preview wants a valid token
// (header or query parameter, both removed before passing on), the
// sandbox must be DEPLOYED, the preview's request and response headers
// are applied, and the request counts as a use of the sandbox.
func (s *Server) servePreview(w http.ResponseWriter, r *http.Request, rt *route) {
	segs, _, _ := cutSegments(r.URL.EscapedPath(), 4)
	previewName := segs[3]
	st := s.cp
	st.mu.Lock()
	sb, p, _, perr := st.lookupPreview(rt.owner, rt.sandboxID, previewName)
	if perr != nil {
		st.mu.Unlock()
		code := cpCodeRouteNotFound
		if sb == nil {
			code = cpCodeWorkloadNotFound
		}
		writeCPError(w, http.StatusNotFound, code, perr.msg)
		return
	}
	if !p.def.Spec.Public.Or(false) {
		given := r.Header.Get(previewTokenHeader)
		if given == "" {
			given = r.URL.Query().Get(previewTokenParam)
		}
		if given == "" {
			st.mu.Unlock()
			writeCPError(w, http.StatusUnauthorized, cpCodeAuthRequired, "this preview is private: send a preview token")
			return
		}
		now := s.clock.Now()
		if !slices.ContainsFunc(p.tokens, func(tk *cpPreviewToken) bool {
			return now.Before(tk.expiresAt) && subtle.ConstantTimeCompare([]byte(tk.value), []byte(given)) == 1
		}) {
			st.mu.Unlock()
			writeCPError(w, http.StatusUnauthorized, cpCodeAuthFailed, "the preview token is not valid for this preview")
			return
		}
	}
	switch {
	case sb.gone():
		st.mu.Unlock()
		writeCPError(w, http.StatusNotFound, cpCodeWorkloadNotFound, "sandbox "+sb.name+" is "+sb.status)
		return
	case sb.status != StatusDeployed:
		st.mu.Unlock()
		writeCPError(w, http.StatusServiceUnavailable, cpCodeWorkloadUnavailable, "sandbox "+sb.name+" is "+sb.status)
		return
	}
	port := p.def.Spec.Port.Or(0)
	var h http.Handler
	if port == guestPort {
		h = st.guestLocked(sb)
	} else if ph := sb.ports[port]; ph != nil {
		h = ph
	}
	sb.lastUsedAt = s.now()
	reqHeaders := p.def.Spec.RequestHeaders.Or(nil)
	respHeaders := p.def.Spec.ResponseHeaders.Or(nil)
	st.mu.Unlock()
	if h == nil {
		writeCPError(w, http.StatusBadGateway, cpCodeWorkloadUnavailable, "nothing listens on port "+strconv.Itoa(port)+" of sandbox "+sb.name)
		return
	}

	r2 := r.Clone(r.Context())
	u := *r.URL
	q := u.Query()
	if q.Has(previewTokenParam) {
		q.Del(previewTokenParam)
		u.RawQuery = q.Encode()
	}
	u.Path, u.RawPath = rt.restPath, ""
	if u.EscapedPath() != rt.rest {
		u.RawPath = rt.rest
	}
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	r2.Header.Del(previewTokenHeader)
	for k, v := range reqHeaders {
		r2.Header.Set(k, v)
	}
	h.ServeHTTP(&headerWriter{ResponseWriter: w, set: respHeaders}, r2)
}

// headerWriter sets headers on an answer just before it is written.
type headerWriter struct {
	http.ResponseWriter
	set   map[string]string
	wrote bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		for k, v := range w.set {
			w.Header().Set(k, v)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes streaming answers on.
func (w *headerWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
