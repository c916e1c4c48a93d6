package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// addIndexEntries writes n blobs of size bytes each into the layout folder
// dir and lists them in its index.json, where no signature covers them.
func addIndexEntries(t *testing.T, dir string, n, size int) {
	t.Helper()
	path := filepath.Join(dir, "index.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := make([]byte, size)
		copy(data, fmt.Sprintf("padding blob %d", i))
		idx.Manifests = append(idx.Manifests, writeBlob(t, dir, "application/octet-stream", data))
	}
	raw, err = json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportDirLimitsUnsignedBytes(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
	// 17 blobs of 4 MiB are more than MaxUnsignedBytes in all, though
	// each is within MaxManifestSize.
	addIndexEntries(t, dir, MaxUnsignedBytes/MaxManifestSize+1, MaxManifestSize)

	_, err := ImportDir(context.Background(), dir, f.opts())
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
	if !strings.Contains(err.Error(), "outside its signed bundle index") {
		t.Errorf("message does not say the bytes lie outside the signed bundle index: %v", err)
	}
	if _, err := f.store.Active(context.Background()); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a kit became active: %v", err)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after the rejected import", n)
	}
}

func TestImportDirLimitsUnsignedBlobCount(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
	addIndexEntries(t, dir, MaxUnsignedBlobs+1, 64)

	_, err := ImportDir(context.Background(), dir, f.opts())
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("more than %d blobs", MaxUnsignedBlobs)) {
		t.Errorf("message does not give the blob limit: %v", err)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after the rejected import", n)
	}
}

// TestImportStreamBudgetNamesOrder checks that a tar stream over the budget
// of blobs stored before the signature can be checked is rejected with
// advice on the entry order, since those blobs may well belong to the kit.
func TestImportStreamBudgetNamesOrder(t *testing.T) {
	f := newFixture(t)
	entries := []tarEntry{{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}}
	for i := range MaxUnsignedBlobs + 1 {
		data := []byte(fmt.Sprintf("blob %d", i))
		entries = append(entries, tarEntry{name: "blobs/sha256/" + digest.FromBytes(data).Encoded(), data: data})
	}
	_, err := ImportStream(context.Background(), bytes.NewReader(writeTarEntries(t, entries)), f.opts())
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
	for _, want := range []string{fmt.Sprintf("more than %d blobs", MaxUnsignedBlobs), "before its signature could be checked",
		"imports as a layout folder once extracted"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}
