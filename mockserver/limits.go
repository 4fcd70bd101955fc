package mockserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Limits bounds what one client can make the server hold: request body
// sizes (in memory and on TCP) and, on a TCP listener ([WithListener],
// the sandboxmock command), how long a connection may take to send a
// request or sit idle. Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	// MaxBodyBytes caps the body of a lifecycle or control plane request
	// (JSON documents). A larger one is answered 413 without being read
	// further.
	MaxBodyBytes int64
	// MaxUploadBytes caps the body of a sandbox API request (file
	// uploads, multipart parts). Upload larger files in multipart parts.
	MaxUploadBytes int64
	// ReadHeaderTimeout bounds the time a connection may take to send a
	// request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time a connection may take to send a whole
	// request, body included (a slowly dripped body is cut off). It does
	// not limit answers: streams (logs, watches) run as long as the client
	// reads them.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new
	// request for this long.
	IdleTimeout time.Duration
}

// DefaultLimits returns the limits of a server made without
// [WithLimits]: 1 MiB JSON bodies, 64 MiB sandbox API bodies, 10 s to
// send headers, 2 min to send a whole request and 2 min idle.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:      1 << 20,
		MaxUploadBytes:    64 << 20,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

// WithLimits sets the server's request limits; zero fields keep the
// defaults of [DefaultLimits], negative ones are an error.
func WithLimits(l Limits) Option {
	return func(c *config) error {
		if l.MaxBodyBytes < 0 || l.MaxUploadBytes < 0 || l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.IdleTimeout < 0 {
			return fmt.Errorf("mockserver: WithLimits: negative limit in %+v", l)
		}
		d := DefaultLimits()
		c.limits = Limits{
			MaxBodyBytes:      cmpOr(l.MaxBodyBytes, d.MaxBodyBytes),
			MaxUploadBytes:    cmpOr(l.MaxUploadBytes, d.MaxUploadBytes),
			ReadHeaderTimeout: cmpOr(l.ReadHeaderTimeout, d.ReadHeaderTimeout),
			ReadTimeout:       cmpOr(l.ReadTimeout, d.ReadTimeout),
			IdleTimeout:       cmpOr(l.IdleTimeout, d.IdleTimeout),
		}
		c.set |= optLimits
		return nil
	}
}

// Limits returns the limits the server applies.
func (s *Server) Limits() Limits { return s.initial.limits }

// httpServer returns an http.Server for s with its connection limits.
func (s *Server) httpServer() *http.Server {
	l := s.initial.limits
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// limitBody caps r's body for api. It answers 413 itself and returns
// false when the declared length is over the cap; a body without a length
// fails to read past the cap. (The read deadline of a TCP connection
// stops applying once the body has been read, so answers, streams
// included, are not cut by ReadTimeout.)
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request, api API) bool {
	limit := s.initial.limits.MaxBodyBytes
	if api == APISandbox {
		limit = s.initial.limits.MaxUploadBytes
	}
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		msg := "request body of " + strconv.FormatInt(r.ContentLength, 10) + " bytes exceeds the limit of " + strconv.FormatInt(limit, 10)
		switch api {
		case APISandbox, APIControlPlane:
			writeAPIError(w, api, http.StatusRequestEntityTooLarge, msg)
		default:
			writePy(w, http.StatusRequestEntityTooLarge, pyD().set("detail", pyS(msg)))
		}
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	return true
}
