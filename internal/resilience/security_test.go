package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// Credentials of the security tests: distinctive, with characters that
// JSON encoders ('/') and URL encoders ('/', '+', '=') rewrite.
const (
	secAPIKey    = "osk-sec-Hv3Jq8Wd2Lx7Rb5N/k+Z"
	secToken     = "bl-sec-Tm4Px9Ke6Qa2Yc8U/g=V"
	secWorkspace = "team-sec"
	// Credentials a lifecycle endpoint names for reaching a sandbox port.
	secSecureAccess = "sa-sec-Rw2Kd7Hq4Nv9Bx1T"
	secIngressRoute = "sbx1-8080-k2x9a-Jc6Vn3Lp8Qz5"
)

// credentialHeaders are the headers that carry credentials; none may
// cross to another origin.
var credentialHeaders = []string{
	sandboxkit.HeaderAPIKey, "Authorization", sandboxkit.HeaderBlaxelAuthorization, sandboxkit.HeaderWorkspace, "Cookie",
	sandboxkit.HeaderSecureAccess, sandboxkit.HeaderIngressTo,
}

// endpointHeaders attach a lifecycle endpoint's headers to a sandbox API
// client, as its documentation says: as credentials.
var endpointHeaders = []sandboxkit.Option{
	sandboxkit.WithHeader(sandboxkit.HeaderSecureAccess, secSecureAccess),
	sandboxkit.WithCredentialHeader(sandboxkit.HeaderIngressTo, secIngressRoute),
}

// leaks reports how text shows a credential: whole, JSON-escaped,
// URL-escaped, or as any 8-byte piece of it (a cut credential still
// leaks its start).
func leaks(text string) []string {
	var found []string
	for _, secret := range []string{secAPIKey, secToken, secSecureAccess, secIngressRoute} {
		for _, form := range []string{secret, strings.ReplaceAll(secret, "/", `\/`), url.QueryEscape(secret), url.PathEscape(secret), uEscaped(secret)} {
			if strings.Contains(text, form) {
				found = append(found, fmt.Sprintf("%q", form))
			}
		}
		for i := 0; i+8 <= len(secret); i++ {
			if piece := secret[i : i+8]; strings.Contains(text, piece) {
				found = append(found, fmt.Sprintf("piece %q of %q", piece, secret))
				break
			}
		}
	}
	return found
}

// uEscaped writes every character of s as \uXXXX, as a JSON encoder
// may.
func uEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// fastRetries keeps the tests that talk to real sockets quick: one retry,
// waits of a millisecond whatever Retry-After says.
var fastRetries = sandboxkit.WithRetry(sandboxkit.RetryPolicy{
	MaxRetries: 1, MinDelay: time.Millisecond, MaxDelay: time.Millisecond, RetryAfterCap: time.Millisecond,
})

// echoShape is how a careless server puts the request's headers in its
// error answers.
type echoShape func(status int, dump string) string

var echoShapes = map[string]echoShape{
	"lifecycle json": func(status int, dump string) string {
		return jsonText(map[string]any{"code": "ECHO " + dump, "message": "you sent " + dump})
	},
	"control plane json": func(status int, dump string) string {
		return jsonText(map[string]any{"error": "you sent " + dump, "code": status})
	},
	"nested json": func(status int, dump string) string {
		return jsonText(map[string]any{"error": map[string]any{"code": "E", "message": dump}})
	},
	// The control plane gateway's envelope.
	"gateway envelope": func(status int, dump string) string {
		return jsonText(map[string]any{"error": map[string]any{"code": "UPSTREAM_ERROR", "message": "upstream said " + dump,
			"status": status, "retryable": true, "action": "retry " + dump}})
	},
	// A FastAPI validation report, which repeats the request in "input".
	"validation report": func(status int, dump string) string {
		return jsonText(map[string]any{"detail": []any{map[string]any{"type": "missing", "loc": []any{"body", "x"},
			"msg": "Field required", "input": map[string]any{"headers": dump}}}})
	},
	// Python's encoder with ensure_ascii and Go's with HTML escaping: every
	// character of the dump as \uXXXX.
	"unicode-escaped json": func(status int, dump string) string {
		return `{"message":"you sent ` + uEscaped(dump) + `"}`
	},
	// An encoder that escapes '/' as "\/".
	"escaped json": func(status int, dump string) string {
		return strings.ReplaceAll(jsonText(map[string]any{"error": dump}), "/", `\/`)
	},
	"text": func(status int, dump string) string { return "error: you sent " + dump },
	// The credential straddles the 512-byte cut of a message.
	"long message": func(status int, dump string) string {
		return jsonText(map[string]any{"message": padTo(512, dump) + dump})
	},
	// The credential straddles the 64 KiB cut of a body.
	"huge body": func(status int, dump string) string {
		return padTo(sandboxkit.MaxErrorBodySize, dump) + dump
	},
}

