package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver/internal/clock"
)

// CommandFunc simulates a command. It runs in a goroutine of its own and
// returns the command's exit code. A non-nil error is written to stderr
// and turns an exit code of 0 into 1. ctx is canceled when the process is
// stopped or killed or the guest closes; the function must then return
// promptly (Close waits for it). Use c.Sleep to let time pass on the
// guest's clock.
type CommandFunc func(ctx context.Context, c *Cmd) (exitCode int, err error)

// Cmd is what a [CommandFunc] gets: its arguments and environment, and
// writers for its output. There is no stdin.
type Cmd struct {
	// Args holds the command line split into words; Args[0] is the
	// command name.
	Args []string
	// Env is the environment of the process (a copy).
	Env map[string]string
	// Dir is the working directory (absolute).
	Dir string
	// Stdout and Stderr record output. Complete lines reach streams at
	// once; writes after the process has ended fail with io.ErrClosedPipe.
	Stdout, Stderr io.Writer

	g   *Guest
	sh  *shell
	clk clock.Clock
}

// Now returns the time on the guest's clock.
func (c *Cmd) Now() time.Time { return c.clk.Now() }

// Sleep waits for d to pass on the guest's clock. It returns ctx.Err() if
// ctx is done first.
func (c *Cmd) Sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	c.g.mu.Lock()
	tm := c.g.afterLocked(d, func() { close(done) })
	c.g.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.g.mu.Lock()
		c.g.stopTimerLocked(tm)
		c.g.mu.Unlock()
		return ctx.Err()
	}
}

// OpenPort makes the process appear to listen on port (see GET
// /network/process/{pid}/ports).
func (c *Cmd) OpenPort(port int) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	if c.sh.alive() && !slices.Contains(c.sh.p.ports, port) {
		c.sh.p.ports = append(c.sh.p.ports, port)
	}
}

// RegisterCommand makes h run whenever a command line runs a command
// called name (its first word). It takes precedence over the built-in
// commands of that name.
func (g *Guest) RegisterCommand(name string, h CommandFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.commands[name] = h
}

// cmdWriter appends to one output stream of a running process.
type cmdWriter struct {
	sh     *shell
	stream string
}

func (w cmdWriter) Write(b []byte) (int, error) {
	g := w.sh.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !w.sh.alive() {
		return 0, io.ErrClosedPipe
	}
	w.sh.p.writeLocked(w.stream, b)
	return len(b), nil
}

// shell interprets a command line: simple commands of words (with single
// quotes, double quotes, backslashes and $VAR expansion) joined by ;, &&
// and ||. Pipes, redirections and the like are not simulated.
type shell struct {
	g   *Guest
	p   *process
	run int
	dir string
	env map[string]string
}

// result is how a simple command ended; exit is set by the exit built-in.
type result struct {
	code int
	exit bool
}

// alive reports whether the shell's run of its process is still current.
func (s *shell) alive() bool { return s.p.run == s.run && !s.p.final }

func (s *shell) out(stream, text string) { s.p.writeLocked(stream, []byte(text)) }

// runScript runs a command line and calls done (with g.mu held) when it
// has finished — possibly before runScript returns.
func (s *shell) runScript(script string, done func(result)) {
	steps, err := parseScript(script, s.env)
	if err != nil {
		s.out("stderr", "sh: "+err.Error()+"\n")
		done(result{code: 2})
		return
	}
	s.runList(steps, 0, 0, done)
}

// runList runs steps[i:] after a command that ended with prev.
func (s *shell) runList(steps []step, i, prev int, done func(result)) {
	for ; i < len(steps); i++ {
		st := steps[i]
		if st.op == "&&" && prev != 0 || st.op == "||" && prev == 0 {
			continue
		}
		j := i
		res, finished := s.runCmd(st.args, func(res result) {
			if !s.alive() {
				return
			}
			if res.exit {
				done(res)
				return
			}
			s.runList(steps, j+1, res.code, done)
		})
		if !finished {
			return
		}
		if res.exit {
			done(res)
			return
		}
		prev = res.code
	}
	done(result{code: prev})
}

