package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountSmallVolume mounts a tmpfs of size bytes on a new folder of the
// test and unmounts it when the test ends. It skips the test where this
// process may not mount file systems.
func mountSmallVolume(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Skipf("mounting a tmpfs needs root or CAP_SYS_ADMIN (%v); skipping", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fillVolume takes all but leave bytes of the free space of the volume
// that holds dir, with a file that the volume's unmount removes.
func fillVolume(t *testing.T, dir string, leave int64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, free-leave); err != nil {
		t.Fatalf("filling the volume: %v", err)
	}
}

// TestReadersOnFullVolume checks that the commands that only read the
// store work on a volume too full to open the store for writing, and warn
// that they opened it read-only, while a command that writes is rejected.
func TestReadersOnFullVolume(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 64<<20)
	e.store = filepath.Join(volume, "store")
	kit := e.buildKit("kit.tar")
	e.must("ouk", "import", "--key", e.pub, kit)
	fillVolume(t, volume, 4<<10)

	sbom := filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json")
	for _, args := range [][]string{
		{"ouk", "status"},
		{"ouk", "history"},
		{"db", "lookup", "CVE-2099-0001"},
		{"scan", "--sbom", sbom},
		{"quota", "status"},
		{"ouk", "gc", "--dry-run"},
	} {
		r := e.run(args...)
		if r.code != 0 {
			t.Errorf("stella %s on a full volume: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stderr, "read-only") {
			t.Errorf("stella %s on a full volume does not warn that the store is read-only: %q", strings.Join(args, " "), r.stderr)
		}
		// Only a scan counts against the quota.
		quotaNote := strings.Contains(r.stderr, "counted against the quota")
		if scan := args[0] == "scan"; quotaNote != scan {
			t.Errorf("stella %s on a full volume: warning mentions the quota = %v, want %v: %q",
				strings.Join(args, " "), quotaNote, scan, r.stderr)
		}
	}
	r := e.run("ouk", "inspect", "-o", "json", kit)
	if r.code != 0 || !strings.Contains(r.stdout, `"status": "open"`) {
		t.Errorf("inspect on a full volume: exit %d, want 0 with the store open\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("ouk", "import", "--key", e.pub, kit)
	if r.code != exitError || !strings.Contains(r.stderr, "disk full") {
		t.Errorf("import on a full volume: exit %d, stderr %q; want exit %d ending in disk full", r.code, r.stderr, exitError)
	}
}

// TestNewStoreOnFullVolumeLeavesNothing checks that an import that cannot
// open a new store on a volume too full for it removes the folders it
// created for the store.
func TestNewStoreOnFullVolumeLeavesNothing(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	volume := mountSmallVolume(t, 64<<10)
	e.store = filepath.Join(volume, "site", "store")

	r := e.run("ouk", "import", "--key", e.pub, kit)
	if r.code != exitError {
		t.Fatalf("import into a new store on a full volume: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, "disk full") {
		t.Errorf("import into a new store on a full volume does not say disk full: %q", r.stderr)
	}
	left, err := os.ReadDir(volume)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range left {
		t.Errorf("import into a new store on a full volume left %s behind", filepath.Join(volume, entry.Name()))
	}
}

// TestBuildOnFullVolumeNamesFix checks that a build whose output volume
// fills names the volume and the fix, and leaves no partial file.
func TestBuildOnFullVolumeNamesFix(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 1<<20)
	fillVolume(t, volume, 1<<10)
	out := filepath.Join(volume, "kit.tar")
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")

	r := e.run("ouk", "build", "-o", out, "--feed", "osv="+filepath.Join(feeds, "osv"), "--key", e.key)
	if r.code != exitError {
		t.Fatalf("build onto a full volume: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{"the volume of " + volume + " has no room", "write the kit to a larger volume"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("build onto a full volume: stderr does not contain %q:\n%s", want, r.stderr)
		}
	}
	entries, err := os.ReadDir(volume)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.Name() != "filler" {
			t.Errorf("build onto a full volume left %s behind", entry.Name())
		}
	}
}