// padTo returns the padding that puts the first credential of dump ten
// bytes before offset cut.
func padTo(cut int, dump string) string {
	_, value, _ := strings.Cut(dump, ": ")
	return strings.Repeat("p", max(0, cut-(len(dump)-len(value))-10))
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// echoServer answers every request with status and an error body, in
// shape, that repeats the request's credential headers; it also puts them
// in X-Request-ID, as some debugging proxies do.
type echoServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	shape  echoShape
}

func newEchoServer(t *testing.T) *echoServer {
	e := &echoServer{status: http.StatusInternalServerError, shape: echoShapes["text"]}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		status, shape := e.status, e.shape
		e.mu.Unlock()
		var dump []string
		for _, h := range credentialHeaders {
			if v := r.Header.Get(h); v != "" {
				dump = append(dump, h+": "+v)
			}
		}
		text := strings.Join(dump, "; ")
		w.Header().Set(sandboxkit.HeaderRequestID, "req "+strings.NewReplacer("\r", "", "\n", "").Replace(text))
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, shape(status, text))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) set(status int, shape echoShape) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status, e.shape = status, shape
}

// facadeCalls returns calls of every façade against the echo server;
// each returns its error.
func facadeCalls(t *testing.T, e *echoServer, logger *slog.Logger) map[string]func(context.Context) error {
	t.Helper()
	common := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(e.Client()), sandboxkit.WithLogger(logger), fastRetries}
	lc, err := lifecycle.New(append(common, sandboxkit.WithBaseURL(e.URL+"/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(common, sandboxkit.WithBaseURL(e.URL+"/v0"), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace))...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.New(slices.Concat(common, endpointHeaders, []sandboxkit.Option{sandboxkit.WithBaseURL(e.URL + "/sbx"), sandboxkit.WithToken(secToken)})...)
	if err != nil {
		t.Fatal(err)
	}
	cpSandbox, err := cp.SandboxClient(&controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box", URL: e.URL + "/cp/box"}}, endpointHeaders...)
	if err != nil {
		t.Fatal(err)
	}
	// Lifecycle sandbox API clients carry the lifecycle key as a token,
	// and the endpoint's headers.
	lcSandbox, err := sandbox.New(slices.Concat(common, endpointHeaders,
		[]sandboxkit.Option{sandboxkit.WithBaseURL(e.URL + "/sandboxes/abc/port/8080"), sandboxkit.WithToken(secAPIKey)})...)
	if err != nil {
		t.Fatal(err)
	}
	noWait := &sandboxkit.WaitOptions{MinDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxTransient: -1}
	cpNoWait := noWait
	box := func() *controlplane.Sandbox {
		return &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box"},
			Spec: controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}}}
	}
	img := &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits()}
	calls := map[string]func(context.Context) error{
		"lifecycle.Get":  func(ctx context.Context) error { _, err := lc.Get(ctx, "abc"); return err },
		"lifecycle.List": func(ctx context.Context) error { _, err := lc.List(ctx, nil); return err },
		"lifecycle.Create": func(ctx context.Context) error {
			// A deadline shorter than Create's backoff: it looks the
			// token up at once instead of waiting.
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			_, err := lc.Create(ctx, img, &lifecycle.CreateOptions{MaxAttempts: 1})
			return err
		},
		"lifecycle.Renew": func(ctx context.Context) error {
			_, err := lc.Renew(ctx, "abc", time.Now().Add(time.Hour))
			return err
		},
		"lifecycle.PauseAndWait": func(ctx context.Context) error { _, err := lc.PauseAndWait(ctx, "abc", noWait); return err },
		"lifecycle.DeleteAndWait": func(ctx context.Context) error {
			return lc.DeleteAndWait(ctx, "abc", noWait)
		},
		"lifecycle.Waiter.Wait": func(ctx context.Context) error {
			_, err := lifecycle.NewWaiter(lc, noWait).Wait(ctx, "abc", lifecycle.StateRunning)
			return err
		},
		"lifecycle.Endpoint": func(ctx context.Context) error { _, err := lc.Endpoint(ctx, "abc", 8080, nil); return err },
		"lifecycle.CreateSnapshot": func(ctx context.Context) error {
			_, err := lc.CreateSnapshot(ctx, "abc", nil)
			return err
		},
		"controlplane.Get":    func(ctx context.Context) error { _, err := cp.Get(ctx, "box", nil); return err },
		"controlplane.List":   func(ctx context.Context) error { _, err := cp.List(ctx, nil); return err },
		"controlplane.Create": func(ctx context.Context) error { _, err := cp.Create(ctx, box(), nil); return err },
		"controlplane.Delete": func(ctx context.Context) error { _, err := cp.Delete(ctx, "box"); return err },
		"controlplane.ExtendTTL": func(ctx context.Context) error {
			_, err := cp.ExtendTTL(ctx, "box", time.Hour, nil)
			return err
		},
		"controlplane.Waiter.Wait": func(ctx context.Context) error {
			_, err := controlplane.NewWaiter(cp, cpNoWait).Wait(ctx, "box", controlplane.StatusDeployed)
			return err
		},
		"controlplane.EnsureSandbox": func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := cp.EnsureSandbox(ctx, box(), &controlplane.EnsureOptions{Wait: cpNoWait})
			return err
		},
	}
	for name, sc := range map[string]*sandbox.Client{"sandbox": sc, "controlplane.SandboxClient": cpSandbox, "lifecycle sandbox": lcSandbox} {
		calls[name+".Health"] = func(ctx context.Context) error { _, err := sc.Health(ctx); return err }
		calls[name+".Read"] = func(ctx context.Context) error { _, err := sc.Read(ctx, "/etc/hosts"); return err }
		calls[name+".Write"] = func(ctx context.Context) error { return sc.Write(ctx, "/tmp/a", "x", nil) }
		calls[name+".Exec"] = func(ctx context.Context) error {
			_, err := sc.Exec(ctx, &sandbox.ExecRequest{Command: "true"})
			return err
		}
		calls[name+".Run"] = func(ctx context.Context) error { _, err := sc.Run(ctx, "true", nil); return err }
		calls[name+".Remove"] = func(ctx context.Context) error { return sc.Remove(ctx, "/tmp/a", nil) }
		calls[name+".Open"] = func(ctx context.Context) error {
			r, err := sc.Open(ctx, "/tmp/a")
			if r != nil {
				_ = r.Close()
			}
			return err
		}
	}
	return calls
}

