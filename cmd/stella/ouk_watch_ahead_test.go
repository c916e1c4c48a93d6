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

// openStoreWithActiveCreated opens a store in dir whose active kit has
// sequence 104 and the creation time created.
func openStoreWithActiveCreated(t *testing.T, dir string, created time.Time) *cas.Store {
	t.Helper()
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	data := []byte(`{"schemaVersion":2,"night":4}`)
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rec := cas.KitRecord{Digest: d, Version: "night-04", Sequence: 104, Created: created}
	if err := s.Activate(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWatchOlderKitActiveAheadOfClock checks that the skip of a kit older
// than an active kit created ahead of the clock is a warning, once per
// file, that names the creation time and the recovery, for a new file and
// for a kit rejected earlier alike. Against a correctly dated active kit the skip
// stays at info level.
func TestWatchOlderKitActiveAheadOfClock(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		created  time.Time
		rejected bool
		warn     bool
	}{
		{"new file, active kit 3 days ahead", now.Add(72 * time.Hour), false, true},
		{"rejected kit, active kit 3 days ahead", now.Add(72 * time.Hour), true, true},
		{"new file, active kit within tolerance", now.Add(time.Hour), false, false},
		{"new file, active kit in the past", now.Add(-72 * time.Hour), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			store := openStoreWithActiveCreated(t, filepath.Join(root, "db"), tc.created)
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

			for round := 1; round <= 2; round++ {
				got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
				if got != outcomeSkipped {
					t.Errorf("round %d: process returned %v, want the kit skipped", round, got)
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
			if !strings.Contains(out, "level=WARN") {
				t.Errorf("skip not logged at warning level:\n%s", out)
			}
			for _, want := range []string{"ahead of this host's clock", "--allow-downgrade", "stella ouk rollback",
				"activeCreated=2026-12-09T12:00:00Z", `activeAhead="3 days"`, "activeVersion=night-04"} {
				if !strings.Contains(out, want) {
					t.Errorf("skip line lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
