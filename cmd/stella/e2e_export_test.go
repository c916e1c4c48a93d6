package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/bindmount"
	"stella-ops.org/ouk/oci"
)

// exportJSON runs `stella ouk export` with args and --format json and
// returns the parsed result.
func (e *env) exportJSON(args ...string) exportResult {
	e.t.Helper()
	out := e.must(append([]string{"ouk", "export", "--format", "json"}, args...)...)
	var res exportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		e.t.Fatalf("decoding the export result: %v\n%s", err, out)
	}
	return res
}

// exportFailure runs `stella ouk export` with args and --format json,
// which must fail, and returns the failure object and the result.
func (e *env) exportFailure(args ...string) (commandFailure, result) {
	e.t.Helper()
	r := e.run(append([]string{"ouk", "export", "--format", "json"}, args...)...)
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		e.t.Fatalf("export %s: decoding the failure object (exit %d): %v\n%s%s",
			strings.Join(args, " "), r.code, err, r.stdout, r.stderr)
	}
	return failure, r
}

// assertSameFile fails the test unless the files got and want have the
// same bytes.
func assertSameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes)", filepath.Base(got), len(a), filepath.Base(want), len(b))
	}
}

// unzstdFile writes the decompressed content of the zstd file src to dst.
func unzstdFile(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	plain, err := dec.DecodeAll(raw, nil)
	if err != nil {
		t.Fatalf("decompressing %s: %v", src, err)
	}
	if err := os.WriteFile(dst, plain, 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertOnlyFiles fails the test unless the folder dir contains exactly
// the entries names, so that no temporary file is left.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("folder %s contains %q, want %q", dir, got, names)
	}
}

