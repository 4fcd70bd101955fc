package guest

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// special are dash's special builtins: assignments before them persist
// and they run in the shell itself.
var special = map[string]bool{
	":": true, ".": true, "break": true, "continue": true, "eval": true, "exec": true,
	"exit": true, "export": true, "readonly": true, "return": true, "set": true,
	"shift": true, "trap": true, "unset": true,
}

type builtinFunc func(sh *shell, args []string) int

// shellBuiltins are the commands dash runs itself.
var shellBuiltins map[string]builtinFunc

func init() {
	shellBuiltins = map[string]builtinFunc{
		":":        func(*shell, []string) int { return 0 },
		"true":     func(*shell, []string) int { return 0 },
		"false":    func(*shell, []string) int { return 1 },
		".":        builtinSource,
		"source":   builtinSource,
		"break":    builtinLoop(true),
		"continue": builtinLoop(false),
		"eval":     func(sh *shell, args []string) int { return sh.eval(strings.Join(args[1:], " ")) },
		"exec":     builtinExec,
		"exit":     builtinExit,
		"export":   builtinExport,
		"readonly": builtinExport,
		"local":    builtinLocal,
		"return":   builtinReturn,
		"set":      builtinSet,
		"shift":    builtinShift,
		"trap":     builtinTrap,
		"unset":    builtinUnset,
		"cd":       builtinCd,
		"pwd":      func(sh *shell, _ []string) int { sh.writeStr(1, sh.dir+"\n"); return 0 },
		"echo":     builtinEcho,
		"printf":   builtinPrintf,
		"test":     builtinTest,
		"[":        builtinTest,
		"read":     builtinRead,
		"wait":     builtinWait,
		"command":  builtinCommand,
		"type":     builtinType,
		"sleep":    utilSleep,
		"sh":       builtinSh,
		"bash":     builtinSh,
	}
}

// parseStatus parses an exit status argument as dash does.
func (sh *shell) parseStatus(cmd, s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		sh.errorf("%s: Illegal number: %s", cmd, s)
		return 2, false
	}
	return n & 0xff, true
}

func builtinExit(sh *shell, args []string) int {
	code := sh.status
	if len(args) > 1 {
		n, ok := sh.parseStatus("exit", args[1])
		if !ok {
			panic(exitSignal{2})
		}
		code = n
	}
	panic(exitSignal{code})
}

func builtinReturn(sh *shell, args []string) int {
	code := sh.status
	if len(args) > 1 {
		n, ok := sh.parseStatus("return", args[1])
		if !ok {
			return 2
		}
		code = n
	}
	panic(returnSignal{code})
}

func builtinLoop(isBrk bool) builtinFunc {
	return func(sh *shell, args []string) int {
		n := 1
		if len(args) > 1 {
			v, err := strconv.Atoi(args[1])
			if err != nil || v < 1 {
				sh.errorf("%s: Illegal number: %s", args[0], args[1])
				return 2
			}
			n = v
		}
		panic(loopSignal{n, isBrk})
	}
}

func builtinSource(sh *shell, args []string) int {
	if len(args) < 2 {
		return 0
	}
	n, err := sh.g.lookupLocked(sh.abs(args[1]))
	if err != nil || n.dir {
		sh.errorf("%s: cannot open %s: No such file", args[0], args[1])
		panic(exitSignal{2})
	}
	return sh.eval(string(n.data))
}

func builtinExec(sh *shell, args []string) int {
	st := sh.exec(args[1], args[1:])
	panic(exitSignal{st})
}

func builtinExport(sh *shell, args []string) int {
	if len(args) == 1 || args[1] == "-p" {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range sh.exported {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			if v, ok := sh.vars[k]; ok {
				sh.writeStr(1, "export "+k+"='"+strings.ReplaceAll(v, "'", `'"'"'`)+"'\n")
			}
		}
		return 0
	}
	for _, a := range args[1:] {
		name, val, hasVal := strings.Cut(a, "=")
		if !isName(name) {
			sh.errorf("%s: bad variable name", args[0])
			panic(exitSignal{2})
		}
		if hasVal {
			sh.vars[name] = val
		}
		if args[0] == "export" {
			sh.exported[name] = true
		}
	}
	return 0
}

