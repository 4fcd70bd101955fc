package guest

import (
	"fmt"
	"strconv"
	"strings"
)

// The command language of simulated processes: a subset of the POSIX
// shell as dash (the /bin/sh of the real server's image) parses it. This
// file turns a command line into a syntax tree; shell_exec.go runs it.

// partKind is the kind of one piece of a word.
type partKind int

const (
	partLit    partKind = iota // literal text
	partParam                  // $name, ${name...}
	partCmdSub                 // $(...) or `...`
	partArith                  // $((...))
	partTilde                  // ~ or ~user at the start of a word
)

// wordPart is one piece of a word. quoted marks text and expansions
// within quotes: they are neither split into fields nor globbed.
type wordPart struct {
	kind   partKind
	text   string // literal text, arithmetic source, tilde user
	quoted bool
	param  *paramExp
	sub    *list
}

// word is a shell word before expansion.
type word []wordPart

// paramExp is a parameter expansion: ${name}, ${#name}, ${name:-word}...
type paramExp struct {
	name   string
	length bool   // ${#name}
	op     string // "", ":-", "-", ":=", "=", ":+", "+", ":?", "?", "%", "%%", "#", "##"
	arg    word
}

// list is a sequence of and-or lists, each run in the background when bg
// is set (a trailing &).
type list struct {
	items []listItem
}

type listItem struct {
	ao *andOr
	bg bool
}

// andOr is pipelines joined by && and ||: ops[i] joins pipes[i] and
// pipes[i+1].
type andOr struct {
	pipes []*pipeline
	ops   []string
}

type pipeline struct {
	bang bool
	cmds []command
}

// command is one of the command types below.
type command interface{ redirects() []redirect }

type simpleCmd struct {
	assigns []assignment
	args    []word
	redirs  []redirect
	line    int
}

type assignment struct {
	name  string
	value word
}

// redirect is one redirection: fd op target, e.g. 2>&1, >>log, <<EOF.
type redirect struct {
	fd     int
	op     string // "<", ">", ">>", ">|", "<>", ">&", "<&", "<<", "<<-"
	target word
	doc    *heredoc
}

type heredoc struct {
	delim  string
	quoted bool // the delimiter was quoted: no expansion
	strip  bool // <<-: leading tabs removed
	raw    string
	body   word
}

type groupCmd struct {
	body     *list
	subshell bool
	redirs   []redirect
}

type ifCmd struct {
	conds, bodies []*list
	elseBody      *list
	redirs        []redirect
}

type forCmd struct {
	name   string
	items  []word
	hasIn  bool
	body   *list
	redirs []redirect
}

type whileCmd struct {
	cond, body *list
	until      bool
	redirs     []redirect
}

type caseCmd struct {
	subject word
	clauses []caseClause
	redirs  []redirect
}

type caseClause struct {
	patterns []word
	body     *list
}

type funcDef struct {
	name string
	body command
}

func (c *simpleCmd) redirects() []redirect { return c.redirs }
func (c *groupCmd) redirects() []redirect  { return c.redirs }
func (c *ifCmd) redirects() []redirect     { return c.redirs }
func (c *forCmd) redirects() []redirect    { return c.redirs }
func (c *whileCmd) redirects() []redirect  { return c.redirs }
func (c *caseCmd) redirects() []redirect   { return c.redirs }
func (c *funcDef) redirects() []redirect   { return nil }

// syntaxError is a parse error, worded like dash's.
type syntaxError struct {
	line int
	msg  string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%d: Syntax error: %s", e.line, e.msg) }

// token kinds
type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokOp      // operator, text in tok.op
	tokNewline // a newline
	tokIONum   // digits just before a redirection operator
)

type token struct {
	kind tokKind
	op   string
	w    word
	lit  string // the word's source text when it is all literal and unquoted
	line int
}

// parser reads one command line.
type parser struct {
	src  string
	pos  int
	line int
	peek *token
	// heredocs wait for the end of their line to read their bodies.
	pendingDocs []*heredoc
}

