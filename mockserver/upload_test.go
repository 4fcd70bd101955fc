package mockserver_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/sandboxkit/sandboxkit/mockserver"
	"github.com/sandboxkit/sandboxkit/sandbox"
)

// A request body of unknown length (ContentLength 0, as multipart
// encoders send through a pipe) reaches the handler as a body of length
// -1, as over a wire, not as no body.
func TestInMemoryTransportStreamsBodiesOfUnknownLength(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id, err := srv.AddSandbox("", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, `{"content":"streamed"}`)
		_ = pw.Close()
	}()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL()+"/sandboxes/"+id+"/port/8080/filesystem//tmp/a.txt", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT with a streamed body: %s", resp.Status)
	}

	// The multipart upload of the sandbox client streams its parts so.
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 3<<20+5)
	res, err := sb.Upload(t.Context(), "/tmp/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{PartSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 4 || res.Size != int64(len(data)) {
		t.Errorf("upload: %d parts, %d bytes; want 4 and %d", res.Parts, res.Size, len(data))
	}
	got, err := sb.Read(t.Context(), "/tmp/a.txt")
	if err != nil || got != "streamed" {
		t.Errorf("Read(/tmp/a.txt) = %q, %v", got, err)
	}
	r, err := sb.Open(t.Context(), "/tmp/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("read back %d bytes (err %v), want the %d uploaded", len(back), err, len(data))
	}
}

// TestMultipartPartsLargerThanTheFormMemory uploads parts that the form
// parser spools to disk (over 1 MiB) and reads the file back whole.
func TestMultipartPartsLargerThanTheFormMemory(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	id, err := srv.AddSandbox("", mockserver.SandboxSeed{})
	if err != nil {
		t.Fatal(err)
	}
	sbOpts, err := srv.SandboxAPIOptions(id)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sbOpts...)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(pattern(5<<20+3, 42))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.Upload(t.Context(), "/tmp/spooled.bin", bytes.NewReader(data), &sandbox.UploadOptions{PartSize: 2 << 20, Threshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 3 || res.Size != int64(len(data)) {
		t.Errorf("upload: %d parts, %d bytes; want 3 and %d", res.Parts, res.Size, len(data))
	}
	r, err := sb.Open(t.Context(), "/tmp/spooled.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("read back %d bytes (err %v), want the %d uploaded", len(back), err, len(data))
	}
}
