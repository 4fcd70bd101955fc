package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/lifecycle"
)

// The benchmarks compare the façade with the same calls written by hand
// with net/http and encoding/json, against one in-process server (real
// loopback sockets, keep-alive) answering canned bodies.

func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	one := []byte(sandboxJSON)
	items := make([]string, 100)
	for i := range items {
		items[i] = strings.Replace(sandboxJSON, "sandbox-abc123", fmt.Sprintf("sandbox-%03d", i), 1)
	}
	page := []byte(`{"items":[` + strings.Join(items, ",") +
		`],"pagination":{"page":1,"pageSize":100,"totalItems":100,"totalPages":1,"hasNextPage":false}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("OPEN-SANDBOX-API-KEY") != testAPIKey {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "req-1")
		if r.URL.Path == "/v1/sandboxes" {
			_, _ = w.Write(page)
			return
		}
		_, _ = w.Write(one)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// plainSandbox is what a hand-written client would decode into.
type plainSandbox struct {
	ID    string `json:"id"`
	Image *struct {
		URI string `json:"uri"`
	} `json:"image"`
	Platform *struct {
		OS   string `json:"os"`
		Arch string `json:"arch"`
	} `json:"platform"`
	Status struct {
		State            string    `json:"state"`
		Reason           string    `json:"reason"`
		Message          string    `json:"message"`
		LastTransitionAt time.Time `json:"lastTransitionAt"`
	} `json:"status"`
	Metadata   map[string]string `json:"metadata"`
	Entrypoint []string          `json:"entrypoint"`
	ExpiresAt  time.Time         `json:"expiresAt"`
	CreatedAt  time.Time         `json:"createdAt"`
}

type plainPage struct {
	Items      []plainSandbox `json:"items"`
	Pagination struct {
		Page, PageSize, TotalItems, TotalPages int
		HasNextPage                            bool
	} `json:"pagination"`
}

func plainGet(hc *http.Client, url string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("OPEN-SANDBOX-API-KEY", testAPIKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func BenchmarkGet(b *testing.B) {
	srv := benchServer(b)
	b.Run("impl=facade", func(b *testing.B) {
		c := newClient(b, srv.Client().Transport, sandboxkit.WithBaseURL(srv.URL+"/v1"))
		b.ReportAllocs()
		for b.Loop() {
			sb, err := c.Get(b.Context(), "sandbox-abc123")
			if err != nil || sb.ID != "sandbox-abc123" {
				b.Fatal(sb, err)
			}
		}
	})
	b.Run("impl=plain", func(b *testing.B) {
		hc := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			var sb plainSandbox
			if err := plainGet(hc, srv.URL+"/v1/sandboxes/sandbox-abc123", &sb); err != nil || sb.ID != "sandbox-abc123" {
				b.Fatal(sb, err)
			}
		}
	})
}

func BenchmarkList100(b *testing.B) {
	srv := benchServer(b)
	b.Run("impl=facade", func(b *testing.B) {
		c := newClient(b, srv.Client().Transport, sandboxkit.WithBaseURL(srv.URL+"/v1"))
		opts := &lifecycle.ListOptions{PageSize: 100}
		b.ReportAllocs()
		for b.Loop() {
			page, err := c.List(b.Context(), opts)
			if err != nil || len(page.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=plain", func(b *testing.B) {
		hc := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			var page plainPage
			if err := plainGet(hc, srv.URL+"/v1/sandboxes?pageSize=100", &page); err != nil || len(page.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
}
