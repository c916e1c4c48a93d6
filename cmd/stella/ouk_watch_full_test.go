package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/sign"
)

// newTestSigner writes a new public key into dir and returns its path and
// the matching signer.
func newTestSigner(t *testing.T, dir string) (string, crypto.Signer) {
	t.Helper()
	priv, pub, err := sign.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pubPath, signer
}

// buildTestKit builds a kit of the given sequence, signed by signer, into
// the file out.
func buildTestKit(t *testing.T, out string, sequence int64, signer crypto.Signer) {
	t.Helper()
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	_, err := build.Build(context.Background(), build.Options{
		Output:   out,
		Version:  "night-0" + string(rune('0'+sequence)),
		Sequence: sequence,
		Created:  time.Now().Add(-time.Hour),
		Signer:   signer,
		Feeds:    []vulndb.Feed{{Kind: "osv", Path: filepath.Join(feeds, "osv")}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// copyFile copies the file src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchFullVolumeRoundsWithoutWork checks that a running watch
// finishes every round without work on a store volume too full to open
// the store for writing. Such rounds are the round after an import, a
// round with an older kit, and a round after kits were removed. A round
// with a new kit still fails on the store, and the kit gets no note, until
// space is freed.
func TestWatchFullVolumeRoundsWithoutWork(t *testing.T) {
	volume := mountSmallVolume(t, 64<<20)
	storeDir := filepath.Join(volume, "store")
	root := t.TempDir()
	drop := filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	pub, signer := newTestSigner(t, root)
	kits := map[int64]string{}
	for _, sequence := range []int64{1, 2, 3} {
		kits[sequence] = filepath.Join(root, "night-0"+string(rune('0'+sequence))+".tar")
		buildTestKit(t, kits[sequence], sequence, signer)
	}

	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: storeDir},
		&watchOptions{keys: []string{pub}, interval: time.Second, settle: time.Minute}, drop, &logs)
	filled := false
	w.importKit = func(ctx context.Context, c watch.Candidate, opts importer.Options) (*importer.Result, error) {
		res, err := w.importWithProgress(ctx, c, opts)
		if !filled {
			// The import leaves the volume too full for the next open for
			// writing.
			fillVolume(t, volume, 4<<10)
			filled = true
		}
		return res, err
	}
	round := func(name string) roundResult {
		t.Helper()
		res, err := w.round(context.Background())
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, logs.String())
		}
		return res
	}

	copyFile(t, kits[2], filepath.Join(drop, "night-02.tar"))
	if res := round("round that imports"); res.imported != 1 {
		t.Fatalf("first round imported %d kits, want 1:\n%s", res.imported, logs.String())
	}
	round("round after the import")
	round("idle round")
	copyFile(t, kits[1], filepath.Join(drop, "night-01.tar"))
	round("round with an older kit")
	if !strings.Contains(logs.String(), "kit is older than the active kit; skipped") {
		t.Errorf("older kit not skipped:\n%s", logs.String())
	}
	for _, name := range []string{"night-01.tar", "night-02.tar"} {
		if err := os.Remove(filepath.Join(drop, name)); err != nil {
			t.Fatal(err)
		}
	}
	round("round after kits were removed")
	if n := strings.Count(logs.String(), msgStoreReadOnlyRound); n != 1 {
		t.Errorf("read-only rounds logged %d warnings, want 1:\n%s", n, logs.String())
	}

	newer := filepath.Join(drop, "night-03.tar")
	copyFile(t, kits[3], newer)
	_, err := w.round(context.Background())
	var stepErr roundStepError
	if !errors.As(err, &stepErr) || stepErr.msg != msgOpenStoreFailed || !errors.Is(err, errdef.ErrDiskFull) {
		t.Errorf("round with a new kit on a full volume: error %v, want the failed open of the store for writing", err)
	}
	if _, noted := watch.ReadNote(newer); noted {
		t.Errorf("new kit was rejected on a full volume")
	}

	if err := os.Remove(filepath.Join(volume, "filler")); err != nil {
		t.Fatal(err)
	}
	if res := round("round after space was freed"); res.imported != 1 {
		t.Errorf("round after space was freed imported %d kits, want 1:\n%s", res.imported, logs.String())
	}
	if !strings.Contains(logs.String(), "store opened for writing again") {
		t.Errorf("end of the read-only rounds not logged:\n%s", logs.String())
	}
}

// TestWatchOnceFullVolumeEmptyFolder checks that watch --once over an
// empty drop folder, and the first round of a running watch, succeed
// when the store volume is too full to open the store for writing.
func TestWatchOnceFullVolumeEmptyFolder(t *testing.T) {
	volume := mountSmallVolume(t, 64<<20)
	storeDir := filepath.Join(volume, "store")
	storeWithActiveKit(t, filepath.Join(storeDir, storeDBDir))
	fillVolume(t, volume, 4<<10)
	drop := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	once := newWatcher(&globalOptions{store: storeDir}, &watchOptions{once: true, interval: time.Second,
		settle: time.Minute}, drop, &logs)
	if err := once.run(context.Background()); err != nil {
		t.Errorf("watch --once over an empty folder on a full volume: %v\n%s", err, logs.String())
	}
	running := newWatcher(&globalOptions{store: storeDir}, &watchOptions{interval: time.Second,
		settle: time.Minute}, drop, &logs)
	if _, err := running.round(context.Background()); err != nil {
		t.Errorf("first round over an empty folder on a full volume: %v\n%s", err, logs.String())
	}
}

// TestWatchReadOnlyMountEmptyFolder checks that the first round of a
// running watch over an empty drop folder succeeds when the store is on a
// read-only mount.
func TestWatchReadOnlyMountEmptyFolder(t *testing.T) {
	volume := mountSmallVolume(t, 64<<20)
	storeDir := filepath.Join(volume, "store")
	storeWithActiveKit(t, filepath.Join(storeDir, storeDBDir))
	if err := unix.Mount("", volume, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("remounting the volume read-only: %v; skipping", err)
	}
	drop := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: storeDir}, &watchOptions{interval: time.Second, settle: time.Minute},
		drop, &logs)
	if _, err := w.round(context.Background()); err != nil {
		t.Errorf("first round over an empty folder on a read-only mount: %v\n%s", err, logs.String())
	}
}
