package controlplane

import (
	"context"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	api "github.com/sandboxkit/sandboxkit/internal/gen/controlplaneapi"
	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// ScheduleType is how a [Schedule] says when it runs.
type ScheduleType string

// The documented schedule types.
const (
	// ScheduleCron runs on a 5-field cron expression ("0 8 * * 1-5").
	ScheduleCron ScheduleType = "cron"
	// ScheduleAt runs once at an RFC 3339 time.
	ScheduleAt ScheduleType = "at"
	// ScheduleSleep runs once after a duration from its creation ("2h");
	// the service stores it as [ScheduleAt].
	ScheduleSleep ScheduleType = "sleep"
)

// Limits of [ScheduleListOptions.Limit] and [ExecutionListOptions.Limit].
const (
	// DefaultScheduleListLimit is the page size the service uses when
	// none is given.
	DefaultScheduleListLimit = 20
	// MaxScheduleListLimit is the largest page size it takes.
	MaxScheduleListLimit = 100
)

// Schedule is a command the service starts in a sandbox at set times,
// whether or not a client is connected.
type Schedule struct {
	// ID identifies the schedule within its sandbox; empty lets the
	// service make one up on creation.
	ID string
	// Type says how Value is read.
	Type ScheduleType
	// Value is a cron expression ([ScheduleCron]), an RFC 3339 time
	// ([ScheduleAt]) or a duration such as "30m" ([ScheduleSleep]).
	Value string
	// Input is the process to start.
	Input ScheduleInput
	// MaxExecutions is how many runs the history keeps (the oldest go
	// first); zero means the service's default, 100.
	MaxExecutions int

	// CreatedAt is when the schedule was made (read-only).
	CreatedAt time.Time

	extra extraFields
}

// ScheduleInput is the process a [Schedule] starts.
type ScheduleInput struct {
	// Command is the shell command to run; it is required.
	Command string
	// Name names the process, to find it and its logs through the
	// sandbox API.
	Name string
	// WorkingDir is the directory the command runs in.
	WorkingDir string
	// Env holds environment variables for the process. The service
	// stores them encrypted and masks them in answers.
	Env map[string]string
	// KeepAlive keeps the sandbox from scaling to zero while the process
	// runs; nil means the service's default (true).
	KeepAlive *bool
	// Timeout bounds the process, in whole seconds; nil means the
	// service's default (10 minutes) and a pointer to zero means none.
	Timeout *time.Duration

	extra extraFields
}

// ScheduleExecution is one run of a schedule.
type ScheduleExecution struct {
	// ID identifies the run within its schedule.
	ID string
	// ScheduleID is the schedule that ran.
	ScheduleID string
	// ExecutedAt is when the command was submitted.
	ExecutedAt time.Time
	// ProcessName is the name of the process it started, to read its
	// logs through the sandbox API.
	ProcessName string
	// StatusCode is the HTTP status of submitting the command to the
	// sandbox: 2xx or 3xx means it was accepted, 0 that the sandbox could
	// not be reached. The service does not wait for the command to end.
	StatusCode int
	// Error says why the run failed; empty when the command was accepted.
	Error string
	// Timeout is the process's time limit; zero means none.
	Timeout time.Duration
	// CreatedAt is when the run was recorded.
	CreatedAt time.Time
}

// ScheduleListOptions filters and pages [Client.ListSchedules] and
// [Client.AllSchedules].
type ScheduleListOptions struct {
	// Type keeps schedules of one type ([ScheduleCron] or [ScheduleAt];
	// sleep schedules are stored as at).
	Type ScheduleType
	// Query keeps the schedules that match it, as [ListOptions.Query].
	Query string
	// Sort orders the list; empty means [SortNewestFirst].
	Sort SortOrder
	// Limit is the page size, 1 to [MaxScheduleListLimit]; 0 means the
	// service's default ([DefaultScheduleListLimit]).
	Limit int
	// Cursor is the [SchedulePage.NextCursor] of the previous page.
	Cursor string
}

// SchedulePage is one page of schedules.
type SchedulePage struct {
	// Items are the schedules of the page.
	Items []*Schedule
	// HasMore reports that more pages follow (see NextCursor).
	HasMore bool
	// NextCursor is the cursor of the next page, or empty.
	NextCursor string
	// Total is the number of schedules, when the service reports it.
	Total int
	// Unpaged reports an older service's plain array of every schedule,
	// to which ListSchedules applied the options itself.
	Unpaged bool
}

// ExecutionListOptions pages [Client.ListScheduleExecutions] and
// [Client.AllScheduleExecutions].
type ExecutionListOptions struct {
	// Query keeps the runs that match it.
	Query string
	// Sort orders the list; empty means [SortNewestFirst].
	Sort SortOrder
	// Limit is the page size, 1 to [MaxScheduleListLimit]; 0 means the
	// service's default ([DefaultScheduleListLimit]).
	Limit int
	// Cursor is the [ExecutionPage.NextCursor] of the previous page.
	Cursor string
}

// ExecutionPage is one page of schedule runs.
type ExecutionPage struct {
	// Items are the runs of the page, newest first by default.
	Items []*ScheduleExecution
	// HasMore reports that more pages follow (see NextCursor).
	HasMore bool
	// NextCursor is the cursor of the next page, or empty.
	NextCursor string
	// Total is the number of runs, when the service reports it.
	Total int
}

// ListSchedules returns one page of the schedules of the sandbox called
// sandbox.
//
// GET /sandboxes/{sandboxName}/schedules
func (c *Client) ListSchedules(ctx context.Context, sandbox string, opts *ScheduleListOptions) (*SchedulePage, error) {
	const op = "controlplane.ListSchedules"
	var o ScheduleListOptions
	if opts != nil {
		o = *opts
	}
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	params := api.ListSandboxSchedulesParams{SandboxName: sandbox, BlaxelVersion: api.NewOptString(PagedAPIVersion)}
	if err := pageParams("ScheduleListOptions", o.Query, o.Sort, o.Limit, o.Cursor, &params.Q, &params.Sort, &params.Limit, &params.Cursor); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	switch o.Type {
	case "":
	case ScheduleCron, ScheduleAt:
		params.Type = api.NewOptListSandboxSchedulesType(api.ListSandboxSchedulesType(o.Type))
	default:
		return nil, glue.Wrap(ctx, op, invalid("ScheduleListOptions.Type", string(o.Type), "must be cron or at"))
	}
	res, err := c.api.ListSandboxSchedules(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if res.IsSchedulePage() {
		p := &res.SchedulePage
		page := &SchedulePage{Items: make([]*Schedule, 0, len(p.Data))}
		for i := range p.Data {
			page.Items = append(page.Items, scheduleFromAPI(&p.Data[i]))
		}
		if m, ok := p.Meta.Get(); ok {
			page.HasMore, page.NextCursor, page.Total = m.HasMore.Or(false), m.NextCursor.Or(""), m.Total.Or(0)
		}
		if page.HasMore && page.NextCursor == "" {
			return nil, glue.Wrap(ctx, op, errNoCursor)
		}
		return page, nil
	}
	// An older service: everything at once; page it here.
	var items []*Schedule
	for i := range res.ScheduleArray {
		s := scheduleFromAPI(&res.ScheduleArray[i])
		if o.Type == "" || s.Type == o.Type {
			items = append(items, s)
		}
	}
	page := &SchedulePage{Unpaged: true, Total: len(res.ScheduleArray)}
	page.Items, page.HasMore, page.NextCursor = offsetPage(items, o.Cursor, cmpOr(o.Limit, DefaultScheduleListLimit))
	return page, nil
}

// AllSchedules iterates over every schedule of the sandbox called sandbox
// that matches opts, page after page (opts is copied). An error is
// yielded once, with a nil schedule, and ends the iteration.
//
// GET /sandboxes/{sandboxName}/schedules, once per page
func (c *Client) AllSchedules(ctx context.Context, sandbox string, opts *ScheduleListOptions) iter.Seq2[*Schedule, error] {
	var o ScheduleListOptions
	if opts != nil {
		o = *opts
	}
	return walkPages(func() ([]*Schedule, bool, error) {
		p, err := c.ListSchedules(ctx, sandbox, &o)
		if err != nil {
			return nil, false, err
		}
		o.Cursor = p.NextCursor
		return p.Items, p.HasMore, nil
	}, func(s *Schedule) string { return s.ID })
}

// CreateSchedule adds s to the sandbox called sandbox and returns it as
// stored, with its ID. A [ScheduleSleep] comes back as [ScheduleAt].
//
// POST /sandboxes/{sandboxName}/schedules
func (c *Client) CreateSchedule(ctx context.Context, sandbox string, s *Schedule) (*Schedule, error) {
	const op = "controlplane.CreateSchedule"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := validateSchedule(s, false); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.CreateSandboxSchedule(ctx, scheduleToAPI(s), api.CreateSandboxScheduleParams{SandboxName: sandbox})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return scheduleFromAPI(res), nil
}

// GetSchedule returns the schedule with id of the sandbox called sandbox.
//
// GET /sandboxes/{sandboxName}/schedules/{scheduleId}
func (c *Client) GetSchedule(ctx context.Context, sandbox, id string) (*Schedule, error) {
	const op = "controlplane.GetSchedule"
	if err := validateSchedulePath(sandbox, id); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.GetSandboxSchedule(ctx, api.GetSandboxScheduleParams{SandboxName: sandbox, ScheduleID: id})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return scheduleFromAPI(res), nil
}

// UpdateSchedule replaces the schedule s.ID of the sandbox called
// sandbox with s. Unknown fields of a schedule read from the service are
// sent back as they were.
//
// PUT /sandboxes/{sandboxName}/schedules/{scheduleId}
func (c *Client) UpdateSchedule(ctx context.Context, sandbox string, s *Schedule) (*Schedule, error) {
	const op = "controlplane.UpdateSchedule"
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	if err := validateSchedule(s, true); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.UpdateSandboxSchedule(ctx, scheduleToAPI(s), api.UpdateSandboxScheduleParams{SandboxName: sandbox, ScheduleID: s.ID})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return scheduleFromAPI(res), nil
}

// DeleteSchedule deletes the schedule with id of the sandbox called
// sandbox and returns it as it was.
//
// DELETE /sandboxes/{sandboxName}/schedules/{scheduleId}
func (c *Client) DeleteSchedule(ctx context.Context, sandbox, id string) (*Schedule, error) {
	const op = "controlplane.DeleteSchedule"
	if err := validateSchedulePath(sandbox, id); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.DeleteSandboxSchedule(ctx, api.DeleteSandboxScheduleParams{SandboxName: sandbox, ScheduleID: id})
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	return scheduleFromAPI(res), nil
}

// ListScheduleExecutions returns one page of the runs of every schedule
// of the sandbox called sandbox, newest first.
//
// GET /sandboxes/{sandboxName}/schedule-executions
func (c *Client) ListScheduleExecutions(ctx context.Context, sandbox string, opts *ExecutionListOptions) (*ExecutionPage, error) {
	const op = "controlplane.ListScheduleExecutions"
	var o ExecutionListOptions
	if opts != nil {
		o = *opts
	}
	if err := validateName(sandbox); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	params := api.ListSandboxScheduleExecutionsParams{SandboxName: sandbox}
	if err := pageParams("ExecutionListOptions", o.Query, o.Sort, o.Limit, o.Cursor, &params.Q, &params.Sort, &params.Limit, &params.Cursor); err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	res, err := c.api.ListSandboxScheduleExecutions(ctx, params)
	if err != nil {
		return nil, glue.Wrap(ctx, op, err)
	}
	page := &ExecutionPage{Items: make([]*ScheduleExecution, 0, len(res.Data))}
	for _, e := range res.Data {
		page.Items = append(page.Items, &ScheduleExecution{
			ID:          e.ID.Or(""),
			ScheduleID:  e.ScheduleID.Or(""),
			ExecutedAt:  parseTime(e.ExecutedAt.Or("")),
			ProcessName: e.ProcessName.Or(""),
			StatusCode:  e.StatusCode.Or(0),
			Error:       e.Error.Or(""),
			Timeout:     time.Duration(e.Timeout.Or(0)) * time.Second,
			CreatedAt:   parseTime(e.CreatedAt.Or("")),
		})
	}
	if m, ok := res.Meta.Get(); ok {
		page.HasMore, page.NextCursor, page.Total = m.HasMore.Or(false), m.NextCursor.Or(""), m.Total.Or(0)
	}
	if page.HasMore && page.NextCursor == "" {
		return nil, glue.Wrap(ctx, op, errNoCursor)
	}
	return page, nil
}

// AllScheduleExecutions iterates over every run of the schedules of the
// sandbox called sandbox, page after page (opts is copied). An error is
// yielded once, with a nil run, and ends the iteration.
//
// GET /sandboxes/{sandboxName}/schedule-executions, once per page
func (c *Client) AllScheduleExecutions(ctx context.Context, sandbox string, opts *ExecutionListOptions) iter.Seq2[*ScheduleExecution, error] {
	var o ExecutionListOptions
	if opts != nil {
		o = *opts
	}
	return walkPages(func() ([]*ScheduleExecution, bool, error) {
		p, err := c.ListScheduleExecutions(ctx, sandbox, &o)
		if err != nil {
			return nil, false, err
		}
		o.Cursor = p.NextCursor
		return p.Items, p.HasMore, nil
	}, func(e *ScheduleExecution) string { return e.ScheduleID + "/" + e.ID })
}

// walkPages yields the items of page after page from next until a page
// says there are no more, skipping items whose key was seen.
func walkPages[T any](next func() ([]T, bool, error), key func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		seen := map[string]bool{}
		for {
			items, more, err := next()
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if k := key(it); k != "" {
					if seen[k] {
						continue
					}
					seen[k] = true
				}
				if !yield(it, nil) {
					return
				}
			}
			if !more || len(items) == 0 {
				return
			}
		}
	}
}

