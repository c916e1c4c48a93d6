package main

import (
	"archive/tar"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestImportImageArchiveSaysNotAKit checks that an image archive given to
// import, in each order of its tar entries, is named as not a kit, or as
// possibly no kit, with the command that takes images.
func TestImportImageArchiveSaysNotAKit(t *testing.T) {
	e := newEnv(t)
	image := demoImage(t, e.dir)

	// A layer over the manifest size limit, as real image layers are.
	big := make([]byte, 5<<20)
	rand.NewChaCha8([32]byte{9}).Read(big)
	if err := os.WriteFile(filepath.Join(image, "blobs", "sha256", digest.FromBytes(big).Encoded()), big, 0o644); err != nil {
		t.Fatal(err)
	}
	blobsFirst := filepath.Join(e.dir, "blobs-first.tar")
	tarFolder(t, image, blobsFirst)
	r := e.run("ouk", "import", "--key", e.pub, blobsFirst)
	if r.code != exitRejected || !strings.Contains(r.stderr, "comes before index.json") || !strings.Contains(r.stderr, "stella ouk build --image") {
		t.Errorf("image archive with blobs first: exit %d, stderr %q", r.code, r.stderr)
	}

	var head, blobs []tarEntry
	err := filepath.Walk(image, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(image, p)
		data, err := os.ReadFile(p)
		en := tarEntry{hdr: tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg}, data: data}
		if strings.HasPrefix(rel, "blobs") {
			blobs = append(blobs, en)
		} else {
			head = append(head, en)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Once its image index has arrived, the archive shows that it has no
	// bundle index.
	slices.SortStableFunc(blobs, func(a, b tarEntry) int { return len(a.data) - len(b.data) })
	indexFirst := filepath.Join(e.dir, "index-first.tar")
	writeTar(t, indexFirst, append(slices.Clone(head), blobs...))
	r = e.run("ouk", "import", "--key", e.pub, indexFirst)
	if r.code != exitRejected || !strings.Contains(r.stderr, "not a Stella Ops kit") || !strings.Contains(r.stderr, "stella ouk build --image") {
		t.Errorf("image archive with index.json first: exit %d, stderr %q", r.code, r.stderr)
	}

	// Before its image index arrives, the archive may still be a kit in
	// another order, so the message names both.
	slices.Reverse(blobs)
	largeFirst := filepath.Join(e.dir, "large-first.tar")
	writeTar(t, largeFirst, append(slices.Clone(head), blobs...))
	r = e.run("ouk", "import", "--key", e.pub, largeFirst)
	if r.code != exitRejected || !strings.Contains(r.stderr, "cannot tell whether this is a Stella Ops kit in another order or an image archive") ||
		!strings.Contains(r.stderr, "stella ouk build --image") {
		t.Errorf("image archive with a large blob before its image index: exit %d, stderr %q", r.code, r.stderr)
	}
}