// A kit imported in full is exported with the bytes that build wrote, so
// the detached signature of the built file verifies the export, and the
// export imports into a new store with the same bundle digest and lookups.
func TestExportActiveMatchesBuiltKit(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--version", "1.0.0", "--sequence", "1",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir))
	e.must("ouk", "sign", "--key", e.key, kit)
	e.importJSON(kit)
	digest := e.activeDigest()

	out := filepath.Join(e.dir, "out", "exported.tar.zst")
	res := e.exportJSON("-o", out)
	if res.Digest != digest || res.Version != "1.0.0" || res.Sequence != 1 || res.Output != out {
		t.Errorf("export result %+v, want kit 1.0.0 %s written to %s", res, digest, out)
	}
	if res.Signatures != 1 || res.IndexTablesLeftOut {
		t.Errorf("export result counts %d signatures, index tables left out %v; want 1 and false",
			res.Signatures, res.IndexTablesLeftOut)
	}
	if info, err := os.Stat(out); err != nil || info.Size() != res.Size {
		t.Errorf("export reports %d bytes, the file is %v (%v)", res.Size, info, err)
	}
	assertSameFile(t, out, kit)
	assertOnlyFiles(t, filepath.Dir(out), "exported.tar.zst")

	// The other suffixes give the same tar stream, compressed as named.
	plainBuilt := filepath.Join(e.dir, "built.tar")
	unzstdFile(t, kit, plainBuilt)
	plain := filepath.Join(e.dir, "exported.tar")
	e.must("ouk", "export", "active", "-o", plain)
	assertSameFile(t, plain, plainBuilt)
	gz := filepath.Join(e.dir, "exported.tgz")
	e.must("ouk", "export", "-o", gz)
	if out := e.must("ouk", "verify", "--key", e.pub, gz); !strings.Contains(out, "Signature in kit: passed") {
		t.Errorf("verify of the .tgz export does not pass the signature:\n%s", out)
	}
	stdout := e.run("ouk", "export", "-o", "-")
	if stdout.code != 0 || stdout.stdout != string(mustRead(t, plainBuilt)) {
		t.Errorf("export -o -: exit %d, %d bytes on stdout, want the %d bytes of the built tar\n%s",
			stdout.code, len(stdout.stdout), len(mustRead(t, plainBuilt)), stdout.stderr)
	}

	verified := e.must("ouk", "verify", "--key", e.pub, "--signature", kit+".sig", out)
	if strings.Count(verified, "signature: passed")+strings.Count(verified, "in kit: passed") != 2 {
		t.Errorf("verify of the export with the built file's signature did not pass both checks:\n%s", verified)
	}
	if sigs := inspectBundleSignatures(t, e, out); len(sigs) != 1 || !sigs[0].Verified {
		t.Errorf("inspect of the export reports the bundle signatures %+v, want one verified", sigs)
	}

	fresh := newEnvWithKeys(t, e)
	fresh.importJSON(out)
	if got := fresh.activeDigest(); got != digest {
		t.Fatalf("import of the export activates %s, want %s", got, digest)
	}
	for i, got := range fresh.lookupAll() {
		if want := e.lookupAll()[i]; got != want {
			t.Errorf("lookup %d after importing the export:\n%s\nafter importing the built kit:\n%s", i, got, want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A kit that arrived as a delta is exported as the full kit, so a store
// that never held its base imports it.
func TestExportAfterDeltaImport(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	if res := e.importJSON(series[1].delta); res.Kind != "delta" {
		t.Fatalf("the second import is of kind %q, want delta", res.Kind)
	}

	out := filepath.Join(e.dir, "night-02.exported.tar.zst")
	res := e.exportJSON("-o", out)
	if res.Digest != series[1].digest {
		t.Fatalf("export wrote kit %s, want night 2 %s", res.Digest, series[1].digest)
	}
	assertSameFile(t, out, series[1].full)
	var rep inspectReport
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", "--key", e.pub, out)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Kind != oci.KindFull {
		t.Errorf("inspect of the export reports kind %q, want %q", rep.Kind, oci.KindFull)
	}

	fresh := newEnvWithKeys(t, e)
	imported := fresh.importJSON(out)
	if imported.Kind != oci.KindFull {
		t.Errorf("import of the export into a new store is of kind %q, want %q", imported.Kind, oci.KindFull)
	}
	if got := fresh.activeDigest(); got != series[1].digest {
		t.Fatalf("import of the export activates %s, want %s", got, series[1].digest)
	}
	for _, id := range []string{"STELLA-DEMO-2026-0001", "STELLA-NIGHT-0002"} {
		if a, b := e.must("db", "lookup", "-o", "json", id), fresh.must("db", "lookup", "-o", "json", id); a != b {
			t.Errorf("lookup %s differs between the delta import and the export's import:\n%s\n%s", id, a, b)
		}
	}
}

// An export names a kit of the history by a digest prefix, and an unknown
// digest or a KIT that is a file fails before anything is written.
func TestExportDigestPrefix(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit1)
	first := e.activeDigest()
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	prefix := strings.TrimPrefix(first, "sha256:")[:8]
	for i, arg := range []string{prefix, "sha256:" + prefix, first} {
		out := filepath.Join(e.dir, fmt.Sprintf("by-digest-%d.tar", i))
		if res := e.exportJSON(arg, "-o", out); res.Digest != first || res.Version != "1.0.0" {
			t.Errorf("export %s wrote kit %s %s, want 1.0.0 %s", arg, res.Version, res.Digest, first)
		}
		assertSameFile(t, out, kit1)
	}

	missing := filepath.Join(e.dir, "missing.tar")
	failure, r := e.exportFailure("0000000000", "-o", missing)
	if r.code != exitError || failure.Reason != "not-found" || !strings.Contains(failure.Error, `"0000000000"`) {
		t.Errorf("export of an unknown digest: exit %d, reason %q, error %q; want exit %d, not-found, naming the digest",
			r.code, failure.Reason, failure.Error, exitError)
	}
	failure, r = e.exportFailure(kit1, "-o", missing)
	if r.code != exitUsage || failure.Reason != "invalid-argument" || !strings.Contains(failure.Error, "copy the file itself") {
		t.Errorf("export of a kit file: exit %d, reason %q, error %q; want exit %d, invalid-argument",
			r.code, failure.Reason, failure.Error, exitUsage)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s (%v)", missing, err)
	}
}

// An existing OUT is kept unless --force is given.
func TestExportExistingOutput(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit)
	dir := filepath.Join(e.dir, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "kit.tar")
	if err := os.WriteFile(out, []byte("earlier"), 0o644); err != nil {
		t.Fatal(err)
	}

	failure, r := e.exportFailure("-o", out)
	if r.code != exitError || failure.Reason != "already-exists" || !strings.Contains(failure.Error, "--force") {
		t.Errorf("export over an existing file: exit %d, reason %q, error %q; want exit %d, already-exists, "+
			"naming --force", r.code, failure.Reason, failure.Error, exitError)
	}
	if got := string(mustRead(t, out)); got != "earlier" {
		t.Errorf("the failed export changed the existing file to %d bytes", len(got))
	}

	e.must("ouk", "export", "--force", "-o", out)
	assertSameFile(t, out, kit)
	assertOnlyFiles(t, dir, "kit.tar")

	folder := filepath.Join(e.dir, "folder.tar")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := e.run("ouk", "export", "-o", folder); r.code != exitUsage || !strings.Contains(r.stderr, "is an existing folder") {
		t.Errorf("export to a folder: exit %d, want %d naming the folder\n%s", r.code, exitUsage, r.stderr)
	}
}

// The store keeps no pre-built index tables, so the export of a kit built
// with them leaves them out and reports that, and its import indexes the DB
// layers from their records with the same lookup results.
func TestExportIndexTablesKit(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(1, "--index-tables")
	e.importJSON(series[0].full)

	out := filepath.Join(e.dir, "exported.tar.zst")
	res := e.exportJSON("-o", out)
	if !res.IndexTablesLeftOut {
		t.Errorf("export of a kit with index tables reports indexTablesLeftOut false")
	}
	r := e.run("ouk", "export", "-o", filepath.Join(e.dir, "text.tar"))
	if r.code != 0 || !strings.Contains(r.stdout, "index tables   left out") || !strings.Contains(r.stderr, "no pre-built lookup index tables") {
		t.Errorf("text export of a kit with index tables: exit %d, no note on the tables\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := e.must("ouk", "verify", "--key", e.pub, out); !strings.Contains(out, "Signature in kit: passed") {
		t.Errorf("verify of the export does not pass the signature:\n%s", out)
	}

	fresh := newEnvWithKeys(t, e)
	imported := fresh.importJSON(out)
	if imported.LayersIndexed == 0 || imported.LayersFromTables != 0 {
		t.Errorf("import of the export indexed %d layers, %d from tables; want all from their records",
			imported.LayersIndexed, imported.LayersFromTables)
	}
	if got := fresh.activeDigest(); got != series[0].digest {
		t.Fatalf("import of the export activates %s, want %s", got, series[0].digest)
	}
	want := e.lookupAll()
	for i, got := range fresh.lookupAll() {
		if got != want[i] {
			t.Errorf("lookup %d after importing the export:\n%s\nafter importing the built kit:\n%s", i, got, want[i])
		}
	}
}

// While the store service holds the store, an export runs in the service
// and writes its relative OUT in the client's working folder.
func TestExportThroughService(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit)
	svc := e.startService()

	client := filepath.Join(e.dir, "client")
	if err := os.MkdirAll(client, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"ouk", "export", "--format", "json", "-o", "exported.tar.zst"}
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	cmd.Env = append(os.Environ(), "STELLA_HOME="+e.store)
	cmd.Dir = client
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("export through the service: %v\n%s", err, raw)
	}
	var res exportResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("decoding the export result: %v\n%s", err, raw)
	}
	assertSameFile(t, filepath.Join(client, "exported.tar.zst"), kit)
	waitForLog(t, &svc.stderr, svc.exited, `command="ouk export"`)

	// The service sends a kit written to stdout to the client's stdout.
	plainBuilt := filepath.Join(e.dir, "built.tar")
	unzstdFile(t, kit, plainBuilt)
	stdout := e.run("ouk", "export", "-o", "-")
	if stdout.code != 0 || stdout.stdout != string(mustRead(t, plainBuilt)) {
		t.Errorf("export -o - through the service: exit %d, %d bytes on stdout, want the %d bytes of the built tar\n%s",
			stdout.code, len(stdout.stdout), len(mustRead(t, plainBuilt)), stdout.stderr)
	}
	svc.stopService(t, e.store)
}

