package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// A kit that a watch rejected for its signature stays rejected while the
// trusted keys stay the same, and is imported once the builder's key is
// put into the store's keys folder, without the note being deleted.
func TestWatchRetriesKitAfterKeyAdded(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	otherKey, otherPub := e.keygen("other-keys")
	kit := filepath.Join(drop, "other.tar")
	if err := os.Rename(e.buildKit("other.tar", "--version", "1.0.0", "--sequence", "1", "--key", otherKey), kit); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch with the builder's key missing: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	note, ok := watch.ReadNote(kit)
	if !ok || note.Keys == "" {
		t.Fatalf("the rejection note does not record the trusted keys: %+v (found %v)", note, ok)
	}
	if !strings.Contains(note.Retry, "named *.pub") {
		t.Errorf("the note's retry advice does not name a new key: %q", note.Retry)
	}
	if !strings.Contains(r.stderr, `retry="put the builder's public key`) {
		t.Errorf("the rejection line's retry advice does not name a new key:\n%s", r.stderr)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected || !strings.Contains(r.stderr, msgRemainsRejected) {
		t.Errorf("second watch with the same keys: exit %d, want %d with %q\n%s", r.code, exitRejected,
			msgRemainsRejected, r.stderr)
	}

	keys := filepath.Join(e.store, storeKeysDir)
	if err := os.MkdirAll(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "builder.pub"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch after the builder's key was added: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.status().Active; got == nil || got.Version != "1.0.0" {
		t.Errorf("after the builder's key was added the active kit is %+v, want 1.0.0", got)
	}
	if _, ok := watch.ReadNote(kit); ok {
		t.Errorf("the note of the imported kit stays beside it")
	}
}

// A kit without a signature gets no key set in its note: no key can
// verify it, so a new key does not make the watch read it again.
func TestWatchUnsignedNoteHasNoKeys(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(drop, "unsigned.tar")
	if err := os.Rename(e.buildKitNoKey("unsigned.tar"), kit); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch with an unsigned kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	note, ok := watch.ReadNote(kit)
	if !ok || note.Keys != "" {
		t.Errorf("note of an unsigned kit: keys %q (found %v), want none", note.Keys, ok)
	}
	if strings.Contains(note.Retry, "public key") {
		t.Errorf("the note of an unsigned kit advises a key: %q", note.Retry)
	}
}