// TestSecretsNotInErrorsOrLogs calls every façade against a server that
// echoes the request's credentials in every error answer (body, in the
// shapes of the three APIs and as text, and X-Request-ID), with every
// error status, and searches the errors (printed every way) and the debug
// log for the credentials.
func TestSecretsNotInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	// The statuses that take different paths: refused (4xx), retried
	// (429, 503, 502/504 for safe methods), ambiguous for a create (5xx).
	statuses := []int{400, 401, 404, 409, 429, 500, 502, 503}
	shapes := slices.Sorted(maps.Keys(echoShapes))
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	var apiErrors, redactions, sent int
	// One group of calls per façade, each with a server of its own, in
	// parallel.
	groups := map[string][]string{}
	for name := range facadeCalls(t, newEchoServer(t), logger) {
		facade := name[:strings.LastIndexByte(name, '.')]
		groups[facade] = append(groups[facade], name)
	}
	t.Run("group", func(t *testing.T) {
		for facade, names := range groups {
			t.Run(facade, func(t *testing.T) {
				t.Parallel()
				e := newEchoServer(t)
				calls := facadeCalls(t, e, logger)
				slices.Sort(names)
				// Every call meets every status and most shapes: the shape
				// turns with the call and the status.
				for i, name := range names {
					for j, status := range statuses {
						shapeName := shapes[(i+j)%len(shapes)]
						if shapeName == "huge body" && i%3 != 0 {
							shapeName = "text" // 64 KiB answers are slow under -race; a third of the calls get them
						}
						e.set(status, echoShapes[shapeName])
						err := calls[name](t.Context())
						mu.Lock()
						sent++
						mu.Unlock()
						if err == nil && name == "lifecycle.DeleteAndWait" && status == http.StatusNotFound {
							continue // a sandbox that is gone counts as deleted
						}
						if err == nil {
							t.Errorf("%s with %d (%s): no error", name, status, shapeName)
							continue
						}
						texts := map[string]string{"%v": fmt.Sprintf("%v", err), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err)}
						if apiErr, ok := errors.AsType[*sandboxkit.APIError](err); ok {
							texts["Code"], texts["Message"], texts["RequestID"], texts["Body"] = apiErr.Code, apiErr.Message, apiErr.RequestID, string(apiErr.Body)
							mu.Lock()
							apiErrors++
							if strings.Contains(string(apiErr.Body)+apiErr.RequestID, "[REDACTED]") {
								redactions++
							}
							mu.Unlock()
						}
						for what, text := range texts {
							if l := leaks(text); l != nil {
								t.Errorf("%s with %d (%s): %s of %T shows %v: %.300s", name, status, shapeName, what, err, l, text)
							}
						}
					}
				}
			})
		}
	})
	if l := leaks(logs.String()); l != nil {
		t.Errorf("the debug log shows %v", l)
	}
	if !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("no retry was logged; the log check saw nothing")
	}
	if apiErrors == 0 || redactions == 0 {
		t.Errorf("%d API errors, %d with a redaction: the echo did not reach the errors", apiErrors, redactions)
	}
	t.Logf("%d calls, %d API errors checked (%d with a redaction), %d bytes of debug log",
		sent, apiErrors, redactions, len(logs.String()))
}

