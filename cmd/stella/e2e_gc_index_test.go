package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/vulndb"
)

// indexedLayers opens the store directly and lists the DB layers that have
// keys in its lookup index.
func (e *env) indexedLayers() []digest.Digest {
	e.t.Helper()
	var out []digest.Digest
	e.withStore(func(s *cas.Store) {
		var err error
		if out, err = vulndb.IndexedLayers(s.KV(importer.VulnDBNamespace)); err != nil {
			e.t.Fatal(err)
		}
	})
	return out
}

func (e *env) withStore(fn func(*cas.Store)) {
	e.t.Helper()
	s, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

// twoKits imports two kits built from different feeds and returns the DB
// layers that only the first one has.
func twoKits(t *testing.T) (*env, []digest.Digest) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	first := e.indexedLayers()
	kit2 := filepath.Join(e.dir, "kit2.tar")
	e.must("ouk", "build", "-o", kit2, "--version", "2.0.0", "--sequence", "2",
		"--feed", "osv="+e.nightFeed(2), "--key", e.key)
	var inspected struct {
		DBLayers []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"dbLayers"`
	}
	second := map[digest.Digest]bool{}
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", kit2)), &inspected); err != nil {
		t.Fatal(err)
	}
	for _, l := range inspected.DBLayers {
		second[l.Digest] = true
	}
	e.importJSON(kit2)
	var only []digest.Digest
	for _, l := range first {
		if !second[l] {
			only = append(only, l)
		}
	}
	if len(only) == 0 {
		t.Fatal("the first kit has no DB layer of its own")
	}
	return e, only
}

// deleteBlobs removes the blobs of layers from the store and leaves their
// lookup index in place, as a gc cut short after the blob removal does.
func (e *env) deleteBlobs(layers []digest.Digest) {
	e.t.Helper()
	e.withStore(func(s *cas.Store) {
		for _, l := range layers {
			info, err := s.Stat(context.Background(), l)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := s.Delete(context.Background(), ocispec.Descriptor{Digest: l, Size: info.Size}); err != nil {
				e.t.Fatal(err)
			}
		}
	})
}

func TestRollbackRejectsKitWithoutIndex(t *testing.T) {
	e, layers := twoKits(t)
	// An earlier release's gc dropped a layer's index before removing its
	// blob, so one cut short between the two left blobs without an index.
	e.withStore(func(s *cas.Store) {
		for _, l := range layers {
			if err := vulndb.DropLayer(s.KV(importer.VulnDBNamespace), l); err != nil {
				t.Fatal(err)
			}
		}
	})
	before := e.activeDigest()
	r := e.run("ouk", "rollback", "--key", e.pub)
	if r.code == 0 {
		t.Fatalf("rollback to a kit without its lookup index succeeded:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "lacks the lookup index") || !strings.Contains(r.stderr, "import the kit's file again") {
		t.Errorf("rollback error does not say that the index is missing and what to do:\n%s", r.stderr)
	}
	if got := e.activeDigest(); got != before {
		t.Errorf("active kit changed from %s to %s", before, got)
	}
}

func TestStatusShowsMissingIndex(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))
	layers := e.indexedLayers()
	e.withStore(func(s *cas.Store) {
		if err := vulndb.DropLayer(s.KV(importer.VulnDBNamespace), layers[0]); err != nil {
			t.Fatal(err)
		}
	})
	// Monitoring that checks the exit code notices that lookups fail.
	st := e.run("ouk", "status")
	if st.code != exitError || !strings.Contains(st.stdout, "cannot be read") || !strings.Contains(st.stderr, "lookups and scans fail") {
		t.Errorf("status of an active kit without its index: exit %d\nstdout: %s\nstderr: %s", st.code, st.stdout, st.stderr)
	}
}

func TestGCDropsIndexOfRemovedBlob(t *testing.T) {
	e, layers := twoKits(t)
	// A gc cut short after removing a layer's blob left its index.
	e.deleteBlobs(layers)
	e.must("ouk", "gc")
	left := e.indexedLayers()
	for _, l := range layers {
		if slices.Contains(left, l) {
			t.Errorf("the lookup index of %s, whose blob is gone, is still in the store", l)
		}
	}
}

func TestGCReportsIndexLeftByCutGC(t *testing.T) {
	e, layers := twoKits(t)
	// A gc cut short after removing the layers' blobs left their index.
	e.deleteBlobs(layers)

	want := fmt.Sprintf("Would remove the lookup index of %d DB %s whose blob an earlier gc removed",
		len(layers), plural(len(layers), "layer", "layers"))
	if out := e.must("ouk", "gc", "--dry-run"); !strings.Contains(out, want) {
		t.Errorf("gc --dry-run output does not count the index left behind, want %q:\n%s", want, out)
	}

	var rep struct {
		IndexLayersRemoved  int   `json:"indexLayersRemoved"`
		IndexLayersLeftover int   `json:"indexLayersLeftover"`
		StoreSizeBefore     int64 `json:"storeSizeBefore"`
		StoreSizeAfter      int64 `json:"storeSizeAfter"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.IndexLayersRemoved != len(layers) {
		t.Errorf("gc reported %d index layers removed, want %d", rep.IndexLayersRemoved, len(layers))
	}
	if rep.IndexLayersLeftover != len(layers) {
		t.Errorf("gc reported %d index layers left by an earlier gc, want %d", rep.IndexLayersLeftover, len(layers))
	}
	if rep.StoreSizeBefore <= 0 || rep.StoreSizeAfter <= 0 {
		t.Errorf("gc reported store sizes %d before and %d after, want both measured", rep.StoreSizeBefore, rep.StoreSizeAfter)
	}

	out := e.must("ouk", "gc")
	if strings.Contains(out, "lookup index of") {
		t.Errorf("a second gc still reports an index to remove:\n%s", out)
	}
	if !strings.Contains(out, "Store size ") {
		t.Errorf("gc output does not give the store size before and after:\n%s", out)
	}
}

func TestGCDryRunOmitsSizeAfter(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	var rep map[string]any
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "--dry-run", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if _, ok := rep["storeSizeAfter"]; ok {
		t.Errorf("gc --dry-run -o json reports storeSizeAfter %v, though a dry run removes nothing", rep["storeSizeAfter"])
	}
	if size, ok := rep["storeSizeBefore"].(float64); !ok || size <= 0 {
		t.Errorf("gc --dry-run -o json reports storeSizeBefore %v, want the current size", rep["storeSizeBefore"])
	}
	out := e.must("ouk", "gc", "--dry-run")
	if !strings.Contains(out, "; a dry run removes nothing") || strings.Contains(out, "after") {
		t.Errorf("gc --dry-run text does not give the current size alone:\n%s", out)
	}
	out = e.must("ouk", "gc")
	if !strings.Contains(out, "right after gc") || !strings.Contains(out, "frees their space in later compactions") {
		t.Errorf("gc text does not say what the size after means:\n%s", out)
	}
}

// TestGCDryRunCountsIndexLayers checks that a dry run counts the lookup
// indexes of the layers whose blobs the run would remove.
func TestGCDryRunCountsIndexLayers(t *testing.T) {
	e, only := twoKits(t)
	var dry, run struct {
		IndexLayersRemoved int `json:"indexLayersRemoved"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "--keep", "0", "--dry-run", "-o", "json")), &dry); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "--keep", "0", "-o", "json")), &run); err != nil {
		t.Fatal(err)
	}
	if run.IndexLayersRemoved != len(only) {
		t.Errorf("gc removed the index of %d layers, want %d", run.IndexLayersRemoved, len(only))
	}
	if dry.IndexLayersRemoved != run.IndexLayersRemoved {
		t.Errorf("gc --dry-run counts %d layer indexes, the run removed %d", dry.IndexLayersRemoved, run.IndexLayersRemoved)
	}
}

// TestGCReportsIndexRemovedWithBlob checks the report of a gc that removes
// DB layers together with their lookup index: it counts them as removed
// with their blobs, not as left behind by an earlier gc.
func TestGCReportsIndexRemovedWithBlob(t *testing.T) {
	e, only := twoKits(t)
	want := fmt.Sprintf("Would remove the lookup index of %d DB %s along with %s", len(only),
		plural(len(only), "layer", "layers"), plural(len(only), "its blob", "their blobs"))
	text := e.must("ouk", "gc", "--keep", "0", "--dry-run")
	if !strings.Contains(text, want) {
		t.Errorf("gc --dry-run output does not say the index goes with the blobs, want %q:\n%s", want, text)
	}
	if strings.Contains(text, "earlier gc") {
		t.Errorf("gc --dry-run output speaks of an earlier gc:\n%s", text)
	}

	for _, args := range [][]string{{"--dry-run"}, nil} {
		name := strings.TrimSpace("gc " + strings.Join(args, " "))
		out := e.must(append([]string{"ouk", "gc", "--keep", "0", "-o", "json"}, args...)...)
		var rep struct {
			IndexLayersRemoved  int `json:"indexLayersRemoved"`
			IndexLayersLeftover int `json:"indexLayersLeftover"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.IndexLayersRemoved != len(only) {
			t.Errorf("%s: indexLayersRemoved %d, want %d", name, rep.IndexLayersRemoved, len(only))
		}
		if rep.IndexLayersLeftover != 0 {
			t.Errorf("%s: indexLayersLeftover %d, want 0", name, rep.IndexLayersLeftover)
		}
	}
}
