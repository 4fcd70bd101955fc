package controlplane

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration forms. The service documents durations as a number and one
// unit: m (minutes), h (hours), d (days) or w (weeks), e.g. "30m", "24h",
// "7d", "2w". ParseDuration also accepts the Go forms the service is
// known to take ("1h30m", "90s"); FormatDuration writes only the
// documented single-unit forms.
const (
	day  = 24 * time.Hour
	week = 7 * day
)

// ParseDuration reads a control plane duration: a positive Go duration
// ("30m", "24h", "1h30m", "90s") or a positive whole number of days or
// weeks ("7d", "2w"). Anything else, such as "24 hours", "1.5d", "0m" or
// "-1h", is an error matching [client.ErrInvalidInput].
func ParseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, invalid("duration", s, `must be a positive duration such as "30m", "24h", "7d" or "2w"`)
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		unit := day
		if s[n-1] == 'w' {
			unit = week
		}
		if s[0] < '0' || s[0] > '9' { // no sign
			return bad()
		}
		v, err := strconv.ParseInt(s[:n-1], 10, 64)
		if err != nil || v <= 0 || v > math.MaxInt64/int64(unit) {
			return bad()
		}
		return time.Duration(v) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return bad()
	}
	return d, nil
}

// FormatDuration writes d in the service's documented form, rounded up to
// a whole minute so a lifetime is never cut short: whole weeks as "Nw",
// whole days as "Nd", whole hours as "Nh", anything else as "Nm".
// Durations of a minute or less become "1m". The one exception to rounding
// up is the last minute below the largest time.Duration, which is rounded
// down, because no larger value can be read back.
func FormatDuration(d time.Duration) string {
	const maxMinutes = int64(math.MaxInt64 / int64(time.Minute))
	minutes := int64(d / time.Minute)
	if d%time.Minute != 0 && minutes < maxMinutes {
		minutes++
	}
	minutes = max(minutes, 1)
	switch {
	case minutes%int64(week/time.Minute) == 0:
		return fmt.Sprintf("%dw", minutes/int64(week/time.Minute))
	case minutes%int64(day/time.Minute) == 0:
		return fmt.Sprintf("%dd", minutes/int64(day/time.Minute))
	case minutes%60 == 0:
		return fmt.Sprintf("%dh", minutes/60)
	}
	return fmt.Sprintf("%dm", minutes)
}

// parseTime reads an RFC 3339 time; zero if s is not one.
func parseTime(s string) time.Time {
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
