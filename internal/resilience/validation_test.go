package resilience

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// countingTransport counts the requests that reach it and answers none.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return nil, errors.New("countingTransport: no request should get this far")
}

// escapingIDs are identifiers that would leave their URL path segment, or
// change the URL around it, if they were sent.
var escapingIDs = map[string]string{
	"dot-dot slash":   "../x",
	"dot-dot":         "..",
	"dot":             ".",
	"slash":           "a/b",
	"leading slash":   "/a",
	"backslash":       `a\b`,
	"encoded dots":    "%2e%2e",
	"encoded slash":   "a%2Fb",
	"question mark":   "a?b",
	"hash":            "a#b",
	"empty":           "",
	"NUL":             "\x00",
	"embedded NUL":    "a\x00b",
	"newline":         "a\nb",
	"leading space":   " a",
	"invalid UTF-8":   "a\xffb",
	"too long":        strings.Repeat("a", sandboxkit.MaxIDLength+1),
	"dot-dot encoded": "..%2f..%2fv1",
}

// invalidPaths are sandbox file system paths the sandbox client must
// refuse before sending.
var invalidPaths = map[string]string{
	"empty":        "",
	"NUL":          "\x00",
	"embedded NUL": "/tmp/a\x00b",
	"trailing NUL": "a.txt\x00",
}

// idCall is one id-taking method, called with id.
type idCall struct {
	name string
	call func(ctx context.Context, id string) error
}

// errUnset is what opt's calls return for "": not a rejected input.
var errUnset = errors.New("empty means unset")

// opt marks c's argument as an optional field, where "" means unset and
// is valid: c is not called with "".
func opt(c idCall) idCall {
	call := c.call
	c.call = func(ctx context.Context, id string) error {
		if id == "" {
			return errUnset
		}
		return call(ctx, id)
	}
	return c
}

// expectRejected runs every call with every input and checks that each
// fails with an error matching sandboxkit.ErrInvalidInput while no request
// reaches rt.
func expectRejected(t *testing.T, rt *countingTransport, inputs map[string]string, calls []idCall) {
	t.Helper()
	for _, c := range calls {
		for label, in := range inputs {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			before := rt.n.Load()
			err := c.call(ctx, in)
			cancel()
			if errors.Is(err, errUnset) {
				continue
			}
			if !errors.Is(err, sandboxkit.ErrInvalidInput) {
				t.Errorf("%s(%s %q) = %v, want an error matching sandboxkit.ErrInvalidInput", c.name, label, in, err)
			}
			if sent := rt.n.Load() - before; sent != 0 {
				t.Errorf("%s(%s %q) sent %d requests", c.name, label, in, sent)
			}
		}
	}
}

