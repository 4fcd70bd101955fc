package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// TestErrorBodies checks that {"error": "..."} answers become
// *sandboxkit.APIError naming the operation.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		ctype    string
		body     string
		call     func(ctx context.Context, c *sandbox.Client) error
		sentinel error
		want     sandboxkit.APIError
	}{
		{
			name: "Read missing file", status: 404, body: `{"error":"stat /tmp/nope: no such file or directory"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.Read(ctx, "/tmp/nope")
				return err
			},
			sentinel: sandboxkit.ErrNotFound,
			want:     sandboxkit.APIError{StatusCode: 404, Message: "stat /tmp/nope: no such file or directory", Operation: "sandbox.Read"},
		},
		{
			name: "Remove non-empty directory", status: 422, body: `{"error":"directory not empty"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				return c.Remove(ctx, "/tmp/d", nil)
			},
			sentinel: sandboxkit.ErrUnprocessable,
			want:     sandboxkit.APIError{StatusCode: 422, Message: "directory not empty", Operation: "sandbox.Remove"},
		},
		{
			name: "Exec refused", status: 400, body: `{"error":"process with name 'x' already exists and is running"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.Exec(ctx, &sandbox.ExecRequest{Command: "true", Name: "x"})
				return err
			},
			sentinel: sandboxkit.ErrBadRequest,
			want:     sandboxkit.APIError{StatusCode: 400, Message: "process with name 'x' already exists and is running", Operation: "sandbox.Exec"},
		},
		{
			name: "Open missing file", status: 404, body: `{"error":"no such file"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.Open(ctx, "a.bin")
				return err
			},
			sentinel: sandboxkit.ErrNotFound,
			want:     sandboxkit.APIError{StatusCode: 404, Message: "no such file", Operation: "sandbox.Open"},
		},
		{
			name: "StreamLogs unknown process", status: 404, body: `{"error":"process not found"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.StreamLogs(ctx, "nope", nil)
				return err
			},
			sentinel: sandboxkit.ErrNotFound,
			want:     sandboxkit.APIError{StatusCode: 404, Message: "process not found", Operation: "sandbox.StreamLogs"},
		},
		{
			name: "unknown route", status: 404, ctype: "text/plain", body: "404 page not found",
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.ListDrives(ctx)
				return err
			},
			sentinel: sandboxkit.ErrNotFound,
			want:     sandboxkit.APIError{StatusCode: 404, Message: "404 page not found", Operation: "sandbox.ListDrives"},
		},
		{
			name: "Run timed out", status: 422, body: `{"error":"process timed out after 1 seconds"}`,
			call: func(ctx context.Context, c *sandbox.Client) error {
				_, err := c.Run(ctx, "sleep 5", &sandbox.RunOptions{Timeout: time.Second})
				return err
			},
			sentinel: sandboxkit.ErrUnprocessable,
			want:     sandboxkit.APIError{StatusCode: 422, Message: "process timed out after 1 seconds", Operation: "sandbox.Run"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/kill") {
					w.WriteHeader(404) // Run's kill of the timed-out process
					return
				}
				w.Header().Set("Content-Type", cmpOr(tc.ctype, "application/json"))
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			err := tc.call(t.Context(), c)
			apiErr, ok := errors.AsType[*sandboxkit.APIError](err)
			if !ok {
				t.Fatalf("error %v (%T) is not a *sandboxkit.APIError", err, err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			got := sandboxkit.APIError{StatusCode: apiErr.StatusCode, Message: apiErr.Message, Operation: apiErr.Operation}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

// TestBadInputFailsBeforeTheNetwork checks arguments that cannot be right.
func TestBadInputFailsBeforeTheNetwork(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(200, success))
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"empty command", func(ctx context.Context) error {
			_, err := c.Exec(ctx, &sandbox.ExecRequest{Command: "  "})
			return err
		}},
		{"NUL in command", func(ctx context.Context) error {
			_, err := c.Run(ctx, "echo \x00", nil)
			return err
		}},
		{"negative timeout", func(ctx context.Context) error {
			_, err := c.Exec(ctx, &sandbox.ExecRequest{Command: "true", Timeout: -time.Second})
			return err
		}},
		{"negative Run timeout", func(ctx context.Context) error {
			_, err := c.Run(ctx, "true", &sandbox.RunOptions{Timeout: -1})
			return err
		}},
		{"port 0", func(ctx context.Context) error {
			_, err := c.Exec(ctx, &sandbox.ExecRequest{Command: "srv", WaitForPorts: []int{0}})
			return err
		}},
		{"port 65536", func(ctx context.Context) error {
			_, err := c.ExecStream(ctx, &sandbox.ExecRequest{Command: "srv", WaitForPorts: []int{65536}}, nil)
			return err
		}},
		{"NUL in path", func(ctx context.Context) error {
			_, err := c.Read(ctx, "a\x00b")
			return err
		}},
		{"NUL in written path", func(ctx context.Context) error {
			return c.Write(ctx, "/tmp/a\x00", "x", nil)
		}},
		{"empty path", func(ctx context.Context) error {
			_, err := c.Open(ctx, "")
			return err
		}},
		{"NUL in upload path", func(ctx context.Context) error {
			_, err := c.Upload(ctx, "\x00", strings.NewReader("x"), nil)
			return err
		}},
		{"NUL in watch path", func(ctx context.Context) error {
			_, err := c.Watch(ctx, "/tmp/\x00", nil)
			return err
		}},
		{"bad permissions", func(ctx context.Context) error {
			return c.Write(ctx, "a", "x", &sandbox.WriteOptions{Permissions: 0o4755 | 1<<31})
		}},
		{"process id with slash", func(ctx context.Context) error {
			_, err := c.GetProcess(ctx, "a/b")
			return err
		}},
		{"empty process id", func(ctx context.Context) error {
			return c.KillProcess(ctx, "")
		}},
		{"pid 0", func(ctx context.Context) error {
			_, err := c.ListPorts(ctx, 0)
			return err
		}},
		{"callback not a URL", func(ctx context.Context) error {
			return c.MonitorPorts(ctx, 1, "nope")
		}},
		{"part number 0", func(ctx context.Context) error {
			_, err := c.UploadPart(ctx, "u", 0, strings.NewReader(""), 0)
			return err
		}},
		{"empty grep query", func(ctx context.Context) error {
			_, err := c.Grep(ctx, ".", "", nil)
			return err
		}},
		{"relative mount path", func(ctx context.Context) error {
			return c.UnmountDrive(ctx, "mnt/data")
		}},
		{"upgrade base URL", func(ctx context.Context) error {
			_, err := c.Upgrade(ctx, &sandbox.UpgradeOptions{BaseURL: "ftp://x"})
			return err
		}},
		{"negative stream line size", func(ctx context.Context) error {
			_, err := c.StreamLogs(ctx, "1", &sandbox.StreamOptions{MaxLineSize: -1})
			return err
		}},
		{"negative upload concurrency", func(ctx context.Context) error {
			_, err := c.Upload(ctx, "a", strings.NewReader(""), &sandbox.UploadOptions{Concurrency: -1})
			return err
		}},
		{"empty tunnel config", func(ctx context.Context) error {
			return c.UpdateTunnel(ctx, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("error = %v, want one matching sandboxkit.ErrInvalidInput", err)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestNew checks the constructor's validation.
func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := sandbox.New(sandboxkit.WithoutEnvironment()); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("New without a base URL: %v", err)
	}
	if _, err := sandbox.NewFromConfig(nil); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("NewFromConfig(nil): %v", err)
	}
	cfg, err := sandboxkit.NewConfig(sandboxkit.ControlPlane, sandboxkit.WithoutEnvironment(), sandboxkit.WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.NewFromConfig(cfg); !errors.Is(err, sandboxkit.ErrInvalidInput) {
		t.Errorf("NewFromConfig(control plane config): %v", err)
	}
	sbCfg, err := cfg.ForSandbox("https://sbx-1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sandbox.NewFromConfig(sbCfg)
	if err != nil || c.Config() != sbCfg {
		t.Errorf("NewFromConfig(ForSandbox) = %v, %v", c, err)
	}
}
