package guest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The commands that listen on a port: python3 -m http.server, busybox
// httpd and nc, and nc (netcat-openbsd, as Debian images ship it). The real
// server here runs processes on a Debian host with Python 3.11 and
// BusyBox 1.35; their messages are those.

// utilPython simulates python3 running the http.server module; any other
// use says it is not simulated.
func utilPython(sh *shell, args []string) int {
	a := args[1:]
	switch {
	case len(a) >= 2 && a[0] == "-m" && a[1] == "http.server":
		return pyHTTPServer(sh, a[2:])
	case len(a) >= 1 && a[0] == "-mhttp.server":
		return pyHTTPServer(sh, a[1:])
	}
	sh.writeStr(2, "python3: the simulated sandbox runs python3 only as python3 -m http.server\n")
	return 127
}

const (
	pyUsage = "usage: server.py [-h] [--cgi] [-b ADDRESS] [-d DIRECTORY] [-p VERSION] [port]\n"
	pyHelp  = pyUsage + `
positional arguments:
  port                  bind to this port (default: 8000)

options:
  -h, --help            show this help message and exit
  --cgi                 run as CGI server
  -b ADDRESS, --bind ADDRESS
                        bind to this address (default: all interfaces)
  -d DIRECTORY, --directory DIRECTORY
                        serve this directory (default: current directory)
  -p VERSION, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)
`
	// pyTraceMain is the start of the traceback of an error in
	// http.server's test(), and pyTraceBind its end when bind fails.
	pyTraceMain = `Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/usr/lib/python3.11/http/server.py", line 1309, in <module>
    test(
`
	pyTraceBind = `  File "/usr/lib/python3.11/http/server.py", line 1256, in test
    with ServerClass(addr, HandlerClass) as httpd:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/socketserver.py", line 456, in __init__
    self.server_bind()
  File "/usr/lib/python3.11/http/server.py", line 1303, in server_bind
    return super().server_bind()
           ^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/http/server.py", line 136, in server_bind
    socketserver.TCPServer.server_bind(self)
  File "/usr/lib/python3.11/socketserver.py", line 472, in server_bind
    self.socket.bind(self.server_address)
`
	pyTraceResolve = `  File "/usr/lib/python3.11/http/server.py", line 1254, in test
    ServerClass.address_family, addr = _get_best_family(bind, port)
                                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/http/server.py", line 1237, in _get_best_family
    infos = socket.getaddrinfo(
            ^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo
    for res in _socket.getaddrinfo(host, port, family, type, proto, flags):
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
`
)