// offsetPage cuts a page of limit items at the offset a local cursor
// names (see localCursorPrefix).
func offsetPage[T any](items []T, cursor string, limit int) ([]T, bool, string) {
	start, _ := strconv.Atoi(strings.TrimPrefix(cursor, localCursorPrefix))
	start = max(start, 0)
	if start >= len(items) {
		return []T{}, false, ""
	}
	end := min(start+limit, len(items))
	if end < len(items) {
		return items[start:end], true, localCursorPrefix + strconv.Itoa(end)
	}
	return items[start:end], false, ""
}

// pageParams checks and sets the common search and paging parameters of
// the schedule lists.
func pageParams(field, query string, sort SortOrder, limit int, cursor string, q *api.OptString, s *api.OptSort, l *api.OptInt, cur *api.OptString) error {
	if utf8.RuneCountInString(query) > maxQueryLength {
		return invalid(field+".Query", "", "is longer than 200 characters")
	}
	if query != "" {
		*q = api.NewOptString(query)
	}
	switch sort {
	case "":
	case SortNewestFirst, SortOldestFirst, SortNameAsc, SortNameDesc:
		*s = api.NewOptSort(api.Sort(sort))
	default:
		return invalid(field+".Sort", string(sort), "must be createdAt:desc, createdAt:asc, name:asc or name:desc")
	}
	switch {
	case limit < 0 || limit > MaxScheduleListLimit:
		return invalid(field+".Limit", strconv.Itoa(limit), "must be between 1 and 100 (or 0 for the service's default)")
	case limit > 0:
		*l = api.NewOptInt(limit)
	}
	if cursor != "" {
		if err := validateCursor(field+".Cursor", cursor); err != nil {
			return err
		}
		*cur = api.NewOptString(cursor)
	}
	return nil
}