func TestLifecycleRejectsEscapingIDs(t *testing.T) {
	t.Parallel()
	rt := &countingTransport{}
	lc, err := lifecycle.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://lifecycle.invalid/v1"),
		sandboxkit.WithAPIKey("osk-validation-key"), sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	req := func() *lifecycle.CreateRequest {
		return &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "python:3.12"}, Entrypoint: []string{"sh"}}
	}
	fast := &sandboxkit.WaitOptions{MinDelay: time.Millisecond, MaxDelay: time.Millisecond}
	pool, err := lifecycle.NewRenewerPool(t.Context(), lc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	expectRejected(t, rt, escapingIDs, []idCall{
		{"Get", func(ctx context.Context, id string) error { _, err := lc.Get(ctx, id); return err }},
		{"Delete", func(ctx context.Context, id string) error { return lc.Delete(ctx, id) }},
		{"Pause", func(ctx context.Context, id string) error { return lc.Pause(ctx, id) }},
		{"Resume", func(ctx context.Context, id string) error { return lc.Resume(ctx, id) }},
		{"Renew", func(ctx context.Context, id string) error { _, err := lc.Renew(ctx, id, future); return err }},
		{"PatchMetadata", func(ctx context.Context, id string) error {
			_, err := lc.PatchMetadata(ctx, id, &lifecycle.MetadataPatch{Set: map[string]string{"a": "b"}})
			return err
		}},
		{"Endpoint", func(ctx context.Context, id string) error { _, err := lc.Endpoint(ctx, id, 8080, nil); return err }},
		{"Endpoint (signed)", func(ctx context.Context, id string) error {
			_, err := lc.Endpoint(ctx, id, 8080, &lifecycle.EndpointOptions{SignedUntil: future})
			return err
		}},
		{"CreateSnapshot", func(ctx context.Context, id string) error { _, err := lc.CreateSnapshot(ctx, id, nil); return err }},
		{"GetSnapshot", func(ctx context.Context, id string) error { _, err := lc.GetSnapshot(ctx, id); return err }},
		{"DeleteSnapshot", func(ctx context.Context, id string) error { return lc.DeleteSnapshot(ctx, id) }},
		opt(idCall{"ListSnapshots (SandboxID)", func(ctx context.Context, id string) error {
			_, err := lc.ListSnapshots(ctx, &lifecycle.ListSnapshotsOptions{SandboxID: id})
			return err
		}}),
		opt(idCall{"AllSnapshots (SandboxID)", func(ctx context.Context, id string) error {
			for _, err := range lc.AllSnapshots(ctx, &lifecycle.ListSnapshotsOptions{SandboxID: id}) {
				return err
			}
			return nil
		}}),
		{"CreateFromSnapshot", func(ctx context.Context, id string) error {
			_, err := lc.CreateFromSnapshot(ctx, id, nil, nil)
			return err
		}},
		{"Create (SnapshotID)", func(ctx context.Context, id string) error {
			_, err := lc.Create(ctx, &lifecycle.CreateRequest{SnapshotID: id}, nil)
			return err
		}},
		{"CreateAndWait (SnapshotID)", func(ctx context.Context, id string) error {
			_, err := lc.CreateAndWait(ctx, &lifecycle.CreateRequest{SnapshotID: id}, nil)
			return err
		}},
		opt(idCall{"Create (ClientToken)", func(ctx context.Context, id string) error {
			_, err := lc.Create(ctx, req(), &lifecycle.CreateOptions{ClientToken: id})
			return err
		}}),
		{"Waiter.Wait", func(ctx context.Context, id string) error {
			_, err := lifecycle.NewWaiter(lc, nil).Wait(ctx, id, lifecycle.StateRunning)
			return err
		}},
		{"Waiter.Wait (Terminated)", func(ctx context.Context, id string) error {
			_, err := lifecycle.NewWaiter(lc, nil).Wait(ctx, id, lifecycle.StateTerminated)
			return err
		}},
		{"PauseAndWait", func(ctx context.Context, id string) error { _, err := lc.PauseAndWait(ctx, id, fast); return err }},
		{"ResumeAndWait", func(ctx context.Context, id string) error { _, err := lc.ResumeAndWait(ctx, id, fast); return err }},
		{"DeleteAndWait", func(ctx context.Context, id string) error { return lc.DeleteAndWait(ctx, id, fast) }},
		{"NewRenewer", func(ctx context.Context, id string) error {
			r, err := lifecycle.NewRenewer(ctx, lc, id, nil)
			if r != nil {
				r.Stop()
			}
			return err
		}},
		{"RenewerPool.Add", func(_ context.Context, id string) error { return pool.Add(id) }},
	})
}

