package guest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Exit statuses of commands killed by a signal, as a shell reports them.
const (
	statusTerm = 128 + 15
	statusKill = 128 + 9
)

// maxShellDepth bounds nested shells, functions and substitutions, so a
// command line that recurses forever fails instead of exhausting memory.
const maxShellDepth = 200

// busyBudget is how many commands a flow runs before it lets a
// millisecond of the guest's clock pass (about dash's speed): a command
// line that loops without ever sleeping keeps running, as it would on the
// real server, instead of holding the guest forever.
const busyBudget = 1000

// flow is one coroutine of a simulated process: the shell the process
// runs, or a background job (cmd &). All flows of a process form its
// process group: a stop or kill reaches every one.
type flow struct {
	p      *process
	pidStr string // $! of a background job
	steps  int    // commands run, for busyBudget
	co     *coroutine
	shells []*shell // shells nested in this flow, innermost last
	done   bool
	status int
	// onDone are called (as if holding g.mu) when the flow ends.
	onDone []func()
}

// fdKind is what a file descriptor of a simulated shell is.
type fdKind int

const (
	fdOut  fdKind = iota // the process's stdout or stderr
	fdFile               // a file of the simulated file system (writing)
	fdBuf                // a pipe or command substitution being captured
	fdNull               // /dev/null
	fdIn                 // input: pipe content, here-document, file
)

type fileDesc struct {
	kind   fdKind
	stream string // fdOut
	n      *node  // fdFile
	path   string // fdFile: where the node was opened
	buf    *bytes.Buffer
	data   []byte // fdIn
	off    int
}

// shell is one simulated shell process: the one a process runs, a
// subshell, or a nested sh -c.
type shell struct {
	g        *Guest
	f        *flow
	name     string // $0
	bash     bool   // bash's error wording
	dir      string
	vars     map[string]string
	exported map[string]bool
	args     []string // $1...
	status   int
	lastBg   string
	funcs    map[string]*funcDef
	traps    map[string]*string // nil: default; "": ignored
	errexit  bool
	nounset  bool
	xtrace   bool
	fds      [10]*fileDesc
	jobs     []*flow
	line     int
	depth    int
	cond     int  // >0 while running a condition: set -e does not apply
	execPos  bool // running the last command of the script: signals go to it, not the shell
	termSeen bool // a SIGTERM awaits handling
	// sigDied is set when the last command ended because a signal killed
	// it; died when the shell itself was killed by one.
	sigDied, died bool
}

// Control flow inside the interpreter travels as panics, recovered where
// they end: exit at the shell's boundary, return at the function call,
// break and continue at the loop.
type (
	exitSignal   struct{ code int }
	returnSignal struct{ code int }
	loopSignal   struct {
		n     int
		isBrk bool
	}
	// shellDeath: the shell was killed by a signal it does not handle.
	shellDeath struct{ status int }
)

// newTopShell returns the shell a process runs its command line in.
func (g *Guest) newTopShell(f *flow, dir string, env map[string]string) *shell {
	sh := &shell{
		g: g, f: f, name: "sh", dir: dir,
		vars: copyEnv(env), exported: map[string]bool{},
		funcs: map[string]*funcDef{}, traps: map[string]*string{},
	}
	for k := range env {
		sh.exported[k] = true
	}
	sh.vars["PWD"], sh.exported["PWD"] = dir, true
	sh.fds[0] = &fileDesc{kind: fdNull}
	sh.fds[1] = &fileDesc{kind: fdOut, stream: "stdout"}
	sh.fds[2] = &fileDesc{kind: fdOut, stream: "stderr"}
	return sh
}

// subshell returns a copy of sh for a subshell: variables, functions,
// directory and descriptors are inherited, changes stay inside; traps
// other than ignored ones are reset.
func (sh *shell) subshell() *shell {
	c := *sh
	c.vars = maps.Clone(sh.vars)
	c.exported = maps.Clone(sh.exported)
	c.funcs = maps.Clone(sh.funcs)
	c.args = slices.Clone(sh.args)
	c.traps = map[string]*string{}
	for k, v := range sh.traps {
		if v != nil && *v == "" {
			c.traps[k] = v
		}
	}
	c.jobs = nil
	c.depth = sh.depth + 1
	c.execPos = false
	c.termSeen = false
	return &c
}

// errorf writes a shell error message ("sh: 3: foo: not found").
func (sh *shell) errorf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if sh.bash {
		sh.writeStr(2, fmt.Sprintf("%s: line %d: %s\n", sh.name, sh.line, msg))
		return
	}
	sh.writeStr(2, fmt.Sprintf("%s: %d: %s\n", sh.name, sh.line, msg))
}

func (sh *shell) writeStr(fd int, s string) { sh.write(fd, []byte(s)) }

