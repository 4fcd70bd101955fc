package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// fakeBackend is a small in-memory lifecycle service for the tests: just
// enough state machine, filtering and expiry rules to exercise waiters,
// creates and renewers. It decodes the metadata filter the way the
// upstream server does: the framework decodes the query parameter, then
// the value is parsed as a query string (decoding keys and values once
// more). Time is time.Now, so inside a synctest bubble it is fake.
//
// It serves over a per-test httpmock transport (in synctest bubbles) or an
// httptest server (real sockets, outside bubbles).
type fakeBackend struct {
	mu    sync.Mutex
	sbx   map[string]*fakeSandbox
	order []string // creation order
	seq   int
	reqs  []fakeRequest

	// startDelay is how long a new sandbox stays Pending.
	startDelay time.Duration
	// hook, if set, sees every request first; returning true means it
	// answered. body is the request body already read.
	hook func(w http.ResponseWriter, r *http.Request, body []byte) bool
	// violations records broken invariants (a GET after expiry, a renewal
	// to an earlier time).
	violations []string
}

type fakeRequest struct {
	method, path, rawQuery string
	header                 http.Header
	body                   string
}

type fakeSandbox struct {
	id         string
	state      lifecycle.State
	reason     string
	message    string
	lastTrans  time.Time
	metadata   map[string]string
	image      string
	snapshotID string
	entrypoint []string
	expiresAt  time.Time
	createdAt  time.Time
	plan       []plannedState
	gone       bool
}

type plannedState struct {
	at      time.Time
	state   lifecycle.State // "" with gone: the record disappears (404)
	reason  string
	message string
	gone    bool
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{sbx: map[string]*fakeSandbox{}, startDelay: 2 * time.Second}
}

// transport returns a per-test httpmock transport served by b.
func (b *fakeBackend) transport() *httpmock.MockTransport {
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, r)
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})
	return mt
}

// client returns a lifecycle client talking to b through an httpmock
// transport.
func (b *fakeBackend) client(t testing.TB, opts ...sandboxkit.Option) *lifecycle.Client {
	t.Helper()
	return newClient(t, b.transport(), opts...)
}

// seed adds a sandbox in state st expiring at exp (zero: never).
func (b *fakeBackend) seed(id string, st lifecycle.State, exp time.Time, metadata map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.sbx[id] = &fakeSandbox{id: id, state: st, lastTrans: now, metadata: metadata, image: "python:3.12",
		entrypoint: []string{"python"}, expiresAt: exp, createdAt: now}
	b.order = append(b.order, id)
}

// then plans state changes for id: each after d from now.
func (b *fakeBackend) then(id string, steps ...plannedState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sbx[id]
	s.plan = append(s.plan, steps...)
}

func after(d time.Duration, st lifecycle.State) plannedState {
	return plannedState{at: time.Now().Add(d), state: st}
}

func goneAfter(d time.Duration) plannedState { return plannedState{at: time.Now().Add(d), gone: true} }

func (b *fakeBackend) set(id string, fn func(s *fakeSandbox)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b.sbx[id])
}

func (b *fakeBackend) live() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for _, id := range b.order {
		if s := b.current(id); s != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func (b *fakeBackend) count(method, pathSuffix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.reqs {
		if r.method == method && strings.HasSuffix(r.path, pathSuffix) {
			n++
		}
	}
	return n
}

func (b *fakeBackend) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.violations)
}

// current applies due planned changes and returns the sandbox, or nil if
// it does not exist (any more). Callers hold b.mu.
func (b *fakeBackend) current(id string) *fakeSandbox {
	s, ok := b.sbx[id]
	if !ok {
		return nil
	}
	now := time.Now()
	for len(s.plan) > 0 && !s.plan[0].at.After(now) {
		p := s.plan[0]
		s.plan = s.plan[1:]
		if p.gone {
			s.gone = true
			continue
		}
		s.state, s.reason, s.message, s.lastTrans = p.state, p.reason, p.message, p.at
	}
	if !s.gone && !s.expiresAt.IsZero() && !now.Before(s.expiresAt) && s.state != lifecycle.StateTerminated {
		s.state, s.reason, s.lastTrans = lifecycle.StateTerminated, "ttl_expiry", s.expiresAt
	}
	if s.gone {
		return nil
	}
	return s
}

