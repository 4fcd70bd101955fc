// Package guest simulates one sandbox API server: the HTTP API that runs
// inside each sandbox (health and self-upgrade, processes, file system,
// network, drives, environment, code generation). A [Guest] is an
// http.Handler built on the generated server of internal/gen/sandboxsrv;
// the mock server mounts one per sandbox.
//
// Everything lives in memory and everything time-based runs on the
// guest's clock (mockserver/internal/clock), so tests with a manual clock
// see each state change exactly when they advance it.
//
// # What is simulated
//
//   - Health: uptime from the clock, startedAt, upgradeCount, lastUpgrade.
//   - Upgrade: POST /upgrade answers at once; 0.5 s later lastUpgrade goes
//     running/starting, then download (bytesDownloaded growing in four
//     steps), validate, replace; then the server "re-executes": for a
//     short window every connection is dropped, then /health shows a new
//     startedAt, upgradeCount+1, the new version and lastUpgrade back to
//     idle/none (lastAttempt kept; as on the real server it is the time of
//     the attempt's latest step). Open streams drop their connection at
//     the restart; processes survive it. [Guest.ScriptUpgrade] makes an
//     attempt fail at a step, change durations or the version installed.
//     Upgrading to the running version ends completed/skipped without a
//     restart. Concurrent upgrades are not serialized: each advances on its
//     own and the first one to restart the server ends the others.
//   - File system: a tree of directories and files (mode bits, owner and
//     group root, modification times from the clock) with reads, writes,
//     deletes, trees, find, fuzzy and content search, multipart uploads
//     (MD5 etags) and watches (one JSON line per change, [keepalive] every
//     30 s). Paths in URLs follow the real server: relative to the working
//     directory (default /home/user), absolute when the path after the
//     route starts with a slash (/filesystem//tmp/a) or contains an
//     encoded slash anywhere (/filesystem/%2Ftmp%2Fa, and also
//     /filesystem/src%2Fa.txt, which is /src/a.txt).
//   - Processes: command lines run by a small shell (words, quotes, $VAR,
//     ;, && and ||) with built-ins echo, cat, ls, pwd, env, cd, sleep (on
//     the clock), true, false, exit and sh -c, plus commands registered
//     with [Guest.RegisterCommand]; anything else exits 127 with "NAME:
//     command not found". Stop, kill, logs, the NDJSON exec stream and the
//     logs stream behave as on the real server, restartOnFailure included.
//   - Network: ports of a process (its waitForPorts, opened at start, and
//     ports a registered command opens), port monitors (recorded, never
//     called back), tunnel configuration (validated, not applied).
//   - Drives (recorded; the mount point becomes an empty directory),
//     environment reload from [Config.Env] / [Guest.SetEnvironment].
//   - Sandbox state: [Guest.SetState] makes every request 503 (Paused,
//     Pending) or 404 (Terminated). Bearer tokens are checked when
//     [Config.Token] is set (the real server leaves that to its gateway).
//
// # Where it differs from the real server
//
//   - Nothing runs: there is no real shell, no pipes or redirections, no
//     real network, tunnel, drive or model provider. The code-generation
//     endpoints always answer 503 {"error":"no provider configured"}, as a
//     server without a provider does.
//   - Raw downloads are always application/octet-stream (the real server
//     guesses a type from the extension).
//   - Streams send their 200 header at once (the real watch stream only
//     answers with its first event), so a client knows its watch is
//     registered when the request returns.
//   - waitForPorts never waits: the ports open when the process starts.
//   - Built-in commands that take no time have finished when POST /process
//     answers; the real server answers while they may still run.
//   - excludeDirs="" means "exclude nothing" (as our spec says; the real
//     server falls back to its defaults). Fuzzy search matches against
//     the patterns parameter, or the last element of the path when there
//     is none (the real server matches against the path itself).
//   - An unknown route and a known route with another method both answer
//     the plain-text 404 of the real router.
//   - After an upgrade lastUpgrade.version keeps the requested version
//     (the re-executed real server reports an empty one).
//   - Pausing only gates requests: processes and timers go on.
package guest
