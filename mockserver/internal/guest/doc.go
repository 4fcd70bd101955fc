// Package guest simulates one sandbox API server: the HTTP API that runs
// inside each sandbox (Blaxel's sandbox-api: health and self-upgrade,
// processes, file system, network, drives, environment, code generation).
// A [Guest] is an http.Handler built on the generated server of
// internal/gen/sandboxsrv; the mock server mounts one per sandbox.
//
// The real server is the reference. Its behaviour was observed through
// ../shared/real and read from its source; the scenario tests of this
// package run against the mock and, when SANDBOX_API_REAL_URL is set,
// against the real server with the same assertions, and
// testdata/captures holds byte-level recordings of the real streams that
// TestCaptures replays on the mock.
//
// Everything lives in memory and everything time-based runs on the
// guest's clock (mockserver/internal/clock), so tests with a manual clock
// see each change exactly when they advance it.
//
// # Processes
//
// A process runs its command line in a small interpreter of the POSIX
// shell as dash (the real image's /bin/sh) parses and runs it: words and
// quoting, parameter, command and arithmetic expansion, globbing over the
// simulated file system, pipes, redirections (<, >, >>, 2>&1, here-
// documents), ;, &&, ||, !, background jobs and wait, subshells, groups,
// if, for, while, until, case, functions, set -e/-u/-x, traps (TERM and
// EXIT), $? and the other special parameters, sh -c and bash -c. Builtins
// and utilities: echo, printf, cd, pwd, test/[, read, export, unset,
// local, eval, exec, exit, return, trap, wait, command, type, sleep (on the
// clock), and cat, ls, mkdir, rm, rmdir, touch, cp, mv, grep, wc, head,
// tail, sort, uniq, cut, tr, tee, seq, env, printenv, basename, dirname,
// which, date, yes, true, false, with GNU's messages. Any other command is
// "sh: N: name: not found" with status 127, unless a test registered it
// with [Guest.RegisterCommand]. The shell runs in a coroutine: a command
// line that takes no time has run when POST /process answers, one that
// sleeps continues when the clock gets there.
//
// What a client sees follows the server: random proc-xxxxxxxx names,
// workingDir as given, completedAt "" while running (null in the list),
// a POST answer taken as the process starts (running, logs null), output
// in process objects limited to the last 64 KiB after a marker line,
// waitForCompletion and waitForPorts bounded by timeout (which otherwise
// only applies to keepAlive), stop as SIGTERM to the process group (the
// status is stopped at once, the process ends when its commands die;
// traps and [Cmd.Terminated] let it decide), kill as SIGKILL, restarts of
// a failed process a second later with the log files read again.
//
// The streams are fed as the server feeds them: a tailer reads each log
// file every 50 ms from the start of a run, at most 4 KiB per file per
// round, and sends each chunk as it read it (several lines, the last one
// possibly unfinished) to every attached stream; it notices the exit at
// its next round, reads the rest at once, sends the result event and ends
// the streams. The logs stream first replays the combined log a line at
// a time (\r before \n dropped, a newline added to an unfinished line),
// then prefixes each live chunk with stdout: or stderr: before its first
// line only; the server's own messages (stop, kill, restart, the 30 s
// [keepalive]) go out unprefixed, and as stdout events on the exec
// stream.
//
// # File system, search, watch
//
// Paths in URLs are read as the server reads them: relative to the
// working directory (default /home/user) unless the request's path holds
// an upper-case %2F anywhere or the path starts with a slash
// (/filesystem//tmp/a); any path that starts with /filesystem/tree goes
// to the tree handlers, which resolve from /. Answers echo the path as
// given. Modes are set at creation only and masked by the umask (022);
// errors carry the operating system's wording. Find, fuzzy search (fzf's
// scores, as the server computes them), content search, multipart uploads
// and watches (the answer comes with the first event) follow the server's
// rules, quirks included (see the handlers).
//
// # Where it differs from the real server
//
// Only what a simulation cannot reasonably reproduce:
//
//   - Commands: only the shell builtins and utilities above exist (no
//     python, node, git, sed, awk, find, curl...); options of the
//     utilities are the common ones. Register commands to simulate
//     others. Stages of a pipeline run one after the other, each reading
//     all the output of the previous one, so a stage that waits delays the
//     next and yes prints a bounded number of lines. A command line that
//     never sleeps runs a thousand commands per millisecond of the clock.
//   - Nothing reaches a network: processes listen only on ports a
//     registered command opens with [Cmd.OpenPort]; port monitors are
//     recorded, never called back; tunnels are validated, not brought up;
//     drives are recorded (the mount point becomes a directory) where the
//     real server needs blfs and a workspace identity; code generation
//     always answers that no provider is configured; POST /mcp and the
//     terminal are not served.
//   - Timing is exact: the tailer's rounds fall every 50 ms from a run's
//     start where the real server's drift, and requests take no time, so
//     an event can come up to a round earlier or later than on the real
//     server (the same events, in the same order).
//   - Orders the real server leaves to chance are fixed: processes and
//     uploads are listed in creation order, content search matches in
//     file order, fuzzy matches of equal score in walk order. A recursive
//     watch reports each creation once where the real one may repeat a
//     CREATE for entries of a new directory; a rewritten file gives one
//     WRITE where the kernel may report two.
//   - The file system has no symlinks, users other than root, devices
//     other than /dev/null, read-only areas or size limits; log files are
//     not capped (the real server keeps 32 MiB of each), and a stream's
//     queue is dropped past 16 MiB (the real server's past 1 MiB while it
//     replays).
//   - JSON is encoded by the generated server: keys in our spec's order
//     and <, >, & not escaped (the real server escapes them as \u003c...),
//     and bodies the generated decoder rejects get its wording after
//     "invalid request body: ".
//   - Upgrades install no binary: [Guest.ScriptUpgrade] sets the outcome
//     and timing of the next attempt (FailAt "starting" is a server in
//     development mode); processes survive the restart and their streams
//     are dropped.
//   - Content search with maxResults=0 returns one match; the real server
//     hangs when more than a hundred further matches wait. Trailing-slash
//     redirects (/process/ to /process) are 404s.
//   - Sandbox state: [Guest.SetState] makes every request 503 (Paused,
//     Pending) or 404 (Terminated), and [Config.Token] checks bearer
//     tokens, which the real server leaves to its gateway.
package guest
