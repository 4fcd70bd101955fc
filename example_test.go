package sandboxkit_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sandboxkit/sandboxkit"
)

// A configuration prints and logs without its credential.
func ExampleNewConfig() {
	cfg, err := sandboxkit.NewConfig(sandboxkit.ControlPlane,
		sandboxkit.WithoutEnvironment(),
		sandboxkit.WithToken("bl-secret-token"),
		sandboxkit.WithWorkspace("research"),
		sandboxkit.WithUserAgent("my-agent/1.0"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg)
	fmt.Println(cfg.UserAgent())
	// Output:
	// sandboxkit.Config{api: controlplane, baseURL: https://api.blaxel.ai/v0, credential: [REDACTED], workspace: "research", maxRetries: 4}
	// sandboxkit-go/0.1.0 my-agent/1.0
}

// Options are checked when the configuration is built.
func ExampleNewConfig_invalid() {
	_, err := sandboxkit.NewConfig(sandboxkit.Sandbox, sandboxkit.WithoutEnvironment())
	fmt.Println(err)
	fmt.Println(errors.Is(err, sandboxkit.ErrInvalidInput))
	// Output:
	// sandboxkit: invalid base URL: required for the sandbox API (use WithBaseURL)
	// true
}

// Every failed answer is an *APIError; match it with errors.Is and the
// sentinels, or read its fields with errors.As.
func ExampleAPIError() {
	var err error = fmt.Errorf("deploying: %w", &sandboxkit.APIError{
		StatusCode: http.StatusServiceUnavailable, Message: "upstream busy", RequestID: "r-9", Operation: "controlplane.Get",
	})

	fmt.Println(errors.Is(err, sandboxkit.ErrUnavailable), errors.Is(err, sandboxkit.ErrServer), errors.Is(err, sandboxkit.ErrNotFound))
	var ae *sandboxkit.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.StatusCode, ae.RequestID)
	}
	fmt.Println(sandboxkit.IsTransient(err)) // worth trying again later
	// Output:
	// true true false
	// 503 r-9
	// true
}

// Retries are tuned per client; start from the defaults.
func ExampleWithRetry() {
	p := sandboxkit.DefaultRetryPolicy()
	p.MaxRetries = 8
	p.MaxDelay = 10 * time.Second
	cfg, err := sandboxkit.NewConfig(sandboxkit.Lifecycle, sandboxkit.WithoutEnvironment(), sandboxkit.WithRetry(p))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", cfg.RetryPolicy())
	// Output: {MaxRetries:8 MinDelay:100ms MaxDelay:10s RetryAfterCap:30s}
}
