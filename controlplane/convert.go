package controlplane

import (
	"maps"
	"slices"
	"time"

	"github.com/go-faster/jx"
	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
)

// This file maps between the package's types and the generated ones.
// Every object's unknown JSON members travel in its extra field, so that
// fromAPI followed by toAPI reproduces them.
//
// The *FromAPI functions take ownership of the decoded value's maps and
// slices instead of copying them: every caller converts a value it has
// just decoded and drops it afterwards. The *ToAPI functions copy, since
// the caller keeps its value.

func fromAPI(in *api.Sandbox) *Sandbox {
	// One allocation holds the sandbox and its optional expiry.
	block := &struct {
		s         Sandbox
		expiresIn time.Duration
	}{}
	out := &block.s
	*out = Sandbox{
		Metadata:       metadataFromAPI(&in.Metadata),
		Spec:           specFromAPI(&in.Spec),
		Status:         Status(in.Status.Or("")),
		State:          State(in.State.Or("")),
		LastUsedAt:     parseTime(in.LastUsedAt.Or("")),
		NodeGeneration: in.NodeGeneration.Or(""),
		Events:         eventsFromAPI(in.Events),
		extra:          extraOf(in.AdditionalProps),
	}
	out.Errors = convertEach(in.Errors, func(e api.InfrastructureError) InfrastructureError {
		return InfrastructureError{
			Code:     e.Code.Or(""),
			Fatal:    e.Fatal.Or(false),
			Instance: e.Instance.Or(""),
			Message:  e.Message.Or(""),
			Time:     parseTime(e.Time.Or("")),
		}
	})
	if v, ok := in.ExpiresIn.Get(); ok {
		block.expiresIn = time.Duration(v) * time.Second
		out.ExpiresIn = &block.expiresIn
	}
	if v, ok := in.TTL.Get(); ok && v > 0 {
		out.ExpiresAt = time.Unix(int64(v), 0).UTC()
	}
	return out
}

func eventsFromAPI(in []api.CoreEvent) []Event {
	return convertEach(in, func(e api.CoreEvent) Event {
		return Event{
			Type:           e.Type.Or(""),
			Status:         Status(e.Status.Or("")),
			Message:        e.Message.Or(""),
			Revision:       e.Revision.Or(""),
			CanaryRevision: e.CanaryRevision.Or(""),
			Time:           parseTime(e.Time.Or("")),
		}
	})
}

// toAPI renders the writable part of s: metadata and spec without the
// read-only fields, plus every unknown member.
func toAPI(s *Sandbox) *api.Sandbox {
	return &api.Sandbox{
		Metadata:        metadataToAPI(&s.Metadata),
		Spec:            specToAPI(&s.Spec),
		AdditionalProps: api.SandboxAdditional(maps.Clone(s.extra)),
	}
}

func metadataFromAPI(in *api.Metadata) Metadata {
	out := Metadata{
		Name:        in.Name,
		DisplayName: in.DisplayName.Or(""),
		ExternalID:  in.ExternalID.Or(""),
		Plan:        in.Plan.Or(""),
		Workspace:   in.Workspace.Or(""),
		URL:         in.URL.Or(""),
		CreatedAt:   parseTime(in.CreatedAt.Or("")),
		UpdatedAt:   parseTime(in.UpdatedAt.Or("")),
		CreatedBy:   in.CreatedBy.Or(""),
		UpdatedBy:   in.UpdatedBy.Or(""),
		extra:       extraOf(in.AdditionalProps),
	}
	if l, ok := in.Labels.Get(); ok {
		out.Labels = map[string]string(l)
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
	}
	return out
}

func metadataToAPI(in *Metadata) api.Metadata {
	out := api.Metadata{
		Name:            in.Name,
		DisplayName:     optString(in.DisplayName),
		ExternalID:      optString(in.ExternalID),
		AdditionalProps: api.MetadataAdditional(maps.Clone(in.extra)),
	}
	if in.Labels != nil {
		out.Labels = api.NewOptMetadataLabels(api.MetadataLabels(maps.Clone(in.Labels)))
	}
	return out
}

