package mockserver

import (
	"math/big"
	"net/url"
	"regexp"
	"strings"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// The request models of the lifecycle server, checked field by field in
// the order it declares them, with its aliases, defaults and model
// validators. Each check turns a decoded body or query into the generated
// request type the handler takes.

var (
	volumeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hostPathRE   = regexp.MustCompile(`^(/|[A-Za-z]:[\\/])`)
	mountPathRE  = regexp.MustCompile(`^/.*`)
	storageRE    = regexp.MustCompile(`^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei)?$`)
)

// createRequest is a checked create body with what the generated type
// cannot carry.
type createRequest struct {
	req lifecyclesrv.CreateSandboxRequest
	// timeout is the requested lifetime in seconds; nil when absent or
	// null (the sandbox never expires). It can exceed any Go duration.
	timeout *big.Int
	// poolRef is extensions["poolRef"], trimmed.
	poolRef string
}

// checkCreate checks a create body (nil when the request had none).
func checkCreate(c *checker, body *pyValue) (createRequest, bool) {
	var out createRequest
	loc := []any{"body"}
	if body == nil || body.kind == pyNull {
		c.fail("missing", loc, "Field required", pyNone(), nil)
		return out, false
	}
	if !c.model(loc, body) {
		return out, false
	}
	m := c.mark()
	r := &out.req
	var imageURI string
	hasImageField := false
	if v, l := c.field(loc, body, "image", "", false); v != nil && v.kind != pyNull {
		if img, ok := checkImage(c, l, v); ok {
			r.Image = lifecyclesrv.NewOptImageSpec(img)
			imageURI, hasImageField = img.URI, true
		}
	}
	var snapshot *string
	if v, l := c.field(loc, body, "snapshotId", "snapshot_id", false); v != nil {
		snapshot, _ = c.optStr(l, v)
	}
	if v, l := c.field(loc, body, "platform", "", false); v != nil && v.kind != pyNull {
		if p, ok := checkPlatform(c, l, v); ok {
			r.Platform = lifecyclesrv.NewOptPlatformSpec(p)
		}
	}
	if v, l := c.field(loc, body, "timeout", "", false); v != nil && v.kind != pyNull {
		if n, ok := c.integer(l, v, intRule{ge: bound(60)}); ok {
			out.timeout = n
		}
	}
	hasLimits := false
	if v, l := c.field(loc, body, "resourceLimits", "resource_limits", false); v != nil && v.kind != pyNull {
		if lim, _, ok := c.strMap(l, v, false); ok {
			r.ResourceLimits = lifecyclesrv.NewOptResourceLimits(flatten(lim))
			hasLimits = true
		}
	}
	if v, l := c.field(loc, body, "env", "", false); v != nil && v.kind != pyNull {
		if env, _, ok := c.strMap(l, v, true); ok {
			r.Env = lifecyclesrv.NewOptCreateSandboxRequestEnv(flatten(env))
		}
	}
	if v, l := c.field(loc, body, "metadata", "", false); v != nil && v.kind != pyNull {
		if md, _, ok := c.strMap(l, v, false); ok {
			r.Metadata = lifecyclesrv.NewOptCreateSandboxRequestMetadata(flatten(md))
		}
	}
	if v, l := c.field(loc, body, "entrypoint", "", false); v != nil && v.kind != pyNull {
		if ep, ok := c.strList(l, v, 1); ok {
			r.Entrypoint = ep
		}
	}
	hasPolicy := false
	if v, l := c.field(loc, body, "networkPolicy", "network_policy", false); v != nil && v.kind != pyNull {
		if np, ok := checkNetworkPolicy(c, l, v); ok {
			r.NetworkPolicy = lifecyclesrv.NewOptNetworkPolicy(np)
			hasPolicy = true
		}
	}
	proxyEnabled := false
	if v, l := c.field(loc, body, "credentialProxy", "credential_proxy", false); v != nil && v.kind != pyNull {
		if c.model(l, v) {
			if ev, el := c.field(l, v, "enabled", "", false); ev != nil {
				if b, ok := c.boolean(el, ev); ok {
					proxyEnabled = b
				}
			}
			r.CredentialProxy = lifecyclesrv.NewOptCredentialProxyConfig(lifecyclesrv.CredentialProxyConfig{Enabled: lifecyclesrv.NewOptBool(proxyEnabled)})
		}
	}
	if v, l := c.field(loc, body, "secureAccess", "secure_access", false); v != nil {
		if b, ok := c.boolean(l, v); ok {
			r.SecureAccess = lifecyclesrv.NewOptBool(b)
		}
	}
	if v, l := c.field(loc, body, "volumes", "", false); v != nil && v.kind != pyNull {
		if c.list(l, v) {
			for i, it := range v.list {
				if vol, ok := checkVolume(c, at(l, i), it); ok {
					r.Volumes = append(r.Volumes, vol)
				}
			}
		}
	}
	if v, l := c.field(loc, body, "extensions", "", false); v != nil && v.kind != pyNull {
		if ext, _, ok := c.strMap(l, v, false); ok {
			r.Extensions = lifecyclesrv.NewOptCreateSandboxRequestExtensions(flatten(ext))
			out.poolRef = strings.TrimSpace(deref(ext["poolRef"]))
		}
	}
	if !c.clean(m) {
		return out, false
	}

	// The model validator, which runs once every field is valid.
	snap := ""
	if snapshot != nil {
		snap = strings.TrimSpace(*snapshot)
	}
	if out.poolRef != "" {
		switch {
		case snap != "":
			c.valueError(loc, body, "snapshotId cannot be used together with poolRef.")
			return out, false
		case proxyEnabled:
			c.valueError(loc, body, "credentialProxy.enabled cannot be used together with poolRef.")
			return out, false
		}
		if snap != "" {
			r.SnapshotID = lifecyclesrv.NewOptString(*snapshot)
		}
		return out, true
	}
	if proxyEnabled && !hasPolicy {
		c.valueError(loc, body, "credentialProxy.enabled requires networkPolicy.")
		return out, false
	}
	hasImage := hasImageField && strings.TrimSpace(imageURI) != ""
	if hasImage == (snap != "") {
		c.valueError(loc, body, "Exactly one of image or snapshotId must be provided.")
		return out, false
	}
	if hasImage && len(r.Entrypoint) == 0 {
		c.valueError(loc, body, "Entrypoint is required when image is provided.")
		return out, false
	}
	if !hasImage {
		r.Image = lifecyclesrv.OptImageSpec{}
	}
	if snap != "" {
		r.SnapshotID = lifecyclesrv.NewOptString(*snapshot)
	}
	if !hasLimits {
		c.valueError(loc, body, "resourceLimits is required when poolRef is not provided.")
		return out, false
	}
	return out, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func checkImage(c *checker, loc []any, v *pyValue) (lifecyclesrv.ImageSpec, bool) {
	var img lifecyclesrv.ImageSpec
	if !c.model(loc, v) {
		return img, false
	}
	m := c.mark()
	if u, l := c.field(loc, v, "uri", "", true); u != nil {
		img.URI, _ = c.str(l, u)
	}
	if a, l := c.field(loc, v, "auth", "", false); a != nil && a.kind != pyNull {
		if c.model(l, a) {
			var auth lifecyclesrv.ImageAuth
			if u, ul := c.field(l, a, "username", "", true); u != nil {
				if s, ok := c.str(ul, u); ok {
					auth.Username = lifecyclesrv.NewOptString(s)
				}
			}
			if p, pl := c.field(l, a, "password", "", true); p != nil {
				if s, ok := c.str(pl, p); ok {
					auth.Password = lifecyclesrv.NewOptString(s)
				}
			}
			img.Auth = lifecyclesrv.NewOptImageAuth(auth)
		}
	}
	return img, c.clean(m)
}

func checkPlatform(c *checker, loc []any, v *pyValue) (lifecyclesrv.PlatformSpec, bool) {
	var p lifecyclesrv.PlatformSpec
	if !c.model(loc, v) {
		return p, false
	}
	m := c.mark()
	if o, l := c.field(loc, v, "os", "", true); o != nil {
		p.Os, _ = c.str(l, o)
	}
	if a, l := c.field(loc, v, "arch", "", true); a != nil {
		p.Arch, _ = c.str(l, a)
	}
	return p, c.clean(m)
}

func checkNetworkPolicy(c *checker, loc []any, v *pyValue) (lifecyclesrv.NetworkPolicy, bool) {
	var np lifecyclesrv.NetworkPolicy
	if !c.model(loc, v) {
		return np, false
	}
	m := c.mark()
	if d, l := c.field(loc, v, "defaultAction", "default_action", false); d != nil {
		if s, ok := c.optStr(l, d); ok && s != nil {
			np.DefaultAction = lifecyclesrv.NewOptNetworkPolicyDefaultAction(lifecyclesrv.NetworkPolicyDefaultAction(*s))
		}
	}
	if e, l := c.field(loc, v, "egress", "", false); e != nil && c.list(l, e) {
		for i, it := range e.list {
			il := at(l, i)
			if !c.model(il, it) {
				continue
			}
			var rule lifecyclesrv.NetworkRule
			if a, al := c.field(il, it, "action", "", true); a != nil {
				if s, ok := c.str(al, a); ok {
					rule.Action = lifecyclesrv.NetworkRuleAction(s)
				}
			}
			if t, tl := c.field(il, it, "target", "", true); t != nil {
				rule.Target, _ = c.strWith(tl, t, strRule{minLen: 1})
			}
			np.Egress = append(np.Egress, rule)
		}
	}
	return np, c.clean(m)
}

func checkVolume(c *checker, loc []any, v *pyValue) (lifecyclesrv.Volume, bool) {
	var vol lifecyclesrv.Volume
	if !c.model(loc, v) {
		return vol, false
	}
	m := c.mark()
	if n, l := c.field(loc, v, "name", "", true); n != nil {
		vol.Name, _ = c.strWith(l, n, strRule{maxLen: 63, pattern: volumeNameRE})
	}
	backends := 0
	if h, l := c.field(loc, v, "host", "", false); h != nil && h.kind != pyNull {
		backends++
		if c.model(l, h) {
			if p, pl := c.field(l, h, "path", "", true); p != nil {
				if s, ok := c.strWith(pl, p, strRule{pattern: hostPathRE}); ok {
					vol.Host = lifecyclesrv.NewOptHostVolume(lifecyclesrv.HostVolume{Path: s})
				}
			}
		}
	}
	if p, l := c.field(loc, v, "pvc", "", false); p != nil && p.kind != pyNull {
		backends++
		if pvc, ok := checkPVC(c, l, p); ok {
			vol.Pvc = lifecyclesrv.NewOptPVCVolume(pvc)
		}
	}
	if o, l := c.field(loc, v, "ossfs", "", false); o != nil && o.kind != pyNull {
		backends++
		if oss, ok := checkOSSFS(c, l, o); ok {
			vol.Ossfs = lifecyclesrv.NewOptOSSFSVolume(oss)
		}
	}
	if p, l := c.field(loc, v, "mountPath", "mount_path", true); p != nil {
		vol.MountPath, _ = c.strWith(l, p, strRule{pattern: mountPathRE})
	}
	if r, l := c.field(loc, v, "readOnly", "read_only", false); r != nil {
		if b, ok := c.boolean(l, r); ok {
			vol.ReadOnly = lifecyclesrv.NewOptBool(b)
		}
	}
	if s, l := c.field(loc, v, "subPath", "sub_path", false); s != nil {
		if p, ok := c.optStr(l, s); ok && p != nil {
			vol.SubPath = lifecyclesrv.NewOptString(*p)
		}
	}
	if !c.clean(m) {
		return vol, false
	}
	switch {
	case backends == 0:
		c.valueError(loc, v, "Exactly one backend (host, pvc, ossfs) must be specified, but none was provided.")
		return vol, false
	case backends > 1:
		c.valueError(loc, v, "Exactly one backend (host, pvc, ossfs) must be specified, but multiple were provided.")
		return vol, false
	}
	return vol, true
}

func checkPVC(c *checker, loc []any, v *pyValue) (lifecyclesrv.PVCVolume, bool) {
	var p lifecyclesrv.PVCVolume
	if !c.model(loc, v) {
		return p, false
	}
	m := c.mark()
	if n, l := c.field(loc, v, "claimName", "claim_name", true); n != nil {
		p.ClaimName, _ = c.strWith(l, n, strRule{maxLen: 253, pattern: volumeNameRE})
	}
	for _, f := range []struct {
		alias, name string
		dst         *lifecyclesrv.OptBool
	}{{"createIfNotExists", "create_if_not_exists", &p.CreateIfNotExists}, {"deleteOnSandboxTermination", "delete_on_sandbox_termination", &p.DeleteOnSandboxTermination}} {
		if b, l := c.field(loc, v, f.alias, f.name, false); b != nil {
			if x, ok := c.boolean(l, b); ok {
				*f.dst = lifecyclesrv.NewOptBool(x)
			}
		}
	}
	if s, l := c.field(loc, v, "storageClass", "storage_class", false); s != nil {
		if x, ok := c.optStr(l, s); ok && x != nil {
			p.StorageClass = lifecyclesrv.NewOptNilString(*x)
		}
	}
	if s, l := c.field(loc, v, "storage", "", false); s != nil && s.kind != pyNull {
		if x, ok := c.strWith(l, s, strRule{pattern: storageRE}); ok {
			p.Storage = lifecyclesrv.NewOptNilString(x)
		}
	}
	if a, l := c.field(loc, v, "accessModes", "access_modes", false); a != nil && a.kind != pyNull {
		if modes, ok := c.strList(l, a, 0); ok {
			p.AccessModes = lifecyclesrv.NewOptNilStringArray(modes)
		}
	}
	return p, c.clean(m)
}

func checkOSSFS(c *checker, loc []any, v *pyValue) (lifecyclesrv.OSSFSVolume, bool) {
	var o lifecyclesrv.OSSFSVolume
	if !c.model(loc, v) {
		return o, false
	}
	m := c.mark()
	if b, l := c.field(loc, v, "bucket", "", true); b != nil {
		o.Bucket, _ = c.strWith(l, b, strRule{minLen: 3, maxLen: 63})
	}
	if e, l := c.field(loc, v, "endpoint", "", true); e != nil {
		o.Endpoint, _ = c.strWith(l, e, strRule{minLen: 1})
	}
	if ver, l := c.field(loc, v, "version", "", false); ver != nil {
		if ver.kind != pyStr || (ver.s != "1.0" && ver.s != "2.0") {
			c.fail("literal_error", l, "Input should be '1.0' or '2.0'", ver, ctx1("expected", pyS("'1.0' or '2.0'")))
		} else {
			o.Version = lifecyclesrv.NewOptOSSFSVolumeVersion(lifecyclesrv.OSSFSVolumeVersion(ver.s))
		}
	}
	if opts, l := c.field(loc, v, "options", "", false); opts != nil && opts.kind != pyNull {
		o.Options, _ = c.strList(l, opts, 0)
	}
	for _, f := range []struct {
		alias, name string
		dst         *string
	}{{"accessKeyId", "access_key_id", &o.AccessKeyID}, {"accessKeySecret", "access_key_secret", &o.AccessKeySecret}} {
		if s, l := c.field(loc, v, f.alias, f.name, false); s != nil && s.kind != pyNull {
			*f.dst, _ = c.strWith(l, s, strRule{minLen: 1})
		}
	}
	if !c.clean(m) {
		return o, false
	}
	if o.AccessKeyID == "" || o.AccessKeySecret == "" {
		c.valueError(loc, v, "OSSFS inline credentials are required: accessKeyId and accessKeySecret.")
		return o, false
	}
	return o, true
}

// checkRenew checks a renew-expiration body.
func checkRenew(c *checker, body *pyValue) (expiresAt timeValue, ok bool) {
	loc := []any{"body"}
	if body == nil || body.kind == pyNull {
		c.fail("missing", loc, "Field required", pyNone(), nil)
		return timeValue{}, false
	}
	if !c.model(loc, body) {
		return timeValue{}, false
	}
	v, l := c.field(loc, body, "expiresAt", "expires_at", true)
	if v == nil {
		return timeValue{}, false
	}
	t, naive, ok := c.dateTime(l, v)
	return timeValue{t: t, naive: naive}, ok
}

// checkPatch checks a metadata merge patch: an object of strings and
// nulls.
func checkPatch(c *checker, body *pyValue) (lifecyclesrv.PatchSandboxMetadataRequest, []string, bool) {
	loc := []any{"body"}
	if body == nil || body.kind == pyNull {
		c.fail("missing", loc, "Field required", pyNone(), nil)
		return nil, nil, false
	}
	m, order, ok := c.strMap(loc, body, true)
	if !ok {
		return nil, nil, false
	}
	out := make(lifecyclesrv.PatchSandboxMetadataRequest, len(m))
	for k, v := range m {
		if v == nil {
			out[k] = lifecyclesrv.NilString{Null: true}
		} else {
			out[k] = lifecyclesrv.NilString{Value: *v}
		}
	}
	return out, order, true
}

// checkSnapshotBody checks the optional body of a snapshot create.
func checkSnapshotBody(c *checker, body *pyValue) (lifecyclesrv.OptCreateSnapshotRequest, bool) {
	var out lifecyclesrv.OptCreateSnapshotRequest
	if body == nil || body.kind == pyNull {
		return out, true
	}
	loc := []any{"body"}
	if !c.model(loc, body) {
		return out, false
	}
	var req lifecyclesrv.CreateSnapshotRequest
	if n, l := c.field(loc, body, "name", "", false); n != nil && n.kind != pyNull {
		s, ok := c.strWith(l, n, strRule{minLen: 1})
		if !ok {
			return out, false
		}
		req.Name = lifecyclesrv.NewOptString(s)
	}
	return lifecyclesrv.NewOptCreateSnapshotRequest(req), true
}

// query reads query parameters as FastAPI does: the last value of a
// repeated scalar, all values of a list.
type query struct {
	c    *checker
	vals url.Values
}

// intParam checks an int query parameter with a default.
func (q query) intParam(name string, def int64, r intRule) int64 {
	vs := q.vals[name]
	if len(vs) == 0 {
		return def
	}
	raw := vs[len(vs)-1]
	n, ok := q.c.integer([]any{"query", name}, pyS(raw), r)
	if !ok {
		return def
	}
	if !n.IsInt64() {
		return def // not reachable within the bounds the callers set
	}
	return n.Int64()
}

// optIntParam checks an Optional[int] query parameter.
func (q query) optIntParam(name string) (*big.Int, bool) {
	vs := q.vals[name]
	if len(vs) == 0 {
		return nil, true
	}
	n, ok := q.c.integer([]any{"query", name}, pyS(vs[len(vs)-1]), intRule{})
	return n, ok && n != nil
}

// boolParam checks a bool query parameter with a default.
func (q query) boolParam(name string, def bool) bool {
	vs := q.vals[name]
	if len(vs) == 0 {
		return def
	}
	b, ok := q.c.boolean([]any{"query", name}, pyS(vs[len(vs)-1]))
	if !ok {
		return def
	}
	return b
}

// str returns the last value of a query parameter and whether it was
// given.
func (q query) str(name string) (string, bool) {
	vs := q.vals[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// pathInt checks an int path parameter.
func pathInt(c *checker, name, raw string) (*big.Int, bool) {
	return c.integer([]any{"path", name}, pyS(raw), intRule{})
}

// smallInt returns n as an int when it fits in 32 bits, else fallback.
func smallInt(n *big.Int, fallback int) int {
	if n == nil || !n.IsInt64() {
		return fallback
	}
	v := n.Int64()
	if v > 1<<31-1 || v < -1<<31 {
		return fallback
	}
	return int(v)
}