// oras and regctl read the layout of an exported kit as they read a built
// one: the tag of the kit version, and the signature as a referrer.
func TestExportLayoutReadByPeers(t *testing.T) {
	oras := toolPath(t, "oras")
	toolPath(t, "regctl")
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	kit := filepath.Join(e.dir, "exported.tar")
	e.must("ouk", "export", "-o", kit)
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, kit, dir)

	if tags := runTool(t, oras, "repo", "tags", "--oci-layout", dir); !strings.Contains(tags, "night-02") {
		t.Errorf("oras repo tags does not list the kit version night-02:\n%s", tags)
	}
	copyDir := filepath.Join(e.dir, "oras-copy")
	runTool(t, oras, "cp", "--from-oci-layout", dir+":night-02", "--to-oci-layout", copyDir+":night-02")
	fresh := newEnvWithKeys(t, e)
	fresh.must("ouk", "import", "--insecure-skip-signature", copyDir)
	if got := fresh.activeDigest(); got != series[1].digest {
		t.Errorf("import of the oras copy activates %s, want %s", got, series[1].digest)
	}

	sigs := layoutSignatures(t, dir)
	if len(sigs) != 1 {
		t.Fatalf("index.json of the export lists %d signature manifests, want 1", len(sigs))
	}
	listed := listedReferrers(t, "ocidir://"+dir+":night-02")
	if want := oci.MediaTypeSigstoreBundle + " " + sigs[0]; len(listed) != 1 || listed[0] != want {
		t.Errorf("regctl artifact list of the exported layout = %q, want [%q]", listed, want)
	}
}

