package lifecycle_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// startExampleServer runs an in-process lifecycle service, so the
// examples run without a network. New sandboxes start at once.
func startExampleServer() *httptest.Server {
	b := newFakeBackend()
	b.startDelay = 0
	return httptest.NewServer(b)
}

func ExampleClient_CreateAndWait() {
	srv := startExampleServer()
	defer srv.Close()
	c, err := lifecycle.New(
		client.WithBaseURL(srv.URL+"/v1"), // default: OPEN_SANDBOX_BASE_URL or localhost:8080
		client.WithAPIKey(testAPIKey),     // default: OPEN_SANDBOX_API_KEY
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb, err := c.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:      &lifecycle.Image{URI: "python:3.12"},
		Entrypoint: []string{"python", "-m", "http.server", "8080"},
		Timeout:    time.Hour,
		Metadata:   map[string]string{"project": "Apollo"},
	}, &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.ID, sb.State(), sb.Metadata["project"])
	// Output: sbx-1 Running Apollo
}

func ExampleClient_All() {
	srv := startExampleServer()
	defer srv.Close()
	c, err := lifecycle.New(client.WithBaseURL(srv.URL+"/v1"), client.WithAPIKey(testAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, project := range []string{"Apollo", "Gemini", "Apollo"} {
		_, err := c.Create(ctx, &lifecycle.CreateRequest{
			Image:      &lifecycle.Image{URI: "python:3.12"},
			Entrypoint: []string{"sleep", "infinity"},
			Metadata:   map[string]string{"project": project, "note": "Demo Test"},
		}, nil)
		if err != nil {
			log.Fatal(err)
		}
	}

	// Every Apollo sandbox, one page of 1 at a time.
	opts := &lifecycle.ListOptions{Metadata: map[string]string{"project": "Apollo", "note": "Demo Test"}, PageSize: 1}
	for sb, err := range c.All(ctx, opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(sb.ID, sb.Metadata["project"])
	}
	// Output:
	// sbx-1 Apollo
	// sbx-3 Apollo
}

func ExampleNewWaiter() {
	srv := startExampleServer()
	defer srv.Close()
	c, err := lifecycle.New(client.WithBaseURL(srv.URL+"/v1"), client.WithAPIKey(testAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := c.CreateAndWait(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "alpine"}, Entrypoint: []string{"sh"}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Pause(ctx, sb.ID); err != nil {
		log.Fatal(err)
	}

	// What PauseAndWait does, with every state change printed.
	w := lifecycle.NewWaiter(c, func(o *lifecycle.WaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
		o.OnTransition = func(from, to lifecycle.State, _ *lifecycle.Sandbox) {
			fmt.Printf("%q -> %q\n", from, to)
		}
	})
	sb, err = w.WaitForState(ctx, sb.ID, lifecycle.StatePaused)
	if err != nil {
		log.Fatal(err) // a *lifecycle.StateError if it failed or was resumed meanwhile
	}
	fmt.Println(sb.State())
	// Output:
	// "" -> "Pausing"
	// "Pausing" -> "Paused"
	// Paused
}

func ExampleNewRenewer() {
	srv := startExampleServer()
	defer srv.Close()
	c, err := lifecycle.New(client.WithBaseURL(srv.URL+"/v1"), client.WithAPIKey(testAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sb, err := c.Create(ctx, &lifecycle.CreateRequest{
		Image:      &lifecycle.Image{URI: "python:3.12"},
		Entrypoint: []string{"python", "agent.py"},
		Timeout:    5 * time.Minute, // already within the 10-minute margin
	}, nil)
	if err != nil {
		log.Fatal(err)
	}

	renewed := make(chan lifecycle.RenewEvent, 1)
	r, err := lifecycle.NewRenewer(ctx, c, sb.ID, &lifecycle.RenewerOptions{
		Extension: time.Hour,
		Margin:    10 * time.Minute,
		OnRenew:   func(e lifecycle.RenewEvent) { renewed <- e },
		OnError:   func(id string, err error) { log.Printf("renewing %s: %v (retrying)", id, err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	e := <-renewed
	r.Stop()
	fmt.Println("extended by", e.ExpiresAt.Sub(e.Previous).Round(time.Minute))
	fmt.Println(r.Err())
	// Output:
	// extended by 1h0m0s
	// sandboxkit: renewer for sandbox "sbx-1" stopped: stopped
}