// pyHTTPServer is python3 -m http.server [options] [port]: it parses its
// arguments as argparse does, binds (as Python resolves the address) and
// serves until a signal ends it. Its stdout is a buffered file that a
// signal never flushes, so it writes nothing there; each request is
// logged on stderr.
func pyHTTPServer(sh *shell, args []string) int {
	fail := func(msg string) int {
		sh.writeStr(2, pyUsage+"server.py: error: "+msg+"\n")
		return 2
	}
	long := []string{"--bind", "--cgi", "--directory", "--help", "--protocol"}
	bind, dir, portArg := "", "", ""
	var extra []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		opt, val, hasVal := a, "", false
		switch {
		case a == "--":
			for _, rest := range args[i+1:] {
				if portArg == "" {
					portArg = rest
				} else {
					extra = append(extra, rest)
				}
			}
			i = len(args)
			continue
		case strings.HasPrefix(a, "--"):
			name, v, eq := strings.Cut(a, "=")
			var match []string
			for _, l := range long {
				if strings.HasPrefix(l, name) {
					match = append(match, l)
				}
			}
			if len(match) != 1 {
				if len(match) > 1 {
					return fail("ambiguous option: " + name + " could match " + strings.Join(match, ", "))
				}
				extra = append(extra, a)
				continue
			}
			opt, val, hasVal = match[0], v, eq
		case len(a) > 1 && a[0] == '-' && !isNumber(a):
			switch a[1] {
			case 'h':
				opt = "--help"
			case 'b':
				opt = "--bind"
			case 'd':
				opt = "--directory"
			case 'p':
				opt = "--protocol"
			default:
				extra = append(extra, a)
				continue
			}
			if len(a) > 2 {
				val, hasVal = a[2:], true
			}
		default:
			if portArg == "" {
				portArg = a
			} else {
				extra = append(extra, a)
			}
			continue
		}
		switch opt {
		case "--help":
			sh.writeStr(1, pyHelp)
			return 0
		case "--cgi":
			continue
		}
		if !hasVal {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") && !isNumber(args[i+1]) {
				short := map[string]string{"--bind": "-b", "--directory": "-d", "--protocol": "-p"}[opt]
				return fail("argument " + short + "/" + opt + ": expected one argument")
			}
			i++
			val = args[i]
		}
		switch opt {
		case "--bind":
			bind = val
		case "--directory":
			dir = val
		}
	}
	port := 8000
	if portArg != "" {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(portArg), "_", ""))
		if err != nil || strings.HasPrefix(portArg, "_") || strings.HasSuffix(portArg, "_") {
			return fail("argument port: invalid int value: '" + portArg + "'")
		}
		port = n
	}
	if len(extra) > 0 {
		return fail("unrecognized arguments: " + strings.Join(extra, " "))
	}
	addr, resolveErr := pyBindAddress(bind)
	if resolveErr != "" {
		sh.writeStr(2, pyTraceMain+pyTraceResolve+resolveErr+"\n")
		return 1
	}
	if port < 0 {
		sh.writeStr(2, pyTraceMain+pyTraceBind+"OverflowError: bind(): port must be 0-65535.\n")
		return 1
	}
	port %= 65536 // the port goes to getaddrinfo as a service number
	if addr == "" {
		sh.writeStr(2, pyTraceMain+pyTraceBind+"OSError: [Errno 99] Cannot assign requested address\n")
		return 1
	}
	g := sh.g
	if port == 0 {
		port = g.freePortLocked("tcp")
	}
	root := sh.dir
	if dir != "" {
		root = sh.abs(dir)
	}
	l := &listener{proto: "tcp", port: port, addr: addr, pid: sh.ownerPID(), name: "python3", proc: sh.f.p}
	l.serve = &pyServer{g: g, root: root, log: g.logWriter(l, sh.fds[2])}
	if g.listenLocked(l) != nil {
		sh.writeStr(2, pyTraceMain+pyTraceBind+"OSError: [Errno 98] Address already in use\n")
		return 1
	}
	return sh.listenUntilSignal(l)
}

// isNumber reports whether s looks like a negative number, which
// argparse takes as a positional argument.
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// pyBindAddress is the local address a socket Python binds to bind gets,
// as ss shows it: "" when the sandbox has no such address, or the end of
// a traceback when the name does not resolve.
func pyBindAddress(bind string) (addr, resolveErr string) {
	switch bind {
	case "", "0.0.0.0":
		return "0.0.0.0", ""
	case "::":
		return "*", ""
	case "localhost":
		return "127.0.0.1", ""
	}
	ip := net.ParseIP(bind)
	switch {
	case ip == nil:
		return "", "socket.gaierror: [Errno -3] Temporary failure in name resolution"
	case ip.IsLoopback():
		return ip.String(), ""
	}
	return "", ""
}

// pyServer answers requests as http.server's SimpleHTTPRequestHandler
// does, from the guest's file system.
type pyServer struct {
	g    *Guest
	root string
	log  func(ctx context.Context, line string)
}

// pyMIME is the type python3's http.server gives a file by its extension
// (Debian's mime.types), application/octet-stream for any other.
var pyMIME = map[string]string{
	".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".css": "text/css",
	".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
	".xml": "application/xml", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
	".jpeg": "image/jpeg", ".gif": "image/gif", ".ico": "image/vnd.microsoft.icon", ".webp": "image/webp",
	".pdf": "application/pdf", ".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".tgz": "application/x-tar", ".md": "text/markdown", ".csv": "text/csv", ".py": "text/x-python",
	".sh": "text/x-sh", ".wasm": "application/wasm", ".mp4": "video/mp4", ".mp3": "audio/mpeg",
	".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".c": "text/x-csrc", ".h": "text/x-chdr",
}

