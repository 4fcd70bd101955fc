package sandboxkit

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// leaks reports which of the test credentials appear in s.
func leaks(s string) []string {
	var found []string
	for _, c := range []string{testAPIKey, testToken, strings.ReplaceAll(testToken, "/", `\/`)} {
		if strings.Contains(s, c) {
			found = append(found, c)
		}
	}
	return found
}

func TestCredentialNotInErrors(t *testing.T) {
	t.Parallel()
	for _, api := range []API{Lifecycle, Sandbox} {
		secret := testAPIKey
		if api != Lifecycle {
			secret = testToken
		}
		t.Run(api.String(), func(t *testing.T) {
			t.Parallel()
			// A careless server echoes the credential, raw and JSON-escaped.
			escaped := strings.ReplaceAll(secret, "/", `\/`)
			body := fmt.Sprintf(`{"code":"BAD_KEY %s","message":"key %s is not valid","error":"%s"}`, secret, escaped, escaped)
			s := newScript(reply{status: 401, body: body, header: hdr("X-Request-ID", "r1")})
			cfg := mockConfig(t, api, mockTransport(s))

			_, err := send(t.Context(), cfg, http.MethodGet, "/x", "")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok || !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want a 401 APIError", err)
			}
			wrapped := wrap(t.Context(), "x.Get", err)
			for name, text := range map[string]string{
				"Error()":      err.Error(),
				"Wrap":         wrapped.Error(),
				"Message":      apiErr.Message,
				"Code":         apiErr.Code,
				"Body":         string(apiErr.Body),
				"%+v of error": fmt.Sprintf("%+v %#v", apiErr, apiErr),
			} {
				if l := leaks(text); l != nil {
					t.Errorf("%s contains the credential: %s", name, text)
				}
			}
			if !strings.Contains(apiErr.Message, redacted) {
				t.Errorf("Message = %q; want the echoed key replaced by %s", apiErr.Message, redacted)
			}
		})
	}
}

func TestCredentialNotInLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := newScript(reply{status: 503, body: "token " + testToken}, reply{err: dialErr}, reply{status: 401, body: testToken})
		cfg := mockConfig(t, ControlPlane, mockTransport(s), WithLogger(logger), WithWorkspace("team-a"))

		_, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes", "")
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v", err)
		}
		// What an application might log about the SDK.
		logger.Info("configured", "config", cfg)
		logger.Debug("call failed", "err", err)
		logger.Info("client", "http", cfg.HTTPClient())

		out := buf.String()
		if !strings.Contains(out, "retrying request") || !strings.Contains(out, "configured") {
			t.Fatalf("expected log records are missing:\n%s", out)
		}
		if l := leaks(out); l != nil {
			t.Errorf("log output contains the credential:\n%s", out)
		}
		if !strings.Contains(out, `"credential":"[REDACTED]"`) {
			t.Errorf("config not logged with a redacted credential:\n%s", out)
		}
	})
}

func TestCredentialNotPrinted(t *testing.T) {
	t.Parallel()
	for _, api := range []API{Lifecycle, Sandbox, ControlPlane} {
		t.Run(api.String(), func(t *testing.T) {
			t.Parallel()
			cfg := mockConfig(t, api, http.DefaultTransport)
			client := cfg.HTTPClient()
			derived := cfg
			if api != Lifecycle {
				var err error
				if derived, err = cfg.ForSandbox("https://sbx-2.sandbox.test", WithSandboxHosts("*.sandbox.test")); err != nil {
					t.Fatal(err)
				}
			}
			out := fmt.Sprintf("%v %+v %#v %s | %v %+v %#v | %+v %#v | %+v %#v | %+v %#v | %+v %#v",
				cfg, cfg, cfg, cfg,
				*cfg, *cfg, *cfg, // the struct itself, bypassing its methods
				cfg.s, cfg.s,
				client, client,
				client.Transport, client.Transport,
				derived, *derived)
			if l := leaks(out); l != nil {
				t.Errorf("printing the config shows the credential:\n%s", out)
			}
			if !strings.Contains(fmt.Sprint(cfg), redacted) {
				t.Errorf("String() = %s; want the credential shown as %s", cfg, redacted)
			}
		})
	}
}

func TestCredentialNotInOptionErrors(t *testing.T) {
	t.Parallel()
	bad := testToken + "\n"
	for _, opt := range []Option{
		WithToken(bad),
		WithHeader("X-Custom-Key", bad),
		WithBaseURL("https://user:" + testToken + "@cp.test/v0"),
	} {
		_, err := NewConfig(ControlPlane, WithoutEnvironment(), opt)
		if err == nil {
			t.Fatal("NewConfig accepted a bad option")
		}
		if l := leaks(err.Error()); l != nil {
			t.Errorf("option error shows the credential: %v", err)
		}
	}
}

func TestSecretFormatsRedacted(t *testing.T) {
	t.Parallel()
	sec := newSecret(testToken)
	out := fmt.Sprintf("%v %+v %#v %s %q %x %X %d", sec, sec, sec, sec, sec, sec, sec, sec) +
		fmt.Sprint(sec) + sec.String() + sec.GoString() + sec.LogValue().String()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", sec)
	out += buf.String()
	if l := leaks(out); l != nil {
		t.Errorf("secret printed: %s", out)
	}
	if sec.reveal() != testToken {
		t.Errorf("reveal() = %q", sec.reveal())
	}
	if newSecret("") != nil || (*secret)(nil).String() != "" || (*secret)(nil).reveal() != "" {
		t.Errorf("empty secret is not nil")
	}
	if got := newScrubber(sec.reveal()).scrub("a " + testToken + " b " + strings.ReplaceAll(testToken, "/", `\/`)); got != "a [REDACTED] b [REDACTED]" {
		t.Errorf("scrub = %q", got)
	}
}