// specParts holds, in one allocation, the optional parts of a spec that
// a sandbox usually has.
type specParts struct {
	enabled   bool
	runtime   Runtime
	lifecycle Lifecycle
}

func specFromAPI(in *api.SandboxSpec) Spec {
	out := Spec{
		Region: in.Region.Or(""),
		VPC:    in.Vpc.Or(""),
		extra:  extraOf(in.AdditionalProps),
	}
	if n, ok := in.Network.Get(); ok {
		out.Network = networkFromAPI(&n)
	}
	var parts *specParts
	if in.Enabled.Set || in.Runtime.Set || in.Lifecycle.Set {
		parts = new(specParts)
	}
	if v, ok := in.Enabled.Get(); ok {
		parts.enabled = v
		out.Enabled = &parts.enabled
	}
	if rt, ok := in.Runtime.Get(); ok {
		parts.runtime = runtimeFromAPI(&rt)
		out.Runtime = &parts.runtime
	}
	if lc, ok := in.Lifecycle.Get(); ok {
		l := &parts.lifecycle
		*l = Lifecycle{TerminatedRetention: lc.TerminatedRetention.Or(""), extra: extraOf(lc.AdditionalProps)}
		if lc.ExpirationPolicies != nil {
			l.ExpirationPolicies = make([]ExpirationPolicy, 0, len(lc.ExpirationPolicies))
			for _, p := range lc.ExpirationPolicies {
				l.ExpirationPolicies = append(l.ExpirationPolicies, ExpirationPolicy{
					Type:   PolicyType(p.Type.Or("")),
					Value:  p.Value.Or(""),
					Action: PolicyAction(p.Action.Or("")),
					extra:  extraOf(p.AdditionalProps),
				})
			}
		}
		out.Lifecycle = l
	}
	if in.Volumes != nil {
		out.Volumes = make([]Volume, 0, len(in.Volumes))
		for _, v := range in.Volumes {
			out.Volumes = append(out.Volumes, Volume{
				Name:      v.Name.Or(""),
				MountPath: v.MountPath.Or(""),
				ReadOnly:  v.ReadOnly.Or(false),
				Type:      VolumeType(v.Type.Or("")),
				SizeMB:    v.SizeMB.Or(0),
				extra:     extraOf(v.AdditionalProps),
			})
		}
	}
	return out
}

func specToAPI(in *Spec) api.SandboxSpec {
	out := api.SandboxSpec{
		Region:          optString(in.Region),
		Vpc:             optString(in.VPC),
		AdditionalProps: api.SandboxSpecAdditional(maps.Clone(in.extra)),
	}
	if in.Network != nil {
		out.Network = api.NewOptSandboxNetwork(networkToAPI(in.Network))
	}
	if in.Enabled != nil {
		out.Enabled = api.NewOptBool(*in.Enabled)
	}
	if in.Runtime != nil {
		out.Runtime = api.NewOptRuntime(runtimeToAPI(in.Runtime))
	}
	if in.Lifecycle != nil {
		lc := api.SandboxLifecycle{
			TerminatedRetention: optString(in.Lifecycle.TerminatedRetention),
			AdditionalProps:     api.SandboxLifecycleAdditional(maps.Clone(in.Lifecycle.extra)),
		}
		if in.Lifecycle.ExpirationPolicies != nil {
			lc.ExpirationPolicies = make([]api.ExpirationPolicy, 0, len(in.Lifecycle.ExpirationPolicies))
			for _, p := range in.Lifecycle.ExpirationPolicies {
				lc.ExpirationPolicies = append(lc.ExpirationPolicies, api.ExpirationPolicy{
					Type:            optString(string(p.Type)),
					Value:           optString(p.Value),
					Action:          optString(string(p.Action)),
					AdditionalProps: api.ExpirationPolicyAdditional(maps.Clone(p.extra)),
				})
			}
		}
		out.Lifecycle = api.NewOptSandboxLifecycle(lc)
	}
	if in.Volumes != nil {
		out.Volumes = make([]api.VolumeAttachment, 0, len(in.Volumes))
		for _, v := range in.Volumes {
			av := api.VolumeAttachment{
				Name:            optString(v.Name),
				MountPath:       optString(v.MountPath),
				ReadOnly:        api.NewOptBool(v.ReadOnly),
				Type:            optString(string(v.Type)),
				AdditionalProps: api.VolumeAttachmentAdditional(maps.Clone(v.extra)),
			}
			if v.SizeMB != 0 {
				av.SizeMB = api.NewOptInt(v.SizeMB)
			}
			out.Volumes = append(out.Volumes, av)
		}
	}
	return out
}

