package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"slices"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func ExampleClient_CreateAndWait() {
	// A mock lifecycle service, in memory: the examples need no network.
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// Against a real service: lifecycle.New(sandboxkit.WithBaseURL(url),
	// sandboxkit.WithAPIKey(key)), or no options to read
	// OPEN_SANDBOX_BASE_URL and OPEN_SANDBOX_API_KEY.
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb, err := c.CreateAndWait(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"python", "-m", "http.server", "8080"},
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
		Timeout:        time.Hour,
		Metadata:       map[string]string{"project": "Apollo"},
	}, &lifecycle.CreateAndWaitOptions{DeleteOnFailure: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.State(), sb.Metadata["project"])
	// Output: Running Apollo
}

func ExampleClient_All() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, project := range []string{"Apollo", "Gemini", "Apollo"} {
		_, err := c.Create(ctx, &lifecycle.CreateRequest{
			Image:          &lifecycle.Image{URI: "python:3.12"},
			Entrypoint:     []string{"sleep", "infinity"},
			ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
			Metadata:       map[string]string{"project": project, "note": "demo"},
		}, nil)
		if err != nil {
			log.Fatal(err)
		}
	}

	// Every Apollo sandbox, one page of 1 at a time.
	opts := &lifecycle.ListOptions{Metadata: map[string]string{"project": "Apollo", "note": "demo"}, PageSize: 1}
	for sb, err := range c.All(ctx, opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(sb.Metadata["project"], sb.Metadata["note"])
	}
	// Output:
	// Apollo demo
	// Apollo demo
}

func ExampleNewWaiter() {
	// Kubernetes shows a pause under way as Pausing.
	srv, err := mockserver.New(mockserver.WithRuntime(mockserver.RuntimeKubernetes))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := c.CreateAndWait(ctx, &lifecycle.CreateRequest{Image: &lifecycle.Image{URI: "alpine"}, Entrypoint: []string{"sh"},
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Pause(ctx, sb.ID); err != nil {
		log.Fatal(err)
	}

	// What PauseAndWait does, with every state change printed.
	w := lifecycle.NewWaiter(c, &sandboxkit.WaitOptions{
		MinDelay: 50 * time.Millisecond,
		MaxDelay: time.Second,
		OnTransition: func(tr sandboxkit.Transition) {
			fmt.Printf("%s %q -> %q\n", tr.Kind, tr.From, tr.To)
		},
	})
	sb, err = w.Wait(ctx, sb.ID, lifecycle.StatePaused)
	if err != nil {
		log.Fatal(err) // a *sandboxkit.StateError if it failed or was resumed meanwhile
	}
	fmt.Println(sb.State())
	// Output:
	// sandbox "" -> "Pausing"
	// sandbox "Pausing" -> "Paused"
	// Paused
}

func ExampleNewRenewer() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sb, err := c.Create(ctx, &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"python", "agent.py"},
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
		Timeout:        5 * time.Minute, // already within the 10-minute margin
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
	if stopped, ok := errors.AsType[*lifecycle.RenewStoppedError](r.Err()); ok {
		fmt.Println(stopped.Reason)
	}
	// Output:
	// extended by 1h0m0s
	// stopped
}

// Create never makes two sandboxes for one call. Here the service creates
// the sandbox but the answer is lost (a 503 after the commit, injected by
// the mock server): Create looks its client token up and returns the
// sandbox the first attempt made instead of creating another.
func ExampleClient_Create() {
	srv, err := mockserver.New(mockserver.WithTransitionDelay(0))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_, _ = srv.InjectFault(mockserver.Fault{
		API: mockserver.APILifecycle, Operation: "CreateSandbox",
		AfterCommit: true, Status: http.StatusServiceUnavailable, Times: 1,
	})
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...) // a *lifecycle.Client pointed at the mock
	if err != nil {
		log.Fatal(err)
	}

	sb, err := c.Create(context.Background(), &lifecycle.CreateRequest{
		Image:          &lifecycle.Image{URI: "python:3.12"},
		Entrypoint:     []string{"python", "main.py"},
		ResourceLimits: map[string]string{"cpu": "1", "memory": "1Gi"},
	}, &lifecycle.CreateOptions{
		ClientToken: "nightly-build-2026-11-22", // optional: extends the guarantee across calls
	})
	if err != nil {
		log.Fatal(err) // a *sandboxkit.OutcomeError if the outcome stayed unknown
	}
	fmt.Println(sb.State(), sb.ClientToken())
	fmt.Println("sandboxes created:", len(srv.Creations()))
	// Output:
	// Running nightly-build-2026-11-22
	// sandboxes created: 1
}

