package guest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// listener is a socket a simulated command listens on.
type listener struct {
	proto string // "tcp" or "udp"
	port  int
	// addr is the local address as the server's port listing shows it
	// (ss's: "0.0.0.0", "127.0.0.1", "*" for a dual-stack socket).
	addr string
	pid  int    // the process that owns the socket
	name string // its command name, as the kernel keeps it (15 bytes)
	// proc is the API process whose process group the owner belongs to;
	// nil for a daemon, which left it.
	proc *process
	// serve answers HTTP requests that reach the port; nil when the
	// command serves no HTTP.
	serve http.Handler
	open  bool
}

type listenKey struct {
	proto string
	port  int
}

var errAddrInUse = errors.New("address already in use")

// listenLocked opens l, unless something listens on its port already.
func (g *Guest) listenLocked(l *listener) error {
	k := listenKey{l.proto, l.port}
	if _, busy := g.listeners[k]; busy {
		return errAddrInUse
	}
	l.open = true
	g.listeners[k] = l
	if l.proc != nil {
		l.proc.broadcastLocked()
	}
	return nil
}

// unlistenLocked closes l.
func (g *Guest) unlistenLocked(l *listener) {
	if !l.open {
		return
	}
	l.open = false
	delete(g.listeners, listenKey{l.proto, l.port})
	if l.proc != nil {
		l.proc.broadcastLocked()
	}
}

// freePortLocked is the port the kernel gives a socket bound to port 0:
// the first free one of the ephemeral range.
func (g *Guest) freePortLocked(proto string) int {
	for port := 32768; port < 61000; port++ {
		if _, busy := g.listeners[listenKey{proto, port}]; !busy {
			return port
		}
	}
	return 0
}

// portsOfLocked returns what the server lists for pid: the sockets of the
// running process with that pid and of the commands it started, or those
// of the command whose own pid it is.
func (g *Guest) portsOfLocked(pid int) []*listener {
	p := g.procs[strconv.Itoa(pid)]
	var out []*listener
	for _, l := range g.listeners {
		if l.pid == pid || p != nil && p.live && l.proc == p {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *listener) int {
		if a.port != b.port {
			return a.port - b.port
		}
		return strings.Compare(a.proto, b.proto)
	})
	return out
}

// routable reports whether a socket bound to addr can be reached from
// outside the sandbox: anything but loopback. The server's waitForPorts
// waits for such a socket, as its gateway reaches no other.
func routable(addr string) bool {
	ip := net.ParseIP(addr)
	return ip == nil || !ip.IsLoopback()
}

// servesLocked reports whether p (or a command it started) has a routable
// socket listening on port, what waitForPorts waits for.
func (g *Guest) servesLocked(p *process, port int) bool {
	for _, proto := range []string{"tcp", "udp"} {
		if l := g.listeners[listenKey{proto, port}]; l != nil && l.proc == p && routable(l.addr) {
			return true
		}
	}
	return false
}

// PortHandler returns what answers HTTP requests to port of the sandbox
// from outside: the simulated server listening there on a routable
// address (python3 -m http.server, busybox httpd), or nil when nothing
// serves HTTP there (nothing listens, it listens on loopback only, or it
// is not an HTTP server). The handler serves the path of the request as
// the server sees it, and answers 502 when the server has gone by the
// time the request arrives.
func (g *Guest) PortHandler(port int) http.Handler {
	g.mu.Lock()
	l := g.listeners[listenKey{"tcp", port}]
	g.mu.Unlock()
	if l == nil || l.serve == nil || !routable(l.addr) {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		open := l.open
		g.mu.Unlock()
		if !open {
			http.Error(w, "nothing listens on port "+strconv.Itoa(port), http.StatusBadGateway)
			return
		}
		l.serve.ServeHTTP(w, r)
	})
}

// ownerPID is the pid of a command sh runs: the process's own when the
// command line execs it (exec python3 ...), a child's otherwise (dash
// forks even for the last command of a command line).
func (sh *shell) ownerPID() int {
	if sh.execing && sh.f.top && sh.depth == 0 {
		pid, _ := strconv.Atoi(sh.f.p.pid)
		return pid
	}
	pid, _ := strconv.Atoi(sh.g.newPIDLocked())
	return pid
}

// commName is the name the kernel keeps for a command: the base name of
// argv[0], cut to 15 bytes.
func commName(arg0 string) string {
	name := baseName(arg0)
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

// listenUntilSignal keeps l open until a signal ends the command (a
// SIGTERM unless the shell ignores it, a SIGKILL), as a server does that
// no client reaches.
func (sh *shell) listenUntilSignal(l *listener) int {
	defer sh.g.unlistenLocked(l)
	return sh.blockForever()
}

// logWriter writes the log lines of a simulated server to the
// descriptor its command had as standard error, as long as l is open.
func (g *Guest) logWriter(l *listener, d *fileDesc) func(ctx context.Context, line string) {
	return func(ctx context.Context, line string) {
		_, _, _ = g.writeFromGoroutine(ctx, d, []byte(line), func() bool { return l.open })
	}
}
