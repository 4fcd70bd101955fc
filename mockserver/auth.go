package mockserver

import (
	"context"
	"net/http"
	"strings"
)

// DefaultTenant owns everything when no tenant is configured.
const DefaultTenant = "default"

// Credential headers.
const (
	headerAPIKey       = "OPEN-SANDBOX-API-KEY"
	headerBlaxelAuth   = "X-Blaxel-Authorization"
	headerWorkspace    = "X-Blaxel-Workspace"
	headerRequestID    = "X-Request-ID"
	maxRequestIDLength = 128
)

// authenticator maps credentials to tenants.
type authenticator struct {
	keys map[string]string // key → tenant; empty: open server
}

func (a *authenticator) open() bool { return len(a.keys) == 0 }

// tenantOf returns the tenant whose key the request carries in the way
// api expects, and whether there was one. An open server puts every
// request in DefaultTenant.
func (a *authenticator) tenantOf(api API, r *http.Request) (string, bool) {
	if a.open() {
		return DefaultTenant, true
	}
	for _, key := range credentials(api, r) {
		if t, ok := a.keys[key]; ok {
			return t, true
		}
	}
	return "", false
}

// keysOf reports whether the request carries a key of tenant (for the
// sandbox API, whose owner is known only after routing).
func (a *authenticator) hasKeyOf(tenant string, r *http.Request) bool {
	if a.open() {
		return true
	}
	for _, key := range credentials(APISandbox, r) {
		if a.keys[key] == tenant {
			return true
		}
	}
	return false
}

// credentials lists the credentials the request carries for api: the
// lifecycle API key header; bearer tokens (Authorization or
// X-Blaxel-Authorization) for the control plane; both for the sandbox API,
// which lifecycle clients reach through endpoints.
func credentials(api API, r *http.Request) []string {
	var out []string
	if api == APILifecycle || api == APISandbox {
		if k := r.Header.Get(headerAPIKey); k != "" {
			out = append(out, k)
		}
	}
	if api == APIControlPlane || api == APISandbox {
		for _, h := range []string{"Authorization", headerBlaxelAuth} {
			for _, v := range r.Header.Values(h) {
				scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
				if ok && strings.EqualFold(scheme, "Bearer") {
					if token = strings.TrimSpace(token); token != "" {
						out = append(out, token)
					}
				}
			}
		}
	}
	return out
}

// reqInfo is what the pipeline learned about a request before the
// operation runs.
type reqInfo struct {
	requestID string
	tenant    string
	workspace string
}

type reqInfoKey struct{}

func withReqInfo(ctx context.Context, ri *reqInfo) context.Context {
	return context.WithValue(ctx, reqInfoKey{}, ri)
}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{tenant: DefaultTenant}
}
