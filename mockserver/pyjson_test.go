package mockserver

import (
	"errors"
	"math"
	"testing"
	"time"
)

// The expectations below are what CPython 3.11's json module and pydantic
// 2.13 (the versions the real lifecycle server runs) do with each input.

func TestPyDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, msg string
		pos     int
	}{
		{`{"a":"\u12"}`, "Invalid \\uXXXX escape", 7},
		{`{"a":"\`, "Unterminated string starting at", 5},
		{`[1,]`, "Expecting value", 3},
		{`[1 2]`, "Expecting ',' delimiter", 3},
		{`01`, "Extra data", 1},
		{`-`, "Expecting value", 0},
		{`1.`, "Extra data", 1},
		{`1.e5`, "Extra data", 1},
		{`.5`, "Expecting value", 0},
		{`tru`, "Expecting value", 0},
		{`[`, "Expecting value", 1},
		{`{`, "Expecting property name enclosed in double quotes", 1},
		{`{"a"`, "Expecting ':' delimiter", 4},
		{`{"a":`, "Expecting value", 5},
		{`{"a":1`, "Expecting ',' delimiter", 6},
		{`"abc`, "Unterminated string starting at", 0},
		{"\"\x01\"", "Invalid control character at", 1},
		{`{"a":1}}`, "Extra data", 7},
		{"{} \u00a0", "Extra data", 3},
		{`{"é":tru}`, "Expecting value", 5}, // positions count characters
		{"   ", "Expecting value", 3},
	} {
		_, err := pyDecode([]byte(tc.in))
		var de *pyDecodeError
		if !errors.As(err, &de) || de.msg != tc.msg || de.pos != tc.pos {
			t.Errorf("pyDecode(%q) = %v, want %s at %d", tc.in, err, tc.msg, tc.pos)
		}
	}
	for _, bad := range [][]byte{{0xff, '{', '}'}, {'{', 0, '}', ' '}} {
		if _, err := pyDecode(bad); !errors.Is(err, errBodyEncoding) {
			t.Errorf("pyDecode(%q) = %v, want an encoding error", bad, err)
		}
	}
	deep := make([]byte, 0, 2*maxPyDepth+10)
	for range maxPyDepth + 5 {
		deep = append(deep, '[')
	}
	if _, err := pyDecode(deep); !errors.Is(err, errPyDepth) {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestPyRoundTrip(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`1e5`:                     `100000.0`,
		`1E+2`:                    `100.0`,
		`-0`:                      `0`,
		`-0.0`:                    `-0.0`,
		"\ufeff{}":                `{}`,
		" \t\n{} ":                `{}`,
		`{"a" :1 , "b":2}`:        `{"a":1,"b":2}`,
		`"\u00e9\n\/"`:            `"é\n/"`,
		`{"é":1,"x":0,"é":2}`:     `{"é":2,"x":0}`,
		`[[[[]]]]`:                `[[[[]]]]`,
		`99999999999999999999999`: `99999999999999999999999`,
		`"\ud83d\ude00<>&"`:       `"😀<>&"`,
		`"\u0001\t"`:              `"\u0001\t"`,
	} {
		v, err := pyDecode([]byte(in))
		if err != nil {
			t.Errorf("pyDecode(%q): %v", in, err)
			continue
		}
		if got, err := pyEncode(v); err != nil || string(got) != want {
			t.Errorf("round trip of %q = %s %v, want %s", in, got, err, want)
		}
	}
	for _, in := range []string{`NaN`, `[Infinity]`, `{"a":-Infinity}`, `1e999`} {
		v, err := pyDecode([]byte(in))
		if err != nil {
			t.Fatalf("pyDecode(%q): %v", in, err)
		}
		if _, err := pyEncode(v); !errors.Is(err, errPyNaN) {
			t.Errorf("encoding %s: %v, want the strict encoder's refusal", in, err)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	t.Parallel()
	tenth := 0.1 // a variable: constant arithmetic would be exact
	for f, want := range map[float64]string{
		1e16: "1e+16", 1e15: "1000000000000000.0", 123456789012345678: "1.2345678901234568e+17",
		0.0001: "0.0001", 0.00001: "1e-05", 1.5e-7: "1.5e-07", 1.5: "1.5", 100: "100.0",
		1e22: "1e+22", 2.5e300: "2.5e+300", 5e-324: "5e-324", tenth + 0.2: "0.30000000000000004",
		12345.678: "12345.678", -2.5: "-2.5", math.Copysign(0, -1): "-0.0",
	} {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("pyFloatRepr(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestPydanticInt(t *testing.T) {
	t.Parallel()
	ok := map[string]int64{`"+120"`: 120, `" 120 "`: 120, `"120.0"`: 120, `"120.00"`: 120, `"1_000"`: 1000,
		`"00120"`: 120, `1e3`: 1000, `120.0`: 120, `"\t120\n"`: 120, `"+120.0"`: 120, `true`: 1}
	for in, want := range ok {
		v, _ := pyDecode([]byte(in))
		c := &checker{}
		n, good := c.integer([]any{"x"}, v, intRule{})
		if !good || n.Int64() != want {
			t.Errorf("int %s = %v %v %v, want %d", in, n, good, c.errs, want)
		}
	}
	bad := map[string]string{`"120.5"`: "int_parsing", `"1__000"`: "int_parsing", `"_1000"`: "int_parsing", `"0x100"`: "int_parsing",
		`"1e3"`: "int_parsing", `""`: "int_parsing", `"12 0"`: "int_parsing", `"120."`: "int_parsing", `"\u0661"`: "int_parsing",
		`60.5`: "int_from_float", `1e400`: "finite_number", `[]`: "int_type", `{}`: "int_type", `null`: "int_type"}
	for in, typ := range bad {
		v, _ := pyDecode([]byte(in))
		c := &checker{}
		if _, good := c.integer([]any{"x"}, v, intRule{}); good || len(c.errs) != 1 || c.errs[0].typ != typ {
			t.Errorf("int %s: %v, want %s", in, c.errs, typ)
		}
	}
}

func TestPydanticBool(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]any{
		`"True"`: true, `"yes"`: true, `"Y"`: true, `"on"`: true, `"OFF"`: false, `"0"`: false, `"1"`: true,
		`"t"`: true, `"f"`: false, `"n"`: false, `1`: true, `0`: false, `1.0`: true, `0.0`: false, `"truE"`: true,
		`"2"`: "bool_parsing", `" true"`: "bool_parsing", `2`: "bool_parsing", `0.5`: "bool_type", `null`: "bool_type", `[]`: "bool_type",
	} {
		v, _ := pyDecode([]byte(in))
		c := &checker{}
		b, good := c.boolean([]any{"x"}, v)
		switch w := want.(type) {
		case bool:
			if !good || b != w {
				t.Errorf("bool %s = %v %v, want %v", in, b, c.errs, w)
			}
		case string:
			if good || len(c.errs) != 1 || c.errs[0].typ != w {
				t.Errorf("bool %s: %v, want %s", in, c.errs, w)
			}
		}
	}
}

func TestPydanticDateTime(t *testing.T) {
	t.Parallel()
	utc := func(y, mo, d, h, mi, s, us int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC)
	}
	good := []struct {
		in    string
		want  time.Time
		naive bool
	}{
		{`"2030-01-01T00:00:00Z"`, utc(2030, 1, 1, 0, 0, 0, 0), false},
		{`"2030-01-01T00:00:00"`, utc(2030, 1, 1, 0, 0, 0, 0), true},
		{`"2030-01-01"`, utc(2030, 1, 1, 0, 0, 0, 0), true},
		{`"2030-01-01 00:00"`, utc(2030, 1, 1, 0, 0, 0, 0), true},
		{`"2030-01-01t00:00:00z"`, utc(2030, 1, 1, 0, 0, 0, 0), false},
		{`"2030-01-01_00:00:00"`, utc(2030, 1, 1, 0, 0, 0, 0), true},
		{`"2030-01-01T00:00:00.1234567Z"`, utc(2030, 1, 1, 0, 0, 0, 123456), false},
		{`"2030-01-01T02:00:00+0200"`, utc(2030, 1, 1, 0, 0, 0, 0), false},
		{`"2030-01-01T00:00:00-00:00"`, utc(2030, 1, 1, 0, 0, 0, 0), false},
		{`"2030-01-01T00:00Z"`, utc(2030, 1, 1, 0, 0, 0, 0), false},
		{`"2030-01-01T00:00:00.5"`, utc(2030, 1, 1, 0, 0, 0, 500000), true},
		{`"1700000000"`, utc(2023, 11, 14, 22, 13, 20, 0), false},
		{`"20300101"`, utc(1970, 8, 23, 22, 55, 1, 0), false},
		{`"1700000000.5"`, utc(2023, 11, 14, 22, 13, 20, 500000), false},
		{`1700000000`, utc(2023, 11, 14, 22, 13, 20, 0), false},
		{`1700000000123`, utc(2023, 11, 14, 22, 13, 20, 123000), false},
		{`-1`, utc(1969, 12, 31, 23, 59, 59, 0), false},
		{`"9999-12-31T23:59:59Z"`, utc(9999, 12, 31, 23, 59, 59, 0), false},
	}
	for _, tc := range good {
		v, _ := pyDecode([]byte(tc.in))
		c := &checker{}
		got, naive, ok := c.dateTime([]any{"x"}, v)
		if !ok || !got.Equal(tc.want) || naive != tc.naive {
			t.Errorf("datetime %s = %v naive %v %v, want %v naive %v", tc.in, got, naive, c.errs, tc.want, tc.naive)
		}
	}
	for in, want := range map[string]string{
		`"2030-01-01T00"`:             "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"2030-01-01T00:00:00+02"`:    "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"2030-13-01T00:00:00Z"`:      "datetime_from_date_parsing: month value is outside expected range of 1-12",
		`"2030-02-30T00:00:00Z"`:      "datetime_from_date_parsing: day value is outside expected range",
		`"2030-01-01T24:00:00Z"`:      "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"2030-01-01T23:59:60Z"`:      "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"2030/01/01"`:                "datetime_from_date_parsing: invalid date separator, expected `-`",
		`"tomorrow"`:                  "datetime_from_date_parsing: input is too short",
		`"2030-1-01"`:                 "datetime_from_date_parsing: input is too short",
		`"x030-01-01"`:                "datetime_from_date_parsing: invalid character in year",
		`"  2030-01-01T00:00:00Z"`:    "datetime_from_date_parsing: invalid character in year",
		`"2030-01-01T00:00:00.Z"`:     "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"0000-01-01T00:00:00Z"`:      "datetime_parsing: year 0 is out of range",
		`true`:                        "datetime_type",
		`null`:                        "datetime_type",
		`{}`:                          "datetime_type",
		`"2030-01-01T00:00:00Z "`:     "datetime_from_date_parsing: unexpected extra characters at the end of the input",
		`"2030-01-01T00:00:00+25:00"`: "datetime_from_date_parsing: unexpected extra characters at the end of the input",
	} {
		v, _ := pyDecode([]byte(in))
		c := &checker{}
		if _, _, ok := c.dateTime([]any{"x"}, v); ok || len(c.errs) != 1 {
			t.Errorf("datetime %s accepted", in)
			continue
		}
		got := c.errs[0].typ
		if e := c.errs[0].ctx.get("error"); e != nil {
			got += ": " + e.s
		}
		if got != want {
			t.Errorf("datetime %s: %s, want %s", in, got, want)
		}
	}
}

func TestDockerTag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"busybox": "busybox:latest", "python:3.11": "python:3.11", "docker.io/library/python:3.11": "python:3.11",
		"sbx-local/busybox:latest": "sbx-local/busybox:latest", "ghcr.io/a/b": "ghcr.io/a/b:latest",
		"localhost:5000/app": "localhost:5000/app:latest", "app@sha256:ab": "app@sha256:ab", "docker.io/me/app": "me/app:latest",
	} {
		if got := dockerTag(in); got != want {
			t.Errorf("dockerTag(%q) = %q, want %q", in, got, want)
		}
	}
}
