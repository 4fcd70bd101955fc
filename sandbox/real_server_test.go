package sandbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// envRealServer names a running sandbox API server (a build of the real
// one) for TestRealServer, e.g. http://localhost:18080. The server's
// working directory must be writable.
const envRealServer = "SANDBOXKIT_REAL_SANDBOX_URL"

// TestRealServer runs the client against a real sandbox API server. It is
// skipped unless $SANDBOXKIT_REAL_SANDBOX_URL is set.
func TestRealServer(t *testing.T) {
	base := os.Getenv(envRealServer)
	if base == "" {
		t.Skip("$" + envRealServer + " is not set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// A transport of the test's own, so its connections can be closed
	// before goleak looks.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	sb, err := sandbox.New(client.WithoutEnvironment(), client.WithBaseURL(base), client.WithToken("unused"),
		client.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	dir := "sandboxkit-test-" + time.Now().Format("150405.000000")
	abs := "/tmp/" + dir

	t.Run("Health", func(t *testing.T) {
		h, err := sb.WaitReady(ctx, nil)
		if err != nil || !h.OK() || h.StartedAt.IsZero() || h.Uptime <= 0 {
			t.Fatalf("WaitReady = %+v, %v", h, err)
		}
	})
	t.Run("RelativeAndAbsolutePaths", func(t *testing.T) {
		if err := sb.Write(ctx, dir+"/src/a.txt", "relative\n", nil); err != nil {
			t.Fatal(err)
		}
		if err := sb.Write(ctx, abs+"/a.txt", "absolute\n", &sandbox.WriteOptions{Permissions: 0o600}); err != nil {
			t.Fatal(err)
		}
		if got, err := sb.Read(ctx, dir+"/src/a.txt"); err != nil || got != "relative\n" {
			t.Fatalf("Read relative = %q, %v", got, err)
		}
		if got, err := sb.Read(ctx, abs+"/a.txt"); err != nil || got != "absolute\n" {
			t.Fatalf("Read absolute = %q, %v", got, err)
		}
		d, err := sb.List(ctx, abs)
		if err != nil || len(d.Files) != 1 || d.Files[0].Mode != 0o600 {
			t.Fatalf("List = %+v, %v", d, err)
		}
		if _, err := sb.Read(ctx, abs); !errors.Is(err, sandbox.ErrIsDirectory) {
			t.Fatalf("Read of a directory: %v", err)
		}
		if _, err := sb.Read(ctx, abs+"/missing"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Read of a missing file: %v", err)
		}
		tree, err := sb.Tree(ctx, abs)
		if err != nil || len(tree.Files) != 1 {
			t.Fatalf("Tree = %+v, %v", tree, err)
		}
		if _, err := sb.WriteTree(ctx, abs+"/tree", map[string]string{"x/y.txt": "y"}); err != nil {
			t.Fatal(err)
		}
		if err := sb.Remove(ctx, abs+"/tree", nil); !errors.Is(err, client.ErrUnprocessable) {
			t.Fatalf("Remove of a non-empty directory: %v", err)
		}
		if err := sb.RemoveTree(ctx, abs+"/tree", &sandbox.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if err := sb.Mkdir(ctx, abs+"/empty", nil); err != nil {
			t.Fatal(err)
		}
		if err := sb.Remove(ctx, abs+"/empty", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OpenJSONFile", func(t *testing.T) {
		if err := sb.Write(ctx, abs+"/data.json", `{"a":1}`, nil); err != nil {
			t.Fatal(err)
		}
		rc, err := sb.Open(ctx, abs+"/data.json")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if b, err := io.ReadAll(rc); err != nil || string(b) != `{"a":1}` {
			t.Fatalf("Open = %q, %v", b, err)
		}
	})
	t.Run("Upload", func(t *testing.T) {
		data := make([]byte, 5<<20+123)
		_, _ = rand.Read(data)
		var last sandbox.UploadProgress
		res, err := sb.Upload(ctx, abs+"/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{
			PartSize: 1 << 20, Concurrency: 3, Size: int64(len(data)),
			OnProgress: func(p sandbox.UploadProgress) { last = p },
		})
		if err != nil || res.Parts != 6 || last.Bytes != int64(len(data)) {
			t.Fatalf("Upload = %+v, %v (last progress %+v)", res, err, last)
		}
		rc, err := sb.Open(ctx, abs+"/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want the %d uploaded", len(got), err, len(data))
		}
		// Resume: a session with two of three parts, one of them wrong.
		id, err := sb.InitiateUpload(ctx, abs+"/resumed.bin", nil)
		if err != nil {
			t.Fatal(err)
		}
		small := data[:2<<20+7]
		if _, err := sb.UploadPart(ctx, id, 1, bytes.NewReader(small[:1<<20]), 1<<20); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.UploadPart(ctx, id, 2, bytes.NewReader(data[3<<20:4<<20]), 1<<20); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.ResumeUpload(ctx, id, bytes.NewReader(small), int64(len(small)), nil); err != nil {
			t.Fatal(err)
		}
		rc, err = sb.Open(ctx, abs+"/resumed.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, small) {
			t.Fatalf("resumed file has %d bytes (%v), want %d", len(got), err, len(small))
		}
		if _, err := sb.MultipartUploads(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SearchFindGrep", func(t *testing.T) {
		if err := sb.Write(ctx, abs+"/g/hello.go", "package main\n// needle here\n", nil); err != nil {
			t.Fatal(err)
		}
		m, err := sb.Find(ctx, abs+"/g", &sandbox.FindOptions{Type: sandbox.TypeFile, Patterns: []string{"*.go"}})
		if err != nil || len(m) != 1 || path.Base(m[0].Path) != "hello.go" {
			t.Fatalf("Find = %+v, %v", m, err)
		}
		g, err := sb.Grep(ctx, abs+"/g", "needle", nil)
		if err != nil || len(g) != 1 || g[0].Line != 2 {
			t.Fatalf("Grep = %+v, %v", g, err)
		}
		if _, err := sb.Search(ctx, abs+"/g", nil); err != nil {
			t.Fatalf("Search: %v", err)
		}
	})
	t.Run("Run", func(t *testing.T) {
		res, err := sb.Run(ctx, "echo hi", nil)
		if err != nil || res.Stdout != "hi\n" || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		res, err = sb.Run(ctx, "echo oops >&2; exit 3", &sandbox.RunOptions{CheckExit: true})
		var ee *sandbox.ExitError
		if !errors.As(err, &ee) || ee.ExitCode != 3 || res.Stderr != "oops\n" {
			t.Fatalf("Run failing = %+v, %v", res, err)
		}
	})
	t.Run("ExecStream", func(t *testing.T) {
		s, err := sb.ExecStream(ctx, sandbox.ExecRequest{Command: "printf abc; sleep 0.3; echo def; echo err >&2; echo x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut []string
		var result *sandbox.Process
		for ev, err := range s.All() {
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case sandbox.EventStdout:
				out = append(out, ev.Text)
			case sandbox.EventStderr:
				errOut = append(errOut, ev.Text)
			case sandbox.EventResult:
				result = ev.Process
			}
		}
		if strings.Join(out, "|") != "abcdef\n|x\n" || strings.Join(errOut, "|") != "err\n" || result == nil || result.Status != sandbox.StatusCompleted {
			t.Fatalf("stdout %q, stderr %q, result %+v", out, errOut, result)
		}
		// Follow it again through the log stream.
		s, err = sb.StreamLogs(ctx, result.PID, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = out[:0]
		for ev, err := range s.All() {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == sandbox.EventStdout {
				out = append(out, ev.Text)
			}
		}
		if strings.Join(out, "|") != "abcdef\n|x\n" {
			t.Fatalf("StreamLogs stdout %q", out)
		}
	})
	t.Run("ExecStreamResume", func(t *testing.T) {
		// The exec stream's connection drops after its first event; the
		// stream goes on from the log stream.
		cut, err := sandbox.New(client.WithoutEnvironment(), client.WithBaseURL(base),
			client.WithHTTPClient(&http.Client{Transport: cutExecStream{tr}}))
		if err != nil {
			t.Fatal(err)
		}
		s, err := cut.ExecStream(ctx, sandbox.ExecRequest{Command: "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.2; done"},
			&sandbox.StreamOptions{ReconnectDelay: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		var result *sandbox.Process
		for ev, err := range s.All() {
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case sandbox.EventStdout:
				out = append(out, ev.Text)
			case sandbox.EventResult:
				result = ev.Process
			}
		}
		if got := strings.Join(out, ""); got != "line1\nline2\nline3\nline4\nline5\nline6\n" || result == nil || result.ExitCode != 0 {
			t.Fatalf("stdout %q, result %+v", got, result)
		}
	})
	t.Run("UpgradeSucceeds", func(t *testing.T) {
		// $SANDBOXKIT_REAL_RELEASES serves a build of the server at
		// <url>/latest/download/sandbox-api-linux-amd64.
		releases := os.Getenv("SANDBOXKIT_REAL_RELEASES")
		if releases == "" {
			t.Skip("$SANDBOXKIT_REAL_RELEASES is not set")
		}
		uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		before, err := sb.Health(uctx)
		if err != nil {
			t.Fatal(err)
		}
		var steps []sandbox.UpgradeProgress
		res, err := sb.Upgrade(uctx, sandbox.UpgradeOptions{Version: "latest", BaseURL: releases,
			OnProgress: func(p sandbox.UpgradeProgress) { steps = append(steps, p) }})
		if err != nil {
			t.Fatalf("Upgrade: %v (steps %+v)", err, steps)
		}
		if !res.Restarted || res.After.UpgradeCount != before.UpgradeCount+1 {
			t.Fatalf("Upgrade = %+v", res)
		}
		t.Logf("steps %+v", steps)
	})
	t.Run("Upgrade", func(t *testing.T) {
		// Without network access the download fails; a build run from
		// /tmp counts as a development build and skips the upgrade.
		uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		var steps []sandbox.UpgradeStep
		_, err := sb.Upgrade(uctx, sandbox.UpgradeOptions{Version: "v0.0.1", BaseURL: "http://127.0.0.1:9/releases",
			OnProgress: func(p sandbox.UpgradeProgress) { steps = append(steps, p.Step) }})
		var ue *sandbox.UpgradeError
		if !errors.As(err, &ue) || (ue.Step != "download" && ue.Step != "skipped") || ue.Message == "" {
			t.Fatalf("Upgrade: %v (steps %v)", err, steps)
		}
		t.Logf("Upgrade: %v (steps %v)", err, steps)
	})
	t.Run("WaitStopKillLogs", func(t *testing.T) {
		p, err := sb.Exec(ctx, sandbox.ExecRequest{Command: "sleep 30"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.StopProcess(ctx, p.PID); err != nil {
			t.Fatal(err)
		}
		done, err := sb.Wait(ctx, p.PID, nil)
		if err != nil || !done.Status.Terminal() {
			t.Fatalf("Wait = %+v, %v", done, err)
		}
		p, err = sb.Exec(ctx, sandbox.ExecRequest{Command: "echo started", WaitForCompletion: true})
		if err != nil {
			t.Fatal(err)
		}
		logs, err := sb.Logs(ctx, p.PID)
		if err != nil || logs.Stdout != "started\n" {
			t.Fatalf("Logs = %+v, %v", logs, err)
		}
		if err := sb.KillProcess(ctx, "no-such-process"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("KillProcess of an unknown process: %v", err)
		}
		if _, err := sb.ListProcesses(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Watch", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := sb.Mkdir(wctx, abs+"/w", nil); err != nil {
			t.Fatal(err)
		}
		s, err := sb.Watch(wctx, abs+"/w", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := sb.Write(wctx, abs+"/w/new.txt", "x", nil); err != nil {
			t.Fatal(err)
		}
		if !s.Next() {
			t.Fatalf("no event: %v", s.Err())
		}
		if ev := s.Event(); ev.Name != "new.txt" || ev.Path() != abs+"/w/new.txt" {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("Ports", func(t *testing.T) {
		if _, err := sb.Ports(ctx, os.Getpid()); err != nil && !errors.Is(err, client.ErrUnprocessable) {
			t.Fatal(err)
		}
	})
	t.Run("Cleanup", func(t *testing.T) {
		if err := sb.Remove(ctx, abs, &sandbox.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if err := sb.Remove(ctx, dir, &sandbox.RemoveOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
	})
}

// cutExecStream drops the connection of every exec stream after its
// first line.
type cutExecStream struct{ next http.RoundTripper }

func (c cutExecStream) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && r.Header.Get("Accept") == "text/event-stream" {
		resp.Body = &cutAfterLine{ReadCloser: resp.Body}
	}
	return resp, err
}

type cutAfterLine struct {
	io.ReadCloser
	done bool
}

func (c *cutAfterLine) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.ReadCloser.Read(p)
	if i := bytes.IndexByte(p[:n], '\n'); i >= 0 {
		c.done = true
		return i + 1, nil
	}
	return n, err
}
