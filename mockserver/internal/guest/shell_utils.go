package guest

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// utilities are the commands a real sandbox finds on its PATH (GNU
// coreutils and grep on the real server's image), simulated over the
// guest's file system. Their messages follow GNU's wording.
var utilities map[string]builtinFunc

func init() {
	utilities = map[string]builtinFunc{
		"cat": utilCat, "ls": utilLs, "mkdir": utilMkdir, "rm": utilRm, "rmdir": utilRmdir,
		"touch": utilTouch, "cp": utilCp, "mv": utilMv, "grep": utilGrep, "egrep": utilGrep,
		"fgrep": utilGrep, "wc": utilWc, "head": utilHead, "tail": utilTail, "env": utilEnv,
		"printenv": utilPrintenv, "basename": utilBasename, "dirname": utilDirname, "seq": utilSeq,
		"sort": utilSort, "uniq": utilUniq, "tee": utilTee, "which": utilWhich, "date": utilDate,
		"true": func(*shell, []string) int { return 0 }, "false": func(*shell, []string) int { return 1 },
		"tr": utilTr, "cut": utilCut, "yes": utilYes,
	}
}

// usageError reports a misuse the GNU way.
func (sh *shell) usageError(cmd, msg string) int {
	sh.writeStr(2, cmd+": "+msg+"\nTry '"+cmd+" --help' for more information.\n")
	return 1
}

// splitFlags separates single-letter options from operands ("--" ends
// options; "-" is an operand). Options that take a value are listed in
// withValue and returned in values.
func splitFlags(args []string, withValue string) (flags map[rune]bool, values map[rune]string, operands []string, bad rune) {
	flags, values = map[rune]bool{}, map[rune]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			return
		}
		if len(a) < 2 || a[0] != '-' || strings.HasPrefix(a, "--") {
			if strings.HasPrefix(a, "--") && len(a) > 2 {
				flags[rune(-1)] = true // long options are accepted and ignored
				continue
			}
			operands = append(operands, a)
			continue
		}
		for j, c := range a[1:] {
			if strings.ContainsRune(withValue, c) {
				v := a[2+j:]
				if v == "" {
					if i+1 >= len(args) {
						return flags, values, operands, c
					}
					i++
					v = args[i]
				}
				values[c] = v
				break
			}
			flags[c] = true
		}
	}
	return
}

