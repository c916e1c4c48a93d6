package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
)

// openStoreWithActiveCreated opens a store in dir whose active kit has the
// creation time created and the sequence sequence, or the default, the
// creation time in Unix seconds, when sequence is 0. With earlierKit set,
// the history also lists a kit activated before it.
func openStoreWithActiveCreated(t *testing.T, dir string, created time.Time, sequence int64, earlierKit bool) *cas.Store {
	t.Helper()
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	push := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
		if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if earlierKit {
		rec := cas.KitRecord{Digest: push([]byte(`{"schemaVersion":2,"night":1}`)), Version: "night-01", Sequence: 101,
			Created: created.Add(-96 * time.Hour)}
		if err := s.Activate(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if sequence == 0 {
		sequence = created.Unix()
	}
	rec := cas.KitRecord{Digest: push([]byte(`{"schemaVersion":2,"night":4}`)), Version: "night-04", Sequence: sequence,
		Created: created}
	if err := s.Activate(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWatchOlderKitActiveAheadOfClock checks the skip of a kit older than
// an active kit created ahead of the clock with the default sequence. It
// is an error, since it blocks every later kit, logged once per file, that names the creation time and the
// recovery, for a new file and for a kit rejected earlier alike. It offers
// a rollback only when the history has an earlier kit. Against a correctly
// dated active kit, or one with an explicit sequence, the skip stays at
// info level.
func TestWatchOlderKitActiveAheadOfClock(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		created    time.Time
		sequence   int64
		earlierKit bool
		rejected   bool
		warn       bool
	}{
		{"new file, active kit 3 days ahead", now.Add(72 * time.Hour), 0, true, false, true},
		{"rejected kit, active kit 3 days ahead", now.Add(72 * time.Hour), 0, true, true, true},
		{"new file, first kit 3 days ahead", now.Add(72 * time.Hour), 0, false, false, true},
		{"new file, explicit sequence 3 days ahead", now.Add(72 * time.Hour), 104, true, false, false},
		{"new file, active kit within tolerance", now.Add(time.Hour), 0, true, false, false},
		{"new file, active kit in the past", now.Add(-72 * time.Hour), 0, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			store := openStoreWithActiveCreated(t, filepath.Join(root, "db"), tc.created, tc.sequence, tc.earlierKit)
			kit := filepath.Join(root, "today.tar")
			if err := os.WriteFile(kit, []byte("kit built today"), 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(kit)
			if err != nil {
				t.Fatal(err)
			}
			s := &delta.Summary{Digest: digest.FromString("today"), Version: "today", Sequence: 103, Kind: "full"}
			c := watch.Candidate{Path: kit, Size: info.Size(), ModTime: info.ModTime(), Summary: s}
			var logs bytes.Buffer
			w := testWatcher(&logs, false)
			w.now = func() time.Time { return now }
			if tc.rejected {
				w.reject(c, s, "sha256:night-02", errDigestMismatchForTest)
				logs.Reset()
			}

			// A skip behind an active kit created ahead of the clock makes
			// a --once run exit with 1, and any other skip does not.
			want := outcomeSkipped
			if tc.warn {
				want = outcomeBlocked
			}
			for round := 1; round <= 2; round++ {
				got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
				if got != want {
					t.Errorf("round %d: process returned %v, want %v", round, got, want)
				}
			}
			if _, noted := watch.ReadNote(kit); noted {
				t.Errorf("rejection note of a kit older than the active kit was not removed")
			}
			out := logs.String()
			if n := strings.Count(out, "msg="); n != 1 {
				t.Errorf("two rounds logged %d lines, want the skip once:\n%s", n, out)
			}
			if !tc.warn {
				if !strings.Contains(out, `level=INFO msg="kit is older than the active kit; skipped"`) {
					t.Errorf("skip not logged at info level as older than the active kit:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, "level=ERROR") {
				t.Errorf("skip not logged at error level:\n%s", out)
			}
			for _, want := range []string{"ahead of this host's clock", "--allow-downgrade",
				"activeCreated=2026-12-09T12:00:00Z", `activeAhead="3 days"`, "activeVersion=night-04"} {
				if !strings.Contains(out, want) {
					t.Errorf("skip line lacks %q:\n%s", want, out)
				}
			}
			if got := strings.Contains(out, "stella ouk rollback"); got != tc.earlierKit {
				t.Errorf("skip line offers stella ouk rollback = %v, want %v:\n%s", got, tc.earlierKit, out)
			}
		})
	}
}

// TestWatchOnceEndBlockedKits checks the end of a --once run whose last
// round skipped kits behind an active kit created ahead of the clock: it
// exits with 1, unless a kit was rejected, which keeps exit code 3.
func TestWatchOnceEndBlockedKits(t *testing.T) {
	err := onceEnd(roundResult{blocked: 2}, "drop")
	if err == nil {
		t.Fatalf("--once with blocked kits returned no error, want exit %d", exitError)
	}
	if code := exitCode(err); code != exitError {
		t.Errorf("--once with blocked kits exits %d, want %d (error %v)", code, exitError, err)
	}
	if !strings.Contains(err.Error(), "2 kits were skipped in drop") {
		t.Errorf("error %q does not count the skipped kits in the drop folder", err)
	}
	if !strings.Contains(err.Error(), "created ahead of this host's clock") {
		t.Errorf("error %q does not name the active kit's creation ahead of the clock", err)
	}

	err = onceEnd(roundResult{blocked: 1, rejected: 1}, "drop")
	if code := exitCode(err); code != exitRejected {
		t.Errorf("--once with a blocked and a rejected kit exits %d, want %d (error %v)", code, exitRejected, err)
	}
	if err := onceEnd(roundResult{}, "drop"); err != nil {
		t.Errorf("--once without blocked or rejected kits returned %v, want nil", err)
	}
}

// TestWatchKitActiveBeforeSkip checks the skip of a kit that was active
// before the active kit, which has a lower sequence. The message reads
// "rolled back" or "replaced" as the history records the change. It
// advises a rollback to the kit while the store holds it, else an import
// of the file. For a kit created ahead of the clock, it reports that in
// place of either advice.
func TestWatchKitActiveBeforeSkip(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	newerKit := []byte(`{"schemaVersion":2,"kit":"newer"}`)
	rollback := "run `stella ouk rollback " + digest.FromBytes(newerKit).String() + "` to activate it again"
	cases := []struct {
		name    string
		created time.Time
		action  string
		// removed is set when gc removed the kit that was active before.
		removed bool
		want    []string
		unwant  []string
	}{
		{"rolled back", now.Add(-time.Hour), "rollback", false,
			[]string{"the active kit was rolled back from it", "The store still holds the kit", rollback},
			[]string{"ahead of this host's clock", "replaced", "stella ouk import"}},
		{"replaced by downgrade", now.Add(-time.Hour), "downgrade", false,
			[]string{"replaced", "--allow-downgrade", rollback},
			[]string{"ahead of this host's clock", "rolled back", "stella ouk import"}},
		{"rolled back, removed by gc", now.Add(-time.Hour), "rollback", true,
			[]string{"the active kit was rolled back from it", "ouk import"},
			[]string{"ahead of this host's clock", "replaced", "ouk rollback"}},
		{"replaced by downgrade, removed by gc", now.Add(-time.Hour), "downgrade", true,
			[]string{"replaced", "--allow-downgrade", "ouk import"},
			[]string{"ahead of this host's clock", "rolled back", "ouk rollback"}},
		{"ahead, replaced by downgrade", now.Add(72 * time.Hour), "downgrade", false,
			[]string{"ahead of this host's clock", "replaced", "created=2026-12-09T12:00:00Z"},
			[]string{"stella ouk import", "rolled back", "ouk rollback"}},
		{"ahead, rolled back", now.Add(72 * time.Hour), "rollback", false,
			[]string{"ahead of this host's clock", "the active kit was rolled back from it"},
			[]string{"stella ouk import", "replaced", "ouk rollback"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			store, err := cas.Open(filepath.Join(root, "db"), cas.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			ctx := context.Background()
			push := func(data []byte) digest.Digest {
				d := digest.FromBytes(data)
				desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
				if err := store.Push(ctx, desc, bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
				return d
			}
			newer := cas.KitRecord{Digest: push(newerKit), Version: "newer",
				Sequence: tc.created.Unix(), Created: tc.created, Action: "import"}
			older := cas.KitRecord{Digest: push([]byte(`{"schemaVersion":2,"kit":"older"}`)), Version: "older",
				Sequence: 100, Created: now.Add(-2 * time.Hour), Action: tc.action}
			for _, rec := range []cas.KitRecord{newer, older} {
				if err := store.Activate(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if tc.removed {
				desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: newer.Digest,
					Size: int64(len(newerKit))}
				if err := store.Delete(ctx, desc); err != nil {
					t.Fatal(err)
				}
			}
			kit := filepath.Join(root, "newer.tar")
			if err := os.WriteFile(kit, []byte("kit that was active before"), 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(kit)
			if err != nil {
				t.Fatal(err)
			}
			s := &delta.Summary{Digest: newer.Digest, Version: newer.Version, Sequence: newer.Sequence, Kind: "full"}
			c := watch.Candidate{Path: kit, Size: info.Size(), ModTime: info.ModTime(), Summary: s}
			var logs bytes.Buffer
			w := testWatcher(&logs, false)
			w.now = func() time.Time { return now }

			if got := w.process(ctx, store, importer.Options{Store: store}, c, nil); got != outcomeSkipped {
				t.Errorf("process returned %v, want the kit skipped", got)
			}
			out := logs.String()
			if !strings.Contains(out, "kit was active before") {
				t.Errorf("skip not logged as a kit that was active before:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("skip line lacks %q:\n%s", want, out)
				}
			}
			for _, unwant := range tc.unwant {
				if strings.Contains(out, unwant) {
					t.Errorf("skip line contains %q:\n%s", unwant, out)
				}
			}
			// The advised import names the file by its full path.
			if tc.removed && !strings.Contains(out, "ouk import "+kit+"` to activate it again") {
				t.Errorf("skip line does not advise the import of %s:\n%s", kit, out)
			}
		})
	}
}
