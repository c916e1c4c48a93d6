package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/bindmount"
	"stella-ops.org/ouk/internal/vulndb"
)

// checkImageRef is the reference of the image in the kits of these tests.
const checkImageRef = "registry.example.test/stella-ops/scanner:0.1.0"

// importImageKit builds a kit with the demo image, whose layers are large
// enough to get table files of their own, imports it and returns the
// flushed table files of the store.
func (e *env) importImageKit() []string {
	e.t.Helper()
	image := demoImage(e.t, e.t.TempDir())
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--image", checkImageRef+"="+image))
	return e.storeTables()
}

// runCheck runs `stella ouk check -o json` with args and decodes its
// report, which it prints whatever its exit code.
func (e *env) runCheck(args ...string) (checkReport, result) {
	e.t.Helper()
	r := e.run(append([]string{"ouk", "check", "-o", "json"}, args...)...)
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("decoding the check report (exit %d): %v\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	return rep, r
}

// flipBit inverts the lowest bit of the byte at offset in the file at
// path, as bit rot on the disk does. Pebble v2.1.7 searches the first 40
// KiB of a damaged block for a single flipped bit before it reports the
// damage, which takes most of a minute for a block of 1 MiB when it finds
// none. A flip near the start of a block keeps that search short.
func flipBit(t *testing.T, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}

// largestFile returns the largest of paths and its size.
func largestFile(t *testing.T, paths []string) (string, int64) {
	t.Helper()
	var best string
	var size int64
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > size {
			best, size = p, info.Size()
		}
	}
	return best, size
}

// storedBlob returns the size of blob d in the store, or -1 when the store
// lacks it.
func (e *env) storedBlob(d string) int64 {
	e.t.Helper()
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer store.Close()
	info, err := store.Stat(context.Background(), digest.Digest(d))
	if err != nil {
		return -1
	}
	return info.Size
}