func builtinLocal(sh *shell, args []string) int {
	for _, a := range args[1:] {
		name, val, hasVal := strings.Cut(a, "=")
		if hasVal {
			sh.vars[name] = val
		} else if _, ok := sh.vars[name]; !ok {
			sh.vars[name] = ""
		}
	}
	return 0
}

func builtinUnset(sh *shell, args []string) int {
	funcs := false
	for _, a := range args[1:] {
		switch a {
		case "-f":
			funcs = true
			continue
		case "-v":
			continue
		}
		if funcs {
			delete(sh.funcs, a)
		} else {
			delete(sh.vars, a)
			delete(sh.exported, a)
		}
	}
	return 0
}

func builtinShift(sh *shell, args []string) int {
	n := 1
	if len(args) > 1 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v < 0 {
			sh.errorf("shift: Illegal number: %s", args[1])
			panic(exitSignal{2})
		}
		n = v
	}
	if n > len(sh.args) {
		sh.errorf("shift: can't shift that many")
		panic(exitSignal{2})
	}
	sh.args = sh.args[n:]
	return 0
}

func builtinSet(sh *shell, args []string) int {
	if len(args) == 1 {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range sh.vars {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			sh.writeStr(1, k+"='"+sh.vars[k]+"'\n")
		}
		return 0
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			sh.args = slices.Clone(args[i+1:])
			return 0
		}
		if len(a) < 2 || a[0] != '-' && a[0] != '+' {
			sh.args = slices.Clone(args[i:])
			return 0
		}
		on := a[0] == '-'
		if a[1:] == "o" {
			if i+1 >= len(args) {
				return 0
			}
			i++
			switch args[i] {
			case "errexit":
				sh.errexit = on
			case "nounset":
				sh.nounset = on
			case "xtrace":
				sh.xtrace = on
			case "pipefail", "noclobber", "noglob", "allexport", "verbose", "monitor", "notify", "ignoreeof", "noexec", "vi", "emacs", "nolog", "debug":
			default:
				sh.errorf("set: Illegal option -o %s", args[i])
				panic(exitSignal{2})
			}
			continue
		}
		for _, c := range a[1:] {
			switch c {
			case 'e':
				sh.errexit = on
			case 'u':
				sh.nounset = on
			case 'x':
				sh.xtrace = on
			case 'f', 'a', 'v', 'm', 'n', 'C', 'b', 'h':
			default:
				sh.errorf("set: Illegal option -%c", c)
				panic(exitSignal{2})
			}
		}
	}
	return 0
}

// trapSignal normalizes a signal name or number of the trap builtin.
func trapSignal(s string) (string, bool) {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	switch s {
	case "0", "EXIT":
		return "EXIT", true
	case "15", "TERM":
		return "TERM", true
	case "2", "INT":
		return "INT", true
	case "1", "HUP":
		return "HUP", true
	case "3", "QUIT":
		return "QUIT", true
	case "10", "USR1":
		return "USR1", true
	case "12", "USR2":
		return "USR2", true
	case "13", "PIPE":
		return "PIPE", true
	case "14", "ALRM":
		return "ALRM", true
	case "17", "CHLD":
		return "CHLD", true
	}
	return s, false
}

func builtinTrap(sh *shell, args []string) int {
	if len(args) == 1 {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range sh.traps {
				if !yield(k) {
					return
				}
			}
		}) {
			if t := sh.traps[k]; t != nil {
				sh.writeStr(1, "trap -- '"+*t+"' "+k+"\n")
			}
		}
		return 0
	}
	action, sigs := args[1], args[2:]
	if len(args) == 2 {
		// trap SIG... with a number first resets those signals.
		if _, err := strconv.Atoi(action); err == nil {
			action, sigs = "-", args[1:]
		}
	}
	status := 0
	for _, s := range sigs {
		name, ok := trapSignal(s)
		if !ok {
			sh.errorf("trap: %s: bad trap", s)
			status = 1
			continue
		}
		if action == "-" {
			delete(sh.traps, name)
			continue
		}
		a := action
		sh.traps[name] = &a
	}
	return status
}