func TestControlPlaneRejectsEscapingNames(t *testing.T) {
	t.Parallel()
	rt := &countingTransport{}
	cp, err := controlplane.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://cp.invalid/v0"),
		sandboxkit.WithToken("bl-validation-token"), sandboxkit.WithWorkspace("ws"), sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	named := func(name string) *controlplane.Sandbox {
		return &controlplane.Sandbox{
			Metadata: controlplane.Metadata{Name: name},
			Spec:     controlplane.Spec{Runtime: &controlplane.Runtime{Image: "blaxel/base-image:latest"}},
		}
	}
	fast := &sandboxkit.WaitOptions{MinDelay: time.Millisecond, MaxDelay: time.Millisecond}
	expectRejected(t, rt, escapingIDs, []idCall{
		{"Get", func(ctx context.Context, n string) error { _, err := cp.Get(ctx, n, nil); return err }},
		{"Delete", func(ctx context.Context, n string) error { _, err := cp.Delete(ctx, n); return err }},
		{"DeleteAndWait", func(ctx context.Context, n string) error { _, err := cp.DeleteAndWait(ctx, n, fast); return err }},
		{"Create", func(ctx context.Context, n string) error { _, err := cp.Create(ctx, named(n), nil); return err }},
		{"CreateAndWait", func(ctx context.Context, n string) error { _, err := cp.CreateAndWait(ctx, named(n), fast); return err }},
		{"Update", func(ctx context.Context, n string) error { _, err := cp.Update(ctx, named(n)); return err }},
		{"EnsureSandbox", func(ctx context.Context, n string) error { _, err := cp.EnsureSandbox(ctx, named(n), nil); return err }},
		{"Waiter.Wait", func(ctx context.Context, n string) error {
			_, err := controlplane.NewWaiter(cp, fast).Wait(ctx, n, controlplane.StatusDeployed)
			return err
		}},
		{"Waiter.Wait gone", func(ctx context.Context, n string) error {
			_, err := controlplane.NewWaiter(cp, fast).Wait(ctx, n, controlplane.StatusTerminated, controlplane.StatusGone)
			return err
		}},
		{"SetTTL", func(ctx context.Context, n string) error { _, err := cp.SetTTL(ctx, n, time.Hour, nil); return err }},
		{"ExtendTTL", func(ctx context.Context, n string) error { _, err := cp.ExtendTTL(ctx, n, time.Hour, nil); return err }},
		{"SetExpirationPolicies", func(ctx context.Context, n string) error {
			_, err := cp.SetExpirationPolicies(ctx, n, []controlplane.ExpirationPolicy{controlplane.TTLMaxAge(time.Hour)}, nil)
			return err
		}},
	})
}