// A blob that the store cannot read fails the export with the
// store-damaged reason and a message that names the blob, and leaves no
// file behind.
func TestExportDamagedBlob(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir)))
	// The image layers of 3 MiB each have table files of their own, and
	// the other tables are far smaller: damaging one large table leaves
	// the kit's metadata readable. Such a table holds a layer's chunks of
	// 1 MiB, each in a block of 1048684 bytes with its key and trailer,
	// and then the short last chunk. The damage goes into that last
	// block, because Pebble (v2.1.7, internal/bitflip) checksums a damaged
	// block again for each flip of a bit in its first 40 KiB, which takes
	// seconds for a block of 1 MiB.
	const lastBlock = 3 * 1048684
	damaged := ""
	for _, table := range e.storeTables() {
		if info, err := os.Stat(table); err == nil && info.Size() > lastBlock {
			overwriteAt(t, table, lastBlock+100)
			damaged = table
			break
		}
	}
	if damaged == "" {
		t.Fatal("the store has no table file over 1 MiB to damage")
	}

	// The export creates the missing folders of its output, and removes
	// them again when it writes no file.
	dir := filepath.Join(e.dir, "out")
	failure, r := e.exportFailure("-o", filepath.Join(dir, "new", "kit.tar"))
	if r.code != exitError || failure.Reason != "store-damaged" {
		t.Errorf("export from a damaged store: exit %d, reason %q; want %d, store-damaged\n%s",
			r.code, failure.Reason, exitError, r.stderr)
	}
	if !strings.Contains(failure.Error, "blob sha256:") {
		t.Errorf("the failure does not name the blob: %q", failure.Error)
	}
	if !strings.Contains(failure.Error, damaged) {
		t.Errorf("the failure does not name the damaged file %s: %q", damaged, failure.Error)
	}
	if !strings.Contains(failure.Error, "The export wrote no kit file") {
		t.Errorf("the failure does not say what the export left: %q", failure.Error)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the failed export left the folder %s it created (%v)", dir, err)
	}
}

