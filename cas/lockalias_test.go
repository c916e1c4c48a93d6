package cas

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// A second path to the same store, as a symlink gives, must not let a
// second Store of this process take the lock that the first one holds.
// Closing that second Store would close a descriptor of the lock file and
// so drop the first Store's lock too.
func TestOpenAliasPathInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	first, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(dir, alias); err != nil {
		t.Fatal(err)
	}
	second, err := Open(alias, Options{})
	if err == nil {
		_ = second.Close()
		if lockFreeInOtherProcess(t, dir) {
			t.Error("closing the second Store released the first Store's lock")
		}
		t.Fatal("a second Store opened the store through another path while the first held it")
	}
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Errorf("Open through another path: err = %v, want %v", err, errdef.ErrStoreInUse)
	}
	if lockFreeInOtherProcess(t, dir) {
		t.Error("the failed Open released the first Store's lock")
	}
}
