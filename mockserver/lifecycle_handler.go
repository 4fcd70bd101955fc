package mockserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// lifecycleHandler implements the operations of the lifecycle API on the
// generated server interface: requests arrive checked (lifecycle_http.go
// parses and validates them as the real server does) and errors return
// as *opError for the HTTP layer to render.
type lifecycleHandler struct {
	srv *Server
	st  *lcStore
}

var _ lifecyclesrv.Handler = (*lifecycleHandler)(nil)

// maxPyDateTime is the last instant Python's datetime can hold.
var maxPyDateTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)

// CreateSandbox implements POST /sandboxes.
func (h *lifecycleHandler) CreateSandbox(ctx context.Context, req *lifecyclesrv.CreateSandboxRequest) (*lifecyclesrv.CreateSandboxResponseHeaders, error) {
	ri := infoFrom(ctx)
	ext := map[string]string(req.Extensions.Value)
	if err := checkRenewExtension(ext); err != nil {
		return nil, err
	}
	rt := h.st.rt
	if pool := strings.TrimSpace(ext["poolRef"]); pool != "" {
		if rt == RuntimeDocker {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::UNSUPPORTED_POOL_REF", "poolRef is not supported by the Docker provider. Use Kubernetes BatchSandbox provider instead.")
		}
		return nil, codedErrorf(http.StatusNotFound, "KUBERNETES::POOL_NOT_FOUND", "Pool '%s' not found", pool)
	}
	if id, ok := req.SnapshotID.Get(); ok {
		// Resolved first, as the server does before any other check.
		h.st.mu.RLock()
		sn, err := h.st.lookupSnapshot(ri.tenant, strings.TrimSpace(id))
		var state string
		if sn != nil {
			state = sn.state
		}
		h.st.mu.RUnlock()
		if err != nil {
			return nil, err
		}
		if state != SnapshotReady {
			return nil, codedErrorf(http.StatusConflict, "SNAPSHOT::NOT_READY", "Snapshot %s is not ready for restore.", sn.id)
		}
	}
	if md, ok := req.Metadata.Get(); ok {
		if err := checkCreateLabels(md); err != nil {
			return nil, err
		}
	}
	if p, ok := req.Platform.Get(); ok {
		np, err := checkPlatformValues(p)
		if err != nil {
			return nil, err
		}
		req.Platform = lifecyclesrv.NewOptPlatformSpec(np)
	}
	now := h.st.now()
	var expiresAt time.Time
	if t, ok := req.Timeout.Get(); ok {
		secs := int64(t)
		if secs > int64(maxPyDateTime.Sub(now)/time.Second) || secs > 86_399_999_999_999 {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "Sandbox timeout %ds is too large to represent safely.", secs)
		}
		if max := h.srv.cfg.maxTimeout; max > 0 && secs > int64(max/time.Second) {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "Sandbox timeout %ds exceeds configured maximum of %ds.", secs, int64(max/time.Second))
		}
		expiresAt = addSeconds(now, secs)
	}
	if rt == RuntimeDocker {
		if req.SecureAccess.Or(false) {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "secureAccess is not supported when runtime.type='docker'. Use the Kubernetes runtime to create secured sandboxes.")
		}
		if req.NetworkPolicy.Set {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "networkPolicy is not supported when docker network_mode=host.")
		}
	}
	v, err := h.st.create(ri.tenant, ri.requestID, req, expiresAt, now)
	if err != nil {
		return nil, err
	}
	return &lifecyclesrv.CreateSandboxResponseHeaders{Response: v}, nil
}

// addSeconds adds whole seconds that may exceed a time.Duration.
func addSeconds(t time.Time, secs int64) time.Time {
	const chunk = int64(math.MaxInt64 / int64(time.Second))
	for secs > chunk {
		t = t.Add(time.Duration(chunk) * time.Second)
		secs -= chunk
	}
	return t.Add(time.Duration(secs) * time.Second)
}

// checkRenewExtension checks extensions["access.renew.extend.seconds"]:
// renew-on-access is accepted (not simulated) for 300 to 86400 seconds.
func checkRenewExtension(ext map[string]string) *opError {
	const key = "access.renew.extend.seconds"
	raw, ok := ext[key]
	if !ok {
		return nil
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", `Invalid extensions["%s"]: empty value; omit the key to disable renew-on-access, or use an integer between 300 and 86400 seconds.`, key)
	}
	n, err := parsePyInt(s)
	if err != nil {
		return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", `Invalid extensions["%s"]: must be a base-10 integer string between 300 and 86400, got %s.`, key, pyRepr(raw))
	}
	if n < 300 || n > 86400 {
		return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", `Invalid extensions["%s"]: must be between 300 and 86400 seconds (5 minutes to 24 hours inclusive), got %d.`, key, n)
	}
	return nil
}