// pyError is the page of an error answer.
const pyErrorPage = `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %d</p>
        <p>Message: %s.</p>
        <p>Error code explanation: %d - %s.</p>
    </body>
</html>
`

func (s *pyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.g
	target := r.URL.RequestURI()
	client := "127.0.0.1"
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && net.ParseIP(host) != nil {
		client = host
	}
	now := g.clk.Now().UTC()
	logf := func(format string, a ...any) {
		s.log(r.Context(), fmt.Sprintf("%s - - [%s] %s\n", client, now.Format("02/Jan/2006 15:04:05"), fmt.Sprintf(format, a...)))
	}
	h := w.Header()
	h.Set("Server", "SimpleHTTP/0.6 Python/3.11.2")
	h.Set("Date", httpDate(now))
	answer := func(code int) {
		logf("\"%s %s %s\" %d -", r.Method, target, r.Proto, code)
		w.WriteHeader(code)
	}
	fail := func(code int, msg, explain string) {
		logf("code %d, message %s", code, msg)
		body := fmt.Sprintf(pyErrorPage, code, htmlText(msg), code, explain)
		h.Set("Connection", "close")
		h.Set("Content-Type", "text/html;charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		answer(code)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(body))
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		fail(http.StatusNotImplemented, "Unsupported method ('"+r.Method+"')", "Server does not support this operation")
		return
	}
	// translate_path: the path without query, decoded, normalized; "." and
	// ".." dropped.
	urlPath, query, _ := strings.Cut(target, "?")
	urlPath, _, _ = strings.Cut(urlPath, "#")
	decoded, err := url.PathUnescape(urlPath)
	if err != nil {
		decoded = urlPath
	}
	fsPath := s.root
	for _, word := range strings.Split(path.Clean("/"+decoded), "/") {
		if word != "" && word != "." && word != ".." {
			fsPath = path.Join(fsPath, word)
		}
	}
	g.mu.Lock()
	n, err := g.lookupLocked(fsPath)
	var data []byte
	var mtime time.Time
	var listing string
	isDir, index := err == nil && n.dir, false
	if isDir && strings.HasSuffix(urlPath, "/") {
		for _, name := range []string{"index.html", "index.htm"} {
			if k := n.kids[name]; k != nil && !k.dir {
				n, isDir, index, fsPath = k, false, true, path.Join(fsPath, name)
				break
			}
		}
		if isDir {
			listing = pyListing(target, n)
		}
	}
	if err == nil && !n.dir {
		data, mtime = n.data, n.mtime
	}
	g.mu.Unlock()
	switch {
	case isDir && !strings.HasSuffix(urlPath, "/"):
		loc := urlPath + "/"
		if query != "" {
			loc += "?" + query
		}
		h.Set("Location", loc)
		h.Set("Content-Length", "0")
		answer(http.StatusMovedPermanently)
	case isDir:
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(listing)))
		answer(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(listing))
		}
	case err != nil || !index && strings.HasSuffix(decoded, "/"):
		fail(http.StatusNotFound, "File not found", "Nothing matches the given URI")
	default:
		if ims, perr := http.ParseTime(r.Header.Get("If-Modified-Since")); perr == nil && r.Header.Get("If-None-Match") == "" && !mtime.Truncate(time.Second).After(ims) {
			answer(http.StatusNotModified)
			return
		}
		ctype, ok := pyMIME[strings.ToLower(path.Ext(fsPath))]
		if !ok {
			ctype = "application/octet-stream"
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Length", strconv.Itoa(len(data)))
		h.Set("Last-Modified", httpDate(mtime))
		answer(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
	}
}