// parseScript parses a whole command line.
func parseScript(src string) (*list, error) {
	p := &parser{src: src, line: 1}
	var l *list
	err := p.catch(func() {
		l = p.parseList(nil)
		if t := p.next(); t.kind != tokEOF {
			p.fail(t.line, fmt.Sprintf("%s unexpected", describe(t)))
		}
	})
	return l, err
}

// catch turns the parser's panics into an error.
func (p *parser) catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*syntaxError)
			if !ok {
				panic(r)
			}
			err = se
		}
	}()
	f()
	return nil
}

func (p *parser) fail(line int, msg string) { panic(&syntaxError{line, msg}) }

func describe(t *token) string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNewline:
		return "newline"
	case tokOp:
		return `"` + t.op + `"`
	}
	return `word`
}

func (p *parser) next() *token {
	if p.peek != nil {
		t := p.peek
		p.peek = nil
		return t
	}
	return p.lex()
}

func (p *parser) peekTok() *token {
	if p.peek == nil {
		p.peek = p.lex()
	}
	return p.peek
}

// isReserved reports whether t is the reserved word w (an unquoted
// literal word in a position where reserved words count).
func isReserved(t *token, w string) bool { return t.kind == tokWord && t.lit == w }

// skipNewlines consumes newline tokens.
func (p *parser) skipNewlines() {
	for p.peekTok().kind == tokNewline {
		p.next()
	}
}

// parseList parses and-or lists until one of the reserved words in stop,
// a ")" or ";;", or the end.
func (p *parser) parseList(stop map[string]bool) *list {
	l := &list{}
	for {
		p.skipNewlines()
		t := p.peekTok()
		if t.kind == tokEOF || t.kind == tokOp && (t.op == ")" || t.op == ";;") || t.kind == tokWord && stop[t.lit] {
			return l
		}
		ao := p.parseAndOr()
		item := listItem{ao: ao}
		t = p.peekTok()
		switch {
		case t.kind == tokOp && t.op == "&":
			p.next()
			item.bg = true
		case t.kind == tokOp && t.op == ";":
			p.next()
		case t.kind == tokNewline, t.kind == tokEOF:
		case t.kind == tokOp && (t.op == ")" || t.op == ";;"):
		case t.kind == tokWord && stop[t.lit]:
		default:
			p.fail(t.line, fmt.Sprintf("%s unexpected", describe(t)))
		}
		l.items = append(l.items, item)
	}
}

func (p *parser) parseAndOr() *andOr {
	ao := &andOr{pipes: []*pipeline{p.parsePipeline()}}
	for {
		t := p.peekTok()
		if t.kind != tokOp || t.op != "&&" && t.op != "||" {
			return ao
		}
		p.next()
		p.skipNewlines()
		ao.ops = append(ao.ops, t.op)
		ao.pipes = append(ao.pipes, p.parsePipeline())
	}
}

func (p *parser) parsePipeline() *pipeline {
	pl := &pipeline{}
	if isReserved(p.peekTok(), "!") {
		p.next()
		pl.bang = true
	}
	pl.cmds = append(pl.cmds, p.parseCommand())
	for {
		t := p.peekTok()
		if t.kind != tokOp || t.op != "|" {
			return pl
		}
		p.next()
		p.skipNewlines()
		pl.cmds = append(pl.cmds, p.parseCommand())
	}
}

func (p *parser) expectWord(w string) {
	t := p.next()
	if !isReserved(t, w) {
		p.fail(t.line, fmt.Sprintf("%s unexpected (expecting \"%s\")", describe(t), w))
	}
}

func (p *parser) parseCommand() command {
	t := p.peekTok()
	if t.kind == tokOp && t.op == "(" {
		p.next()
		body := p.parseList(nil)
		if c := p.next(); c.kind != tokOp || c.op != ")" {
			p.fail(c.line, fmt.Sprintf("%s unexpected (expecting \")\")", describe(c)))
		}
		return &groupCmd{body: body, subshell: true, redirs: p.parseRedirs()}
	}
	if t.kind == tokWord {
		switch t.lit {
		case "{":
			p.next()
			body := p.parseList(map[string]bool{"}": true})
			p.expectWord("}")
			return &groupCmd{body: body, redirs: p.parseRedirs()}
		case "if":
			return p.parseIf()
		case "while", "until":
			p.next()
			cond := p.parseList(map[string]bool{"do": true})
			p.expectWord("do")
			body := p.parseList(map[string]bool{"done": true})
			p.expectWord("done")
			return &whileCmd{cond: cond, body: body, until: t.lit == "until", redirs: p.parseRedirs()}
		case "for":
			return p.parseFor()
		case "case":
			return p.parseCase()
		case "then", "else", "elif", "fi", "do", "done", "esac", "}", "in":
			p.fail(t.line, fmt.Sprintf("\"%s\" unexpected", t.lit))
		}
	}
	return p.parseSimple()
}

