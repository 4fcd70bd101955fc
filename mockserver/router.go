package mockserver

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// URL layout (see the package documentation):
//
//	/v1/...                                        lifecycle API
//	/v1/sandboxes/{id}/proxy/{port}/...            sandbox API via the lifecycle server
//	/sandboxes/{id}/port/{port}/...                sandbox API (endpoint)
//	/signed/{token}/sandboxes/{id}/port/{port}/... sandbox API (signed endpoint)
//	/v0/...                                        control plane
//	/cp/{tenant}/{name}/...                        sandbox API of a control plane sandbox
//	/preview/{tenant}/{name}/{preview}/...         a port of a control plane sandbox (preview URL)

type routeKind int

const (
	routeUnknown routeKind = iota
	routeLifecycle
	routeControlPlane
	routeGuestLifecycle
	routeGuestCP
	routePreviewCP // a control plane sandbox's port through a preview
)

// Zero-value generated servers, used only for their routers' FindPath (no
// prefix configured, so they route paths with the API prefix removed).
var (
	lcRouter lifecyclesrv.Server
	cpRouter controlplanesrv.Server
	sbRouter sandboxsrv.Server
)

// route is what the server learned from a request's method and path.
type route struct {
	kind      routeKind
	api       API
	op        string // ogen operation name; "" when no operation matched
	sandboxID string // lifecycle id or control plane name, when the path names one
	owner     string // tenant owning the addressed sandbox (guest routes), once known

	// Guest routes only.
	port     int
	signed   string // token of a signed route
	rest     string // escaped path inside the sandbox API
	restPath string // rest, unescaped
}

// classify routes r.
func (s *Server) classify(r *http.Request) route {
	p := r.URL.EscapedPath()
	switch {
	case p == "/v1" || strings.HasPrefix(p, "/v1/"):
		if segs, rest, ok := cutSegments(p, 5); ok && segs[1] == "sandboxes" && segs[3] == "proxy" {
			return s.withGuestOp(r, guestRoute(r, routeGuestLifecycle, segs[2], segs[4], rest))
		}
		rt := route{kind: routeLifecycle, api: APILifecycle}
		if op, ok := lcRouter.FindPath(r.Method, stripPrefix(r.URL, "/v1")); ok {
			rt.op = op.Name()
			if strings.Contains(op.PathPattern(), "{sandboxId}") && len(op.Args()) > 0 {
				rt.sandboxID = op.Args()[0]
			}
		}
		return rt
	case p == "/v0" || strings.HasPrefix(p, "/v0/"):
		rt := route{kind: routeControlPlane, api: APIControlPlane}
		if op, ok := cpRouter.FindPath(r.Method, stripPrefix(r.URL, "/v0")); ok {
			rt.op = op.Name()
			if len(op.Args()) > 0 {
				rt.sandboxID = op.Args()[0]
			}
		}
		return rt
	case strings.HasPrefix(p, "/sandboxes/"):
		if segs, rest, ok := cutSegments(p, 4); ok && segs[2] == "port" {
			return s.withGuestOp(r, guestRoute(r, routeGuestLifecycle, segs[1], segs[3], rest))
		}
	case strings.HasPrefix(p, "/signed/"):
		if segs, rest, ok := cutSegments(p, 6); ok && segs[2] == "sandboxes" && segs[4] == "port" {
			rt := guestRoute(r, routeGuestLifecycle, segs[3], segs[5], rest)
			if rt.kind != routeUnknown {
				rt.signed = segs[1]
			}
			return s.withGuestOp(r, rt)
		}
	case strings.HasPrefix(p, "/preview/"):
		return previewRoute(p)
	case strings.HasPrefix(p, "/cp/"):
		if segs, rest, ok := cutSegments(p, 3); ok {
			rt := route{kind: routeGuestCP, api: APISandbox, owner: segs[1], sandboxID: segs[2], rest: rest}
			rt.restPath, _ = url.PathUnescape(rest)
			return s.withGuestOp(r, rt)
		}
	}
	return route{}
}

// guestRoute is a lifecycle sandbox's sandbox API route; port must be a
// port number.
func guestRoute(r *http.Request, kind routeKind, id, port, rest string) route {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return route{}
	}
	rt := route{kind: kind, api: APISandbox, sandboxID: id, port: n, rest: rest}
	rt.restPath, _ = url.PathUnescape(rest)
	return rt
}

// guestPathRoutes are the sandbox API route prefixes followed by a file
// system path of any number of segments (the simulator's router sees it
// as one segment).
var guestPathRoutes = []string{
	"/filesystem/tree/", "/filesystem/", "/filesystem-find/", "/filesystem-search/",
	"/filesystem-content-search/", "/filesystem-multipart/initiate/",
	"/watch/filesystem/", "/codegen/fastapply/", "/codegen/reranking/", "/drives/mount/",
}

// withGuestOp names the sandbox API operation of rt.
func (s *Server) withGuestOp(r *http.Request, rt route) route {
	if rt.kind == routeUnknown {
		return rt
	}
	u := &url.URL{Path: rt.restPath, RawPath: rt.rest}
	for _, prefix := range guestPathRoutes {
		if strings.HasPrefix(rt.rest, prefix) {
			u = &url.URL{Path: prefix + "p"}
			break
		}
	}
	if op, ok := sbRouter.FindPath(r.Method, u); ok {
		rt.op = op.Name()
	}
	return rt
}

// stripPrefix returns u's path without prefix, for the generated routers'
// FindPath (which, unlike ServeHTTP, does not cut the prefix).
func stripPrefix(u *url.URL, prefix string) *url.URL {
	v := &url.URL{Path: strings.TrimPrefix(u.Path, prefix)}
	if u.RawPath != "" {
		v.RawPath = strings.TrimPrefix(u.RawPath, prefix)
	}
	return v
}
