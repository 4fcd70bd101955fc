package mockserver

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/mockcontrolsrv"
)

// controlHandler implements the control API on the server's Go controls.
type controlHandler struct{ s *Server }

var _ mockcontrolsrv.Handler = (*controlHandler)(nil)

// NewError turns an error of a control into the API's error answer.
func (h *controlHandler) NewError(_ context.Context, err error) *mockcontrolsrv.ErrorStatusCode {
	status, code, valid := controlStatus(err)
	return &mockcontrolsrv.ErrorStatusCode{StatusCode: status, Response: mockcontrolsrv.Error{Error: err.Error(), Code: code, Valid: valid}}
}

func (h *controlHandler) GetInfo(context.Context) (*mockcontrolsrv.Info, error) {
	return infoToWire(h.s.Info()), nil
}

func infoToWire(in Info) *mockcontrolsrv.Info {
	out := &mockcontrolsrv.Info{
		Mode:         mockcontrolsrv.InfoModeMock,
		Clock:        mockcontrolsrv.Clock{Now: in.Now, Manual: in.ManualClock},
		Urls:         mockcontrolsrv.URLs{Base: in.URL, Control: in.URL + controlPrefix},
		JournalLimit: in.JournalLimit,
	}
	if in.Proxy {
		out.Mode = mockcontrolsrv.InfoModeProxy
		out.Upstream = mockcontrolsrv.NewOptString(in.Upstream)
		out.UpstreamAPI = mockcontrolsrv.NewOptAPI(mockcontrolsrv.API(in.UpstreamAPI))
		if in.UpstreamAPI == APILifecycle {
			// Requests keep their path: the upstream's, or the server's /v1.
			path := "/v1"
			if u, err := url.Parse(in.Upstream); err == nil && strings.Trim(u.Path, "/") != "" {
				path = strings.TrimSuffix(u.EscapedPath(), "/")
			}
			out.Urls.Lifecycle = mockcontrolsrv.NewOptString(in.URL + path)
		}
		return out
	}
	out.Runtime = mockcontrolsrv.NewOptString(string(in.Runtime))
	out.Urls.Lifecycle = mockcontrolsrv.NewOptString(in.URL + "/v1")
	out.Urls.ControlPlane = mockcontrolsrv.NewOptString(in.URL + "/v0")
	return out
}

func (h *controlHandler) ListOperations(context.Context) (*mockcontrolsrv.Operations, error) {
	return &mockcontrolsrv.Operations{
		Lifecycle:    Operations(APILifecycle),
		Controlplane: Operations(APIControlPlane),
		Sandbox:      Operations(APISandbox),
	}, nil
}

func (h *controlHandler) Reset(_ context.Context, req mockcontrolsrv.OptResetRequest) (*mockcontrolsrv.Info, error) {
	opts, err := resetOptions(req.Or(mockcontrolsrv.ResetRequest{}))
	if err != nil {
		return nil, err
	}
	if err := h.s.Reset(opts...); err != nil {
		return nil, err
	}
	return infoToWire(h.s.Info()), nil
}

// resetOptions turns a reset request into the options of [Server.Reset].
func resetOptions(req mockcontrolsrv.ResetRequest) ([]Option, error) {
	var opts []Option
	if v, ok := req.Runtime.Get(); ok {
		opts = append(opts, WithRuntime(Runtime(v)))
	}
	if v, ok := req.ManualClock.Get(); ok {
		opts = append(opts, WithManualClock(v))
	}
	if v, ok := req.TransitionDelay.Get(); ok {
		opts = append(opts, WithTransitionDelay(v))
	}
	for _, name := range slices.Sorted(maps.Keys(req.Transitions.Or(nil))) {
		kind, err := ParseTransitionKind(name)
		if err != nil {
			return nil, err
		}
		mode, err := ParseMode(req.Transitions.Value[name])
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithTransition(kind, mode))
	}
	if v, ok := req.Retention.Get(); ok {
		opts = append(opts, WithRetention(v))
	}
	if v, ok := req.MaxSandboxTimeout.Get(); ok {
		opts = append(opts, WithMaxSandboxTimeout(v))
	}
	if v, ok := req.JournalLimit.Get(); ok {
		opts = append(opts, WithJournalLimit(v))
	}
	for _, t := range req.Tenants {
		opts = append(opts, WithTenant(t.APIKey, t.Name))
	}
	return opts, nil
}

