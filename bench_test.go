package sandboxkit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// BenchmarkTransport compares, in one run and against one server, a
// façade call with what a user would write with plain net/http and
// encoding/json for the same request: Get and List of the lifecycle API
// and of the control plane. The server answers canned JSON, so the
// difference between the two is the SDK's own cost (transport layers,
// generated decoder, conversion). Compare them with
//
//	go test -run '^$' -bench Transport -count 6 . | tee new.txt
//	go tool benchstat -col /client new.txt
//
// net=tcp goes through a loopback httptest server; net=memory answers
// from the handler directly, which makes the clients' CPU time easier to
// compare on a busy machine. Where the system reports it, cpu-ns/op is
// the process's CPU time per call (GC included), steadier than sec/op
// when other processes compete for the CPUs:
//
//	go tool benchstat -col /client -filter '.unit:cpu-ns/op' new.txt
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(cannedAnswers))
	b.Cleanup(srv.Close)
	// Both clients share one connection pool, so both measure a warm
	// keep-alive connection.
	tcp := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tcp.CloseIdleConnections)
	// net=memory answers in the calling goroutine, without sockets: the
	// clients' own CPU stands out from the scheduler's and the kernel's.
	for _, n := range []struct {
		name string
		rt   http.RoundTripper
	}{{"tcp", tcp}, {"memory", handlerTransport{http.HandlerFunc(cannedAnswers)}}} {
		benchmarkTransport(b, "net="+n.name, srv.URL, &http.Client{Transport: n.rt})
	}
}