// pyListing is http.server's page for a directory without an index:
// the entries sorted case-insensitively, directories with a slash.
func pyListing(target string, dir *node) string {
	title, err := url.PathUnescape(target)
	if err != nil {
		title = target
	}
	title = htmlText(title)
	var b strings.Builder
	b.WriteString("<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<title>Directory listing for " + title + "</title>\n</head>\n<body>\n")
	b.WriteString("<h1>Directory listing for " + title + "</h1>\n<hr>\n<ul>\n")
	kids := dir.sortedKids()
	slices.SortStableFunc(kids, func(a, b *node) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })
	for _, k := range kids {
		name := k.name
		if k.dir {
			name += "/"
		}
		href := pyQuote(name)
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", href, htmlText(name))
	}
	b.WriteString("</ul>\n<hr>\n</body>\n</html>\n")
	return b.String()
}

// pyQuote percent-encodes s as urllib.parse.quote does: all but letters,
// digits, "_.-~" and "/".
func pyQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// htmlText escapes &, < and > (Python's html.escape with quote=False).
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

const (
	bbBanner = "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\n"
	bbNcHelp = `Usage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]

Open a pipe to IP:PORT or FILE

	-l	Listen mode, for inbound connects
		(use -ll with -e for persistent server)
	-p PORT	Local port
	-w SEC	Connect timeout
	-i SEC	Delay interval for lines sent
	-f FILE	Use file (ala /dev/ttyS0) instead of network
	-e PROG	Run PROG after connect
`
	bbHttpdHelp = `Usage: httpd [-ifv[v]] [-c CONFFILE] [-p [IP:]PORT] [-u USER[:GRP]] [-r REALM] [-h HOME]
or httpd -d/-e/-m STRING

Listen for incoming HTTP requests

	-i		Inetd mode
	-f		Run in foreground
	-v[v]		Verbose
	-p [IP:]PORT	Bind to IP:PORT (default *:80)
	-u USER[:GRP]	Set uid/gid after binding to port
	-r REALM	Authentication Realm for Basic Authentication
	-h HOME		Home directory (default .)
	-c FILE		Configuration file (default {/etc,HOME}/httpd.conf)
	-m STRING	MD5 crypt STRING
	-e STRING	HTML encode STRING
	-d STRING	URL decode STRING
`
)

// getopt splits args as getopt(3) does: single-letter flags, those in
// withValue taking a value (attached or the next argument), operands
// anywhere (GNU order). bad is the first unknown flag ('?' when a value
// is missing, with missing set to its letter).
func getopt(args []string, flags, withValue string) (set map[byte]int, values map[byte]string, operands []string, bad, missing byte) {
	set, values = map[byte]int{}, map[byte]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return set, values, append(operands, args[i+1:]...), 0, 0
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch {
			case strings.IndexByte(withValue, c) >= 0:
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return set, values, operands, '?', c
					}
					i++
					v = args[i]
				}
				values[c] = v
				set[c]++
				j = len(a)
			case strings.IndexByte(flags, c) >= 0:
				set[c]++
			default:
				return set, values, operands, c, 0
			}
		}
	}
	return set, values, operands, 0, 0
}

// utilBusybox runs a BusyBox applet: httpd and nc as BusyBox has them,
// the others as the simulated utilities of the same name.
func utilBusybox(sh *shell, args []string) int {
	if len(args) < 2 {
		sh.writeStr(2, bbBanner+"Usage: busybox [function [arguments]...]\n")
		return 1
	}
	switch name := args[1]; name {
	case "httpd":
		return bbHttpd(sh, args[1:])
	case "nc":
		return bbNc(sh, args[1:])
	default:
		if u, ok := utilities[name]; ok && name != "python3" && name != "busybox" {
			return u(sh, args[1:])
		}
		if b, ok := shellBuiltins[name]; ok && name != "bash" && !special[name] {
			return b(sh, args[1:])
		}
		sh.writeStr(2, name+": applet not found\n")
		return 127
	}
}