var pyIntLiteral = regexp.MustCompile(`^[+-]?[0-9]+(?:_[0-9]+)*$`)

// parsePyInt parses s as Python's int() does (after strip): an optional
// sign and digits, underscores allowed between digits.
func parsePyInt(s string) (int64, error) {
	if !pyIntLiteral.MatchString(s) {
		return 0, fmt.Errorf("invalid literal %q", s)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return math.MaxInt64, nil // out of range: compares as too large
	}
	return n, nil
}

// pyRepr quotes s as Python's repr() does for simple strings.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// Kubernetes label syntax, which the server applies to metadata.
var (
	dnsSubdomainRE = regexp.MustCompile(`^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelNameRE    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValueRE   = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
)

// pyMatch matches like Python's re.match with a trailing $: a single
// newline at the end of s is allowed.
func pyMatch(re *regexp.Regexp, s string) bool {
	return re.MatchString(strings.TrimSuffix(s, "\n"))
}

func validLabelKey(k string) bool {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if prefix == "" || n == "" || len(prefix) > 253 || !pyMatch(dnsSubdomainRE, prefix) {
			return false
		}
		name = n
	}
	return len([]rune(name)) <= 63 && pyMatch(labelNameRE, name)
}

func validLabelValue(v string) bool {
	return len([]rune(v)) <= 63 && pyMatch(labelValueRE, v)
}

// checkCreateLabels checks creation metadata: no reserved key, keys and
// values that are valid Kubernetes labels.
func checkCreateLabels(md map[string]string) *opError {
	keys := slices.Sorted(maps.Keys(md))
	for _, k := range keys {
		if strings.HasPrefix(k, reservedMetadataPrefix) {
			return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_METADATA_LABEL",
				"Metadata key '%s' uses the reserved prefix '%s'. Keys under this prefix are managed by the system and cannot be set via metadata.", k, reservedMetadataPrefix)
		}
	}
	return checkLabels(md, keys)
}

// checkLabels checks keys and values against the Kubernetes label rules,
// in keys order.
func checkLabels(md map[string]string, keys []string) *opError {
	for _, k := range keys {
		if !validLabelKey(k) {
			return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_METADATA_LABEL",
				"Metadata key '%s' is invalid: must be either a name or a DNS-subdomain prefix and name separated by /, where the name is up to 63 characters and matches [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, and the optional prefix is a valid DNS subdomain up to 253 characters.", k)
		}
		if v := md[k]; !validLabelValue(v) {
			return codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_METADATA_LABEL",
				"Metadata value '%s' is invalid: must be 63 characters or less, start/end with an alphanumeric character, and contain only alphanumeric, '-', '_', or '.' characters.", v)
		}
	}
	return nil
}

// checkPlatformValues accepts os linux or windows and arch amd64 or arm64
// (any case, spaces trimmed) and returns them normalised.
func checkPlatformValues(p lifecyclesrv.PlatformSpec) (lifecyclesrv.PlatformSpec, *opError) {
	os := strings.ToLower(strings.TrimSpace(p.Os))
	arch := strings.ToLower(strings.TrimSpace(p.Arch))
	if os != "linux" && os != "windows" {
		return p, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "Unsupported platform.os '%s'. Supported values: ['linux', 'windows'].", p.Os)
	}
	if arch != "amd64" && arch != "arm64" {
		return p, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "Unsupported platform.arch '%s'. Supported values: ['amd64', 'arm64'].", p.Arch)
	}
	return lifecyclesrv.PlatformSpec{Os: os, Arch: arch}, nil
}

// GetSandbox implements GET /sandboxes/{sandboxId}.
func (h *lifecycleHandler) GetSandbox(ctx context.Context, params lifecyclesrv.GetSandboxParams) (*lifecyclesrv.Sandbox, error) {
	v, err := h.st.get(infoFrom(ctx).tenant, params.SandboxID)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// ListSandboxes implements GET /sandboxes.
func (h *lifecycleHandler) ListSandboxes(ctx context.Context, params lifecyclesrv.ListSandboxesParams) (*lifecyclesrv.ListSandboxesResponse, error) {
	q := listQuery{page: params.Page.Or(1), pageSize: params.PageSize.Or(20), states: params.State}
	if raw, ok := params.Metadata.Get(); ok && raw != "" {
		m, err := parseMetadataFilter(raw)
		if err != nil {
			return nil, err
		}
		q.metadata = m
	}
	items, total := h.st.list(infoFrom(ctx).tenant, q)
	return &lifecyclesrv.ListSandboxesResponse{
		Items:      items,
		Pagination: pagination(q.page, q.pageSize, total),
	}, nil
}

// parseMetadataFilter reads the metadata filter the way the server does
// (Python's parse_qsl with strict parsing and blank values kept):
// key=value fields joined by &, each decoded once more; an empty field or
// one without = is a 400.
func parseMetadataFilter(raw string) (map[string]string, *opError) {
	out := map[string]string{}
	for seg := range strings.SplitSeq(raw, "&") {
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			return nil, codedErrorf(http.StatusBadRequest, "INVALID_METADATA_FORMAT", "Invalid metadata format: bad query field: %s", pyRepr(seg))
		}
		out[pyUnquotePlus(k)] = pyUnquotePlus(v)
	}
	return out, nil
}

// pyUnquotePlus decodes like Python's urllib.parse.unquote_plus: + is a
// space, a valid %XX escape a byte, anything else stays as it is.
func pyUnquotePlus(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if !strings.Contains(s, "%") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(n))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func pagination(page, pageSize, total int) lifecyclesrv.PaginationInfo {
	pages := (total + pageSize - 1) / pageSize
	return lifecyclesrv.PaginationInfo{
		Page:        page,
		PageSize:    pageSize,
		TotalItems:  total,
		TotalPages:  pages,
		HasNextPage: page < pages,
	}
}

// DeleteSandbox implements DELETE /sandboxes/{sandboxId}.
func (h *lifecycleHandler) DeleteSandbox(ctx context.Context, params lifecyclesrv.DeleteSandboxParams) error {
	ri := infoFrom(ctx)
	if err := h.st.delete(ri.tenant, params.SandboxID, ri.requestID); err != nil {
		return err
	}
	return nil // not a nil *opError, which would be a non-nil error
}

// PauseSandbox implements POST /sandboxes/{sandboxId}/pause.
func (h *lifecycleHandler) PauseSandbox(ctx context.Context, params lifecyclesrv.PauseSandboxParams) error {
	if err := h.st.pause(infoFrom(ctx).tenant, params.SandboxID); err != nil {
		return err
	}
	return nil
}

// ResumeSandbox implements POST /sandboxes/{sandboxId}/resume.
func (h *lifecycleHandler) ResumeSandbox(ctx context.Context, params lifecyclesrv.ResumeSandboxParams) error {
	if err := h.st.resume(infoFrom(ctx).tenant, params.SandboxID); err != nil {
		return err
	}
	return nil
}

// PatchSandboxMetadata implements PATCH /sandboxes/{sandboxId}/metadata.
func (h *lifecycleHandler) PatchSandboxMetadata(ctx context.Context, req lifecyclesrv.PatchSandboxMetadataRequest, params lifecyclesrv.PatchSandboxMetadataParams) (*lifecyclesrv.Sandbox, error) {
	v, err := h.st.patchMetadata(infoFrom(ctx).tenant, params.SandboxID, req)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// RenewSandboxExpiration implements POST /sandboxes/{sandboxId}/renew-expiration.
func (h *lifecycleHandler) RenewSandboxExpiration(ctx context.Context, req *lifecyclesrv.RenewSandboxExpirationRequest, params lifecyclesrv.RenewSandboxExpirationParams) (*lifecyclesrv.RenewSandboxExpirationResponse, error) {
	ri := infoFrom(ctx)
	at, err := h.st.renew(ri.tenant, params.SandboxID, ri.requestID, req.ExpiresAt)
	if err != nil {
		return nil, err
	}
	return &lifecyclesrv.RenewSandboxExpirationResponse{ExpiresAt: at}, nil
}

// GetSandboxEndpoint implements GET /sandboxes/{sandboxId}/endpoints/{port}.
func (h *lifecycleHandler) GetSandboxEndpoint(ctx context.Context, params lifecyclesrv.GetSandboxEndpointParams) (*lifecyclesrv.Endpoint, error) {
	tenant := infoFrom(ctx).tenant
	proxy := params.UseServerProxy.Or(false)
	expires, signed := params.Expires.Get()
	if proxy && signed {
		return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "use_server_proxy cannot be combined with expires; signed endpoints require the gateway route.")
	}
	docker := h.st.rt == RuntimeDocker
	badPort := params.Port < 1 || params.Port > 65535
	if docker {
		if signed {
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::API_NOT_SUPPORTED", "Signed routes (expires parameter) are not supported when runtime.type='docker'. Use the Kubernetes runtime for signed routes.")
		}
		if badPort {
			return nil, codedErrorf(http.StatusBadRequest, "DOCKER::INVALID_PORT", "Port must be between 1 and 65535.")
		}
	} else if badPort {
		return nil, errInternal // the Kubernetes runtime does not catch the port check
	}
	var exp int64
	if signed {
		n, err := strconv.ParseInt(expires, 10, 64)
		now := h.srv.clock.Now().Unix()
		switch {
		case err != nil && strings.HasPrefix(expires, "-"):
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "expires must be a non-negative Unix timestamp (uint64).")
		case err != nil && len(expires) > 20:
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "expires exceeds uint64 maximum value.")
		case err != nil:
			n = math.MaxInt64
		case n < 0:
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "expires must be a non-negative Unix timestamp (uint64).")
		case n <= now:
			return nil, codedErrorf(http.StatusBadRequest, "SANDBOX::INVALID_PARAMETER", "expires (%d) must be greater than current time (%d).", n, now)
		}
		exp = n
	}
	if _, err := h.st.get(tenant, params.SandboxID); err != nil {
		return nil, err
	}
	host := h.srv.host()
	id, port := url.PathEscape(params.SandboxID), strconv.Itoa(params.Port)
	var ep lifecyclesrv.Endpoint
	switch {
	case proxy:
		ep.Endpoint = host + "/sandboxes/" + id + "/proxy/" + port
	case signed:
		ep.Endpoint = host + "/signed/" + h.srv.signRoute(params.SandboxID, params.Port, exp) + "/sandboxes/" + id + "/port/" + port
	default:
		ep.Endpoint = host + "/sandboxes/" + id + "/port/" + port
	}
	return &ep, nil
}

// CreateSnapshot implements POST /sandboxes/{sandboxId}/snapshots.
func (h *lifecycleHandler) CreateSnapshot(ctx context.Context, req lifecyclesrv.OptCreateSnapshotRequest, params lifecyclesrv.CreateSnapshotParams) (*lifecyclesrv.SnapshotHeaders, error) {
	var name string
	if r, ok := req.Get(); ok {
		name = r.Name.Or("")
	}
	v, err := h.st.createSnapshot(infoFrom(ctx).tenant, params.SandboxID, name)
	if err != nil {
		return nil, err
	}
	return &lifecyclesrv.SnapshotHeaders{
		Location: lifecyclesrv.NewOptString("/v1/snapshots/" + v.ID),
		Response: v,
	}, nil
}

// GetSnapshot implements GET /snapshots/{snapshotId}.
func (h *lifecycleHandler) GetSnapshot(ctx context.Context, params lifecyclesrv.GetSnapshotParams) (*lifecyclesrv.Snapshot, error) {
	v, err := h.st.getSnapshot(infoFrom(ctx).tenant, params.SnapshotID)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteSnapshot implements DELETE /snapshots/{snapshotId}.
func (h *lifecycleHandler) DeleteSnapshot(ctx context.Context, params lifecyclesrv.DeleteSnapshotParams) error {
	if err := h.st.deleteSnapshot(infoFrom(ctx).tenant, params.SnapshotID); err != nil {
		return err
	}
	return nil
}

// ListSnapshots implements GET /snapshots.
func (h *lifecycleHandler) ListSnapshots(ctx context.Context, params lifecyclesrv.ListSnapshotsParams) (*lifecyclesrv.ListSnapshotsResponse, error) {
	q := snapshotQuery{
		sandboxID: params.SandboxID.Or(""),
		page:      params.Page.Or(1),
		pageSize:  params.PageSize.Or(20),
	}
	for _, s := range params.State {
		q.states = append(q.states, string(s))
	}
	items, total := h.st.listSnapshots(infoFrom(ctx).tenant, q)
	return &lifecyclesrv.ListSnapshotsResponse{
		Items:      items,
		Pagination: pagination(q.page, q.pageSize, total),
	}, nil
}

// NewError completes the generated interface: it gives an operation's
// error as the API's shared error answer ({code, message}, its status, the
// request id). The mock never mounts the generated server; its HTTP layer
// renders errors itself (writeLCError), where an unhandled failure is the
// real server's plain-text 500, which this shape cannot carry.
func (h *lifecycleHandler) NewError(ctx context.Context, err error) *lifecyclesrv.ErrorStatusCodeWithHeaders {
	oe, ok := errors.AsType[*opError](err)
	if !ok {
		oe = errInternal
	}
	return &lifecyclesrv.ErrorStatusCodeWithHeaders{
		StatusCode: oe.status,
		XRequestID: lifecyclesrv.NewOptString(infoFrom(ctx).requestID),
		Response:   lifecyclesrv.ErrorResponse{Code: oe.code, Message: oe.msg},
	}
}