// An export that runs out of room for its file fails with the disk-full
// reason and leaves no partial file: a file size limit of 1 MiB stops the
// write of a kit whose image layers take 6 MiB.
func TestExportFileSizeLimit(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir)))
	dir := filepath.Join(e.dir, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.runWithFileLimit(2048, "ouk", "export", "--format", "json", "-o", filepath.Join(dir, "kit.tar"))
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("decoding the failure object (exit %d): %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if r.code != exitError || failure.Reason != "disk-full" {
		t.Errorf("export over the file size limit: exit %d, reason %q; want %d, disk-full\n%s",
			r.code, failure.Reason, exitError, r.stderr)
	}
	assertOnlyFiles(t, dir)
}

// holdExportEnv makes the test binary run stella itself with
// exportWriting set, so that an export stops while its kit is pinned and
// its temporary file exists. It prints exportHeldLine on stderr there and
// goes on once the file that the variable names exists, or once the
// command is cancelled.
const holdExportEnv = "STELLA_E2E_HOLD_EXPORT"

const exportHeldLine = "e2e: the export is writing its temporary file"

// runHeldExportFromEnv runs stella with the arguments of the test binary
// and exits, when holdExportEnv is set.
func runHeldExportFromEnv() {
	release, ok := os.LookupEnv(holdExportEnv)
	if !ok {
		return
	}
	exportWriting = func(ctx context.Context) {
		fmt.Fprintln(os.Stderr, exportHeldLine)
		waitForFile(ctx, release)
	}
	main()
	os.Exit(exitOK)
}

// An export interrupted in the middle of its file exits with 130, leaves
// no file, temporary or not, and releases its pin.
func TestExportInterrupted(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	dir := filepath.Join(e.dir, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	never := filepath.Join(e.dir, "never-released")
	exporting := e.startHeldByHook(holdExportEnv+"="+never, exportHeldLine, "ouk", "export", "-o", filepath.Join(dir, "kit.tar"))
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".kit.tar.") {
		t.Fatalf("while the export writes, the folder holds %v (%v), want its temporary file", entries, err)
	}
	signalProcess(t, exporting, syscall.SIGINT)
	r := exporting.result(t, "SIGINT")
	if r.code != exitInterrupted {
		t.Errorf("interrupted export: exit %d, want %d\n%s", r.code, exitInterrupted, r.stderr)
	}
	assertOnlyFiles(t, dir)
	assertNoPinLeft(t, e)
}

