package conformance

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sandboxkit/sandboxkit/sandbox"
)

// randomData returns n reproducible bytes that are not UTF-8 text.
func randomData(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// readBack reads a whole file with Open.
func readBack(t *testing.T, tg *sandboxTarget, p string) []byte {
	t.Helper()
	rc, err := tg.sb.Open(tg.ctx(t), p)
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return b
}

// TestSandboxUpload: a small text goes in one request, a binary file in
// parallel parts; both read back as sent.
func TestSandboxUpload(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.absDir(t)
		res, err := tg.sb.Upload(ctx, dir+"/small.txt", bytes.NewReader([]byte("small\n")), nil)
		if err != nil || res.UploadID != "" || res.Parts != 1 || res.Size != 6 {
			t.Fatalf("Upload of a small text = %+v, %v", res, err)
		}
		if got := readBack(t, tg, dir+"/small.txt"); string(got) != "small\n" {
			t.Errorf("small.txt = %q", got)
		}

		data := randomData(3<<20 + 5)
		var last sandbox.UploadProgress
		res, err = tg.sb.Upload(ctx, dir+"/big.bin", bytes.NewReader(data), &sandbox.UploadOptions{
			PartSize: 1 << 20, Concurrency: 3, Size: int64(len(data)), Permissions: 0o640,
			OnProgress: func(p sandbox.UploadProgress) { last = p },
		})
		if err != nil || res.Parts != 4 || res.Size != int64(len(data)) || res.UploadID == "" {
			t.Fatalf("Upload in parts = %+v, %v", res, err)
		}
		if last.Bytes != int64(len(data)) || last.Parts != 4 || last.Total != int64(len(data)) {
			t.Errorf("last progress %+v", last)
		}
		if got := readBack(t, tg, dir+"/big.bin"); !bytes.Equal(got, data) {
			t.Errorf("big.bin: %d bytes read back, want the %d uploaded", len(got), len(data))
		}
		d, err := tg.sb.ListDirectory(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range d.Files {
			if f.Name == "big.bin" && (f.Mode != 0o640 || f.Size != int64(len(data))) {
				t.Errorf("big.bin = %+v", f)
			}
		}
	})
}

// TestSandboxMultipart: the multipart steps one by one, and ResumeUpload
// finishing a session that has some parts, one of them wrong.
func TestSandboxMultipart(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.absDir(t)
		data := randomData(2<<20 + 7)
		id, err := tg.sb.InitiateUpload(ctx, dir+"/resumed.bin", nil)
		if err != nil || id == "" {
			t.Fatalf("InitiateUpload = %q, %v", id, err)
		}
		part, err := tg.sb.UploadPart(ctx, id, 1, bytes.NewReader(data[:1<<20]), 1<<20)
		sum := md5.Sum(data[:1<<20])
		if err != nil || part.PartNumber != 1 || part.Size != 1<<20 || part.ETag != hex.EncodeToString(sum[:]) {
			t.Fatalf("UploadPart = %+v, %v", part, err)
		}
		// Part 2 with the wrong bytes.
		if _, err := tg.sb.UploadPart(ctx, id, 2, bytes.NewReader(data[:1<<20]), 1<<20); err != nil {
			t.Fatal(err)
		}
		parts, err := tg.sb.ListUploadedParts(ctx, id)
		if err != nil || len(parts) != 2 || parts[0].PartNumber != 1 || parts[1].PartNumber != 2 || parts[1].Size != 1<<20 {
			t.Errorf("UploadedParts = %+v, %v", parts, err)
		}
		uploads, err := tg.sb.ListMultipartUploads(ctx)
		if err != nil || !slices.ContainsFunc(uploads, func(u sandbox.MultipartUpload) bool {
			return u.UploadID == id && u.Path == dir+"/resumed.bin" && len(u.Parts) == 2
		}) {
			t.Errorf("MultipartUploads has no %s with 2 parts: %+v, %v", id, uploads, err)
		}
		res, err := tg.sb.ResumeUpload(ctx, id, bytes.NewReader(data), int64(len(data)), nil)
		if err != nil || res.Parts != 3 || res.Size != int64(len(data)) {
			t.Fatalf("ResumeUpload = %+v, %v", res, err)
		}
		if got := readBack(t, tg, dir+"/resumed.bin"); !bytes.Equal(got, data) {
			t.Errorf("resumed.bin: %d bytes read back, want the %d uploaded", len(got), len(data))
		}
	})
}

// TestSandboxMultipartErrors: completing a session that lacks a part
// fails (the real server answers 500), as does a part of an aborted
// session.
func TestSandboxMultipartErrors(t *testing.T) {
	forEachSandboxAPI(t, func(t *testing.T, tg *sandboxTarget) {
		ctx := tg.ctx(t)
		dir := tg.absDir(t)
		id, err := tg.sb.InitiateUpload(ctx, dir+"/gap.bin", nil)
		if err != nil {
			t.Fatal(err)
		}
		p1, err := tg.sb.UploadPart(ctx, id, 1, bytes.NewReader([]byte("one")), 3)
		if err != nil {
			t.Fatal(err)
		}
		err = tg.sb.CompleteUpload(ctx, id, []sandbox.CompletedPart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p1.ETag}})
		assertAPIError(t, err, 500, "sandbox.CompleteUpload", "")
		if err := tg.sb.AbortUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		uploads, err := tg.sb.ListMultipartUploads(ctx)
		if err != nil || slices.ContainsFunc(uploads, func(u sandbox.MultipartUpload) bool { return u.UploadID == id }) {
			t.Errorf("the aborted session is still listed: %v", err)
		}
		_, err = tg.sb.UploadPart(ctx, id, 2, bytes.NewReader([]byte("two")), 3)
		assertAPIError(t, err, 500, "sandbox.UploadPart", "")
	})
}
