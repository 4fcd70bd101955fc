package mockserver

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// validateCPSandbox checks a sandbox definition the way the service does:
// the name (at most 49 lower-case letters, digits and '-'), the external
// id (at most 64 letters, digits and '-'), the display name (at most 63
// characters), durations (a whole number and one unit s, m, h, d or w),
// times (RFC 3339), ports (a target from 1 to 65535, protocol HTTP, TCP,
// UDP or TLS), policies (ttl-idle, ttl-max-age or date; action delete),
// volumes (persistent, or ephemeral with a size) and kernel options
// (enabled or disabled). Policies are checked by compilePolicy.
func validateCPSandbox(in *controlplanesrv.Sandbox) *cpErr {
	md := &in.Metadata
	if !validCPName(md.Name) {
		return cpErrorf(http.StatusBadRequest, cpCodeInvalidName,
			"metadata.name %q must be 1 to %d lower-case letters, digits or '-', starting and ending with a letter or digit", md.Name, cpMaxNameLength)
	}
	if id, ok := md.ExternalID.Get(); ok && (len(id) > cpMaxExternalIDLength || !cpExternalIDRE.MatchString(id)) {
		return cpErrorf(http.StatusBadRequest, cpCodeInvalidExternalID, "metadata.externalId %q must be 1 to %d letters, digits or '-'", id, cpMaxExternalIDLength)
	}
	if dn := md.DisplayName.Or(""); len([]rune(dn)) > cpMaxDisplayNameLength {
		return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "metadata.displayName is longer than %d characters", cpMaxDisplayNameLength)
	}
	spec := &in.Spec
	if rt, ok := spec.Runtime.Get(); ok {
		if m := rt.Memory.Or(0); m < 0 {
			return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.runtime.memory %d must not be negative", m)
		}
		if g := rt.TerminationGracePeriodSeconds.Or(0); g < 0 {
			return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.runtime.terminationGracePeriodSeconds %d must not be negative", g)
		}
		if err := validateCPPorts("spec.runtime.ports", rt.Ports); err != nil {
			return err
		}
		for k, v := range rt.ExtraArgs.Or(nil) {
			if v != "enabled" && v != "disabled" {
				return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.runtime.extraArgs.%s %q must be enabled or disabled", k, v)
			}
		}
	}
	if lc, ok := spec.Lifecycle.Get(); ok {
		if v := lc.TerminatedRetention.Or(""); v != "" {
			if _, err := parseTTL(v); err != nil {
				return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.lifecycle.terminatedRetention: %v", err)
			}
		}
	}
	for i, v := range spec.Volumes {
		switch typ := v.Type.Or("persistent"); typ {
		case "persistent":
		case "ephemeral":
			if v.SizeMB.Or(0) <= 0 {
				return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.volumes[%d].sizeMb is required for an ephemeral volume", i)
			}
		default:
			return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "spec.volumes[%d].type %q is not one of persistent, ephemeral", i, typ)
		}
	}
	return nil
}

// validateCPPorts checks port targets and protocols.
func validateCPPorts(field string, ports []controlplanesrv.Port) *cpErr {
	for i, p := range ports {
		if p.Target < 1 || p.Target > 65535 {
			return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "%s[%d].target %d is not a port number", field, i, p.Target)
		}
		switch proto := p.Protocol.Or("HTTP"); proto {
		case "HTTP", "TCP", "UDP", "TLS":
		default:
			return cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, "%s[%d].protocol %q is not one of HTTP, TCP, UDP, TLS", field, i, proto)
		}
	}
	return nil
}

// compilePolicy reads the expiration settings of spec.
func compilePolicy(spec *controlplanesrv.SandboxSpec) (cpPolicy, *cpErr) {
	var p cpPolicy
	minDur := func(cur *time.Duration, d time.Duration) {
		if *cur == 0 || d < *cur {
			*cur = d
		}
	}
	minDate := func(t time.Time) {
		if p.date.IsZero() || t.Before(p.date) {
			p.date = t
		}
	}
	bad := func(format string, args ...any) (cpPolicy, *cpErr) {
		return p, cpErrorf(http.StatusBadRequest, cpCodeInvalidSpec, format, args...)
	}
	if rt, ok := spec.Runtime.Get(); ok {
		if v, ok := rt.TTL.Get(); ok && v != "" {
			d, err := parseTTL(v)
			if err != nil {
				return bad("spec.runtime.ttl: %v", err)
			}
			minDur(&p.maxAge, d)
		}
		if v, ok := rt.Expires.Get(); ok && v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return bad("spec.runtime.expires: %q is not an RFC 3339 time", v)
			}
			minDate(t)
		}
	}
	lc, ok := spec.Lifecycle.Get()
	if !ok {
		return p, nil
	}
	for i, pol := range lc.ExpirationPolicies {
		typ, val, action := pol.Type.Or(""), pol.Value.Or(""), pol.Action.Or("delete")
		if action != "delete" {
			return bad("spec.lifecycle.expirationPolicies[%d].action: %q is not supported (only delete)", i, action)
		}
		switch typ {
		case PolicyTTLIdle, PolicyTTLMaxAge:
			d, err := parseTTL(val)
			if err != nil {
				return bad("spec.lifecycle.expirationPolicies[%d].value: %v", i, err)
			}
			if typ == PolicyTTLIdle {
				minDur(&p.idle, d)
			} else {
				minDur(&p.maxAge, d)
			}
		case PolicyDate:
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				return bad("spec.lifecycle.expirationPolicies[%d].value: %q is not an RFC 3339 time", i, val)
			}
			minDate(t)
		default:
			return bad("spec.lifecycle.expirationPolicies[%d].type: %q is not one of ttl-idle, ttl-max-age, date", i, typ)
		}
	}
	return p, nil
}

// parseTTL reads a duration as the service does: a positive whole number
// and one unit s, m, h, d or w (30m, 24h, 7d, 2w).
func parseTTL(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as 30m, 24h or 7d (a number and one unit s, m, h, d or w)", s)
	n := len(s)
	if n < 2 || s[0] < '0' || s[0] > '9' {
		return 0, bad
	}
	var unit time.Duration
	switch s[n-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, bad
	}
	v, err := strconv.ParseInt(s[:n-1], 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/int64(unit) {
		return 0, bad
	}
	return time.Duration(v) * unit, nil
}
