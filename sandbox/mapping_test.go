package sandbox_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// A process object as the real server sends it.
const processJSON = `{"pid":"4242","name":"build","command":"make","status":"completed",
	"startedAt":"Sun, 22 Nov 2026 22:49:06 GMT","completedAt":"Sun, 22 Nov 2026 22:49:09 GMT",
	"exitCode":0,"workingDir":"/src","logs":"ok\n","stdout":"ok\n","stderr":"",
	"restartOnFailure":true,"maxRestarts":2,"restartCount":1,"keepAlive":false}`

var wantProcess = &sandbox.Process{
	PID: "4242", Name: "build", Command: "make", Status: sandbox.StatusCompleted,
	StartedAt:   time.Date(2026, 11, 22, 22, 49, 6, 0, time.UTC),
	CompletedAt: time.Date(2026, 11, 22, 22, 49, 9, 0, time.UTC),
	WorkingDir:  "/src", Logs: "ok\n", Stdout: "ok\n",
	RestartOnFailure: true, MaxRestarts: 2, RestartCount: 1,
}

const healthJSON = `{"status":"ok","version":"v0.3.1","gitCommit":"abc123","buildTime":"2026-01-29T17:36:52Z",
	"goVersion":"go1.26.8","os":"linux","arch":"amd64","uptime":"1h30m0s","uptimeSeconds":5400.5,
	"upgradeCount":2,"startedAt":"2026-11-22T18:45:49Z",
	"lastUpgrade":{"status":"failed","step":"download","version":"v0.4.0","lastAttempt":"2026-11-22T18:40:00.123456789Z",
	"error":"404 Not Found","downloadUrl":"https://example.test/v0.4.0/bin","bytesDownloaded":1024}}`

var wantHealth = &sandbox.Health{
	Status: "ok", Version: "v0.3.1", GitCommit: "abc123",
	BuildTime: time.Date(2026, 1, 29, 17, 36, 52, 0, time.UTC),
	GoVersion: "go1.26.8", OS: "linux", Arch: "amd64",
	StartedAt:    time.Date(2026, 11, 22, 18, 45, 49, 0, time.UTC),
	Uptime:       5400*time.Second + 500*time.Millisecond,
	UpgradeCount: 2,
	LastUpgrade: sandbox.UpgradeStatus{
		State: sandbox.UpgradeFailed, Step: sandbox.StepDownload, Version: "v0.4.0",
		LastAttempt: time.Date(2026, 11, 22, 18, 40, 0, 123456789, time.UTC),
		Error:       "404 Not Found", DownloadURL: "https://example.test/v0.4.0/bin", BytesDownloaded: 1024,
	},
}

const fileListJSON = `{"path":"/tmp/d","name":"d","files":[{"path":"/tmp/d/a.txt","name":"a.txt","permissions":"640",
	"size":6,"lastModified":"2026-11-22T22:50:26.131553756Z","owner":"root","group":"staff"}],
	"subdirectories":[{"path":"/tmp/d/sub","name":"sub"}]}`

var wantDir = &sandbox.Directory{
	Path: "/tmp/d", Name: "d",
	Files: []sandbox.FileInfo{{
		Path: "/tmp/d/a.txt", Name: "a.txt", Mode: 0o640, Size: 6,
		ModTime: time.Date(2026, 11, 22, 22, 50, 26, 131553756, time.UTC), Owner: "root", Group: "staff",
	}},
	Subdirectories: []sandbox.DirEntry{{Path: "/tmp/d/sub", Name: "sub"}},
}

const success = `{"message":"done"}`

// mappingCase is one operation: the call, the request it must send and
// the answer it must turn into want.
type mappingCase struct {
	name   string
	call   func(ctx context.Context, c *sandbox.Client) (any, error)
	ctype  string      // answer content type, JSON if empty
	header http.Header // more answer headers
	answer string
	method string
	uri    string
	body   string // JSON request body, "" for none
	want   any
}