func builtinCd(sh *shell, args []string) int {
	target := sh.vars["HOME"]
	operands := args[1:]
	for len(operands) > 0 && (operands[0] == "-P" || operands[0] == "-L") {
		operands = operands[1:]
	}
	if len(operands) > 0 {
		target = operands[0]
	}
	if target == "-" {
		target = sh.vars["OLDPWD"]
		defer func() { sh.writeStr(1, sh.dir+"\n") }()
	}
	if target == "" {
		return 0
	}
	p := sh.abs(target)
	if n, err := sh.g.lookupLocked(p); err != nil || !n.dir {
		sh.errorf("cd: can't cd to %s", target)
		return 2
	}
	sh.vars["OLDPWD"] = sh.dir
	sh.dir = p
	sh.vars["PWD"] = p
	return 0
}

// builtinEcho is dash's echo: -n as first argument, and backslash escapes
// always interpreted.
func builtinEcho(sh *shell, args []string) int {
	words := args[1:]
	nl := true
	if len(words) > 0 && words[0] == "-n" {
		words, nl = words[1:], false
	}
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		s, stop := unescapeEcho(w)
		b.WriteString(s)
		if stop {
			nl = false
			break
		}
	}
	if nl {
		b.WriteByte('\n')
	}
	sh.writeStr(1, b.String())
	return 0
}

// unescapeEcho interprets echo's escapes; stop is set by \c.
func unescapeEcho(s string) (out string, stop bool) {
	if !strings.Contains(s, `\`) {
		return s, false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'c':
			return b.String(), true
		case 'e':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\\':
			b.WriteByte('\\')
		case '0':
			v, j := 0, i+1
			for ; j < len(s) && j < i+4 && '0' <= s[j] && s[j] <= '7'; j++ {
				v = v*8 + int(s[j]-'0')
			}
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), false
}

// builtinPrintf is printf with the usual conversions; the format is
// reused until the arguments run out.
func builtinPrintf(sh *shell, args []string) int {
	if len(args) < 2 {
		sh.errorf("printf: usage: printf format [arg ...]")
		return 2
	}
	format, rest := args[1], args[2:]
	status := 0
	var out strings.Builder
	for {
		consumed := false
		stop := false
		for i := 0; i < len(format) && !stop; i++ {
			c := format[i]
			if c == '\\' {
				s, n, halt := formatEscape(format[i:])
				out.WriteString(s)
				i += n - 1
				stop = halt
				continue
			}
			if c != '%' {
				out.WriteByte(c)
				continue
			}
			if i+1 < len(format) && format[i+1] == '%' {
				out.WriteByte('%')
				i++
				continue
			}
			j := i + 1
			for j < len(format) && strings.IndexByte("-+ #0", format[j]) >= 0 {
				j++
			}
			spec := format[i+1 : j]
			var width, prec string
			for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '*') {
				if format[j] == '*' {
					width += strconv.FormatInt(sh.printfInt(&rest, &consumed, &status), 10)
				} else {
					width += string(format[j])
				}
				j++
			}
			hasPrec := false
			if j < len(format) && format[j] == '.' {
				hasPrec = true
				j++
				for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '*') {
					if format[j] == '*' {
						prec += strconv.FormatInt(sh.printfInt(&rest, &consumed, &status), 10)
					} else {
						prec += string(format[j])
					}
					j++
				}
			}
			if j >= len(format) {
				sh.errorf("printf: %s: invalid directive", format[i:])
				sh.writeStr(1, out.String())
				return 1
			}
			verb := format[j]
			goFmt := "%" + spec + width
			if hasPrec {
				goFmt += "." + prec
			}
			i = j
			switch verb {
			case 's':
				out.WriteString(fmt.Sprintf(goFmt+"s", nextArg(&rest, &consumed)))
			case 'b':
				s, halt := unescapeEcho(nextArg(&rest, &consumed))
				out.WriteString(fmt.Sprintf(goFmt+"s", s))
				stop = halt
			case 'c':
				a := nextArg(&rest, &consumed)
				if a != "" {
					_, size := utf8.DecodeRuneInString(a)
					a = a[:size]
				}
				out.WriteString(fmt.Sprintf(goFmt+"s", a))
			case 'd', 'i':
				out.WriteString(fmt.Sprintf(goFmt+"d", sh.printfInt(&rest, &consumed, &status)))
			case 'u':
				out.WriteString(fmt.Sprintf(goFmt+"d", uint64(sh.printfInt(&rest, &consumed, &status))))
			case 'o', 'x', 'X':
				out.WriteString(fmt.Sprintf(goFmt+string(verb), sh.printfInt(&rest, &consumed, &status)))
			case 'e', 'E', 'f', 'F', 'g', 'G':
				a := nextArg(&rest, &consumed)
				v, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
				if err != nil && a != "" {
					sh.errorf("printf: %s: expected numeric value", a)
					status = 1
				}
				out.WriteString(fmt.Sprintf(goFmt+string(verb), v))
			default:
				sh.errorf("printf: %%%c: invalid directive", verb)
				sh.writeStr(1, out.String())
				return 1
			}
		}
		if stop || len(rest) == 0 || !consumed {
			break
		}
	}
	sh.writeStr(1, out.String())
	return status
}

func nextArg(rest *[]string, consumed *bool) string {
	if len(*rest) == 0 {
		return ""
	}
	a := (*rest)[0]
	*rest = (*rest)[1:]
	*consumed = true
	return a
}

func (sh *shell) printfInt(rest *[]string, consumed *bool, status *int) int64 {
	a := nextArg(rest, consumed)
	if a == "" {
		return 0
	}
	s := strings.TrimSpace(a)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') {
		r, _ := utf8.DecodeRuneInString(s[1:])
		return int64(r)
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		sh.errorf("printf: %s: expected numeric value", a)
		*status = 1
	}
	return v
}

// formatEscape interprets one backslash escape of a printf format; n is
// its length, halt is set by \c.
func formatEscape(s string) (out string, n int, halt bool) {
	if len(s) < 2 {
		return `\`, 1, false
	}
	switch s[1] {
	case 'a':
		return "\a", 2, false
	case 'b':
		return "\b", 2, false
	case 'c':
		return "", 2, true
	case 'e':
		return "\x1b", 2, false
	case 'f':
		return "\f", 2, false
	case 'n':
		return "\n", 2, false
	case 'r':
		return "\r", 2, false
	case 't':
		return "\t", 2, false
	case 'v':
		return "\v", 2, false
	case '\\':
		return `\`, 2, false
	case '"':
		return `"`, 2, false
	case '\'':
		return "'", 2, false
	}
	if '0' <= s[1] && s[1] <= '7' {
		v, j := 0, 1
		for ; j < len(s) && j < 4 && '0' <= s[j] && s[j] <= '7'; j++ {
			v = v*8 + int(s[j]-'0')
		}
		return string([]byte{byte(v)}), j, false
	}
	return s[:2], 2, false
}

