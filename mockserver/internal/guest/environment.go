package guest

import (
	"context"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// SetEnvironment replaces the environment the guest metadata document
// carries and bumps its generation, as a host-side environment update
// does. Processes see it after POST /environment/reload.
func (g *Guest) SetEnvironment(env map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.metaEnv = copyEnv(env)
	g.metaGen++
}

// ReloadEnvironment implements POST /environment/reload, like the real
// server: every variable of the metadata document is (re)applied and
// counted in applied; variables an earlier reload applied that the
// document no longer has are removed and counted in removed. Processes
// started afterwards see the result.
func (h handler) ReloadEnvironment(context.Context) (*sandboxsrv.ReloadResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	removed := 0
	for k := range h.appliedKeys {
		if _, ok := h.metaEnv[k]; !ok {
			delete(h.procEnv, k)
			delete(h.appliedKeys, k)
			removed++
		}
	}
	for k, v := range h.metaEnv {
		h.procEnv[k] = v
		h.appliedKeys[k] = struct{}{}
	}
	return &sandboxsrv.ReloadResponse{
		Applied:    sandboxsrv.NewOptInt(len(h.metaEnv)),
		Removed:    sandboxsrv.NewOptInt(removed),
		Generation: sandboxsrv.NewOptInt64(h.metaGen),
	}, nil
}