func (h *controlHandler) GetState(context.Context) (*mockcontrolsrv.State, error) {
	return h.s.exportState()
}

func (h *controlHandler) PutState(_ context.Context, req *mockcontrolsrv.State) (*mockcontrolsrv.Info, error) {
	if err := h.s.importState(req); err != nil {
		return nil, err
	}
	return infoToWire(h.s.Info()), nil
}

func (h *controlHandler) ListFaults(context.Context) ([]mockcontrolsrv.Fault, error) {
	all := h.s.Faults()
	out := make([]mockcontrolsrv.Fault, len(all))
	for i, f := range all {
		out[i] = faultToWire(f)
	}
	return out, nil
}

func (h *controlHandler) InjectFault(_ context.Context, req *mockcontrolsrv.FaultSpec) (*mockcontrolsrv.Fault, error) {
	f := faultFromWire(req)
	id, err := h.s.InjectFault(f)
	if err != nil {
		return nil, err
	}
	out := faultToWire(FaultStatus{ID: id, Fault: f})
	return &out, nil
}

func (h *controlHandler) ClearFaults(context.Context) error {
	h.s.ClearFaults()
	return nil
}

func (h *controlHandler) GetFault(_ context.Context, p mockcontrolsrv.GetFaultParams) (*mockcontrolsrv.Fault, error) {
	for _, f := range h.s.Faults() {
		if int64(f.ID) == p.ID {
			out := faultToWire(f)
			return &out, nil
		}
	}
	return nil, errNoFault(p.ID)
}

func (h *controlHandler) RemoveFault(_ context.Context, p mockcontrolsrv.RemoveFaultParams) error {
	if !h.s.RemoveFault(FaultID(p.ID)) {
		return errNoFault(p.ID)
	}
	return nil
}

func errNoFault(id int64) error {
	return &notFoundError{msg: "mockserver: no fault " + strconv.FormatInt(id, 10)}
}

func faultFromWire(in *mockcontrolsrv.FaultSpec) Fault {
	return Fault{
		API:         API(in.API.Or("")),
		Operation:   in.Operation.Or(""),
		Status:      in.Status.Or(0),
		Body:        in.Body.Or(""),
		RetryAfter:  in.RetryAfter.Or(0),
		Latency:     in.Latency.Or(0),
		Reset:       in.Reset.Or(false),
		AfterCommit: in.AfterCommit.Or(false),
		Times:       in.Times.Or(0),
		Probability: in.Probability.Or(0),
		Seed:        in.Seed.Or(0),
	}
}

func faultToWire(f FaultStatus) mockcontrolsrv.Fault {
	var spec mockcontrolsrv.FaultSpec
	if f.Fault.API != "" {
		spec.API = mockcontrolsrv.NewOptAPI(mockcontrolsrv.API(f.Fault.API))
	}
	optStr(&spec.Operation, f.Fault.Operation)
	optInt(&spec.Status, f.Fault.Status)
	optStr(&spec.Body, f.Fault.Body)
	optDur(&spec.RetryAfter, f.Fault.RetryAfter)
	optDur(&spec.Latency, f.Fault.Latency)
	if f.Fault.Reset {
		spec.Reset = mockcontrolsrv.NewOptBool(true)
	}
	if f.Fault.AfterCommit {
		spec.AfterCommit = mockcontrolsrv.NewOptBool(true)
	}
	optInt(&spec.Times, f.Fault.Times)
	if f.Fault.Probability != 0 {
		spec.Probability = mockcontrolsrv.NewOptFloat64(f.Fault.Probability)
		spec.Seed = mockcontrolsrv.NewOptUint64(f.Fault.Seed)
	}
	return mockcontrolsrv.Fault{ID: int64(f.ID), Fired: f.Fired, Fault: spec}
}

