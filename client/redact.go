package client

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// redacted replaces secret values in printed output, logs and errors.
const redacted = "[REDACTED]"

// secret holds a credential. It is always used through a pointer so that
// fmt prints only an address when a struct holding it is printed with %v
// or %#v (fmt cannot call methods on unexported fields, but it does not
// follow nested pointers either). Printed directly, it shows [REDACTED].
//
// The value sits behind a second pointer because a verb that does not
// suit pointers (%s, %q) makes fmt print the struct a field's pointer
// points to, "%!s(*client.secret=&{...})", without its methods; what
// it finds there is another pointer, printed as an address.
type secret struct {
	value *string
}

// newSecret returns nil for an empty value, so "no credential" is nil.
func newSecret(v string) *secret {
	if v == "" {
		return nil
	}
	return &secret{value: &v}
}

// reveal returns the credential for the one place that needs it: the
// request header set by the auth transport.
func (s *secret) reveal() string {
	if s == nil {
		return ""
	}
	return *s.value
}

// String implements fmt.Stringer without revealing the value.
func (s *secret) String() string {
	if s == nil {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without revealing the value.
func (s *secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format makes every fmt verb (%x and %q included) print the redacted form.
func (s *secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without revealing the value.
func (s *secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// scrub replaces every occurrence of the secret in text, including the
// form a JSON encoder produces when it escapes '/'.
func (s *secret) scrub(text string) string {
	if s == nil || text == "" {
		return text
	}
	v := *s.value
	text = strings.ReplaceAll(text, v, redacted)
	if esc := strings.ReplaceAll(v, "/", `\/`); esc != v {
		text = strings.ReplaceAll(text, esc, redacted)
	}
	return text
}

// scrubTail replaces what text ends with when that is the start of the
// secret (raw or JSON-escaped): the remains of a credential that a length
// limit cut in half. Call it on text that was cut.
func (s *secret) scrubTail(text string) string {
	if s == nil {
		return text
	}
	for _, v := range []string{*s.value, strings.ReplaceAll(*s.value, "/", `\/`)} {
		for n := len(v) - 1; n > 0; n-- {
			if strings.HasSuffix(text, v[:n]) {
				return text[:len(text)-n] + redacted
			}
		}
	}
	return text
}
