package cas

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStoreIDMadeOnceForWriting checks that the first open for writing
// gives the store an ID, that later opens keep it, and that a read-only
// open of a store without an ID writes none.
func TestStoreIDMadeOnceForWriting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	id := StoreID(dir)
	if len(id) != storeIDLength {
		t.Fatalf("StoreID after the first open = %q, want %d hexadecimal digits", id, storeIDLength)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := StoreID(dir); got != id {
		t.Errorf("StoreID after a second open = %q, want %q", got, id)
	}

	if err := os.Remove(filepath.Join(dir, storeIDFile)); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := StoreID(dir); got != "" {
		t.Errorf("a read-only open wrote the store ID %q", got)
	}
}

// TestStoreIDIgnoresDamagedFile checks that a store ID file that does not
// hold 32 hexadecimal digits counts as no ID.
func TestStoreIDIgnoresDamagedFile(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "xyz", "0123456789abcdef0123456789abcdeZ\n", "0123"} {
		if err := os.WriteFile(filepath.Join(dir, storeIDFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := StoreID(dir); got != "" {
			t.Errorf("StoreID of a file holding %q = %q, want none", content, got)
		}
	}
}
