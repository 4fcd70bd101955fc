package controlplane

import (
	"math"
	"strconv"
	"time"
)

// Duration forms. The service documents durations as a whole number and
// one unit: s (seconds), m (minutes), h (hours), d (days) or w (weeks),
// e.g. "90s", "30m", "24h", "7d", "2w".
const (
	day  = 24 * time.Hour
	week = 7 * day
)

// durationUnits are the documented units, largest first.
var durationUnits = []struct {
	suffix byte
	unit   time.Duration
}{{'w', week}, {'d', day}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}}

// ParseDuration reads a control plane duration: a positive whole number
// and one unit s, m, h, d or w ("90s", "30m", "24h", "7d", "2w"), the
// forms the service accepts. Anything else, such as "24 hours", "1.5d",
// "1h30m", "0m" or "-1h", is an error matching [sandboxkit.ErrInvalidInput].
func ParseDuration(s string) (time.Duration, error) {
	d, ok := parseUnitDuration(s)
	if !ok {
		return 0, invalid("duration", s, `must be a positive whole number and a unit s, m, h, d or w, such as "30m", "24h" or "7d"`)
	}
	return d, nil
}

// parseUnitDuration reads N followed by one documented unit.
func parseUnitDuration(s string) (time.Duration, bool) {
	n := len(s)
	if n < 2 || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	for _, u := range durationUnits {
		if s[n-1] != u.suffix {
			continue
		}
		v, err := strconv.ParseInt(s[:n-1], 10, 64)
		if err != nil || v <= 0 || v > math.MaxInt64/int64(u.unit) {
			return 0, false
		}
		return time.Duration(v) * u.unit, true
	}
	return 0, false
}

// readDuration reads a duration the service sent: the documented form, or
// a Go duration such as "1h30m" that older writers may have stored. It is
// used to interpret values, never to validate what is sent.
func readDuration(s string) (time.Duration, bool) {
	if d, ok := parseUnitDuration(s); ok {
		return d, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// FormatDuration writes d in the service's documented form, rounded up to
// a whole second so that a lifetime is never cut short: whole weeks as
// "Nw", whole days as "Nd", whole hours as "Nh", whole minutes as "Nm",
// anything else as "Ns". The one exception to rounding up is the last
// second below the largest time.Duration, which is rounded down, because
// no larger value can be read back. d must be positive: zero or a
// negative d is an error matching [sandboxkit.ErrInvalidInput].
func FormatDuration(d time.Duration) (string, error) {
	if d <= 0 {
		return "", invalid("duration", d.String(), "must be positive")
	}
	const maxSeconds = int64(math.MaxInt64 / int64(time.Second))
	secs := int64(d / time.Second)
	if d%time.Second != 0 && secs < maxSeconds {
		secs++
	}
	for _, u := range durationUnits[:len(durationUnits)-1] {
		if per := int64(u.unit / time.Second); secs%per == 0 {
			return strconv.FormatInt(secs/per, 10) + string(u.suffix), nil
		}
	}
	return strconv.FormatInt(secs, 10) + "s", nil
}

// parseTime reads an RFC 3339 time; zero if s is not one.
func parseTime(s string) time.Time {
	if s == "" { // absent: no parse error to allocate
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// formatTime writes t as RFC 3339, with a fraction only when it has one.
func formatTime(t time.Time) string { return t.Format(time.RFC3339Nano) }

// ceilSecond rounds t up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