func mappingCases() []mappingCase {
	return []mappingCase{
		// system
		{
			name:   "Health",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Health(ctx) },
			answer: healthJSON, method: "GET", uri: "/health", want: wantHealth,
		},
		{
			name: "StartUpgrade",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.StartUpgrade(ctx, &sandbox.StartUpgradeOptions{Version: "v1.2.3", BaseURL: "https://github.com/fork/sandbox/releases"})
			},
			answer: `{"message":"Upgrade initiated.","version":"v1.2.3","baseUrl":"https://github.com/fork/sandbox/releases"}`,
			method: "POST", uri: "/upgrade", body: `{"version":"v1.2.3","baseUrl":"https://github.com/fork/sandbox/releases"}`,
			want: &sandbox.UpgradeAck{Message: "Upgrade initiated.", Version: "v1.2.3", BaseURL: "https://github.com/fork/sandbox/releases"},
		},
		{
			name:   "StartUpgrade/default version",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.StartUpgrade(ctx, nil) },
			answer: `{"message":"ok","version":"latest","baseUrl":"https://github.com/blaxel-ai/sandbox/releases"}`,
			method: "POST", uri: "/upgrade",
			want: &sandbox.UpgradeAck{Message: "ok", Version: "latest", BaseURL: "https://github.com/blaxel-ai/sandbox/releases"},
		},
		{
			name:   "ReloadEnvironment",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ReloadEnvironment(ctx) },
			answer: `{"applied":3,"removed":1,"generation":17}`, method: "POST", uri: "/environment/reload",
			want: &sandbox.EnvironmentReload{Applied: 3, Removed: 1, Generation: 17},
		},
		// processes
		{
			name: "Exec",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Exec(ctx, &sandbox.ExecRequest{
					Command: "make", Name: "build", WorkingDir: "/src", Env: map[string]string{"CI": "1"},
					WaitForCompletion: true, Timeout: 1500 * time.Millisecond, WaitForPorts: []int{8080},
					RestartOnFailure: true, MaxRestarts: 2, KeepAlive: true,
				})
			},
			answer: processJSON, method: "POST", uri: "/process",
			body: `{"command":"make","name":"build","workingDir":"/src","env":{"CI":"1"},"waitForCompletion":true,
				"timeout":2,"waitForPorts":[8080],"restartOnFailure":true,"maxRestarts":2,"keepAlive":true}`,
			want: wantProcess,
		},
		{
			name: "Exec/nullable fields",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Exec(ctx, &sandbox.ExecRequest{Command: "sleep 9"})
			},
			answer: `{"pid":"7","name":"proc-x","command":"sleep 9","status":"running","startedAt":"Sun, 22 Nov 2026 22:49:06 GMT",
				"completedAt":null,"exitCode":0,"workingDir":"","logs":null,"stdout":null,"stderr":null}`,
			method: "POST", uri: "/process", body: `{"command":"sleep 9"}`,
			want: &sandbox.Process{PID: "7", Name: "proc-x", Command: "sleep 9", Status: sandbox.StatusRunning,
				StartedAt: time.Date(2026, 11, 22, 22, 49, 6, 0, time.UTC)},
		},
		{
			name:   "ListProcesses",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListProcesses(ctx) },
			answer: "[" + processJSON + "]", method: "GET", uri: "/process",
			want: []*sandbox.Process{wantProcess},
		},
		{
			name:   "GetProcess",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.GetProcess(ctx, "build") },
			answer: processJSON, method: "GET", uri: "/process/build", want: wantProcess,
		},
		{
			name:   "StopProcess",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.StopProcess(ctx, "4242") },
			answer: `{"message":"Process stopped successfully"}`, method: "DELETE", uri: "/process/4242",
		},
		{
			name:   "KillProcess",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.KillProcess(ctx, "4242") },
			answer: `{"message":"Process killed successfully"}`, method: "DELETE", uri: "/process/4242/kill",
		},
		{
			name:   "Logs",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Logs(ctx, "4242") },
			answer: `{"stdout":"a\n","stderr":"b\n","logs":"a\nb\n"}`, method: "GET", uri: "/process/4242/logs",
			want: &sandbox.ProcessLogs{Stdout: "a\n", Stderr: "b\n", Logs: "a\nb\n"},
		},
		// filesystem
		{
			name: "Read",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Read(ctx, "src/a.txt") },
			answer: `{"path":"src/a.txt","name":"","permissions":"644","size":6,"lastModified":"2026-11-22T22:50:26Z",
				"owner":"root","group":"root","content":"hello\n"}`,
			method: "GET", uri: "/filesystem/src/a.txt", want: "hello\n",
		},
		{
			name:   "ListDirectory",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListDirectory(ctx, "/tmp/d") },
			answer: fileListJSON, method: "GET", uri: "/filesystem//tmp/d", want: wantDir,
		},
		{
			name: "Open",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				rc, err := c.Open(ctx, "/tmp/data.json")
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				return string(b), err
			},
			// The real server labels downloads by extension, and marks
			// them as attachments.
			ctype: "application/json", answer: `{"not":"decoded"}`,
			header: http.Header{"Content-Disposition": {`attachment; filename="data.json"`}},
			method: "GET", uri: "/filesystem//tmp/data.json?download=true", want: `{"not":"decoded"}`,
		},
		{
			name: "Write",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.Write(ctx, "src/a.txt", "hello\n", &sandbox.WriteOptions{Permissions: 0o600})
			},
			answer: success, method: "PUT", uri: "/filesystem/src/a.txt", body: `{"content":"hello\n","permissions":"0600"}`,
		},
		{
			name: "Write/empty file",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.Write(ctx, "/tmp/empty", "", nil)
			},
			answer: success, method: "PUT", uri: "/filesystem//tmp/empty", body: `{"content":""}`,
		},
		{
			name: "Mkdir",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.Mkdir(ctx, "/tmp/d", &sandbox.MkdirOptions{Permissions: 0o750})
			},
			answer: success, method: "PUT", uri: "/filesystem//tmp/d", body: `{"isDirectory":true,"permissions":"0750"}`,
		},
		{
			name:   "Remove",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.Remove(ctx, "build/out", nil) },
			answer: success, method: "DELETE", uri: "/filesystem/build/out",
		},
		{
			name: "Remove/recursive",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.Remove(ctx, "/tmp/d", &sandbox.RemoveOptions{Recursive: true})
			},
			answer: success, method: "DELETE", uri: "/filesystem//tmp/d?recursive=true",
		},
		{
			name:   "Tree",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Tree(ctx, "/tmp/d") },
			answer: fileListJSON, method: "GET", uri: "/filesystem/tree//tmp/d", want: wantDir,
		},
		{
			name: "WriteTree",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.WriteTree(ctx, "/tmp/d", map[string]string{"a.txt": "hello\n", "sub/b.txt": "b"})
			},
			answer: fileListJSON, method: "PUT", uri: "/filesystem/tree//tmp/d",
			body: `{"files":{"a.txt":"hello\n","sub/b.txt":"b"}}`, want: wantDir,
		},
		{
			name: "RemoveTree",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.RemoveTree(ctx, "/tmp/d", &sandbox.RemoveOptions{Recursive: true})
			},
			answer: success, method: "DELETE", uri: "/filesystem/tree//tmp/d?recursive=true",
		},
		{
			name: "Find",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Find(ctx, "src", &sandbox.FindOptions{Type: sandbox.TypeFile, Patterns: []string{"*.go", "*.md"},
					MaxResults: -1, ExcludeDirs: []string{}, IncludeHidden: true})
			},
			answer: `{"matches":[{"path":"src/main.go","type":"file"}],"total":1}`,
			method: "GET", uri: "/filesystem-find/src?excludeDirs=%2C&excludeHidden=false&maxResults=0&patterns=%2A.go%2C%2A.md&type=file",
			want: []sandbox.FindMatch{{Path: "src/main.go", Type: sandbox.TypeFile}},
		},
		{
			name:   "Find/defaults",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Find(ctx, "/srv", nil) },
			answer: `{"matches":[],"total":0}`, method: "GET", uri: "/filesystem-find//srv?type=file",
			want: []sandbox.FindMatch{},
		},
		{
			name: "Search",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Search(ctx, "/srv/app", &sandbox.SearchOptions{MaxResults: 5, ExcludeDirs: []string{"node_modules", "dist"}})
			},
			answer: `{"matches":[{"path":"/srv/app/main.go","score":97,"type":"file"}],"total":1}`,
			method: "GET", uri: "/filesystem-search//srv/app?excludeDirs=node_modules%2Cdist&maxResults=5",
			want: []sandbox.SearchMatch{{Path: "/srv/app/main.go", Score: 97, Type: sandbox.TypeFile}},
		},
		{
			name: "Grep",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Grep(ctx, "src", "needle here", &sandbox.GrepOptions{CaseSensitive: true, FilePattern: "*.go", MaxResults: 10})
			},
			answer: `{"query":"needle here","matches":[{"path":"src/a.go","line":2,"column":4,"text":"// needle here","context":"x"}],"total":1}`,
			method: "GET", uri: "/filesystem-content-search/src?caseSensitive=true&filePattern=%2A.go&maxResults=10&query=needle+here",
			want: []sandbox.GrepMatch{{Path: "src/a.go", Line: 2, Column: 4, Text: "// needle here", Context: "x"}},
		},
		{
			name: "Grep/no matches",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) { return c.Grep(ctx, "src", "x", nil) },
			// The real server sends null, not [], when nothing matched.
			answer: `{"query":"x","matches":null,"total":0}`,
			method: "GET", uri: "/filesystem-content-search/src?query=x", want: []sandbox.GrepMatch{},
		},
		// multipart
		{
			name:   "ListMultipartUploads",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListMultipartUploads(ctx) },
			method: "GET", uri: "/filesystem-multipart",
			answer: `{"uploads":[{"uploadId":"u1","path":"/tmp/big","permissions":420,"initiatedAt":"2026-11-22T10:00:00Z",
				"parts":{"2":{"partNumber":2,"etag":"e2","size":5},"1":{"partNumber":1,"etag":"e1","size":8}}}]}`,
			want: []sandbox.MultipartUpload{{
				UploadID: "u1", Path: "/tmp/big", Permissions: 0o644, InitiatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
				Parts: []sandbox.UploadedPart{{PartNumber: 1, ETag: "e1", Size: 8}, {PartNumber: 2, ETag: "e2", Size: 5}},
			}},
		},
		{
			name: "InitiateUpload",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.InitiateUpload(ctx, "/tmp/big.bin", &sandbox.InitiateUploadOptions{Permissions: 0o640})
			},
			answer: `{"uploadId":"u1","path":"/tmp/big.bin"}`,
			method: "POST", uri: "/filesystem-multipart/initiate//tmp/big.bin", body: `{"permissions":"0640"}`, want: "u1",
		},
		{
			name: "ListUploadedParts",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListUploadedParts(ctx, "u1") },
			answer: `{"uploadId":"u1","parts":[{"partNumber":2,"etag":"e2","size":5,"uploadedAt":"2026-11-22T10:00:01Z"},
				{"partNumber":1,"etag":"e1","size":8}]}`,
			method: "GET", uri: "/filesystem-multipart/u1/parts",
			want: []sandbox.UploadedPart{{PartNumber: 1, ETag: "e1", Size: 8},
				{PartNumber: 2, ETag: "e2", Size: 5, UploadedAt: time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC)}},
		},
		{
			name: "CompleteUpload",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.CompleteUpload(ctx, "u1", []sandbox.CompletedPart{{PartNumber: 1, ETag: "e1"}, {PartNumber: 2, ETag: "e2"}})
			},
			answer: success, method: "POST", uri: "/filesystem-multipart/u1/complete",
			body: `{"parts":[{"partNumber":1,"etag":"e1"},{"partNumber":2,"etag":"e2"}]}`,
		},
		{
			name:   "AbortUpload",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.AbortUpload(ctx, "u1") },
			answer: success, method: "DELETE", uri: "/filesystem-multipart/u1/abort",
		},
		// network
		{
			name: "ListPorts",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListPorts(ctx, 42) },
			answer: `{"pid":42,"ports":[{"pid":42,"protocol":"tcp","localAddr":"0.0.0.0","localPort":8080,
				"remoteAddr":"","remotePort":0,"state":"LISTEN","processName":"node"}]}`,
			method: "GET", uri: "/network/process/42/ports",
			want: []sandbox.PortInfo{{PID: 42, Protocol: "tcp", LocalAddr: "0.0.0.0", LocalPort: 8080, State: "LISTEN", ProcessName: "node"}},
		},
		{
			name: "MonitorPorts",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.MonitorPorts(ctx, 42, "https://hooks.example.test/ports")
			},
			answer: `{"message":"Port monitoring started"}`, method: "POST", uri: "/network/process/42/monitor",
			body: `{"callback":"https://hooks.example.test/ports"}`,
		},
		{
			name:   "StopMonitoringPorts",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.StopMonitoringPorts(ctx, 42) },
			answer: `{"message":"Port monitoring stopped"}`, method: "DELETE", uri: "/network/process/42/monitor",
		},
		{
			name: "UpdateTunnel",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.UpdateTunnel(ctx, []byte(`{"peer":"x"}`))
			},
			answer: success, method: "PUT", uri: "/network/tunnel/config", body: `{"config":"eyJwZWVyIjoieCJ9"}`,
		},
		{
			name:   "DisconnectTunnel",
			call:   func(ctx context.Context, c *sandbox.Client) (any, error) { return nil, c.DisconnectTunnel(ctx) },
			answer: `{"message":"Tunnel disconnected"}`, method: "DELETE", uri: "/network/tunnel",
		},
		// drives
		{
			name: "ListDrives",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) { return c.ListDrives(ctx) },
			answer: `{"mounts":[{"driveName":"data","drivePath":"/","mountPath":"/mnt/data","readOnly":true,
				"uidMap":"1000","gidMap":"1000"}]}`,
			method: "GET", uri: "/drives/mount",
			want: []sandbox.DriveMount{{DriveName: "data", DrivePath: "/", MountPath: "/mnt/data", ReadOnly: true, UIDMap: "1000", GIDMap: "1000"}},
		},
		{
			name: "MountDrive",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.MountDrive(ctx, &sandbox.DriveMount{DriveName: "data", DrivePath: "/team", MountPath: "/mnt/data", ReadOnly: true})
			},
			answer: `{"success":true,"message":"mounted","driveName":"data","drivePath":"/team","mountPath":"/mnt/data",
				"readOnly":true,"uidMap":"0","gidMap":"0"}`,
			method: "POST", uri: "/drives/mount",
			body: `{"driveName":"data","drivePath":"/team","mountPath":"/mnt/data","readOnly":true}`,
			want: &sandbox.DriveMount{DriveName: "data", DrivePath: "/team", MountPath: "/mnt/data", ReadOnly: true, UIDMap: "0", GIDMap: "0"},
		},
		{
			name: "UnmountDrive",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return nil, c.UnmountDrive(ctx, "/mnt/data")
			},
			// The route is a catch-all that keeps the segment's slash.
			answer: `{"success":true,"message":"unmounted","mountPath":"/mnt/data"}`,
			method: "DELETE", uri: "/drives/mount/mnt/data",
		},
		// codegen
		{
			name: "FastApply",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.FastApply(ctx, "src/main.go", "// ... existing code ...\nfunc x() {}", &sandbox.FastApplyOptions{Model: "m1"})
			},
			answer: `{"success":true,"path":"src/main.go","provider":"Relace","originalContent":"a","updatedContent":"b"}`,
			method: "PUT", uri: "/codegen/fastapply/src/main.go",
			body: `{"codeEdit":"// ... existing code ...\nfunc x() {}","model":"m1"}`,
			want: &sandbox.FastApplyResult{Path: "src/main.go", Provider: "Relace", OriginalContent: "a", UpdatedContent: "b"},
		},
		{
			name: "Rerank",
			call: func(ctx context.Context, c *sandbox.Client) (any, error) {
				return c.Rerank(ctx, "src", "where is auth?", &sandbox.RerankOptions{ScoreThreshold: 0.7, TokenLimit: 1000, FilePattern: `\.go$`})
			},
			answer: `{"success":true,"files":[{"path":"src/auth.go","score":0.93,"content":"package auth"}]}`,
			method: "GET", uri: "/codegen/reranking/src?filePattern=%5C.go%24&query=where+is+auth%3F&scoreThreshold=0.7000000000&tokenLimit=1000", // ogen writes floats with 10 decimals
			want: []sandbox.RankedFile{{Path: "src/auth.go", Score: 0.93, Content: "package auth"}},
		},
	}
}