func (h *controlHandler) GetClock(context.Context) (*mockcontrolsrv.Clock, error) {
	return h.clock(), nil
}

func (h *controlHandler) clock() *mockcontrolsrv.Clock {
	return &mockcontrolsrv.Clock{Now: h.s.Now(), Manual: h.s.manualClock() != nil}
}

func (h *controlHandler) AdvanceClock(_ context.Context, req *mockcontrolsrv.ClockAdvance) (*mockcontrolsrv.Clock, error) {
	if h.s.proxy != nil {
		return nil, ErrProxyMode
	}
	if err := h.s.Advance(req.By); err != nil {
		return nil, err
	}
	return h.clock(), nil
}

func (h *controlHandler) SetClock(_ context.Context, req *mockcontrolsrv.ClockSet) (*mockcontrolsrv.Clock, error) {
	if h.s.proxy != nil {
		return nil, ErrProxyMode
	}
	if err := h.s.SetTime(req.To); err != nil {
		return nil, err
	}
	return h.clock(), nil
}

func (h *controlHandler) ListTransitions(context.Context) ([]mockcontrolsrv.PendingTransition, error) {
	all := h.s.PendingTransitions()
	out := make([]mockcontrolsrv.PendingTransition, len(all))
	for i, p := range all {
		out[i] = mockcontrolsrv.PendingTransition{Kind: string(p.Kind), ID: p.ID, Tenant: p.Tenant, Manual: p.Manual}
	}
	return out, nil
}

func (h *controlHandler) StepTransition(_ context.Context, req *mockcontrolsrv.StepRequest) (*mockcontrolsrv.StepResult, error) {
	if h.s.proxy != nil {
		return nil, ErrProxyMode
	}
	kind, err := h.s.stepKind(req.ID)
	if err != nil {
		return nil, err
	}
	return &mockcontrolsrv.StepResult{Kind: string(kind)}, nil
}

func (h *controlHandler) StepAllTransitions(context.Context) (*mockcontrolsrv.StepAllResult, error) {
	if h.s.proxy != nil {
		return nil, ErrProxyMode
	}
	return &mockcontrolsrv.StepAllResult{Completed: h.s.StepAll()}, nil
}

func (h *controlHandler) ScriptUpgrade(_ context.Context, req *mockcontrolsrv.UpgradeScript) error {
	return h.s.ScriptUpgrade(req.Sandbox, UpgradeScript{
		FailAt:           string(req.FailAt.Or("")),
		Error:            req.Error.Or(""),
		Version:          req.Version.Or(""),
		Delay:            req.Delay.Or(0),
		StepDuration:     req.StepDuration.Or(0),
		DownloadDuration: req.DownloadDuration.Or(0),
		RestartDuration:  req.RestartDuration.Or(0),
		DownloadBytes:    req.DownloadBytes.Or(0),
	})
}

func (h *controlHandler) ListCommands(context.Context) ([]mockcontrolsrv.Command, error) {
	all := h.s.Commands()
	out := make([]mockcontrolsrv.Command, len(all))
	for i, c := range all {
		out[i] = commandToWire(c)
	}
	return out, nil
}

func (h *controlHandler) SetCommand(_ context.Context, req *mockcontrolsrv.Command) (*mockcontrolsrv.Command, error) {
	c := commandFromWire(req)
	if err := h.s.SetCommand(c); err != nil {
		return nil, err
	}
	out := commandToWire(c)
	return &out, nil
}

func (h *controlHandler) ClearCommands(context.Context) error {
	h.s.ClearCommands()
	return nil
}