// strerror is the C library's text of a file system error.
func strerror(err error) string {
	var pe *fs.PathError
	for {
		if e, ok := err.(*fs.PathError); ok {
			pe = e
			err = e.Err
			continue
		}
		break
	}
	_ = pe
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// input returns the content of an operand ("-" is standard input) or
// writes cmd's error and returns ok false.
func (sh *shell) input(cmd, name, format string) ([]byte, bool) {
	if name == "-" {
		return sh.readAll(0), true
	}
	switch name {
	case "/dev/null", "/dev/zero":
		return nil, true
	case "/dev/stdin":
		return sh.readAll(0), true
	}
	n, err := sh.g.lookupLocked(sh.abs(name))
	if err != nil {
		sh.writeStr(2, fmt.Sprintf(format, cmd, name, strerror(err)))
		return nil, false
	}
	if n.dir {
		sh.writeStr(2, fmt.Sprintf(format, cmd, name, "Is a directory"))
		return nil, false
	}
	return n.data, true
}

func utilCat(sh *shell, args []string) int {
	flags, _, files, _ := splitFlags(args[1:], "")
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	lineNo := 0
	for _, f := range files {
		data, ok := sh.input("cat", f, "%s: %s: %s\n")
		if !ok {
			status = 1
			continue
		}
		if flags['n'] {
			var b strings.Builder
			for _, l := range splitKeep(data) {
				lineNo++
				fmt.Fprintf(&b, "%6d\t%s", lineNo, l)
			}
			data = []byte(b.String())
		}
		sh.write(1, data)
	}
	return status
}

// splitKeep splits after each newline, keeping the newlines.
func splitKeep(data []byte) []string {
	var out []string
	s := string(data)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// textLines splits text into lines without their newlines (a last line
// without one counts).
func textLines(data []byte) []string {
	s := string(data)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

func utilLs(sh *shell, args []string) int {
	flags, _, operands, _ := splitFlags(args[1:], "")
	all, almost, long, dirOnly := flags['a'], flags['A'], flags['l'], flags['d']
	if len(operands) == 0 {
		operands = []string{"."}
	}
	type entry struct {
		name string
		n    *node
	}
	var files []entry
	var dirs []entry
	status := 0
	for _, o := range operands {
		n, err := sh.g.lookupLocked(sh.abs(o))
		if err != nil {
			sh.writeStr(2, "ls: cannot access '"+o+"': "+strerror(err)+"\n")
			status = 2
			continue
		}
		if n.dir && !dirOnly {
			dirs = append(dirs, entry{o, n})
		} else {
			files = append(files, entry{o, n})
		}
	}
	now := sh.g.clk.Now()
	printEntries := func(es []entry, withTotal bool) {
		if !long {
			for _, e := range es {
				sh.writeStr(1, e.name+"\n")
			}
			return
		}
		var total int64
		wLinks, wSize := 1, 1
		for _, e := range es {
			total += blocksOf(e.n)
			wLinks = max(wLinks, len(strconv.Itoa(nlinks(e.n))))
			wSize = max(wSize, len(strconv.FormatInt(sizeOf(e.n), 10)))
		}
		if withTotal {
			sh.writeStr(1, fmt.Sprintf("total %d\n", total))
		}
		for _, e := range es {
			sh.writeStr(1, fmt.Sprintf("%s %*d root root %*d %s %s\n", modeString(e.n), wLinks, nlinks(e.n), wSize, sizeOf(e.n), lsTime(e.n.mtime, now), e.name))
		}
	}
	slices.SortFunc(files, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(dirs, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	printEntries(files, false)
	for i, d := range dirs {
		if len(operands) > 1 {
			if i > 0 || len(files) > 0 {
				sh.writeStr(1, "\n")
			}
			sh.writeStr(1, d.name+":\n")
		}
		var es []entry
		if all {
			es = append(es, entry{".", d.n}, entry{"..", d.n})
		}
		for _, k := range d.n.sortedKids() {
			if strings.HasPrefix(k.name, ".") && !all && !almost {
				continue
			}
			es = append(es, entry{k.name, k})
		}
		printEntries(es, true)
	}
	return status
}

func sizeOf(n *node) int64 {
	if n.dir {
		return 4096
	}
	return int64(len(n.data))
}

func blocksOf(n *node) int64 {
	s := sizeOf(n)
	return (s + 4095) / 4096 * 4
}

func nlinks(n *node) int {
	if !n.dir {
		return 1
	}
	c := 2
	for _, k := range n.kids {
		if k.dir {
			c++
		}
	}
	return c
}

func modeString(n *node) string {
	b := []byte("----------")
	if n.dir {
		b[0] = 'd'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if n.perm&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	return string(b)
}

// lsTime formats a modification time as ls -l does.
func lsTime(t, now time.Time) string {
	t = t.UTC()
	if now.Sub(t) > 182*24*time.Hour || t.After(now.Add(time.Hour)) {
		return t.Format("Jan _2  2006")
	}
	return t.Format("Jan _2 15:04")
}

func utilMkdir(sh *shell, args []string) int {
	flags, values, operands, bad := splitFlags(args[1:], "m")
	if bad != 0 {
		sh.writeStr(2, "mkdir: option requires an argument -- '"+string(bad)+"'\n")
		return sh.usageError("mkdir", "")
	}
	if len(operands) == 0 {
		return sh.usageError("mkdir", "missing operand")
	}
	perm := fs.FileMode(0o777)
	if m, ok := values['m']; ok {
		v, err := strconv.ParseUint(m, 8, 32)
		if err != nil {
			sh.writeStr(2, "mkdir: invalid mode ‘"+m+"’\n")
			return 1
		}
		perm = fs.FileMode(v)
	}
	status := 0
	for _, o := range operands {
		p := sh.abs(o)
		var err error
		if flags['p'] {
			_, err = sh.g.mkdirAllLocked(p, perm&^umask, true)
		} else {
			err = sh.g.mkdirLocked(p, perm&^umask)
		}
		if err != nil {
			sh.writeStr(2, "mkdir: cannot create directory ‘"+o+"’: "+strerror(err)+"\n")
			status = 1
		}
	}
	return status
}

func utilRm(sh *shell, args []string) int {
	flags, _, operands, _ := splitFlags(args[1:], "")
	recursive := flags['r'] || flags['R']
	force := flags['f']
	if len(operands) == 0 {
		if force {
			return 0
		}
		return sh.usageError("rm", "missing operand")
	}
	status := 0
	for _, o := range operands {
		p := sh.abs(o)
		if p == "/" && recursive {
			sh.writeStr(2, "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n")
			status = 1
			continue
		}
		if base := path.Base(o); base == "." || base == ".." {
			sh.writeStr(2, "rm: refusing to remove '.' or '..' directory: skipping '"+o+"'\n")
			status = 1
			continue
		}
		n, err := sh.g.lookupLocked(p)
		switch {
		case err != nil:
			if !force {
				sh.writeStr(2, "rm: cannot remove '"+o+"': "+strerror(err)+"\n")
				status = 1
			}
			continue
		case n.dir && !recursive && !flags['d']:
			sh.writeStr(2, "rm: cannot remove '"+o+"': Is a directory\n")
			status = 1
			continue
		}
		if err := sh.g.removeLocked(p, recursive); err != nil {
			sh.writeStr(2, "rm: cannot remove '"+o+"': "+strerror(err)+"\n")
			status = 1
		}
	}
	return status
}

func utilRmdir(sh *shell, args []string) int {
	_, _, operands, _ := splitFlags(args[1:], "")
	if len(operands) == 0 {
		return sh.usageError("rmdir", "missing operand")
	}
	status := 0
	for _, o := range operands {
		p := sh.abs(o)
		n, err := sh.g.lookupLocked(p)
		if err == nil && !n.dir {
			err = errNotDir
		}
		if err == nil {
			err = sh.g.removeLocked(p, false)
		}
		if err != nil {
			sh.writeStr(2, "rmdir: failed to remove '"+o+"': "+strerror(err)+"\n")
			status = 1
		}
	}
	return status
}

func utilTouch(sh *shell, args []string) int {
	_, _, operands, _ := splitFlags(args[1:], "drt")
	if len(operands) == 0 {
		return sh.usageError("touch", "missing file operand")
	}
	status := 0
	for _, o := range operands {
		p := sh.abs(o)
		if n, err := sh.g.lookupLocked(p); err == nil {
			n.mtime = sh.g.clk.Now()
			sh.g.emitLocked("CHMOD", p) // touch changes the times: an attribute event
			continue
		}
		if _, err := sh.g.openFileLocked(p, false); err != nil {
			sh.writeStr(2, "touch: cannot touch '"+o+"': "+strerror(err)+"\n")
			status = 1
		}
	}
	return status
}

func utilCp(sh *shell, args []string) int {
	flags, _, operands, _ := splitFlags(args[1:], "")
	recursive := flags['r'] || flags['R'] || flags['a']
	if len(operands) < 2 {
		if len(operands) == 0 {
			return sh.usageError("cp", "missing file operand")
		}
		return sh.usageError("cp", "missing destination file operand after '"+operands[0]+"'")
	}
	dst := operands[len(operands)-1]
	srcs := operands[:len(operands)-1]
	dn, derr := sh.g.lookupLocked(sh.abs(dst))
	dstIsDir := derr == nil && dn.dir
	if len(srcs) > 1 && !dstIsDir {
		sh.writeStr(2, "cp: target '"+dst+"': Not a directory\n")
		return 1
	}
	status := 0
	for _, s := range srcs {
		sn, err := sh.g.lookupLocked(sh.abs(s))
		if err != nil {
			sh.writeStr(2, "cp: cannot stat '"+s+"': "+strerror(err)+"\n")
			status = 1
			continue
		}
		target := sh.abs(dst)
		if dstIsDir {
			target = path.Join(target, path.Base(sh.abs(s)))
		}
		if sn.dir && !recursive {
			sh.writeStr(2, "cp: -r not specified; omitting directory '"+s+"'\n")
			status = 1
			continue
		}
		if err := sh.g.copyTreeLocked(sn, target); err != nil {
			sh.writeStr(2, "cp: cannot create regular file '"+dst+"': "+strerror(err)+"\n")
			status = 1
		}
	}
	return status
}

func utilMv(sh *shell, args []string) int {
	_, _, operands, _ := splitFlags(args[1:], "")
	if len(operands) < 2 {
		if len(operands) == 0 {
			return sh.usageError("mv", "missing file operand")
		}
		return sh.usageError("mv", "missing destination file operand after '"+operands[0]+"'")
	}
	dst := operands[len(operands)-1]
	dn, derr := sh.g.lookupLocked(sh.abs(dst))
	dstIsDir := derr == nil && dn.dir
	status := 0
	for _, s := range operands[:len(operands)-1] {
		target := sh.abs(dst)
		if dstIsDir {
			target = path.Join(target, path.Base(sh.abs(s)))
		}
		if err := sh.g.renameLocked(sh.abs(s), target); err != nil {
			if _, serr := sh.g.lookupLocked(sh.abs(s)); serr != nil {
				sh.writeStr(2, "mv: cannot stat '"+s+"': "+strerror(serr)+"\n")
			} else {
				sh.writeStr(2, "mv: cannot move '"+s+"' to '"+dst+"': "+strerror(err)+"\n")
			}
			status = 1
		}
	}
	return status
}

// breToRE2 translates a POSIX basic regular expression to Go's syntax.
func breToRE2(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case '(', ')', '{', '}', '|', '+', '?':
				b.WriteByte(s[i])
			case '<', '>':
				b.WriteString(`\b`)
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
			continue
		}
		switch c {
		case '(', ')', '{', '}', '|', '+', '?':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '*':
			if i == 0 || s[i-1] == '^' && i == 1 {
				b.WriteString(`\*`)
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func utilGrep(sh *shell, args []string) int {
	flags, values, operands, bad := splitFlags(args[1:], "emABC")
	if bad != 0 {
		sh.writeStr(2, "grep: option requires an argument -- '"+string(bad)+"'\n")
		sh.writeStr(2, "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
		return 2
	}
	pattern, hasPattern := values['e']
	if !hasPattern {
		if len(operands) == 0 {
			sh.writeStr(2, "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
			return 2
		}
		pattern, operands = operands[0], operands[1:]
	}
	extended := flags['E'] || args[0] == "egrep"
	fixed := flags['F'] || args[0] == "fgrep"
	var alts []string
	for _, p := range strings.Split(pattern, "\n") {
		switch {
		case fixed:
			p = regexp.QuoteMeta(p)
		case !extended:
			p = breToRE2(p)
		}
		if flags['w'] {
			p = `(?:^|\W)(?:` + p + `)(?:$|\W)`
		}
		if flags['x'] {
			p = `^(?:` + p + `)$`
		}
		alts = append(alts, "(?:"+p+")")
	}
	expr := strings.Join(alts, "|")
	if flags['i'] || flags['y'] {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		sh.writeStr(2, "grep: Unmatched ( or \\(\n")
		return 2
	}
	recursive := flags['r'] || flags['R']
	if len(operands) == 0 {
		if recursive {
			operands = []string{"."}
		} else {
			operands = []string{"-"}
		}
	}
	type input struct {
		name string
		data []byte
	}
	var inputs []input
	status := 1
	errs := false
	for _, o := range operands {
		if o == "-" {
			inputs = append(inputs, input{"(standard input)", sh.readAll(0)})
			continue
		}
		n, err := sh.g.lookupLocked(sh.abs(o))
		if err != nil {
			if !flags['s'] {
				sh.writeStr(2, "grep: "+o+": "+strerror(err)+"\n")
			}
			errs = true
			continue
		}
		if n.dir {
			if !recursive {
				sh.writeStr(2, "grep: "+o+": Is a directory\n")
				errs = true
				continue
			}
			walkLocked(n, o, func(p string, k *node) bool {
				if k.dir {
					return true
				}
				name := p
				if o == "." {
					name = strings.TrimPrefix(p, "./")
				}
				inputs = append(inputs, input{name, k.data})
				return true
			})
			continue
		}
		inputs = append(inputs, input{o, n.data})
	}
	showName := (len(inputs) > 1 || recursive) && !flags['h'] || flags['H']
	limit := -1
	if m, ok := values['m']; ok {
		limit, _ = strconv.Atoi(m)
	}
	for _, in := range inputs {
		count := 0
		for i, l := range textLines(in.data) {
			if limit >= 0 && count >= limit {
				break
			}
			if re.MatchString(l) == flags['v'] {
				continue
			}
			count++
			status = 0
			if flags['q'] {
				return 0
			}
			if flags['l'] || flags['L'] || flags['c'] {
				continue
			}
			prefix := ""
			if showName {
				prefix = in.name + ":"
			}
			if flags['n'] {
				prefix += strconv.Itoa(i+1) + ":"
			}
			if flags['o'] && !flags['v'] {
				for _, m := range re.FindAllString(l, -1) {
					if m != "" {
						sh.writeStr(1, prefix+m+"\n")
					}
				}
				continue
			}
			sh.writeStr(1, prefix+l+"\n")
		}
		switch {
		case flags['c']:
			if showName {
				sh.writeStr(1, in.name+":")
			}
			sh.writeStr(1, strconv.Itoa(count)+"\n")
		case flags['l'] && count > 0:
			sh.writeStr(1, in.name+"\n")
		case flags['L'] && count == 0:
			sh.writeStr(1, in.name+"\n")
		}
	}
	if errs && !(flags['q'] && status == 0) {
		return 2
	}
	return status
}

func utilWc(sh *shell, args []string) int {
	flags, _, operands, _ := splitFlags(args[1:], "")
	showL, showW, showC := flags['l'], flags['w'], flags['c'] || flags['m']
	if !showL && !showW && !showC {
		showL, showW, showC = true, true, true
	}
	type count struct {
		name    string
		l, w, c int
		regular bool
	}
	if len(operands) == 0 {
		operands = []string{"-"}
	}
	var counts []count
	status := 0
	for _, o := range operands {
		var data []byte
		regular := false
		if o == "-" {
			data = sh.readAll(0)
		} else {
			var ok bool
			data, ok = sh.input("wc", o, "%s: %s: %s\n")
			if !ok {
				status = 1
				continue
			}
			regular = true
		}
		c := count{name: o, c: len(data), regular: regular}
		c.l = bytes.Count(data, []byte("\n"))
		c.w = len(strings.Fields(string(data)))
		if o == "-" && len(operands) == 1 {
			c.name = ""
		}
		counts = append(counts, c)
	}
	if len(counts) > 1 {
		t := count{name: "total", regular: true}
		for _, c := range counts {
			t.l += c.l
			t.w += c.w
			t.c += c.c
			t.regular = t.regular && c.regular
		}
		counts = append(counts, t)
	}
	selected := 0
	for _, b := range []bool{showL, showW, showC} {
		if b {
			selected++
		}
	}
	width := 1
	if selected > 1 || len(counts) > 1 {
		total := 0
		allRegular := true
		for _, c := range counts {
			if c.name != "total" {
				total += c.c
			}
			allRegular = allRegular && c.regular
		}
		width = len(strconv.Itoa(total))
		if !allRegular {
			width = max(width, 7)
		}
	}
	for _, c := range counts {
		var fields []string
		if showL {
			fields = append(fields, fmt.Sprintf("%*d", width, c.l))
		}
		if showW {
			fields = append(fields, fmt.Sprintf("%*d", width, c.w))
		}
		if showC {
			fields = append(fields, fmt.Sprintf("%*d", width, c.c))
		}
		line := strings.Join(fields, " ")
		if c.name != "" {
			line += " " + c.name
		}
		sh.writeStr(1, line+"\n")
	}
	return status
}

// headTailArgs reads -n N, -N, -c N and +N forms.
func headTailArgs(sh *shell, cmd string, args []string) (n int, fromStart, bytesMode bool, files []string, ok bool) {
	n = 10
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-n" || a == "-c":
			if i+1 >= len(args) {
				sh.usageError(cmd, "option requires an argument -- '"+a[1:]+"'")
				return 0, false, false, nil, false
			}
			i++
			v := args[i]
			bytesMode = a == "-c"
			if strings.HasPrefix(v, "+") {
				fromStart = true
				v = v[1:]
			}
			v = strings.TrimPrefix(v, "-")
			k, err := strconv.Atoi(v)
			if err != nil {
				what := "lines"
				if bytesMode {
					what = "bytes"
				}
				sh.writeStr(2, cmd+": invalid number of "+what+": ‘"+args[i]+"’\n")
				return 0, false, false, nil, false
			}
			n = k
		case strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "-c"):
			bytesMode = a[1] == 'c'
			v := a[2:]
			if strings.HasPrefix(v, "+") {
				fromStart = true
				v = v[1:]
			}
			k, err := strconv.Atoi(v)
			if err != nil {
				sh.writeStr(2, cmd+": invalid number of lines: ‘"+v+"’\n")
				return 0, false, false, nil, false
			}
			n = k
		case len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9':
			k, err := strconv.Atoi(a[1:])
			if err != nil {
				return 0, false, false, nil, false
			}
			n = k
		case len(a) > 1 && a[0] == '+' && cmd == "tail":
			k, err := strconv.Atoi(a[1:])
			if err == nil {
				n, fromStart = k, true
				continue
			}
			files = append(files, a)
		case a == "-f" || a == "-F" || a == "-q" || a == "-v":
			if a == "-f" || a == "-F" {
				files = append(files, "\x00follow")
			}
		default:
			files = append(files, a)
		}
	}
	return n, fromStart, bytesMode, files, true
}

func utilHead(sh *shell, args []string) int {
	n, _, bytesMode, files, ok := headTailArgs(sh, "head", args[1:])
	if !ok {
		return 1
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for i, f := range files {
		data, ok := sh.input("head", f, "%s: cannot open '%s' for reading: %s\n")
		if !ok {
			status = 1
			continue
		}
		if len(files) > 1 {
			if i > 0 {
				sh.writeStr(1, "\n")
			}
			name := f
			if f == "-" {
				name = "standard input"
			}
			sh.writeStr(1, "==> "+name+" <==\n")
		}
		if bytesMode {
			sh.write(1, data[:min(n, len(data))])
			continue
		}
		sh.writeStr(1, strings.Join(splitKeep(data)[:min(n, len(splitKeep(data)))], ""))
	}
	return status
}

func utilTail(sh *shell, args []string) int {
	n, fromStart, bytesMode, files, ok := headTailArgs(sh, "tail", args[1:])
	if !ok {
		return 1
	}
	follow := false
	files = slices.DeleteFunc(files, func(f string) bool {
		if f == "\x00follow" {
			follow = true
			return true
		}
		return false
	})
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for i, f := range files {
		data, ok := sh.input("tail", f, "%s: cannot open '%s' for reading: %s\n")
		if !ok {
			status = 1
			continue
		}
		if len(files) > 1 {
			if i > 0 {
				sh.writeStr(1, "\n")
			}
			sh.writeStr(1, "==> "+f+" <==\n")
		}
		if bytesMode {
			switch {
			case fromStart:
				sh.write(1, data[min(max(n-1, 0), len(data)):])
			default:
				sh.write(1, data[max(len(data)-n, 0):])
			}
			continue
		}
		ls := splitKeep(data)
		if fromStart {
			sh.writeStr(1, strings.Join(ls[min(max(n-1, 0), len(ls)):], ""))
		} else {
			sh.writeStr(1, strings.Join(ls[max(len(ls)-n, 0):], ""))
		}
	}
	if follow && status == 0 {
		return sh.blockForever()
	}
	return status
}

func utilEnv(sh *shell, args []string) int {
	a := args[1:]
	env := sh.env()
	for len(a) > 0 {
		switch {
		case a[0] == "-i" || a[0] == "-":
			env = map[string]string{}
		case a[0] == "-u" && len(a) > 1:
			delete(env, a[1])
			a = a[1:]
		case strings.Contains(a[0], "=") && !strings.HasPrefix(a[0], "="):
			k, v, _ := strings.Cut(a[0], "=")
			env[k] = v
		default:
			goto run
		}
		a = a[1:]
	}
run:
	if len(a) == 0 {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range env {
				if !yield(k) {
					return
				}
			}
		}) {
			sh.writeStr(1, k+"="+env[k]+"\n")
		}
		return 0
	}
	sub := sh.subshell()
	sub.vars, sub.exported = env, map[string]bool{}
	for k := range env {
		sub.exported[k] = true
	}
	if _, ok := shellBuiltins[a[0]]; ok && !special[a[0]] || utilities[a[0]] != nil || sh.g.commands[a[0]] != nil {
		st := sub.exec(a[0], a)
		sh.sigDied = sub.sigDied
		return st
	}
	sh.writeStr(2, "env: ‘"+a[0]+"’: No such file or directory\n")
	return 127
}

func utilPrintenv(sh *shell, args []string) int {
	env := sh.env()
	if len(args) == 1 {
		return utilEnv(sh, args[:1])
	}
	status := 0
	for _, k := range args[1:] {
		if v, ok := env[k]; ok {
			sh.writeStr(1, v+"\n")
		} else {
			status = 1
		}
	}
	return status
}

func utilBasename(sh *shell, args []string) int {
	if len(args) < 2 {
		return sh.usageError("basename", "missing operand")
	}
	b := baseName(args[1])
	if len(args) > 2 && b != args[2] {
		b = strings.TrimSuffix(b, args[2])
	}
	sh.writeStr(1, b+"\n")
	return 0
}

func utilDirname(sh *shell, args []string) int {
	if len(args) < 2 {
		return sh.usageError("dirname", "missing operand")
	}
	for _, a := range args[1:] {
		sh.writeStr(1, dirName(a)+"\n")
	}
	return 0
}

func utilSeq(sh *shell, args []string) int {
	nums := make([]float64, 0, 3)
	isInt := true
	for _, a := range args[1:] {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil {
			sh.writeStr(2, "seq: invalid floating point argument: ‘"+a+"’\nTry 'seq --help' for more information.\n")
			return 1
		}
		if strings.ContainsAny(a, ".eE") {
			isInt = false
		}
		nums = append(nums, v)
	}
	first, step, last := 1.0, 1.0, 0.0
	switch len(nums) {
	case 1:
		last = nums[0]
	case 2:
		first, last = nums[0], nums[1]
	case 3:
		first, step, last = nums[0], nums[1], nums[2]
	default:
		return sh.usageError("seq", "missing operand")
	}
	if step == 0 {
		sh.writeStr(2, "seq: invalid Zero increment value: ‘0’\nTry 'seq --help' for more information.\n")
		return 1
	}
	var b strings.Builder
	for i, v := 0, first; (step > 0 && v <= last || step < 0 && v >= last) && i < 1_000_000; i, v = i+1, first+float64(i+1)*step {
		if isInt {
			b.WriteString(strconv.FormatInt(int64(v), 10))
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	sh.writeStr(1, b.String())
	return 0
}

// readInputs concatenates the operands (standard input when none).
func (sh *shell) readInputs(cmd string, files []string) ([]byte, int) {
	if len(files) == 0 {
		return sh.readAll(0), 0
	}
	var out []byte
	status := 0
	for _, f := range files {
		data, ok := sh.input(cmd, f, "%s: %s: %s\n")
		if !ok {
			status = 2
			continue
		}
		out = append(out, data...)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out, status
}

func utilSort(sh *shell, args []string) int {
	flags, _, files, _ := splitFlags(args[1:], "kto")
	data, status := sh.readInputs("sort", files)
	ls := textLines(data)
	less := func(a, b string) bool { return a < b }
	if flags['n'] {
		less = func(a, b string) bool { return leadingNumber(a) < leadingNumber(b) }
	}
	if flags['f'] {
		base := less
		less = func(a, b string) bool { return base(strings.ToLower(a), strings.ToLower(b)) }
	}
	sort.SliceStable(ls, func(i, j int) bool {
		if flags['r'] {
			return less(ls[j], ls[i])
		}
		return less(ls[i], ls[j])
	})
	if flags['u'] {
		ls = slices.Compact(ls)
	}
	for _, l := range ls {
		sh.writeStr(1, l+"\n")
	}
	return status
}

func leadingNumber(s string) float64 {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || end == 0 && s[end] == '-') {
		end++
	}
	v, _ := strconv.ParseFloat(s[:end], 64)
	return v
}

func utilUniq(sh *shell, args []string) int {
	flags, _, files, _ := splitFlags(args[1:], "")
	data, status := sh.readInputs("uniq", files[:min(len(files), 1)])
	ls := textLines(data)
	for i := 0; i < len(ls); {
		j := i + 1
		for j < len(ls) && ls[j] == ls[i] {
			j++
		}
		n := j - i
		switch {
		case flags['d'] && n < 2, flags['u'] && n > 1:
		case flags['c']:
			sh.writeStr(1, fmt.Sprintf("%7d %s\n", n, ls[i]))
		default:
			sh.writeStr(1, ls[i]+"\n")
		}
		i = j
	}
	return status
}

func utilTee(sh *shell, args []string) int {
	flags, _, files, _ := splitFlags(args[1:], "")
	data := sh.readAll(0)
	sh.write(1, data)
	status := 0
	for _, f := range files {
		d, msg := sh.openWrite(f, flags['a'], sh.fds)
		if msg != "" {
			sh.writeStr(2, "tee: "+f+": "+msg+"\n")
			status = 1
			continue
		}
		saved := sh.fds[9]
		sh.fds[9] = d
		sh.write(9, data)
		sh.fds[9] = saved
	}
	return status
}

func utilWhich(sh *shell, args []string) int {
	status := 0
	for _, name := range args[1:] {
		if strings.HasPrefix(name, "-") {
			continue
		}
		where := sh.whereIs(name)
		if _, isShell := shellBuiltins[name]; isShell && where == name {
			where = ""
		}
		if where == "" || sh.funcs[name] != nil {
			status = 1
			continue
		}
		sh.writeStr(1, where+"\n")
	}
	return status
}

func utilDate(sh *shell, args []string) int {
	now := sh.g.clk.Now().UTC()
	for _, a := range args[1:] {
		if a == "-u" || a == "--utc" {
			continue
		}
		if f, ok := strings.CutPrefix(a, "+"); ok {
			sh.writeStr(1, strftime(f, now)+"\n")
			return 0
		}
	}
	sh.writeStr(1, now.Format("Mon Jan _2 15:04:05 MST 2006")+"\n")
	return 0
}

// strftime formats the common conversions of date +FORMAT.
func strftime(f string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			b.WriteString(t.Format("2006"))
		case 'm':
			b.WriteString(t.Format("01"))
		case 'd':
			b.WriteString(t.Format("02"))
		case 'H':
			b.WriteString(t.Format("15"))
		case 'M':
			b.WriteString(t.Format("04"))
		case 'S':
			b.WriteString(t.Format("05"))
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'N':
			b.WriteString(fmt.Sprintf("%09d", t.Nanosecond()))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'Z':
			b.WriteString("UTC")
		case 'z':
			b.WriteString("+0000")
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

func utilTr(sh *shell, args []string) int {
	flags, _, sets, _ := splitFlags(args[1:], "")
	data := sh.readAll(0)
	if len(sets) == 0 {
		return sh.usageError("tr", "missing operand")
	}
	from := expandTrSet(sets[0])
	if flags['d'] {
		out := bytes.Map(func(r rune) rune {
			if strings.ContainsRune(from, r) {
				return -1
			}
			return r
		}, data)
		sh.write(1, out)
		return 0
	}
	if len(sets) < 2 {
		return sh.usageError("tr", "missing operand after ‘"+sets[0]+"’")
	}
	to := []rune(expandTrSet(sets[1]))
	fr := []rune(from)
	out := bytes.Map(func(r rune) rune {
		for i, c := range fr {
			if c == r {
				if len(to) == 0 {
					return r
				}
				return to[min(i, len(to)-1)]
			}
		}
		return r
	}, data)
	sh.write(1, out)
	return 0
}

func expandTrSet(s string) string {
	switch s {
	case "[:upper:]", "A-Z":
		return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	case "[:lower:]", "a-z":
		return "abcdefghijklmnopqrstuvwxyz"
	case "[:digit:]", "0-9":
		return "0123456789"
	case "[:space:]":
		return " \t\n\r\f\v"
	}
	s, _ = unescapeEcho(s)
	var b strings.Builder
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		if i+2 < len(r) && r[i+1] == '-' && r[i] <= r[i+2] {
			for c := r[i]; c <= r[i+2]; c++ {
				b.WriteRune(c)
			}
			i += 2
			continue
		}
		b.WriteRune(r[i])
	}
	return b.String()
}

func utilCut(sh *shell, args []string) int {
	_, values, files, _ := splitFlags(args[1:], "dfc")
	data, status := sh.readInputs("cut", files)
	delim := "\t"
	if d, ok := values['d']; ok && d != "" {
		delim = d[:1]
	}
	spec, byField := values['f'], true
	if c, ok := values['c']; ok {
		spec, byField = c, false
	}
	if spec == "" {
		return sh.usageError("cut", "you must specify a list of bytes, characters, or fields")
	}
	want := func(i int) bool {
		for _, part := range strings.Split(spec, ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, _ := strconv.Atoi(lo)
			if !isRange {
				if a == i {
					return true
				}
				continue
			}
			if lo == "" {
				a = 1
			}
			b, err := strconv.Atoi(hi)
			if hi == "" || err != nil {
				b = 1 << 30
			}
			if a <= i && i <= b {
				return true
			}
		}
		return false
	}
	for _, l := range textLines(data) {
		var parts []string
		if byField {
			fs := strings.Split(l, delim)
			if len(fs) == 1 {
				sh.writeStr(1, l+"\n")
				continue
			}
			for i, f := range fs {
				if want(i + 1) {
					parts = append(parts, f)
				}
			}
			sh.writeStr(1, strings.Join(parts, delim)+"\n")
			continue
		}
		var b strings.Builder
		for i, r := range []rune(l) {
			if want(i + 1) {
				b.WriteRune(r)
			}
		}
		sh.writeStr(1, b.String()+"\n")
	}
	return status
}

// utilYes prints its line a bounded number of times: pipeline stages run
// one after the other here, so an endless writer must end.
func utilYes(sh *shell, args []string) int {
	s := "y"
	if len(args) > 1 {
		s = strings.Join(args[1:], " ")
	}
	sh.writeStr(1, strings.Repeat(s+"\n", 10_000))
	return 0
}

// utilSleep is sleep(1) on the guest's clock.
func utilSleep(sh *shell, args []string) int {
	if len(args) < 2 {
		return sh.usageError("sleep", "missing operand")
	}
	var total time.Duration
	for _, a := range args[1:] {
		d, err := parseSleep(a)
		if err != nil {
			return sh.usageError("sleep", "invalid time interval ‘"+a+"’")
		}
		total += d
	}
	if total <= 0 {
		return 0
	}
	return sh.sleep(total)
}
