package mockserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// WithUpstream puts the server in proxy mode: instead of simulating, it
// forwards every request to a real lifecycle server (api
// [APILifecycle]) or sandbox API ([APISandbox]) at rawURL, and applies
// the injected faults and the journal to that traffic: statuses and
// Retry-After, latency, dropped connections, and failures after commit
// (the request is forwarded and its answer thrown away, so the upstream
// server did the work and the client sees the fault). Requests keep their
// path and query, so a client uses the proxy's URL with rawURL's path: a
// lifecycle server at http://host:port/v1 is reached at the proxy's URL
// plus "/v1", a sandbox API at http://host:port/some/prefix at the
// proxy's URL plus "/some/prefix". The upstream server authenticates: the
// mock's tenants do not apply. Operation names (for faults and the
// journal) are those of api.
//
// The control API works as in mock mode for faults, the journal, reset
// and information; the controls of the mock's own state (clock,
// transitions, upgrades, commands, seeding, state documents) answer 409
// PROXY_MODE, and their Go methods return an error.
func WithUpstream(rawURL string, api API) Option {
	return func(c *config) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("mockserver: WithUpstream: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("mockserver: WithUpstream: %q is not an absolute http(s) URL without credentials, query or fragment", rawURL)
		}
		if api != APILifecycle && api != APISandbox {
			return fmt.Errorf("mockserver: WithUpstream: api %q: want APILifecycle or APISandbox (there is no real control plane to stand in front of)", string(api))
		}
		c.upstream, c.upstreamAPI = u, api
		c.set |= optUpstream
		return nil
	}
}

// proxy forwards requests to the upstream server.
type proxy struct {
	api       API
	display   string // the upstream URL as given
	prefix    string // its path, without trailing slash
	transport *http.Transport
	rp        *httputil.ReverseProxy
	s         *Server
}

// upstreamDialTimeout bounds connecting to the upstream server. Answers
// are not bounded: a process wait or a stream may take long, and the
// client's context ends them.
const upstreamDialTimeout = 10 * time.Second

func newProxy(s *Server, u *url.URL, api API) *proxy {
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   upstreamDialTimeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	p := &proxy{api: api, display: u.String(), prefix: strings.TrimSuffix(u.EscapedPath(), "/"), transport: t, s: s}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:     t,
		FlushInterval: -1, // streams (NDJSON, logs, watches) pass through as written
		ModifyResponse: func(resp *http.Response) error {
			// The answer carries the mock's X-Request-ID (the one it sent
			// upstream, which the lifecycle server echoes).
			resp.Header.Del(headerRequestID)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), err) || r.Context().Err() != nil {
				return // the client went away
			}
			writeAPIError(w, api, http.StatusBadGateway, "sandboxmock proxy: upstream "+target.Host+" did not answer: "+err.Error())
		},
	}
	return p
}

// classify routes r by the upstream's API.
func (p *proxy) classify(r *http.Request) route {
	if p.api == APILifecycle {
		return p.s.classifyLifecycle(r)
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), p.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return route{kind: routeGuestLifecycle, api: APIUnknown}
	}
	rt := route{kind: routeGuestLifecycle, api: APISandbox, rest: rest}
	rt.restPath, _ = url.PathUnescape(rest)
	rt = p.s.withGuestOp(r, rt)
	if rt.op == "" {
		rt.api = APIUnknown
	}
	return rt
}

// forward sends r upstream and copies the answer to w.
func (p *proxy) forward(w http.ResponseWriter, r *http.Request, _ *route) {
	p.rp.ServeHTTP(w, r)
}

func (p *proxy) close() { p.transport.CloseIdleConnections() }