type wireStatus struct {
	State            string     `json:"state"`
	Reason           string     `json:"reason,omitempty"`
	Message          string     `json:"message,omitempty"`
	LastTransitionAt *time.Time `json:"lastTransitionAt,omitempty"`
}

type wireImage struct {
	URI string `json:"uri"`
}

type wireSandbox struct {
	ID         string            `json:"id"`
	Image      *wireImage        `json:"image,omitempty"`
	SnapshotID string            `json:"snapshotId,omitempty"`
	Status     wireStatus        `json:"status"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Entrypoint []string          `json:"entrypoint"`
	ExpiresAt  *time.Time        `json:"expiresAt,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
}

func (s *fakeSandbox) wire() wireSandbox {
	w := wireSandbox{
		ID:         s.id,
		SnapshotID: s.snapshotID,
		Status:     wireStatus{State: string(s.state), Reason: s.reason, Message: s.message},
		Metadata:   s.metadata,
		Entrypoint: s.entrypoint,
		CreatedAt:  s.createdAt.UTC(),
	}
	if s.image != "" {
		w.Image = &wireImage{URI: s.image}
	}
	if !s.lastTrans.IsZero() {
		t := s.lastTrans.UTC()
		w.Status.LastTransitionAt = &t
	}
	if !s.expiresAt.IsZero() {
		t := s.expiresAt.UTC()
		w.ExpiresAt = &t
	}
	return w
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", "req-"+strconv.Itoa(status))
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

// parseMetadataFilter decodes the metadata filter the way the upstream
// server does after its framework decoded the parameter: key=value pairs
// joined by '&', each key and value decoded once more (parse_qsl).
func (b *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.reqs = append(b.reqs, fakeRequest{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, header: r.Header.Clone(), body: string(body)})
	hook := b.hook
	b.mu.Unlock()
	if hook != nil && hook(w, r, body) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.serve(w, r, body)
}

func (b *fakeBackend) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get("OPEN-SANDBOX-API-KEY") != testAPIKey {
		writeErr(w, 401, "UNAUTHORIZED", "missing API key")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	now := time.Now()
	switch {
	case len(parts) == 1 && parts[0] == "sandboxes" && r.Method == http.MethodGet:
		b.list(w, r)
	case len(parts) == 1 && parts[0] == "sandboxes" && r.Method == http.MethodPost:
		var req struct {
			Image      *wireImage        `json:"image"`
			SnapshotID string            `json:"snapshotId"`
			Timeout    *int              `json:"timeout"`
			Metadata   map[string]string `json:"metadata"`
			Entrypoint []string          `json:"entrypoint"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeErr(w, 400, "INVALID_REQUEST", err.Error())
			return
		}
		b.seq++
		s := &fakeSandbox{id: fmt.Sprintf("sbx-%d", b.seq), state: lifecycle.StatePending, lastTrans: now,
			metadata: req.Metadata, snapshotID: req.SnapshotID, entrypoint: req.Entrypoint, createdAt: now}
		if req.Image != nil {
			s.image = req.Image.URI
		}
		if req.Timeout != nil {
			s.expiresAt = now.Add(time.Duration(*req.Timeout) * time.Second)
		}
		s.plan = []plannedState{{at: now.Add(b.startDelay), state: lifecycle.StateRunning}}
		b.sbx[s.id] = s
		b.order = append(b.order, s.id)
		w.Header().Set("Location", "/v1/sandboxes/"+s.id)
		writeJSON(w, http.StatusAccepted, s.wire())
	case len(parts) >= 2 && parts[0] == "sandboxes":
		s := b.current(parts[1])
		if s == nil {
			writeErr(w, 404, "NOT_FOUND", "sandbox "+parts[1]+" not found")
			return
		}
		b.sandbox(w, r, s, parts[2:], body, now)
	default:
		writeErr(w, 404, "NOT_FOUND", "no route")
	}
}

func (b *fakeBackend) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size := 1, 20
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("pageSize"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if page < 1 || size < 1 {
		writeErr(w, 400, "INVALID_PARAMETER", "bad page")
		return
	}
	var meta map[string]string
	if raw := q.Get("metadata"); raw != "" {
		var err error
		if meta, err = parseMetadataFilter(raw); err != nil {
			writeErr(w, 400, "INVALID_METADATA_FORMAT", err.Error())
			return
		}
	}
	var items []wireSandbox
	for _, id := range b.order {
		s := b.current(id)
		if s == nil {
			continue
		}
		if st := q["state"]; len(st) > 0 && !slices.ContainsFunc(st, func(x string) bool { return strings.EqualFold(x, string(s.state)) }) {
			continue
		}
		match := true
		for k, v := range meta {
			if got, ok := s.metadata[k]; !ok || got != v {
				match = false
			}
		}
		if match {
			items = append(items, s.wire())
		}
	}
	total := len(items)
	lo, hi := min((page-1)*size, total), min(page*size, total)
	pages := (total + size - 1) / size
	writeJSON(w, 200, map[string]any{
		"items":      append([]wireSandbox{}, items[lo:hi]...),
		"pagination": map[string]any{"page": page, "pageSize": size, "totalItems": total, "totalPages": pages, "hasNextPage": page < pages},
	})
}

func (b *fakeBackend) sandbox(w http.ResponseWriter, r *http.Request, s *fakeSandbox, rest []string, body []byte, now time.Time) {
	op := r.Method + " " + strings.Join(rest, "/")
	switch op {
	case "GET ":
		if !s.expiresAt.IsZero() && now.After(s.expiresAt) && s.state != lifecycle.StateTerminated {
			b.violations = append(b.violations, fmt.Sprintf("%s read after its expiry", s.id))
		}
		writeJSON(w, 200, s.wire())
	case "DELETE ":
		if s.state == lifecycle.StateStopping || s.state == lifecycle.StateTerminated {
			writeErr(w, 409, "CONFLICT", "already stopping")
			return
		}
		s.state, s.lastTrans = lifecycle.StateStopping, now
		s.plan = []plannedState{{at: now.Add(time.Second), state: lifecycle.StateTerminated, reason: "user_delete"}, {at: now.Add(5 * time.Second), gone: true}}
		writeJSON(w, http.StatusNoContent, nil)
	case "POST pause", "POST resume":
		from, via, to := lifecycle.StateRunning, lifecycle.StatePausing, lifecycle.StatePaused
		if rest[0] == "resume" {
			from, via, to = lifecycle.StatePaused, lifecycle.StateResuming, lifecycle.StateRunning
		}
		if s.state != from {
			writeErr(w, 409, "CONFLICT", "sandbox is "+string(s.state))
			return
		}
		s.state, s.lastTrans = via, now
		s.plan = []plannedState{{at: now.Add(time.Second), state: to}}
		writeJSON(w, http.StatusAccepted, nil)
	case "POST renew-expiration":
		var req struct {
			ExpiresAt time.Time `json:"expiresAt"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeErr(w, 400, "INVALID_REQUEST", err.Error())
			return
		}
		switch {
		case !req.ExpiresAt.After(now):
			writeErr(w, 400, "INVALID_EXPIRATION", "expiresAt must be in the future")
			return
		case !s.expiresAt.IsZero() && !req.ExpiresAt.After(s.expiresAt):
			b.violations = append(b.violations, fmt.Sprintf("%s: renewal to %v is not after %v", s.id, req.ExpiresAt, s.expiresAt))
			writeErr(w, 409, "INVALID_EXPIRATION", "expiresAt must be after the current one")
			return
		}
		s.expiresAt = req.ExpiresAt
		writeJSON(w, 200, map[string]time.Time{"expiresAt": req.ExpiresAt.UTC()})
	default:
		writeErr(w, 404, "NOT_FOUND", "no route "+op)
	}
}
