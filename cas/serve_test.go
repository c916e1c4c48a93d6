package cas

import (
	"errors"
	"path/filepath"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// A served store stays open through the Close calls of the commands that
// share it, and closes once Unserve ends the sharing.
func TestServedStoreStaysOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.CloseAndRemoveIfEmpty(); removed || err != nil {
		t.Fatalf("CloseAndRemoveIfEmpty of a served store: removed %v, error %v", removed, err)
	}
	if _, err := s.Active(t.Context()); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("reading the served store after Close: %v, want not found", err)
	}
	s.Unserve()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("opening the store again after Unserve and Close: %v", err)
	}
	again.Close()
}
