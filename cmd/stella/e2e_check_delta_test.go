package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
)

// importImageDelta builds two nights that share the demo image, imports
// the full kit of night 1 and then the delta of night 2, and returns the
// series.
func (e *env) importImageDelta() []nightly {
	e.t.Helper()
	image := demoImage(e.t, e.t.TempDir())
	series := e.buildSeries(2, "--image", checkImageRef+"="+image)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	return series
}

// flipLayerChunk flips one bit at the start of the second chunk of the
// first image layer of the store, in its table file, and returns the
// layer's digest. A table file and even the block of a first chunk can
// contain other blobs too, while each later chunk of 1 MiB
// (cas.DefaultChunkSize) fills a block of its own. Pebble reports a flip
// near the start of a block quickly, as flipBit explains.
func (e *env) flipLayerChunk() string {
	e.t.Helper()
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	var layer cas.BlobInfo
	err = store.Blobs(ctx, func(info cas.BlobInfo) error {
		if layer.Digest == "" && info.Size > 1<<20 {
			layer = info
		}
		return nil
	})
	var content []byte
	if err == nil && layer.Digest != "" {
		content, err = readAll(ctx, store, layer)
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if layer.Digest == "" {
		e.t.Fatal("the store contains no image layer over 1 MiB")
	}

	// The layer's content is random past its tar header, so these bytes
	// occur once in the store's files.
	start := content[cas.DefaultChunkSize : cas.DefaultChunkSize+4096]
	for _, table := range e.storeTables() {
		data, err := os.ReadFile(table)
		if err != nil {
			e.t.Fatal(err)
		}
		if offset := bytes.Index(data, start); offset >= 0 {
			flipBit(e.t, table, int64(offset))
			return layer.Digest.String()
		}
	}
	e.t.Fatalf("no table file of the store contains the second chunk of layer %s", layer.Digest)
	return ""
}

// A damaged image layer that two kits share is a problem of each kit.
func TestCheckAllSharedDamagedLayer(t *testing.T) {
	e := newEnv(t)
	series := e.importImageDelta()
	layer := e.flipLayerChunk()
	damagedLayer := func(kit string) func(checkProblem) bool {
		return func(p checkProblem) bool {
			return p.Kind == problemDamaged && p.Kit == kit && p.Digest == layer &&
				strings.HasPrefix(p.Role, "layer 1 of image "+checkImageRef)
		}
	}

	rep, r := e.runCheck("--all", "--key", e.pub)
	if r.code != exitError {
		t.Errorf("check --all: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if len(rep.Kits) != 2 {
		t.Fatalf("check --all: %d kits, want both nights: %+v", len(rep.Kits), rep.Kits)
	}
	for _, night := range series {
		if !slices.ContainsFunc(rep.Problems, damagedLayer(night.digest)) {
			t.Errorf("check --all: problems %+v lack the damaged layer %s of kit %s", rep.Problems, layer,
				night.digest)
		}
	}

	// The check of night 1 alone finds the same layer.
	alone, _ := e.runCheck("--key", e.pub, series[0].digest)
	if !slices.ContainsFunc(alone.Problems, damagedLayer(series[0].digest)) {
		t.Errorf("check of night 1: problems %+v lack the damaged layer %s", alone.Problems, layer)
	}

	// The text report names the kit of each problem.
	text := e.run("ouk", "check", "--all", "--key", e.pub)
	for _, version := range []string{"night-01", "night-02"} {
		if !strings.Contains(text.stdout, ") of kit "+version+") ") {
			t.Errorf("text check --all does not name kit %s in a problem:\n%s", version, text.stdout)
		}
	}
}

// The check of a kit imported as a delta reads the blobs that gc keeps
// with it, so --all finds no blob of no kit on a sound store.
func TestCheckAllDeltaKeptBlobs(t *testing.T) {
	e := newEnv(t)
	e.importImageDelta()

	rep, r := e.runCheck("--all", "--key", e.pub)
	if r.code != 0 || rep.Status != "passed" {
		t.Fatalf("check --all: exit %d, status %q, problems %+v\n%s", r.code, rep.Status, rep.Problems, r.stderr)
	}
	if rep.OtherBlobs == nil || rep.OtherBlobs.Blobs != 0 {
		t.Errorf("check --all: blobs of no kit %+v, want none", rep.OtherBlobs)
	}
	if len(rep.NotReached) != 0 {
		t.Errorf("check --all: blobs not reached from a kit %+v, want none", rep.NotReached)
	}

	// gc keeps exactly the blobs of the active kit with --keep 0.
	gc := e.gcJSON("--keep", "0", "--dry-run")
	if len(rep.Kits) == 0 || rep.Kits[0].Blobs != gc.Kept {
		t.Errorf("check --all: kits %+v, want the active kit first with the %d blobs that gc keeps", rep.Kits,
			gc.Kept)
	}
	text := e.run("ouk", "check", "--all", "--key", e.pub)
	if !strings.Contains(text.stdout, "Checked 0 blobs of no kit") {
		t.Errorf("text check --all reports blobs of no kit:\n%s", text.stdout)
	}
}