// write writes to file descriptor fd.
func (sh *shell) write(fd int, b []byte) {
	if fd < 0 || fd >= len(sh.fds) || len(b) == 0 {
		return
	}
	d := sh.fds[fd]
	if d == nil {
		return
	}
	switch d.kind {
	case fdOut:
		sh.f.p.writeLocked(d.stream, b)
	case fdFile:
		sh.g.appendNodeLocked(d.n, d.path, b)
	case fdBuf:
		d.buf.Write(b)
	}
}

// readAll reads what is left on file descriptor fd.
func (sh *shell) readAll(fd int) []byte {
	d := sh.fds[fd]
	if d == nil || d.kind != fdIn {
		return nil
	}
	b := d.data[d.off:]
	d.off = len(d.data)
	return b
}

// readLine reads one line from fd (without its newline); ok is false at
// the end of input.
func (sh *shell) readLine(fd int) (line string, ok bool) {
	d := sh.fds[fd]
	if d == nil || d.kind != fdIn || d.off >= len(d.data) {
		return "", false
	}
	rest := d.data[d.off:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		d.off += i + 1
		return string(rest[:i]), true
	}
	d.off = len(d.data)
	return string(rest), true
}

// abs resolves a path against the shell's directory.
func (sh *shell) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(sh.dir, p)
}

// env returns the environment exported to commands.
func (sh *shell) env() map[string]string {
	out := map[string]string{}
	for k := range sh.exported {
		if v, ok := sh.vars[k]; ok {
			out[k] = v
		}
	}
	return out
}

// runScript runs a whole command line in sh and returns its exit status.
// Syntax errors are reported like dash's and give status 2.
func (sh *shell) runScript(src string) int {
	l, err := parseScript(src)
	if err != nil {
		se := err.(*syntaxError)
		sh.line = se.line
		sh.errorf("Syntax error: %s", se.msg)
		return 2
	}
	return sh.runBoundary(func() int { return sh.runList(l, true) })
}

// runBoundary runs body as a whole shell: exit ends it, the EXIT trap
// runs at its end, a signal that kills it gives the signal's status.
func (sh *shell) runBoundary(body func() int) (status int) {
	sh.f.shells = append(sh.f.shells, sh)
	defer func() {
		sh.f.shells = sh.f.shells[:len(sh.f.shells)-1]
	}()
	defer func() {
		r := recover()
		switch v := r.(type) {
		case nil:
		case exitSignal:
			status = v.code
		case shellDeath:
			status = v.status
			sh.died = true
			return // no EXIT trap when killed
		case returnSignal:
			status = v.code
		case loopSignal:
			status = sh.status
		default:
			panic(r)
		}
		status = sh.runExitTrap(status)
	}()
	status = body()
	return status
}

// runExitTrap runs the EXIT trap, if any, and returns the shell's final
// status.
func (sh *shell) runExitTrap(status int) int {
	t := sh.traps["EXIT"]
	if t == nil || *t == "" {
		return status
	}
	action := *t
	delete(sh.traps, "EXIT")
	sh.status = status
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(exitSignal); ok {
				status = e.code
				return
			}
			panic(r)
		}
	}()
	sh.eval(action)
	return status
}

// checkSignals handles a SIGTERM the shell received while a command ran:
// it runs the trap, ignores it, or dies.
func (sh *shell) checkSignals() {
	if !sh.termSeen {
		return
	}
	sh.termSeen = false
	t := sh.traps["TERM"]
	switch {
	case t == nil:
		panic(shellDeath{statusTerm})
	case *t == "":
	default:
		saved := sh.status
		sh.eval(*t)
		sh.status = saved
	}
}

// ignoresTerm reports whether SIGTERM is ignored (and so is by the
// commands the shell starts).
func (sh *shell) ignoresTerm() bool {
	t := sh.traps["TERM"]
	return t != nil && *t == ""
}

func (sh *shell) eval(src string) int {
	sh.depth++
	defer func() { sh.depth-- }()
	if sh.depth > maxShellDepth {
		sh.errorf("nesting too deep")
		panic(exitSignal{2})
	}
	l, err := parseScript(src)
	if err != nil {
		sh.errorf("Syntax error: %s", err.(*syntaxError).msg)
		sh.status = 2
		return 2
	}
	return sh.runList(l, false)
}

// runList runs a list. top marks the command line's own list, whose last
// simple command runs in exec position (dash replaces itself with it).
func (sh *shell) runList(l *list, top bool) int {
	for i, it := range l.items {
		if it.bg {
			sh.startJob(it.ao)
			sh.status = 0
			continue
		}
		last := top && i == len(l.items)-1
		sh.runAndOr(it.ao, last)
	}
	return sh.status
}