// bbNc is BusyBox's nc in listen mode (-l -p PORT): it listens on all
// addresses and waits for a connection, which never comes here. Connecting
// is not simulated.
func bbNc(sh *shell, args []string) int {
	set, values, operands, bad, missing := getopt(args[1:], "lvnz", "pwief")
	switch {
	case missing != 0:
		sh.writeStr(2, "nc: option requires an argument -- '"+string(missing)+"'\n"+bbBanner+bbNcHelp)
		return 1
	case bad != 0:
		sh.writeStr(2, "nc: invalid option -- '"+string(bad)+"'\n"+bbBanner+bbNcHelp)
		return 1
	case set['l'] == 0:
		return ncClient(sh, "nc", operands)
	case len(operands) > 0:
		// The operand is taken as the address to listen on.
		sh.writeStr(2, "nc: bind: Cannot assign requested address\n")
		return 1
	}
	port := sh.g.freePortLocked("tcp")
	if v, ok := values['p']; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			sh.writeStr(2, "nc: bad port '"+v+"'\n")
			return 1
		}
		port = n
	}
	l := &listener{proto: "tcp", port: port, addr: "*", pid: sh.ownerPID(), name: "busybox", proc: sh.f.p}
	if sh.g.listenLocked(l) != nil {
		sh.writeStr(2, "nc: bind: Address already in use\n")
		return 1
	}
	return sh.listenUntilSignal(l)
}

// utilNc is netcat-openbsd's nc in listen mode (nc -l [-p] PORT, -u for
// UDP, -s ADDR, -6): it listens and waits for a connection, which never
// comes here. Connecting is not simulated.
func utilNc(sh *shell, args []string) int {
	set, values, operands, bad, missing := getopt(args[1:], "46bCDdFhklNnrStUuvZz", "IiMmOPpqsTVWwXx")
	switch {
	case missing != 0:
		sh.writeStr(2, "nc: option requires an argument -- '"+string(missing)+"'\n")
		return 1
	case bad != 0:
		sh.writeStr(2, "nc: invalid option -- '"+string(bad)+"'\n")
		return 1
	case set['l'] == 0:
		return ncClient(sh, "nc", operands)
	}
	portArg := values['p']
	if len(operands) > 0 {
		portArg = operands[len(operands)-1]
	}
	if portArg == "" {
		sh.writeStr(2, "nc: missing port number\n")
		return 1
	}
	port, err := strconv.Atoi(portArg)
	if err != nil || port < 0 || port > 65535 {
		sh.writeStr(2, "nc: getaddrinfo: Servname not supported for ai_socktype\n")
		return 1
	}
	addr := "0.0.0.0"
	if set['6'] > 0 {
		addr = "::"
	}
	if s, ok := values['s']; ok {
		if ip := net.ParseIP(s); ip == nil || !ip.IsLoopback() && !ip.IsUnspecified() {
			sh.writeStr(2, "nc: Cannot assign requested address\n")
			return 1
		}
		addr = net.ParseIP(s).String()
	}
	proto := "tcp"
	if set['u'] > 0 {
		proto = "udp"
	}
	l := &listener{proto: proto, port: port, addr: addr, pid: sh.ownerPID(), name: "nc", proc: sh.f.p}
	if sh.g.listenLocked(l) != nil {
		sh.writeStr(2, "nc: Address already in use\n")
		return 1
	}
	return sh.listenUntilSignal(l)
}

// ncClient is nc asked to connect: the simulated sandbox has no network.
func ncClient(sh *shell, name string, operands []string) int {
	target := strings.Join(operands, " port ")
	sh.writeStr(2, name+": connect to "+target+" failed: the simulated sandbox has no network\n")
	return 1
}

