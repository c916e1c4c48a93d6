package layout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	"oras.land/oras-go/v2/content"
)

// WriteTarFile writes the layout as WriteTar does into the file out and
// returns the file's size. It writes a temporary file beside out, syncs it
// and renames it into place, so a failure never leaves a partial file under
// out. It first removes the temporary files that earlier writes of out left
// when they were killed; see removeStaleTemps.
func WriteTarFile(ctx context.Context, out string, index ocispec.Index, src content.ReadOnlyStorage, opts TarOptions) (int64, error) {
	removeStaleTemps(out)
	tmp, err := os.CreateTemp(filepath.Dir(out), tempPrefix(out)+"*")
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	// The lock marks the file as in use for removeStaleTemps of another
	// build. The kernel drops it when the process exits, even by kill -9.
	// Where the file system has no flock, the file goes unlocked and other
	// builds leave it alone.
	_ = unix.Flock(int(tmp.Fd()), unix.LOCK_EX|unix.LOCK_NB)

	if err := WriteTar(ctx, tmp, index, src, opts); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	info, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}

	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("moving %s into place: %w", out, err)
	}
	return info.Size(), nil
}

// staleTempAge is how long a temporary file of WriteTarFile must have gone
// unmodified before another write of the same output removes it. A running
// write changes its file far more often, so the age protects a write that
// holds no lock, such as one by a stella version that did not lock it.
const staleTempAge = 10 * time.Minute

// tempPrefix returns the name prefix of the temporary files of out: a dot,
// the base name and a dot. os.CreateTemp adds a decimal number to it.
func tempPrefix(out string) string {
	return "." + filepath.Base(out) + "."
}

// removeStaleTemps removes the temporary files that killed writes of out
// left beside it. It removes a file only when its name is the prefix of out
// followed by decimal digits alone, as os.CreateTemp makes it, and when it
// is a regular file unmodified for staleTempAge. It must also be able to
// take the file's flock, which a running write holds. Errors leave the
// file in place, since a leftover costs only space.
func removeStaleTemps(out string) {
	dir := filepath.Dir(out)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(out)
	for _, entry := range entries {
		suffix, ok := strings.CutPrefix(entry.Name(), prefix)
		if !ok || !isDecimal(suffix) || !entry.Type().IsRegular() {
			continue
		}
		removeIfStale(filepath.Join(dir, entry.Name()))
	}
}

// removeIfStale removes the file at path when it is old enough and
// unlocked; see removeStaleTemps.
func removeIfStale(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || time.Since(info.ModTime()) < staleTempAge {
		return
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return
	}
	_ = os.Remove(path)
}

// isDecimal reports whether s is a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
