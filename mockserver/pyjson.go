package mockserver

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The lifecycle server is a Python (FastAPI) application: its request
// bodies are read by Python's json module and its answers written by it.
// This file reads and writes JSON the same way, so that the mock's
// validation errors point at the same character positions with the same
// messages, and echoed request values look the same, as the real
// server's.

// pyKind is the Python type a JSON value decodes to.
type pyKind uint8

const (
	pyNull pyKind = iota
	pyBool
	pyInt
	pyFloat
	pyStr
	pyList
	pyDict
)

// pyValue is a decoded JSON value. Objects keep their keys in first-seen
// order; a repeated key keeps its first position and its last value, as a
// Python dict built from the pairs does.
type pyValue struct {
	kind pyKind
	b    bool
	i    *big.Int // pyInt
	f    float64  // pyFloat
	s    string   // pyStr
	list []*pyValue
	keys []string
	vals map[string]*pyValue
}

func pyNone() *pyValue            { return &pyValue{kind: pyNull} }
func pyS(s string) *pyValue       { return &pyValue{kind: pyStr, s: s} }
func pyB(b bool) *pyValue         { return &pyValue{kind: pyBool, b: b} }
func pyI(n int64) *pyValue        { return &pyValue{kind: pyInt, i: big.NewInt(n)} }
func pyF(f float64) *pyValue      { return &pyValue{kind: pyFloat, f: f} }
func pyL(vs ...*pyValue) *pyValue { return &pyValue{kind: pyList, list: vs} }

// pyD returns an empty dict.
func pyD() *pyValue { return &pyValue{kind: pyDict, vals: map[string]*pyValue{}} }

// set stores v under k (a dict), keeping k's position when present.
func (d *pyValue) set(k string, v *pyValue) *pyValue {
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
	return d
}

// setOpt stores v under k unless v is nil: a field that is None and
// excluded from the answer.
func (d *pyValue) setOpt(k string, v *pyValue) *pyValue {
	if v == nil {
		return d
	}
	return d.set(k, v)
}

// get returns the value under k of a dict, or nil.
func (d *pyValue) get(k string) *pyValue {
	if d == nil || d.kind != pyDict {
		return nil
	}
	return d.vals[k]
}

// errBodyEncoding is a request body that is not text: the server answers
// 400 "There was an error parsing the body".
var errBodyEncoding = errors.New("request body is not UTF-8 text")

// pyDecodeError is a json.JSONDecodeError: a message and a position in
// characters (not bytes) from the start of the document.
type pyDecodeError struct {
	msg string
	pos int
}

func (e *pyDecodeError) Error() string { return e.msg + ": char " + strconv.Itoa(e.pos) }

// maxPyDepth bounds the nesting of arrays and objects, as Python's
// recursion limit does (deeper documents fail to parse).
const maxPyDepth = 900

// errPyDepth is a document nested deeper than maxPyDepth.
var errPyDepth = errors.New("maximum recursion depth exceeded while decoding a JSON document")

// pyDecode parses b as Python's json.loads does. It returns
// errBodyEncoding or errPyDepth for what Python reports as another
// exception, and a *pyDecodeError for a JSON syntax error.
func pyDecode(b []byte) (*pyValue, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) || looksWide(b) {
		return nil, errBodyEncoding
	}
	d := &pyDecoder{s: b}
	i := d.ws(0)
	v, end, err := d.value(i, 0)
	if err != nil {
		return nil, err
	}
	if end = d.ws(end); end != len(b) {
		return nil, d.fail("Extra data", end)
	}
	return v, nil
}

// looksWide reports a body Python would decode as UTF-16 or UTF-32 (a
// NUL in its first bytes or a wide byte-order mark). The mock does not
// read those encodings.
func looksWide(b []byte) bool {
	if bytes.HasPrefix(b, []byte{0xfe, 0xff}) || bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		return true
	}
	switch {
	case len(b) >= 4:
		return b[0] == 0 || b[1] == 0
	case len(b) == 2:
		return b[0] == 0 || b[1] == 0
	}
	return false
}

type pyDecoder struct{ s []byte }

// fail builds a syntax error at byte offset i.
func (d *pyDecoder) fail(msg string, i int) error {
	return &pyDecodeError{msg: msg, pos: utf8.RuneCount(d.s[:min(i, len(d.s))])}
}

