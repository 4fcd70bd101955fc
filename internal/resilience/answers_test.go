package resilience

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Values of a create request that must never reach an error: an
// environment value and a registry password.
const (
	secEnvValue   = "env-Sx8Kd2Wq&<v>-value"
	secRegistryPW = "regpw-Zt5Mn1Hb7Qc3"
)

// fastAPIEcho answers every request like the real lifecycle server's
// request validation: 422 with a report whose "input" repeats the whole
// request body.
func fastAPIEcho(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	var input any
	if json.Unmarshal(body, &input) != nil {
		input = string(body)
	}
	report, _ := json.Marshal(map[string]any{"detail": []any{map[string]any{
		"type": "value_error", "loc": []any{"body"}, "msg": "Value error, resourceLimits is required when poolRef is not provided.",
		"input": input, "ctx": map[string]any{"error": map[string]any{}},
	}}})
	return &http.Response{StatusCode: http.StatusUnprocessableEntity, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(report)), Request: req}, nil
}

// secretCreate is a create request carrying values that must stay secret,
// without resourceLimits, which the real server requires.
func secretCreate() *lifecycle.CreateRequest {
	return &lifecycle.CreateRequest{
		Image:      &lifecycle.Image{URI: "sbx-local/busybox:latest", Auth: &lifecycle.ImageAuth{Username: "bob", Password: secRegistryPW}},
		Entrypoint: []string{"sleep", "3600"},
		Env:        map[string]string{"DB_PASSWORD": secEnvValue},
	}
}

// checkEchoedCreateError checks the error of a create the server refused
// with a validation report: the server's problem, a bad-request error,
// and none of the request's secret values however the error is shown.
func checkEchoedCreateError(t *testing.T, err error) {
	t.Helper()
	apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
	if !ok {
		t.Fatalf("err = %v, want an APIError", err)
	}
	if !errors.Is(err, sandboxkit.ErrBadRequest) || !errors.Is(err, sandboxkit.ErrUnprocessable) {
		t.Errorf("err = %v, want it to match ErrBadRequest and ErrUnprocessable", err)
	}
	if !strings.Contains(apiErr.Message, "resourceLimits is required") || len(apiErr.Fields) == 0 {
		t.Errorf("Message %q, Fields %v; want the server's validation message", apiErr.Message, apiErr.Fields)
	}
	shown := strings.Join([]string{err.Error(), fmt.Sprintf("%v %+v", err, apiErr), apiErr.Message, string(apiErr.Body)}, "\n")
	for _, secret := range []string{secEnvValue, secRegistryPW} {
		for _, form := range []string{secret, strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`).Replace(secret)} {
			if strings.Contains(shown, form) {
				t.Errorf("the create's secret %q shows in the error:\n%s", form, shown)
			}
		}
	}
}

// TestCreateErrorDoesNotEchoTheRequest: the real lifecycle server's 422
// repeats the request body, environment values and registry password
// included, and that used to reach err.Error() (issues 11 and 12).
func TestCreateErrorDoesNotEchoTheRequest(t *testing.T) {
	t.Parallel()
	lc, err := lifecycle.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://lifecycle.test/v1"),
		sandboxkit.WithAPIKey(secAPIKey), sandboxkit.WithHTTPClient(&http.Client{Transport: roundTripFunc(fastAPIEcho)}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = lc.Create(t.Context(), secretCreate(), nil)
	checkEchoedCreateError(t, err)
}

// TestCreateErrorDoesNotEchoTheRequestReal is the same against the real
// lifecycle server, when ../shared/real runs one.
func TestCreateErrorDoesNotEchoTheRequestReal(t *testing.T) {
	t.Parallel()
	base := os.Getenv("OPENSANDBOX_REAL_URL")
	if base == "" {
		t.Skip("no real lifecycle server: eval \"$(../shared/real/up lifecycle)\"")
	}
	// Its own transport, whose idle connections go when the test ends
	// (TestMain checks that no goroutine is left behind).
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	lc, err := lifecycle.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL(base), sandboxkit.WithAPIKey(os.Getenv("OPENSANDBOX_REAL_API_KEY")),
		sandboxkit.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = lc.Create(t.Context(), secretCreate(), nil)
	checkEchoedCreateError(t, err)
}

// TestSandboxClientIgnoresControlPlaneEnvironment: sandbox.New took
// BL_API_KEY and BL_WORKSPACE from the environment and sent them to any
// base URL, plain http to a remote host included (issue 12). Now it
// sends them only when asked to, and never in clear text to a remote
// host. (t.Setenv: not parallel.)
func TestSandboxClientIgnoresControlPlaneEnvironment(t *testing.T) {
	t.Setenv(sandboxkit.EnvToken, secToken)
	t.Setenv(sandboxkit.EnvWorkspace, secWorkspace)
	var seen http.Header
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		seen = req.Header.Clone()
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"status":"ok"}`)), Request: req}, nil
	})
	sc, err := sandbox.New(sandboxkit.WithBaseURL("http://third-party.example.com"), sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sc.Health(t.Context()) // only the request matters
	if seen == nil {
		t.Fatal("no request sent")
	}
	if seen.Get("Authorization") != "" || seen.Get(sandboxkit.HeaderWorkspace) != "" {
		t.Errorf("a third-party host received the control plane's credentials: %v", seen)
	}

	// Asked to, over https.
	sc, err = sandbox.New(sandboxkit.WithBaseURL("https://sbx.example.com"), sandboxkit.WithEnvCredentials(), sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sc.Health(t.Context())
	if seen.Get("Authorization") != "Bearer "+secToken || seen.Get(sandboxkit.HeaderWorkspace) != secWorkspace {
		t.Errorf("WithEnvCredentials: headers %v", seen)
	}

	// Never in clear text to a remote host without consent.
	_, err = sandbox.New(sandboxkit.WithBaseURL("http://third-party.example.com"), sandboxkit.WithEnvCredentials())
	if !errors.Is(err, sandboxkit.ErrInvalidInput) || len(leaks(err.Error())) > 0 {
		t.Errorf("plain http with the environment's token: err = %v", err)
	}
}

// bigAnswer answers every request 200 with a JSON array of size bytes,
// produced on the fly; gzipped, when zipped is set.
func bigAnswer(size int, zipped []byte) roundTripFunc {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{"Content-Type": {"application/json"}}
		var body io.Reader = &lazyArray{n: size}
		if zipped != nil {
			body = gzipReader(zipped)
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(body), ContentLength: -1, Request: req}, nil
	}
}