func TestSandboxRejectsEscapingIDsAndBadPaths(t *testing.T) {
	t.Parallel()
	rt := &countingTransport{}
	sc, err := sandbox.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithBaseURL("http://sandbox.invalid/port/8080"),
		sandboxkit.WithToken("bl-validation-token"), sandboxkit.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello")
	t.Run("process and upload ids", func(t *testing.T) {
		t.Parallel()
		expectRejected(t, rt, escapingIDs, []idCall{
			{"GetProcess", func(ctx context.Context, id string) error { _, err := sc.GetProcess(ctx, id); return err }},
			{"StopProcess", func(ctx context.Context, id string) error { return sc.StopProcess(ctx, id) }},
			{"KillProcess", func(ctx context.Context, id string) error { return sc.KillProcess(ctx, id) }},
			{"Logs", func(ctx context.Context, id string) error { _, err := sc.Logs(ctx, id); return err }},
			{"StreamLogs", func(ctx context.Context, id string) error {
				s, err := sc.StreamLogs(ctx, id, nil)
				if s != nil {
					_ = s.Close()
				}
				return err
			}},
			{"Wait", func(ctx context.Context, id string) error {
				_, err := sandbox.NewWaiter(sc, nil).Wait(ctx, id)
				return err
			}},
			opt(idCall{"Exec (Name)", func(ctx context.Context, id string) error {
				_, err := sc.Exec(ctx, &sandbox.ExecRequest{Command: "true", Name: id})
				return err
			}}),
			opt(idCall{"Run (Name)", func(ctx context.Context, id string) error {
				_, err := sc.Run(ctx, "true", &sandbox.RunOptions{Name: id})
				return err
			}}),
			{"AbortUpload", func(ctx context.Context, id string) error { return sc.AbortUpload(ctx, id) }},
			{"CompleteUpload", func(ctx context.Context, id string) error {
				return sc.CompleteUpload(ctx, id, []sandbox.CompletedPart{{PartNumber: 1, ETag: "x"}})
			}},
			{"ListUploadedParts", func(ctx context.Context, id string) error { _, err := sc.ListUploadedParts(ctx, id); return err }},
			{"UploadPart", func(ctx context.Context, id string) error {
				_, err := sc.UploadPart(ctx, id, 1, bytes.NewReader(data), int64(len(data)))
				return err
			}},
			{"ResumeUpload", func(ctx context.Context, id string) error {
				_, err := sc.ResumeUpload(ctx, id, bytes.NewReader(data), int64(len(data)), nil)
				return err
			}},
		})
	})
	t.Run("paths", func(t *testing.T) {
		t.Parallel()
		expectRejected(t, rt, invalidPaths, []idCall{
			{"Read", func(ctx context.Context, p string) error { _, err := sc.Read(ctx, p); return err }},
			{"Open", func(ctx context.Context, p string) error {
				r, err := sc.Open(ctx, p)
				if r != nil {
					_ = r.Close()
				}
				return err
			}},
			{"Write", func(ctx context.Context, p string) error { return sc.Write(ctx, p, "x", nil) }},
			{"ListDirectory", func(ctx context.Context, p string) error { _, err := sc.ListDirectory(ctx, p); return err }},
			{"Mkdir", func(ctx context.Context, p string) error { return sc.Mkdir(ctx, p, nil) }},
			{"Remove", func(ctx context.Context, p string) error { return sc.Remove(ctx, p, nil) }},
			{"Tree", func(ctx context.Context, p string) error { _, err := sc.Tree(ctx, p); return err }},
			{"RemoveTree", func(ctx context.Context, p string) error { return sc.RemoveTree(ctx, p, nil) }},
			{"WriteTree (root)", func(ctx context.Context, p string) error {
				_, err := sc.WriteTree(ctx, p, map[string]string{"a.txt": "x"})
				return err
			}},
			{"WriteTree (file)", func(ctx context.Context, p string) error {
				_, err := sc.WriteTree(ctx, "/tmp", map[string]string{p: "x"})
				return err
			}},
			{"Find", func(ctx context.Context, p string) error { _, err := sc.Find(ctx, p, nil); return err }},
			{"Search", func(ctx context.Context, p string) error { _, err := sc.Search(ctx, p, nil); return err }},
			{"Grep", func(ctx context.Context, p string) error { _, err := sc.Grep(ctx, p, "x", nil); return err }},
			{"Watch", func(ctx context.Context, p string) error {
				s, err := sc.Watch(ctx, p, nil)
				if s != nil {
					_ = s.Close()
				}
				return err
			}},
			{"Upload", func(ctx context.Context, p string) error {
				_, err := sc.Upload(ctx, p, bytes.NewReader(data), nil)
				return err
			}},
			{"InitiateUpload", func(ctx context.Context, p string) error { _, err := sc.InitiateUpload(ctx, p, nil); return err }},
			{"FastApply", func(ctx context.Context, p string) error { _, err := sc.FastApply(ctx, p, "x", nil); return err }},
			{"Rerank", func(ctx context.Context, p string) error { _, err := sc.Rerank(ctx, p, "x", nil); return err }},
			{"UnmountDrive", func(ctx context.Context, p string) error { return sc.UnmountDrive(ctx, p) }},
			{"MountDrive", func(ctx context.Context, p string) error {
				_, err := sc.MountDrive(ctx, &sandbox.DriveMount{DriveName: "d", MountPath: p})
				return err
			}},
			opt(idCall{"Exec (WorkingDir)", func(ctx context.Context, p string) error {
				_, err := sc.Exec(ctx, &sandbox.ExecRequest{Command: "true", WorkingDir: p})
				return err
			}}),
		})
	})
}
