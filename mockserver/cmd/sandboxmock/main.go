// Command sandboxmock serves the sandboxkit mock server (the lifecycle
// API, the control plane and the sandbox API of every sandbox) on TCP,
// for clients in other processes or languages.
//
// Usage:
//
//	sandboxmock [-listen 127.0.0.1:8080] [-api-key KEY] [-runtime kubernetes|docker]
//	            [-transition-delay 50ms] [-max-sandbox-timeout 0]
//	            [-max-body 1MiB] [-max-upload 64MiB] [-read-header-timeout 10s]
//	            [-read-timeout 2m] [-idle-timeout 2m] [-journal-limit 10000]
//
// Its first line on standard output is "sandboxmock listening on
// http://HOST:PORT"; the lifecycle API is at the root and under /v1 of
// that URL, the control plane under /v0. With -api-key, the lifecycle API
// requires the key in OPEN-SANDBOX-API-KEY, the control plane as a bearer
// token, and the sandbox API accepts it as a bearer token; without it
// everything is open. -runtime chooses which of the lifecycle server's
// runtimes the mock behaves like (mockserver.RuntimeKubernetes, the
// default, or mockserver.RuntimeDocker). The limits bound what one
// client can make the server hold: request bodies (-max-body for the
// lifecycle API and the control plane, -max-upload for the sandbox API;
// sizes in bytes or with a KiB, MiB or GiB suffix), the time to send
// headers and a whole request, and idle keep-alive connections. It stops
// cleanly on SIGINT or SIGTERM, giving open requests (streams) a few
// seconds to finish. See package github.com/sandboxkit/sandboxkit/mockserver
// for the URL layout and how the mock differs from the real services.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sandboxmock:", err)
		}
		os.Exit(2)
	}
}

// shutdownTimeout bounds how long open requests (streams) may take to
// finish after a signal.
const shutdownTimeout = 5 * time.Second

// byteSize is a flag value: a number of bytes, optionally with a KiB,
// MiB or GiB suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a positive size", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := mockserver.DefaultLimits()
	fs := flag.NewFlagSet("sandboxmock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "TCP `address` to listen on; port 0 picks a free port")
	apiKey := fs.String("api-key", "", "API `key` required by the lifecycle API and the control plane and accepted by the sandbox API (default: no authentication)")
	runtimeName := fs.String("runtime", string(mockserver.DefaultRuntime), "lifecycle server `runtime` to behave like: kubernetes (asynchronous transitions) or docker (synchronous, entrypoints exit)")
	delay := fs.Duration("transition-delay", mockserver.DefaultTransitionDelay, "`duration` of every asynchronous state transition (0: immediate)")
	maxTimeout := fs.Duration("max-sandbox-timeout", 0, "largest create timeout accepted, at least 60s (0: no limit)")
	journal := fs.Int("journal-limit", 10_000, "records of each kind the journal keeps (0: all)")
	maxBody := byteSize(def.MaxBodyBytes)
	maxUpload := byteSize(def.MaxUploadBytes)
	fs.Var(&maxBody, "max-body", "largest lifecycle or control plane request `body`")
	fs.Var(&maxUpload, "max-upload", "largest sandbox API request `body` (file uploads)")
	readHeader := fs.Duration("read-header-timeout", def.ReadHeaderTimeout, "time a client may take to send request headers")
	read := fs.Duration("read-timeout", def.ReadTimeout, "time a client may take to send a whole request, body included")
	idle := fs.Duration("idle-timeout", def.IdleTimeout, "time an idle keep-alive connection stays open")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	rt, err := mockserver.ParseRuntime(*runtimeName)
	if err != nil {
		return err
	}
	if *readHeader <= 0 || *read <= 0 || *idle <= 0 {
		return errors.New("-read-header-timeout, -read-timeout and -idle-timeout must be positive")
	}
	opts := []mockserver.Option{
		mockserver.WithListener(*listen),
		mockserver.WithRuntime(rt),
		mockserver.WithTransitionDelay(*delay),
		mockserver.WithJournalLimit(*journal),
		mockserver.WithLimits(mockserver.Limits{
			MaxBodyBytes:      int64(maxBody),
			MaxUploadBytes:    int64(maxUpload),
			ReadHeaderTimeout: *readHeader,
			ReadTimeout:       *read,
			IdleTimeout:       *idle,
		}),
	}
	if *maxTimeout != 0 {
		opts = append(opts, mockserver.WithMaxSandboxTimeout(*maxTimeout))
	}
	if *apiKey != "" {
		opts = append(opts, mockserver.WithTenant(*apiKey, mockserver.DefaultTenant))
	}
	srv, err := mockserver.New(opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sandboxmock listening on %s\n", srv.URL())
	fmt.Fprintf(stderr, "sandboxmock: lifecycle runtime %s\n", rt)

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