// builtinTest implements test and [.
func builtinTest(sh *shell, args []string) int {
	a := args[1:]
	if args[0] == "[" {
		if len(a) == 0 || a[len(a)-1] != "]" {
			sh.errorf("[: missing ]")
			return 2
		}
		a = a[:len(a)-1]
	}
	t := &tester{sh: sh, args: a}
	defer func() {
		if r := recover(); r != nil {
			msg, ok := r.(testError)
			if !ok {
				panic(r)
			}
			sh.errorf("%s: %s", args[0], string(msg))
			t.status = 2
		}
	}()
	if len(a) == 0 {
		return 1
	}
	v := t.orExpr()
	if t.pos < len(t.args) {
		panic(testError(t.args[t.pos] + ": unexpected operator"))
	}
	if v {
		return 0
	}
	return 1
}

type testError string

type tester struct {
	sh     *shell
	args   []string
	pos    int
	status int
}

func (t *tester) peek() string {
	if t.pos < len(t.args) {
		return t.args[t.pos]
	}
	return ""
}

func (t *tester) orExpr() bool {
	v := t.andExpr()
	for t.peek() == "-o" {
		t.pos++
		w := t.andExpr()
		v = v || w
	}
	return v
}

func (t *tester) andExpr() bool {
	v := t.notExpr()
	for t.peek() == "-a" {
		t.pos++
		w := t.notExpr()
		v = v && w
	}
	return v
}

func (t *tester) notExpr() bool {
	if t.peek() == "!" && t.pos+1 < len(t.args) {
		t.pos++
		return !t.notExpr()
	}
	return t.primary()
}