// A wait fails at once, with a *sandboxkit.StateError, when the sandbox
// lands in a state from which the awaited one cannot follow.
func ExampleWaiter_Wait() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{
		ID: "sbx-7", State: mockserver.StateFailed, Reason: "image_pull", Message: "pull access denied",
	})
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err = lifecycle.NewWaiter(c, nil).Wait(ctx, id, lifecycle.StateRunning)
	var se *sandboxkit.StateError
	if errors.As(err, &se) {
		fmt.Println(se.State, se.Reason)
	}
	fmt.Println(errors.Is(err, sandboxkit.ErrUnexpectedState))
	fmt.Println(err)
	// Output:
	// Failed image_pull
	// true
	// sandboxkit: lifecycle.Waiter.Wait: sandbox "sbx-7" is Failed (image_pull: pull access denied); cannot reach Running
}

// Pause and resume, each waiting for the state to settle.
func ExampleClient_PauseAndWait() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{State: mockserver.StateRunning})
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	opts := &sandboxkit.WaitOptions{MinDelay: 10 * time.Millisecond}
	sb, err := c.PauseAndWait(ctx, id, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.State())
	sb, err = c.ResumeAndWait(ctx, id, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sb.State())
	// Output:
	// Paused
	// Running
}

// Renew sets the expiry to any time in the future: later, or earlier than
// the current one (the service shortens without complaint). Use a Renewer
// to only ever extend.
func ExampleClient_Renew() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{ExpiresAt: time.Now().Add(10 * time.Minute)})
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	later := time.Now().Add(time.Hour).Truncate(time.Microsecond) // the wire has microseconds
	exp, err := c.Renew(ctx, id, later)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("extended:", exp.Equal(later))

	sooner := time.Now().Add(5 * time.Minute).Truncate(time.Microsecond)
	exp, err = c.Renew(ctx, id, sooner)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("shortened:", exp.Equal(sooner))

	_, err = c.Renew(ctx, id, time.Now().Add(-time.Minute)) // refused before sending
	fmt.Println(errors.Is(err, sandboxkit.ErrInvalidInput))
	// Output:
	// extended: true
	// shortened: true
	// true
}

// The address of a port inside a sandbox has no scheme; the sandbox API
// listens on 8080.
func ExampleClient_Endpoint() {
	srv, err := mockserver.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "sbx-1"})
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}

	ep, err := c.Endpoint(context.Background(), id, 8080, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ep.Address)
	// Output: sandboxkit-mock.test/sandboxes/sbx-1/port/8080
}

// A RenewerPool keeps many sandboxes alive; it reports the ones it stops
// renewing by itself. Here the pool and the mock server share the mock's
// manual clock (RenewerOptions.Clock), so hours pass in an instant.
func ExampleNewRenewerPool() {
	// Any start will do: the pool checks its renewals against the
	// server's clock (RenewerOptions.Clock), not the wall clock.
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(t time.Time) string { return "+" + t.Sub(start).String() }
	srv, err := mockserver.New(mockserver.WithManualClock(start), mockserver.WithRetention(0))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := lifecycle.New(srv.ClientOptions(sandboxkit.Lifecycle)...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	a, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "a", ExpiresAt: start.Add(30 * time.Minute)})
	b, _ := srv.AddSandbox("", mockserver.SandboxSeed{ID: "b", ExpiresAt: start.Add(30 * time.Minute)})

	events := make(chan string)
	pool, err := lifecycle.NewRenewerPool(ctx, c, &lifecycle.RenewerPoolOptions{
		RenewerOptions: lifecycle.RenewerOptions{
			Extension: 30 * time.Minute,
			Margin:    10 * time.Minute,
			Jitter:    -1, // renew exactly 10 minutes before expiry
			Clock:     srv.Clock(),
			OnRenew: func(e lifecycle.RenewEvent) {
				events <- fmt.Sprintf("%s renewed at %s: expiry %s -> %s", e.ID, at(e.At), at(e.Previous), at(e.ExpiresAt))
			},
			OnStop: func(e *lifecycle.RenewStoppedError) { events <- fmt.Sprintf("%s stopped: %s", e.ID, e.Reason) },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	_ = pool.Add(a)
	_ = pool.Add(b)

	// show waits for n events and prints them in a stable order.
	show := func(n int) {
		got := make([]string, n)
		for i := range got {
			got[i] = <-events
		}
		slices.Sort(got)
		for _, e := range got {
			fmt.Println(e)
		}
	}
	_ = srv.Advance(20 * time.Minute) // both due
	show(2)
	_ = c.Delete(ctx, b)              // b goes away behind the pool's back
	_ = srv.Advance(30 * time.Minute) // both due again
	show(2)
	fmt.Println("pool holds", pool.Len())
	// Output:
	// a renewed at +20m0s: expiry +30m0s -> +1h0m0s
	// b renewed at +20m0s: expiry +30m0s -> +1h0m0s
	// a renewed at +50m0s: expiry +1h0m0s -> +1h30m0s
	// b stopped: not found
	// pool holds 1
}

func ExampleEncodeMetadataFilter() {
	v, err := lifecycle.EncodeMetadataFilter(map[string]string{"project": "Apollo", "note": "Demo Test"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	// Output: note=Demo%20Test&project=Apollo
}