// An export in the store service pins its kit, so a gc --keep 0 that runs
// in the middle of the export keeps the kit, and the export completes.
func TestExportServicePinSurvivesGC(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit1)
	first := e.activeDigest()
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	release := filepath.Join(e.dir, "release-export")
	serve := exec.Command(os.Args[0], "--store", e.store, "serve")
	svc := e.startBackground(serve, []string{"serve"}, holdExportEnv+"="+release)
	waitForLog(t, &svc.stderr, svc.exited, "store service started")

	out := filepath.Join(e.dir, "kit1-exported.tar")
	export := exec.Command(stellaBin, "--store", e.store, "ouk", "export", first, "-o", out)
	exporting := e.startBackground(export, []string{"ouk", "export"})
	waitForLog(t, &svc.stderr, svc.exited, exportHeldLine)
	gc := e.gcJSON("--keep", "0")
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if gc.Removed != 0 {
		t.Errorf("gc --keep 0 during the export removed %d blobs, want 0, because the export pins kit 1.0.0", gc.Removed)
	}

	r := exporting.result(t, "the export was released")
	if r.code != 0 {
		t.Fatalf("export during gc: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertSameFile(t, out, kit1)
	svc.stopService(t, e.store)
}

// An export opens the store as a reader does, so it works on a read-only
// mount of the store, where it can take no pin.
func TestExportReadOnlyMount(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit)
	ro := bindmount.ReadOnly(t, e.store)

	out := filepath.Join(e.dir, "exported.tar")
	r := e.runOn(ro, "ouk", "export", "-o", out)
	if r.code != 0 {
		t.Fatalf("export from a read-only mount: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertSameFile(t, out, kit)
}

// cosign verifies the export with the detached signature of the built
// file, because the two files have the same bytes.
func TestExportCosignVerifiesBuiltSignature(t *testing.T) {
	cosign := toolPath(t, "cosign")
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "sign", "--key", e.key, kit)
	e.importJSON(kit)
	out := filepath.Join(e.dir, "exported.tar.zst")
	e.must("ouk", "export", "-o", out)

	verified := runTool(t, cosign, "verify-blob", "--key", e.pub, "--signature", kit+".sig", "--insecure-ignore-tlog", out)
	if !strings.Contains(verified, "Verified OK") {
		t.Errorf("cosign did not verify the export with the built file's signature:\n%s", verified)
	}
}

// An export warns when an import at the receiving site will reject the
// file: a kit without a signature, or one that has expired.
func TestExportWarnsUnsignedOrExpired(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--insecure-skip-signature", e.buildUnsignedKit("unsigned.tar", demoImage(t, e.dir)))
	r := e.run("ouk", "export", "-o", filepath.Join(e.dir, "unsigned-export.tar"))
	if r.code != 0 {
		t.Fatalf("export of an unsigned kit: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "carries no signature") || !strings.Contains(r.stderr, "--insecure-skip-signature") {
		t.Errorf("export of an unsigned kit does not warn that an import rejects it:\n%s", r.stderr)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	kit := e.buildKit("expired.tar", "--version", "2.0.0", "--sequence", "2", "--expires", "1h")
	e.must("ouk", "import", "--key", e.pub, "--allow-expired", kit)
	res := e.exportJSON("-o", filepath.Join(e.dir, "expired-export.tar"))
	if !res.Expired || res.Expires.IsZero() {
		t.Errorf("export of an expired kit: expired %v, expires %v; want true and the expiry", res.Expired, res.Expires)
	}
	r = e.run("ouk", "export", "-o", filepath.Join(e.dir, "expired-export-2.tar"))
	if !strings.Contains(r.stderr, "has expired") || !strings.Contains(r.stderr, "--allow-expired") {
		t.Errorf("export of an expired kit does not warn that an import rejects it:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "expired        2001-09-09T02:46:40Z") {
		t.Errorf("export of an expired kit does not show its expiry:\n%s", r.stdout)
	}
}

// An export from a store without an active kit reports that once, with
// the next step.
func TestExportWithoutActiveKit(t *testing.T) {
	e := newEnv(t)
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	failure, r := e.exportFailure("-o", filepath.Join(e.dir, "kit.tar"))
	if r.code != exitError || failure.Reason != "not-found" {
		t.Errorf("export without an active kit: exit %d, reason %q; want %d, not-found", r.code, failure.Reason, exitError)
	}
	if n := strings.Count(failure.Error, "no kit is active"); n != 1 {
		t.Errorf("the message says %d times that no kit is active: %q", n, failure.Error)
	}
	if !strings.Contains(failure.Error, "ouk history") {
		t.Errorf("the message does not name the history: %q", failure.Error)
	}
}

// An output path under a file is a usage error that names the file.
func TestExportOutputUnderFile(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.importJSON(kit)
	failure, r := e.exportFailure("-o", filepath.Join(kit, "sub", "x.tar"))
	if r.code != exitUsage || failure.Reason != "invalid-argument" {
		t.Errorf("export under a file: exit %d, reason %q; want %d, invalid-argument", r.code, failure.Reason, exitUsage)
	}
	if !strings.Contains(failure.Error, "under "+kit+", which is a file") {
		t.Errorf("the message does not name the file %s: %q", kit, failure.Error)
	}
}
