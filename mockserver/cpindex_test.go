package mockserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/internal/gen/controlplanesrv"
)

// bruteCPList is GET /sandboxes as a scan computes it: every sandbox of
// the tenant checked against every filter, the matches sorted and the
// page cut out of them by [cpPage]. It is the reference the indexed
// list must agree with.
func bruteCPList(st *cpStore, tenant string, p controlplanesrv.ListSandboxesParams) (controlplanesrv.SandboxListing, *cpErr) {
	var statuses []string
	if s, ok := p.Status.Get(); ok && s != "" {
		for v := range strings.SplitSeq(s, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains(cpStatuses, v) {
				return controlplanesrv.SandboxListing{}, cpErrorf(http.StatusBadRequest, "", "status %q is not one of %s", v, strings.Join(cpStatuses, ", "))
			}
			statuses = append(statuses, v)
		}
	}
	showTerminated := p.ShowTerminated.Or(false)
	externalID := p.ExternalID.Or("")
	paged := pagedVersion(p.BlaxelVersion)
	q, sort := "", ""
	if paged {
		q = normQuery(p.Q)
		sort = string(p.Sort.Or(""))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var all, items []*cpSandbox
	if t := st.tenants[tenant]; t != nil {
		all = t.order
	}
	for _, sb := range all {
		switch {
		case len(statuses) > 0:
			if !slices.Contains(statuses, sb.status) {
				continue
			}
		case !showTerminated && sb.status == StatusTerminated:
			continue
		}
		if (externalID != "" && sb.externalID != externalID) || !sb.matches(q) {
			continue
		}
		items = append(items, sb)
	}
	render := func(items []*cpSandbox) []controlplanesrv.Sandbox {
		out := []controlplanesrv.Sandbox{}
		for _, sb := range items {
			v := st.view(sb)
			v.Events = nil
			out = append(out, v)
		}
		return out
	}
	if !paged {
		order := cpOrder("")
		slices.SortStableFunc(items, func(a, b *cpSandbox) int { return order(a.key(), b.key()) })
		return controlplanesrv.NewSandboxArraySandboxListing(render(items)), nil
	}
	req := cpPageReq{
		query: strings.Join([]string{"sandboxes", strings.Join(statuses, ","), boolText(showTerminated), externalID, q, sort}, "\x00"),
		sort:  sort, limit: clampLimit(p.Limit, 50, cpMaxLimit), cursor: p.Cursor.Or(""),
		fromEnd: p.Anchor.Or("") == controlplanesrv.AnchorEnd, now: st.srv.clock.Now(),
	}
	page, next, more, err := cpPage(items, (*cpSandbox).key, req)
	if err != nil {
		return controlplanesrv.SandboxListing{}, err
	}
	return controlplanesrv.NewSandboxPageSandboxListing(controlplanesrv.SandboxPage{
		Data: render(page),
		Meta: controlplanesrv.NewOptPageMeta(pageMeta(more, next, len(all))),
	}), nil
}

// cpListing is a list answer in a form to compare: the error, or the
// sandboxes (name and status) and the page's meta.
type cpListing struct {
	Err      string
	Bare     bool
	Items    []string
	HasMore  bool
	Next     string
	Total    int
	Rendered string // the items as the wire carries them
}

func summarize(l controlplanesrv.SandboxListing, err *cpErr) cpListing {
	if err != nil {
		return cpListing{Err: fmt.Sprintf("%d %s %s", err.status, err.code, err.msg)}
	}
	var out cpListing
	items := l.SandboxArray
	if l.IsSandboxPage() {
		items = l.SandboxPage.Data
		m := l.SandboxPage.Meta.Or(controlplanesrv.PageMeta{})
		out.HasMore, out.Next, out.Total = m.HasMore.Or(false), m.NextCursor.Or(""), m.Total.Or(-1)
	} else {
		out.Bare = true
	}
	for _, v := range items {
		out.Items = append(out.Items, v.Metadata.Name+":"+v.Status.Or(""))
		raw, jerr := v.MarshalJSON()
		if jerr != nil {
			panic(jerr)
		}
		out.Rendered += string(raw) + "\n"
	}
	return out
}

// checkCPIndexes checks that both list indexes of st file exactly its
// sandboxes, under their status and external id.
func checkCPIndexes(t *testing.T, st *cpStore) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	var live []*cpSandbox
	for _, tn := range st.tenants {
		if len(tn.order) != len(tn.byName) {
			t.Fatalf("tenant holds %d sandboxes in order, %d by name", len(tn.order), len(tn.byName))
		}
		live = append(live, tn.order...)
	}
	for _, ix := range []*listIndex[*cpSandbox]{st.byCreation, st.byName} {
		checkListIndex(t, ix, live, func(sb *cpSandbox) string { return sb.tenant + "/" + sb.name },
			func(sb *cpSandbox) string { return sb.tenant }, func(sb *cpSandbox) string { return sb.status },
			func(sb *cpSandbox) map[string]string {
				if sb.externalID == "" {
					return nil
				}
				return map[string]string{cpExternalIDLabel: sb.externalID}
			})
	}
}