func (sh *shell) runAndOr(ao *andOr, last bool) int {
	for i, pl := range ao.pipes {
		if i > 0 {
			op := ao.ops[i-1]
			if op == "&&" && sh.status != 0 || op == "||" && sh.status == 0 {
				continue
			}
		}
		isLast := i == len(ao.pipes)-1
		if !isLast {
			sh.cond++
		}
		sh.runPipeline(pl, last && len(ao.pipes) == 1)
		if !isLast {
			sh.cond--
		}
	}
	return sh.status
}

// runPipeline runs a pipeline. The simulated pipe has no concurrency: each
// stage runs to its end and the next one reads everything it wrote.
func (sh *shell) runPipeline(pl *pipeline, last bool) int {
	if pl.bang {
		sh.cond++
	}
	var status int
	if len(pl.cmds) == 1 {
		status = sh.runCommand(pl.cmds[0], last && !pl.bang)
	} else {
		var input []byte
		for i, c := range pl.cmds {
			sub := sh.subshell()
			if i > 0 {
				sub.fds[0] = &fileDesc{kind: fdIn, data: input}
			}
			var out *bytes.Buffer
			if i < len(pl.cmds)-1 {
				out = &bytes.Buffer{}
				sub.fds[1] = &fileDesc{kind: fdBuf, buf: out}
			}
			status = sub.runBoundary(func() int { return sub.runCommand(c, false) })
			sh.sigDied = sub.died
			sh.line = sub.line
			if out != nil {
				input = out.Bytes()
			}
			sh.checkSignals()
		}
	}
	if pl.bang {
		sh.cond--
		if status == 0 {
			status = 1
		} else {
			status = 0
		}
	}
	sh.status = status
	return status
}

// runCommand runs one command and applies set -e.
func (sh *shell) runCommand(c command, last bool) int {
	if sh.depth > maxShellDepth {
		sh.errorf("nesting too deep")
		panic(exitSignal{2})
	}
	if sh.f.steps++; sh.f.steps%busyBudget == 0 {
		sh.pause(time.Millisecond)
	}
	var status int
	switch c := c.(type) {
	case *simpleCmd:
		status = sh.runSimple(c, last)
	case *funcDef:
		sh.funcs[c.name] = c
		status = 0
	default:
		status = sh.withRedirects(c.redirects(), func() int { return sh.runCompound(c) })
	}
	sh.status = status
	sh.checkSignals()
	if sh.errexit && status != 0 && sh.cond == 0 {
		panic(exitSignal{status})
	}
	return status
}

func (sh *shell) runCompound(c command) int {
	switch c := c.(type) {
	case *groupCmd:
		if !c.subshell {
			return sh.runList(c.body, false)
		}
		sub := sh.subshell()
		st := sub.runBoundary(func() int { return sub.runList(c.body, true) })
		sh.sigDied = sub.died
		return st
	case *ifCmd:
		for i, cond := range c.conds {
			sh.cond++
			st := sh.runList(cond, false)
			sh.cond--
			if st == 0 {
				return sh.runList(c.bodies[i], false)
			}
		}
		if c.elseBody != nil {
			return sh.runList(c.elseBody, false)
		}
		return 0
	case *forCmd:
		var items []string
		if c.hasIn {
			for _, w := range c.items {
				items = append(items, sh.expandFields(w)...)
			}
		} else {
			items = slices.Clone(sh.args)
		}
		status := 0
		for _, it := range items {
			sh.vars[c.name] = it
			brk, st := sh.loopBody(c.body)
			status = st
			if brk {
				break
			}
		}
		return status
	case *whileCmd:
		status := 0
		for {
			sh.cond++
			st := sh.runList(c.cond, false)
			sh.cond--
			if (st == 0) == c.until {
				break
			}
			brk, st := sh.loopBody(c.body)
			status = st
			if brk {
				break
			}
		}
		return status
	case *caseCmd:
		subject := sh.expandString(c.subject)
		for _, cl := range c.clauses {
			for _, pat := range cl.patterns {
				if matchGlob(sh.expandPattern(pat), subject) {
					return sh.runList(cl.body, false)
				}
			}
		}
		return 0
	}
	return 0
}

// loopBody runs a loop's body, handling break and continue.
func (sh *shell) loopBody(body *list) (brk bool, status int) {
	defer func() {
		if r := recover(); r != nil {
			ls, ok := r.(loopSignal)
			if !ok {
				panic(r)
			}
			status = sh.status
			if ls.n > 1 {
				panic(loopSignal{ls.n - 1, ls.isBrk})
			}
			brk = ls.isBrk
		}
	}()
	return false, sh.runList(body, false)
}

