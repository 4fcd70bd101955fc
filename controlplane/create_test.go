package controlplane_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func box(name string) *controlplane.Sandbox {
	return &controlplane.Sandbox{
		Metadata: controlplane.Metadata{Name: name},
		Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
	}
}

func inject(t *testing.T, srv *mockserver.Server, f mockserver.Fault) mockserver.FaultID {
	t.Helper()
	if f.API == "" {
		f.API = mockserver.APIControlPlane
	}
	id, err := srv.InjectFault(f)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A create whose answer is lost after the service made the sandbox (a 502
// from the gateway, a reset connection) is settled by reading the sandbox
// back: the call succeeds with that sandbox and no second one is made.
func TestCreateSettlesALostAnswer(t *testing.T) {
	t.Parallel()
	for _, f := range []mockserver.Fault{
		{Operation: "CreateSandbox", Status: http.StatusBadGateway, AfterCommit: true, Times: 1},
		{Operation: "CreateSandbox", Reset: true, AfterCommit: true, Times: 1},
		{Operation: "CreateSandbox", Status: http.StatusGatewayTimeout, AfterCommit: true, Times: 3},
	} {
		synctest.Test(t, func(t *testing.T) {
			srv, c := startMock(t)
			inject(t, srv, f)
			want := box("lost-answer")
			want.Metadata.ExternalID = "run-1"
			sb, err := c.Create(t.Context(), want, nil)
			if err != nil {
				t.Fatalf("fault %+v: %v", f, err)
			}
			if sb.Metadata.Name != "lost-answer" || sb.Metadata.ExternalID != "run-1" {
				t.Errorf("fault %+v: got %+v", f, sb)
			}
			if n := len(srv.Creations()); n != 1 {
				t.Errorf("fault %+v: %d sandboxes made", f, n)
			}
		})
	}
}

// A create that failed before the service acted (a 502 before commit) is
// sent again once the read-back shows nothing was made.
func TestCreateResendsWhenNothingWasMade(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Status: http.StatusBadGateway, Times: 2})
		sb, err := c.Create(t.Context(), box("resent"), nil)
		if err != nil || sb.Status != controlplane.StatusDeploying {
			t.Fatalf("got %+v, %v", sb, err)
		}
		posts := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: "CreateSandbox"})
		gets := srv.Count(mockserver.Filter{API: mockserver.APIControlPlane, Operation: "GetSandbox"})
		if posts != 3 || gets != 2 || len(srv.Creations()) != 1 {
			t.Errorf("%d POSTs, %d GETs, %d creations; want 3, 2, 1", posts, gets, len(srv.Creations()))
		}

		// Attempts are bounded: then the last error stands (nothing made).
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Status: http.StatusBadGateway})
		_, err = c.Create(t.Context(), box("never"), &controlplane.CreateOptions{MaxAttempts: 2})
		if !errors.Is(err, sandboxkit.ErrUnavailable) || errors.Is(err, sandboxkit.ErrOutcomeUnknown) {
			t.Errorf("every attempt refused: %v, want the 502", err)
		}
	})
}

// When the read-back cannot tell (it fails too), Create says the outcome
// is unknown, naming the sandbox, rather than guessing.
func TestCreateUnknownOutcome(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Status: http.StatusBadGateway, AfterCommit: true, Times: 1})
		inject(t, srv, mockserver.Fault{Operation: "GetSandbox", Status: http.StatusInternalServerError})
		_, err := c.Create(t.Context(), box("unknown"), nil)
		oe, ok := errors.AsType[*sandboxkit.OutcomeError](err)
		if !ok || !errors.Is(err, sandboxkit.ErrOutcomeUnknown) || oe.Op != "controlplane.Create" || oe.Kind != "sandbox" || oe.Token != "unknown" ||
			!errors.Is(err, sandboxkit.ErrUnavailable) || !errors.Is(err, sandboxkit.ErrServer) ||
			!strings.Contains(err.Error(), "after 1 attempt(s)") || !strings.Contains(err.Error(), "reading it back") {
			t.Fatalf("got %v, want an OutcomeError with the 502 and the read-back's 500", err)
		}
		// It was made; EnsureSandbox (or Create with IfNotExist) finishes
		// the job without a second sandbox.
		srv.ClearFaults()
		sb, err := c.EnsureSandbox(t.Context(), box("unknown"), nil)
		if err != nil || sb.Status != controlplane.StatusDeployed || len(srv.Creations()) != 1 {
			t.Errorf("EnsureSandbox after: %+v, %v, %d creations", sb, err, len(srv.Creations()))
		}

		// The caller's context ending with the request in flight is an
		// unknown outcome too.
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Latency: time.Minute, Times: 1})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = c.Create(ctx, box("slow"), nil)
		if oe, ok := errors.AsType[*sandboxkit.OutcomeError](err); !ok || oe.Token != "slow" || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline mid-request: %v, want an OutcomeError wrapping the deadline", err)
		}
	})
}

