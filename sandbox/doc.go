// Package sandbox is the client of the HTTP API that runs inside one
// sandbox: health and self-upgrade, processes, the file system, network
// ports and tunnel, drives, environment and code-generation helpers, and
// interactive terminals.
//
// Make a [Client] with the sandbox's base URL and token:
//
//	sb, err := sandbox.New(sandboxkit.WithBaseURL(url), sandboxkit.WithToken(token))
//
// or, from a control plane configuration, with [NewFromConfig] and
// [sandboxkit.Config.ForSandbox].
//
// # Where things are
//
//   - System: [Client.Health], [HealthWaiter], [Client.Upgrade],
//     [Client.WatchUpgrade], [Client.StartUpgrade], [Client.ReloadEnvironment].
//   - Processes: [Client.Run], [Client.Exec], [Client.ExecStream],
//     [Waiter], [Client.GetProcess], [Client.ListProcesses],
//     [Client.StopProcess], [Client.KillProcess], [Client.Logs],
//     [Client.StreamLogs].
//   - Files: [Client.Read], [Client.Write], [Client.Open], [Client.Upload],
//     [Client.ListDirectory], [Client.Tree], [Client.WriteTree], [Client.Mkdir],
//     [Client.Remove], [Client.RemoveTree], [Client.Find], [Client.Search],
//     [Client.Grep], [Client.Watch], and the multipart steps
//     ([Client.InitiateUpload], [Client.UploadPart], [Client.ListUploadedParts],
//     [Client.CompleteUpload], [Client.AbortUpload], [Client.ResumeUpload],
//     [Client.ListMultipartUploads]).
//   - Network: [Client.ListPorts], [Client.MonitorPorts],
//     [Client.StopMonitoringPorts], [Client.UpdateTunnel],
//     [Client.DisconnectTunnel].
//   - Drives: [Client.ListDrives], [Client.MountDrive], [Client.UnmountDrive].
//   - Code generation: [Client.FastApply], [Client.Rerank].
//   - Interactive shell: [Client.Terminal] returns a [*Terminal] (an
//     io.ReadWriteCloser with Resize) over the server's WebSocket
//     terminal, which reconnects to its session when the connection
//     drops.
//
// Each group has a small interface ([Executor], [ProcessManager],
// [FileReader], [Upgrader], ...) so code that uses one capability can take
// a fake or a gomock mock from package mocksandbox; [API] is all of them.
//
// # Paths
//
// File system paths are what the caller means: "/tmp/a" is absolute,
// "src/a.txt" is relative to the server's working directory. The real
// server only treats a path as absolute when the URL says so with an extra
// slash (/filesystem//tmp/a), and treats any encoded slash (%2F) as the
// mark of an absolute path; the client sends both kinds accordingly. It
// also takes every URL starting with /filesystem/tree for its tree
// routes, which resolve from "/", so a relative path starting with "tree"
// ("trees", "tree.txt") is sent as "./trees"; answers show it without the
// "./". A path must not be empty, contain a NUL byte or a ".." segment.
//
// # Streams
//
// [Client.ExecStream], [Client.StreamLogs] and [Client.Watch] return a
// [*Stream] read with Next/Event/Err like bufio.Scanner, or with a range
// loop over [Stream.All]. A stream reads in the caller's goroutine;
// [Stream.Close], or the end of the context it was opened with, ends it
// and leaves no goroutine behind. Keepalives are never shown. Process
// output comes one line per event, however the server cut it into chunks;
// a line longer than [StreamOptions.MaxLineSize] comes in pieces of that
// size, and a watch event line longer than it ends the stream with
// [ErrLineTooLong], so no buffer grows without bound. Streams are marked
// as streams: the client's idle timeout applies to them
// rather than its per-call timeout.
//
// Process output streams resume after a dropped connection, as far as the
// server allows: see [Client.StreamLogs] and [Client.ExecStream]. A
// stream whose server keeps ending it is reopened no more often than
// [StreamOptions.ReconnectDelay] allows.
//
// # Processes
//
// The real server reports a process "stopped" (or "killed") as soon as it
// has sent the signal; [Process.Ended] tells when it has exited, and a
// [Waiter] waits for that. [Client.Run] waits for a command, kills it
// when its context or its Timeout ends (a [*RunTimeoutError] carries what
// it printed) and never outlives its context: the kill after the context
// ended runs in the background, bounded by [RunKillTimeout].
//
// # Waiting
//
// The package's waiters have the SDK's one shape, options and errors
// (the same in packages lifecycle and controlplane):
//
//	p, err := sandbox.NewWaiter(sb, nil).Wait(ctx, pid)                 // until it has ended
//	p, err = sandbox.NewWaiter(sb, opts).Wait(ctx, pid, sandbox.StatusCompleted)
//	h, err := sandbox.NewHealthWaiter(sb, nil).Wait(ctx)                // until /health says "ok"
//
// Options are a [*sandboxkit.WaitOptions] (nil for the defaults; its
// OnTransition reports each change of status, Kind "process" or
// "health"). A wait ends with the resource, a [*sandboxkit.StateError]
// (errors.Is [sandboxkit.ErrUnexpectedState]: the process ended otherwise,
// or is not found) or a [*sandboxkit.WaitTimeoutError] (errors.Is
// [sandboxkit.ErrWaitTimeout] and the context's error). A health waiter
// watches the one server its client talks to, so its Wait takes no id and
// no target. Calls whose effect is unknown (an exec whose answer was
// lost, and the lookup by name that should have settled it failed too)
// end with a [*sandboxkit.OutcomeError].
//
// [*RunTimeoutError] is not a wait timeout: it reports a command that
// outlived its own time budget ([RunOptions.Timeout]), which Run then
// killed, with the output it left; the caller's context ending is
// reported as the context's error, as exec.CommandContext does.
//
// # Large files
//
// [Client.Open] streams a download; [Client.Upload] sends a file of any
// size from an io.Reader in parallel parts with bounded memory, retries
// failed parts and can be finished later with [Client.ResumeUpload].
//
// # Upgrades
//
// [Client.Upgrade] requests a self-upgrade and follows it to its outcome
// through the restart of the server; see its documentation for how an
// attempt is told apart from the previous one and what counts as success.
//
// # Errors
//
// Every answer with a status of 400 or more is a [*sandboxkit.APIError]
// (errors.Is(err, sandboxkit.ErrNotFound) and so on) naming the operation, e.g.
// "sandbox.Read" (the method called, also when it failed on a request it
// made on the way). Arguments that cannot be right (an empty command, a
// NUL in a path, a port outside 1..65535, a negative timeout, a nil
// reader or context) fail with a [*sandboxkit.ValidationError] before
// anything is sent.
package sandbox
