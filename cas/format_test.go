package cas

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// benchLayers and benchLayerSize shape the store of BenchmarkOpenFormat,
// with layers in the size range that the format check reads.
const (
	benchLayers    = 100
	benchLayerSize = 3 << 20
)

// BenchmarkOpenFormat measures an open for writing of a store with many
// layers of 256 KiB to 4 MiB and one active kit. The store is opened once
// as an earlier release left it, which makes the open check every such
// layer, and once with its format recorded. A GC that removes nothing is
// measured too.
func BenchmarkOpenFormat(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	layers := make([]ocispec.Descriptor, benchLayers)
	for i := range layers {
		raw := randomBytes(uint64(100+i), benchLayerSize)
		layers[i] = descOf(raw, ocispec.MediaTypeImageLayerGzip)
		if err := s.Push(ctx, layers[i], bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
	config := descOf([]byte(`{"k":"config"}`), "application/vnd.test.config+json")
	if err := s.Push(ctx, config, bytes.NewReader([]byte(`{"k":"config"}`))); err != nil {
		b.Fatal(err)
	}
	man := ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest,
		Config: config, Layers: layers}
	raw, err := json.Marshal(man)
	if err != nil {
		b.Fatal(err)
	}
	manDesc := descOf(raw, ocispec.MediaTypeImageManifest)
	if err := s.Push(ctx, manDesc, bytes.NewReader(raw)); err != nil {
		b.Fatal(err)
	}
	if err := s.Activate(ctx, KitRecord{Digest: manDesc.Digest, Version: "1", Sequence: 1}); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}

	open := func(b *testing.B) *Store {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("earlier-release", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := open(b)
			if err := s.db.Delete([]byte(keyFormat), pebble.Sync); err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
			b.StartTimer()
			s = open(b)
			b.StopTimer()
			_ = s.Close()
			b.StartTimer()
		}
	})
	b.Run("current", func(b *testing.B) {
		for b.Loop() {
			s := open(b)
			b.StopTimer()
			_ = s.Close()
			b.StartTimer()
		}
	})
	b.Run("gc", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		for b.Loop() {
			rep, err := s.GC(ctx, GCOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if rep.Removed != 0 {
				b.Fatalf("GC removed %d blobs of the active kit", rep.Removed)
			}
		}
	})
}