// runCmd runs one simple command. It either returns its result with
// finished set, or arranges for cont to be called later with g.mu held.
func (s *shell) runCmd(args []string, cont func(result)) (res result, finished bool) {
	if len(args) == 0 {
		return result{}, true
	}
	name := args[0]
	if h, ok := s.g.commands[name]; ok {
		s.runRegistered(h, args, cont)
		return result{}, false
	}
	switch name {
	case "echo":
		words, nl := args[1:], "\n"
		if len(words) > 0 && words[0] == "-n" {
			words, nl = words[1:], ""
		}
		s.out("stdout", strings.Join(words, " ")+nl)
	case "true", ":":
	case "false":
		return result{code: 1}, true
	case "pwd":
		s.out("stdout", s.dir+"\n")
	case "env", "printenv":
		keys := make([]string, 0, len(s.env))
		for k := range s.env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s.out("stdout", k+"="+s.env[k]+"\n")
		}
	case "exit":
		code := 0
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				s.out("stderr", "sh: exit: "+args[1]+": numeric argument required\n")
				return result{code: 2, exit: true}, true
			}
			code = n & 0xff
		}
		return result{code: code, exit: true}, true
	case "cat":
		return result{code: s.cat(args[1:])}, true
	case "ls":
		return result{code: s.ls(args[1:])}, true
	case "cd":
		return result{code: s.cd(args[1:])}, true
	case "sleep":
		return s.sleep(args[1:], cont)
	case "sh", "bash":
		return s.subshell(args[1:], cont)
	default:
		s.out("stderr", name+": command not found\n")
		return result{code: 127}, true
	}
	return result{}, true
}

func (s *shell) resolve(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(s.dir, p)
}

func (s *shell) cat(files []string) int {
	code := 0
	for _, f := range files {
		n, err := s.g.lookupLocked(s.resolve(f))
		switch {
		case err != nil:
			s.out("stderr", "cat: "+f+": No such file or directory\n")
			code = 1
		case n.dir:
			s.out("stderr", "cat: "+f+": Is a directory\n")
			code = 1
		default:
			s.out("stdout", string(n.data))
		}
	}
	return code
}

func (s *shell) ls(args []string) int {
	all := false
	var paths []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			all = all || strings.ContainsAny(a, "aA")
			continue
		}
		paths = append(paths, a)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	code := 0
	for i, p := range paths {
		n, err := s.g.lookupLocked(s.resolve(p))
		if err != nil {
			s.out("stderr", "ls: cannot access '"+p+"': No such file or directory\n")
			code = 2
			continue
		}
		if !n.dir {
			s.out("stdout", p+"\n")
			continue
		}
		if len(paths) > 1 {
			if i > 0 {
				s.out("stdout", "\n")
			}
			s.out("stdout", p+":\n")
		}
		for _, k := range n.sortedKids() {
			if all || !strings.HasPrefix(k.name, ".") {
				s.out("stdout", k.name+"\n")
			}
		}
	}
	return code
}

func (s *shell) cd(args []string) int {
	target := s.env["HOME"]
	if len(args) > 0 {
		target = args[0]
	}
	p := s.resolve(target)
	if n, err := s.g.lookupLocked(p); err != nil || !n.dir {
		s.out("stderr", "sh: cd: "+target+": No such file or directory\n")
		return 1
	}
	s.dir = p
	return 0
}

func (s *shell) sleep(args []string, cont func(result)) (result, bool) {
	if len(args) == 0 {
		s.out("stderr", "sleep: missing operand\n")
		return result{code: 1}, true
	}
	var total time.Duration
	for _, a := range args {
		d, err := parseSleep(a)
		if err != nil {
			s.out("stderr", "sleep: invalid time interval '"+a+"'\n")
			return result{code: 1}, true
		}
		total += d
	}
	if total == 0 {
		return result{}, true
	}
	p := s.p
	p.sleep = s.g.afterLocked(total, func() {
		s.g.mu.Lock()
		defer s.g.mu.Unlock()
		if !s.alive() {
			return
		}
		p.sleep = nil
		cont(result{})
	})
	return result{}, false
}

