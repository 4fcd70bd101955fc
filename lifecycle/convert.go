package lifecycle

import (
	"maps"
	"slices"
	"time"

	api "github.com/sandboxkit/sandboxkit/internal/gen/lifecycleapi"
)

// Conversions between the generated types and the package's own.
//
// From the generated types, conversions take ownership: the generated
// client decodes every answer into fresh values that nothing else refers
// to and that the façade drops once converted, so their maps and slices
// (metadata, entrypoint, endpoint headers) move into the result instead of
// being copied. Nothing may use a generated value after converting it.
//
// To the generated types, conversions copy, so that a request in flight
// never shares memory with the caller's values.

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

// sandboxBox holds a converted sandbox with the image and platform its
// pointers refer to, so that one allocation serves all three.
type sandboxBox struct {
	sandbox  Sandbox
	image    Image
	platform Platform
}

func fromSandbox(s *api.Sandbox) *Sandbox {
	b := new(sandboxBox)
	b.fill(s)
	return &b.sandbox
}

// fromSandboxes converts a page of sandboxes with one allocation for all
// of them (as decoding into a []T would): a sandbox kept from the page
// keeps the page's sandboxes in memory, at most a few hundred bytes each.
func fromSandboxes(items []api.Sandbox) []*Sandbox {
	boxes := make([]sandboxBox, len(items))
	out := make([]*Sandbox, len(items))
	for i := range items {
		boxes[i].fill(&items[i])
		out[i] = &boxes[i].sandbox
	}
	return out
}

// fill converts s into b, taking ownership of s's metadata and entrypoint.
func (b *sandboxBox) fill(s *api.Sandbox) {
	b.sandbox = Sandbox{
		ID:         s.ID,
		SnapshotID: s.SnapshotID.Or(""),
		Status:     fromStatus(s.Status),
		Metadata:   s.Metadata.Value, // nil when absent
		Entrypoint: s.Entrypoint,
		ExpiresAt:  optTime(s.ExpiresAt),
		CreatedAt:  s.CreatedAt,
	}
	if im, ok := s.Image.Get(); ok {
		b.image = Image{URI: im.URI}
		if a, ok := im.Auth.Get(); ok {
			b.image.Auth = &ImageAuth{Username: a.Username.Or(""), Password: a.Password.Or("")}
		}
		b.sandbox.Image = &b.image
	}
	b.setPlatform(s.Platform)
}

func (b *sandboxBox) setPlatform(o api.OptPlatformSpec) {
	if p, ok := o.Get(); ok {
		b.platform = Platform{OS: p.Os, Arch: p.Arch}
		b.sandbox.Platform = &b.platform
	}
}

// fromCreated converts the create answer, which lacks the source: it is
// taken from the request (without registry credentials).
func fromCreated(s *api.CreateSandboxResponse, req *CreateRequest) *Sandbox {
	b := new(sandboxBox)
	b.sandbox = Sandbox{
		ID:         s.ID,
		SnapshotID: req.SnapshotID,
		Status:     fromStatus(s.Status),
		Metadata:   s.Metadata.Value, // nil when absent
		Entrypoint: s.Entrypoint,
		ExpiresAt:  optTime(s.ExpiresAt),
		CreatedAt:  s.CreatedAt,
	}
	if req.Image != nil {
		b.image = Image{URI: req.Image.URI}
		b.sandbox.Image = &b.image
	}
	b.setPlatform(s.Platform)
	return &b.sandbox
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
	out := new(Snapshot)
	out.fill(s)
	return out
}

// fromSnapshots converts a page of snapshots with one allocation for all
// of them, as [fromSandboxes] does.
func fromSnapshots(items []api.Snapshot) []*Snapshot {
	snaps := make([]Snapshot, len(items))
	out := make([]*Snapshot, len(items))
	for i := range items {
		snaps[i].fill(&items[i])
		out[i] = &snaps[i]
	}
	return out
}

func (out *Snapshot) fill(s *api.Snapshot) {
	*out = Snapshot{
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
	return &Endpoint{Address: e.Endpoint, Headers: e.Headers.Value} // nil when absent
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
