package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// tarEntry is one file of a kit tar.
type tarEntry struct {
	name string
	data []byte
}

func readTarEntries(t *testing.T, raw []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{name: h.Name, data: data})
	}
}

func writeTarEntries(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// orasStyleKit returns the entries of the kit raw with the index.json that
// a folder written by `oras cp -r` has: the bundle index without its
// artifact type, and with kitEntries, the manifests that the bundle index
// lists as well. The entries come in the kit's order.
func orasStyleKit(t *testing.T, raw []byte, kitEntries bool) []tarEntry {
	t.Helper()
	entries := readTarEntries(t, raw)

	at := slices.IndexFunc(entries, func(e tarEntry) bool { return e.name == "index.json" })
	var index ocispec.Index
	if err := json.Unmarshal(entries[at].data, &index); err != nil {
		t.Fatal(err)
	}
	var bundle ocispec.Index
	for i, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		index.Manifests[i].ArtifactType = ""
		blob := slices.IndexFunc(entries, func(e tarEntry) bool { return e.name == "blobs/sha256/"+d.Digest.Encoded() })
		if err := json.Unmarshal(entries[blob].data, &bundle); err != nil {
			t.Fatal(err)
		}
	}
	if len(bundle.Manifests) == 0 {
		t.Fatal("the kit has no bundle index with children")
	}

	if kitEntries {
		index.Manifests = append(index.Manifests, bundle.Manifests...)
	} else {
		index.Manifests = index.Manifests[:1]
	}
	data, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	entries[at].data = data
	return entries
}

// largeBlobsFirst orders the blobs of entries with those over
// MaxManifestSize first, as a plain tar of a folder may list them.
func largeBlobsFirst(entries []tarEntry) []tarEntry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b tarEntry) int {
		rank := func(e tarEntry) int {
			switch {
			case !strings.HasPrefix(e.name, "blobs/"):
				return 0
			case len(e.data) > MaxManifestSize:
				return 1
			}
			return 2
		}
		return rank(a) - rank(b)
	})
	return out
}

func TestStreamOrderMessage(t *testing.T) {
	f := newFixture(t)
	raw := f.imageKit(MaxManifestSize + 1)
	cases := []struct {
		name       string
		kitEntries bool
		want       []string
		unwanted   []string
	}{
		// A folder that oras wrote lists the DB manifest, which only a kit
		// has.
		{"kit entries", true,
			[]string{"before the kit's signature could be checked", "imports as a layout folder once extracted",
				"oci-layout, index.json and the small blobs first"},
			[]string{"not a Stella Ops kit", "stella ouk build --image"}},
		{"bundle index only", false,
			[]string{"cannot tell whether this is a Stella Ops kit in another order or an image archive",
				"imports as a layout folder once extracted", "stella ouk build --image"},
			[]string{"not a Stella Ops kit"}},
	}
	for _, tc := range cases {
		entries := orasStyleKit(t, raw, tc.kitEntries)
		_, err := ImportStream(context.Background(), bytes.NewReader(writeTarEntries(t, largeBlobsFirst(entries))), f.opts())
		if !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: err = %v, want an invalid kit", tc.name, err)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q: %v", tc.name, want, err)
			}
		}
		for _, unwanted := range tc.unwanted {
			if strings.Contains(err.Error(), unwanted) {
				t.Errorf("%s: error contains %q: %v", tc.name, unwanted, err)
			}
		}
	}

	// The same index.json with the kit's order imports, so only the order
	// kept the kits above out.
	entries := orasStyleKit(t, raw, true)
	if _, err := ImportStream(context.Background(), bytes.NewReader(writeTarEntries(t, entries)), f.opts()); err != nil {
		t.Errorf("oras-style kit in the kit's order: %v", err)
	}
}
