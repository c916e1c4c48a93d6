package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
)

// storeTables flushes the store into table files and returns their paths.
// An open for writing flushes the records that the last command left in
// the write-ahead log into table files, and Close waits for that flush.
// So every record is in a table file that damage reaches, as in a store
// that has been in use for a while.
func (e *env) storeTables() []string {
	e.t.Helper()
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		e.t.Fatal(err)
	}
	tables, err := filepath.Glob(filepath.Join(e.store, storeDBDir, "*.sst"))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(tables) == 0 {
		e.t.Fatalf("the store %s has no table files", e.store)
	}
	return tables
}

// overwriteAt writes a few bytes at offset into the file at path, as bit
// rot on the disk does.
func overwriteAt(t *testing.T, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte("QQQQQQQQ"), offset)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// damageStoreTables overwrites a few bytes in the first data block of
// every table file of the store and returns the paths of the files.
func (e *env) damageStoreTables() []string {
	e.t.Helper()
	tables := e.storeTables()
	for _, table := range tables {
		// Offset 100 lies in the first data block of even the smallest
		// table the import writes.
		overwriteAt(e.t, table, 100)
	}
	return tables
}

// checkStoreDamagedFailure checks that r, the result of a command that met
// a damaged store, exits 1 without a panic. Its message must name a file of
// the store, state that the store is damaged and give the steps to recover.
func checkStoreDamagedFailure(t *testing.T, e *env, label string, r result, wantOutcome string) {
	t.Helper()
	if r.code != exitError {
		t.Errorf("%s: exit %d, want %d\n%s", label, r.code, exitError, r.stderr)
	}
	for _, crash := range []string{"panic:", "goroutine "} {
		if strings.Contains(r.stderr, crash) {
			t.Errorf("%s: stderr contains %q:\n%s", label, crash, r.stderr)
		}
	}
	for _, want := range []string{
		"the store is damaged: its file " + filepath.Join(e.store, storeDBDir) + string(filepath.Separator),
		wantOutcome,
		"Restore the store folder " + e.store + " from a backup, or move it aside and import the kits again",
		"Check the disk for errors",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", label, want, r.stderr)
		}
	}
}

// TestDamagedStoreTables damages the table files of a store with an
// imported kit and checks that scan, gc, gc --dry-run, a dry run of
// mirror and a watch round fail with exit code 1 and a message about the damaged store, not with a
// panic.
func TestDamagedStoreTables(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.importJSON(kit)
	e.damageStoreTables()

	sbom := filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json")
	drop := e.newDrop("drop", kit)
	for _, tc := range []struct {
		args    []string
		outcome string
	}{
		{[]string{"scan", "--sbom", sbom}, "The active kit could not be read."},
		{[]string{"ouk", "gc", "--dry-run"}, "The dry run removed nothing."},
		{[]string{"ouk", "gc"}, "gc stopped, and the active kit is unchanged"},
		// A dry run contacts no registry.
		{[]string{"ouk", "mirror", "--dry-run", "--to", "127.0.0.1:9/site", "--key", e.pub},
			"The active kit could not be read."},
		{[]string{"ouk", "watch", "--once", "--key", e.pub, drop},
			"the store failed, not the kit; the store is damaged"},
	} {
		label := strings.Join(tc.args, " ")
		checkStoreDamagedFailure(t, e, label, e.run(tc.args...), tc.outcome)
	}

	for _, args := range [][]string{
		{"scan", "--sbom", sbom, "-o", "json"},
		{"ouk", "gc", "-o", "json"},
	} {
		r := e.run(args...)
		var failure commandFailure
		if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
			t.Errorf("%s: decoding the failure object: %v\n%s", strings.Join(args, " "), err, r.stdout)
			continue
		}
		if failure.Reason != "store-damaged" || failure.ExitCode != exitError {
			t.Errorf("%s: reason %q, exit code %d; want store-damaged and %d",
				strings.Join(args, " "), failure.Reason, failure.ExitCode, exitError)
		}
		if !strings.Contains(failure.Error, "Restore the store folder") {
			t.Errorf("%s: the failure object's error gives no advice: %q", strings.Join(args, " "), failure.Error)
		}
	}
}

// TestDamagedStoreMirror checks that a mirror to a registry fails with
// exit code 1 and a message about the damaged store, not with a panic.
func TestDamagedStoreMirror(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))
	reg := startRegistry(t, false)
	e.damageStoreTables()

	r := e.run("ouk", "mirror", "--plain-http", "--to", reg.host+"/site", "--key", e.pub)
	checkStoreDamagedFailure(t, e, "mirror", r, "The active kit could not be read.")
}