// TestRequestResponseMapping checks, for every operation, the request on
// the wire (method, URI, body, credentials) and the Go value made of the
// answer.
func TestRequestResponseMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range mappingCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", cmpOr(tc.ctype, "application/json"))
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				_, _ = io.WriteString(w, tc.answer)
			})
			got, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); tc.want != nil && diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tc.method || r.URI != tc.uri {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.URI, tc.method, tc.uri)
			}
			if !jsonEqual(t, r.Body, tc.body) {
				t.Errorf("body = %s, want %s", r.Body, tc.body)
			}
			if got, want := r.Header.Get("Authorization"), "Bearer "+testToken; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestUploadPartRequest checks the multipart form of a part.
func TestUploadPartRequest(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, reply(200, `{"partNumber":2,"etag":"5d41402abc4b2a76b9719d911017c592","size":5}`))
	got, err := c.UploadPart(t.Context(), "u1", 2, strings.NewReader("hello"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&sandbox.UploadedPart{PartNumber: 2, ETag: "5d41402abc4b2a76b9719d911017c592", Size: 5}, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	r := srv.requests()[0]
	if r.Method != "PUT" || r.URI != "/filesystem-multipart/u1/part?partNumber=2" {
		t.Errorf("request = %s %s", r.Method, r.URI)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q: %v", r.Header.Get("Content-Type"), err)
	}
	part, err := multipart.NewReader(strings.NewReader(r.Body), params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(part)
	if part.FormName() != "file" || string(b) != "hello" {
		t.Errorf("form field %q = %q, want file = hello", part.FormName(), b)
	}
}

// TestOperationCoverage checks that the mapping table covers every
// operation of the spec (testdata/operations/sandbox.txt) with the
// streams and part upload tested elsewhere.
func TestOperationCoverage(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{
		"GET /process/{identifier}/logs/stream":     true, // stream_test.go
		"GET /watch/filesystem/{path}":              true, // stream_test.go
		"PUT /filesystem-multipart/{uploadId}/part": true, // TestUploadPartRequest
	}
	for _, tc := range mappingCases() {
		covered[tc.method+" "+template(tc.uri)] = true
	}
	ops, err := readOperations()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if !covered[op] {
			t.Errorf("operation %s has no mapping test", op)
		}
	}
}

// template maps a request URI of the table back to its route.
func template(uri string) string {
	path, _, _ := strings.Cut(uri, "?")
	routes := []struct{ prefix, route string }{
		{"/filesystem/tree/", "/filesystem/tree/{path}"},
		{"/filesystem-find/", "/filesystem-find/{path}"},
		{"/filesystem-search/", "/filesystem-search/{path}"},
		{"/filesystem-content-search/", "/filesystem-content-search/{path}"},
		{"/filesystem-multipart/initiate/", "/filesystem-multipart/initiate/{path}"},
		{"/filesystem/", "/filesystem/{path}"},
		{"/codegen/fastapply/", "/codegen/fastapply/{path}"},
		{"/codegen/reranking/", "/codegen/reranking/{path}"},
		{"/drives/mount/", "/drives/mount/{mountPath}"},
	}
	for _, r := range routes {
		if strings.HasPrefix(path, r.prefix) {
			return r.route
		}
	}
	parts := strings.Split(path, "/")
	switch {
	case len(parts) >= 3 && parts[1] == "process":
		parts[2] = "{identifier}"
	case len(parts) >= 4 && parts[1] == "network" && parts[2] == "process":
		parts[3] = "{pid}"
	case len(parts) >= 3 && parts[1] == "filesystem-multipart":
		parts[2] = "{uploadId}"
	}
	return strings.Join(parts, "/")
}

// readOperations lists the operations of the spec, "METHOD /path".
func readOperations() ([]string, error) {
	b, err := os.ReadFile("../testdata/operations/sandbox.txt")
	if err != nil {
		return nil, err
	}
	var ops []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			ops = append(ops, line)
		}
	}
	return ops, nil
}