// runSimple runs a simple command.
func (sh *shell) runSimple(c *simpleCmd, last bool) int {
	sh.line = c.line
	var args []string
	subStatus := -1
	for _, w := range c.args {
		if hasCmdSub(w) {
			subStatus = 0
		}
		args = append(args, sh.expandFields(w)...)
	}
	assigns := make([][2]string, 0, len(c.assigns))
	for _, a := range c.assigns {
		assigns = append(assigns, [2]string{a.name, sh.expandString(a.value)})
		if hasCmdSub(a.value) {
			subStatus = 0
		}
	}
	if subStatus == 0 {
		subStatus = sh.status
	}
	if sh.xtrace {
		var parts []string
		for _, a := range assigns {
			parts = append(parts, a[0]+"="+a[1])
		}
		sh.writeStr(2, "+ "+strings.Join(append(parts, args...), " ")+"\n")
	}
	if len(args) == 0 {
		for _, a := range assigns {
			sh.vars[a[0]] = a[1]
		}
		st := sh.withRedirects(c.redirs, func() int { return 0 })
		if st != 0 {
			return st
		}
		if subStatus >= 0 {
			return subStatus
		}
		return 0
	}
	name := args[0]
	// exec without a command makes its redirections permanent.
	if name == "exec" && len(args) == 1 {
		fds, st := sh.applyRedirects(c.redirs)
		if st != 0 {
			return st
		}
		sh.fds = fds
		return 0
	}
	if special[name] {
		for _, a := range assigns {
			sh.vars[a[0]] = a[1]
		}
		return sh.withRedirects(c.redirs, func() int { return sh.runBuiltin(name, args) })
	}
	// Assignments before a command hold for that command only.
	saved := map[string]*string{}
	savedExp := map[string]bool{}
	for _, a := range assigns {
		if _, ok := saved[a[0]]; !ok {
			if v, ok := sh.vars[a[0]]; ok {
				saved[a[0]] = &v
			} else {
				saved[a[0]] = nil
			}
			savedExp[a[0]] = sh.exported[a[0]]
		}
		sh.vars[a[0]] = a[1]
		sh.exported[a[0]] = true
	}
	defer func() {
		for k, v := range saved {
			if v == nil {
				delete(sh.vars, k)
			} else {
				sh.vars[k] = *v
			}
			if !savedExp[k] {
				delete(sh.exported, k)
			}
		}
	}()
	prevExec := sh.execPos
	sh.execPos = last && sh.traps["EXIT"] == nil && sh.traps["TERM"] == nil
	defer func() { sh.execPos = prevExec }()
	sh.sigDied = false
	st := sh.withRedirects(c.redirs, func() int { return sh.exec(name, args) })
	if sh.sigDied && sh.execPos {
		// The shell had replaced itself with the command: the signal
		// that killed the command killed the shell.
		panic(shellDeath{st})
	}
	return st
}

// exec runs a command by name: a function, a registered command, a
// builtin, or "not found".
func (sh *shell) exec(name string, args []string) int {
	if fn, ok := sh.funcs[name]; ok {
		return sh.callFunc(fn, args)
	}
	if h, ok := sh.g.commands[name]; ok {
		return sh.runRegistered(h, args)
	}
	return sh.runBuiltin(name, args)
}

func (sh *shell) callFunc(fn *funcDef, args []string) (status int) {
	savedArgs := sh.args
	sh.args = slices.Clone(args[1:])
	sh.depth++
	defer func() {
		sh.args = savedArgs
		sh.depth--
		if r := recover(); r != nil {
			rs, ok := r.(returnSignal)
			if !ok {
				panic(r)
			}
			status = rs.code
		}
	}()
	return sh.runCommand(fn.body, false)
}

// runBuiltin runs a builtin command, or reports that there is none.
func (sh *shell) runBuiltin(name string, args []string) int {
	if b, ok := shellBuiltins[name]; ok {
		return b(sh, args)
	}
	if u, ok := utilities[name]; ok {
		return u(sh, args)
	}
	if strings.Contains(name, "/") {
		n, err := sh.g.lookupLocked(sh.abs(name))
		switch {
		case err != nil:
			sh.errorf("%s: not found", name)
			return 127
		case n.dir:
			sh.errorf("%s: Permission denied", name)
			return 126
		case n.perm&0o111 == 0:
			sh.errorf("%s: Permission denied", name)
			return 126
		}
		// An executable file: run it as a script.
		sub := sh.subshell()
		sub.name = name
		sub.args = slices.Clone(args[1:])
		return sub.runScript(string(n.data))
	}
	if sh.bash {
		sh.errorf("%s: command not found", name)
	} else {
		sh.errorf("%s: not found", name)
	}
	return 127
}

// withRedirects runs body with the redirections applied.
func (sh *shell) withRedirects(rs []redirect, body func() int) int {
	if len(rs) == 0 {
		return body()
	}
	fds, st := sh.applyRedirects(rs)
	if st != 0 {
		return st
	}
	saved := sh.fds
	sh.fds = fds
	defer func() { sh.fds = saved }()
	return body()
}