func gzipReader(zipped []byte) io.Reader {
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		panic(err)
	}
	return zr
}

// lazyArray is "[" + spaces + "]", n bytes, without holding them.
type lazyArray struct{ n, off int }

func (r *lazyArray) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := min(len(p), r.n-r.off)
	for i := range k {
		switch pos := r.off + i; {
		case pos == 0:
			p[i] = '['
		case pos == r.n-1:
			p[i] = ']'
		default:
			p[i] = ' '
		}
	}
	r.off += k
	return k, nil
}

// listCalls returns a list call of each façade over rt.
func listCalls(t testing.TB, rt http.RoundTripper, opts ...sandboxkit.Option) map[string]func(context.Context) error {
	t.Helper()
	common := append([]sandboxkit.Option{sandboxkit.WithoutEnvironment(), sandboxkit.WithHTTPClient(&http.Client{Transport: rt})}, opts...)
	lc, err := lifecycle.New(append(common, sandboxkit.WithBaseURL("http://lifecycle.test/v1"), sandboxkit.WithAPIKey(secAPIKey))...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(append(common, sandboxkit.WithBaseURL("http://cp.test/v0"), sandboxkit.WithToken(secToken))...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.New(append(common, sandboxkit.WithBaseURL("http://sbx.test"), sandboxkit.WithToken(secToken))...)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]func(context.Context) error{
		"lifecycle.ListSnapshots": func(ctx context.Context) error { _, err := lc.ListSnapshots(ctx, nil); return err },
		"controlplane.List":       func(ctx context.Context) error { _, err := cp.List(ctx, nil); return err },
		"sandbox.ListProcesses":   func(ctx context.Context) error { _, err := sc.ListProcesses(ctx); return err },
	}
}

// TestOversizedAnswersRefused: a success answer had no size cap, and the
// generated decoders read everything (issue 12: 384 MiB cost 1.2 GiB of
// heap in all three clients; a 0.4 MiB gzip bomb the same). Now each
// client stops at the cap, plain or compressed.
func TestOversizedAnswersRefused(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = io.Copy(zw, &lazyArray{n: 16 * limit})
	_ = zw.Close()
	for name, rt := range map[string]roundTripFunc{
		"plain":   bigAnswer(8*limit, nil),
		"gzipped": bigAnswer(0, zipped.Bytes()),
	} {
		for call, do := range listCalls(t, rt, sandboxkit.WithMaxResponseSize(limit)) {
			if err := do(t.Context()); !errors.Is(err, sandboxkit.ErrResponseTooLarge) {
				t.Errorf("%s, %s answer: err = %v, want ErrResponseTooLarge", call, name, err)
			}
		}
	}
	// An answer within the cap still decodes (an empty list).
	for call, do := range listCalls(t, bigAnswer(limit, nil), sandboxkit.WithMaxResponseSize(limit)) {
		if err := do(t.Context()); errors.Is(err, sandboxkit.ErrResponseTooLarge) {
			t.Errorf("%s: an answer of exactly the cap was refused: %v", call, err)
		}
	}
}

// BenchmarkOversizedAnswer measures what a 384 MiB answer costs a client
// with the default cap (B/op): about the cap's worth, no longer three
// times the answer.
func BenchmarkOversizedAnswer(b *testing.B) {
	calls := listCalls(b, bigAnswer(384<<20, nil))
	b.ReportAllocs()
	for b.Loop() {
		if err := calls["controlplane.List"](context.Background()); !errors.Is(err, sandboxkit.ErrResponseTooLarge) {
			b.Fatalf("err = %v", err)
		}
	}
}