// TestDamagedStoreWatchExits checks that a watch that runs until stopped
// ends with exit code 1 and the store failure line when its store is
// damaged, so that a service manager restarts it and shows why.
func TestDamagedStoreWatchExits(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--sequence", "1"))
	e.damageStoreTables()
	// A newer kit, whose import reads the store, so the first round meets
	// the damage.
	drop := e.newDrop("drop", e.buildKit("kit2.tar", "--sequence", "2"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"ouk", "watch", "--interval", "1s", "--key", e.pub, drop}
	cmd := exec.CommandContext(ctx, stellaBin, append([]string{"--store", e.store}, args...)...)
	r := e.runCommand(cmd, args)
	if ctx.Err() != nil {
		t.Fatalf("the watch did not end on the damaged store:\n%s", r.stderr)
	}
	checkStoreDamagedFailure(t, e, "watch", r, "the store failed, not the kit; the store is damaged")
}

// TestDamagedStoreMissingTable removes a table file of a store and checks
// that commands name the missing file and give the steps to recover.
func TestDamagedStoreMissingTable(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))
	tables, err := filepath.Glob(filepath.Join(e.store, storeDBDir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("listing the table files of %s: %v, %d found", e.store, err, len(tables))
	}
	if err := os.Remove(tables[0]); err != nil {
		t.Fatal(err)
	}

	sbom := filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json")
	for _, tc := range []struct {
		args    []string
		outcome string
	}{
		{[]string{"ouk", "status"}, "The active kit could not be read."},
		{[]string{"scan", "--sbom", sbom}, "The active kit could not be read."},
		{[]string{"ouk", "gc"}, "gc stopped, and the active kit is unchanged"},
	} {
		label := strings.Join(tc.args, " ")
		r := e.run(tc.args...)
		checkStoreDamagedFailure(t, e, label, r, tc.outcome)
		if want := tables[0] + " is missing"; !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", label, want, r.stderr)
		}
	}
}

// damageLargestStoreTable overwrites a few bytes in the middle of the
// largest table file of the store, which contains chunks of image layers.
// The other tables stay intact, so reads of blob metadata succeed, and the
// damage appears only while blob data is read.
func (e *env) damageLargestStoreTable() string {
	e.t.Helper()
	largest, largestSize := "", int64(-1)
	for _, table := range e.storeTables() {
		info, err := os.Stat(table)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.Size() > largestSize {
			largest, largestSize = table, info.Size()
		}
	}
	overwriteAt(e.t, largest, largestSize/2)
	return largest
}

// TestDamagedBlobDataMirror checks that a mirror that meets damage in the
// data of a blob, read while the registry receives it, reports a damaged
// store rather than a failed transfer.
func TestDamagedBlobDataMirror(t *testing.T) {
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	e.importJSON(e.buildKit("kit.tar", "--image", scannerRef+"="+image))
	reg := startRegistry(t, false)
	table := e.damageLargestStoreTable()

	r := e.run("ouk", "mirror", "--plain-http", "--to", reg.host+"/site", "--key", e.pub, "-o", "json")
	checkStoreDamagedFailure(t, e, "mirror", r, "The active kit could not be read.")
	if !strings.Contains(r.stdout, `"reason": "store-damaged"`) {
		t.Errorf("mirror of a blob with damaged data: JSON output %q, want reason store-damaged", r.stdout)
	}
	if !strings.Contains(r.stderr, table) {
		t.Errorf("mirror of a blob with damaged data does not name %s:\n%s", table, r.stderr)
	}
}

// A store whose database lost Pebble's manifest marker, an empty file a
// copy or restore may leave out, is reported as damaged by every command,
// and its table files stay: opening it as a new database would delete
// them.
func TestDamagedStoreMissingMarker(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.importJSON(kit)
	markers, err := filepath.Glob(filepath.Join(e.store, storeDBDir, "marker.manifest.*"))
	if err != nil || len(markers) != 1 {
		t.Fatalf("listing the manifest marker of %s: %v, %d found", e.store, err, len(markers))
	}
	if err := os.Remove(markers[0]); err != nil {
		t.Fatal(err)
	}
	tables, err := filepath.Glob(filepath.Join(e.store, storeDBDir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("listing the table files of %s: %v, %d found", e.store, err, len(tables))
	}

	for _, tc := range []struct {
		args    []string
		outcome string
	}{
		{[]string{"ouk", "status"}, "The active kit could not be read."},
		{[]string{"ouk", "history"}, "The active kit could not be read."},
		{[]string{"db", "lookup", "CVE-2099-0001"}, "The active kit could not be read."},
		{[]string{"ouk", "import", "--key", e.pub, kit}, "The active kit is unchanged."},
	} {
		label := strings.Join(tc.args, " ")
		r := e.run(tc.args...)
		checkStoreDamagedFailure(t, e, label, r, tc.outcome)
		if !strings.Contains(r.stderr, "marker.manifest.*") {
			t.Errorf("%s: stderr does not name the missing marker:\n%s", label, r.stderr)
		}
	}
	for _, table := range tables {
		if _, err := os.Stat(table); err != nil {
			t.Errorf("a command removed the table file %s: %v", table, err)
		}
	}
}

// A store folder whose database folder is empty contains no store, which
// status reports without creating one.
func TestStatusEmptyDatabaseFolder(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.store, storeDBDir), 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "status", "-o", "json")
	if r.code != exitError {
		t.Errorf("status of an empty database folder: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stdout, `"storeAbsent": true`) {
		t.Errorf("status of an empty database folder does not report the store absent:\n%s", r.stdout)
	}
	if markers, _ := filepath.Glob(filepath.Join(e.store, storeDBDir, "marker.*")); len(markers) > 0 {
		t.Errorf("status created a database: %v", markers)
	}
}