// handlerTransport serves each request with h in the calling goroutine.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func benchmarkTransport(b *testing.B, net, url string, base *http.Client) {
	srv := struct{ URL string }{url}
	lc, err := lifecycle.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithInsecureHTTP(),
		sandboxkit.WithBaseURL(srv.URL+"/v1"), sandboxkit.WithAPIKey("bench-api-key"), sandboxkit.WithHTTPClient(base))
	if err != nil {
		b.Fatal(err)
	}
	cp, err := controlplane.New(sandboxkit.WithoutEnvironment(), sandboxkit.WithInsecureHTTP(),
		sandboxkit.WithBaseURL(srv.URL+"/v0"), sandboxkit.WithToken("bench-token"), sandboxkit.WithWorkspace("bench"),
		sandboxkit.WithHTTPClient(base))
	if err != nil {
		b.Fatal(err)
	}
	plain := &plainClient{http: base, base: srv.URL}

	cases := []struct {
		name          string
		facade, plain func() (int, error) // the number of sandboxes read
	}{
		{"lifecycle-get", func() (int, error) {
			_, err := lc.Get(b.Context(), "sbx-0")
			return 1, err
		}, func() (int, error) {
			var sb plainLifecycleSandbox
			return 1, plain.get("/v1/sandboxes/sbx-0", lifecycleAuth, &sb)
		}},
		{"lifecycle-list", func() (int, error) {
			p, err := lc.List(b.Context(), nil)
			if err != nil {
				return 0, err
			}
			return len(p.Items), nil
		}, func() (int, error) {
			var p struct {
				Items      []plainLifecycleSandbox `json:"items"`
				Pagination struct {
					Page        int  `json:"page"`
					PageSize    int  `json:"pageSize"`
					TotalItems  int  `json:"totalItems"`
					TotalPages  int  `json:"totalPages"`
					HasNextPage bool `json:"hasNextPage"`
				} `json:"pagination"`
			}
			err := plain.get("/v1/sandboxes", lifecycleAuth, &p)
			return len(p.Items), err
		}},
		// A caller's deadline shorter than the SDK's timeouts: the SDK
		// leaves the attempt to it (no timer of its own).
		{"lifecycle-get-deadline", func() (int, error) {
			ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
			defer cancel()
			_, err := lc.Get(ctx, "sbx-0")
			return 1, err
		}, func() (int, error) {
			ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
			defer cancel()
			var sb plainLifecycleSandbox
			return 1, plain.getContext(ctx, "/v1/sandboxes/sbx-0", lifecycleAuth, &sb)
		}},
		{"controlplane-get", func() (int, error) {
			_, err := cp.Get(b.Context(), "sbx-0", nil)
			return 1, err
		}, func() (int, error) {
			var sb plainControlPlaneSandbox
			return 1, plain.get("/v0/sandboxes/sbx-0", controlPlaneAuth, &sb)
		}},
		{"controlplane-list", func() (int, error) {
			p, err := cp.List(b.Context(), nil)
			if err != nil {
				return 0, err
			}
			return len(p.Items), nil
		}, func() (int, error) {
			var p struct {
				Data []plainControlPlaneSandbox `json:"data"`
				Meta struct {
					HasMore    bool   `json:"hasMore"`
					NextCursor string `json:"nextCursor"`
					Total      int    `json:"total"`
				} `json:"meta"`
			}
			err := plain.get("/v0/sandboxes", controlPlaneAuth, &p)
			return len(p.Data), err
		}},
	}
	for _, c := range cases {
		for _, client := range []struct {
			name string
			call func() (int, error)
		}{{"facade", c.facade}, {"plain", c.plain}} {
			b.Run(c.name+"/"+net+"/client="+client.name, func(b *testing.B) {
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					n, err := client.call()
					if err != nil {
						b.Fatal(err)
					}
					if want := cannedCount(c.name); n != want {
						b.Fatalf("read %d sandboxes, want %d", n, want)
					}
				}
				if cpu >= 0 {
					// CPU time of the whole process (GC included) per call:
					// steadier than sec/op when other processes share the
					// machine.
					b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// cannedListSize is the number of sandboxes in each canned list.
const cannedListSize = 10

func cannedCount(name string) int {
	if strings.HasSuffix(name, "-list") {
		return cannedListSize
	}
	return 1
}

// plainClient is what a user would write without the SDK: one request,
// the credential header, a status check, encoding/json into a struct of
// the same fields.
type plainClient struct {
	http *http.Client
	base string
}

func lifecycleAuth(h http.Header) { h.Set("OPEN-SANDBOX-API-KEY", "bench-api-key") }

func controlPlaneAuth(h http.Header) {
	h.Set("Authorization", "Bearer bench-token")
	h.Set("X-Blaxel-Workspace", "bench")
}

func (c *plainClient) get(path string, auth func(http.Header), v any) error {
	return c.getContext(context.Background(), path, auth, v)
}

func (c *plainClient) getContext(ctx context.Context, path string, auth func(http.Header), v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	auth(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type plainLifecycleSandbox struct {
	ID    string `json:"id"`
	Image *struct {
		URI string `json:"uri"`
	} `json:"image"`
	Status struct {
		State            string    `json:"state"`
		Reason           string    `json:"reason"`
		Message          string    `json:"message"`
		LastTransitionAt time.Time `json:"lastTransitionAt"`
	} `json:"status"`
	Metadata   map[string]string `json:"metadata"`
	Entrypoint []string          `json:"entrypoint"`
	ExpiresAt  *time.Time        `json:"expiresAt"`
	CreatedAt  time.Time         `json:"createdAt"`
}

type plainControlPlaneSandbox struct {
	Metadata struct {
		Name        string            `json:"name"`
		DisplayName string            `json:"displayName"`
		Labels      map[string]string `json:"labels"`
		Workspace   string            `json:"workspace"`
		URL         string            `json:"url"`
		CreatedAt   string            `json:"createdAt"`
		UpdatedAt   string            `json:"updatedAt"`
		CreatedBy   string            `json:"createdBy"`
		UpdatedBy   string            `json:"updatedBy"`
	} `json:"metadata"`
	Spec struct {
		Enabled bool   `json:"enabled"`
		Region  string `json:"region"`
		Runtime struct {
			Image  string `json:"image"`
			Memory int    `json:"memory"`
			Ports  []struct {
				Name     string `json:"name"`
				Target   int    `json:"target"`
				Protocol string `json:"protocol"`
			} `json:"ports"`
			Envs []struct {
				Name   string `json:"name"`
				Value  string `json:"value"`
				Secret bool   `json:"secret"`
			} `json:"envs"`
			TTL string `json:"ttl"`
		} `json:"runtime"`
		Lifecycle struct {
			ExpirationPolicies []struct {
				Type   string `json:"type"`
				Value  string `json:"value"`
				Action string `json:"action"`
			} `json:"expirationPolicies"`
		} `json:"lifecycle"`
	} `json:"spec"`
	Status string `json:"status"`
	Events []struct {
		Type    string `json:"type"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Time    string `json:"time"`
	} `json:"events"`
	ExpiresIn  int    `json:"expiresIn"`
	LastUsedAt string `json:"lastUsedAt"`
}

// Canned answers, shaped like the real services' (see lifecycle and
// controlplane's specs).
const lifecycleSandboxJSON = `{"id":"sbx-0","image":{"uri":"python:3.12"},` +
	`"status":{"state":"Running","reason":"started","message":"sandbox is running","lastTransitionAt":"2026-12-05T10:00:01.123456Z"},` +
	`"metadata":{"team":"research","owner":"bench"},"entrypoint":["/bin/sh","-c","sleep infinity"],` +
	`"expiresAt":"2026-12-05T11:00:00Z","createdAt":"2026-12-05T10:00:00.5Z"}`

const controlPlaneSandboxJSON = `{"metadata":{"name":"sbx-0","displayName":"sbx-0","labels":{"team":"research"},` +
	`"workspace":"bench","url":"https://sbx-0.bench.example/","createdAt":"2026-12-05T10:00:00Z","updatedAt":"2026-12-05T10:00:02Z",` +
	`"createdBy":"bench","updatedBy":"bench"},` +
	`"spec":{"enabled":true,"region":"us-pdx-1","runtime":{"image":"blaxel/base:latest","memory":4096,` +
	`"ports":[{"name":"sandbox-api","target":8080,"protocol":"HTTP"}],"envs":[{"name":"MODE","value":"bench","secret":false}],"ttl":"24h"},` +
	`"lifecycle":{"expirationPolicies":[{"type":"ttl-idle","value":"30m","action":"delete"}]}},` +
	`"status":"DEPLOYED","events":[{"type":"deployment","status":"DEPLOYED","message":"ready","time":"2026-12-05T10:00:02Z"}],` +
	`"expiresIn":1800,"lastUsedAt":"2026-12-05T10:05:00Z"}`

var (
	lifecycleGetAnswer     = []byte(lifecycleSandboxJSON)
	lifecycleListAnswer    = []byte(`{"items":[` + repeatJSON(lifecycleSandboxJSON) + `],"pagination":{"page":1,"pageSize":20,"totalItems":10,"totalPages":1,"hasNextPage":false}}`)
	controlPlaneGetAnswer  = []byte(controlPlaneSandboxJSON)
	controlPlaneListAnswer = []byte(`{"data":[` + repeatJSON(controlPlaneSandboxJSON) + `],"meta":{"hasMore":false,"total":10}}`)
)

func repeatJSON(obj string) string {
	return strings.Repeat(obj+",", cannedListSize-1) + obj
}

func cannedAnswers(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch r.URL.Path {
	case "/v1/sandboxes/sbx-0":
		body = lifecycleGetAnswer
	case "/v1/sandboxes":
		body = lifecycleListAnswer
	case "/v0/sandboxes/sbx-0":
		body = controlPlaneGetAnswer
	case "/v0/sandboxes":
		body = controlPlaneListAnswer
	default:
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Request-Id"] = []string{"req-bench"}
	_, _ = w.Write(body)
}