// bbHttpd is BusyBox's httpd: it serves the files of its home directory
// (-h, default the working directory) on -p [IP:]PORT (default 80). In
// the foreground (-f) it runs until a signal ends it; otherwise it
// daemonizes: the command exits 0 at once and the server, out of the
// process group, runs until the sandbox ends (no stop or kill reaches
// it, and the process's port listing does not show it).
func bbHttpd(sh *shell, args []string) int {
	set, values, _, bad, missing := getopt(args[1:], "ifv", "cpurhdem")
	switch {
	case missing != 0:
		sh.writeStr(2, "httpd: option requires an argument -- '"+string(missing)+"'\n"+bbBanner+bbHttpdHelp)
		return 1
	case bad != 0:
		sh.writeStr(2, "httpd: invalid option -- '"+string(bad)+"'\n"+bbBanner+bbHttpdHelp)
		return 1
	}
	addr, portArg := "*", "80"
	if v, ok := values['p']; ok {
		portArg = v
		if host, p, ok := strings.Cut(v, ":"); ok {
			addr, portArg = host, p
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() && !ip.IsUnspecified() {
				sh.writeStr(2, "httpd: bind: Cannot assign requested address\n")
				return 1
			}
			addr = net.ParseIP(host).String()
		}
	}
	port, err := strconv.Atoi(portArg)
	if err != nil || port < 0 || port > 65535 {
		sh.writeStr(2, "httpd: bad port '"+portArg+"'\n")
		return 1
	}
	root := sh.dir
	if h, ok := values['h']; ok {
		root = sh.abs(h)
	}
	g := sh.g
	l := &listener{proto: "tcp", port: port, addr: addr, name: "busybox", proc: sh.f.p}
	l.serve = &bbServer{g: g, root: root}
	daemon := set['f'] == 0
	if daemon {
		pid, _ := strconv.Atoi(g.newPIDLocked())
		l.pid, l.proc = pid, nil
	} else {
		l.pid = sh.ownerPID()
	}
	if g.listenLocked(l) != nil {
		sh.writeStr(2, "httpd: bind: Address already in use\n")
		return 1
	}
	if daemon {
		return 0
	}
	return sh.listenUntilSignal(l)
}

// bbMIME is the type busybox httpd gives a file by its extension; others
// get no Content-Type.
var bbMIME = map[string]string{
	".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".c": "text/plain", ".h": "text/plain",
	".cc": "text/plain", ".cpp": "text/plain", ".css": "text/css", ".js": "application/javascript",
	".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".mp3": "audio/mpeg",
}

// bbServer answers requests as busybox httpd does: files and index.html,
// no directory listings.
type bbServer struct {
	g    *Guest
	root string
}

func (s *bbServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.g
	h := w.Header()
	h.Set("Date", httpDate(g.clk.Now()))
	h.Set("Connection", "close")
	fail := func(code int, text string) {
		body := fmt.Sprintf("<HTML><HEAD><TITLE>%d %s</TITLE></HEAD>\n<BODY><H1>%d %s</H1>\n%s\n</BODY></HTML>\n", code, http.StatusText(code), code, http.StatusText(code), text)
		h.Set("Content-Type", "text/html")
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(body))
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		fail(http.StatusNotImplemented, "The requested method is not recognized")
		return
	}
	urlPath := r.URL.Path
	if urlPath == "" {
		urlPath = "/"
	}
	// A path that climbs above the root is refused.
	var parts []string
	for _, seg := range strings.Split(urlPath, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				fail(http.StatusBadRequest, "Unsupported method")
				return
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	fsPath := path.Join(append([]string{s.root}, parts...)...)
	g.mu.Lock()
	n, err := g.lookupLocked(fsPath)
	index := false
	if err == nil && n.dir && strings.HasSuffix(urlPath, "/") {
		if k := n.kids["index.html"]; k != nil && !k.dir {
			n, index, fsPath = k, true, path.Join(fsPath, "index.html")
		}
	}
	var data []byte
	var mtime time.Time
	isDir := err == nil && n.dir
	if err == nil && !n.dir {
		data, mtime = n.data, n.mtime
	}
	g.mu.Unlock()
	switch {
	case isDir && !strings.HasSuffix(urlPath, "/"):
		loc := urlPath + "/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		h.Set("Content-Type", "text/html")
		h.Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	case err != nil || isDir || !index && strings.HasSuffix(urlPath, "/"):
		fail(http.StatusNotFound, "The requested URL was not found")
	default:
		if ctype, ok := bbMIME[path.Ext(fsPath)]; ok {
			h.Set("Content-Type", ctype)
		}
		h.Set("Accept-Ranges", "bytes")
		h.Set("Last-Modified", httpDate(mtime))
		h.Set("ETag", fmt.Sprintf(`"%x-%x"`, mtime.Unix(), len(data)))
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
	}
}