func (t *tester) primary() bool {
	if t.pos >= len(t.args) {
		panic(testError("argument expected"))
	}
	a := t.args[t.pos]
	if a == "(" && t.pos+2 < len(t.args) {
		t.pos++
		v := t.orExpr()
		if t.peek() != ")" {
			panic(testError("closing paren expected"))
		}
		t.pos++
		return v
	}
	// Binary operators.
	if t.pos+2 < len(t.args)+0 && t.pos+2 <= len(t.args)-1 || t.pos+2 == len(t.args)-0 && false {
		_ = 0
	}
	if t.pos+2 < len(t.args) || t.pos+2 == len(t.args) {
		if t.pos+1 < len(t.args) {
			op := t.args[t.pos+1]
			if v, ok := t.binary(a, op, t.argAt(t.pos+2)); ok {
				if t.pos+2 >= len(t.args) {
					panic(testError("argument expected"))
				}
				t.pos += 3
				return v
			}
		}
	}
	if strings.HasPrefix(a, "-") && len(a) == 2 && t.pos+1 < len(t.args) {
		if v, ok := t.unary(a, t.args[t.pos+1]); ok {
			t.pos += 2
			return v
		}
	}
	t.pos++
	return a != ""
}

func (t *tester) argAt(i int) string {
	if i < len(t.args) {
		return t.args[i]
	}
	return ""
}

func (t *tester) binary(l, op, r string) (bool, bool) {
	switch op {
	case "=", "==":
		return l == r, true
	case "!=":
		return l != r, true
	case "<":
		return l < r, true
	case ">":
		return l > r, true
	case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
		a, b := t.num(l), t.num(r)
		switch op {
		case "-eq":
			return a == b, true
		case "-ne":
			return a != b, true
		case "-lt":
			return a < b, true
		case "-le":
			return a <= b, true
		case "-gt":
			return a > b, true
		}
		return a >= b, true
	case "-nt", "-ot", "-ef":
		return false, true
	}
	return false, false
}

func (t *tester) num(s string) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		panic(testError("Illegal number: " + s))
	}
	return v
}

func (t *tester) unary(op, arg string) (bool, bool) {
	g := t.sh.g
	switch op {
	case "-n":
		return arg != "", true
	case "-z":
		return arg == "", true
	case "-t":
		return false, true
	case "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-p", "-S", "-b", "-c", "-g", "-u", "-k", "-O", "-G":
		n, err := g.lookupLocked(t.sh.abs(arg))
		if arg == "" {
			err = errNotExist
		}
		if err != nil {
			return false, true
		}
		switch op {
		case "-e", "-r", "-w", "-O", "-G":
			return true, true
		case "-f":
			return !n.dir, true
		case "-d":
			return n.dir, true
		case "-s":
			return !n.dir && len(n.data) > 0 || n.dir, true
		case "-x":
			return n.dir || n.perm&0o111 != 0, true
		}
		return false, true
	}
	return false, false
}

func builtinRead(sh *shell, args []string) int {
	var names []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		names = append(names, a)
	}
	if len(names) == 0 {
		names = []string{"REPLY"}
	}
	line, ok := sh.readLine(0)
	fields := strings.Fields(line)
	for i, n := range names {
		switch {
		case i == len(names)-1 && i < len(fields):
			rest := strings.TrimLeft(line, " \t")
			for k := 0; k < i; k++ {
				rest = strings.TrimLeft(strings.TrimPrefix(rest, fields[k]), " \t")
			}
			sh.vars[n] = strings.TrimRight(rest, " \t")
		case i < len(fields):
			sh.vars[n] = fields[i]
		default:
			sh.vars[n] = ""
		}
	}
	if !ok {
		return 1
	}
	return 0
}

func builtinWait(sh *shell, args []string) int {
	jobs := sh.jobs
	if len(args) > 1 {
		jobs = nil
		for _, a := range args[1:] {
			for _, j := range sh.jobs {
				if j.pidStr == a || a == "%%" || a == "%1" && j == sh.jobs[0] {
					jobs = append(jobs, j)
				}
			}
		}
		if len(jobs) == 0 {
			return 127
		}
	}
	return sh.waitJobs(jobs)
}

func builtinCommand(sh *shell, args []string) int {
	a := args[1:]
	if len(a) > 0 && (a[0] == "-v" || a[0] == "-V") {
		status := 0
		for _, name := range a[1:] {
			if where := sh.whereIs(name); where != "" {
				sh.writeStr(1, where+"\n")
			} else {
				status = 127
			}
		}
		return status
	}
	if len(a) == 0 {
		return 0
	}
	if h, ok := sh.g.commands[a[0]]; ok {
		return sh.runRegistered(h, a)
	}
	return sh.runBuiltin(a[0], a)
}

