package mockserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// Defaults of the control plane's schedules.
const (
	cpDefaultMaxExecutions = 100
	cpDefaultProcessTTL    = 600 // seconds
	cpScheduleListLimit    = 20
	cpScheduleMaxLimit     = 100
)

// cpSchedule is a schedule of a control plane sandbox. The mock runs it:
// when it falls due on the server's clock, its command is submitted to the
// sandbox's API (POST /process) and the run is recorded. Guarded by
// cpStore.mu.
type cpSchedule struct {
	def       controlplanesrv.Schedule // as stored: id, type, value, input, maxExecutions
	cron      *cronSpec
	createdAt time.Time
	seq       uint64
	timer     clock.Timer
}

func (s *cpSchedule) id() string  { return s.def.ID.Or("") }
func (s *cpSchedule) typ() string { return s.def.Type.Or("") }

// cpExecution is one run of a schedule.
type cpExecution struct {
	seq  uint64
	view controlplanesrv.ScheduleExecution
	at   time.Time
}

func (sb *cpSandbox) schedule(id string) (*cpSchedule, int) {
	for i, s := range sb.schedules {
		if s.id() == id {
			return s, i
		}
	}
	return nil, -1
}

// checkSchedule validates a schedule and resolves sleep into at.
func checkSchedule(in *controlplanesrv.Schedule, now time.Time) (controlplanesrv.Schedule, *cronSpec, *cpErr) {
	s := *in
	var cron *cronSpec
	value := s.Value.Or("")
	switch typ := s.Type.Or(""); typ {
	case "cron":
		c, err := parseCron(value)
		if err != nil {
			return s, nil, cpErrorf(http.StatusBadRequest, "", "value: %v", err)
		}
		cron = c
	case "at":
		if _, err := time.Parse(time.RFC3339, value); err != nil {
			return s, nil, cpErrorf(http.StatusBadRequest, "", "value %q is not an RFC 3339 time", value)
		}
	case "sleep":
		d, err := parseTTL(value)
		if err != nil {
			return s, nil, cpErrorf(http.StatusBadRequest, "", "value: %v", err)
		}
		s.Type = controlplanesrv.NewOptString("at")
		s.Value = controlplanesrv.NewOptString(now.Add(d).UTC().Format(time.RFC3339))
	default:
		return s, nil, cpErrorf(http.StatusBadRequest, "", "type %q is not one of cron, at, sleep", typ)
	}
	in2, _ := s.Input.Get()
	if strings.TrimSpace(in2.Command.Or("")) == "" {
		return s, nil, cpErrorf(http.StatusBadRequest, "", "input.command is required")
	}
	if t := in2.Timeout.Or(cpDefaultProcessTTL); t < 0 {
		return s, nil, cpErrorf(http.StatusBadRequest, "", "input.timeout %d must not be negative", t)
	}
	switch n := s.MaxExecutions.Or(0); {
	case n < 0:
		return s, nil, cpErrorf(http.StatusBadRequest, "", "maxExecutions %d must not be negative", n)
	case n == 0:
		s.MaxExecutions = controlplanesrv.NewOptInt(cpDefaultMaxExecutions)
	}
	s.CreatedAt.Reset()
	return s, cron, nil
}

func (st *cpStore) scheduleView(s *cpSchedule) controlplanesrv.Schedule {
	v := s.def
	v.CreatedAt = controlplanesrv.NewOptString(s.createdAt.Format(time.RFC3339))
	return v
}

// armSchedule sets s's timer to its next run, if any. Called with st.mu
// held.
func (st *cpStore) armSchedule(sb *cpSandbox, s *cpSchedule) {
	stopTimer(&s.timer)
	now := st.srv.clock.Now()
	var next time.Time
	switch s.typ() {
	case "cron":
		next = s.cron.next(now)
	case "at":
		t, _ := time.Parse(time.RFC3339, s.def.Value.Or(""))
		if t.After(now) {
			next = t
		}
	}
	if next.IsZero() {
		return
	}
	s.timer = st.srv.clock.AfterFunc(next.Sub(now), func() { st.runSchedule(sb, s, next) })
}