func (d *pyDecoder) ws(i int) int {
	for i < len(d.s) {
		switch d.s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value scans one value at i and returns it with the offset after it.
func (d *pyDecoder) value(i, depth int) (*pyValue, int, error) {
	if i >= len(d.s) {
		return nil, i, d.fail("Expecting value", i)
	}
	if depth > maxPyDepth {
		return nil, i, errPyDepth
	}
	rest := d.s[i:]
	switch c := d.s[i]; {
	case c == '"':
		s, end, err := d.str(i + 1)
		return pyS(s), end, err
	case c == '{':
		return d.object(i+1, depth+1)
	case c == '[':
		return d.array(i+1, depth+1)
	case bytes.HasPrefix(rest, []byte("null")):
		return pyNone(), i + 4, nil
	case bytes.HasPrefix(rest, []byte("true")):
		return pyB(true), i + 4, nil
	case bytes.HasPrefix(rest, []byte("false")):
		return pyB(false), i + 5, nil
	case bytes.HasPrefix(rest, []byte("NaN")):
		return pyF(math.NaN()), i + 3, nil
	case bytes.HasPrefix(rest, []byte("Infinity")):
		return pyF(math.Inf(1)), i + 8, nil
	case bytes.HasPrefix(rest, []byte("-Infinity")):
		return pyF(math.Inf(-1)), i + 9, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number(i)
	}
	return nil, i, d.fail("Expecting value", i)
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? at i.
func (d *pyDecoder) number(i int) (*pyValue, int, error) {
	start, j := i, i
	digits := func(j int) int {
		for j < len(d.s) && d.s[j] >= '0' && d.s[j] <= '9' {
			j++
		}
		return j
	}
	if d.s[j] == '-' {
		j++
	}
	switch {
	case j < len(d.s) && d.s[j] == '0':
		j++
	case j < len(d.s) && d.s[j] >= '1' && d.s[j] <= '9':
		j = digits(j)
	default:
		return nil, i, d.fail("Expecting value", start)
	}
	isFloat := false
	if j+1 < len(d.s) && d.s[j] == '.' && d.s[j+1] >= '0' && d.s[j+1] <= '9' {
		j = digits(j + 1)
		isFloat = true
	}
	if j < len(d.s) && (d.s[j] == 'e' || d.s[j] == 'E') {
		k := j + 1
		if k < len(d.s) && (d.s[k] == '+' || d.s[k] == '-') {
			k++
		}
		if k < len(d.s) && d.s[k] >= '0' && d.s[k] <= '9' {
			j = digits(k)
			isFloat = true
		}
	}
	lit := string(d.s[start:j])
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, i, d.fail("Expecting value", start)
		}
		return pyF(f), j, nil
	}
	n, _ := new(big.Int).SetString(lit, 10)
	return &pyValue{kind: pyInt, i: n}, j, nil
}

// str scans a string whose opening quote is at i-1.
func (d *pyDecoder) str(i int) (string, int, error) {
	begin := i - 1
	var sb strings.Builder
	for {
		if i >= len(d.s) {
			return "", i, d.fail("Unterminated string starting at", begin)
		}
		c := d.s[i]
		switch {
		case c == '"':
			return sb.String(), i + 1, nil
		case c < 0x20:
			return "", i, d.fail("Invalid control character at", i)
		case c != '\\':
			sb.WriteByte(c)
			i++
			continue
		}
		// An escape.
		if i+1 >= len(d.s) {
			return "", i, d.fail("Unterminated string starting at", begin)
		}
		esc := d.s[i+1]
		switch esc {
		case '"', '\\', '/':
			sb.WriteByte(esc)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, n, ok := d.hex4(i + 2)
			if !ok {
				return "", i, d.fail("Invalid \\uXXXX escape", i+1)
			}
			i += 2 + n
			if utf16.IsSurrogate(rune(r)) && r < 0xdc00 && i+1 < len(d.s) && d.s[i] == '\\' && d.s[i+1] == 'u' {
				if lo, n2, ok := d.hex4(i + 2); ok && lo >= 0xdc00 && lo <= 0xdfff {
					sb.WriteRune(utf16.DecodeRune(rune(r), rune(lo)))
					i += 2 + n2
					continue
				}
			}
			// A lone surrogate has no UTF-8 form; Go writes U+FFFD.
			sb.WriteRune(rune(r))
			continue
		default:
			return "", i, d.fail("Invalid \\escape", i)
		}
		i += 2
	}
}

// hex4 reads four hex digits at i.
func (d *pyDecoder) hex4(i int) (uint16, int, bool) {
	if i+4 > len(d.s) {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(string(d.s[i:i+4]), 16, 16)
	if err != nil {
		return 0, 0, false
	}
	return uint16(n), 4, true
}

// object scans the members of an object whose '{' is at i-1.
func (d *pyDecoder) object(i, depth int) (*pyValue, int, error) {
	obj := pyD()
	i = d.ws(i)
	if i < len(d.s) && d.s[i] == '}' {
		return obj, i + 1, nil
	}
	for {
		if i >= len(d.s) || d.s[i] != '"' {
			return nil, i, d.fail("Expecting property name enclosed in double quotes", i)
		}
		k, end, err := d.str(i + 1)
		if err != nil {
			return nil, end, err
		}
		i = d.ws(end)
		if i >= len(d.s) || d.s[i] != ':' {
			return nil, i, d.fail("Expecting ':' delimiter", i)
		}
		i = d.ws(i + 1)
		v, end, err := d.value(i, depth)
		if err != nil {
			return nil, end, err
		}
		obj.set(k, v)
		i = d.ws(end)
		if i < len(d.s) && d.s[i] == '}' {
			return obj, i + 1, nil
		}
		if i >= len(d.s) || d.s[i] != ',' {
			return nil, i, d.fail("Expecting ',' delimiter", i)
		}
		i = d.ws(i + 1)
	}
}

// array scans the items of an array whose '[' is at i-1.
func (d *pyDecoder) array(i, depth int) (*pyValue, int, error) {
	arr := pyL()
	i = d.ws(i)
	if i < len(d.s) && d.s[i] == ']' {
		return arr, i + 1, nil
	}
	for {
		v, end, err := d.value(i, depth)
		if err != nil {
			return nil, end, err
		}
		arr.list = append(arr.list, v)
		i = d.ws(end)
		if i < len(d.s) && d.s[i] == ']' {
			return arr, i + 1, nil
		}
		if i >= len(d.s) || d.s[i] != ',' {
			return nil, i, d.fail("Expecting ',' delimiter", i)
		}
		i = d.ws(i + 1)
	}
}

// errPyNaN is a value Python's strict encoder refuses (NaN, ±Infinity):
// the real server then fails with a plain-text 500.
var errPyNaN = errors.New("out of range float values are not JSON compliant")

// pyEncode renders v as the lifecycle server writes its answers:
// json.dumps with ensure_ascii=False, allow_nan=False and no spaces.
func pyEncode(v *pyValue) ([]byte, error) {
	return v.appendTo(nil)
}

func (v *pyValue) appendTo(dst []byte) ([]byte, error) {
	switch v.kind {
	case pyNull:
		return append(dst, "null"...), nil
	case pyBool:
		if v.b {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case pyInt:
		return v.i.Append(dst, 10), nil
	case pyFloat:
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
			return dst, errPyNaN
		}
		return append(dst, pyFloatRepr(v.f)...), nil
	case pyStr:
		return appendPyString(dst, v.s), nil
	case pyList:
		dst = append(dst, '[')
		for n, it := range v.list {
			if n > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = it.appendTo(dst); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	dst = append(dst, '{')
	for n, k := range v.keys {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendPyString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = v.vals[k].appendTo(dst); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendPyString quotes s as json.dumps(ensure_ascii=False) does: only
// the quote, the backslash and control characters are escaped.
func appendPyString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// pyFloatRepr formats f as Python's repr(float): the shortest digits that
// read back as f, in positional notation when the decimal exponent is
// between -4 and 16, else as d.ddde±XX.
func pyFloatRepr(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. -1.2345e+06
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // position of the decimal point after the first digit
	var out string
	if decpt <= -4 || decpt > 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if x < 0 {
			sign, x = "-", -x
		}
		es := strconv.Itoa(x)
		if len(es) < 2 {
			es = "0" + es
		}
		out = m + "e" + sign + es
	} else {
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}