// whereIs is what command -v prints for name ("" when there is none).
func (sh *shell) whereIs(name string) string {
	if _, ok := sh.funcs[name]; ok {
		return name
	}
	if _, ok := shellBuiltins[name]; ok && name != "sh" && name != "bash" && name != "sleep" {
		return name
	}
	if _, ok := sh.g.commands[name]; ok {
		return "/usr/local/bin/" + name
	}
	if _, ok := utilities[name]; ok || name == "sh" || name == "bash" || name == "sleep" {
		return "/usr/bin/" + name
	}
	return ""
}

func builtinType(sh *shell, args []string) int {
	status := 0
	for _, name := range args[1:] {
		switch {
		case sh.funcs[name] != nil:
			sh.writeStr(1, name+" is a shell function\n")
		case special[name]:
			sh.writeStr(1, name+" is a special shell builtin\n")
		case shellBuiltins[name] != nil && name != "sh" && name != "bash" && name != "sleep":
			sh.writeStr(1, name+" is a shell builtin\n")
		default:
			if where := sh.whereIs(name); where != "" {
				sh.writeStr(1, name+" is "+where+"\n")
			} else {
				sh.writeStr(1, name+": not found\n")
				status = 127
			}
		}
	}
	return status
}

// builtinSh runs sh -c SCRIPT [NAME [ARGS...]], sh FILE [ARGS...], or a
// script read from standard input, in a nested shell.
func builtinSh(sh *shell, args []string) int {
	sub := sh.subshell()
	sub.traps = map[string]*string{}
	for k, v := range sh.traps {
		if v != nil && *v == "" {
			sub.traps[k] = v
		}
	}
	sub.bash = args[0] == "bash"
	sub.name = args[0]
	sub.funcs = map[string]*funcDef{}
	sub.errexit, sub.nounset, sub.xtrace = false, false, false
	a := args[1:]
	for len(a) > 0 && strings.HasPrefix(a[0], "-") && a[0] != "-c" && len(a[0]) > 1 {
		for _, c := range a[0][1:] {
			switch c {
			case 'e':
				sub.errexit = true
			case 'u':
				sub.nounset = true
			case 'x':
				sub.xtrace = true
			}
		}
		if strings.Contains(a[0], "c") {
			a[0] = "-c"
			break
		}
		a = a[1:]
	}
	var src string
	switch {
	case len(a) > 0 && a[0] == "-c":
		if len(a) < 2 {
			sh.writeStr(2, args[0]+": -c: option requires an argument\n")
			return 2
		}
		src = a[1]
		if len(a) > 2 {
			sub.name = a[2]
			sub.args = slices.Clone(a[3:])
		} else {
			sub.args = nil
		}
	case len(a) > 0:
		n, err := sh.g.lookupLocked(sh.abs(a[0]))
		if err != nil || n.dir {
			if sub.bash {
				sh.writeStr(2, args[0]+": "+a[0]+": No such file or directory\n")
			} else {
				sh.writeStr(2, args[0]+": 0: cannot open "+a[0]+": No such file\n")
			}
			return 127
		}
		src = string(n.data)
		sub.name = a[0]
		sub.args = slices.Clone(a[1:])
	default:
		src = string(sh.readAll(0))
		sub.args = nil
	}
	sub.line = 1
	st := sub.runScript(src)
	sh.sigDied = sub.died
	return st
}

// arith evaluates $((expr)).
func (sh *shell) arith(src string) string {
	src = sh.expandString(parseHeredocBody(src, sh.line))
	a := &arithParser{sh: sh, src: src}
	defer func() {
		if r := recover(); r != nil {
			msg, ok := r.(arithError)
			if !ok {
				panic(r)
			}
			sh.errorf("arithmetic expression: %s: \"%s\"", string(msg), strings.TrimSpace(src))
			panic(exitSignal{2})
		}
	}()
	v := a.ternary()
	a.skip()
	if a.pos < len(a.src) {
		panic(arithError("expecting EOF"))
	}
	return strconv.FormatInt(v, 10)
}

type arithError string

type arithParser struct {
	sh  *shell
	src string
	pos int
}

func (a *arithParser) skip() {
	for a.pos < len(a.src) && strings.IndexByte(" \t\n", a.src[a.pos]) >= 0 {
		a.pos++
	}
}

