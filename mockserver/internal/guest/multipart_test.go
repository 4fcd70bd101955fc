package guest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ht "github.com/ogen-go/ogen/http"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

func md5hex(b string) string {
	s := md5.Sum([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestMultipartRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	ires, err := e.client.InitiateMultipartUpload(ctx,
		sandboxapi.NewOptMultipartInitiateRequest(sandboxapi.MultipartInitiateRequest{Permissions: sandboxapi.NewOptString("0600")}),
		sandboxapi.InitiateMultipartUploadParams{Path: "/tmp/big.bin"})
	init, ok := ires.(*sandboxapi.MultipartInitiateResponse)
	if err != nil || !ok || init.Path.Or("") != "/tmp/big.bin" || init.UploadId.Or("") == "" {
		t.Fatalf("initiate = %#v, %v", ires, err)
	}
	id := init.UploadId.Value

	parts := map[int]string{1: "first-", 2: "second-", 3: "third"}
	etags := map[int]string{}
	for _, n := range []int{3, 1, 2} { // out of order
		res, err := e.client.UploadMultipartPart(ctx, &sandboxapi.MultipartUploadPartRequestMultipart{
			File: ht.MultipartFile{Name: "part", File: strings.NewReader(parts[n])},
		}, sandboxapi.UploadMultipartPartParams{UploadId: id, PartNumber: n})
		pr, ok := res.(*sandboxapi.MultipartUploadPartResponse)
		if err != nil || !ok {
			t.Fatalf("part %d = %#v, %v", n, res, err)
		}
		if pr.PartNumber.Or(0) != n || pr.Etag.Or("") != md5hex(parts[n]) || pr.Size.Or(0) != int64(len(parts[n])) {
			t.Errorf("part %d answer %+v", n, pr)
		}
		etags[n] = pr.Etag.Value
	}

	lres, err := e.client.ListMultipartParts(ctx, sandboxapi.ListMultipartPartsParams{UploadId: id})
	lp, ok := lres.(*sandboxapi.MultipartListPartsResponse)
	if err != nil || !ok {
		t.Fatalf("list parts = %#v, %v", lres, err)
	}
	var got []int
	for _, p := range lp.Parts {
		got = append(got, p.PartNumber.Value)
	}
	if d := cmp.Diff([]int{1, 2, 3}, got); d != "" || lp.UploadId.Or("") != id {
		t.Errorf("listed parts (-want +got):\n%s", d)
	}
	ures, err := e.client.ListMultipartUploads(ctx)
	lu, ok := ures.(*sandboxapi.MultipartListUploadsResponse)
	if err != nil || !ok || len(lu.Uploads) != 1 {
		t.Fatalf("list uploads = %#v, %v", ures, err)
	}
	if u := lu.Uploads[0]; u.UploadId.Value != id || u.Path.Value != "/tmp/big.bin" || u.Permissions.Value != 0o600 || len(u.Parts.Value) != 3 || u.Parts.Value["2"].Etag.Value != etags[2] {
		t.Errorf("upload %+v", u)
	}

	// Errors: a listed part never sent, a wrong etag, bad part numbers.
	for _, req := range []sandboxapi.MultipartCompleteRequest{
		{Parts: []sandboxapi.MultipartPartInfo{{PartNumber: sandboxapi.NewOptInt(4)}}},
		{Parts: []sandboxapi.MultipartPartInfo{{PartNumber: sandboxapi.NewOptInt(1), Etag: sandboxapi.NewOptString("00")}}},
		{},
	} {
		res, err := e.client.CompleteMultipartUpload(ctx, &req, sandboxapi.CompleteMultipartUploadParams{UploadId: id})
		if _, ok := res.(*sandboxapi.CompleteMultipartUploadBadRequest); err != nil || !ok {
			t.Errorf("complete %+v = %#v, %v", req, res, err)
		}
	}
	for _, q := range []string{"partNumber=0", "partNumber=10001"} {
		resp, body := e.do(t, http.MethodPut, "/filesystem-multipart/"+id+"/part?"+q, "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}

	// Complete in the order given (1, 2, 3), whatever the upload order.
	var infos []sandboxapi.MultipartPartInfo
	for n := 1; n <= 3; n++ {
		infos = append(infos, sandboxapi.MultipartPartInfo{PartNumber: sandboxapi.NewOptInt(n), Etag: sandboxapi.NewOptString(etags[n])})
	}
	cres, err := e.client.CompleteMultipartUpload(ctx, &sandboxapi.MultipartCompleteRequest{Parts: infos}, sandboxapi.CompleteMultipartUploadParams{UploadId: id})
	if ok, isOK := cres.(*sandboxapi.SuccessResponse); err != nil || !isOK || ok.Path.Or("") != "/tmp/big.bin" {
		t.Fatalf("complete = %#v, %v", cres, err)
	}
	if got := e.read(t, "/tmp/big.bin"); got != "first-second-third" {
		t.Errorf("assembled %q", got)
	}
	if f := fileOf(t, e, "/tmp/big.bin"); f.Permissions != "600" {
		t.Errorf("mode %s, want 600", f.Permissions)
	}
	// The session is gone.
	lres, err = e.client.ListMultipartParts(ctx, sandboxapi.ListMultipartPartsParams{UploadId: id})
	if _, ok := lres.(*sandboxapi.ListMultipartPartsNotFound); err != nil || !ok {
		t.Errorf("parts after complete = %#v, %v", lres, err)
	}
}

func TestMultipartAbortAndUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ctx := t.Context()
	ires, err := e.client.InitiateMultipartUpload(ctx, sandboxapi.OptMultipartInitiateRequest{}, sandboxapi.InitiateMultipartUploadParams{Path: "up.bin"})
	init, ok := ires.(*sandboxapi.MultipartInitiateResponse)
	if err != nil || !ok || init.Path.Value != "/home/user/up.bin" {
		t.Fatalf("initiate = %#v, %v", ires, err)
	}
	if _, err := e.client.UploadMultipartPart(ctx, &sandboxapi.MultipartUploadPartRequestMultipart{
		File: ht.MultipartFile{Name: "p", File: bytes.NewReader([]byte{0, 1, 2})},
	}, sandboxapi.UploadMultipartPartParams{UploadId: init.UploadId.Value, PartNumber: 1}); err != nil {
		t.Fatal(err)
	}
	ares, err := e.client.AbortMultipartUpload(ctx, sandboxapi.AbortMultipartUploadParams{UploadId: init.UploadId.Value})
	if _, ok := ares.(*sandboxapi.SuccessResponse); err != nil || !ok {
		t.Fatalf("abort = %#v, %v", ares, err)
	}
	if _, err := e.g.ReadFile("up.bin"); err == nil {
		t.Error("aborted upload wrote the file")
	}
	ares, err = e.client.AbortMultipartUpload(ctx, sandboxapi.AbortMultipartUploadParams{UploadId: init.UploadId.Value})
	if _, ok := ares.(*sandboxapi.AbortMultipartUploadNotFound); err != nil || !ok {
		t.Errorf("second abort = %#v, %v", ares, err)
	}
	pres, err := e.client.UploadMultipartPart(ctx, &sandboxapi.MultipartUploadPartRequestMultipart{
		File: ht.MultipartFile{Name: "p", File: strings.NewReader("x")},
	}, sandboxapi.UploadMultipartPartParams{UploadId: "nope", PartNumber: 1})
	if _, ok := pres.(*sandboxapi.UploadMultipartPartNotFound); err != nil || !ok {
		t.Errorf("part of unknown upload = %#v, %v", pres, err)
	}
	ures, err := e.client.ListMultipartUploads(ctx)
	if lu, ok := ures.(*sandboxapi.MultipartListUploadsResponse); err != nil || !ok || len(lu.Uploads) != 0 {
		t.Errorf("uploads after abort = %#v, %v", ures, err)
	}
}