func (p *parser) parseIf() command {
	p.next()
	c := &ifCmd{}
	for {
		cond := p.parseList(map[string]bool{"then": true})
		p.expectWord("then")
		body := p.parseList(map[string]bool{"elif": true, "else": true, "fi": true})
		c.conds, c.bodies = append(c.conds, cond), append(c.bodies, body)
		t := p.next()
		switch t.lit {
		case "elif":
			continue
		case "else":
			c.elseBody = p.parseList(map[string]bool{"fi": true})
			p.expectWord("fi")
		case "fi":
		default:
			p.fail(t.line, fmt.Sprintf("%s unexpected (expecting \"fi\")", describe(t)))
		}
		c.redirs = p.parseRedirs()
		return c
	}
}

func (p *parser) parseFor() command {
	p.next()
	t := p.next()
	if t.kind != tokWord || t.lit == "" || !isName(t.lit) {
		p.fail(t.line, "Bad for loop variable")
	}
	c := &forCmd{name: t.lit}
	p.skipNewlines()
	if isReserved(p.peekTok(), "in") {
		p.next()
		c.hasIn = true
		for {
			t := p.peekTok()
			if t.kind != tokWord {
				break
			}
			p.next()
			c.items = append(c.items, t.w)
		}
		if t := p.peekTok(); t.kind == tokOp && t.op == ";" {
			p.next()
		}
	} else if t := p.peekTok(); t.kind == tokOp && t.op == ";" {
		p.next()
	}
	p.skipNewlines()
	p.expectWord("do")
	c.body = p.parseList(map[string]bool{"done": true})
	p.expectWord("done")
	c.redirs = p.parseRedirs()
	return c
}

func (p *parser) parseCase() command {
	p.next()
	t := p.next()
	if t.kind != tokWord {
		p.fail(t.line, fmt.Sprintf("%s unexpected (expecting word)", describe(t)))
	}
	c := &caseCmd{subject: t.w}
	p.skipNewlines()
	p.expectWord("in")
	for {
		p.skipNewlines()
		t := p.peekTok()
		if isReserved(t, "esac") {
			p.next()
			break
		}
		if t.kind == tokOp && t.op == "(" {
			p.next()
		}
		var cl caseClause
		for {
			t := p.next()
			if t.kind != tokWord {
				p.fail(t.line, fmt.Sprintf("%s unexpected (expecting word)", describe(t)))
			}
			cl.patterns = append(cl.patterns, t.w)
			n := p.next()
			if n.kind == tokOp && n.op == "|" {
				continue
			}
			if n.kind == tokOp && n.op == ")" {
				break
			}
			p.fail(n.line, fmt.Sprintf("%s unexpected (expecting \")\")", describe(n)))
		}
		cl.body = p.parseList(map[string]bool{"esac": true})
		c.clauses = append(c.clauses, cl)
		t = p.peekTok()
		if t.kind == tokOp && t.op == ";;" {
			p.next()
			continue
		}
		p.skipNewlines()
		p.expectWord("esac")
		break
	}
	c.redirs = p.parseRedirs()
	return c
}