// applyRedirects returns the descriptor table with rs applied, or a
// non-zero status after reporting an error.
func (sh *shell) applyRedirects(rs []redirect) ([10]*fileDesc, int) {
	fds := sh.fds
	for _, r := range rs {
		switch r.op {
		case "<<", "<<-":
			body := r.doc.raw
			if !r.doc.quoted {
				body = sh.expandString(r.doc.body)
			}
			fds[r.fd] = &fileDesc{kind: fdIn, data: []byte(body)}
			continue
		}
		target := sh.expandString(r.target)
		switch r.op {
		case ">&", "<&":
			if target == "-" {
				fds[r.fd] = nil
				continue
			}
			n, err := strconv.Atoi(target)
			if err != nil || n < 0 || n > 9 {
				if r.op == ">&" && err != nil {
					// >&file is >file 2>&1 in bash; dash rejects it.
					sh.errorf("Syntax error: Bad fd number")
					return fds, 2
				}
				sh.errorf("%d: Bad file descriptor", n)
				return fds, 2
			}
			if fds[n] == nil {
				sh.errorf("%d: Bad file descriptor", n)
				return fds, 2
			}
			fds[r.fd] = fds[n]
		case "<", "<>":
			d, msg := sh.openRead(target)
			if msg != "" {
				sh.errorf("cannot open %s: %s", target, msg)
				return fds, 2
			}
			fds[r.fd] = d
		case ">", ">|", ">>":
			d, msg := sh.openWrite(target, r.op == ">>", fds)
			if msg != "" {
				sh.errorf("cannot create %s: %s", target, msg)
				return fds, 2
			}
			fds[r.fd] = d
		}
	}
	return fds, 0
}

// openRead opens a file for reading; msg is dash's wording of a failure.
func (sh *shell) openRead(name string) (*fileDesc, string) {
	switch name {
	case "/dev/null", "/dev/zero":
		return &fileDesc{kind: fdNull}, ""
	case "/dev/stdin":
		return sh.fds[0], ""
	}
	n, err := sh.g.lookupLocked(sh.abs(name))
	if err != nil {
		return nil, "No such file"
	}
	if n.dir {
		return &fileDesc{kind: fdIn}, ""
	}
	return &fileDesc{kind: fdIn, data: slices.Clone(n.data)}, ""
}

// openWrite opens (creating or truncating) a file for writing.
func (sh *shell) openWrite(name string, appendTo bool, fds [10]*fileDesc) (*fileDesc, string) {
	switch name {
	case "/dev/null":
		return &fileDesc{kind: fdNull}, ""
	case "/dev/stdout":
		return fds[1], ""
	case "/dev/stderr":
		return fds[2], ""
	}
	p := sh.abs(name)
	n, err := sh.g.openFileLocked(p, !appendTo)
	switch err {
	case nil:
	case errIsDir:
		return nil, "Is a directory"
	default:
		return nil, "Directory nonexistent"
	}
	return &fileDesc{kind: fdFile, n: n, path: p}, ""
}

// startJob runs an and-or list in the background (cmd &).
func (sh *shell) startJob(ao *andOr) {
	g, p := sh.g, sh.f.p
	sub := sh.subshell()
	sub.fds[0] = &fileDesc{kind: fdNull}
	job := &flow{p: p}
	sub.f = job
	pid := g.newPIDLocked()
	job.pidStr = pid
	sh.lastBg = pid
	sh.jobs = append(sh.jobs, job)
	p.flows = append(p.flows, job)
	job.co = startCoroutineLocked(func(co *coroutine) {
		job.co = co
		defer func() {
			r := recover()
			if _, ok := r.(killed); r != nil && !ok {
				panic(r)
			}
			job.done = true
			for _, f := range job.onDone {
				f()
			}
		}()
		job.status = sub.runBoundary(func() int { return sub.runAndOr(ao, false) })
	})
}

// sleep waits d on the guest's clock. A SIGTERM ends it with status 143
// unless the shell ignores TERM (the sleeping command inherits that).
func (sh *shell) sleep(d time.Duration) int {
	g, co := sh.g, sh.f.co
	id := co.newWait()
	tm := g.afterLocked(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		co.wakeLocked(id)
	})
	for {
		switch co.block(id) {
		case wakeGo:
			return 0
		case wakeTerm:
			if sh.ignoresTerm() {
				continue
			}
			g.stopTimerLocked(tm)
			sh.sigDied = true
			return statusTerm
		}
	}
}