func commandFromWire(in *mockcontrolsrv.Command) Command {
	return Command{
		Name: in.Name, Sandbox: in.Sandbox.Or(""),
		Stdout: in.Stdout.Or(""), Stderr: in.Stderr.Or(""),
		ExitCode: in.ExitCode.Or(0), Delay: in.Delay.Or(0),
	}
}

func commandToWire(c Command) mockcontrolsrv.Command {
	out := mockcontrolsrv.Command{Name: c.Name}
	optStr(&out.Sandbox, c.Sandbox)
	optStr(&out.Stdout, c.Stdout)
	optStr(&out.Stderr, c.Stderr)
	optInt(&out.ExitCode, c.ExitCode)
	optDur(&out.Delay, c.Delay)
	return out
}

func (h *controlHandler) ListSandboxes(context.Context) ([]mockcontrolsrv.SandboxInfo, error) {
	return convertAll(h.s.Sandboxes(), sandboxToWire), nil
}

func (h *controlHandler) AddSandbox(_ context.Context, req *mockcontrolsrv.SandboxSeed) (*mockcontrolsrv.SandboxInfo, error) {
	id, err := h.s.AddSandbox(req.Tenant.Or(""), sandboxSeedFromWire(req))
	if err != nil {
		return nil, err
	}
	return h.sandbox(id)
}

func (h *controlHandler) sandbox(id string) (*mockcontrolsrv.SandboxInfo, error) {
	in, ok := h.s.Sandbox(id)
	if !ok {
		// Gone already, e.g. a Docker seed whose entrypoint exits at once
		// is still there; one being deleted immediately is not.
		return nil, &notFoundError{msg: "mockserver: no sandbox " + strconv.Quote(id)}
	}
	out := sandboxToWire(in)
	return &out, nil
}

func (h *controlHandler) GetSandbox(_ context.Context, p mockcontrolsrv.GetSandboxParams) (*mockcontrolsrv.SandboxInfo, error) {
	return h.sandbox(p.ID)
}

func (h *controlHandler) FailSandbox(_ context.Context, req mockcontrolsrv.OptFailRequest, p mockcontrolsrv.FailSandboxParams) (*mockcontrolsrv.SandboxInfo, error) {
	if _, err := h.sandbox(p.ID); err != nil {
		return nil, err
	}
	r := req.Or(mockcontrolsrv.FailRequest{})
	if err := h.s.FailSandbox(p.ID, r.Reason.Or(""), r.Message.Or("")); err != nil {
		return nil, stateError(err)
	}
	return h.sandbox(p.ID)
}

func (h *controlHandler) ExitSandbox(_ context.Context, req *mockcontrolsrv.ExitRequest, p mockcontrolsrv.ExitSandboxParams) (*mockcontrolsrv.SandboxInfo, error) {
	if _, err := h.sandbox(p.ID); err != nil {
		return nil, err
	}
	if err := h.s.ExitSandbox(p.ID, req.Code); err != nil {
		return nil, stateError(err)
	}
	return h.sandbox(p.ID)
}

// stateError classifies an error of FailSandbox or ExitSandbox on a
// sandbox that exists: an argument error stays a 400, anything else is a
// state (or runtime) the change does not apply to, a 409.
func stateError(err error) error {
	var input *inputError
	if errors.As(err, &input) {
		return err
	}
	return &conflictError{msg: err.Error(), err: err}
}

func sandboxSeedFromWire(in *mockcontrolsrv.SandboxSeed) SandboxSeed {
	return SandboxSeed{
		ID: in.ID.Or(""), State: in.State.Or(""), Reason: in.Reason.Or(""), Message: in.Message.Or(""),
		ExitCode: in.ExitCode.Or(0), Image: in.Image.Or(""), SnapshotID: in.SnapshotID.Or(""),
		Entrypoint: in.Entrypoint, Metadata: in.Metadata.Or(nil), Env: in.Env.Or(nil),
		CreatedAt: in.CreatedAt.Or(time.Time{}), ExpiresAt: in.ExpiresAt.Or(time.Time{}),
	}
}

