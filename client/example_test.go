package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
)

// A configuration prints and logs without its credential.
func ExampleNewConfig() {
	cfg, err := client.NewConfig(client.ControlPlane,
		client.WithoutEnvironment(),
		client.WithToken("bl-secret-token"),
		client.WithWorkspace("research"),
		client.WithUserAgent("my-agent/1.0"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg)
	fmt.Println(cfg.UserAgent())
	// Output:
	// client.Config{api: controlplane, baseURL: https://api.blaxel.ai/v0, credential: [REDACTED], workspace: "research", maxRetries: 4}
	// sandboxkit-go/0.1.0 my-agent/1.0
}

// Options are checked when the configuration is built.
func ExampleNewConfig_invalid() {
	_, err := client.NewConfig(client.Sandbox, client.WithoutEnvironment())
	fmt.Println(err)
	fmt.Println(errors.Is(err, client.ErrInvalidInput))
	// Output:
	// sandboxkit: invalid base URL: required for the sandbox API (use WithBaseURL)
	// true
}

// Wrap turns whatever the transport and generated code returned into an
// error that names the operation and matches the sentinels.
func ExampleWrap() {
	// What a generated client returns for a 404.
	raw := fmt.Errorf("decode response: %w", &url.Error{
		Op:  "Get",
		URL: "http://localhost:8080/v1/sandboxes/sbx-1",
		Err: &client.APIError{StatusCode: http.StatusNotFound, Code: "NOT_FOUND", Message: "sandbox sbx-1 not found", RequestID: "r-17"},
	})
	err := client.Wrap(context.Background(), "lifecycle.Get", raw)
	fmt.Println(err)
	fmt.Println(errors.Is(err, client.ErrNotFound), client.StatusCode(err))
	// Output:
	// sandboxkit: lifecycle.Get: 404 NOT_FOUND: sandbox sbx-1 not found (request id r-17)
	// true 404
}

func ExampleValidateID() {
	fmt.Println(client.ValidateID("sandbox id", "sbx-1"))
	fmt.Println(client.ValidateID("sandbox id", "../etc"))
	// Output:
	// <nil>
	// sandboxkit: invalid sandbox id "../etc": contains '/'
}

// Every failed answer is an *APIError; match it with errors.Is and the
// sentinels, or read its fields with errors.As.
func ExampleAPIError() {
	var err error = fmt.Errorf("deploying: %w", &client.APIError{
		StatusCode: http.StatusServiceUnavailable, Message: "upstream busy", RequestID: "r-9", Operation: "controlplane.Get",
	})

	fmt.Println(errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrServer), errors.Is(err, client.ErrNotFound))
	var ae *client.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.StatusCode, ae.RequestID)
	}
	fmt.Println(client.IsTransient(err)) // worth trying again later
	// Output:
	// true true false
	// 503 r-9
	// true
}

// Retries are tuned per client; start from the defaults.
func ExampleWithRetry() {
	p := client.DefaultRetryPolicy()
	p.MaxRetries = 8
	p.MaxDelay = 10 * time.Second
	cfg, err := client.NewConfig(client.Lifecycle, client.WithoutEnvironment(), client.WithRetry(p))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", cfg.RetryPolicy())
	// Output: {MaxRetries:8 MinDelay:100ms MaxDelay:10s RetryAfterCap:30s}
}
