// Command sandboxmock serves the sandboxkit mock server (the lifecycle
// API, the control plane and the sandbox API of every sandbox) on TCP,
// for clients in other processes or languages.
//
// Usage:
//
//	sandboxmock [-listen 127.0.0.1:8080] [-api-key KEY] [-transition-delay 50ms]
//
// Its first line on standard output is "sandboxmock listening on
// http://HOST:PORT"; the lifecycle API is under /v1 and the control plane
// under /v0 of that URL. With -api-key, the lifecycle API requires the key
// in OPEN-SANDBOX-API-KEY, the control plane as a bearer token, and the
// sandbox API accepts it as a bearer token; without it everything is open.
// It stops cleanly on SIGINT or SIGTERM. See package
// github.com/sandboxkit/sandboxkit/mockserver for the URL layout and how
// the mock differs from the real services.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
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

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandboxmock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "TCP `address` to listen on; port 0 picks a free port")
	apiKey := fs.String("api-key", "", "API `key` required by the lifecycle API and the control plane and accepted by the sandbox API (default: no authentication)")
	delay := fs.Duration("transition-delay", mockserver.DefaultTransitionDelay, "`duration` of every asynchronous state transition (0: immediate)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	opts := []mockserver.Option{
		mockserver.WithBaseURL("http://" + net.JoinHostPort(host, port)),
		mockserver.WithTransitionDelay(*delay),
		mockserver.WithJournalLimit(10_000),
	}
	if *apiKey != "" {
		opts = append(opts, mockserver.WithTenant(*apiKey, mockserver.DefaultTenant))
	}
	srv, err := mockserver.New(opts...)
	if err != nil {
		return err
	}
	defer srv.Close()

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "sandboxmock listening on %s\n", srv.URL())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