// pause lets d pass on the guest's clock; a signal that arrives meanwhile
// is left for the shell to handle after the current command.
func (sh *shell) pause(d time.Duration) {
	g, co := sh.g, sh.f.co
	id := co.newWait()
	g.afterLocked(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		co.wakeLocked(id)
	})
	for co.block(id) != wakeGo {
	}
}

// blockForever waits until a signal ends the command (tail -f).
func (sh *shell) blockForever() int {
	co := sh.f.co
	id := co.newWait()
	for {
		if co.block(id) == wakeTerm && !sh.ignoresTerm() {
			sh.sigDied = true
			return statusTerm
		}
	}
}

// waitJobs waits for background jobs (all when pids is empty). A TERM
// the shell handles interrupts the wait.
func (sh *shell) waitJobs(jobs []*flow) int {
	co := sh.f.co
	status := 0
	for _, j := range jobs {
		for !j.done {
			id := co.newWait()
			j.onDone = append(j.onDone, func() { co.wakeLocked(id) })
			if co.block(id) == wakeTerm && !sh.ignoresTerm() {
				return statusTerm
			}
		}
		status = j.status
	}
	return status
}

// deliverTerm marks every shell of the flow as having received SIGTERM,
// except shells that gave their place to the command they run.
func (f *flow) deliverTerm() {
	for _, sh := range f.shells {
		if !sh.execPos {
			sh.termSeen = true
		}
	}
}

// expandFields expands a word into fields: parameter, command and
// arithmetic expansion, field splitting and pathname expansion.
func (sh *shell) expandFields(w word) []string {
	var (
		fields  []string
		cur     strings.Builder
		pat     strings.Builder
		started bool
		glob    bool
	)
	flush := func() {
		if !started {
			return
		}
		if glob {
			if m := sh.globMatches(pat.String()); len(m) > 0 {
				fields = append(fields, m...)
				cur.Reset()
				pat.Reset()
				started, glob = false, false
				return
			}
		}
		fields = append(fields, cur.String())
		cur.Reset()
		pat.Reset()
		started, glob = false, false
	}
	addLit := func(s string, quoted bool) {
		started = true
		cur.WriteString(s)
		if quoted {
			pat.WriteString(escapeGlob(s))
			return
		}
		pat.WriteString(s)
		if strings.ContainsAny(s, "*?[") {
			glob = true
		}
	}
	addSplit := func(s string) {
		ifs, ok := sh.vars["IFS"]
		if !ok {
			ifs = " \t\n"
		}
		if ifs == "" {
			if s != "" {
				addLit(s, false)
			}
			return
		}
		for i, r := range s {
			if strings.ContainsRune(ifs, r) {
				flush()
				continue
			}
			addLit(s[i:i+len(string(r))], false)
		}
	}
	for _, pt := range w {
		switch pt.kind {
		case partLit:
			addLit(pt.text, pt.quoted)
			if pt.quoted {
				started = true
			}
		case partTilde:
			addLit(sh.tilde(pt.text), true)
		case partParam:
			if pt.quoted && (pt.param.name == "@") && pt.param.op == "" && !pt.param.length {
				for i, a := range sh.args {
					if i > 0 {
						flush()
					}
					addLit(a, true)
				}
				continue
			}
			v := sh.expandParam(pt.param)
			if pt.quoted {
				addLit(v, true)
				started = true
			} else {
				addSplit(v)
			}
		case partCmdSub:
			v := sh.commandSubst(pt.sub)
			if pt.quoted {
				addLit(v, true)
				started = true
			} else {
				addSplit(v)
			}
		case partArith:
			v := sh.arith(pt.text)
			if pt.quoted {
				addLit(v, true)
			} else {
				addSplit(v)
			}
		}
	}
	flush()
	return fields
}

// expandString expands a word without field splitting or globbing (for
// assignments, redirection targets, here-documents, case subjects).
func (sh *shell) expandString(w word) string {
	var b strings.Builder
	for _, pt := range w {
		switch pt.kind {
		case partLit:
			b.WriteString(pt.text)
		case partTilde:
			b.WriteString(sh.tilde(pt.text))
		case partParam:
			b.WriteString(sh.expandParam(pt.param))
		case partCmdSub:
			b.WriteString(sh.commandSubst(pt.sub))
		case partArith:
			b.WriteString(sh.arith(pt.text))
		}
	}
	return b.String()
}

// expandPattern expands a word into a glob pattern: quoted characters are
// escaped so they match themselves.
func (sh *shell) expandPattern(w word) string {
	var b strings.Builder
	for _, pt := range w {
		var s string
		switch pt.kind {
		case partLit:
			if !pt.quoted {
				b.WriteString(pt.text)
				continue
			}
			s = pt.text
		case partTilde:
			s = sh.tilde(pt.text)
		case partParam:
			s = sh.expandParam(pt.param)
			if !pt.quoted {
				b.WriteString(s)
				continue
			}
		case partCmdSub:
			s = sh.commandSubst(pt.sub)
		case partArith:
			s = sh.arith(pt.text)
		}
		b.WriteString(escapeGlob(s))
	}
	return b.String()
}

