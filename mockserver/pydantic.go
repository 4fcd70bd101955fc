package mockserver

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The lifecycle server validates requests with pydantic (through
// FastAPI) and answers what fails with 422 {"detail":[{type, loc, msg,
// input, ctx}]}. This file holds the checks the mock needs, with
// pydantic's error types and messages and its lax conversions (a
// timeout of "120" is 120, "yes" is true, a date-time without zone is
// naive), so that the mock accepts and refuses what the server does.

// fieldError is one entry of a validation error answer.
type fieldError struct {
	typ   string
	loc   []any // strings and ints
	msg   string
	input *pyValue
	ctx   *pyValue // nil: the entry has no ctx
}

// render returns e as a JSON object in FastAPI's field order.
func (e fieldError) render() *pyValue {
	loc := pyL()
	for _, p := range e.loc {
		switch p := p.(type) {
		case int:
			loc.list = append(loc.list, pyI(int64(p)))
		case string:
			loc.list = append(loc.list, pyS(p))
		}
	}
	d := pyD().set("type", pyS(e.typ)).set("loc", loc).set("msg", pyS(e.msg))
	d.set("input", cmpOrPy(e.input))
	return d.setOpt("ctx", e.ctx)
}

func cmpOrPy(v *pyValue) *pyValue {
	if v == nil {
		return pyNone()
	}
	return v
}

// checker collects validation errors in the order pydantic reports them.
type checker struct{ errs []fieldError }

func (c *checker) fail(typ string, loc []any, msg string, input, ctx *pyValue) {
	c.errs = append(c.errs, fieldError{typ: typ, loc: loc, msg: msg, input: input, ctx: ctx})
}

// mark returns the current error count; clean reports whether no error
// was added since.
func (c *checker) mark() int             { return len(c.errs) }
func (c *checker) clean(since int) bool  { return len(c.errs) == since }
func at(loc []any, part any) []any       { return append(append(make([]any, 0, len(loc)+1), loc...), part) }
func ctx1(k string, v *pyValue) *pyValue { return pyD().set(k, v) }

// valueError is a model validator's ValueError.
func (c *checker) valueError(loc []any, input *pyValue, msg string) {
	c.fail("value_error", loc, "Value error, "+msg, input, ctx1("error", pyD()))
}

// model checks that v is an object (a pydantic model's input).
func (c *checker) model(loc []any, v *pyValue) bool {
	if v.kind != pyDict {
		c.fail("model_attributes_type", loc, "Input should be a valid dictionary or object to extract fields from", v, nil)
		return false
	}
	return true
}

// field returns the value of a model field, looked up by alias and then,
// for models that populate by name, by its Python name, with its loc.
// A missing required field is reported.
func (c *checker) field(loc []any, obj *pyValue, alias, name string, required bool) (*pyValue, []any) {
	if v, ok := obj.vals[alias]; ok {
		return v, at(loc, alias)
	}
	if name != "" {
		if v, ok := obj.vals[name]; ok {
			return v, at(loc, name)
		}
	}
	if required {
		c.fail("missing", at(loc, alias), "Field required", obj, nil)
	}
	return nil, nil
}

// str checks a str field.
func (c *checker) str(loc []any, v *pyValue) (string, bool) {
	if v.kind != pyStr {
		c.fail("string_type", loc, "Input should be a valid string", v, nil)
		return "", false
	}
	return v.s, true
}

// strRule is a constrained str: length bounds in characters (0: none)
// and a pattern.
type strRule struct {
	minLen, maxLen int
	pattern        *regexp.Regexp
}

func (c *checker) strWith(loc []any, v *pyValue, r strRule) (string, bool) {
	s, ok := c.str(loc, v)
	if !ok {
		return "", false
	}
	n := utf8.RuneCountInString(s)
	switch {
	case r.minLen > 0 && n < r.minLen:
		c.fail("string_too_short", loc, "String should have at least "+plural(r.minLen, "character"), v, ctx1("min_length", pyI(int64(r.minLen))))
		return "", false
	case r.maxLen > 0 && n > r.maxLen:
		c.fail("string_too_long", loc, "String should have at most "+plural(r.maxLen, "character"), v, ctx1("max_length", pyI(int64(r.maxLen))))
		return "", false
	case r.pattern != nil && !r.pattern.MatchString(s):
		src := r.pattern.String()
		c.fail("string_pattern_mismatch", loc, "String should match pattern '"+src+"'", v, ctx1("pattern", pyS(src)))
		return "", false
	}
	return s, true
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// optStr checks an Optional[str] field; null is None.
func (c *checker) optStr(loc []any, v *pyValue) (*string, bool) {
	if v == nil || v.kind == pyNull {
		return nil, true
	}
	s, ok := c.str(loc, v)
	return &s, ok
}

// intRule bounds an int field (nil: no bound).
type intRule struct{ ge, le *int64 }

func bound(n int64) *int64 { return &n }

// integer checks an int field the lax way: a bool is 0 or 1, a float
// without fraction is accepted, a string is parsed (spaces, a sign,
// underscores between digits and a ".0" tail allowed).
func (c *checker) integer(loc []any, v *pyValue, r intRule) (*big.Int, bool) {
	var n *big.Int
	switch v.kind {
	case pyInt:
		n = v.i
	case pyBool:
		n = big.NewInt(0)
		if v.b {
			n.SetInt64(1)
		}
	case pyFloat:
		switch {
		case math.IsNaN(v.f) || math.IsInf(v.f, 0):
			c.fail("finite_number", loc, "Input should be a finite number", v, nil)
			return nil, false
		case v.f != math.Trunc(v.f):
			c.fail("int_from_float", loc, "Input should be a valid integer, got a number with a fractional part", v, nil)
			return nil, false
		}
		n, _ = new(big.Float).SetFloat64(v.f).Int(nil)
	case pyStr:
		var ok bool
		if n, ok = parsePyIntString(v.s); !ok {
			c.fail("int_parsing", loc, "Input should be a valid integer, unable to parse string as an integer", v, nil)
			return nil, false
		}
	default:
		c.fail("int_type", loc, "Input should be a valid integer", v, nil)
		return nil, false
	}
	if r.ge != nil && n.Cmp(big.NewInt(*r.ge)) < 0 {
		c.fail("greater_than_equal", loc, "Input should be greater than or equal to "+strconv.FormatInt(*r.ge, 10), v, ctx1("ge", pyI(*r.ge)))
		return nil, false
	}
	if r.le != nil && n.Cmp(big.NewInt(*r.le)) > 0 {
		c.fail("less_than_equal", loc, "Input should be less than or equal to "+strconv.FormatInt(*r.le, 10), v, ctx1("le", pyI(*r.le)))
		return nil, false
	}
	return n, true
}

var pyIntString = regexp.MustCompile(`^[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?$`)

// parsePyIntString parses a string the way pydantic's lax int mode does.
func parsePyIntString(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	if !pyIntString.MatchString(s) {
		return nil, false
	}
	s, _, _ = strings.Cut(s, ".")
	return new(big.Int).SetString(strings.ReplaceAll(s, "_", ""), 10)
}

// boolean checks a bool field the lax way: 0 and 1 (also as floats) and
// the strings 0/1, off/on, f/false, n/no, t/true, y/yes in any case.
func (c *checker) boolean(loc []any, v *pyValue) (bool, bool) {
	switch v.kind {
	case pyBool:
		return v.b, true
	case pyInt:
		if v.i.IsInt64() && (v.i.Int64() == 0 || v.i.Int64() == 1) {
			return v.i.Int64() == 1, true
		}
	case pyFloat:
		if v.f == 0 || v.f == 1 {
			return v.f == 1, true
		}
		c.fail("bool_type", loc, "Input should be a valid boolean", v, nil)
		return false, false
	case pyStr:
		switch strings.ToLower(v.s) {
		case "0", "off", "f", "false", "n", "no":
			return false, true
		case "1", "on", "t", "true", "y", "yes":
			return true, true
		}
	default:
		c.fail("bool_type", loc, "Input should be a valid boolean", v, nil)
		return false, false
	}
	c.fail("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", v, nil)
	return false, false
}

// list checks a list field.
func (c *checker) list(loc []any, v *pyValue) bool {
	if v.kind != pyList {
		c.fail("list_type", loc, "Input should be a valid list", v, nil)
		return false
	}
	return true
}

// strList checks a List[str] field with at least minItems items.
func (c *checker) strList(loc []any, v *pyValue, minItems int) ([]string, bool) {
	if !c.list(loc, v) {
		return nil, false
	}
	m := c.mark()
	out := make([]string, 0, len(v.list))
	for i, it := range v.list {
		if s, ok := c.str(at(loc, i), it); ok {
			out = append(out, s)
		}
	}
	if !c.clean(m) {
		return nil, false
	}
	if len(out) < minItems {
		c.fail("too_short", loc, "List should have at least "+plural(minItems, "item")+" after validation, not "+strconv.Itoa(len(out)), v,
			pyD().set("field_type", pyS("List")).set("min_length", pyI(int64(minItems))).set("actual_length", pyI(int64(len(out)))))
		return nil, false
	}
	return out, true
}

// strMap checks a Dict[str, str] field (Dict[str, Optional[str]] when
// nullable: a null value comes back as a nil pointer). Keys come back in
// the order the client sent them.
func (c *checker) strMap(loc []any, v *pyValue, nullable bool) (map[string]*string, []string, bool) {
	if v.kind != pyDict {
		c.fail("dict_type", loc, "Input should be a valid dictionary", v, nil)
		return nil, nil, false
	}
	m := c.mark()
	out := make(map[string]*string, len(v.keys))
	for _, k := range v.keys {
		val := v.vals[k]
		if nullable && val.kind == pyNull {
			out[k] = nil
			continue
		}
		if s, ok := c.str(at(loc, k), val); ok {
			out[k] = &s
		}
	}
	return out, v.keys, c.clean(m)
}

// flatten drops the nil values of a checked map.
func flatten(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// dateTime checks a datetime field as pydantic reads one from JSON: an
// ISO 8601 date-time or date, or a Unix time in seconds (milliseconds
// when larger than 2e10) as a number or a string of one. naive reports a
// time given without zone (the server takes it as UTC).
func (c *checker) dateTime(loc []any, v *pyValue) (t time.Time, naive, ok bool) {
	var err string
	switch v.kind {
	case pyInt, pyFloat:
		f, _ := v.number()
		if t, ok := unixToTime(f); ok {
			return t, false, true
		}
		err = "value is too large"
	case pyStr:
		if t, naive, ok := parsePyDateTime(v.s); ok {
			return t, naive, true
		}
		if f, perr := strconv.ParseFloat(strings.TrimSpace(v.s), 64); perr == nil && isPlainNumber(v.s) {
			if t, ok := unixToTime(f); ok {
				return t, false, true
			}
		}
		if y0, ok := strings.CutPrefix(v.s, "0000"); ok {
			if _, _, ok := parsePyDateTime("2000" + y0); ok {
				c.fail("datetime_parsing", loc, "Input should be a valid datetime, year 0 is out of range", v, ctx1("error", pyS("year 0 is out of range")))
				return time.Time{}, false, false
			}
		}
		err = pyDateError(v.s)
	default:
		c.fail("datetime_type", loc, "Input should be a valid datetime", v, nil)
		return time.Time{}, false, false
	}
	c.fail("datetime_from_date_parsing", loc, "Input should be a valid datetime or date, "+err, v, ctx1("error", pyS(err)))
	return time.Time{}, false, false
}

// number returns an int or float value as a float64.
func (v *pyValue) number() (float64, bool) {
	switch v.kind {
	case pyInt:
		f, _ := new(big.Float).SetInt(v.i).Float64()
		return f, true
	case pyFloat:
		return v.f, true
	}
	return 0, false
}

var plainNumber = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]*)?$`)

func isPlainNumber(s string) bool { return plainNumber.MatchString(s) }

// unixToTime converts a Unix time in seconds, or in milliseconds when
// its magnitude is above 2e10, to a UTC time.
func unixToTime(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	if math.Abs(f) > 2e10 {
		f /= 1000
	}
	if math.Abs(f) > 2.5e11 { // beyond year 9999
		return time.Time{}, false
	}
	sec := math.Floor(f)
	usec := math.Round((f - sec) * 1e6)
	return time.Unix(int64(sec), int64(usec)*1000).UTC(), true
}

// parsePyDateTime parses YYYY-MM-DD[(T|t|_| )HH:MM[:SS[.ffffff…]]][Z|z|±HH:MM|±HHMM]
// (a date alone is midnight), with fractions beyond microseconds cut.
func parsePyDateTime(s string) (t time.Time, naive, ok bool) {
	if len(s) < 10 || pyDateError(s[:10]) != "" {
		return time.Time{}, false, false
	}
	y, _ := strconv.Atoi(s[0:4])
	mo, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:10])
	if y == 0 {
		return time.Time{}, false, false
	}
	if len(s) == 10 {
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true, true
	}
	switch s[10] {
	case 'T', 't', '_', ' ':
	default:
		return time.Time{}, false, false
	}
	rest := s[11:]
	num2 := func(p string, max int) (int, bool) {
		if len(p) < 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' {
			return 0, false
		}
		n := int(p[0]-'0')*10 + int(p[1]-'0')
		return n, n <= max
	}
	hh, ok1 := num2(rest, 23)
	if !ok1 || len(rest) < 5 || rest[2] != ':' {
		return time.Time{}, false, false
	}
	mm, ok2 := num2(rest[3:], 59)
	if !ok2 {
		return time.Time{}, false, false
	}
	rest = rest[5:]
	ss, usec := 0, 0
	if strings.HasPrefix(rest, ":") {
		var ok3 bool
		if ss, ok3 = num2(rest[1:], 59); !ok3 {
			return time.Time{}, false, false
		}
		rest = rest[3:]
		if strings.HasPrefix(rest, ".") {
			j := 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if j == 1 {
				return time.Time{}, false, false
			}
			frac := (rest[1:j] + "000000")[:6]
			usec, _ = strconv.Atoi(frac)
			rest = rest[j:]
		}
	}
	loc := time.UTC
	naive = true
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		naive = false
	case rest[0] == '+' || rest[0] == '-':
		var oh, om int
		var okh, okm bool
		switch {
		case len(rest) == 6 && rest[3] == ':':
			oh, okh = num2(rest[1:], 23)
			om, okm = num2(rest[4:], 59)
		case len(rest) == 5:
			oh, okh = num2(rest[1:], 23)
			om, okm = num2(rest[3:], 59)
		}
		if !okh || !okm {
			return time.Time{}, false, false
		}
		off := oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
		naive = false
	default:
		return time.Time{}, false, false
	}
	t = time.Date(y, time.Month(mo), d, hh, mm, ss, usec*1000, loc)
	return t.UTC(), naive, true
}

// pyDateError returns why s is not a date (YYYY-MM-DD and nothing more),
// in pydantic's words, or "" when it is one.
func pyDateError(s string) string {
	digit := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	switch {
	case len(s) < 10:
		return "input is too short"
	case !digit(0) || !digit(1) || !digit(2) || !digit(3):
		return "invalid character in year"
	case s[4] != '-':
		return "invalid date separator, expected `-`"
	case !digit(5) || !digit(6):
		return "invalid character in month"
	case s[7] != '-':
		return "invalid date separator, expected `-`"
	case !digit(8) || !digit(9):
		return "invalid character in day"
	}
	y, _ := strconv.Atoi(s[0:4])
	mo, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:10])
	if mo < 1 || mo > 12 {
		return "month value is outside expected range of 1-12"
	}
	if d < 1 || d > daysIn(y, mo) {
		return "day value is outside expected range"
	}
	if len(s) > 10 {
		return "unexpected extra characters at the end of the input"
	}
	return ""
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