func validateSchedulePath(sandbox, id string) error {
	if err := validateName(sandbox); err != nil {
		return err
	}
	return glue.ValidateID("schedule id", id)
}

// validateSchedule checks a schedule to send; needID for an update.
func validateSchedule(s *Schedule, needID bool) error {
	if s == nil {
		return invalid("schedule", "", "must not be nil")
	}
	if needID || s.ID != "" {
		if err := glue.ValidateID("schedule id", s.ID); err != nil {
			return err
		}
	}
	switch s.Type {
	case ScheduleCron:
		if n := len(strings.Fields(s.Value)); n != 5 {
			return invalid("schedule.value", s.Value, "must be a 5-field cron expression such as \"0 8 * * 1-5\"")
		}
	case ScheduleAt:
		if _, err := time.Parse(time.RFC3339Nano, s.Value); err != nil {
			return invalid("schedule.value", s.Value, `must be an RFC 3339 time such as "2026-07-01T09:00:00Z"`)
		}
	case ScheduleSleep:
		if _, err := ParseDuration(s.Value); err != nil {
			return invalid("schedule.value", s.Value, durationReason)
		}
	default:
		return invalid("schedule.type", string(s.Type), "must be cron, at or sleep")
	}
	if strings.TrimSpace(s.Input.Command) == "" {
		return invalid("schedule.input.command", "", "must not be empty")
	}
	if s.MaxExecutions < 0 {
		return invalid("schedule.maxExecutions", strconv.Itoa(s.MaxExecutions), "must not be negative")
	}
	if t := s.Input.Timeout; t != nil && (*t < 0 || *t%time.Second != 0) {
		return invalid("schedule.input.timeout", t.String(), "must be a whole number of seconds, zero or more")
	}
	return nil
}