func hasCmdSub(w word) bool {
	for _, pt := range w {
		if pt.kind == partCmdSub {
			return true
		}
	}
	return false
}

func (sh *shell) tilde(user string) string {
	switch user {
	case "":
		return sh.vars["HOME"]
	case "root":
		return "/root"
	}
	return "~" + user
}

// expandParam expands one parameter expansion.
func (sh *shell) expandParam(pe *paramExp) string {
	v, set := sh.lookupVar(pe.name)
	if pe.length {
		return strconv.Itoa(len([]rune(v)))
	}
	switch pe.op {
	case "":
		if !set && sh.nounset && pe.name != "@" && pe.name != "*" {
			sh.errorf("%s: parameter not set", pe.name)
			panic(exitSignal{2})
		}
		return v
	case ":-", "-":
		if !set || pe.op == ":-" && v == "" {
			return sh.expandString(pe.arg)
		}
		return v
	case ":=", "=":
		if !set || pe.op == ":=" && v == "" {
			v = sh.expandString(pe.arg)
			sh.vars[pe.name] = v
		}
		return v
	case ":+", "+":
		if set && (pe.op == "+" || v != "") {
			return sh.expandString(pe.arg)
		}
		return ""
	case ":?", "?":
		if !set || pe.op == ":?" && v == "" {
			msg := sh.expandString(pe.arg)
			if msg == "" {
				msg = "parameter not set"
				if set {
					msg = "parameter null or not set"
				}
			}
			sh.errorf("%s: %s", pe.name, msg)
			panic(exitSignal{2})
		}
		return v
	case "%", "%%", "#", "##":
		pat := sh.expandPattern(pe.arg)
		return trimPattern(v, pat, pe.op)
	}
	return v
}

// lookupVar returns a variable or special parameter.
func (sh *shell) lookupVar(name string) (string, bool) {
	switch name {
	case "?":
		return strconv.Itoa(sh.status), true
	case "$":
		return sh.f.p.pid, true
	case "!":
		return sh.lastBg, sh.lastBg != ""
	case "#":
		return strconv.Itoa(len(sh.args)), true
	case "@", "*":
		return strings.Join(sh.args, " "), len(sh.args) > 0
	case "-":
		flags := ""
		if sh.errexit {
			flags += "e"
		}
		if sh.nounset {
			flags += "u"
		}
		if sh.xtrace {
			flags += "x"
		}
		return flags, true
	case "0":
		return sh.name, true
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n >= 1 && n <= len(sh.args) {
			return sh.args[n-1], true
		}
		return "", false
	}
	v, ok := sh.vars[name]
	return v, ok
}

// commandSubst runs a command substitution and returns its output
// without trailing newlines.
func (sh *shell) commandSubst(l *list) string {
	sub := sh.subshell()
	var out bytes.Buffer
	sub.fds[1] = &fileDesc{kind: fdBuf, buf: &out}
	st := sub.runBoundary(func() int { return sub.runList(l, false) })
	sh.status = st
	sh.checkSignals()
	return strings.TrimRight(out.String(), "\n")
}

// globMatches expands a pathname pattern against the simulated file
// system; nil when nothing matches.
func (sh *shell) globMatches(pattern string) []string {
	absolute := strings.HasPrefix(pattern, "/")
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	type cand struct{ shown, abs string }
	start := cand{"", sh.dir}
	if absolute {
		start = cand{"/", "/"}
	}
	cur := []cand{start}
	for i, seg := range segs {
		if seg == "" {
			continue
		}
		var next []cand
		literal := !strings.ContainsAny(seg, "*?[")
		for _, c := range cur {
			n, err := sh.g.lookupLocked(c.abs)
			if err != nil || !n.dir {
				continue
			}
			join := func(name string) cand {
				shown := c.shown
				switch {
				case shown == "":
					shown = name
				case strings.HasSuffix(shown, "/"):
					shown += name
				default:
					shown += "/" + name
				}
				return cand{shown, path.Join(c.abs, name)}
			}
			if literal {
				name := unescapeGlob(seg)
				if _, ok := n.kids[name]; ok || name == "." || name == ".." || i < len(segs)-1 {
					next = append(next, join(name))
				}
				continue
			}
			for _, k := range n.sortedKids() {
				if strings.HasPrefix(k.name, ".") && !strings.HasPrefix(seg, ".") {
					continue
				}
				if matchGlob(seg, k.name) {
					next = append(next, join(k.name))
				}
			}
		}
		cur = next
	}
	if len(cur) == 0 {
		return nil
	}
	out := make([]string, 0, len(cur))
	for _, c := range cur {
		if _, err := sh.g.lookupLocked(c.abs); err == nil {
			out = append(out, c.shown)
		}
	}
	sort.Strings(out)
	return out
}