func TestCheckSoundStore(t *testing.T) {
	e := newEnv(t)
	e.importImageKit()
	active := e.activeDigest()

	rep, r := e.runCheck("--key", e.pub)
	if r.code != 0 {
		t.Fatalf("check of a sound store: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if rep.Status != "passed" || len(rep.Problems) != 0 {
		t.Errorf("check of a sound store: status %q, problems %+v", rep.Status, rep.Problems)
	}
	if len(rep.Kits) != 1 {
		t.Fatalf("check reported %d kits, want the active kit: %+v", len(rep.Kits), rep.Kits)
	}
	k := rep.Kits[0]
	if k.Digest != active || !k.Active {
		t.Errorf("checked kit %s (active %v), want the active kit %s", k.Digest, k.Active, active)
	}
	// Two image layers of 3 MiB each, among other blobs.
	if k.Blobs < 8 || k.Bytes < 6<<20 {
		t.Errorf("checked %d blobs of %d bytes, want every blob of the kit, its two image layers included",
			k.Blobs, k.Bytes)
	}
	if k.DBLayers == 0 || k.IndexKeys == 0 {
		t.Errorf("checked %d index keys in %d DB layers, want the lookup index of the kit's DB", k.IndexKeys, k.DBLayers)
	}
	if k.Signature != "passed" || k.SignedBy != e.pub {
		t.Errorf("signature %q by %q, want passed by %s", k.Signature, k.SignedBy, e.pub)
	}

	r = e.run("ouk", "check", "--key", e.pub)
	if r.code != 0 || !strings.Contains(r.stdout, "No problems found") {
		t.Errorf("text check of a sound store: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	rep, r = e.runCheck("--all", "--key", e.pub)
	if r.code != 0 || rep.Status != "passed" {
		t.Errorf("check --all of a sound store: exit %d, status %q\nstderr: %s", r.code, rep.Status, r.stderr)
	}
	if rep.OtherBlobs == nil || rep.TableKeys == 0 {
		t.Errorf("check --all: other blobs %+v, %d table keys; want both checked", rep.OtherBlobs, rep.TableKeys)
	}
}

func TestCheckDamagedImageLayer(t *testing.T) {
	e := newEnv(t)
	tables := e.importImageKit()
	// The image layers are the largest blobs, and each has a table file
	// of its own.
	table, _ := largestFile(t, tables)
	flipBit(t, table, 100)

	// A lookup reads no image layer, so it misses the damage.
	if r := e.run("db", "lookup", "STELLA-DEMO-2026-0001"); r.code != 0 {
		t.Fatalf("db lookup on the damaged store: exit %d, want 0\n%s", r.code, r.stderr)
	}

	rep, r := e.runCheck("--key", e.pub)
	checkStoreDamagedFailure(t, e, "check", r, "The check changed nothing in the store.")
	if rep.Status != "failed" || len(rep.Problems) == 0 {
		t.Fatalf("check: status %q, problems %+v; want the damaged layer", rep.Status, rep.Problems)
	}
	p := rep.Problems[0]
	if p.Kind != problemDamaged {
		t.Errorf("problem kind %q, want %q", p.Kind, problemDamaged)
	}
	if !strings.HasPrefix(p.Role, "layer 1 of image "+checkImageRef+" (linux/") {
		t.Errorf("problem role %q, want the layer of the image", p.Role)
	}
	if e.storedBlob(p.Digest) < 1<<20 {
		t.Errorf("problem names blob %q, which is not an image layer of the store", p.Digest)
	}
	for _, want := range []string{"blob " + p.Digest, "layer 1 of image " + checkImageRef, filepath.Base(table)} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check: stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	r = e.run("ouk", "check", "--key", e.pub)
	if r.code != exitError || !strings.Contains(r.stdout, "damaged: blob "+p.Digest) {
		t.Errorf("text check: exit %d, want %d and the damaged blob\nstdout: %s", r.code, exitError, r.stdout)
	}

	// Pebble's check of every table meets the damaged block too.
	rep, r = e.runCheck("--all", "--key", e.pub)
	checkStoreDamagedFailure(t, e, "check --all", r, "The check changed nothing in the store.")
	tableDamage := slices.ContainsFunc(rep.Problems, func(p checkProblem) bool {
		return p.Kind == problemDamaged && p.Digest == "" && strings.Contains(p.Error, filepath.Base(table))
	})
	if !tableDamage {
		t.Errorf("check --all: problems %+v, want the damaged table among them", rep.Problems)
	}
}

func TestCheckDamagedIndexTable(t *testing.T) {
	e := newEnv(t)
	tables := e.importImageKit()
	// The import ingests the kit's pre-built lookup index tables, which
	// contain keys of the vulndb namespace and no blob data.
	var damaged []string
	for _, table := range tables {
		data, err := os.ReadFile(table)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("n/vulndb/")) && !bytes.Contains(data, []byte("c/sha256:")) {
			damaged = append(damaged, table)
			flipBit(t, table, 100)
		}
	}
	if len(damaged) == 0 {
		t.Fatalf("no table file of %v contains only lookup index keys", tables)
	}

	rep, r := e.runCheck("--key", e.pub)
	checkStoreDamagedFailure(t, e, "check", r, "The check changed nothing in the store.")
	if len(rep.Problems) == 0 {
		t.Fatalf("check found no problem in the damaged index tables %v", damaged)
	}
	p := rep.Problems[0]
	if p.Kind != problemDamaged || !strings.HasPrefix(p.Role, "layer ") || !strings.Contains(p.Role, "DB manifest") {
		t.Errorf("problem %+v, want damage in the lookup index of a DB layer", p)
	}
	if !slices.ContainsFunc(damaged, func(table string) bool { return strings.Contains(p.Error, filepath.Base(table)) }) {
		t.Errorf("problem error %q names none of the damaged tables %v", p.Error, damaged)
	}
}

func TestCheckMissingBlob(t *testing.T) {
	e := newEnv(t)
	e.importImageKit()
	kit := filepath.Join(e.dir, "kit.tar")

	// Remove the config of one platform's image manifest, as by hand.
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var config digest.Digest
	err = store.Blobs(ctx, func(info cas.BlobInfo) error {
		if config == "" && info.MediaType == ocispec.MediaTypeImageManifest {
			raw, err := readAll(ctx, store, info)
			if err != nil {
				return err
			}
			var m ocispec.Manifest
			if json.Unmarshal(raw, &m) == nil && m.Config.MediaType == ocispec.MediaTypeImageConfig {
				config = m.Config.Digest
			}
		}
		return nil
	})
	if err == nil && config == "" {
		t.Fatal("the store holds no image manifest with an image config")
	}
	if err == nil {
		err = store.Delete(ctx, ocispec.Descriptor{Digest: config})
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	rep, r := e.runCheck("--key", e.pub)
	if r.code != exitError {
		t.Errorf("check: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("check found problems %+v, want the missing config", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Kind != problemMissing || p.Digest != config.String() {
		t.Errorf("problem %s of blob %s, want %s of %s", p.Kind, p.Digest, problemMissing, config)
	}
	for _, want := range []string{"blob " + config.String(), "config of image " + checkImageRef + " (linux/",
		"Import the kit's file again", "also when the kit is active"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check: stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// The advice works: an import of the active kit stores the missing
	// blob again.
	e.must("ouk", "import", "--key", e.pub, kit)
	if rep, r := e.runCheck("--key", e.pub); r.code != 0 || rep.Status != "passed" {
		t.Errorf("check after the import again: exit %d, status %q\n%s", r.code, rep.Status, r.stderr)
	}
}

// readAll reads the stored blob info.
func readAll(ctx context.Context, store *cas.Store, info cas.BlobInfo) ([]byte, error) {
	r, err := store.Fetch(ctx, ocispec.Descriptor{Digest: info.Digest, Size: info.Size})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(r)
	return buf.Bytes(), err
}

func TestCheckReadOnlyStore(t *testing.T) {
	e := newEnv(t)
	e.importImageKit()
	ro := bindmount.ReadOnly(t, e.store)

	r := e.runOn(ro, "ouk", "check", "-o", "json", "--key", e.pub)
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check on a read-only mount: exit %d: %v\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	if r.code != 0 || rep.Status != "passed" || len(rep.Kits) != 1 {
		t.Errorf("check on a read-only mount: exit %d, status %q, %d kits\nstderr: %s", r.code, rep.Status,
			len(rep.Kits), r.stderr)
	}
}

func TestCheckThroughService(t *testing.T) {
	e := newEnv(t)
	e.importImageKit()
	svc := e.startService()

	rep, r := e.runCheck("--key", e.pub)
	if r.code != 0 || rep.Status != "passed" || len(rep.Kits) != 1 {
		t.Errorf("check through the service: exit %d, status %q, %d kits\nstderr: %s", r.code, rep.Status,
			len(rep.Kits), r.stderr)
	}
	svc.stopService(t, e.store)
	if !strings.Contains(svc.stderr.String(), "ouk check") {
		t.Errorf("the service log does not show that it ran the check:\n%s", svc.stderr.String())
	}
}

func TestCheckHistoryKits(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	first := e.activeDigest()
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	rep, r := e.runCheck("--all", "--key", e.pub)
	if r.code != 0 || len(rep.Kits) != 2 {
		t.Fatalf("check --all: exit %d, %d kits, want 0 and both kits\nstderr: %s", r.code, len(rep.Kits), r.stderr)
	}
	if !rep.Kits[0].Active || rep.Kits[0].Version != "2.0.0" || rep.Kits[1].Version != "1.0.0" {
		t.Errorf("check --all: kits %+v, want the active kit 2.0.0 first, then 1.0.0", rep.Kits)
	}
	if rep.Kits[1].Skipped != "" || rep.Kits[1].Signature != "passed" {
		t.Errorf("check --all: kit 1.0.0 skipped %q, signature %q; want it checked", rep.Kits[1].Skipped,
			rep.Kits[1].Signature)
	}

	// A KIT argument names a kit of the history by version or digest prefix.
	for _, arg := range []string{"1.0.0", first[:len("sha256:")+8]} {
		rep, r = e.runCheck("--key", e.pub, arg)
		if r.code != 0 || len(rep.Kits) != 1 || rep.Kits[0].Digest != first {
			t.Errorf("check %s: exit %d, kits %+v; want kit 1.0.0 alone\nstderr: %s", arg, r.code, rep.Kits, r.stderr)
		}
	}

	// gc removes kit 1.0.0, which --all then skips, while a KIT argument
	// that names it finds its blobs missing.
	e.must("ouk", "gc", "--keep", "0")
	rep, r = e.runCheck("--all", "--key", e.pub)
	if r.code != 0 || len(rep.Kits) != 2 || rep.Kits[1].Skipped == "" {
		t.Errorf("check --all after gc: exit %d, kits %+v; want 0 and kit 1.0.0 skipped\nstderr: %s", r.code,
			rep.Kits, r.stderr)
	}
	rep, r = e.runCheck("--key", e.pub, "1.0.0")
	if r.code != exitError || len(rep.Problems) == 0 || rep.Problems[0].Kind != problemMissing {
		t.Errorf("check 1.0.0 after gc: exit %d, problems %+v; want %d and a missing blob\nstderr: %s", r.code,
			rep.Problems, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, "the store no longer contains kit 1.0.0") {
		t.Errorf("check 1.0.0 after gc: stderr does not say that the store no longer contains the kit:\n%s", r.stderr)
	}
}

func TestCheckSignatureNoTrustedKey(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0"))

	// The import trusted the key given with --key, and the store's keys
	// folder is empty.
	rep, r := e.runCheck()
	if r.code != exitRejected {
		t.Errorf("check without a trusted key: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != problemSignature {
		t.Fatalf("check without a trusted key: problems %+v, want one signature problem", rep.Problems)
	}
	if len(rep.Kits) != 1 || rep.Kits[0].Signature != "failed" {
		t.Errorf("check without a trusted key: kits %+v, want the signature failed", rep.Kits)
	}
	if !strings.Contains(r.stderr, "was last activated with the key "+e.pub) {
		t.Errorf("check without a trusted key: stderr does not name the key of the import:\n%s", r.stderr)
	}
	keysDir := filepath.Join(e.store, storeKeysDir)
	if !strings.Contains(r.stderr, "no trusted key was given with --key or found in the store's keys folder "+keysDir) {
		t.Errorf("check without a trusted key: stderr does not say that no key was given or found:\n%s", r.stderr)
	}
	// check has no --insecure-skip-signature flag, and no signature
	// failed to verify.
	for _, unwanted := range []string{"--insecure-skip-signature", "roll back", "signature verification failed"} {
		if strings.Contains(r.stderr, unwanted) {
			t.Errorf("check without a trusted key: stderr contains %q:\n%s", unwanted, r.stderr)
		}
	}

	// The advice works: the key in the store's keys folder verifies the
	// kit.
	if err := os.MkdirAll(keysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(e.pub)
	if err == nil {
		err = os.WriteFile(filepath.Join(keysDir, "builder.pub"), data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep, r := e.runCheck(); r.code != 0 || rep.Status != "passed" {
		t.Errorf("check with the key in the keys folder: exit %d, status %q\n%s", r.code, rep.Status, r.stderr)
	}

	// A key that the keys folder lacks now may have been revoked.
	e.must("ouk", "import", e.buildKit("kit2.tar", "--version", "2.0.0"))
	if err := os.Remove(filepath.Join(keysDir, "builder.pub")); err != nil {
		t.Fatal(err)
	}
	_, r = e.runCheck()
	if r.code != exitRejected || !strings.Contains(r.stderr, "If that key was removed to revoke it") {
		t.Errorf("check after the key of the keys folder was removed: exit %d, want %d and the revocation\n%s",
			r.code, exitRejected, r.stderr)
	}
}

func TestCheckMissingLookupIndex(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	e.importJSON(kit)

	// Remove the lookup index of the first DB layer, without which lookups
	// and scans of the kit fail.
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	index := store.KV(importer.VulnDBNamespace)
	layers, err := vulndb.IndexedLayers(index)
	if err == nil && len(layers) == 0 {
		t.Fatal("the store has no indexed DB layer")
	}
	if err == nil {
		err = vulndb.DropLayer(index, layers[0])
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	rep, r := e.runCheck("--key", e.pub)
	if r.code != exitError {
		t.Errorf("check: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != problemIndex || rep.Problems[0].Digest != layers[0].String() {
		t.Fatalf("check found problems %+v, want the missing index of layer %s", rep.Problems, layers[0])
	}
	if !strings.Contains(r.stderr, "Import the kit's file again") {
		t.Errorf("check: stderr gives no fix:\n%s", r.stderr)
	}

	// The advice works: an import of the active kit indexes the layer again.
	e.must("ouk", "import", "--key", e.pub, kit)
	if rep, r := e.runCheck("--key", e.pub); r.code != 0 || rep.Status != "passed" {
		t.Errorf("check after the import again: exit %d, status %q\n%s", r.code, rep.Status, r.stderr)
	}
}
