package lifecycle

import (
	"maps"
	"slices"
	"time"

	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
)

// Conversions between the generated types and the package's own. Maps and
// slices are copied, so callers never share memory with decoded answers
// or with requests in flight.

func optTime(o api.OptDateTime) time.Time {
	if v, ok := o.Get(); ok {
		return v
	}
	return time.Time{}
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func fromStatus(s api.SandboxStatus) Status {
	return Status{
		State:            State(s.State),
		Reason:           s.Reason.Or(""),
		Message:          s.Message.Or(""),
		LastTransitionAt: optTime(s.LastTransitionAt),
	}
}

func fromPlatform(o api.OptPlatformSpec) *Platform {
	p, ok := o.Get()
	if !ok {
		return nil
	}
	return &Platform{OS: p.Os, Arch: p.Arch}
}

func fromImage(o api.OptImageSpec) *Image {
	im, ok := o.Get()
	if !ok {
		return nil
	}
	out := &Image{URI: im.URI}
	if a, ok := im.Auth.Get(); ok {
		out.Auth = &ImageAuth{Username: a.Username.Or(""), Password: a.Password.Or("")}
	}
	return out
}

func fromSandbox(s *api.Sandbox) *Sandbox {
	out := &Sandbox{
		ID:         s.ID,
		Image:      fromImage(s.Image),
		SnapshotID: s.SnapshotID.Or(""),
		Platform:   fromPlatform(s.Platform),
		Status:     fromStatus(s.Status),
		Entrypoint: slices.Clone(s.Entrypoint),
		ExpiresAt:  optTime(s.ExpiresAt),
		CreatedAt:  s.CreatedAt,
	}
	if m, ok := s.Metadata.Get(); ok {
		out.Metadata = cloneMap(m)
	}
	return out
}

// fromCreated converts the create answer, which lacks the source: it is
// taken from the request (without registry credentials).
func fromCreated(s *api.CreateSandboxResponse, req *CreateRequest) *Sandbox {
	out := &Sandbox{
		ID:         s.ID,
		SnapshotID: req.SnapshotID,
		Platform:   fromPlatform(s.Platform),
		Status:     fromStatus(s.Status),
		Entrypoint: slices.Clone(s.Entrypoint),
		ExpiresAt:  optTime(s.ExpiresAt),
		CreatedAt:  s.CreatedAt,
	}
	if req.Image != nil {
		out.Image = &Image{URI: req.Image.URI}
	}
	if m, ok := s.Metadata.Get(); ok {
		out.Metadata = cloneMap(m)
	}
	return out
}

func fromPagination(p api.PaginationInfo) Pagination {
	return Pagination{
		Page:        p.Page,
		PageSize:    p.PageSize,
		TotalItems:  p.TotalItems,
		TotalPages:  p.TotalPages,
		HasNextPage: p.HasNextPage,
	}
}

func fromSnapshot(s *api.Snapshot) *Snapshot {
	return &Snapshot{
		ID:        s.ID,
		SandboxID: s.SandboxID,
		Name:      s.Name.Or(""),
		Status: SnapshotStatus{
			State:            SnapshotState(s.Status.State),
			Reason:           s.Status.Reason.Or(""),
			Message:          s.Status.Message.Or(""),
			LastTransitionAt: optTime(s.Status.LastTransitionAt),
		},
		CreatedAt: s.CreatedAt,
	}
}

func fromEndpoint(e *api.Endpoint) *Endpoint {
	out := &Endpoint{Address: e.Endpoint}
	if h, ok := e.Headers.Get(); ok {
		out.Headers = cloneMap(h)
	}
	return out
}

// toAPI converts a validated request; metadata is the map to send (the
// caller's plus the client token).
func (r *CreateRequest) toAPI(metadata map[string]string) *api.CreateSandboxRequest {
	out := &api.CreateSandboxRequest{
		Entrypoint: slices.Clone(r.Entrypoint),
		Metadata:   api.NewOptCreateSandboxRequestMetadata(metadata),
	}
	if r.Image != nil {
		im := api.ImageSpec{URI: r.Image.URI}
		if a := r.Image.Auth; a != nil {
			auth := api.ImageAuth{}
			if a.Username != "" {
				auth.Username = api.NewOptString(a.Username)
			}
			if a.Password != "" {
				auth.Password = api.NewOptString(a.Password)
			}
			im.Auth = api.NewOptImageAuth(auth)
		}
		out.Image = api.NewOptImageSpec(im)
	}
	if r.SnapshotID != "" {
		out.SnapshotID = api.NewOptString(r.SnapshotID)
	}
	if r.Platform != nil {
		out.Platform = api.NewOptPlatformSpec(api.PlatformSpec{Os: r.Platform.OS, Arch: r.Platform.Arch})
	}
	switch {
	case r.NeverExpires:
		// An absent timeout is the service's "never expires".
	case r.Timeout > 0:
		out.Timeout = api.NewOptNilInt(int(r.Timeout / time.Second))
	default:
		out.Timeout = api.NewOptNilInt(int(DefaultSandboxTimeout / time.Second))
	}
	if r.ResourceLimits != nil {
		out.ResourceLimits = api.NewOptResourceLimits(cloneMap(r.ResourceLimits))
	}
	if r.Env != nil {
		out.Env = api.NewOptCreateSandboxRequestEnv(cloneMap(r.Env))
	}
	if r.Extensions != nil {
		out.Extensions = api.NewOptCreateSandboxRequestExtensions(cloneMap(r.Extensions))
	}
	if np := r.NetworkPolicy; np != nil {
		p := api.NetworkPolicy{}
		if np.DefaultAction != "" {
			p.DefaultAction = api.NewOptNetworkPolicyDefaultAction(api.NetworkPolicyDefaultAction(np.DefaultAction))
		}
		for _, rule := range np.Egress {
			p.Egress = append(p.Egress, api.NetworkRule{Action: api.NetworkRuleAction(rule.Action), Target: rule.Target})
		}
		out.NetworkPolicy = api.NewOptNetworkPolicy(p)
	}
	if r.CredentialProxy {
		out.CredentialProxy = api.NewOptCredentialProxyConfig(api.CredentialProxyConfig{Enabled: api.NewOptBool(true)})
	}
	if r.SecureAccess {
		out.SecureAccess = api.NewOptBool(true)
	}
	for _, v := range r.Volumes {
		out.Volumes = append(out.Volumes, v.toAPI())
	}
	return out
}

func (v *Volume) toAPI() api.Volume {
	out := api.Volume{Name: v.Name, MountPath: v.MountPath}
	if v.ReadOnly {
		out.ReadOnly = api.NewOptBool(true)
	}
	if v.SubPath != "" {
		out.SubPath = api.NewOptString(v.SubPath)
	}
	if h := v.Host; h != nil {
		out.Host = api.NewOptHostVolume(api.HostVolume{Path: h.Path})
	}
	if p := v.PVC; p != nil {
		pvc := api.PVCVolume{ClaimName: p.ClaimName}
		if p.CreateIfNotExists != nil {
			pvc.CreateIfNotExists = api.NewOptBool(*p.CreateIfNotExists)
		}
		if p.DeleteOnSandboxTermination {
			pvc.DeleteOnSandboxTermination = api.NewOptBool(true)
		}
		if p.StorageClass != "" {
			pvc.StorageClass = api.NewOptNilString(p.StorageClass)
		}
		if p.Storage != "" {
			pvc.Storage = api.NewOptNilString(p.Storage)
		}
		if p.AccessModes != nil {
			pvc.AccessModes = api.NewOptNilStringArray(slices.Clone(p.AccessModes))
		}
		out.Pvc = api.NewOptPVCVolume(pvc)
	}
	if o := v.OSSFS; o != nil {
		oss := api.OSSFSVolume{
			Bucket:          o.Bucket,
			Endpoint:        o.Endpoint,
			Options:         slices.Clone(o.Options),
			AccessKeyID:     o.AccessKeyID,
			AccessKeySecret: o.AccessKeySecret,
		}
		if o.Version != "" {
			oss.Version = api.NewOptOSSFSVolumeVersion(api.OSSFSVolumeVersion(o.Version))
		}
		out.Ossfs = api.NewOptOSSFSVolume(oss)
	}
	return out
}
