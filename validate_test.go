package sandboxkit

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	valid := []string{"sbx-123", "my_sandbox.v2", "a", "ÜNICODE-ok", "a..b", strings.Repeat("x", MaxIDLength), "12345"}
	for _, id := range valid {
		if err := validateID("sandbox id", id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	invalid := map[string]string{
		"":                                 "must not be empty",
		"a/b":                              `contains '/'`,
		`a\b`:                              `contains '\\'`,
		"..":                               "dot segment",
		".":                                "dot segment",
		"a?b":                              `contains '?'`,
		"a#b":                              `contains '#'`,
		"a%2Fb":                            `contains '%'`,
		"a\x00b":                           "control character",
		"a\nb":                             "control character",
		"a\x7fb":                           "control character",
		" lead":                            "starts with white space",
		"trail ":                           "ends with white space",
		"\xff\xfe":                         "UTF-8",
		strings.Repeat("x", MaxIDLength+1): "longer than 253 bytes",
	}
	for id, reason := range invalid {
		err := validateID("sandbox id", id)
		ve, ok := errors.AsType[*ValidationError](err)
		if !ok || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidateID(%q) = %v, want a *ValidationError", id, err)
			continue
		}
		if ve.Field != "sandbox id" || ve.Value != id || !strings.Contains(ve.Reason, reason) {
			t.Errorf("ValidateID(%q) = %+v, want reason %q", id, ve, reason)
		}
		if !strings.HasPrefix(err.Error(), "sandboxkit: invalid sandbox id") {
			t.Errorf("ValidateID(%q).Error() = %q", id, err)
		}
	}
}

func TestValidationErrorQuotesAndTruncates(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300) + "/"
	msg := validateID("process id", long).Error()
	if len(msg) > 150 || !strings.Contains(msg, `"aaaa`) || !strings.Contains(msg, "…") {
		t.Errorf("message not quoted and cut: %q", msg)
	}
	msg = validateID("process id", "a\nb").Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, `"a\nb"`) {
		t.Errorf("control character not escaped: %q", msg)
	}
}

func TestValidatePort(t *testing.T) {
	t.Parallel()
	for _, p := range []int{1, 80, 8080, 65535} {
		if err := validatePort(p); err != nil {
			t.Errorf("ValidatePort(%d) = %v", p, err)
		}
	}
	for _, p := range []int{-1, 0, 65536, 1 << 20} {
		if err := validatePort(p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidatePort(%d) = %v, want ErrInvalidInput", p, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"web", "my process", "日本"} {
		if err := validateName("process name", n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "a\tb", "a\x00"} {
		if err := validateName("process name", n); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidInput", n, err)
		}
	}
}

func TestValidatePath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/tmp/a", "rel/dir", "with space/ü", "/", "a..b", "...", ".hidden/..x", "./a"} {
		if err := validatePath("path", p); err != nil {
			t.Errorf("ValidatePath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/tmp/\x00x", "..", "../x", "/tmp/../etc/passwd", "a/..", `a\..\b`} {
		if err := validatePath("path", p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidInput", p, err)
		}
	}
}
