package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// exampleServer is a tiny stand-in for a sandbox: echo, files and an
// upgrade that restarts the "server" on the second health check after it.
func exampleServer() *httptest.Server {
	var mu sync.Mutex
	files := map[string]string{}
	upgrades, checksSinceUpgrade, upgrading := 0, 0, false
	started := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case r.Method == "POST" && p == "/process":
			fmt.Fprint(w, `{"pid":"12","name":"n","command":"echo hi","status":"completed","startedAt":"Sun, 22 Nov 2026 08:00:00 GMT",
				"completedAt":"Sun, 22 Nov 2026 08:00:00 GMT","exitCode":0,"workingDir":"","logs":"hi\n","stdout":"hi\n","stderr":""}`)
		case r.Method == "PUT" && strings.HasPrefix(p, "/filesystem/"):
			var body struct{ Content string }
			_ = jsonDecode(r.Body, &body)
			files[strings.TrimPrefix(p, "/filesystem/")] = body.Content
			fmt.Fprint(w, `{"message":"ok"}`)
		case r.Method == "GET" && strings.HasPrefix(p, "/filesystem/"):
			fmt.Fprintf(w, `{"path":%q,"permissions":"644","size":1,"lastModified":"","owner":"","group":"","content":%q}`,
				p, files[strings.TrimPrefix(p, "/filesystem/")])
		case p == "/upgrade":
			upgrading = true
			fmt.Fprint(w, `{"message":"Upgrade initiated","version":"v1.1.0"}`)
		case p == "/health":
			last := `{"status":"idle","step":"none","version":""}`
			if upgrading {
				checksSinceUpgrade++
				last = `{"status":"running","step":"download","version":"v1.1.0","lastAttempt":"2026-11-22T09:00:00Z","bytesDownloaded":1048576}`
				if checksSinceUpgrade == 3 {
					upgrading, upgrades, started = false, upgrades+1, started.Add(time.Hour)
					last = `{"status":"idle","step":"none","version":""}`
				}
			}
			fmt.Fprintf(w, `{"status":"ok","version":"v1.%d.0","gitCommit":"c","buildTime":"","goVersion":"go1.26","os":"linux","arch":"amd64",
				"startedAt":%q,"uptime":"1s","uptimeSeconds":1,"upgradeCount":%d,"lastUpgrade":%s}`,
				upgrades, started.Format(time.RFC3339), upgrades, last)
		default:
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		}
	}))
}