func runtimeFromAPI(in *api.Runtime) Runtime {
	out := Runtime{
		Image:                         in.Image.Or(""),
		Memory:                        in.Memory.Or(0),
		TTL:                           in.TTL.Or(""),
		Expires:                       parseTime(in.Expires.Or("")),
		ExtraArgs:                     map[string]string(in.ExtraArgs.Or(nil)),
		TerminationGracePeriodSeconds: in.TerminationGracePeriodSeconds.Or(0),
		extra:                         extraOf(in.AdditionalProps),
	}
	if in.Ports != nil {
		out.Ports = make([]Port, 0, len(in.Ports))
		for _, p := range in.Ports {
			out.Ports = append(out.Ports, Port{
				Name:     p.Name.Or(""),
				Target:   p.Target,
				Protocol: PortProtocol(p.Protocol.Or("")),
				extra:    extraOf(p.AdditionalProps),
			})
		}
	}
	if in.Envs != nil {
		out.Envs = make([]Env, 0, len(in.Envs))
		for _, e := range in.Envs {
			out.Envs = append(out.Envs, Env{
				Name:   e.Name.Or(""),
				Value:  e.Value.Or(""),
				Secret: e.Secret.Or(false),
				extra:  extraOf(e.AdditionalProps),
			})
		}
	}
	return out
}

func runtimeToAPI(in *Runtime) api.Runtime {
	out := api.Runtime{
		Image:           optString(in.Image),
		TTL:             optString(in.TTL),
		AdditionalProps: api.RuntimeAdditional(maps.Clone(in.extra)),
	}
	if in.Memory != 0 {
		out.Memory = api.NewOptInt(in.Memory)
	}
	if in.ExtraArgs != nil {
		out.ExtraArgs = api.NewOptRuntimeExtraArgs(api.RuntimeExtraArgs(maps.Clone(in.ExtraArgs)))
	}
	if in.TerminationGracePeriodSeconds != 0 {
		out.TerminationGracePeriodSeconds = api.NewOptInt(in.TerminationGracePeriodSeconds)
	}
	if !in.Expires.IsZero() {
		out.Expires = api.NewOptString(formatTime(in.Expires))
	}
	if in.Ports != nil {
		out.Ports = make([]api.Port, 0, len(in.Ports))
		for _, p := range in.Ports {
			out.Ports = append(out.Ports, api.Port{
				Name:            optString(p.Name),
				Target:          p.Target,
				Protocol:        optString(string(p.Protocol)),
				AdditionalProps: api.PortAdditional(maps.Clone(p.extra)),
			})
		}
	}
	if in.Envs != nil {
		out.Envs = make([]api.Env, 0, len(in.Envs))
		for _, e := range in.Envs {
			ae := api.Env{
				Name:            optString(e.Name),
				Value:           api.NewOptString(e.Value),
				AdditionalProps: api.EnvAdditional(maps.Clone(e.extra)),
			}
			if e.Secret {
				ae.Secret = api.NewOptBool(true)
			}
			out.Envs = append(out.Envs, ae)
		}
	}
	return out
}

// optString sets a string field only when it is not empty.
func optString(s string) api.OptString {
	if s == "" {
		return api.OptString{}
	}
	return api.NewOptString(s)
}

// Clone returns a deep copy of s, unknown fields included.
func (s *Sandbox) Clone() *Sandbox {
	if s == nil {
		return nil
	}
	c := *s
	c.Metadata.Labels = maps.Clone(s.Metadata.Labels)
	c.Metadata.extra = maps.Clone(s.Metadata.extra)
	c.Spec = s.Spec.clone()
	c.Events = slices.Clone(s.Events)
	c.Errors = slices.Clone(s.Errors)
	if s.ExpiresIn != nil {
		d := *s.ExpiresIn
		c.ExpiresIn = &d
	}
	c.extra = maps.Clone(s.extra)
	return &c
}

