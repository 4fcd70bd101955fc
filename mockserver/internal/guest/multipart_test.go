package guest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// uploadPart sends one part of a multipart upload (field names other
// than "file" test the server's check).
func (tg *target) uploadPart(t *testing.T, id, query, field string, data []byte) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile(field, "part")
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, tg.url+"/filesystem-multipart/"+id+"/part"+query, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := tg.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if json.Unmarshal(b, &v) != nil {
		return answer{resp.StatusCode, string(b)}
	}
	return answer{resp.StatusCode, normalizeJSON(v)}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxmp")
		tg.mkdir(t, d)
		abs := tg.workdir + "/" + d + "/big.bin"
		a := tg.answer(t, "POST", "/filesystem-multipart/initiate/"+d+"/big.bin", `{"permissions":"0777"}`)
		m, _ := a.Body.(map[string]any)
		id, _ := m["uploadId"].(string)
		if a.Code != 200 || !uuidRE.MatchString(id) || m["path"] != abs {
			t.Fatalf("initiate: %+v (the path is absolute, the id a UUID)", a)
		}
		tg.atEnd(t, "DELETE", "/filesystem-multipart/"+id+"/abort")
		p1, p2 := []byte("AAA"), []byte("BBBB")
		for _, tc := range []struct {
			query, field string
			data         []byte
			want         answer
		}{
			{"?partNumber=2", "file", p2, answer{200, obj("partNumber", 2.0, "etag", md5hex(p2), "size", 4.0)}},
			{"?partNumber=1", "file", p1, answer{200, obj("partNumber", 1.0, "etag", md5hex(p1), "size", 3.0)}},
			{"?partNumber=0", "file", p1, answer{500, errObj("failed to upload part: part number must be between 1 and 10000")}},
			{"?partNumber=10001", "file", p1, answer{500, errObj("failed to upload part: part number must be between 1 and 10000")}},
		} {
			if diff := cmp.Diff(tc.want, tg.uploadPart(t, id, tc.query, tc.field, tc.data)); diff != "" {
				t.Errorf("part %s (-want +got):\n%s", tc.query, diff)
			}
		}
		if diff := cmp.Diff(answer{500, errObj("failed to upload part: upload not found: gx-nope")}, tg.uploadPart(t, "gx-nope", "?partNumber=1", "file", p1)); diff != "" {
			t.Errorf("part of an unknown upload (-want +got):\n%s", diff)
		}
		parts := tg.answer(t, "GET", "/filesystem-multipart/"+id+"/parts", "")
		wantParts := answer{200, obj("uploadId", id, "parts", []any{
			obj("partNumber", 1.0, "etag", md5hex(p1), "size", 3.0, "uploadedAt", "T"),
			obj("partNumber", 2.0, "etag", md5hex(p2), "size", 4.0, "uploadedAt", "T"),
		})}
		if diff := cmp.Diff(wantParts, parts); diff != "" {
			t.Errorf("parts (-want +got):\n%s", diff)
		}
		for _, tc := range []struct {
			id, body string
			want     answer
		}{
			{id, `{"parts":[]}`, answer{400, errObj("at least one part is required")}},
			{"gx-nope", `{"parts":[{"partNumber":1,"etag":"x"}]}`, answer{404, errObj("upload not found: gx-nope")}},
			{id, `{"parts":[{"partNumber":3,"etag":"x"}]}`, answer{500, errObj("failed to complete upload: part 3 not found")}},
			{id, `{"parts":[{"partNumber":1}]}`, answer{500, errObj("failed to complete upload: etag mismatch for part 1")}},
			// Parts are joined in part-number order.
			{id, `{"parts":[{"partNumber":2,"etag":"` + md5hex(p2) + `"},{"partNumber":1,"etag":"` + md5hex(p1) + `"}]}`,
				answer{200, obj("path", abs, "message", "Multipart upload completed successfully")}},
			{id, `{"parts":[{"partNumber":1,"etag":"x"}]}`, answer{404, errObj("upload not found: " + id)}},
		} {
			if diff := cmp.Diff(tc.want, tg.answer(t, "POST", "/filesystem-multipart/"+tc.id+"/complete", tc.body)); diff != "" {
				t.Errorf("complete %s (-want +got):\n%s", tc.body, diff)
			}
		}
		got := tg.answer(t, "GET", "/filesystem/"+d+"/big.bin", "")
		if diff := cmp.Diff(answer{200, obj("path", d+"/big.bin", "name", "", "permissions", "755", "size", 7.0, "lastModified", "T", "owner", "root", "group", "root", "content", "AAABBBB")}, got); diff != "" {
			t.Errorf("uploaded file (a new file gets the mode masked by the umask) (-want +got):\n%s", diff)
		}
		// Abort.
		b := tg.answer(t, "POST", "/filesystem-multipart/initiate/"+d+"/other", "")
		bid := b.Body.(map[string]any)["uploadId"].(string)
		if diff := cmp.Diff(answer{200, obj("path", "", "message", "Multipart upload aborted successfully")}, tg.answer(t, "DELETE", "/filesystem-multipart/"+bid+"/abort", "")); diff != "" {
			t.Errorf("abort (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(answer{404, errObj("upload not found: " + bid)}, tg.answer(t, "DELETE", "/filesystem-multipart/"+bid+"/abort", "")); diff != "" {
			t.Errorf("second abort (-want +got):\n%s", diff)
		}
		_, list := tg.call(t, "GET", "/filesystem-multipart", "")
		if strings.Contains(list, id) || strings.Contains(list, bid) {
			t.Errorf("ended uploads still listed: %s", list)
		}
	})
}

