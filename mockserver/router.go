package mockserver

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// URL layout (see the package documentation):
//
//	/... and /v1/...                               lifecycle API (the server's root)
//	/sandboxes/{id}/proxy/{port}/... (also /v1)    sandbox API via the lifecycle server (server proxy)
//	/sandboxes/{id}/port/{port}/...                sandbox API (endpoint)
//	/signed/{token}/sandboxes/{id}/port/{port}/... sandbox API (signed endpoint)
//	/v0/...                                        control plane
//	/cp/{tenant}/{name}/...                        sandbox API of a control plane sandbox
//	/preview/{tenant}/{name}/{preview}/...         a port of a control plane sandbox (preview URL)

type routeKind int

const (
	// routeLifecycle is any path the lifecycle server owns: an operation,
	// its health check, or nothing (a JSON 404, 405 or 307).
	routeLifecycle routeKind = iota
	routeControlPlane
	routeGuestLifecycle
	routeGuestCP
	routePreviewCP // a control plane sandbox's port through a preview
)

// Zero-value generated servers, used only for their routers' FindPath (no
// prefix configured, so they route paths with the API prefix removed).
var (
	cpRouter controlplanesrv.Server
	sbRouter sandboxsrv.Server
)

// route is what the server learned from a request's method and path.
type route struct {
	kind      routeKind
	api       API
	op        string // operation name; "" when no operation matched
	sandboxID string // lifecycle id or control plane name, when the path names one
	owner     string // tenant owning the addressed sandbox (guest routes), once known

	// Lifecycle routes only.
	lc     lcMatch
	health bool // the server's GET /health

	// Guest routes only.
	port     int
	portText string // the port segment as sent (server proxy)
	signed   string // token of a signed route
	proxy    bool   // reached through the server proxy (no credential needed)
	rest     string // escaped path inside the sandbox API
	restPath string // rest, unescaped

	// lease is the request's hold on the server's state, given up while
	// it waits (a stream, a paused sandbox); nil outside ServeHTTP.
	lease *lease
}

// classify routes r.
func (s *Server) classify(r *http.Request) route {
	p := r.URL.EscapedPath()
	switch {
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
			if rt := guestRoute(r, segs[1], segs[3], rest); rt.api == APISandbox {
				return s.withGuestOp(r, rt)
			}
		}
	case strings.HasPrefix(p, "/signed/"):
		if segs, rest, ok := cutSegments(p, 6); ok && segs[2] == "sandboxes" && segs[4] == "port" {
			if rt := guestRoute(r, segs[3], segs[5], rest); rt.api == APISandbox {
				rt.signed = segs[1]
				return s.withGuestOp(r, rt)
			}
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
	return s.classifyLifecycle(r)
}

// classifyLifecycle routes a path of the lifecycle server.
func (s *Server) classifyLifecycle(r *http.Request) route {
	rt := route{kind: routeLifecycle, api: APIUnknown}
	if r.URL.Path == "/health" {
		if r.Method != http.MethodGet {
			rt.lc.allow = http.MethodGet
			return rt
		}
		rt.health, rt.api = true, APILifecycle
		return rt
	}
	esc := r.URL.EscapedPath()
	lp := lifecyclePath(r.URL.Path)
	if isProxyPath(lp) && slices.Contains(proxyMethods, r.Method) {
		if segs, rest, ok := cutSegments(lifecyclePath(esc), 4); ok {
			g := route{kind: routeGuestLifecycle, api: APISandbox, proxy: true, sandboxID: segs[1], portText: segs[3], rest: rest}
			g.port, _ = strconv.Atoi(segs[3])
			g.restPath, _ = url.PathUnescape(rest)
			return s.withGuestOp(r, g)
		}
	}
	rt.lc = matchLifecycle(r.Method, lp)
	if rt.lc.redirect != "" && lp != r.URL.Path {
		rt.lc.redirect = "/v1" + rt.lc.redirect
	}
	if rt.lc.route != nil {
		rt.api, rt.op = APILifecycle, rt.lc.route.op
		if id, ok := rt.lc.route.argID(rt.lc.args); ok {
			rt.sandboxID = id
		}
	}
	return rt
}

// argID returns the sandbox id a lifecycle route addresses.
func (r *lcRoute) argID(args map[string]string) (string, bool) {
	id, ok := args["sandboxId"]
	return id, ok
}

// guestRoute is a lifecycle sandbox's sandbox API route; port must be a
// port number, else the route is the lifecycle server's (unknown) path.
func guestRoute(r *http.Request, id, port, rest string) route {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return route{}
	}
	rt := route{kind: routeGuestLifecycle, api: APISandbox, sandboxID: id, port: n, portText: port, rest: rest}
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