func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unescapeGlob(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// matchGlob matches s against a shell pattern (*, ?, [...], \x); unlike
// path.Match, * also matches slashes (as in case and ${x%pat}). It
// backtracks only to the last star, so it takes O(len(pattern)*len(s)).
func matchGlob(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, size := decodeRune(s[sx:])
					px, sx = px+1, sx+size
					continue
				}
			case '[':
				if sx < len(s) {
					r, size := decodeRune(s[sx:])
					ok, n := matchClass(pattern[px:], r)
					switch {
					case n == 0 && s[sx] == '[':
						px, sx = px+1, sx+1
						continue
					case n > 0 && ok:
						px, sx = px+n, sx+size
						continue
					}
				}
			case '\\':
				lit := byte('\\')
				step := 1
				if px+1 < len(pattern) {
					lit, step = pattern[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px, sx = px+step, sx+1
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

func decodeRune(s string) (rune, int) {
	for i, r := range s {
		if i == 0 {
			return r, len(string(r))
		}
	}
	return 0, 1
}

// matchClass matches r against the bracket expression at the start of
// pattern; n is the length of the expression (0 if it is not one).
func matchClass(pattern string, r rune) (ok bool, n int) {
	i := 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != negate, i + 1
		}
		first = false
		if strings.HasPrefix(pattern[i:], "[:") {
			end := strings.Index(pattern[i+2:], ":]")
			if end >= 0 {
				if classMatches(pattern[i+2:i+2+end], r) {
					ok = true
				}
				i += end + 4
				continue
			}
		}
		lo, size := decodeRune(pattern[i:])
		i += size
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi, size = decodeRune(pattern[i+1:])
			i += 1 + size
		}
		if lo <= r && r <= hi {
			ok = true
		}
	}
	return false, 0
}

func classMatches(class string, r rune) bool {
	switch class {
	case "alpha":
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	case "digit":
		return '0' <= r && r <= '9'
	case "alnum":
		return classMatches("alpha", r) || classMatches("digit", r)
	case "upper":
		return 'A' <= r && r <= 'Z'
	case "lower":
		return 'a' <= r && r <= 'z'
	case "space":
		return strings.ContainsRune(" \t\n\r\f\v", r)
	case "punct":
		return r > ' ' && r < 0x7f && !classMatches("alnum", r)
	case "xdigit":
		return classMatches("digit", r) || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
	}
	return false
}

// trimPattern implements ${v%pat}, ${v%%pat}, ${v#pat} and ${v##pat}.
func trimPattern(v, pat, op string) string {
	switch op {
	case "%":
		for i := len(v); i >= 0; i-- {
			if matchGlob(pat, v[i:]) {
				return v[:i]
			}
		}
	case "%%":
		for i := 0; i <= len(v); i++ {
			if matchGlob(pat, v[i:]) {
				return v[:i]
			}
		}
	case "#":
		for i := 0; i <= len(v); i++ {
			if matchGlob(pat, v[:i]) {
				return v[i:]
			}
		}
	case "##":
		for i := len(v); i >= 0; i-- {
			if matchGlob(pat, v[:i]) {
				return v[i:]
			}
		}
	}
	return v
}

// runRegistered runs a command registered with Guest.RegisterCommand in a
// goroutine of its own and waits for it.
func (sh *shell) runRegistered(h CommandFunc, args []string) int {
	g, f := sh.g, sh.f
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cmd{
		Args: slices.Clone(args), Env: sh.env(), Dir: sh.dir,
		Stdin: bytes.NewReader(sh.readAll(0)),
		g:     g, p: f.p, cancel: cancel, term: make(chan struct{}),
	}
	c.Stdout = cmdWriter{c, sh.fds[1], sh}
	c.Stderr = cmdWriter{c, sh.fds[2], sh}
	f.p.cmds[c] = struct{}{}
	co := f.co
	id := co.newWait()
	var result int
	finished := false
	errFd := sh.fds[2]
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		code, err := h(ctx, c)
		g.mu.Lock()
		defer g.mu.Unlock()
		cancel()
		delete(f.p.cmds, c)
		c.ended = true
		switch {
		case c.signal != 0:
			result = c.signal
			sh.sigDied = true
		case err != nil:
			c.writeLocked(errFd, []byte(err.Error()+"\n"))
			result = code
			if result == 0 {
				result = 1
			}
		default:
			result = code & 0xff
		}
		finished = true
		co.wakeLocked(id)
	}()
	for !finished {
		co.block(id) // a SIGTERM reached the command itself
	}
	return result
}