// parseRedirs parses the redirections after a compound command.
func (p *parser) parseRedirs() []redirect {
	var out []redirect
	for {
		r, ok := p.tryRedirect()
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

// tryRedirect parses one redirection if one comes next.
func (p *parser) tryRedirect() (redirect, bool) {
	t := p.peekTok()
	fd := -1
	if t.kind == tokIONum {
		p.next()
		n, err := strconv.Atoi(t.lit)
		if err != nil || n > 9 {
			p.fail(t.line, "Bad fd number")
		}
		fd = n
		t = p.peekTok()
	} else if t.kind != tokOp || !isRedirOp(t.op) {
		return redirect{}, false
	}
	if t.kind != tokOp || !isRedirOp(t.op) {
		p.fail(t.line, "redirection expected")
	}
	p.next()
	r := redirect{fd: fd, op: t.op}
	if r.fd < 0 {
		r.fd = 1
		if strings.HasPrefix(r.op, "<") {
			r.fd = 0
		}
	}
	target := p.next()
	if target.kind != tokWord {
		p.fail(target.line, fmt.Sprintf("%s unexpected", describe(target)))
	}
	r.target = target.w
	if r.op == "<<" || r.op == "<<-" {
		delim, quoted := heredocDelim(target.w)
		r.doc = &heredoc{delim: delim, quoted: quoted, strip: r.op == "<<-"}
		p.pendingDocs = append(p.pendingDocs, r.doc)
	}
	return r, true
}

func isRedirOp(op string) bool {
	switch op {
	case "<", ">", ">>", ">|", "<>", ">&", "<&", "<<", "<<-":
		return true
	}
	return false
}

// heredocDelim returns the delimiter of a here-document and whether any
// part of it was quoted.
func heredocDelim(w word) (string, bool) {
	var b strings.Builder
	quoted := false
	for _, pt := range w {
		if pt.quoted {
			quoted = true
		}
		switch pt.kind {
		case partLit:
			b.WriteString(pt.text)
		case partParam:
			b.WriteString("$" + pt.param.name)
		default:
			b.WriteString(pt.text)
		}
	}
	return b.String(), quoted
}

func (p *parser) parseSimple() command {
	c := &simpleCmd{line: p.peekTok().line}
	for {
		if r, ok := p.tryRedirect(); ok {
			c.redirs = append(c.redirs, r)
			continue
		}
		t := p.peekTok()
		if t.kind != tokWord {
			break
		}
		if len(c.args) == 0 {
			if name, val, ok := splitAssignment(t.w); ok {
				p.next()
				c.assigns = append(c.assigns, assignment{name, val})
				continue
			}
		}
		p.next()
		c.args = append(c.args, t.w)
		// name() { ... }: a function definition.
		if len(c.args) == 1 && len(c.assigns) == 0 && len(c.redirs) == 0 && t.lit != "" && isName(t.lit) {
			if n := p.peekTok(); n.kind == tokOp && n.op == "(" && p.src[p.pos:] != "" {
				save := *p
				p.next()
				if cl := p.next(); cl.kind == tokOp && cl.op == ")" {
					p.skipNewlines()
					return &funcDef{name: t.lit, body: p.parseCommand()}
				}
				*p = save
			}
		}
	}
	if len(c.args) == 0 && len(c.assigns) == 0 && len(c.redirs) == 0 {
		t := p.peekTok()
		p.fail(t.line, fmt.Sprintf("%s unexpected", describe(t)))
	}
	return c
}

// splitAssignment recognizes NAME=value at the start of a word.
func splitAssignment(w word) (string, word, bool) {
	if len(w) == 0 || w[0].kind != partLit || w[0].quoted {
		return "", nil, false
	}
	name, rest, ok := strings.Cut(w[0].text, "=")
	if !ok || !isName(name) {
		return "", nil, false
	}
	val := word{}
	if rest != "" {
		val = append(val, wordPart{kind: partLit, text: rest})
	}
	return name, append(val, w[1:]...), true
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && (i == 0 || !('0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}

// lex returns the next token.
func (p *parser) lex() *token {
	for {
		if p.pos >= len(p.src) {
			if len(p.pendingDocs) > 0 {
				p.readHeredocs()
			}
			return &token{kind: tokEOF, line: p.line}
		}
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t':
			p.pos++
			continue
		case c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
			p.pos += 2
			p.line++
			continue
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			continue
		case c == '\n':
			t := &token{kind: tokNewline, line: p.line}
			p.pos++
			p.line++
			if len(p.pendingDocs) > 0 {
				p.readHeredocs()
			}
			return t
		}
		if op := p.matchOp(); op != "" {
			t := &token{kind: tokOp, op: op, line: p.line}
			p.pos += len(op)
			return t
		}
		// IO_NUMBER: digits directly followed by < or >.
		j := p.pos
		for j < len(p.src) && '0' <= p.src[j] && p.src[j] <= '9' {
			j++
		}
		if j > p.pos && j < len(p.src) && (p.src[j] == '<' || p.src[j] == '>') {
			t := &token{kind: tokIONum, lit: p.src[p.pos:j], line: p.line}
			p.pos = j
			return t
		}
		return p.lexWord()
	}
}

var operators = []string{"&&", "||", ";;", "<<-", "<<", "<&", "<>", ">>", ">&", ">|", ";", "&", "|", "(", ")", "<", ">"}

func (p *parser) matchOp() string {
	for _, op := range operators {
		if strings.HasPrefix(p.src[p.pos:], op) {
			return op
		}
	}
	return ""
}

func isMeta(c byte) bool { return strings.IndexByte(" \t\n;&|()<>", c) >= 0 }

// lexWord reads one word.
func (p *parser) lexWord() *token {
	t := &token{kind: tokWord, line: p.line}
	start := p.pos
	var w word
	lit := func(s string, quoted bool) {
		if n := len(w); n > 0 && w[n-1].kind == partLit && w[n-1].quoted == quoted {
			w[n-1].text += s
			return
		}
		w = append(w, wordPart{kind: partLit, text: s, quoted: quoted})
	}
	allPlain := true
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isMeta(c) {
			break
		}
		switch c {
		case '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				p.fail(p.line, "Unterminated quoted string")
			}
			s := p.src[p.pos+1 : p.pos+1+end]
			p.line += strings.Count(s, "\n")
			lit(s, true)
			if s == "" {
				w = append(w, wordPart{kind: partLit, quoted: true})
			}
			p.pos += end + 2
			allPlain = false
		case '"':
			p.pos++
			n := len(w)
			p.lexDouble(&w, lit)
			if len(w) == n {
				w = append(w, wordPart{kind: partLit, quoted: true})
			}
			allPlain = false
		case '\\':
			if p.pos+1 >= len(p.src) {
				lit("\\", false)
				p.pos++
				continue
			}
			if p.src[p.pos+1] == '\n' {
				p.pos += 2
				p.line++
				continue
			}
			lit(p.src[p.pos+1:p.pos+2], true)
			p.pos += 2
			allPlain = false
		case '$':
			if !p.lexDollar(&w, false) {
				lit("$", false)
				p.pos++
			}
			allPlain = false
		case '`':
			p.lexBacktick(&w, false)
			allPlain = false
		case '~':
			if p.pos == start {
				j := p.pos + 1
				for j < len(p.src) && !isMeta(p.src[j]) && p.src[j] != '/' && p.src[j] != ':' && strings.IndexByte("'\"\\$`", p.src[j]) < 0 {
					j++
				}
				w = append(w, wordPart{kind: partTilde, text: p.src[p.pos+1 : j]})
				p.pos = j
				allPlain = false
				continue
			}
			lit("~", false)
			p.pos++
		default:
			lit(p.src[p.pos:p.pos+1], false)
			p.pos++
		}
	}
	t.w = w
	if allPlain {
		t.lit = p.src[start:p.pos]
	}
	return t
}

// lexDouble reads the inside of double quotes (the opening quote is
// consumed) up to and including the closing quote.
func (p *parser) lexDouble(w *word, lit func(string, bool)) {
	for {
		if p.pos >= len(p.src) {
			p.fail(p.line, "Unterminated quoted string")
		}
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return
		case '\\':
			if p.pos+1 < len(p.src) && strings.IndexByte("$`\"\\\n", p.src[p.pos+1]) >= 0 {
				if p.src[p.pos+1] == '\n' {
					p.line++
				} else {
					lit(p.src[p.pos+1:p.pos+2], true)
				}
				p.pos += 2
				continue
			}
			lit("\\", true)
			p.pos++
		case '$':
			if !p.lexDollar(w, true) {
				lit("$", true)
				p.pos++
			}
		case '`':
			p.lexBacktick(w, true)
		default:
			if c == '\n' {
				p.line++
			}
			lit(string(c), true)
			p.pos++
		}
	}
}

// lexDollar reads an expansion starting at $; false if the $ is literal.
func (p *parser) lexDollar(w *word, quoted bool) bool {
	if p.pos+1 >= len(p.src) {
		return false
	}
	c := p.src[p.pos+1]
	switch {
	case c == '(' && strings.HasPrefix(p.src[p.pos:], "$(("):
		depth, j := 0, p.pos+3
		for ; j < len(p.src); j++ {
			switch p.src[j] {
			case '(':
				depth++
			case ')':
				if depth == 0 && j+1 < len(p.src) && p.src[j+1] == ')' {
					*w = append(*w, wordPart{kind: partArith, text: p.src[p.pos+3 : j], quoted: quoted})
					p.pos = j + 2
					return true
				}
				depth--
			}
		}
		p.fail(p.line, "Missing '))'")
	case c == '(':
		p.pos += 2
		save := p.peek
		p.peek = nil
		sub := p.parseList(nil)
		t := p.next()
		if t.kind != tokOp || t.op != ")" {
			p.fail(t.line, fmt.Sprintf("%s unexpected (expecting \")\")", describe(t)))
		}
		p.peek = save
		*w = append(*w, wordPart{kind: partCmdSub, sub: sub, quoted: quoted})
		return true
	case c == '{':
		p.pos += 2
		*w = append(*w, wordPart{kind: partParam, param: p.lexBraceParam(), quoted: quoted})
		return true
	case strings.IndexByte("?$!#@*-0123456789", c) >= 0:
		*w = append(*w, wordPart{kind: partParam, param: &paramExp{name: string(c)}, quoted: quoted})
		p.pos += 2
		return true
	case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		j := p.pos + 1
		for j < len(p.src) && (p.src[j] == '_' || 'a' <= p.src[j] && p.src[j] <= 'z' || 'A' <= p.src[j] && p.src[j] <= 'Z' || '0' <= p.src[j] && p.src[j] <= '9') {
			j++
		}
		*w = append(*w, wordPart{kind: partParam, param: &paramExp{name: p.src[p.pos+1 : j]}, quoted: quoted})
		p.pos = j
		return true
	}
	return false
}

// lexBraceParam reads ${...} after the brace.
func (p *parser) lexBraceParam() *paramExp {
	pe := &paramExp{}
	if p.pos < len(p.src) && p.src[p.pos] == '#' && p.pos+1 < len(p.src) && p.src[p.pos+1] != '}' {
		pe.length = true
		p.pos++
	}
	j := p.pos
	if j < len(p.src) && strings.IndexByte("?$!#@*-0123456789", p.src[j]) >= 0 {
		j++
		for j < len(p.src) && '0' <= p.src[j] && p.src[j] <= '9' && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			j++
		}
	} else {
		for j < len(p.src) && (p.src[j] == '_' || 'a' <= p.src[j] && p.src[j] <= 'z' || 'A' <= p.src[j] && p.src[j] <= 'Z' || '0' <= p.src[j] && p.src[j] <= '9') {
			j++
		}
	}
	pe.name = p.src[p.pos:j]
	p.pos = j
	if pe.name == "" {
		if p.pos >= len(p.src) {
			p.fail(p.line, "Missing '}'")
		}
		p.fail(p.line, "Bad substitution")
	}
	for _, op := range []string{":-", ":=", ":+", ":?", "%%", "##", "-", "=", "+", "?", "%", "#"} {
		if strings.HasPrefix(p.src[p.pos:], op) && !pe.length {
			pe.op = op
			p.pos += len(op)
			break
		}
	}
	// The argument: a word up to the closing brace.
	var arg word
	lit := func(s string, quoted bool) {
		if n := len(arg); n > 0 && arg[n-1].kind == partLit && arg[n-1].quoted == quoted {
			arg[n-1].text += s
			return
		}
		arg = append(arg, wordPart{kind: partLit, text: s, quoted: quoted})
	}
	for {
		if p.pos >= len(p.src) {
			p.fail(p.line, "Missing '}'")
		}
		c := p.src[p.pos]
		switch c {
		case '}':
			p.pos++
			if pe.op == "" && len(arg) > 0 {
				p.fail(p.line, "Bad substitution")
			}
			pe.arg = arg
			return pe
		case '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				p.fail(p.line, "Unterminated quoted string")
			}
			lit(p.src[p.pos+1:p.pos+1+end], true)
			p.pos += end + 2
		case '"':
			p.pos++
			p.lexDouble(&arg, lit)
		case '\\':
			if p.pos+1 < len(p.src) {
				lit(p.src[p.pos+1:p.pos+2], true)
			}
			p.pos += 2
		case '$':
			if !p.lexDollar(&arg, false) {
				lit("$", false)
				p.pos++
			}
		case '`':
			p.lexBacktick(&arg, false)
		default:
			if c == '\n' {
				p.line++
			}
			lit(string(c), false)
			p.pos++
		}
	}
}