func sandboxToWire(in SandboxInfo) mockcontrolsrv.SandboxInfo {
	out := mockcontrolsrv.SandboxInfo{
		ID: in.ID, Tenant: in.Tenant, State: in.State,
		Entrypoint: in.Entrypoint, CreatedAt: in.CreatedAt, LastTransitionAt: in.LastTransitionAt,
	}
	optStr(&out.Reason, in.Reason)
	optStr(&out.Message, in.Message)
	optInt(&out.ExitCode, in.ExitCode)
	optStr(&out.Image, in.Image)
	optStr(&out.SnapshotID, in.SnapshotID)
	optMap(&out.Metadata, in.Metadata)
	optMap(&out.Env, in.Env)
	optTime(&out.ExpiresAt, in.ExpiresAt)
	optStr(&out.PendingTransition, string(in.PendingTransition))
	return out
}

func (h *controlHandler) ListSnapshots(context.Context) ([]mockcontrolsrv.SnapshotInfo, error) {
	return convertAll(h.s.Snapshots(), snapshotToWire), nil
}

func (h *controlHandler) AddSnapshot(_ context.Context, req *mockcontrolsrv.SnapshotSeed) (*mockcontrolsrv.SnapshotInfo, error) {
	id, err := h.s.AddSnapshot(req.Tenant.Or(""), SnapshotSeed{
		ID: req.ID.Or(""), SandboxID: req.SandboxID.Or(""), Name: req.Name.Or(""),
		State: req.State.Or(""), Image: req.Image.Or(""),
	})
	if err != nil {
		return nil, err
	}
	return h.GetSnapshot(context.Background(), mockcontrolsrv.GetSnapshotParams{ID: id})
}

func (h *controlHandler) GetSnapshot(_ context.Context, p mockcontrolsrv.GetSnapshotParams) (*mockcontrolsrv.SnapshotInfo, error) {
	in, ok := h.s.Snapshot(p.ID)
	if !ok {
		return nil, &notFoundError{msg: "mockserver: no snapshot " + strconv.Quote(p.ID)}
	}
	out := snapshotToWire(in)
	return &out, nil
}

func snapshotToWire(in SnapshotInfo) mockcontrolsrv.SnapshotInfo {
	out := mockcontrolsrv.SnapshotInfo{ID: in.ID, Tenant: in.Tenant, State: in.State, CreatedAt: in.CreatedAt}
	optStr(&out.SandboxID, in.SandboxID)
	optStr(&out.Name, in.Name)
	optStr(&out.Reason, in.Reason)
	optStr(&out.Message, in.Message)
	return out
}

func (h *controlHandler) ListControlPlaneSandboxes(context.Context) ([]mockcontrolsrv.ControlPlaneInfo, error) {
	return convertAll(h.s.ControlPlaneSandboxes(), cpToWire), nil
}

func (h *controlHandler) AddControlPlaneSandbox(_ context.Context, req *mockcontrolsrv.ControlPlaneSeed) (*mockcontrolsrv.ControlPlaneInfo, error) {
	tenant := cmpOr(req.Tenant.Or(""), DefaultTenant)
	if err := h.s.AddControlPlaneSandbox(tenant, cpSeedFromWire(req)); err != nil {
		return nil, err
	}
	return h.GetControlPlaneSandbox(context.Background(), mockcontrolsrv.GetControlPlaneSandboxParams{Tenant: tenant, Name: req.Name})
}

func (h *controlHandler) GetControlPlaneSandbox(_ context.Context, p mockcontrolsrv.GetControlPlaneSandboxParams) (*mockcontrolsrv.ControlPlaneInfo, error) {
	in, ok := h.s.ControlPlaneSandbox(p.Tenant, p.Name)
	if !ok {
		return nil, &notFoundError{msg: "mockserver: no control plane sandbox " + strconv.Quote(p.Tenant+"/"+p.Name)}
	}
	out := cpToWire(in)
	return &out, nil
}

