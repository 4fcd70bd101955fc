package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The soak test is a measurement, not a check that runs with the others:
// it starts sandboxmock, gives it 10,000 live sandboxes, sends mixed
// traffic at full speed for -soak (10m is the figure of record) and
// records the process's resident memory every minute. It fails if the
// memory at the end is more than 10% above the memory after the first
// minute. Run it alone:
//
//	go test ./mockserver/cmd/sandboxmock -run TestSoak -soak 10m -timeout 30m -v
var (
	soak        = flag.Duration("soak", 0, "run TestSoak for this long (e.g. 10m); 0 skips it")
	soakLive    = flag.Int("soak-sandboxes", 10_000, "live sandboxes during TestSoak")
	soakWorkers = flag.Int("soak-workers", 16, "concurrent clients during TestSoak")
	soakProfile = flag.String("soak-profiles", "", "`directory` where TestSoak saves the mock's heap profile every minute (heap-01.pb.gz, ...)")
)

func TestSoak(t *testing.T) {
	if *soak <= 0 {
		t.Skip("a 10-minute measurement: run with -soak 10m (and -timeout 30m)")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-listen", "127.0.0.1:0", "-transition-delay", "0", "-debug-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Fields(line)[3]
	var debug string
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "debug="); ok {
			debug = v
		}
	}
	if debug == "" {
		t.Fatalf("no debug=URL in %q", line)
	}
	l := &load{
		t: t, base: base,
		hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *soakWorkers * 2}},
	}

	// 10,000 live sandboxes, each with its sandbox API started, and a
	// fault that fires on 1% of reads.
	start := time.Now()
	var wg sync.WaitGroup
	ids := make(chan int, *soakLive)
	for i := range *soakLive {
		ids <- i
	}
	close(ids)
	for range *soakWorkers {
		wg.Go(func() {
			for i := range ids {
				id := l.create(fmt.Sprintf("seed-%d", i))
				l.call("GET", "/sandboxes/"+id+"/port/8080/health", "", nil)
			}
		})
	}
	wg.Wait()
	l.call("POST", "/_sandboxmock/faults", `{"api":"lifecycle","operation":"GetSandbox","status":503,"probability":0.01,"seed":1}`, nil)
	t.Logf("seeded %d sandboxes in %s; RSS %s; %s", len(l.live), time.Since(start).Round(time.Second), mib(rss(t, cmd.Process.Pid)), l.heap(debug))

	ctx, cancel := context.WithTimeout(t.Context(), *soak)
	defer cancel()
	for w := range *soakWorkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				l.step(r)
			}
		})
	}
	var curve []uint64
	tick := time.NewTicker(time.Minute)
	for done := false; !done; {
		select {
		case <-tick.C:
			v := rss(t, cmd.Process.Pid)
			curve = append(curve, v)
			t.Logf("minute %2d: RSS %s, %d requests (%d unexpected answers), %d live sandboxes; %s",
				len(curve), mib(v), l.ops.Load(), l.bad.Load(), l.liveCount(), l.heap(debug))
			if *soakProfile != "" {
				l.saveProfile(debug, filepath.Join(*soakProfile, fmt.Sprintf("heap-%02d.pb.gz", len(curve))))
			}
		case <-ctx.Done():
			done = true
		}
	}
	tick.Stop()
	wg.Wait()
	if len(curve) < 2 {
		t.Fatalf("too short to compare: %d samples", len(curve))
	}
	first, last := curve[0], curve[len(curve)-1]
	t.Logf("RSS after the first minute %s, at the end %s (%+.1f%%); %d requests, %.0f/s",
		mib(first), mib(last), 100*(float64(last)/float64(first)-1), l.ops.Load(), float64(l.ops.Load())/soak.Seconds())
	if float64(last) > 1.1*float64(first) {
		t.Errorf("RSS grew by more than 10%%: %s after a minute, %s at the end", mib(first), mib(last))
	}
	if n := l.bad.Load(); n > 0 {
		t.Errorf("%d unexpected answers", n)
	}
}

// load is the soak's traffic and its bookkeeping.
type load struct {
	t    *testing.T
	base string
	hc   *http.Client

	mu   sync.Mutex
	live []string
	n    atomic.Int64 // names of new sandboxes
	ops  atomic.Int64
	bad  atomic.Int64
}

func (l *load) liveCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live)
}

// pick returns a random live sandbox.
func (l *load) pick(r *rand.Rand) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live[r.IntN(len(l.live))]
}

// take removes and returns a random live sandbox.
func (l *load) take(r *rand.Rand) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := r.IntN(len(l.live))
	id := l.live[i]
	l.live[i] = l.live[len(l.live)-1]
	l.live = l.live[:len(l.live)-1]
	return id
}