// TestSecretsNotPrinted prints every client and configuration every way
// fmt and slog can.
func TestSecretsNotPrinted(t *testing.T) {
	t.Parallel()
	opts := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(&http.Client{Transport: &countingTransport{}})}
	lc, err := lifecycle.New(append(opts, sandboxkit.WithBaseURL("http://lc.test/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(opts, sandboxkit.WithBaseURL("https://cp.test/v0"), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace))...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.New(append(opts, sandboxkit.WithBaseURL("http://sbx.test"), sandboxkit.WithToken(secToken))...)
	if err != nil {
		t.Fatal(err)
	}
	fromCP, err := cp.SandboxClient(&controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box", URL: "https://box.sbx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sandboxkit.NewConfig(sandboxkit.Lifecycle, append(opts, sandboxkit.WithBaseURL("http://lc.test/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"lifecycle.Client": lc, "*lifecycle.Client": *lc, "lifecycle Config": lc.Config(), "lifecycle http.Client": lc.Config().HTTPClient(),
		"controlplane.Client": cp, "controlplane Config": cp.Config(), "controlplane http.Client": cp.Config().HTTPClient(),
		"sandbox.Client": sc, "sandbox Config": sc.Config(), "sandbox http.Client": sc.Config().HTTPClient(),
		"SandboxClient": fromCP, "SandboxClient Config": fromCP.Config(),
		"sandboxkit.Config": cfg, "*sandboxkit.Config": *cfg, "transport": cfg.HTTPClient().Transport,
	}
	logs := &lockedBuffer{}
	jsonLog := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	textLog := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			if l := leaks(fmt.Sprintf(verb, v)); l != nil {
				t.Errorf("%s printed with %s shows %v", name, verb, l)
			}
		}
		jsonLog.Info("value", "v", v)
		textLog.Info("value", "v", v)
	}
	if l := leaks(logs.String()); l != nil {
		t.Errorf("logging the clients shows %v", l)
	}
}

