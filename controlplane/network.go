package controlplane

import (
	"maps"
	"slices"
)

// Network is a sandbox's network configuration (spec.network): the subnet,
// which firewall rulesets apply, a dedicated egress gateway, and the
// platform proxy that filters and rewrites outbound HTTP traffic. Nil
// fields and empty lists leave the service's defaults.
type Network struct {
	// Subnet names the sandbox's subnet; empty means "default".
	Subnet string
	// AllowedDomains is deprecated: use Proxy.AllowedDomains.
	AllowedDomains []string
	// ForbiddenDomains is deprecated: use Proxy.ForbiddenDomains.
	ForbiddenDomains []string
	// Egress routes outbound traffic through a dedicated IP gateway.
	Egress *Egress
	// Firewall selects the lockdown rulesets.
	Firewall *Firewall
	// Proxy configures the platform proxy.
	Proxy *Proxy

	extra extraFields
}

// Egress routes a sandbox's outbound traffic through a gateway with a
// dedicated IP.
type Egress struct {
	// Gateway names the egress gateway (in the default VPC).
	Gateway string
	// Mode is e.g. "dedicated".
	Mode string
	// Policies route single destinations (not yet supported by the
	// service).
	Policies []EgressPolicy

	extra extraFields
}

// EgressPolicy routes some destinations through a dedicated or shared
// gateway.
type EgressPolicy struct {
	// Name names the policy.
	Name string
	// Mode is "dedicated" or "shared".
	Mode string
	// Destinations are domains or IP addresses.
	Destinations []string

	extra extraFields
}

// Firewall selects network lockdown rulesets.
type Firewall struct {
	// Rulesets are "default" (nothing), "proxy" (outbound traffic only
	// through the proxy) or "dedicated-ip" (only through the egress
	// gateway).
	Rulesets []string

	extra extraFields
}

// Proxy configures the platform proxy, which sees a sandbox's outbound
// HTTP traffic.
type Proxy struct {
	// AllowedDomains, when set, are the only reachable domains; wildcards
	// such as "*.s3.amazonaws.com" are allowed. It wins over
	// ForbiddenDomains.
	AllowedDomains []string
	// ForbiddenDomains are unreachable domains.
	ForbiddenDomains []string
	// Bypass are domains reached directly, not through the proxy.
	Bypass []string
	// Routing adds headers and body fields to requests to some
	// destinations.
	Routing []ProxyRoute

	extra extraFields
}

// ProxyRoute adds headers and body fields to the requests the proxy sees
// for some destinations ("*" for all). Header and body values may name
// secrets as {{SECRET:name}}.
type ProxyRoute struct {
	// Destinations are the domains the route applies to.
	Destinations []string
	// Headers are set on matching requests.
	Headers map[string]string
	// Body fields are set in matching requests' bodies.
	Body map[string]string
	// Secrets are the values {{SECRET:name}} refers to. They are
	// write-only: the service never returns them, so a sandbox read back
	// has none, and writing it back (Update) sends none. Set them again
	// on every update that must keep them.
	Secrets map[string]string

	extra extraFields
}

// clone returns a deep copy of n, unknown fields included.
func (n *Network) clone() *Network {
	if n == nil {
		return nil
	}
	c := *n
	c.AllowedDomains = slices.Clone(n.AllowedDomains)
	c.ForbiddenDomains = slices.Clone(n.ForbiddenDomains)
	c.extra = maps.Clone(n.extra)
	if e := n.Egress; e != nil {
		ec := *e
		ec.extra = maps.Clone(e.extra)
		ec.Policies = cloneEach(e.Policies, func(p EgressPolicy) EgressPolicy {
			p.Destinations = slices.Clone(p.Destinations)
			p.extra = maps.Clone(p.extra)
			return p
		})
		c.Egress = &ec
	}
	if f := n.Firewall; f != nil {
		c.Firewall = &Firewall{Rulesets: slices.Clone(f.Rulesets), extra: maps.Clone(f.extra)}
	}
	if p := n.Proxy; p != nil {
		pc := *p
		pc.AllowedDomains = slices.Clone(p.AllowedDomains)
		pc.ForbiddenDomains = slices.Clone(p.ForbiddenDomains)
		pc.Bypass = slices.Clone(p.Bypass)
		pc.extra = maps.Clone(p.extra)
		pc.Routing = cloneEach(p.Routing, func(r ProxyRoute) ProxyRoute {
			r.Destinations = slices.Clone(r.Destinations)
			r.Headers, r.Body, r.Secrets = maps.Clone(r.Headers), maps.Clone(r.Body), maps.Clone(r.Secrets)
			r.extra = maps.Clone(r.extra)
			return r
		})
		c.Proxy = &pc
	}
	return &c
}