func TestFind(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxfind")
		tg.mkdir(t, d+"/x")
		for _, f := range []string{"a.go", "b.js", "sub/c.go", ".hidden/d.go", "node_modules/e.go", ".f.go", "build/g.go", "src/user.go", "src/models/user_model.go"} {
			tg.call(t, "PUT", "/filesystem/"+d+"/"+f, `{"content":"TODO here\nsecond todo\n"}`)
		}
		type m = map[string]any
		matches := func(kv ...string) answer {
			var out []any
			for i := 0; i+1 < len(kv); i += 2 {
				out = append(out, obj("path", kv[i], "type", kv[i+1]))
			}
			if out == nil {
				out = []any{}
			}
			return answer{200, obj("matches", out, "total", float64(len(out)))}
		}
		for _, tc := range []struct {
			query string
			want  answer
		}{
			// type defaults to file; the default directories are excluded,
			// also with excludeDirs= (empty); "," excludes nothing.
			{"", matches("a.go", "file", "b.js", "file", "src/models/user_model.go", "file", "src/user.go", "file", "sub/c.go", "file")},
			{"?type=directory", matches(".", "directory", "src", "directory", "src/models", "directory", "sub", "directory", "x", "directory")},
			{"?excludeDirs=", matches("a.go", "file", "b.js", "file", "src/models/user_model.go", "file", "src/user.go", "file", "sub/c.go", "file")},
			{"?excludeDirs=,", matches("a.go", "file", "b.js", "file", "build/g.go", "file", "node_modules/e.go", "file", "src/models/user_model.go", "file", "src/user.go", "file", "sub/c.go", "file")},
			{"?excludeHidden=false&patterns=*.go", matches(".f.go", "file", ".hidden/d.go", "file", "a.go", "file", "src/models/user_model.go", "file", "src/user.go", "file", "sub/c.go", "file")},
			{"?maxResults=2", matches("a.go", "file", "b.js", "file")},
			{"?type=socket", answer{400, errObj("invalid search type: socket")}},
			{"?maxResults=-1", answer{400, errObj("invalid maxResults: -1")}},
			{"?maxResults=abc", answer{400, errObj("invalid maxResults: abc")}},
		} {
			if diff := cmp.Diff(tc.want, tg.answer(t, "GET", "/filesystem-find/"+d+tc.query, "")); diff != "" {
				t.Errorf("find %s (-want +got):\n%s", tc.query, diff)
			}
		}
		_ = m{}
		if diff := cmp.Diff(matches(".", "file"), tg.answer(t, "GET", "/filesystem-find/"+d+"/a.go", "")); diff != "" {
			t.Errorf("find on a file (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(answer{500, errObj("error walking directory: lstat " + tg.workdir + "/" + d + "-none: no such file or directory")}, tg.answer(t, "GET", "/filesystem-find/"+d+"-none", "")); diff != "" {
			t.Errorf("find on a missing path (-want +got):\n%s", diff)
		}
		// Fuzzy search: the path is the query; patterns are ignored.
		search := func(path string) []string {
			_, body := tg.call(t, "GET", "/filesystem-search/"+path, "")
			var r struct {
				Matches []struct {
					Path  string
					Score int
					Type  string
				}
				Total int
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Total != len(r.Matches) {
				t.Fatalf("search %s: %s", path, body)
			}
			var out []string
			for _, m := range r.Matches {
				out = append(out, m.Path+":"+m.Type+":"+itoa(m.Score))
			}
			return out
		}
		if got := search(d + "?patterns=*.go"); got != nil {
			t.Errorf("fuzzy search of the directory's own path: %v", got)
		}
		// A query matches only entries whose relative path holds the
		// query's characters in order: here the whole "/tmp/<dir>".
		u := unique("gxfz")
		tg.cleanup(t, "/filesystem/%2Ftmp%2F"+u)
		q := "/tmp/" + u
		tg.call(t, "PUT", "/filesystem/"+q+"/a"+q, `{"content":""}`)
		tg.call(t, "PUT", "/filesystem/"+q+"/b/tmpx/"+u, `{"content":""}`)
		tg.call(t, "PUT", "/filesystem/"+q+"/c/TMP/"+u, `{"content":""}`)
		// Scores as fzf's algorithm gives them without its character
		// classes (the server never initializes them): 16 a character,
		// 4 more when it follows the previous one, -3 a gap's start, -1
		// its extension, no word-boundary bonus, case sensitive.
		wantSearch := []string{"a" + q + ":file:" + itoa(16+20*(len(q)-1)), "b/tmpx/" + u + ":file:" + itoa(16+20*3-3+16+20*(len(u)))}
		if diff := cmp.Diff(wantSearch, search(q)); diff != "" {
			t.Errorf("fuzzy search of %s (-want +got):\n%s", q, diff)
		}
		if got := tg.answer(t, "GET", "/filesystem-search/", ""); got.Code != 400 {
			t.Errorf("fuzzy search without a path: %+v", got)
		}
		// Content search: hidden files too, no context, "/" is the
		// working directory, maxResults=0 gives one match.
		_, body := tg.call(t, "GET", "/filesystem-content-search/"+d+"?query=todo&filePattern=*.go&excludeDirs=src,.hidden,node_modules,build", "")
		want := `{"query":"todo","matches":[{"path":".f.go","line":1,"column":1,"text":"TODO here"},{"path":".f.go","line":2,"column":8,"text":"second todo"},{"path":"a.go","line":1,"column":1,"text":"TODO here"},{"path":"a.go","line":2,"column":8,"text":"second todo"},{"path":"sub/c.go","line":1,"column":1,"text":"TODO here"},{"path":"sub/c.go","line":2,"column":8,"text":"second todo"}],"total":6}`
		if !sameJSONSet(t, want, body) {
			t.Errorf("content search:\n got %s\nwant %s (in any order)", body, want)
		}
		for _, tc := range []struct {
			path string
			want answer
		}{
			{d + "?query=zzz", answer{200, obj("query", "zzz", "matches", nil, "total", 0.0)}},
			{d + "?query=TODO&caseSensitive=true&maxResults=0", answer{200, obj("query", "TODO", "matches", []any{obj("path", anyPath, "line", 1.0, "column", 1.0, "text", "TODO here")}, "total", 1.0)}},
			{d + "-none?query=x", answer{400, errObj("specified directory does not exist: " + d + "-none")}},
			{d + "/a.go?query=x", answer{400, errObj("specified directory does not exist: " + d + "/a.go")}},
			{d, answer{400, errObj("query parameter is required")}},
		} {
			got := tg.answer(t, "GET", "/filesystem-content-search/"+tc.path, "")
			if m, ok := got.Body.(map[string]any); ok {
				if ms, ok := m["matches"].([]any); ok && len(ms) == 1 {
					ms[0].(map[string]any)["path"] = anyPath
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("content search %s (-want +got):\n%s", tc.path, diff)
			}
		}
	})
}

// anyPath stands for a match whose path depends on the order the server
// reads files in.
const anyPath = "<any>"

// sameJSONSet compares two content-search answers, matches in any order
// (the real server searches files in parallel).
func sameJSONSet(t *testing.T, want, got string) bool {
	t.Helper()
	type res struct {
		Query   string
		Matches []map[string]any
		Total   int
	}
	var a, b res
	if json.Unmarshal([]byte(want), &a) != nil || json.Unmarshal([]byte(got), &b) != nil {
		return false
	}
	key := func(m map[string]any) string { k, _ := json.Marshal(m); return string(k) }
	count := map[string]int{}
	for _, m := range a.Matches {
		count[key(m)]++
	}
	for _, m := range b.Matches {
		count[key(m)]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return a.Query == b.Query && a.Total == b.Total
}

func TestPutBinary(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg *target) {
		d := unique("gxbin")
		tg.mkdir(t, d)
		put := func(fields map[string]string, file []byte) answer {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, v := range fields {
				_ = mw.WriteField(k, v)
			}
			if file != nil {
				fw, _ := mw.CreateFormFile("file", "blob")
				_, _ = fw.Write(file)
			}
			_ = mw.Close()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, tg.url+"/filesystem/"+d+"/sub/b.bin", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			resp, err := tg.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var v any
			_ = json.Unmarshal(b, &v)
			return answer{resp.StatusCode, v}
		}
		for _, tc := range []struct {
			fields map[string]string
			file   []byte
			want   answer
		}{
			{map[string]string{"permissions": "0700"}, []byte{0, 1, 2}, answer{200, obj("path", d+"/sub/b.bin", "message", "Binary file uploaded successfully")}},
			{nil, nil, answer{400, errObj("missing 'file' field in multipart form")}},
			{map[string]string{"permissions": "x"}, []byte("a"), answer{400, errObj(`invalid permissions format 'x': strconv.ParseUint: parsing "x": invalid syntax`)}},
		} {
			if diff := cmp.Diff(tc.want, put(tc.fields, tc.file)); diff != "" {
				t.Errorf("PUT multipart %v (-want +got):\n%s", tc.fields, diff)
			}
		}
		got := tg.answer(t, "GET", "/filesystem/"+d+"/sub/b.bin", "")
		if m, ok := got.Body.(map[string]any); !ok || m["permissions"] != "700" || m["content"] != "\x00\x01\x02" {
			t.Errorf("uploaded file: %+v", got)
		}
	})
}