func (a *arithParser) eat(op string) bool {
	a.skip()
	if strings.HasPrefix(a.src[a.pos:], op) {
		// Do not take the first character of a longer operator.
		rest := a.src[a.pos+len(op):]
		if (op == "<" || op == ">") && (strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, op)) {
			return false
		}
		if (op == "&" && strings.HasPrefix(rest, "&")) || (op == "|" && strings.HasPrefix(rest, "|")) || (op == "=" && strings.HasPrefix(rest, "=")) || (op == "!" && strings.HasPrefix(rest, "=")) {
			return false
		}
		a.pos += len(op)
		return true
	}
	return false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (a *arithParser) ternary() int64 {
	c := a.binary(0)
	if a.eat("?") {
		x := a.ternary()
		if !a.eat(":") {
			panic(arithError("expecting ':'"))
		}
		y := a.ternary()
		if c != 0 {
			return x
		}
		return y
	}
	return c
}

var arithLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<=", ">=", "<", ">"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"},
}

func (a *arithParser) binary(level int) int64 {
	if level == len(arithLevels) {
		return a.unary()
	}
	v := a.binary(level + 1)
	for {
		matched := ""
		for _, op := range arithLevels[level] {
			if a.eat(op) {
				matched = op
				break
			}
		}
		if matched == "" {
			return v
		}
		w := a.binary(level + 1)
		switch matched {
		case "||":
			v = b2i(v != 0 || w != 0)
		case "&&":
			v = b2i(v != 0 && w != 0)
		case "|":
			v |= w
		case "^":
			v ^= w
		case "&":
			v &= w
		case "==":
			v = b2i(v == w)
		case "!=":
			v = b2i(v != w)
		case "<=":
			v = b2i(v <= w)
		case ">=":
			v = b2i(v >= w)
		case "<":
			v = b2i(v < w)
		case ">":
			v = b2i(v > w)
		case "<<":
			v <<= uint(w & 63)
		case ">>":
			v >>= uint(w & 63)
		case "+":
			v += w
		case "-":
			v -= w
		case "*":
			v *= w
		case "/", "%":
			if w == 0 {
				panic(arithError("division by zero"))
			}
			if matched == "/" {
				v /= w
			} else {
				v %= w
			}
		}
	}
}

func (a *arithParser) unary() int64 {
	switch {
	case a.eat("-"):
		return -a.unary()
	case a.eat("+"):
		return a.unary()
	case a.eat("!"):
		return b2i(a.unary() == 0)
	case a.eat("~"):
		return ^a.unary()
	case a.eat("("):
		v := a.ternary()
		if !a.eat(")") {
			panic(arithError("expecting ')'"))
		}
		return v
	}
	a.skip()
	start := a.pos
	for a.pos < len(a.src) && (isAlnum(a.src[a.pos]) || a.src[a.pos] == '_') {
		a.pos++
	}
	tok := a.src[start:a.pos]
	if tok == "" {
		if a.pos >= len(a.src) {
			panic(arithError("expecting primary"))
		}
		panic(arithError("expecting primary"))
	}
	if '0' <= tok[0] && tok[0] <= '9' {
		v, err := strconv.ParseInt(tok, 0, 64)
		if err != nil {
			panic(arithError("expecting EOF"))
		}
		return v
	}
	// A variable: its value, itself an arithmetic expression.
	val := a.sh.vars[tok]
	if a.eat("=") {
		v := a.ternary()
		a.sh.vars[tok] = strconv.FormatInt(v, 10)
		return v
	}
	val = strings.TrimSpace(val)
	if val == "" {
		return 0
	}
	v, err := strconv.ParseInt(val, 0, 64)
	if err != nil {
		panic(arithError("Illegal number: " + val))
	}
	return v
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// baseName and dirName follow basename(1) and dirname(1).
func baseName(s string) string {
	if s == "" {
		return ""
	}
	t := strings.TrimRight(s, "/")
	if t == "" {
		return "/"
	}
	return path.Base(t)
}

func dirName(s string) string {
	t := strings.TrimRight(s, "/")
	if t == "" {
		if strings.HasPrefix(s, "/") {
			return "/"
		}
		return "."
	}
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return "."
	}
	d := strings.TrimRight(t[:i], "/")
	if d == "" {
		return "/"
	}
	return d
}