func ExampleClient_Run() {
	srv := exampleServer()
	defer srv.Close()
	sb, err := sandbox.New(sandboxkit.WithBaseURL(srv.URL), sandboxkit.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	res, err := sb.Run(context.Background(), "echo hi", &sandbox.RunOptions{CheckExit: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d, stdout %q\n", res.ExitCode, res.Stdout)
	// Output: exit 0, stdout "hi\n"
}

func ExampleClient_Write() {
	srv := exampleServer()
	defer srv.Close()
	sb, err := sandbox.New(sandboxkit.WithBaseURL(srv.URL), sandboxkit.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// Relative to the server's working directory; "/tmp/x" would be absolute.
	if err := sb.Write(ctx, "notes/todo.txt", "ship it\n", nil); err != nil {
		log.Fatal(err)
	}
	text, err := sb.Read(ctx, "notes/todo.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(text)
	// Output: ship it
}

func ExampleClient_Upgrade() {
	srv := exampleServer()
	defer srv.Close()
	sb, err := sandbox.New(sandboxkit.WithBaseURL(srv.URL), sandboxkit.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := sb.Upgrade(ctx, &sandbox.UpgradeOptions{
		Version: "v1.1.0",
		Wait:    &sandboxkit.WaitOptions{MinDelay: 10 * time.Millisecond},
		OnProgress: func(p sandbox.UpgradeProgress) {
			fmt.Println("step:", p.Step)
		},
	})
	if err != nil {
		log.Fatal(err) // an *sandbox.UpgradeError says which step failed and why
	}
	fmt.Printf("upgraded to %s (upgrade #%d)\n", res.After.Version, res.After.UpgradeCount)
	// Output:
	// step: download
	// step: restarting
	// step: completed
	// upgraded to v1.1.0 (upgrade #1)
}

func ExampleClient_ExecStream() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"type":"stdout","data":"building\n"}`+"\n"+`{"type":"stderr","data":"warning: x\n"}`+"\n"+
			`{"type":"result","data":"{\"pid\":\"3\",\"name\":\"n\",\"command\":\"make\",\"status\":\"completed\",\"startedAt\":\"\",\"completedAt\":null,\"exitCode\":0,\"workingDir\":\"\",\"logs\":null,\"stdout\":null,\"stderr\":null}"}`+"\n")
	}))
	defer srv.Close()
	sb, err := sandbox.New(sandboxkit.WithBaseURL(srv.URL), sandboxkit.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := sb.ExecStream(context.Background(), &sandbox.ExecRequest{Command: "make"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range s.All() {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Type {
		case sandbox.EventStdout, sandbox.EventStderr:
			fmt.Printf("%s: %s", ev.Type, ev.Text)
		case sandbox.EventResult:
			fmt.Println("exit code", ev.Process.ExitCode)
		}
	}
	// Output:
	// stdout: building
	// stderr: warning: x
	// exit code 0
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// A client for the sandbox API of a lifecycle sandbox: its port-8080
// endpoint (an address without scheme) with the same credentials. Here the
// lifecycle server and the sandbox are the in-process mock server.
func ExampleNew() {
	srv, err := mockserver.New(mockserver.WithTenant("my-key", "me"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("me", mockserver.SandboxSeed{ID: "sbx-1"})
	lc, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...) // uses my-key
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	ep, err := lc.Endpoint(ctx, id, 8080, nil)
	if err != nil {
		log.Fatal(err)
	}
	opts := []sandboxkit.Option{
		sandboxkit.WithBaseURL("http://" + ep.Address),
		sandboxkit.WithToken("my-key"),
		sandboxkit.WithHTTPClient(srv.HTTPClient()), // the mock's in-memory transport; omit for a real sandbox
	}
	for k, v := range ep.Headers {
		opts = append(opts, sandboxkit.WithHeader(k, v))
	}
	sb, err := sandbox.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Health(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.Config().BaseURL())
	fmt.Println(h.Status, h.Version)
	// Output:
	// http://sandboxkit-mock.test/sandboxes/sbx-1/port/8080
	// ok v0.1.0
}

// Upload sends a file of any size from a reader, in parallel parts with
// bounded memory; Open streams it back.
func ExampleClient_Upload() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		log.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	data := bytes.Repeat([]byte("0123456789abcdef"), 320<<10) // 5 MiB
	res, err := sb.Upload(ctx, "/data/model.bin", bytes.NewReader(data), &sandbox.UploadOptions{
		PartSize:    2 << 20, // 2 MiB parts, at most 2 in memory at once
		Concurrency: 2,
	})
	if err != nil {
		log.Fatal(err) // an *sandbox.UploadError names the failed part
	}
	fmt.Println(res.Size, "bytes in", res.Parts, "parts")

	r, err := sb.Open(ctx, "/data/model.bin")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	fmt.Println(n, "bytes back", err)
	// Output:
	// 5242880 bytes in 3 parts
	// 5242880 bytes back <nil>
}

// Watch follows changes in a directory as a stream.
func ExampleClient_Watch() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		log.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sb.Mkdir(ctx, "/workspace", nil); err != nil {
		log.Fatal(err)
	}

	w, err := sb.Watch(ctx, "/workspace", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if err := sb.Write(ctx, "/workspace/main.py", "print('hi')\n", nil); err != nil {
		log.Fatal(err)
	}
	if w.Next() {
		ev := w.Event()
		fmt.Println(ev.Op, ev.Path())
	}
	// Output: CREATE /workspace/main.py
}

// A Waiter polls a process until it has ended (or reached the statuses
// given); OnTransition reports each change of status it sees.
func ExampleWaiter() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		log.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := sb.Exec(ctx, &sandbox.ExecRequest{Name: "build", Command: "echo built"})
	if err != nil {
		log.Fatal(err)
	}
	w := sandbox.NewWaiter(sb, &sandboxkit.WaitOptions{
		OnTransition: func(t sandboxkit.Transition) { fmt.Printf("%s %s: %q -> %q\n", t.Kind, t.ID, t.From, t.To) },
	})
	p, err = w.Wait(ctx, p.Name, sandbox.StatusCompleted)
	if err != nil {
		// A *sandboxkit.StateError if it failed or was stopped, a
		// *sandboxkit.WaitTimeoutError if ctx ended first.
		log.Fatal(err)
	}
	fmt.Println(p.ExitCode, p.Stdout)
	// Output:
	// process build: "" -> "completed"
	// 0 built
}

// A HealthWaiter waits until the sandbox API server answers "ok",
// waiting out refused connections while it starts.
func ExampleHealthWaiter() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{})
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		log.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	h, err := sandbox.NewHealthWaiter(sb, nil).Wait(ctx)
	if err != nil {
		log.Fatal(err) // a *sandboxkit.WaitTimeoutError if ctx ended first
	}
	fmt.Println(h.Status)
	// Output: ok
}