// call sends one request and returns its status; 5xx answers and
// transport errors count as unexpected, except 503s: injected on reads,
// and from the API of a sandbox another worker paused for a moment.
func (l *load) call(method, path, body string, out any) int {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, l.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	l.ops.Add(1)
	if err != nil {
		l.bad.Add(1)
		l.t.Logf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 && resp.StatusCode != 503 {
		l.bad.Add(1)
		l.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil && resp.StatusCode < 300 {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode
}

// create makes a sandbox and adds it to the live set.
func (l *load) create(tag string) string {
	var m struct{ ID string }
	body := `{"image":{"uri":"python:3.12"},"entrypoint":["python","-m","http.server"],"timeout":86400,` +
		`"resourceLimits":{"cpu":"500m","memory":"512Mi"},"metadata":{"soak":"yes","tag":"` + tag + `"}}`
	if st := l.call("POST", "/v1/sandboxes", body, &m); st != 202 || m.ID == "" {
		l.t.Fatalf("create: %d", st)
	}
	l.mu.Lock()
	l.live = append(l.live, m.ID)
	l.mu.Unlock()
	return m.ID
}

// step sends one request (or a short sequence) of the mix.
func (l *load) step(r *rand.Rand) {
	switch p := r.IntN(100); {
	case p < 25: // read one sandbox
		l.call("GET", "/v1/sandboxes/"+l.pick(r), "", nil)
	case p < 32: // a page of a filtered list
		l.call("GET", "/v1/sandboxes?metadata=soak%3Dyes&pageSize=20&page="+strconv.Itoa(1+r.IntN(50)), "", nil)
	case p < 38: // pause and resume
		id := l.pick(r)
		if l.call("POST", "/v1/sandboxes/"+id+"/pause", "", nil) == 202 {
			l.call("POST", "/v1/sandboxes/"+id+"/resume", "", nil)
		}
	case p < 45: // renew
		at := time.Now().Add(time.Duration(1+r.IntN(20)) * time.Hour).UTC().Format(time.RFC3339)
		l.call("POST", "/v1/sandboxes/"+l.pick(r)+"/renew-expiration", `{"expiresAt":"`+at+`"}`, nil)
	case p < 50: // metadata
		l.call("PATCH", "/v1/sandboxes/"+l.pick(r)+"/metadata", `{"step":"`+strconv.Itoa(r.IntN(1000))+`"}`, nil)
	case p < 58: // churn: one sandbox goes, another comes
		l.call("DELETE", "/v1/sandboxes/"+l.take(r), "", nil)
		l.create(fmt.Sprintf("new-%d", l.n.Add(1)))
	case p < 66: // sandbox API: health
		l.call("GET", "/sandboxes/"+l.pick(r)+"/port/8080/health", "", nil)
	case p < 74: // sandbox API: a file written and read
		api := "/sandboxes/" + l.pick(r) + "/port/8080"
		l.call("PUT", api+"/filesystem/notes.txt", `{"content":"`+strings.Repeat("soak ", 1+r.IntN(200))+`"}`, nil)
		l.call("GET", api+"/filesystem/notes.txt", "", nil)
	case p < 80: // sandbox API: a command
		l.call("POST", "/sandboxes/"+l.pick(r)+"/port/8080/process", `{"command":"echo soak","waitForCompletion":true}`, nil)
	case p < 86: // control plane: create, read, delete
		name := fmt.Sprintf("cp-%d", l.n.Add(1))
		body := `{"metadata":{"name":"` + name + `"},"spec":{"runtime":{"image":"blaxel/base-image:latest","memory":2048}}}`
		if l.call("POST", "/v0/sandboxes", body, nil) == 200 {
			l.call("GET", "/v0/sandboxes/"+name, "", nil)
			l.call("DELETE", "/v0/sandboxes/"+name, "", nil)
		}
	case p < 90: // snapshots
		var sn struct{ ID string }
		if l.call("POST", "/v1/sandboxes/"+l.pick(r)+"/snapshots", `{}`, &sn) < 300 && sn.ID != "" {
			l.call("DELETE", "/v1/snapshots/"+sn.ID, "", nil)
		}
	case p < 95: // the control API: journal and counts
		l.call("GET", "/_sandboxmock/journal/count?api=lifecycle&operation=GetSandbox", "", nil)
		l.call("GET", "/_sandboxmock/journal?last=20", "", nil)
	default: // unknown routes and bad requests
		l.call("GET", "/v1/nothing-here", "", nil)
		l.call("POST", "/v1/sandboxes", `{"image":`, nil)
	}
}

// heap describes the mock's Go heap from its /debug/vars: the live heap
// at the last collection, what is allocated now, and what the runtime
// holds without returning it.
func (l *load) heap(debug string) string {
	resp, err := l.hc.Get(debug + "/debug/vars")
	if err != nil {
		l.t.Fatalf("debug vars: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		LiveHeapBytes uint64
		Memstats      struct {
			HeapAlloc, HeapInuse, HeapIdle, HeapReleased, Sys, StackInuse uint64
			NumGC                                                         uint32
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		l.t.Fatalf("debug vars: %v", err)
	}
	m := v.Memstats
	return fmt.Sprintf("heap: live %s, allocated %s, in use %s, idle %s (released %s), stacks %s, from the OS %s, %d GCs",
		mib(v.LiveHeapBytes), mib(m.HeapAlloc), mib(m.HeapInuse), mib(m.HeapIdle), mib(m.HeapReleased), mib(m.StackInuse), mib(m.Sys), m.NumGC)
}

// saveProfile writes the mock's heap profile to path.
func (l *load) saveProfile(debug, path string) {
	resp, err := l.hc.Get(debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		l.t.Fatalf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("heap profile: %v", err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// rss returns the resident set size of process pid.
func rss(t *testing.T, pid int) uint64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading the process's memory: %v", err)
	}
	for line := range bytes.Lines(raw) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
