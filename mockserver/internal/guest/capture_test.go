package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Captures are what the real server sent, byte for byte, with the time
// each piece arrived: testdata/captures/*.json, written by
// TestRecordCaptures (go test -run TestRecordCaptures with
// SANDBOXKIT_RECORD_CAPTURES=1 and the real server's variables set) from
// the scenarios below. TestCaptures replays every scenario on the mock,
// on its manual clock, and checks that by each instant a piece arrived
// from the real server the mock has sent the same bytes, give or take
// one round of the server's tailer (its 50 ms ticks drift, and one round
// can reach the client as reads a millisecond apart), and the same bytes
// in the end. The process object of a result event is compared as JSON,
// with its pid, name and times blanked.

// capture is one recorded scenario.
type capture struct {
	About    string        `json:"about"`
	Recorded string        `json:"recorded"`
	Steps    []captureStep `json:"steps"`
}

// captureStep is one request of a scenario, sent atMs after the scenario
// started; {name} in its path or body is a process name.
type captureStep struct {
	AtMs        int64          `json:"atMs"`
	Method      string         `json:"method"`
	Path        string         `json:"path"`
	Accept      string         `json:"accept,omitempty"`
	Body        string         `json:"body,omitempty"`
	Status      int            `json:"status"`
	ContentType string         `json:"contentType"`
	Chunks      []captureChunk `json:"chunks"`
}

// captureChunk is a piece of an answer's body and when it arrived (ms
// since the scenario started).
type captureChunk struct {
	AtMs int64  `json:"atMs"`
	Data string `json:"data"`
}

