package sandboxkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordedErrors is the form of testdata/*_errors.json.
type recordedErrors struct {
	Secrets []string `json:"secrets"`
	Cases   []struct {
		What    string            `json:"what"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Want    struct {
			Code          string       `json:"code"`
			Message       string       `json:"message"`
			MessagePrefix string       `json:"messagePrefix"`
			Reason        string       `json:"reason"`
			Retryable     *bool        `json:"retryable"`
			NotDispatched bool         `json:"notDispatched"`
			Fields        []FieldError `json:"fields"`
			Sentinels     []string     `json:"sentinels"`
			Transient     *bool        `json:"transient"`
			Outcome       string       `json:"outcome"`
		} `json:"want"`
	} `json:"cases"`
}

var sentinelNames = map[string]error{
	"ErrBadRequest": ErrBadRequest, "ErrUnauthorized": ErrUnauthorized, "ErrForbidden": ErrForbidden,
	"ErrNotFound": ErrNotFound, "ErrConflict": ErrConflict, "ErrUnprocessable": ErrUnprocessable,
	"ErrRateLimited": ErrRateLimited, "ErrUnavailable": ErrUnavailable, "ErrServer": ErrServer,
}

// TestErrorBodiesOfRealServers turns every error answer recorded from the
// real lifecycle server (and the control plane's documented shapes) into
// an APIError: code, message, validation problems and sentinels as a
// caller relies on them, and nothing the server echoed of the request.
func TestErrorBodiesOfRealServers(t *testing.T) {
	t.Parallel()
	for file, api := range map[string]API{
		"testdata/lifecycle_errors.json":    Lifecycle,
		"testdata/controlplane_errors.json": ControlPlane,
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rec recordedErrors
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range rec.Cases {
			t.Run(api.String()+"/"+c.What, func(t *testing.T) {
				t.Parallel()
				h := hdr("Content-Type", "application/json", HeaderRequestID, "rid-1")
				for k, v := range c.Headers {
					h.Set(k, v)
				}
				s := newScript(reply{status: c.Status, header: h, body: c.Body})
				cfg := mockConfig(t, api, mockTransport(s), WithRetry(RetryPolicy{}))
				_, err := send(t.Context(), cfg, http.MethodPost, "/sandboxes", "")
				apiErr, ok := errors.AsType[*APIError](err)
				if !ok {
					t.Fatalf("err = %v, want an APIError", err)
				}
				w := c.Want
				if apiErr.StatusCode != c.Status || apiErr.Code != w.Code || apiErr.Reason != w.Reason || apiErr.RequestID != "rid-1" {
					t.Errorf("status %d code %q reason %q request id %q; want %d %q %q rid-1",
						apiErr.StatusCode, apiErr.Code, apiErr.Reason, apiErr.RequestID, c.Status, w.Code, w.Reason)
				}
				switch {
				case w.MessagePrefix != "":
					if !strings.HasPrefix(apiErr.Message, w.MessagePrefix) || len(apiErr.Message) > maxMessageLength+len("…") {
						t.Errorf("Message = %q, want a one-line cut of the server's message", apiErr.Message)
					}
				case apiErr.Message != w.Message:
					t.Errorf("Message = %q, want %q", apiErr.Message, w.Message)
				}
				if diff := cmp.Diff(w.Fields, apiErr.Fields); diff != "" {
					t.Errorf("Fields (-want +got):\n%s", diff)
				}
				if !cmp.Equal(w.Retryable, apiErr.Retryable) || w.NotDispatched != apiErr.NotDispatched {
					t.Errorf("Retryable %v NotDispatched %v, want %v %v", fmtBool(apiErr.Retryable), apiErr.NotDispatched, fmtBool(w.Retryable), w.NotDispatched)
				}
				for name, sentinel := range sentinelNames {
					if got, want := errors.Is(err, sentinel), slices.Contains(w.Sentinels, name); got != want {
						t.Errorf("errors.Is(err, %s) = %v, want %v", name, got, want)
					}
				}
				if w.Transient != nil && IsTransient(err) != *w.Transient {
					t.Errorf("IsTransient = %v, want %v", IsTransient(err), *w.Transient)
				}
				if w.Outcome != "" && classifyFailure(err).String() != w.Outcome {
					t.Errorf("ClassifyFailure = %v, want %s", classifyFailure(err), w.Outcome)
				}

				// What the server echoed of the request never reaches the
				// error, however it is shown.
				wrapped := wrap(t.Context(), "lifecycle.Create", err)
				shown := strings.Join([]string{err.Error(), wrapped.Error(), fmt.Sprintf("%+v", apiErr),
					apiErr.Message, string(apiErr.Body)}, "\n")
				for _, secret := range rec.Secrets {
					for _, form := range []string{secret, jsonEscaped(secret)} {
						if strings.Contains(shown, form) {
							t.Errorf("the echoed request value %q shows in the error:\n%s", form, shown)
						}
					}
				}
				if len(apiErr.Fields) > 0 {
					var kept struct {
						Detail []map[string]any `json:"detail"`
					}
					if err := json.Unmarshal(apiErr.Body, &kept); err != nil || len(kept.Detail) == 0 {
						t.Fatalf("Body of a validation report = %q (%v), want its problems as JSON", apiErr.Body, err)
					}
					for _, d := range kept.Detail {
						if _, ok := d["input"]; ok {
							t.Errorf("Body keeps the echoed input: %s", apiErr.Body)
						}
					}
				}
			})
		}
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

// jsonEscaped is s as Go's JSON encoder writes it inside a string (with
// HTML escaping: \u0026 for &).
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