func cpSeedFromWire(in *mockcontrolsrv.ControlPlaneSeed) ControlPlaneSeed {
	seed := ControlPlaneSeed{
		Name: in.Name, Status: in.Status.Or(""), Image: in.Image.Or(""), Labels: in.Labels.Or(nil),
		CreatedAt: in.CreatedAt.Or(time.Time{}), LastUsedAt: in.LastUsedAt.Or(time.Time{}),
		Workspace: in.Workspace.Or(""),
	}
	for _, p := range in.Policies {
		seed.Policies = append(seed.Policies, ExpirationPolicy{Type: p.Type, Value: p.Value, Action: p.Action.Or("")})
	}
	return seed
}

func cpToWire(in ControlPlaneInfo) mockcontrolsrv.ControlPlaneInfo {
	out := mockcontrolsrv.ControlPlaneInfo{
		Tenant: in.Tenant, Name: in.Name, Status: in.Status, URL: in.URL,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, LastUsedAt: in.LastUsedAt,
	}
	optStr(&out.Workspace, in.Workspace)
	optStr(&out.Image, in.Image)
	optMap(&out.Labels, in.Labels)
	for _, p := range in.Policies {
		wp := mockcontrolsrv.ExpirationPolicy{Type: p.Type, Value: p.Value}
		optStr(&wp.Action, p.Action)
		out.Policies = append(out.Policies, wp)
	}
	optTime(&out.ExpiresAt, in.ExpiresAt)
	optStr(&out.PendingTransition, string(in.PendingTransition))
	return out
}

func (h *controlHandler) GetJournal(_ context.Context, p mockcontrolsrv.GetJournalParams) (*mockcontrolsrv.Journal, error) {
	f, err := filterFromWire(p.API, p.Operation, p.Method, p.Path, p.Status, p.Tenant, p.SandboxID, p.Faulted)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	if n, ok := p.Last.Get(); ok {
		if n < 1 {
			return nil, invalidf("mockserver: last must be at least 1")
		}
		entries = h.s.lastRequests(f, n)
	} else {
		entries = h.s.Requests(f)
	}
	st := h.s.JournalStats()
	return &mockcontrolsrv.Journal{
		Entries: convertAll(entries, entryToWire),
		Stats: mockcontrolsrv.JournalStats{
			Requests: countToWire(st.Requests), Creations: countToWire(st.Creations),
			Renewals: countToWire(st.Renewals), Deletions: countToWire(st.Deletions),
			Terminated: mockcontrolsrv.NewOptRecordCount(countToWire(st.Terminated)),
		},
	}, nil
}

func countToWire(c RecordCount) mockcontrolsrv.RecordCount {
	return mockcontrolsrv.RecordCount{Recorded: c.Recorded, Dropped: c.Dropped}
}

func (h *controlHandler) CountRequests(_ context.Context, p mockcontrolsrv.CountRequestsParams) (*mockcontrolsrv.Count, error) {
	f, err := filterFromWire(p.API, p.Operation, p.Method, p.Path, p.Status, p.Tenant, p.SandboxID, p.Faulted)
	if err != nil {
		return nil, err
	}
	return &mockcontrolsrv.Count{Count: h.s.Count(f)}, nil
}

// filterFromWire builds a journal filter; an operation name that does not
// exist is an error, as for faults, so a typo cannot count zero silently.
func filterFromWire(api mockcontrolsrv.OptAPI, op, method, path mockcontrolsrv.OptString, status mockcontrolsrv.OptInt,
	tenant, sandboxID mockcontrolsrv.OptString, faulted mockcontrolsrv.OptBool) (Filter, error) {
	f := Filter{
		API: API(api.Or("")), Operation: op.Or(""), Method: method.Or(""), Path: path.Or(""),
		Status: status.Or(0), Tenant: tenant.Or(""), SandboxID: sandboxID.Or(""), Faulted: faulted.Or(false),
	}
	if err := checkOperation(f.API, f.Operation); err != nil {
		return Filter{}, err
	}
	return f, nil
}