// parseSleep reads a sleep operand: seconds, or a number with s, m, h or
// d suffix.
func parseSleep(a string) (time.Duration, error) {
	unit := time.Second
	switch {
	case strings.HasSuffix(a, "s"):
		a = a[:len(a)-1]
	case strings.HasSuffix(a, "m"):
		a, unit = a[:len(a)-1], time.Minute
	case strings.HasSuffix(a, "h"):
		a, unit = a[:len(a)-1], time.Hour
	case strings.HasSuffix(a, "d"):
		a, unit = a[:len(a)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(a, 64)
	if err != nil || f < 0 || f != f {
		return 0, errors.New("invalid")
	}
	const maxDur = float64(1<<63 - 1)
	return time.Duration(min(f*float64(unit), maxDur/2)), nil
}

// subshell runs sh -c SCRIPT: exit ends only the subshell, cd does not
// leak out.
func (s *shell) subshell(args []string, cont func(result)) (result, bool) {
	if len(args) < 2 || args[0] != "-c" {
		s.out("stderr", "sh: only 'sh -c COMMAND' is simulated\n")
		return result{code: 2}, true
	}
	child := &shell{g: s.g, p: s.p, run: s.run, dir: s.dir, env: copyEnv(s.env)}
	var (
		out            result
		finished, late bool
	)
	child.runScript(args[1], func(r result) {
		r.exit = false
		if late {
			cont(r)
			return
		}
		out, finished = r, true
	})
	if finished {
		return out, true
	}
	late = true
	return result{}, false
}

// runRegistered runs a CommandFunc in its own goroutine.
func (s *shell) runRegistered(h CommandFunc, args []string, cont func(result)) {
	g := s.g
	ctx, cancel := context.WithCancel(context.Background())
	s.p.cancel = cancel
	c := &Cmd{
		Args: slices.Clone(args), Env: copyEnv(s.env), Dir: s.dir,
		Stdout: cmdWriter{s, "stdout"}, Stderr: cmdWriter{s, "stderr"},
		g: g, sh: s, clk: g.clk,
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer cancel()
		code, err := h(ctx, c)
		g.mu.Lock()
		defer g.mu.Unlock()
		if !s.alive() {
			return
		}
		s.p.cancel = nil
		if err != nil {
			s.out("stderr", err.Error()+"\n")
			if code == 0 {
				code = 1
			}
		}
		cont(result{code: code})
	}()
}

// step is one simple command of a command line and the operator that
// joins it to the previous one ("", ";", "&&" or "||").
type step struct {
	op   string
	args []string
}

// parseScript splits a command line into steps, expanding $NAME and
// ${NAME} from env outside single quotes.
func parseScript(src string, env map[string]string) ([]step, error) {
	var (
		steps   []step
		cur     step
		word    strings.Builder
		inWord  bool
		pending string // operator before the next step
	)
	endWord := func() {
		if inWord {
			cur.args = append(cur.args, word.String())
			word.Reset()
			inWord = false
		}
	}
	endStep := func(op string) error {
		endWord()
		if len(cur.args) == 0 {
			if op == ";" && pending == "" {
				return nil // empty statement, like "a;;" or a trailing ";"
			}
			return fmt.Errorf("syntax error near unexpected token '%s'", op)
		}
		cur.op = pending
		steps = append(steps, cur)
		cur, pending = step{}, op
		return nil
	}
	expand := func(i int) int { // src[i] == '$'; returns the index after the reference
		j := i + 1
		if j < len(src) && src[j] == '{' {
			k := strings.IndexByte(src[j:], '}')
			if k < 0 {
				word.WriteByte('$')
				return j
			}
			word.WriteString(env[src[j+1:j+k]])
			return j + k + 1
		}
		k := j
		for k < len(src) && (src[k] == '_' || 'a' <= src[k] && src[k] <= 'z' || 'A' <= src[k] && src[k] <= 'Z' || k > j && '0' <= src[k] && src[k] <= '9') {
			k++
		}
		if k == j {
			word.WriteByte('$')
			return j
		}
		word.WriteString(env[src[j:k]])
		return k
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
			i++
		case c == '\n' && len(cur.args) == 0 && !inWord:
			i++ // a blank line, or a line continued after && or ||
		case c == '\n' || c == ';':
			if err := endStep(";"); err != nil {
				return nil, err
			}
			i++
		case c == '&' && strings.HasPrefix(src[i:], "&&"), c == '|' && strings.HasPrefix(src[i:], "||"):
			if err := endStep(src[i : i+2]); err != nil {
				return nil, err
			}
			i += 2
		case strings.IndexByte("|&<>`()", c) >= 0:
			return nil, fmt.Errorf("'%c' is not supported by the simulated shell", c)
		case c == '\'':
			k := strings.IndexByte(src[i+1:], '\'')
			if k < 0 {
				return nil, errors.New("unterminated quoted string")
			}
			word.WriteString(src[i+1 : i+1+k])
			inWord = true
			i += k + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(src) {
					return nil, errors.New("unterminated quoted string")
				}
				d := src[i]
				if d == '"' {
					i++
					break
				}
				switch {
				case d == '\\' && i+1 < len(src) && strings.IndexByte("$`\"\\\n", src[i+1]) >= 0:
					word.WriteByte(src[i+1])
					i += 2
				case d == '$':
					i = expand(i)
				default:
					word.WriteByte(d)
					i++
				}
			}
		case c == '\\':
			if i+1 < len(src) {
				word.WriteByte(src[i+1])
			}
			inWord = true
			i += 2
		case c == '$':
			inWord = true
			i = expand(i)
		case c == '#' && !inWord:
			k := strings.IndexByte(src[i:], '\n')
			if k < 0 {
				i = len(src)
			} else {
				i += k
			}
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	endWord()
	if len(cur.args) > 0 {
		cur.op = pending
		steps = append(steps, cur)
	} else if pending == "&&" || pending == "||" {
		return nil, errors.New("syntax error: unexpected end of file")
	}
	return steps, nil
}