// hopServer records the requests it gets and answers them with answer.
type hopServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newHopServer(t *testing.T, answer http.HandlerFunc) *hopServer {
	h := &hopServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Clone())
		h.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hopServer) headers() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.seen
	h.seen = nil
	return out
}

// TestRedirectsDropCredentials sends requests of every façade and method
// to a server that redirects them to another origin (another port, or
// another host name for the same address), with every redirect status;
// the other origin must get none of the credential headers. A chain that
// comes back to the first origin must not get them back either.
func TestRedirectsDropCredentials(t *testing.T) {
	t.Parallel()
	notFound := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprint(w, `{"code":"NOT_FOUND","message":"nothing here","error":"nothing here"}`)
	}
	var origin *hopServer
	target := newHopServer(t, notFound)
	// The bouncer sends everything back to the origin's /back/ prefix.
	bouncer := newHopServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, origin.URL+"/back"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	var mu sync.Mutex
	var status int
	var to string
	origin = newHopServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/back/") {
			notFound(w, r)
			return
		}
		mu.Lock()
		code, dest := status, to
		mu.Unlock()
		http.Redirect(w, r, dest+r.URL.RequestURI(), code)
	})
	tu, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := tu.Port()
	destinations := map[string]string{
		"other port":          target.URL,
		"other host name":     "http://localhost:" + port,
		"away and back again": bouncer.URL,
	}

	common := []sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(origin.Client()), fastRetries}
	lc, err := lifecycle.New(append(common, sandboxkit.WithBaseURL(origin.URL+"/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(common, sandboxkit.WithBaseURL(origin.URL+"/v0"), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace))...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.New(slices.Concat(common, endpointHeaders,
		[]sandboxkit.Option{sandboxkit.WithBaseURL(origin.URL + "/sbx"), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace)})...)
	if err != nil {
		t.Fatal(err)
	}
	cpSandbox, err := cp.SandboxClient(&controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box", URL: origin.URL + "/cp/box"}}, endpointHeaders...)
	if err != nil {
		t.Fatal(err)
	}
	box := &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "box"},
		Spec: controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}}}
	type call struct {
		facade, name string
		wantHeader   string // the credential header the origin must get
		do           func(context.Context) error
	}
	calls := []call{
		{"lifecycle", "Get (GET)", sandboxkit.HeaderAPIKey, func(ctx context.Context) error { _, err := lc.Get(ctx, "abc"); return err }},
		{"lifecycle", "Create (POST)", sandboxkit.HeaderAPIKey, func(ctx context.Context) error {
			_, err := lc.Create(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits()}, nil)
			return err
		}},
		{"lifecycle", "Pause (POST)", sandboxkit.HeaderAPIKey, func(ctx context.Context) error { return lc.Pause(ctx, "abc") }},
		{"lifecycle", "PatchMetadata (PATCH)", sandboxkit.HeaderAPIKey, func(ctx context.Context) error {
			_, err := lc.PatchMetadata(ctx, "abc", &lifecycle.MetadataPatch{Set: map[string]string{"a": "b"}})
			return err
		}},
		{"lifecycle", "Delete (DELETE)", sandboxkit.HeaderAPIKey, func(ctx context.Context) error { return lc.Delete(ctx, "abc") }},
		{"controlplane", "Get (GET)", sandboxkit.HeaderWorkspace, func(ctx context.Context) error { _, err := cp.Get(ctx, "box", nil); return err }},
		{"controlplane", "Create (POST)", "Authorization", func(ctx context.Context) error { _, err := cp.Create(ctx, box, nil); return err }},
		{"controlplane", "Update (PUT)", "Authorization", func(ctx context.Context) error { _, err := cp.Update(ctx, box); return err }},
		{"controlplane", "Delete (DELETE)", "Authorization", func(ctx context.Context) error { _, err := cp.Delete(ctx, "box"); return err }},
	}
	for name, sc := range map[string]*sandbox.Client{"sandbox": sc, "controlplane.SandboxClient": cpSandbox} {
		calls = append(calls,
			call{name, "Read (GET)", "Authorization", func(ctx context.Context) error { _, err := sc.Read(ctx, "/tmp/a"); return err }},
			call{name, "ListDirectory (GET), endpoint credential", sandboxkit.HeaderSecureAccess, func(ctx context.Context) error { _, err := sc.ListDirectory(ctx, "/tmp"); return err }},
			call{name, "Mkdir (PUT), endpoint route", sandboxkit.HeaderIngressTo, func(ctx context.Context) error { return sc.Mkdir(ctx, "/tmp/d", nil) }},
			call{name, "Write (PUT)", "Authorization", func(ctx context.Context) error { return sc.Write(ctx, "/tmp/a", "x", nil) }},
			call{name, "Exec (POST)", "Authorization", func(ctx context.Context) error {
				_, err := sc.Exec(ctx, &sandbox.ExecRequest{Command: "true"})
				return err
			}},
			call{name, "Remove (DELETE)", "Authorization", func(ctx context.Context) error { return sc.Remove(ctx, "/tmp/a", nil) }},
		)
	}

	redirects := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	for _, dest := range slices.Sorted(maps.Keys(destinations)) {
		for _, code := range redirects {
			mu.Lock()
			status, to = code, destinations[dest]
			mu.Unlock()
			for _, c := range calls {
				where := fmt.Sprintf("%s.%s, %d to %s", c.facade, c.name, code, dest)
				err := c.do(t.Context())
				if !errors.Is(err, sandboxkit.ErrNotFound) {
					t.Errorf("%s: err = %v, want the 404 of the last hop", where, err)
				}
				hops := origin.headers()
				if len(hops) == 0 || hops[0].Get(c.wantHeader) == "" {
					t.Errorf("%s: the origin did not get %s; nothing to strip", where, c.wantHeader)
					continue
				}
				later := append(hops[1:], target.headers()...)
				later = append(later, bouncer.headers()...)
				if len(later) == 0 {
					t.Errorf("%s: the redirect was not followed", where)
				}
				for _, h := range later {
					for _, name := range credentialHeaders {
						if v := h.Get(name); v != "" {
							t.Errorf("%s: a request after leaving the origin carried %s: %q", where, name, v)
						}
					}
				}
			}
		}
	}
}

