package mockserver

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// No process runs in a mock sandbox, but on the Docker runtime the
// entrypoint decides the sandbox's fate: the container stops when its
// main process exits. The mock recognises a few entrypoints whose end it
// can predict, and runs every other one until the sandbox is deleted.

// exitPlan is how a recognised entrypoint ends: with code after a delay
// on the server's clock.
type exitPlan struct {
	after time.Duration
	code  int
}

// planExit returns how argv ends, or false when the mock cannot tell
// (a server, "tail -f /dev/null", "sleep infinity": it runs until the
// sandbox is deleted). Recognised: true, false, :, echo and printf (exit
// at once), sleep N (N seconds, or with a s, m, h or d suffix; exits 0
// then), exit [N], and "sh -c SCRIPT" (also bash, ash, dash, zsh) where
// SCRIPT chains those with ;, && and ||.
func planExit(argv []string) (exitPlan, bool) {
	if len(argv) == 0 {
		return exitPlan{}, false
	}
	switch path.Base(argv[0]) {
	case "sh", "bash", "ash", "dash", "zsh":
		if len(argv) >= 3 && argv[1] == "-c" {
			return planScript(argv[2])
		}
		return exitPlan{}, false
	}
	p, ok, _ := planCommand(argv)
	return p, ok
}

// planCommand plans one simple command; exited reports an explicit exit
// (which ends a script at once).
func planCommand(argv []string) (p exitPlan, ok, exited bool) {
	switch path.Base(argv[0]) {
	case "true", ":", "echo", "printf":
		return exitPlan{}, true, false
	case "false":
		return exitPlan{code: 1}, true, false
	case "exit":
		if len(argv) == 1 {
			return exitPlan{}, true, true
		}
		n, err := strconv.Atoi(argv[1])
		if err != nil {
			return exitPlan{code: 2}, true, true
		}
		return exitPlan{code: n & 0xff}, true, true
	case "sleep":
		if len(argv) != 2 {
			return exitPlan{}, false, false
		}
		d, ok := sleepDuration(argv[1])
		return exitPlan{after: d}, ok, false
	}
	return exitPlan{}, false, false
}

// sleepDuration reads busybox sleep's argument: a number of seconds
// (decimals allowed) with an optional s, m, h or d suffix.
func sleepDuration(arg string) (time.Duration, bool) {
	unit := time.Second
	switch {
	case strings.HasSuffix(arg, "s"):
		arg = strings.TrimSuffix(arg, "s")
	case strings.HasSuffix(arg, "m"):
		arg, unit = strings.TrimSuffix(arg, "m"), time.Minute
	case strings.HasSuffix(arg, "h"):
		arg, unit = strings.TrimSuffix(arg, "h"), time.Hour
	case strings.HasSuffix(arg, "d"):
		arg, unit = strings.TrimSuffix(arg, "d"), 24*time.Hour
	}
	f, err := strconv.ParseFloat(arg, 64)
	if err != nil || f < 0 || f > float64(100*365*24*time.Hour/unit) {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}

// planScript plans a shell script of simple commands joined by ;, && and
// ||. Any other shell syntax, or a command it does not know, makes the
// script unpredictable.
func planScript(script string) (exitPlan, bool) {
	if strings.ContainsAny(script, "|&;") && !validSeparators(script) {
		return exitPlan{}, false
	}
	if strings.ContainsAny(script, "\"'`$<>(){}\\\n*?") {
		return exitPlan{}, false
	}
	var total time.Duration
	status := 0
	op := ";"
	for _, tok := range splitScript(script) {
		if tok == ";" || tok == "&&" || tok == "||" {
			op = tok
			continue
		}
		argv := strings.Fields(tok)
		if len(argv) == 0 {
			return exitPlan{}, false
		}
		if (op == "&&" && status != 0) || (op == "||" && status == 0) {
			continue
		}
		p, ok, exited := planCommand(argv)
		if !ok {
			return exitPlan{}, false
		}
		total += p.after
		status = p.code
		if exited {
			break
		}
	}
	return exitPlan{after: total, code: status}, true
}

// validSeparators reports whether every |, & and ; in s is part of ||,
// && or ; (no pipes, no background jobs).
func validSeparators(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '|', '&':
			if i+1 >= len(s) || s[i+1] != s[i] {
				return false
			}
			i++
		}
	}
	return true
}

// splitScript cuts a script into commands and the separators between them.
func splitScript(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		sep := ""
		switch {
		case s[i] == ';':
			sep = ";"
		case strings.HasPrefix(s[i:], "&&"):
			sep = "&&"
		case strings.HasPrefix(s[i:], "||"):
			sep = "||"
		}
		if sep == "" {
			continue
		}
		out = append(out, strings.TrimSpace(s[start:i]), sep)
		i += len(sep) - 1
		start = i + 1
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" || len(out) == 0 {
		out = append(out, rest)
	}
	return out
}