// captureScenarios are the scenarios captured from the real server.
var captureScenarios = []struct {
	file, about string
	steps       []captureStep
}{
	{"exec-printf-sleep", "exec stream: output read while the process runs, then the rest when it ends; a last line without a newline", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"printf 'a\\nb\\n'; sleep 1; printf c"}`},
	}},
	{"exec-echo-three", "exec stream of a command that ends at once: one chunk with its three lines", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"echo a; echo b; echo c"}`},
	}},
	{"exec-mixed", "exec stream: raw chunks as read, \\r kept, stdout and stderr of one read in that order", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"printf 'a\\r\\nb\\nc'; sleep 1; printf 'd\\ne\\n'; printf 'x\\ny' >&2; sleep 1; printf z"}`},
	}},
	{"exec-speed", "exec stream: 4 KiB per 50 ms while the process runs, all of the rest at its end", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"printf '%010000d' 0; sleep 1; printf '%09000d' 0"}`},
	}},
	{"logs-live-and-replay", "logs stream: the replay of what was read, a line at a time; live chunks prefixed before their first line; then, after the end, the combined log replayed", []captureStep{
		{Method: "POST", Path: "/process", Body: `{"command":"printf 'a\\r\\nb\\nc'; sleep 1; printf 'd\\ne\\n'; printf 'x\\ny' >&2; sleep 1; printf z","name":"{name}"}`},
		{AtMs: 300, Method: "GET", Path: "/process/{name}/logs/stream"},
		{AtMs: 2500, Method: "GET", Path: "/process/{name}/logs/stream"},
	}},
	{"stop-streams", "a stop: the server's message as a stdout event on the exec stream, unprefixed on the logs stream", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"echo start; sleep 30","name":"{name}"}`},
		{AtMs: 300, Method: "GET", Path: "/process/{name}/logs/stream"},
		{AtMs: 600, Method: "DELETE", Path: "/process/{name}"},
	}},
	{"logs-unknown", "logs stream of an unknown process: 200 text/plain with an error body", []captureStep{
		{Method: "GET", Path: "/process/{name}/logs/stream"},
	}},
	{"restart", "a restarted process: its stream ends at the failure; the replay repeats the first run's output", []captureStep{
		{Method: "POST", Path: "/process", Body: `{"command":"echo try; sleep 0.3; exit 7","name":"{name}","restartOnFailure":true,"maxRestarts":1}`},
		{AtMs: 100, Method: "GET", Path: "/process/{name}/logs/stream"},
		{AtMs: 2500, Method: "GET", Path: "/process/{name}/logs/stream"},
	}},
	{"keepalives", "keepalives: 5 s events on the exec stream, the 30 s [keepalive] line on both streams", []captureStep{
		{Method: "POST", Path: "/process", Accept: "text/event-stream", Body: `{"command":"sleep 31.5","name":"{name}"}`},
		{AtMs: 100, Method: "GET", Path: "/process/{name}/logs/stream"},
	}},
}

var (
	procNameRE = regexp.MustCompile(`proc-[a-z0-9]{8}`)
	captureDir = filepath.Join("testdata", "captures")
)

// normalizeCapture blanks what differs from run to run: the process name
// the recorder used, and the pid, generated name and times in result
// events (compared as JSON).
func normalizeCapture(s, name string) string {
	if name != "" {
		s = strings.ReplaceAll(s, name, "{name}")
	}
	if strings.HasPrefix(s, `{"pid":`) {
		var p map[string]any
		if json.Unmarshal([]byte(s), &p) == nil {
			return string(normalizeProcess(p))
		}
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		var ev execEvent
		if !strings.HasPrefix(line, `{"type":"result"`) || !strings.HasSuffix(line, "\n") || json.Unmarshal([]byte(line), &ev) != nil {
			out.WriteString(line)
			continue
		}
		var p map[string]any
		if json.Unmarshal([]byte(ev.Data), &p) != nil {
			out.WriteString(line)
			continue
		}
		ev.Data = string(normalizeProcess(p))
		eb, _ := json.Marshal(ev)
		out.Write(eb)
		out.WriteString("\n")
	}
	return out.String()
}

// normalizeProcess blanks the pid, a generated name and the times of a
// process object and encodes it with sorted keys.
func normalizeProcess(p map[string]any) []byte {
	p["pid"] = "{pid}"
	if n, _ := p["name"].(string); procNameRE.MatchString(n) {
		p["name"] = "{proc}"
	}
	for _, k := range []string{"startedAt", "completedAt"} {
		if v, _ := p[k].(string); v != "" {
			p[k] = "{time}"
		}
	}
	b, _ := json.Marshal(p)
	return b
}

// TestRecordCaptures records the scenarios from the real server.
func TestRecordCaptures(t *testing.T) {
	url := os.Getenv("SANDBOX_API_REAL_URL")
	if url == "" || os.Getenv("SANDBOXKIT_RECORD_CAPTURES") == "" {
		t.Skip("records testdata/captures from the real server: set SANDBOXKIT_RECORD_CAPTURES=1 and the variables of ../shared/real/up")
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	_, health := getBody(t, client, url+"/health")
	var h struct{ GitCommit string }
	_ = json.Unmarshal([]byte(health), &h)
	if err := os.MkdirAll(captureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sc := range captureScenarios {
		t.Run(sc.file, func(t *testing.T) {
			t.Parallel()
			name := unique("gxcap")
			steps := make([]captureStep, len(sc.steps))
			copy(steps, sc.steps)
			start := time.Now()
			var wg sync.WaitGroup
			for i := range steps {
				st := &steps[i]
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(time.Until(start.Add(time.Duration(st.AtMs) * time.Millisecond)))
					body := strings.ReplaceAll(st.Body, "{name}", name)
					req, _ := http.NewRequest(st.Method, url+strings.ReplaceAll(st.Path, "{name}", name), strings.NewReader(body))
					if body != "" {
						req.Header.Set("Content-Type", "application/json")
					}
					if st.Accept != "" {
						req.Header.Set("Accept", st.Accept)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Errorf("%s %s: %v", st.Method, st.Path, err)
						return
					}
					defer resp.Body.Close()
					st.Status, st.ContentType = resp.StatusCode, resp.Header.Get("Content-Type")
					buf := make([]byte, 1<<20)
					for {
						n, err := resp.Body.Read(buf)
						if n > 0 {
							st.Chunks = append(st.Chunks, captureChunk{time.Since(start).Milliseconds(), normalizeCapture(string(buf[:n]), name)})
						}
						if err != nil {
							return
						}
					}
				}()
			}
			wg.Wait()
			c := capture{About: sc.about, Recorded: "sandbox-api " + h.GitCommit + ", " + time.Now().UTC().Format(time.DateOnly), Steps: steps}
			b, _ := json.MarshalIndent(c, "", "  ")
			if err := os.WriteFile(filepath.Join(captureDir, sc.file+".json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func getBody(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCaptures replays the captures on the mock.
func TestCaptures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(captureDir, "*.json"))
	if err != nil || len(files) < len(captureScenarios) {
		t.Fatalf("captures: %v, %v (want one per scenario)", files, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c capture
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) { replayCapture(t, c) })
		})
	}
}

func replayCapture(t *testing.T, c capture) {
	e := setupMem(t, Config{})
	const name = "gxcap-replay"
	type action struct {
		at    int64
		step  int
		check int // -1: send the request
	}
	var actions []action
	for i, st := range c.Steps {
		actions = append(actions, action{st.AtMs, i, -1})
		for j, ch := range st.Chunks {
			actions = append(actions, action{ch.AtMs, i, j})
		}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].at < actions[j].at })
	type live struct {
		resp *http.Response
		sr   *streamReader
	}
	streams := make([]*live, len(c.Steps))
	now := int64(0)
	for _, a := range actions {
		synctest.Wait()
		if a.at > now {
			e.clock.Advance(time.Duration(a.at-now) * time.Millisecond)
			now = a.at
			synctest.Wait()
		}
		st := c.Steps[a.step]
		if a.check < 0 {
			var header []string
			if st.Accept != "" {
				header = []string{"Accept", st.Accept}
			}
			body := strings.ReplaceAll(st.Body, "{name}", name)
			resp := e.open(t, st.Method, strings.ReplaceAll(st.Path, "{name}", name), body, header...)
			if resp.StatusCode != st.Status || resp.Header.Get("Content-Type") != st.ContentType {
				t.Errorf("step %d %s %s: %d %q, captured %d %q", a.step, st.Method, st.Path, resp.StatusCode, resp.Header.Get("Content-Type"), st.Status, st.ContentType)
			}
			streams[a.step] = &live{resp, readStream(t, resp.Body)}
			continue
		}
		// Allowed: what the real server had sent by at-window, up to
		// what it had sent by at+window.
		const window = 60
		var early, late bytes.Buffer
		for _, ch := range st.Chunks {
			if ch.AtMs <= a.at-window {
				early.WriteString(ch.Data)
			}
			if ch.AtMs <= a.at+window {
				late.WriteString(ch.Data)
			}
		}
		got := normalizeCapture(streams[a.step].sr.now(), name)
		if !strings.HasPrefix(got, early.String()) || !strings.HasPrefix(late.String(), got) {
			t.Errorf("step %d %s %s, by %d ms: the mock sent\n%q\nthe real server between\n%q\nand\n%q", a.step, st.Method, st.Path, a.at, got, early.String(), late.String())
		}
	}
	// A tick later, nothing more has come than the real server sent.
	synctest.Wait()
	e.clock.Advance(tailInterval)
	synctest.Wait()
	for i, l := range streams {
		if l == nil {
			continue
		}
		var all bytes.Buffer
		for _, ch := range c.Steps[i].Chunks {
			all.WriteString(ch.Data)
		}
		if got := normalizeCapture(l.sr.now(), name); got != all.String() {
			t.Errorf("step %d: more than captured:\n%s", i, fmt.Sprint(cmp.Diff(all.String(), got)))
		}
	}
}