// TestCPListMatchesScan drives random traffic through the control plane
// store on two tenants (creates, names taken over, updates that change
// the external id, labels and display name, forks, seeds in and out of
// time order and in every status, deletes, policy expiries, retention
// running out, transitions completing by time and by Step) and checks
// after every change that both list indexes file exactly what the store
// holds, and that random list queries (statuses, showTerminated,
// externalId, q, every sort, limits, cursors followed, made up, foreign,
// expired or broken, anchor=end, bare arrays) answer what a scan of every
// sandbox answers, to the byte.
func TestCPListMatchesScan(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runCPListScenario(t, rand.New(rand.NewPCG(seed, 1234)))
		})
	}
}

func runCPListScenario(t *testing.T, rng *rand.Rand) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	modes := []Mode{Immediate(), After(time.Second), After(3 * time.Second), Manual()}
	retentions := []time.Duration{0, 2 * time.Second, 6 * time.Second}
	srv := Start(t, WithManualClock(start), WithRetention(retentions[rng.IntN(len(retentions))]),
		WithTransition(TransitionCPDeploy, modes[rng.IntN(len(modes))]),
		WithTransition(TransitionCPDelete, modes[rng.IntN(len(modes))]))
	st := srv.cp

	tenants := []string{"alpha", "beta"}
	names := []string{"sb-1", "sb-2", "sb-10", "sb-11", "box-a", "box-b", "web", "web-2", "db", "cache", "x1", "x2"}
	externals := []string{"", "", "ext-a", "ext-b", "ext-c"}
	displays := []string{"", "Box One", "the box", "Web front", "DB"}
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	definition := func(name string) *controlplanesrv.Sandbox {
		in := &controlplanesrv.Sandbox{Metadata: controlplanesrv.Metadata{Name: name}}
		if x := pick(externals); x != "" {
			in.Metadata.ExternalID = controlplanesrv.NewOptString(x)
		}
		if d := pick(displays); d != "" {
			in.Metadata.DisplayName = controlplanesrv.NewOptString(d)
		}
		if rng.IntN(2) == 0 {
			in.Metadata.Labels = controlplanesrv.NewOptMetadataLabels(controlplanesrv.MetadataLabels{"team": pick([]string{"core", "Web", "ext"})})
		}
		var lc controlplanesrv.SandboxLifecycle
		if rng.IntN(4) == 0 {
			lc.ExpirationPolicies = []controlplanesrv.ExpirationPolicy{{
				Type:   controlplanesrv.NewOptString(PolicyTTLMaxAge),
				Value:  controlplanesrv.NewOptString(fmt.Sprintf("%ds", 1+rng.IntN(8))),
				Action: controlplanesrv.NewOptString("delete"),
			}}
		}
		if rng.IntN(4) == 0 {
			lc.TerminatedRetention = controlplanesrv.NewOptString(fmt.Sprintf("%ds", 1+rng.IntN(5)))
		}
		if len(lc.ExpirationPolicies) > 0 || lc.TerminatedRetention.Set {
			in.Spec.Lifecycle = controlplanesrv.NewOptSandboxLifecycle(lc)
		}
		return in
	}

	statusWords := append(slices.Clone(cpStatuses), "BOGUS")
	queries := []string{"", "b", "box", " BOX ", "sb-1", "web", "ext", "core", "team", "zz", "ONE"}
	sorts := []controlplanesrv.OptSort{{}, controlplanesrv.NewOptSort(controlplanesrv.SortCreatedAtDesc), controlplanesrv.NewOptSort(controlplanesrv.SortCreatedAtAsc),
		controlplanesrv.NewOptSort(controlplanesrv.SortNameAsc), controlplanesrv.NewOptSort(controlplanesrv.SortNameDesc)}
	// randomCursor is a cursor of query p resuming after a sandbox that
	// may since have gone, one of another query, an expired one or junk.
	randomCursor := func(p controlplanesrv.ListSandboxesParams, bruteQuery string) string {
		switch rng.IntN(8) {
		case 0:
			return "not-a-cursor"
		case 1:
			bruteQuery += "other"
		}
		issued := srv.Now()
		if rng.IntN(8) == 0 {
			issued = issued.Add(-25 * time.Hour)
		}
		after := cpKey{T: start.Add(time.Duration(rng.IntN(40)-5) * time.Second).UnixNano(), Seq: uint64(rng.IntN(int(st.seq) + 2)), Name: pick(names)}
		raw, _ := json.Marshal(cpCursor{Query: fingerprint(bruteQuery), After: after, Issued: issued.Unix()})
		return base64.RawURLEncoding.EncodeToString(raw)
	}

	nonEmpty, pages := 0, 0
	seen := map[string]bool{}
	for step := range 500 {
		tn := pick(tenants)
		var op string
		switch r := rng.IntN(100); {
		case r < 22:
			op = "create"
			_, _ = st.create(tn, tn, "", definition(pick(names)), rng.IntN(4) == 0)
		case r < 32:
			op = "update"
			name := pick(names)
			_, _ = st.update(tn, name, definition(name))
		case r < 42:
			op = "delete"
			_, _ = st.delete(tn, pick(names), "")
		case r < 47:
			op = "fork"
			_, _ = st.fork(tn, "", pick(names), &controlplanesrv.ForkRequest{TargetType: "sandbox", TargetName: pick(names)})
		case r < 57:
			op = "seed"
			seed := ControlPlaneSeed{Name: pick(names), Status: pick(cpStatuses), Labels: map[string]string{"team": pick([]string{"core", "seeded"})}}
			if rng.IntN(2) == 0 { // out of time order, ties included
				seed.CreatedAt = start.Add(time.Duration(rng.IntN(30)-10) * time.Second)
			}
			_ = srv.AddControlPlaneSandbox(tn, seed)
		case r < 67:
			op = "step"
			if rng.IntN(2) == 0 {
				srv.StepAll()
			} else {
				_ = srv.Step(tn + "/" + pick(names))
			}
		default:
			op = "advance"
			if err := srv.Advance(time.Duration(rng.IntN(2500)) * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}

		checkCPIndexes(t, st)

		for range 3 {
			tn := pick(tenants)
			var p controlplanesrv.ListSandboxesParams
			paged := rng.IntN(5) > 0
			if paged {
				p.BlaxelVersion = controlplanesrv.NewOptString(cpPagedVersion)
			}
			if rng.IntN(3) == 0 {
				var ss []string
				for range 1 + rng.IntN(3) {
					ss = append(ss, pick(statusWords[:len(statusWords)-1]))
				}
				if rng.IntN(10) == 0 {
					ss = append(ss, "BOGUS")
				}
				p.Status = controlplanesrv.NewOptString(strings.Join(ss, ","))
			}
			if rng.IntN(2) == 0 {
				p.ShowTerminated = controlplanesrv.NewOptBool(rng.IntN(2) == 0)
			}
			if x := pick(externals); x != "" {
				p.ExternalID = controlplanesrv.NewOptString(x)
			}
			if qq := pick(queries); qq != "" {
				p.Q = controlplanesrv.NewOptString(qq)
			}
			p.Sort = sorts[rng.IntN(len(sorts))]
			if rng.IntN(8) > 0 {
				p.Limit = controlplanesrv.NewOptInt(rng.IntN(6))
			}
			if rng.IntN(6) == 0 {
				p.Anchor = controlplanesrv.NewOptAnchor(controlplanesrv.AnchorEnd)
			}
			if rng.IntN(4) == 0 {
				// The query's fingerprint source, as list builds it.
				var statuses []string
				if s, ok := p.Status.Get(); ok {
					for v := range strings.SplitSeq(s, ",") {
						statuses = append(statuses, strings.TrimSpace(v))
					}
				}
				query := strings.Join([]string{"sandboxes", strings.Join(statuses, ","), boolText(p.ShowTerminated.Or(false)), p.ExternalID.Or(""), normQuery(p.Q), string(p.Sort.Or(""))}, "\x00")
				p.Cursor = controlplanesrv.NewOptString(randomCursor(p, query))
			}
			// Follow the cursors to the end (a few pages at most).
			for page := 0; page < 4; page++ {
				got := summarize(st.list(tn, p))
				want := summarize(bruteCPList(st, tn, p))
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Fatalf("step %d (after %s): list(%s, %+v): -scan +index:\n%s", step, op, tn, p, diff)
				}
				pages++
				if len(got.Items) > 0 {
					nonEmpty++
				}
				for _, it := range got.Items {
					seen[it[strings.LastIndex(it, ":")+1:]] = true
				}
				if !got.HasMore {
					break
				}
				p.Cursor = controlplanesrv.NewOptString(got.Next)
				p.Anchor.Reset()
			}
		}

		// GET /sandboxes/by-external-id/{externalId} against a scan.
		x := pick(externals)
		got, gerr := st.byExternalID(tn, x)
		var want *cpSandbox
		st.mu.Lock()
		if tl := st.tenants[tn]; tl != nil {
			for _, sb := range tl.order {
				if sb.externalID == x && sb.status != StatusTerminated && (want == nil || !sb.createdAt.Before(want.createdAt)) {
					want = sb
				}
			}
		}
		st.mu.Unlock()
		switch {
		case want == nil && gerr == nil:
			t.Fatalf("step %d: byExternalID(%s, %q) = %s, want none", step, tn, x, got.Metadata.Name)
		case want != nil && (gerr != nil || got.Metadata.Name != want.name):
			t.Fatalf("step %d: byExternalID(%s, %q) = %s %v, want %s", step, tn, x, got.Metadata.Name, gerr, want.name)
		}
	}
	if nonEmpty < pages/3 {
		t.Errorf("only %d of %d pages listed anything: the scenario tests little", nonEmpty, pages)
	}
	if len(seen) < 5 {
		t.Errorf("lists showed only the statuses %v", slices.Sorted(maps.Keys(seen)))
	}
}