// TestSecretsNotInWorkflowLogs runs a lifecycle workflow and a control
// plane workflow (each with the sandbox API) against the mock while it
// answers 503s and drops connections, logging at debug level, then makes
// calls that fail (404, 401, 409), and searches the log and every error
// for the API key and the token.
func TestSecretsNotInWorkflowLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := mockserver.Start(t, mockserver.WithTenant(secAPIKey, "sec"), mockserver.WithTenant(secToken, "sec"))
		for i, f := range []mockserver.Fault{
			{Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Probability: 0.3},
			{API: mockserver.APILifecycle, Operation: "GetSandbox", Reset: true, Probability: 0.2},
			{API: mockserver.APIControlPlane, Operation: "GetSandbox", Reset: true, Probability: 0.2},
			{API: mockserver.APISandbox, Operation: "GetHealth", Reset: true, Probability: 0.5},
		} {
			f.Seed = uint64(i + 1)
			if _, err := srv.InjectFault(f); err != nil {
				t.Fatal(err)
			}
		}
		logs := &lockedBuffer{}
		logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		lc, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey(secAPIKey), sandboxkit.WithLogger(logger))...)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := controlplane.New(append(srv.ClientOptions(sandboxkit.ControlPlane), sandboxkit.WithToken(secToken), sandboxkit.WithWorkspace(secWorkspace), sandboxkit.WithLogger(logger))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		var errs []error
		keep := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}

		sb, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"},
			Entrypoint: []string{"sh"}, ResourceLimits: resourceLimits(), Timeout: time.Hour}, nil)
		keep(err)
		if sb != nil {
			ep, err := lc.Endpoint(ctx, sb.ID, 8080, nil)
			keep(err)
			if ep != nil {
				sc, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://"+ep.Address),
					sandboxkit.WithToken(secToken), sandboxkit.WithHTTPClient(srv.HTTPClient()), sandboxkit.WithLogger(logger))
				keep(err)
				if sc != nil {
					_, err = sandbox.NewHealthWaiter(sc, nil).Wait(ctx)
					keep(err)
					_, err = sc.Run(ctx, "echo hi", nil)
					keep(err)
					_, err = sc.Read(ctx, "/no/such/file") // 404
					keep(err)
				}
			}
			_, err = lc.Renew(ctx, sb.ID, sb.ExpiresAt.Add(time.Hour))
			keep(err)
			_, err = lc.PauseAndWait(ctx, sb.ID, nil)
			keep(err)
			keep(lc.Pause(ctx, sb.ID)) // 409: already paused
			_, err = lc.ResumeAndWait(ctx, sb.ID, nil)
			keep(err)
			keep(lc.DeleteAndWait(ctx, sb.ID, nil))
		}
		box, err := cp.CreateAndWait(ctx, cpSandbox("sec-box"), nil)
		keep(err)
		if box != nil {
			sc, err := cp.SandboxClient(box)
			keep(err)
			if sc != nil {
				_, err = sc.Health(ctx)
				keep(err)
				_, err = sc.Run(ctx, "echo hi", nil)
				keep(err)
			}
			_, err = cp.ExtendTTL(ctx, box.Metadata.Name, time.Hour, nil)
			keep(err)
			_, err = cp.DeleteAndWait(ctx, box.Metadata.Name, nil)
			keep(err)
		}
		_, err = lc.Get(ctx, "no-such-sandbox") // 404
		keep(err)
		_, err = cp.Get(ctx, "no-such-box", nil) // 404
		keep(err)
		bad, err := lifecycle.New(append(srv.ClientOptions(sandboxkit.Lifecycle), sandboxkit.WithAPIKey(secAPIKey+"-wrong"), sandboxkit.WithLogger(logger))...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.List(ctx, nil) // 401
		keep(err)

		for _, err := range errs {
			for _, text := range []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if l := leaks(text); l != nil {
					t.Errorf("error %T shows %v: %s", err, l, text)
				}
			}
		}
		out := logs.String()
		if l := leaks(out); l != nil {
			t.Errorf("the debug log shows %v", l)
		}
		for _, want := range []string{"retrying request", "connection reset"} {
			if !strings.Contains(out, want) {
				t.Errorf("the log has no %q record; the search saw less than it should", want)
			}
		}
		if len(errs) < 5 {
			t.Errorf("only %d errors to search: %v", len(errs), errs)
		}
	})
}