// runSchedule submits s's command to sb's sandbox API and records the run,
// then arms the next one.
func (st *cpStore) runSchedule(sb *cpSandbox, s *cpSchedule, at time.Time) {
	defer st.srv.buryGuests()
	st.mu.Lock()
	if st.srv.closed.Load() || sb.gone() || !slices.Contains(sb.schedules, s) {
		st.mu.Unlock()
		return
	}
	s.timer = nil
	input, _ := s.def.Input.Get()
	timeout := input.Timeout.Or(cpDefaultProcessTTL)
	var g guestAPI
	if sb.status == StatusDeployed {
		g = st.guestLocked(sb)
		sb.lastUsedAt = st.srv.now()
	}
	status := sb.status
	st.mu.Unlock()

	run := controlplanesrv.ScheduleExecution{
		ScheduleID:  s.def.ID,
		ExecutedAt:  controlplanesrv.NewOptString(at.UTC().Format(time.RFC3339)),
		ProcessName: input.Name,
		Timeout:     controlplanesrv.NewOptInt(timeout),
	}
	if g == nil {
		run.StatusCode = controlplanesrv.NewOptInt(0)
		run.Error = controlplanesrv.NewOptString(fmt.Sprintf("sandbox %s is not reachable (it is %s)", sb.name, status))
	} else {
		code, name, msg := submitProcess(g, &input, timeout)
		run.StatusCode = controlplanesrv.NewOptInt(code)
		if name != "" {
			run.ProcessName = controlplanesrv.NewOptString(name)
		}
		if code >= 400 {
			run.Error = controlplanesrv.NewOptString(fmt.Sprintf("sandbox %s refused the command (HTTP %d): %s", sb.name, code, msg))
		}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Contains(sb.schedules, s) {
		return
	}
	sb.nextRun++
	run.ID = controlplanesrv.NewOptString(fmt.Sprintf("%020d", sb.nextRun))
	run.CreatedAt = controlplanesrv.NewOptString(st.srv.now().Format(time.RFC3339))
	sb.runs = append(sb.runs, &cpExecution{seq: sb.nextRun, view: run, at: at})
	// Keep at most maxExecutions runs of this schedule, dropping the
	// oldest.
	keep := s.def.MaxExecutions.Or(cpDefaultMaxExecutions)
	n := 0
	for i := len(sb.runs) - 1; i >= 0; i-- {
		if sb.runs[i].view.ScheduleID.Or("") != s.id() {
			continue
		}
		n++
		if n > keep {
			sb.runs = slices.Delete(sb.runs, i, i+1)
		}
	}
	st.armSchedule(sb, s)
}

// submitProcess starts input's command through the sandbox API handler g
// and returns the answer's status, the process's name and, for a
// failure, the error text.
func submitProcess(g http.Handler, input *controlplanesrv.ScheduleInput, timeout int) (int, string, string) {
	req := map[string]any{"command": input.Command.Or(""), "timeout": timeout}
	if v, ok := input.Name.Get(); ok {
		req["name"] = v
	}
	if v, ok := input.WorkingDir.Get(); ok {
		req["workingDir"] = v
	}
	if v, ok := input.Env.Get(); ok {
		req["env"] = map[string]string(v)
	}
	if v, ok := input.KeepAlive.Get(); ok {
		req["keepAlive"] = v
	}
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, "/process", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := &bufferWriter{header: http.Header{}}
	g.ServeHTTP(w, r)
	code := cmpOr(w.status, http.StatusOK)
	var out struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(w.buf.Bytes(), &out)
	return code, out.Name, out.Error
}

// bufferWriter keeps an answer in memory.
type bufferWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }
func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *bufferWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (st *cpStore) listSchedules(tenant string, p controlplanesrv.ListSandboxSchedulesParams) (controlplanesrv.ScheduleListing, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, p.SandboxName)
	if err != nil {
		return controlplanesrv.ScheduleListing{}, err
	}
	typ := string(p.Type.Or(""))
	paged := pagedVersion(p.BlaxelVersion)
	q := ""
	if paged {
		q = normQuery(p.Q)
	}
	var items []*cpSchedule
	for _, s := range sb.schedules {
		if typ != "" && s.typ() != typ {
			continue
		}
		if q != "" && !scheduleMatches(s, q) {
			continue
		}
		items = append(items, s)
	}
	if !paged {
		out := []controlplanesrv.Schedule{}
		for _, s := range items {
			out = append(out, st.scheduleView(s))
		}
		return controlplanesrv.NewScheduleArrayScheduleListing(out), nil
	}
	sort := string(p.Sort.Or(""))
	req := cpPageReq{
		query: strings.Join([]string{"schedules", sb.name, typ, q, sort}, "\x00"),
		sort:  sort, limit: clampLimit(p.Limit, cpScheduleListLimit, cpScheduleMaxLimit), cursor: p.Cursor.Or(""),
		now: st.srv.clock.Now(),
	}
	page, next, more, perr := cpPage(items, scheduleKey, req)
	if perr != nil {
		return controlplanesrv.ScheduleListing{}, perr
	}
	data := make([]controlplanesrv.Schedule, 0, len(page))
	for _, s := range page {
		data = append(data, st.scheduleView(s))
	}
	return controlplanesrv.NewSchedulePageScheduleListing(controlplanesrv.SchedulePage{
		Data: data, Meta: controlplanesrv.NewOptPageMeta(pageMeta(more, next, len(sb.schedules))),
	}), nil
}