func entryToWire(e Entry) mockcontrolsrv.Entry {
	out := mockcontrolsrv.Entry{Time: e.Time, Method: e.Method, Path: e.Path, Status: e.Status, RequestID: e.RequestID}
	optStr(&out.API, string(e.API))
	optStr(&out.Operation, e.Operation)
	optStr(&out.Query, e.Query)
	optStr(&out.Tenant, e.Tenant)
	optStr(&out.SandboxID, e.SandboxID)
	if e.Fault != 0 {
		out.Fault = mockcontrolsrv.NewOptInt64(int64(e.Fault))
	}
	if e.Reset {
		out.Reset = mockcontrolsrv.NewOptBool(true)
	}
	return out
}

func (h *controlHandler) ResetJournal(context.Context) error {
	h.s.ResetJournal()
	return nil
}

func (h *controlHandler) ListCreations(context.Context) ([]mockcontrolsrv.Creation, error) {
	return convertAll(h.s.Creations(), func(c Creation) mockcontrolsrv.Creation {
		out := mockcontrolsrv.Creation{API: string(c.API), ID: c.ID, Tenant: c.Tenant, Time: c.Time}
		optStr(&out.RequestID, c.RequestID)
		optMap(&out.Metadata, c.Metadata)
		return out
	}), nil
}

func (h *controlHandler) CountCreations(_ context.Context, p mockcontrolsrv.CountCreationsParams) (*mockcontrolsrv.CreationCounts, error) {
	return &mockcontrolsrv.CreationCounts{Counts: h.s.CreationCounts(p.Key)}, nil
}

func (h *controlHandler) ListRenewals(_ context.Context, p mockcontrolsrv.ListRenewalsParams) ([]mockcontrolsrv.Renewal, error) {
	return convertAll(h.s.Renewals(p.SandboxID.Or("")), func(r Renewal) mockcontrolsrv.Renewal {
		out := mockcontrolsrv.Renewal{SandboxID: r.SandboxID, Tenant: r.Tenant, Time: r.Time, New: r.New}
		optStr(&out.RequestID, r.RequestID)
		optTime(&out.Old, r.Old)
		return out
	}), nil
}

func (h *controlHandler) ListDeletions(context.Context) ([]mockcontrolsrv.Deletion, error) {
	return convertAll(h.s.Deletions(), func(d Deletion) mockcontrolsrv.Deletion {
		out := mockcontrolsrv.Deletion{API: string(d.API), ID: d.ID, Tenant: d.Tenant, Time: d.Time, Reason: d.Reason}
		optStr(&out.RequestID, d.RequestID)
		return out
	}), nil
}

// Helpers for optional wire fields: zero values stay absent.

func optStr(o *mockcontrolsrv.OptString, v string) {
	if v != "" {
		*o = mockcontrolsrv.NewOptString(v)
	}
}

func optInt(o *mockcontrolsrv.OptInt, v int) {
	if v != 0 {
		*o = mockcontrolsrv.NewOptInt(v)
	}
}

func optDur(o *mockcontrolsrv.OptDuration, v time.Duration) {
	if v != 0 {
		*o = mockcontrolsrv.NewOptDuration(v)
	}
}

func optTime(o *mockcontrolsrv.OptDateTime, v time.Time) {
	if !v.IsZero() {
		*o = mockcontrolsrv.NewOptDateTime(v)
	}
}

func optMap(o *mockcontrolsrv.OptStringMap, v map[string]string) {
	if len(v) > 0 {
		*o = mockcontrolsrv.NewOptStringMap(v)
	}
}

func convertAll[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
