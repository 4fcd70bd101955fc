package mockserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/guest"
)

// guestPort is the port of the sandbox API inside a lifecycle sandbox.
const guestPort = 8080

// guestState is what a sandbox API simulator answers: everything
// (running), 503 (paused, pending) or 404 (gone).
type guestState int

const (
	guestRunning guestState = iota
	guestPaused
	guestPending
	guestTerminated
)

// guestAPI is the per-sandbox sandbox API simulator the server mounts.
// Paths it sees are relative to the sandbox API root ("/health").
type guestAPI interface {
	http.Handler
	SetState(guestState)
	ScriptUpgrade(guest.UpgradeScript)
	RegisterCommand(name string, h guest.CommandFunc)
	Close()
}

// newGuest builds the sandbox API simulator of one sandbox, whose
// processes see env, with the commands scripted for every sandbox.
// Requests reach it already authenticated, so it checks no token itself.
func (s *Server) newGuest(env map[string]string) guestAPI {
	g := simGuest{guest.New(guest.Config{Clock: s.clock, Env: env})}
	s.applyCommands(g)
	s.graveMu.Lock()
	s.guests[g] = struct{}{}
	s.graveMu.Unlock()
	return g
}

// liveGuests returns the simulators of the sandboxes that exist.
func (s *Server) liveGuests() []guestAPI {
	s.graveMu.Lock()
	defer s.graveMu.Unlock()
	out := make([]guestAPI, 0, len(s.guests))
	for g := range s.guests {
		out = append(out, g)
	}
	return out
}

// simGuest adapts the guest package's simulator.
type simGuest struct{ *guest.Guest }

func (g simGuest) SetState(st guestState) {
	switch st {
	case guestRunning:
		g.Guest.SetState(guest.Running)
	case guestPaused:
		g.Guest.SetState(guest.Paused)
	case guestPending:
		g.Guest.SetState(guest.Pending)
	default:
		g.Guest.SetState(guest.Terminated)
	}
}

// retireGuest takes the simulator of a sandbox that is gone out of
// service: it answers 404 from now on and is closed by buryGuests, outside
// the store locks (closing waits for the simulator's own goroutines).
func (s *Server) retireGuest(g guestAPI) {
	g.SetState(guestTerminated)
	s.commands.forget(g)
	s.graveMu.Lock()
	delete(s.guests, g)
	s.grave = append(s.grave, g)
	s.graveN.Store(int64(len(s.grave)))
	s.graveMu.Unlock()
}

// buryGuests closes the retired simulators. Call it with no store lock
// held.
func (s *Server) buryGuests() {
	if s.graveN.Load() == 0 {
		return
	}
	s.graveMu.Lock()
	gs := s.grave
	s.grave = nil
	s.graveN.Store(0)
	s.graveMu.Unlock()
	for _, g := range gs {
		g.Close()
	}
}

// serveGuest hands a sandbox API request to the sandbox's simulator, with
// the route's prefix removed from the path.
func (s *Server) serveGuest(w http.ResponseWriter, r *http.Request, rt *route) {
	var g guestAPI
	switch rt.kind {
	case routeGuestCP:
		var ok bool
		if g, ok = s.cp.guestFor(rt.owner, rt.sandboxID); !ok {
			writeAPIError(w, APISandbox, http.StatusNotFound, "sandbox not found")
			return
		}
	default:
		if rt.port != guestPort {
			s.nothingListens(w, rt)
			return
		}
		var (
			ok      bool
			state   string
			resumed <-chan struct{}
		)
		if g, state, resumed, ok = s.lc.guestFor(rt.owner, rt.sandboxID); !ok {
			if rt.proxy {
				writeLCError(w, s.lc.notFound(rt.sandboxID))
				return
			}
			writeAPIError(w, APISandbox, http.StatusNotFound, "sandbox not found")
			return
		}
		if s.lc.rt == RuntimeDocker {
			switch state {
			case StatePaused:
				// A paused container accepts the connection and never
				// answers: wait for a resume, a delete or the client.
				rt.lease.release()
				select {
				case <-resumed:
					if !s.closed.Load() {
						rt.lease.acquire()
						s.serveGuest(w, r, rt)
						return
					}
					writeAPIError(w, APISandbox, http.StatusServiceUnavailable, "mock server closed")
				case <-r.Context().Done():
				}
				return
			case StateTerminated, StateFailed, StatePending, StateUnknown:
				// Its process is not running: nothing listens.
				s.nothingListens(w, rt)
				return
			}
		}
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = rt.restPath, ""
	if u.EscapedPath() != rt.rest {
		u.RawPath = rt.rest
	}
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	// The simulator holds its own state: a reset need not wait for it
	// (streams can last long).
	rt.lease.release()
	g.ServeHTTP(w, r2)
}

// nothingListens answers a request to a port where nothing listens:
// through the server proxy the lifecycle server's 502, on the mock's own
// endpoint route a plain 502 (a real client would see the connection
// refused).
func (s *Server) nothingListens(w http.ResponseWriter, rt *route) {
	if rt.proxy {
		writeLCError(w, codedErrorf(http.StatusBadGateway, "GENERAL::UNKNOWN_ERROR",
			"Could not connect to the backend sandbox endpoint='127.0.0.1:%d' headers=None: All connection attempts failed", rt.port))
		return
	}
	writeAPIError(w, APIUnknown, http.StatusBadGateway, "502 Bad Gateway: nothing listens on port "+strconv.Itoa(rt.port)+" in the mock sandbox")
}

// signRoute returns the token of a signed route to port of sandbox id,
// valid until exp (Unix seconds): the expiry in base 36 and a MAC.
func (s *Server) signRoute(id string, port int, exp int64) string {
	e := strconv.FormatInt(exp, 36)
	return e + "-" + s.routeMAC(id, port, e)
}

func (s *Server) routeMAC(id string, port int, exp36 string) string {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(id + "\x00" + strconv.Itoa(port) + "\x00" + exp36))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// checkSignedRoute verifies a signed route token; it returns a reason
// when the route is not (or no longer) valid.
func (s *Server) checkSignedRoute(token, id string, port int) string {
	exp36, mac, ok := strings.Cut(token, "-")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.routeMAC(id, port, exp36))) {
		return "invalid signed route"
	}
	exp, err := strconv.ParseInt(exp36, 36, 64)
	if err != nil || s.clock.Now().Unix() >= exp {
		return "signed route expired"
	}
	return ""
}

// cutSegments takes n non-empty path segments off the escaped path p
// (which starts with "/") and returns them unescaped, with the rest of the
// path ("/" when nothing is left).
func cutSegments(p string, n int) ([]string, string, bool) {
	segs := make([]string, 0, n)
	for range n {
		if !strings.HasPrefix(p, "/") {
			return nil, "", false
		}
		p = p[1:]
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i:]
		} else {
			p = ""
		}
		u, err := url.PathUnescape(seg)
		if seg == "" || err != nil {
			return nil, "", false
		}
		segs = append(segs, u)
	}
	if p == "" {
		p = "/"
	}
	return segs, p, true
}
