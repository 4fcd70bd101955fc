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

func fromAPI(in *api.Sandbox) *Sandbox {
	out := &Sandbox{
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
		d := time.Duration(v) * time.Second
		out.ExpiresIn = &d
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
		ExternalID:  in.ExternalId.Or(""),
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
		out.Labels = maps.Clone(map[string]string(l))
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
		ExternalId:      optString(in.ExternalID),
		AdditionalProps: api.MetadataAdditional(maps.Clone(in.extra)),
	}
	if in.Labels != nil {
		out.Labels = api.NewOptMetadataLabels(api.MetadataLabels(maps.Clone(in.Labels)))
	}
	return out
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
	if v, ok := in.Enabled.Get(); ok {
		out.Enabled = &v
	}
	if rt, ok := in.Runtime.Get(); ok {
		r := runtimeFromAPI(&rt)
		out.Runtime = &r
	}
	if lc, ok := in.Lifecycle.Get(); ok {
		l := Lifecycle{TerminatedRetention: lc.TerminatedRetention.Or(""), extra: extraOf(lc.AdditionalProps)}
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
		out.Lifecycle = &l
	}
	if in.Volumes != nil {
		out.Volumes = make([]Volume, 0, len(in.Volumes))
		for _, v := range in.Volumes {
			out.Volumes = append(out.Volumes, Volume{
				Name:      v.Name.Or(""),
				MountPath: v.MountPath.Or(""),
				ReadOnly:  v.ReadOnly.Or(false),
				Type:      VolumeType(v.Type.Or("")),
				SizeMB:    v.SizeMb.Or(0),
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
				av.SizeMb = api.NewOptInt(v.SizeMB)
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
		ExtraArgs:                     maps.Clone(map[string]string(in.ExtraArgs.Or(nil))),
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

// extraOf copies the unknown members of a decoded object; the decoder
// gives every object a map, mostly empty, which needs no copy.
func extraOf[M ~map[string]jx.Raw](m M) extraFields {
	if len(m) == 0 {
		return nil
	}
	return extraFields(maps.Clone(m))
}
