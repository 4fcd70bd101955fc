package guest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shellCase is a command line and what the real server's /bin/sh (dash,
// with GNU coreutils and grep) makes of it. Each runs in an empty
// directory of its own; {dir} in an expectation is its absolute path.
type shellCase struct {
	cmd            string
	code           int
	stdout, stderr string
	env            map[string]string
	skipRealReason string
}

var shellCases = []shellCase{
	{cmd: "echo hi", stdout: "hi\n"},
	{cmd: `echo -n 'a  b' "c $X" \$x`, env: map[string]string{"X": "hello"}, stdout: "a  b c hello $x"},
	{cmd: `echo "a\tb\n"`, stdout: "a\tb\n\n"},
	{cmd: "echo $?; false; echo $?; ! true; echo $?", stdout: "0\n1\n1\n"},
	{cmd: "exit 3", code: 3},
	{cmd: "exit 300", code: 44},
	{cmd: "exit abc", code: 2, stderr: "sh: 1: exit: Illegal number: abc\n"},
	{cmd: "true; false", code: 1},
	{cmd: "frobnicate --now", code: 127, stderr: "sh: 1: frobnicate: not found\n"},
	{cmd: "echo a\n\nnope\necho b", stdout: "a\nb\n", stderr: "sh: 3: nope: not found\n"},
	{cmd: "pwd", stdout: "{dir}\n"},
	{cmd: "mkdir sub && cd sub && pwd", stdout: "{dir}/sub\n"},
	{cmd: "cd missing", code: 2, stderr: "sh: 1: cd: can't cd to missing\n"},
	{cmd: "mkdir -p a/b && echo x > a/b/f && cat a/b/f && ls a", stdout: "x\nb\n"},
	{cmd: "mkdir x; mkdir x", code: 1, stderr: "mkdir: cannot create directory ‘x’: File exists\n"},
	{cmd: "mkdir x/y", code: 1, stderr: "mkdir: cannot create directory ‘x/y’: No such file or directory\n"},
	{cmd: "mkdir x; rm x", code: 1, stderr: "rm: cannot remove 'x': Is a directory\n"},
	{cmd: "rm nope; rm -f nope; echo $?", stdout: "0\n", stderr: "rm: cannot remove 'nope': No such file or directory\n"},
	{cmd: "mkdir -p d/e && touch d/e/f && rm -rf d && ls", stdout: ""},
	{cmd: "printf '%s-%d\\n' a 5 b", stdout: "a-5\nb-0\n"},
	{cmd: "printf 'x\\ny\\nz\\n' | wc -l", stdout: "3\n"},
	{cmd: "echo hello | wc", stdout: "      1       1       6\n"},
	{cmd: "echo hello > f; wc f; wc -l f; wc -c < f", stdout: "1 1 6 f\n1 f\n6\n"},
	{cmd: "printf 'a\\nb\\nc\\n' | grep -n b", stdout: "2:b\n"},
	{cmd: "echo a | grep z; echo $?", stdout: "1\n"},
	{cmd: "printf 'Foo\\nbar\\n' > f; grep -i foo f; grep -c o f; grep -v bar f", stdout: "Foo\n1\nFoo\n"},
	{cmd: "grep x missing", code: 2, stderr: "grep: missing: No such file or directory\n"},
	{cmd: "false && echo no || echo yes; echo done", stdout: "yes\ndone\n"},
	{cmd: "sh -c 'echo in; exit 5'; echo $?", stdout: "in\n5\n"},
	{cmd: "bash -c 'exit 6'", code: 6},
	{cmd: "bash -c nope", code: 127, stderr: "bash: line 1: nope: command not found\n"},
	{cmd: "echo out; echo err >&2", stdout: "out\n", stderr: "err\n"},
	{cmd: "ls missing 2>&1; echo $?", stdout: "ls: cannot access 'missing': No such file or directory\n2\n"},
	{cmd: "cat missing 2>/dev/null || echo fallback", stdout: "fallback\n"},
	{cmd: "echo a > f; echo b >> f; cat f; wc -c < f", stdout: "a\nb\n4\n"},
	{cmd: "cat < missing", code: 2, stderr: "sh: 1: cannot open missing: No such file\n"},
	{cmd: "echo x > missing/f", code: 2, stderr: "sh: 1: cannot create missing/f: Directory nonexistent\n"},
	{cmd: "cat <<EOF\nhello $X\nEOF", env: map[string]string{"X": "you"}, stdout: "hello you\n"},
	{cmd: "cat <<'EOF'\nhello $X\nEOF", stdout: "hello $X\n"},
	{cmd: "for i in 1 2 3; do echo n$i; done", stdout: "n1\nn2\nn3\n"},
	{cmd: "mkdir a; if [ -d a ]; then echo dir; elif [ -f a ]; then echo file; else echo none; fi", stdout: "dir\n"},
	{cmd: "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", stdout: "3\n"},
	{cmd: `case hello.go in *.py) echo py;; *.go) echo go;; esac`, stdout: "go\n"},
	{cmd: `x=$(echo sub); echo "got $x" ` + "`echo bt`", stdout: "got sub bt\n"},
	{cmd: "echo $((2+3*4)) $((7/2)) $((7%3))", stdout: "14 3 1\n"},
	{cmd: "head -n 2 missing", code: 1, stderr: "head: cannot open 'missing' for reading: No such file or directory\n"},
	{cmd: "printf '1\\n2\\n3\\n4\\n' > f; head -n 2 f; tail -n 1 f; tail -2 f; head -c 3 f", stdout: "1\n2\n4\n3\n4\n1\n2"},
	{cmd: "seq 3 | tail -1; seq 2 4", stdout: "3\n2\n3\n4\n"},
	{cmd: "echo a b c | cut -d' ' -f2", stdout: "b\n"},
	{cmd: "set -e; false; echo never", code: 1},
	{cmd: "trap 'echo bye' EXIT; echo hi", stdout: "hi\nbye\n"},
	{cmd: "touch b a c; echo *; ls", stdout: "a b c\na\nb\nc\n"},
	{cmd: "echo *.none", stdout: "*.none\n"},
	{cmd: "sleep x", code: 1, stderr: "sleep: invalid time interval ‘x’\nTry 'sleep --help' for more information.\n"},
	{cmd: "wc -l missing", code: 1, stderr: "wc: missing: No such file or directory\n"},
	{cmd: "a=1; a=2 sh -c 'echo $a'; echo $a", stdout: "2\n1\n"},
	{cmd: "export A=x; sh -c 'echo $A'", stdout: "x\n"},
	{cmd: "echo a | tee f; cat f", stdout: "a\na\n"},
	{cmd: `test 1 -eq 1 && echo eq; [ "a" = "b" ] || echo ne`, stdout: "eq\nne\n"},
	{cmd: "ls -a", stdout: ".\n..\n"},
	{cmd: "f() { echo in $1; return 3; }; f x; echo $?", stdout: "in x\n3\n"},
	{cmd: "(cd /tmp; pwd); pwd", stdout: "/tmp\n{dir}\n"},
	{cmd: "{ echo a; echo b; } > f; cat f", stdout: "a\nb\n"},
	{cmd: "echo one two | (read a b; echo $b $a)", stdout: "two one\n"},
	{cmd: "echo ${U:-def} ${#X} ${X%.go}", env: map[string]string{"X": "main.go"}, stdout: "def 7 main\n"},
	{cmd: "printf 'b\\na\\nb\\n' | sort | uniq -c", stdout: "      1 a\n      2 b\n"},
	{cmd: "echo hi | sed s/h/j/", code: 127, stderr: "sh: 1: sed: not found\n", skipRealReason: "the real image has sed; the mock simulates no sed"},
	{cmd: "cp missing x", code: 1, stderr: "cp: cannot stat 'missing': No such file or directory\n"},
	{cmd: "echo a > f; cp f g; mv g h; ls; cat h", stdout: "f\nh\na\n"},
	{cmd: "basename /a/b.txt .txt; dirname /a/b.txt", stdout: "b\n/a\n"},
	{cmd: "echo 'unterminated", code: 2, stderr: "sh: 1: Syntax error: Unterminated quoted string\n"},
	{cmd: "if true; then echo x", code: 2, stderr: "sh: 1: Syntax error: end of file unexpected (expecting \"fi\")\n"},
}

func TestShell(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		for i, tc := range shellCases {
			if tg.mock == nil && tc.skipRealReason != "" {
				continue
			}
			dir := unique("gxsh")
			tg.mkdir(t, dir)
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			p := tg.run(t, map[string]any{"command": tc.cmd, "workingDir": dir, "env": env})
			abs := tg.workdir + "/" + dir
			want := struct {
				Code           int
				Stdout, Stderr string
			}{tc.code, strings.ReplaceAll(tc.stdout, "{dir}", abs), tc.stderr}
			got := struct {
				Code           int
				Stdout, Stderr string
			}{p.ExitCode, str(p.Stdout), str(p.Stderr)}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("case %d %q (-want +got):\n%s", i, tc.cmd, d)
			}
			wantStatus := "completed"
			if tc.code != 0 {
				wantStatus = "failed"
			}
			if p.Status != wantStatus {
				t.Errorf("case %d %q: status %s, want %s", i, tc.cmd, p.Status, wantStatus)
			}
		}
	})
}
