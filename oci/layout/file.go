package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	pending, err := WritePendingTarFile(ctx, out, index, src, opts)
	if err != nil {
		return 0, err
	}
	defer pending.Discard()
	if err := pending.Commit(); err != nil {
		return 0, err
	}
	return pending.Size(), nil
}

// PendingTarFile is a layout tar stream written in full to a hidden
// temporary file beside its output, and not yet renamed into place.
// Writing each file of a set as pending, then committing them all, makes
// the files of the set appear together.
type PendingTarFile struct {
	out  string
	tmp  *os.File
	size int64
	done bool
}

// WritePendingTarFile writes the layout as WriteTar does into a temporary
// file beside out and syncs it, but leaves out itself unchanged until
// Commit. The caller must call Discard, which removes the temporary file
// unless Commit has renamed it. Like WriteTarFile, it first removes the
// temporary files that killed writes of out left; see removeStaleTemps.
func WritePendingTarFile(ctx context.Context, out string, index ocispec.Index, src content.ReadOnlyStorage,
	opts TarOptions) (*PendingTarFile, error) {
	removeStaleTemps(out)
	tmp, err := os.CreateTemp(filepath.Dir(out), tempPrefix(out)+"*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", out, err)
	}
	p := &PendingTarFile{out: out, tmp: tmp}
	// The lock marks the file as in use for removeStaleTemps of another
	// build, until Commit or Discard closes the file. The kernel drops it
	// when the process exits, even by kill -9. Where the file system has
	// no flock, the file goes unlocked and other builds leave it alone
	// for staleTempAge.
	_ = unix.Flock(int(tmp.Fd()), unix.LOCK_EX|unix.LOCK_NB)

	if err := p.write(ctx, index, src, opts); err != nil {
		p.Discard()
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return nil, fmt.Errorf("writing %s: %w; the volume of %s has no room left for it (the partial file "+
				"is removed): free space there, or write the kit to a larger volume", out, err, filepath.Dir(out))
		}
		if errors.Is(err, unix.EFBIG) {
			return nil, fmt.Errorf("writing %s: %w; the file reached the maximum file size of the process (the "+
				"partial file is removed): raise it (`ulimit -f unlimited`), or write to a file system that "+
				"allows larger files", out, err)
		}
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	return p, nil
}

func (p *PendingTarFile) write(ctx context.Context, index ocispec.Index, src content.ReadOnlyStorage, opts TarOptions) error {
	if err := WriteTar(ctx, p.tmp, index, src, opts); err != nil {
		return err
	}
	if err := p.tmp.Sync(); err != nil {
		return err
	}
	// Sync of a large file can take a while, and an interrupt during it
	// still means no kit.
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := p.tmp.Stat()
	if err != nil {
		return err
	}
	p.size = info.Size()
	return os.Chmod(p.tmp.Name(), 0o644)
}

// Size returns the size of the written file in bytes.
func (p *PendingTarFile) Size() int64 { return p.size }

// Commit renames the temporary file to the output, replacing any file
// there, and syncs the folder so that the rename survives a power cut. It
// checks no context, so once every file of a set is pending, a
// cancellation can no longer leave the set half renamed.
func (p *PendingTarFile) Commit() error {
	if p.done {
		return fmt.Errorf("moving %s into place: the file was already committed or discarded", p.out)
	}
	if err := os.Rename(p.tmp.Name(), p.out); err != nil {
		return fmt.Errorf("moving %s into place: %w", p.out, err)
	}
	p.done = true
	// write synced the file before the rename, so an error of Close
	// loses nothing, and the file is in place: the build goes on.
	_ = p.tmp.Close()
	if err := syncDir(filepath.Dir(p.out)); err != nil {
		return fmt.Errorf("%s is in place, but syncing its folder failed, so a power cut may undo the rename: %w",
			p.out, err)
	}
	return nil
}

// CommitNew renames the temporary file to the output as Commit does, but
// only while no file has the output's name: a file that appears there
// after the caller checked for one stays, and CommitNew returns an error
// wrapping fs.ErrExist. It renames with RENAME_NOREPLACE, and where the
// file system lacks that, it links the file under the output's name and
// removes the temporary name, which is as safe.
func (p *PendingTarFile) CommitNew() error {
	if p.done {
		return fmt.Errorf("moving %s into place: the file was already committed or discarded", p.out)
	}
	err := unix.Renameat2(unix.AT_FDCWD, p.tmp.Name(), unix.AT_FDCWD, p.out, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = os.Link(p.tmp.Name(), p.out)
		if err == nil {
			_ = os.Remove(p.tmp.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("moving %s into place: %w", p.out, err)
	}
	p.done = true
	_ = p.tmp.Close()
	if err := syncDir(filepath.Dir(p.out)); err != nil {
		return fmt.Errorf("%s is in place, but syncing its folder failed, so a power cut may undo the rename: %w",
			p.out, err)
	}
	return nil
}

// RemoveOutput removes an earlier file under the output's name, if there
// is one, and syncs the folder. A set of files that must match, such as a
// kit and its delta, calls it for its last file before the first rename.
// A process killed between the renames then leaves that file missing
// rather than an earlier one that does not match.
func (p *PendingTarFile) RemoveOutput() error {
	if err := os.Remove(p.out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the earlier %s: %w", p.out, err)
	}
	if err := syncDir(filepath.Dir(p.out)); err != nil {
		return fmt.Errorf("removing the earlier %s: syncing its folder: %w", p.out, err)
	}
	return nil
}

// syncDir flushes the entries of the folder dir to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Discard closes and removes the temporary file. After Commit it does
// nothing, and calling it more than once is harmless.
func (p *PendingTarFile) Discard() {
	if p.done {
		return
	}
	p.done = true
	p.tmp.Close()
	_ = os.Remove(p.tmp.Name())
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