// lexBacktick reads `...` command substitution.
func (p *parser) lexBacktick(w *word, quoted bool) {
	var b strings.Builder
	j := p.pos + 1
	for {
		if j >= len(p.src) {
			p.fail(p.line, "EOF in backquote substitution")
		}
		c := p.src[j]
		if c == '`' {
			break
		}
		if c == '\\' && j+1 < len(p.src) && strings.IndexByte("$`\\", p.src[j+1]) >= 0 {
			b.WriteByte(p.src[j+1])
			j += 2
			continue
		}
		b.WriteByte(c)
		j++
	}
	sub, err := parseScript(b.String())
	if err != nil {
		p.fail(p.line, err.(*syntaxError).msg)
	}
	p.line += strings.Count(p.src[p.pos:j], "\n")
	p.pos = j + 1
	*w = append(*w, wordPart{kind: partCmdSub, sub: sub, quoted: quoted})
}

// readHeredocs reads the bodies of the pending here-documents, which
// start at p.pos (just after a newline).
func (p *parser) readHeredocs() {
	docs := p.pendingDocs
	p.pendingDocs = nil
	for _, d := range docs {
		var body strings.Builder
		found := false
		for p.pos < len(p.src) {
			end := strings.IndexByte(p.src[p.pos:], '\n')
			var line string
			if end < 0 {
				line = p.src[p.pos:]
				p.pos = len(p.src)
			} else {
				line = p.src[p.pos : p.pos+end]
				p.pos += end + 1
			}
			p.line++
			if d.strip {
				line = strings.TrimLeft(line, "\t")
			}
			if line == d.delim {
				found = true
				break
			}
			body.WriteString(line + "\n")
		}
		_ = found // dash accepts a here-document ended by the end of input
		d.raw = body.String()
		if !d.quoted {
			d.body = parseHeredocBody(d.raw, p.line)
		}
	}
}

// parseHeredocBody parses an unquoted here-document: $ expansions and
// backslash escapes of $ ` \ and newline, everything else literal.
func parseHeredocBody(src string, line int) word {
	p := &parser{src: src, line: line}
	var w word
	lit := func(s string, quoted bool) {
		if n := len(w); n > 0 && w[n-1].kind == partLit {
			w[n-1].text += s
			return
		}
		w = append(w, wordPart{kind: partLit, text: s, quoted: true})
	}
	err := p.catch(func() {
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			switch c {
			case '\\':
				if p.pos+1 < len(p.src) && strings.IndexByte("$`\\\n", p.src[p.pos+1]) >= 0 {
					if p.src[p.pos+1] != '\n' {
						lit(p.src[p.pos+1:p.pos+2], true)
					}
					p.pos += 2
					continue
				}
				lit("\\", true)
				p.pos++
			case '$':
				if !p.lexDollar(&w, true) {
					lit("$", true)
					p.pos++
				}
			case '`':
				p.lexBacktick(&w, true)
			default:
				lit(string(c), true)
				p.pos++
			}
		}
	})
	if err != nil {
		return word{{kind: partLit, text: src, quoted: true}}
	}
	return w
}