// After a lost answer, a sandbox of that name that is not the call's own
// (another external id) is a conflict, not a success.
func TestCreateLostAnswerFindsAnotherSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		theirs := box("contested")
		theirs.Metadata.ExternalID = "theirs"
		if _, err := c.Create(t.Context(), theirs, nil); err != nil {
			t.Fatal(err)
		}
		// Our create is lost in a 504 and the read-back finds theirs.
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Status: http.StatusGatewayTimeout, Times: 1})
		ours := box("contested")
		ours.Metadata.ExternalID = "ours"
		if _, err := c.Create(t.Context(), ours, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("got %v, want ErrConflict", err)
		}
		// A plain 409 is someone else's sandbox too, even while it is
		// still being created.
		same := box("contested")
		same.Metadata.ExternalID = "theirs"
		if _, err := c.Create(t.Context(), same, nil); !errors.Is(err, sandboxkit.ErrConflict) {
			t.Errorf("409 while DEPLOYING: %v, want ErrConflict", err)
		}
	})
}

// Issue 12: EnsureSandbox gave up when the create's answer was lost (a
// 502 after the service committed), although the name settled it.
func TestEnsureSandboxSurvivesALostCreateAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		inject(t, srv, mockserver.Fault{Operation: "CreateSandbox", Status: http.StatusBadGateway, AfterCommit: true, Times: 1})
		sb, err := c.EnsureSandbox(t.Context(), box("ensured"), nil)
		if err != nil {
			t.Fatalf("EnsureSandbox after a lost create answer: %v", err)
		}
		if sb.Status != controlplane.StatusDeployed || len(srv.Creations()) != 1 {
			t.Errorf("got %s with %d creations", sb.Status, len(srv.Creations()))
		}
	})
}

// The options are checked before anything is sent, and CreateAndWait
// returns the sandbox it made together with a failed wait.
func TestCreateAndWaitReturnsWhatItMade(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c := startMock(t)
		if _, err := c.CreateAndWait(t.Context(), box("w"), &sandboxkit.WaitOptions{MinDelay: -1}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Fatalf("bad wait options: %v", err)
		}
		if _, err := c.Create(t.Context(), box("w"), &controlplane.CreateOptions{SettleTimeout: -time.Second}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
			t.Fatalf("bad create options: %v", err)
		}
		if n := len(srv.Creations()); n != 0 {
			t.Fatalf("%d sandboxes made with bad options", n)
		}
		inject(t, srv, mockserver.Fault{Operation: "GetSandbox", Status: http.StatusForbidden})
		sb, err := c.CreateAndWait(t.Context(), box("w"), nil)
		if !errors.Is(err, sandboxkit.ErrForbidden) || sb == nil || sb.Metadata.Name != "w" {
			t.Errorf("failed wait: %+v, %v; want the created sandbox and the 403", sb, err)
		}
	})
}

// PreviewHTTPClient hands the preview token only to the preview's own
// origin: not to a redirect target elsewhere, and never over plain http
// when the control plane is https.
func TestPreviewClientKeepsTheTokenToItsOrigin(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(controlplane.PreviewTokenHeader) != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	var got atomic.Value
	preview := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get(controlplane.PreviewTokenHeader))
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	}))
	defer preview.Close()

	c, err := controlplane.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://127.0.0.1:1/v0"), sandboxkit.WithToken("cp-token"))
	if err != nil {
		t.Fatal(err)
	}
	p := &controlplane.Preview{Spec: controlplane.PreviewSpec{URL: preview.URL}}
	tok := &controlplane.PreviewToken{Name: "t", Value: "preview-secret"}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc, err := c.PreviewHTTPClient(p, tok, &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(preview.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Load() != "preview-secret" || leaked.Load() {
		t.Errorf("preview got %q; redirect target got a token: %v", got.Load(), leaked.Load())
	}

	secure, err := controlplane.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("https://api.example.com/v0"), sandboxkit.WithToken("cp-token"))
	if err != nil {
		t.Fatal(err)
	}
	plain := &controlplane.Preview{Spec: controlplane.PreviewSpec{URL: "http://preview.example.com"}}
	if _, err := secure.PreviewHTTPClient(plain, tok, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("http preview behind an https control plane: %v", err)
	}
	if _, err := secure.PreviewHTTPClient(&controlplane.Preview{}, tok, nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("a preview without a URL: %v", err)
	}
	if _, err := p.URLWithToken(&controlplane.PreviewToken{}); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("a token without a value: %v", err)
	}
	for _, s := range []string{tok.String(), tok.GoString()} {
		if strings.Contains(s, "preview-secret") {
			t.Errorf("the token prints its value: %s", s)
		}
	}
}

// OnTransition reports each status change once, and a sandbox that is
// gone as a change to the empty status.
func TestWaitersReportTransitions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c := startMock(t)
		var seen []string
		opts := &sandboxkit.WaitOptions{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
			OnTransition: func(tr sandboxkit.Transition) {
				seen = append(seen, tr.From+">"+tr.To)
				if (tr.To == "") != (tr.Observed == nil) {
					t.Errorf("OnTransition(%+v)", tr)
				}
			}}
		if _, err := c.CreateAndWait(t.Context(), box("t"), opts); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteAndWait(t.Context(), "t", opts); err != nil {
			t.Fatal(err)
		}
		// A sandbox that is not there at all: one observation, gone.
		if sb, err := controlplane.NewWaiter(c, opts).Wait(t.Context(), "never-was", controlplane.StatusTerminated, controlplane.StatusGone); sb != nil || err != nil {
			t.Fatalf("Wait(never-was) = %+v, %v", sb, err)
		}
		want := ">DEPLOYING DEPLOYING>DEPLOYED >DELETING DELETING>TERMINATED >"
		if got := strings.Join(seen, " "); got != want {
			t.Errorf("transitions:\n got %s\nwant %s", got, want)
		}
	})
}
