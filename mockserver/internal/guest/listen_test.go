package guest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// portsOf returns GET /network/process/{pid}/ports.
func (tg *target) portsOf(t *testing.T, pid string) []portInfo {
	t.Helper()
	resp, body := tg.call(t, http.MethodGet, "/network/process/"+pid+"/ports", "")
	var v struct {
		Pid   int        `json:"pid"`
		Ports []portInfo `json:"ports"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != http.StatusOK || strconv.Itoa(v.Pid) != pid || v.Ports == nil {
		t.Fatalf("ports of %s = %d %s (%v)", pid, resp.StatusCode, body, err)
	}
	return v.Ports
}

// waitPort polls the ports of pid until port is listed.
func (tg *target) waitPort(t *testing.T, pid string, port int) portInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, p := range tg.portsOf(t, pid) {
			if p.LocalPort == port {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d of %s never listed", port, pid)
		}
		tg.elapse(50 * time.Millisecond)
	}
}

// TestListeningCommands: the commands that listen on a port, as the port
// listing, waitForPorts and their errors show them.
func TestListeningCommands(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		base := 20000 + rand.IntN(9000)
		port := func(i int) int { return base + i }
		kill := func(p proc) { tg.atEnd(t, http.MethodDelete, "/process/"+p.Pid+"/kill") }

		// exec: the process is python3 itself.
		a := tg.start(t, map[string]any{"command": fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port(0))})
		kill(a)
		want := portInfo{PID: atoi(a.Pid), Protocol: "tcp", LocalAddr: "127.0.0.1", LocalPort: port(0), State: "LISTEN", ProcessName: "python3"}
		if d := cmp.Diff(want, tg.waitPort(t, a.Pid, port(0))); d != "" {
			t.Errorf("exec python3 (-want +got):\n%s", d)
		}
		// Without exec, dash runs it as a child.
		b := tg.start(t, map[string]any{"command": fmt.Sprintf("python3 -m http.server %d", port(1))})
		kill(b)
		got := tg.waitPort(t, b.Pid, port(1))
		if got.PID == atoi(b.Pid) || got.LocalAddr != "0.0.0.0" || got.ProcessName != "python3" {
			t.Errorf("python3 as a child: %+v (process %s)", got, b.Pid)
		}
		if others := tg.portsOf(t, strconv.Itoa(got.PID)); len(others) != 1 || others[0].LocalPort != port(1) {
			t.Errorf("ports of the child's own pid: %+v", others)
		}

		// waitForPorts waits for a socket the gateway could reach.
		resp, body := tg.call(t, http.MethodPost, "/process", jsonBody(map[string]any{
			"command": fmt.Sprintf("sleep 0.3 && exec python3 -m http.server %d --bind 0.0.0.0", port(2)), "waitForPorts": []int{port(2)}, "timeout": 10}))
		var c proc
		if err := json.Unmarshal([]byte(body), &c); err != nil || resp.StatusCode != http.StatusOK || c.Status != "running" {
			t.Errorf("waitForPorts: %d %s", resp.StatusCode, body)
		}
		kill(c)
		name := unique("loopback")
		tg.atEnd(t, http.MethodDelete, "/process/"+name+"/kill")
		resp, body = tg.call(t, http.MethodPost, "/process", jsonBody(map[string]any{
			"command": fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port(3)), "name": name, "waitForPorts": []int{port(3)}, "timeout": 1}))
		if resp.StatusCode != http.StatusUnprocessableEntity || body != `{"error":"process timed out waiting for ports after 1 seconds"}` {
			t.Errorf("waitForPorts on loopback: %d %s", resp.StatusCode, body)
		}

		// A port in use, bad arguments.
		p := tg.run(t, map[string]any{"command": fmt.Sprintf("python3 -m http.server %d", port(1))})
		if !strings.HasPrefix(str(p.Stderr), "Traceback (most recent call last):\n") || !strings.HasSuffix(str(p.Stderr), "\nOSError: [Errno 98] Address already in use\n") || p.ExitCode != 1 {
			t.Errorf("port in use: %d %q", p.ExitCode, str(p.Stderr))
		}
		for _, tc := range []struct {
			args, stderr string
			code         int
		}{
			{"abc", "server.py: error: argument port: invalid int value: 'abc'\n", 2},
			{"1 2", "server.py: error: unrecognized arguments: 2\n", 2},
			{"--bind", "server.py: error: argument -b/--bind: expected one argument\n", 2},
		} {
			p := tg.run(t, map[string]any{"command": "python3 -m http.server " + tc.args})
			if want := pyUsage + tc.stderr; p.ExitCode != tc.code || str(p.Stderr) != want {
				t.Errorf("http.server %s: %d %q, want %d %q", tc.args, p.ExitCode, str(p.Stderr), tc.code, want)
			}
		}
		if p := tg.run(t, map[string]any{"command": "python3 -m http.server --help"}); p.ExitCode != 0 || str(p.Stdout) != pyHelp {
			t.Errorf("--help: %d %q", p.ExitCode, str(p.Stdout))
		}

		// BusyBox's nc and httpd (in the foreground) listen on every address.
		n := tg.start(t, map[string]any{"command": fmt.Sprintf("busybox nc -l -p %d", port(4))})
		kill(n)
		if got := tg.waitPort(t, n.Pid, port(4)); got.LocalAddr != "*" || got.ProcessName != "busybox" || got.PID == atoi(n.Pid) {
			t.Errorf("busybox nc: %+v", got)
		}
		h := tg.start(t, map[string]any{"command": fmt.Sprintf("exec busybox httpd -f -p %d", port(5))})
		kill(h)
		if got := tg.waitPort(t, h.Pid, port(5)); got.LocalAddr != "*" || got.ProcessName != "busybox" || got.PID != atoi(h.Pid) {
			t.Errorf("busybox httpd -f: %+v", got)
		}
		if p := tg.run(t, map[string]any{"command": fmt.Sprintf("busybox nc -l %d", port(6))}); p.ExitCode != 1 || str(p.Stderr) != "nc: bind: Cannot assign requested address\n" {
			t.Errorf("busybox nc -l PORT: %d %q", p.ExitCode, str(p.Stderr))
		}
		if p := tg.run(t, map[string]any{"command": "busybox frob"}); p.ExitCode != 127 || str(p.Stderr) != "frob: applet not found\n" {
			t.Errorf("busybox frob: %d %q", p.ExitCode, str(p.Stderr))
		}

		// A stopped server's socket is gone.
		tg.call(t, http.MethodDelete, "/process/"+a.Pid, "")
		tg.waitEnded(t, a.Pid)
		if ports := tg.portsOf(t, a.Pid); len(ports) != 0 {
			t.Errorf("ports after stop: %+v", ports)
		}
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// fetch sends a request to h and returns the status, the headers it set
// (Date excepted) and the body.
func fetch(h http.Handler, method, target string, header ...string) (int, http.Header, string) {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	hdr := res.Header.Clone()
	hdr.Del("Date")
	return res.StatusCode, hdr, string(b)
}

// TestPortHandler: what the simulated servers answer to requests that
// reach their port, as python3's http.server and busybox httpd answered
// on the real server (recorded there with a client inside its network).
func TestPortHandler(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for p, data := range map[string]string{"www/a.txt": "hello\n", "www/b c.html": "<b>x</b>", "www/sub/z.json": "y\n", "www/.hidden": "i\n", "www/d/index.html": "<p>i</p>\n"} {
		if err := e.g.WriteFile(p, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	py := e.exec(t, `{"command":"exec python3 -m http.server 8000","workingDir":"www"}`)
	if e.g.PortHandler(8001) != nil {
		t.Error("a handler where nothing listens")
	}
	pyH := e.g.PortHandler(8000)
	if pyH == nil {
		t.Fatal("no handler for python3 -m http.server")
	}
	hdr := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	lastMod := httpDate(epoch)
	listing := func(title string, items ...string) string {
		s := "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Directory listing for " + title + "</title>\n</head>\n<body>\n<h1>Directory listing for " + title + "</h1>\n<hr>\n<ul>\n"
		for _, it := range items {
			s += it + "\n"
		}
		return s + "</ul>\n<hr>\n</body>\n</html>\n"
	}
	notFound := strings.ReplaceAll(pyErrorPage, "%d", "404")
	notFound = strings.Replace(strings.Replace(notFound, "%s", "File not found", 1), "%s", "Nothing matches the given URI", 1)
	root := listing("/", `<li><a href=".hidden">.hidden</a></li>`, `<li><a href="a.txt">a.txt</a></li>`, `<li><a href="b%20c.html">b c.html</a></li>`, `<li><a href="d/">d/</a></li>`, `<li><a href="sub/">sub/</a></li>`)
	server := "SimpleHTTP/0.6 Python/3.11.2"
	for _, tc := range []struct {
		method, target string
		header         []string
		code           int
		want           http.Header
		body           string
	}{
		{"GET", "/", nil, 200, hdr("Server", server, "Content-Type", "text/html; charset=utf-8", "Content-Length", strconv.Itoa(len(root))), root},
		{"GET", "/a.txt", nil, 200, hdr("Server", server, "Content-Type", "text/plain", "Content-Length", "6", "Last-Modified", lastMod), "hello\n"},
		{"GET", "/sub", nil, 301, hdr("Server", server, "Location", "/sub/", "Content-Length", "0"), ""},
		{"GET", "/sub/", nil, 200, hdr("Server", server, "Content-Type", "text/html; charset=utf-8", "Content-Length", "232"), listing("/sub/", `<li><a href="z.json">z.json</a></li>`)},
		{"GET", "/b%20c.html", nil, 200, hdr("Server", server, "Content-Type", "text/html", "Content-Length", "8", "Last-Modified", lastMod), "<b>x</b>"},
		{"GET", "/sub/z.json", nil, 200, hdr("Server", server, "Content-Type", "application/json", "Content-Length", "2", "Last-Modified", lastMod), "y\n"},
		{"GET", "/d/", nil, 200, hdr("Server", server, "Content-Type", "text/html", "Content-Length", "9", "Last-Modified", lastMod), "<p>i</p>\n"},
		{"GET", "/nope", nil, 404, hdr("Server", server, "Connection", "close", "Content-Type", "text/html;charset=utf-8", "Content-Length", "335"), notFound},
		{"GET", "/../etc", nil, 404, hdr("Server", server, "Connection", "close", "Content-Type", "text/html;charset=utf-8", "Content-Length", "335"), notFound},
		{"HEAD", "/a.txt", nil, 200, hdr("Server", server, "Content-Type", "text/plain", "Content-Length", "6", "Last-Modified", lastMod), ""},
		{"GET", "/a.txt", []string{"If-Modified-Since", lastMod}, 304, hdr("Server", server), ""},
		{"POST", "/a.txt", nil, 501, hdr("Server", server, "Connection", "close", "Content-Type", "text/html;charset=utf-8", "Content-Length", "357"), ""},
	} {
		code, got, body := fetch(pyH, tc.method, tc.target, tc.header...)
		if code != tc.code || !cmp.Equal(got, tc.want) || tc.body != "" && body != tc.body {
			t.Errorf("%s %s = %d %v %q\nwant %d %v %q", tc.method, tc.target, code, got, body, tc.code, tc.want, tc.body)
		}
	}
	wantLog := `127.0.0.1 - - [29/Jan/2026 18:45:49] "GET / HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /a.txt HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /sub HTTP/1.1" 301 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /sub/ HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /b%20c.html HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /sub/z.json HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /d/ HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] code 404, message File not found
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /nope HTTP/1.1" 404 -
127.0.0.1 - - [29/Jan/2026 18:45:49] code 404, message File not found
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /../etc HTTP/1.1" 404 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "HEAD /a.txt HTTP/1.1" 200 -
127.0.0.1 - - [29/Jan/2026 18:45:49] "GET /a.txt HTTP/1.1" 304 -
127.0.0.1 - - [29/Jan/2026 18:45:49] code 501, message Unsupported method ('POST')
127.0.0.1 - - [29/Jan/2026 18:45:49] "POST /a.txt HTTP/1.1" 501 -
`
	if got := e.getProcess(t, py.Pid); got.Stderr.Value != wantLog || got.Stdout.Value != "" {
		t.Errorf("python3's output: %q %q", got.Stdout.Value, got.Stderr.Value)
	}

	// busybox httpd: no listings; started without -f it leaves the
	// process, which ends at once.
	bb := e.exec(t, `{"command":"busybox httpd -p 8002 -h www"}`)
	if got := e.getProcess(t, bb.Pid); got.Status != "completed" || len(e.ports(t, atoi(bb.Pid))) != 0 {
		t.Errorf("busybox httpd: %s, ports %v", got.Status, e.ports(t, atoi(bb.Pid)))
	}
	h := e.g.PortHandler(8002)
	if h == nil {
		t.Fatal("no handler for busybox httpd")
	}
	bbPage := func(code int, text string) string {
		return fmt.Sprintf("<HTML><HEAD><TITLE>%d %s</TITLE></HEAD>\n<BODY><H1>%d %s</H1>\n%s\n</BODY></HTML>\n", code, http.StatusText(code), code, http.StatusText(code), text)
	}
	etag := fmt.Sprintf(`"%x-6"`, epoch.Unix())
	for _, tc := range []struct {
		method, target string
		code           int
		want           http.Header
		body           string
	}{
		{"GET", "/", 404, hdr("Connection", "close", "Content-Type", "text/html"), bbPage(404, "The requested URL was not found")},
		{"GET", "/a.txt?x=1", 200, hdr("Connection", "close", "Content-Type", "text/plain", "Accept-Ranges", "bytes", "Last-Modified", lastMod, "ETag", etag, "Content-Length", "6"), "hello\n"},
		{"GET", "/sub/z.json", 200, hdr("Connection", "close", "Accept-Ranges", "bytes", "Last-Modified", lastMod, "ETag", fmt.Sprintf(`"%x-2"`, epoch.Unix()), "Content-Length", "2"), "y\n"},
		{"GET", "/sub", 302, hdr("Connection", "close", "Content-Type", "text/html", "Location", "/sub/"), ""},
		{"GET", "/d/", 200, hdr("Connection", "close", "Content-Type", "text/html", "Accept-Ranges", "bytes", "Last-Modified", lastMod, "ETag", fmt.Sprintf(`"%x-9"`, epoch.Unix()), "Content-Length", "9"), "<p>i</p>\n"},
		{"GET", "/a.txt/", 404, hdr("Connection", "close", "Content-Type", "text/html"), bbPage(404, "The requested URL was not found")},
		{"GET", "/%2e%2e/x", 400, hdr("Connection", "close", "Content-Type", "text/html"), bbPage(400, "Unsupported method")},
		{"GET", "/d/../a.txt", 200, hdr("Connection", "close", "Content-Type", "text/plain", "Accept-Ranges", "bytes", "Last-Modified", lastMod, "ETag", etag, "Content-Length", "6"), "hello\n"},
		{"POST", "/a.txt", 501, hdr("Connection", "close", "Content-Type", "text/html"), bbPage(501, "The requested method is not recognized")},
	} {
		code, got, body := fetch(h, tc.method, tc.target)
		if code != tc.code || !cmp.Equal(got, tc.want) || body != tc.body {
			t.Errorf("busybox %s %s = %d %v %q\nwant %d %v %q", tc.method, tc.target, code, got, body, tc.code, tc.want, tc.body)
		}
	}

	// Loopback only: the gateway cannot reach it.
	e.exec(t, `{"command":"python3 -m http.server 8003 --bind 127.0.0.1"}`)
	if e.g.PortHandler(8003) != nil {
		t.Error("a handler for a server on loopback")
	}
	// Once the server is stopped, requests find nothing.
	e.do(t, http.MethodDelete, "/process/"+py.Pid, "")
	if code, _, _ := fetch(pyH, "GET", "/"); e.g.PortHandler(8000) != nil || code != http.StatusBadGateway {
		t.Errorf("after stop: %d, handler %v", code, e.g.PortHandler(8000) != nil)
	}
}