func scheduleKey(s *cpSchedule) cpKey {
	return cpKey{T: s.createdAt.UnixNano(), Seq: s.seq, Name: s.id()}
}

func scheduleMatches(s *cpSchedule, q string) bool {
	in, _ := s.def.Input.Get()
	for _, f := range []string{s.id(), in.Command.Or(""), in.Name.Or("")} {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

func (st *cpStore) createSchedule(tenant, sandbox string, in *controlplanesrv.Schedule) (controlplanesrv.Schedule, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.liveSandbox(tenant, sandbox)
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	def, cron, err := checkSchedule(in, st.srv.clock.Now())
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	id := def.ID.Or("")
	if id == "" {
		for {
			id = "schedule-" + strconv.Itoa(sb.nextSched)
			sb.nextSched++
			if s, _ := sb.schedule(id); s == nil {
				break
			}
		}
		def.ID = controlplanesrv.NewOptString(id)
	} else if s, _ := sb.schedule(id); s != nil {
		return controlplanesrv.Schedule{}, cpErrorf(http.StatusConflict, cpCodeAlreadyExists, "schedule %q of sandbox %q already exists", id, sandbox)
	}
	st.seq++
	s := &cpSchedule{def: def, cron: cron, createdAt: st.srv.now(), seq: st.seq}
	sb.schedules = append(sb.schedules, s)
	st.armSchedule(sb, s)
	return st.scheduleView(s), nil
}

func (st *cpStore) lookupSchedule(tenant, sandbox, id string) (*cpSandbox, *cpSchedule, int, *cpErr) {
	sb, err := st.lookup(tenant, sandbox)
	if err != nil {
		return nil, nil, -1, err
	}
	s, i := sb.schedule(id)
	if s == nil {
		return sb, nil, -1, cpErrorf(http.StatusNotFound, cpCodeNotFound, "schedule %q of sandbox %q not found", id, sandbox)
	}
	return sb, s, i, nil
}

func (st *cpStore) getSchedule(tenant, sandbox, id string) (controlplanesrv.Schedule, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, s, _, err := st.lookupSchedule(tenant, sandbox, id)
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	return st.scheduleView(s), nil
}

func (st *cpStore) updateSchedule(tenant, sandbox, id string, in *controlplanesrv.Schedule) (controlplanesrv.Schedule, *cpErr) {
	if v := in.ID.Or(id); v != id {
		return controlplanesrv.Schedule{}, cpErrorf(http.StatusBadRequest, "", "id %q does not match the path's %q", v, id)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, s, _, err := st.lookupSchedule(tenant, sandbox, id)
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	def, cron, err := checkSchedule(in, st.srv.clock.Now())
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	def.ID = controlplanesrv.NewOptString(id)
	s.def, s.cron = def, cron
	st.armSchedule(sb, s)
	return st.scheduleView(s), nil
}

func (st *cpStore) deleteSchedule(tenant, sandbox, id string) (controlplanesrv.Schedule, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, s, i, err := st.lookupSchedule(tenant, sandbox, id)
	if err != nil {
		return controlplanesrv.Schedule{}, err
	}
	stopTimer(&s.timer)
	sb.schedules = slices.Delete(sb.schedules, i, i+1)
	return st.scheduleView(s), nil
}

func (st *cpStore) listExecutions(tenant string, p controlplanesrv.ListSandboxScheduleExecutionsParams) (controlplanesrv.ScheduleExecutionPage, *cpErr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sb, err := st.lookup(tenant, p.SandboxName)
	if err != nil {
		return controlplanesrv.ScheduleExecutionPage{}, err
	}
	q := normQuery(p.Q)
	var items []*cpExecution
	for _, r := range sb.runs {
		if q != "" && !strings.Contains(strings.ToLower(r.view.ScheduleID.Or("")+"\x00"+r.view.ProcessName.Or("")), q) {
			continue
		}
		items = append(items, r)
	}
	sort := string(p.Sort.Or(""))
	req := cpPageReq{
		query: strings.Join([]string{"executions", sb.name, q, sort}, "\x00"),
		sort:  sort, limit: clampLimit(p.Limit, cpScheduleListLimit, cpScheduleMaxLimit), cursor: p.Cursor.Or(""),
		now: st.srv.clock.Now(),
	}
	page, next, more, perr := cpPage(items, func(r *cpExecution) cpKey {
		return cpKey{T: r.at.UnixNano(), Seq: r.seq, Name: r.view.ID.Or("")}
	}, req)
	if perr != nil {
		return controlplanesrv.ScheduleExecutionPage{}, perr
	}
	data := make([]controlplanesrv.ScheduleExecution, 0, len(page))
	for _, r := range page {
		data = append(data, r.view)
	}
	return controlplanesrv.ScheduleExecutionPage{Data: data, Meta: controlplanesrv.NewOptPageMeta(pageMeta(more, next, len(sb.runs)))}, nil
}

// cronSpec is a parsed 5-field cron expression (minute, hour, day of
// month, month, day of week; UTC). Each field is a set of allowed values.
type cronSpec struct {
	minute, hour, dom, month, dow [64]bool
	domAll, dowAll                bool
}

// parseCron reads numbers, '*', ranges (a-b), steps (*/n, a-b/n) and
// lists (a,b) in each of the five fields; day of week 7 is Sunday.
func parseCron(expr string) (*cronSpec, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("%q is not a 5-field cron expression", expr)
	}
	c := &cronSpec{domAll: f[2] == "*", dowAll: f[4] == "*"}
	for i, field := range []struct {
		set      *[64]bool
		min, max int
	}{{&c.minute, 0, 59}, {&c.hour, 0, 23}, {&c.dom, 1, 31}, {&c.month, 1, 12}, {&c.dow, 0, 7}} {
		if err := parseCronField(f[i], field.min, field.max, field.set); err != nil {
			return nil, fmt.Errorf("%q: field %d: %w", expr, i+1, err)
		}
	}
	if c.dow[7] {
		c.dow[0] = true
	}
	return c, nil
}

func parseCronField(s string, lo, hi int, set *[64]bool) error {
	for part := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return fmt.Errorf("bad step %q", stepText)
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			from, to, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = strconv.Atoi(from); err != nil {
				return fmt.Errorf("bad value %q", from)
			}
			b = a
			if isRange {
				if b, err = strconv.Atoi(to); err != nil {
					return fmt.Errorf("bad value %q", to)
				}
			} else if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return fmt.Errorf("%q is out of range %d-%d", part, lo, hi)
		}
		for v := a; v <= b; v += step {
			set[v] = true
		}
	}
	return nil
}

// next returns the first minute after t that c matches, within about
// five years; zero if none (e.g. February 30).
func (c *cronSpec) next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if !c.month[int(t.Month())] || !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.hour[t.Hour()] {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
			continue
		}
		if !c.minute[t.Minute()] {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

// dayMatches applies cron's rule: when both day fields are restricted,
// either may match.
func (c *cronSpec) dayMatches(t time.Time) bool {
	dom, dow := c.dom[t.Day()], c.dow[int(t.Weekday())]
	switch {
	case c.domAll && c.dowAll:
		return true
	case c.domAll:
		return dow
	case c.dowAll:
		return dom
	}
	return dom || dow
}