func (s *Spec) clone() Spec {
	c := *s
	c.extra = maps.Clone(s.extra)
	if s.Enabled != nil {
		v := *s.Enabled
		c.Enabled = &v
	}
	if s.Runtime != nil {
		rt := *s.Runtime
		rt.extra = maps.Clone(rt.extra)
		rt.ExtraArgs = maps.Clone(rt.ExtraArgs)
		rt.Ports = cloneEach(rt.Ports, func(p Port) Port { p.extra = maps.Clone(p.extra); return p })
		rt.Envs = cloneEach(rt.Envs, func(e Env) Env { e.extra = maps.Clone(e.extra); return e })
		c.Runtime = &rt
	}
	if s.Lifecycle != nil {
		lc := *s.Lifecycle
		lc.extra = maps.Clone(lc.extra)
		lc.ExpirationPolicies = cloneEach(lc.ExpirationPolicies, func(p ExpirationPolicy) ExpirationPolicy {
			p.extra = maps.Clone(p.extra)
			return p
		})
		c.Lifecycle = &lc
	}
	c.Network = s.Network.clone()
	c.Volumes = cloneEach(s.Volumes, func(v Volume) Volume { v.extra = maps.Clone(v.extra); return v })
	return c
}

// cloneEach copies a slice (nil stays nil) applying f to each element.
func cloneEach[T any](in []T, f func(T) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func previewFromAPI(in *api.Preview) *Preview {
	md, sp := &in.Metadata, &in.Spec
	return &Preview{
		Metadata: PreviewMetadata{
			Name:         md.Name,
			DisplayName:  md.DisplayName.Or(""),
			ResourceName: md.ResourceName.Or(""),
			ResourceType: md.ResourceType.Or(""),
			Workspace:    md.Workspace.Or(""),
			CreatedAt:    parseTime(md.CreatedAt.Or("")),
			UpdatedAt:    parseTime(md.UpdatedAt.Or("")),
			CreatedBy:    md.CreatedBy.Or(""),
			UpdatedBy:    md.UpdatedBy.Or(""),
			extra:        extraOf(md.AdditionalProps),
		},
		Spec: PreviewSpec{
			Port:            sp.Port.Or(0),
			Public:          sp.Public.Or(false),
			PrefixURL:       sp.PrefixURL.Or(""),
			CustomDomain:    sp.CustomDomain.Or(""),
			TTL:             sp.TTL.Or(""),
			Expires:         parseTime(sp.Expires.Or("")),
			RequestHeaders:  map[string]string(sp.RequestHeaders.Or(nil)),
			ResponseHeaders: map[string]string(sp.ResponseHeaders.Or(nil)),
			Region:          sp.Region.Or(""),
			URL:             sp.URL.Or(""),
			extra:           extraOf(sp.AdditionalProps),
		},
		Status: Status(in.Status.Or("")),
		Events: eventsFromAPI(in.Events),
		extra:  extraOf(in.AdditionalProps),
	}
}

// previewToAPI renders the writable part of p plus its unknown members.
func previewToAPI(p *Preview) *api.Preview {
	out := &api.Preview{
		Metadata: api.PreviewMetadata{
			Name:            p.Metadata.Name,
			DisplayName:     optString(p.Metadata.DisplayName),
			AdditionalProps: api.PreviewMetadataAdditional(maps.Clone(p.Metadata.extra)),
		},
		Spec: api.PreviewSpec{
			Port:            api.NewOptInt(p.Spec.Port),
			Public:          api.NewOptBool(p.Spec.Public),
			PrefixURL:       optString(p.Spec.PrefixURL),
			CustomDomain:    optString(p.Spec.CustomDomain),
			TTL:             optString(p.Spec.TTL),
			AdditionalProps: api.PreviewSpecAdditional(maps.Clone(p.Spec.extra)),
		},
		AdditionalProps: api.PreviewAdditional(maps.Clone(p.extra)),
	}
	if !p.Spec.Expires.IsZero() {
		out.Spec.Expires = api.NewOptString(formatTime(p.Spec.Expires))
	}
	if p.Spec.RequestHeaders != nil {
		out.Spec.RequestHeaders = api.NewOptPreviewSpecRequestHeaders(maps.Clone(p.Spec.RequestHeaders))
	}
	if p.Spec.ResponseHeaders != nil {
		out.Spec.ResponseHeaders = api.NewOptPreviewSpecResponseHeaders(maps.Clone(p.Spec.ResponseHeaders))
	}
	return out
}

func previewTokenFromAPI(in *api.PreviewToken) *PreviewToken {
	return &PreviewToken{
		Name:         in.Metadata.Name,
		PreviewName:  in.Metadata.PreviewName.Or(""),
		ResourceName: in.Metadata.ResourceName.Or(""),
		ResourceType: in.Metadata.ResourceType.Or(""),
		Workspace:    in.Metadata.Workspace.Or(""),
		ExpiresAt:    parseTime(in.Spec.ExpiresAt.Or("")),
		Value:        in.Spec.Token.Or(""),
		Expired:      in.Spec.Expired.Or(false),
	}
}

func scheduleFromAPI(in *api.Schedule) *Schedule {
	out := &Schedule{
		ID:            in.ID.Or(""),
		Type:          ScheduleType(in.Type.Or("")),
		Value:         in.Value.Or(""),
		MaxExecutions: in.MaxExecutions.Or(0),
		CreatedAt:     parseTime(in.CreatedAt.Or("")),
		extra:         extraOf(in.AdditionalProps),
	}
	if inp, ok := in.Input.Get(); ok {
		out.Input = ScheduleInput{
			Command:    inp.Command.Or(""),
			Name:       inp.Name.Or(""),
			WorkingDir: inp.WorkingDir.Or(""),
			Env:        map[string]string(inp.Env.Or(nil)),
			extra:      extraOf(inp.AdditionalProps),
		}
		if v, ok := inp.KeepAlive.Get(); ok {
			out.Input.KeepAlive = &v
		}
		if v, ok := inp.Timeout.Get(); ok {
			d := time.Duration(v) * time.Second
			out.Input.Timeout = &d
		}
	}
	return out
}

func scheduleToAPI(s *Schedule) *api.Schedule {
	in := api.ScheduleInput{
		Command:         optString(s.Input.Command),
		Name:            optString(s.Input.Name),
		WorkingDir:      optString(s.Input.WorkingDir),
		AdditionalProps: api.ScheduleInputAdditional(maps.Clone(s.Input.extra)),
	}
	if s.Input.Env != nil {
		in.Env = api.NewOptScheduleInputEnv(maps.Clone(s.Input.Env))
	}
	if s.Input.KeepAlive != nil {
		in.KeepAlive = api.NewOptBool(*s.Input.KeepAlive)
	}
	if s.Input.Timeout != nil {
		in.Timeout = api.NewOptInt(int(*s.Input.Timeout / time.Second))
	}
	out := &api.Schedule{
		ID:              optString(s.ID),
		Type:            optString(string(s.Type)),
		Value:           optString(s.Value),
		Input:           api.NewOptScheduleInput(in),
		AdditionalProps: api.ScheduleAdditional(maps.Clone(s.extra)),
	}
	if s.MaxExecutions != 0 {
		out.MaxExecutions = api.NewOptInt(s.MaxExecutions)
	}
	return out
}

func snapshotFromAPI(in *api.Snapshot) *Snapshot {
	return &Snapshot{
		ID: in.ID, Name: in.Name.Or(""), SandboxName: in.SandboxName, Workspace: in.Workspace,
		Status: SnapshotStatus(in.Status), CreatedAt: parseTime(in.CreatedAt), CreatedBy: in.CreatedBy.Or(""),
	}
}

func networkFromAPI(in *api.SandboxNetwork) *Network {
	out := &Network{
		Subnet:           in.Subnet.Or(""),
		AllowedDomains:   in.AllowedDomains,
		ForbiddenDomains: in.ForbiddenDomains,
		extra:            extraOf(in.AdditionalProps),
	}
	if e, ok := in.Egress.Get(); ok {
		out.Egress = &Egress{Gateway: e.Gateway.Or(""), Mode: e.Mode.Or(""), extra: extraOf(e.AdditionalProps)}
		out.Egress.Policies = convertEach(e.Policies, func(p api.EgressPolicy) EgressPolicy {
			return EgressPolicy{Name: p.Name.Or(""), Mode: p.Mode.Or(""), Destinations: p.Destinations, extra: extraOf(p.AdditionalProps)}
		})
	}
	if f, ok := in.Firewall.Get(); ok {
		out.Firewall = &Firewall{Rulesets: f.Rulesets, extra: extraOf(f.AdditionalProps)}
	}
	if p, ok := in.Proxy.Get(); ok {
		out.Proxy = &Proxy{
			AllowedDomains:   p.AllowedDomains,
			ForbiddenDomains: p.ForbiddenDomains,
			Bypass:           p.Bypass,
			extra:            extraOf(p.AdditionalProps),
		}
		out.Proxy.Routing = convertEach(p.Routing, func(r api.ProxyTarget) ProxyRoute {
			return ProxyRoute{
				Destinations: r.Destinations,
				Headers:      map[string]string(r.Headers.Or(nil)),
				Body:         map[string]string(r.Body.Or(nil)),
				Secrets:      map[string]string(r.Secrets.Or(nil)),
				extra:        extraOf(r.AdditionalProps),
			}
		})
	}
	return out
}

func networkToAPI(in *Network) api.SandboxNetwork {
	out := api.SandboxNetwork{
		Subnet:           optString(in.Subnet),
		AllowedDomains:   slices.Clone(in.AllowedDomains),
		ForbiddenDomains: slices.Clone(in.ForbiddenDomains),
		AdditionalProps:  api.SandboxNetworkAdditional(maps.Clone(in.extra)),
	}
	if e := in.Egress; e != nil {
		out.Egress = api.NewOptEgressConfig(api.EgressConfig{
			Gateway: optString(e.Gateway), Mode: optString(e.Mode),
			Policies: convertEach(e.Policies, func(p EgressPolicy) api.EgressPolicy {
				return api.EgressPolicy{Name: optString(p.Name), Mode: optString(p.Mode), Destinations: slices.Clone(p.Destinations), AdditionalProps: api.EgressPolicyAdditional(maps.Clone(p.extra))}
			}),
			AdditionalProps: api.EgressConfigAdditional(maps.Clone(e.extra)),
		})
	}
	if f := in.Firewall; f != nil {
		out.Firewall = api.NewOptFirewallConfig(api.FirewallConfig{Rulesets: slices.Clone(f.Rulesets), AdditionalProps: api.FirewallConfigAdditional(maps.Clone(f.extra))})
	}
	if p := in.Proxy; p != nil {
		out.Proxy = api.NewOptProxyConfig(api.ProxyConfig{
			AllowedDomains:   slices.Clone(p.AllowedDomains),
			ForbiddenDomains: slices.Clone(p.ForbiddenDomains),
			Bypass:           slices.Clone(p.Bypass),
			Routing: convertEach(p.Routing, func(r ProxyRoute) api.ProxyTarget {
				t := api.ProxyTarget{Destinations: slices.Clone(r.Destinations), AdditionalProps: api.ProxyTargetAdditional(maps.Clone(r.extra))}
				if r.Headers != nil {
					t.Headers = api.NewOptProxyTargetHeaders(maps.Clone(r.Headers))
				}
				if r.Body != nil {
					t.Body = api.NewOptProxyTargetBody(maps.Clone(r.Body))
				}
				if r.Secrets != nil {
					t.Secrets = api.NewOptProxyTargetSecrets(maps.Clone(r.Secrets))
				}
				return t
			}),
			AdditionalProps: api.ProxyConfigAdditional(maps.Clone(p.extra)),
		})
	}
	return out
}

// convertEach maps a slice (nil stays nil) through f.
func convertEach[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// extraOf keeps the unknown members of a decoded object (the decoder
// gives every object a map, mostly empty; an empty one is dropped).
func extraOf[M ~map[string]jx.Raw](m M) extraFields {
	if len(m) == 0 {
		return nil
	}
	return extraFields(m)
}
