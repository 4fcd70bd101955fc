package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-api-key", "secret", "-transition-delay", "0"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "sandboxmock listening on ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("first line %q", line)
	}

	call := func(method, path, body, key string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("OPEN-SANDBOX-API-KEY", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s %s: no X-Request-ID", method, path)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	state := func(id string) string {
		_, m := call("GET", "/v1/sandboxes/"+id, "", "secret")
		st, _ := m["status"].(map[string]any)
		s, _ := st["state"].(string)
		return s
	}

	if st, _ := call("GET", "/v1/sandboxes", "", ""); st != 401 {
		t.Errorf("without key: %d, want 401", st)
	}
	st, m := call("POST", "/v1/sandboxes", `{"image":{"uri":"python:3.11"},"entrypoint":["sh"],"resourceLimits":{"cpu":"1"}}`, "secret")
	id, _ := m["id"].(string)
	if st != 202 || id == "" {
		t.Fatalf("create: %d %v", st, m)
	}
	for _, step := range []struct{ method, path, want string }{
		{"", "", "Running"},
		{"POST", "/pause", "Paused"},
		{"POST", "/resume", "Running"},
		{"DELETE", "", ""}, // gone
	} {
		if step.method != "" {
			if st, m := call(step.method, "/v1/sandboxes/"+id+step.path, "", "secret"); st >= 300 {
				t.Fatalf("%s %s: %d %v", step.method, step.path, st, m)
			}
		}
		if got := state(id); got != step.want {
			t.Errorf("after %s %s: %s, want %s", step.method, step.path, got, step.want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-transition-delay", "-1s"}, {"-listen", "256.0.0.1:x"}, {"extra"},
		{"-runtime", "podman"}, {"-max-body", "0"}, {"-max-upload", "1TB"}, {"-read-timeout", "0s"},
		{"-max-sandbox-timeout", "30s"}, {"-journal-limit", "-1"},
	} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestRunDockerAndLimits runs the Docker runtime with a small body limit.
func TestRunDockerAndLimits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-runtime", "docker", "-max-body", "1KiB"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimPrefix(strings.TrimSpace(line), "sandboxmock listening on ")
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/v1/sandboxes", `{"metadata":{"k":"`+strings.Repeat("x", 2048)+`"}}`); st != http.StatusRequestEntityTooLarge {
		t.Errorf("2 KiB body with -max-body 1KiB: %d, want 413", st)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/sandboxes", strings.NewReader(`{"image":{"uri":"x"},"entrypoint":["sleep","60"],"resourceLimits":{"cpu":"1"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	id, _ := m["id"].(string)
	if st := post("/v1/sandboxes/"+id+"/pause", ""); st != http.StatusAccepted {
		t.Errorf("pause: %d", st)
	}
	if st := post("/v1/sandboxes/"+id+"/pause", ""); st != http.StatusInternalServerError {
		t.Errorf("second pause on Docker: %d, want 500", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
