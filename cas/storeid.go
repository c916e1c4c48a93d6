package cas

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// storeIDFile names the file in the store directory that holds the store's
// ID: 32 random hexadecimal digits, made by the first open for writing.
// The ID distinguishes two stores that have the same path on two hosts,
// and stays the same when the store is reached through another path, such
// as a bind mount.
const storeIDFile = "stella-store-id"

// storeIDLength is the length of a store ID in hexadecimal digits.
const storeIDLength = 32

// ensureID writes the store's ID when the store has none yet. Only the
// rejection notes of a drop folder use the ID, so a failed write is logged
// and the open goes on.
func (s *Store) ensureID() {
	if readStoreID(s.fs, s.dir) != "" {
		return
	}
	raw := make([]byte, storeIDLength/2)
	if _, err := rand.Read(raw); err != nil {
		s.log.Warn("making a store ID failed", "dir", s.dir, "error", err)
		return
	}
	path := filepath.Join(s.dir, storeIDFile)
	temp := path + ".tmp"
	f, err := s.fs.Create(temp, vfs.WriteCategoryUnspecified)
	if err != nil {
		s.log.Warn("writing the store ID failed", "file", path, "error", err)
		return
	}
	_, werr := f.Write([]byte(hex.EncodeToString(raw) + "\n"))
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		_ = s.fs.Remove(temp)
		s.log.Warn("writing the store ID failed", "file", path, "error", errors.Join(werr, serr, cerr))
		return
	}
	if err := s.fs.Rename(temp, path); err != nil {
		_ = s.fs.Remove(temp)
		s.log.Warn("writing the store ID failed", "file", path, "error", err)
	}
}

// StoreID returns the ID of the store whose Pebble directory is dir, or ""
// when the store has none, as before its first open for writing by this
// release. It takes no lock.
func StoreID(dir string) string { return readStoreID(vfs.Default, dir) }

func readStoreID(fsys vfs.FS, dir string) string {
	f, err := fsys.Open(filepath.Join(dir, storeIDFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, storeIDLength+1)
	n, _ := io.ReadFull(f, buf)
	id := string(buf[:min(n, storeIDLength)])
	if len(id) != storeIDLength {
		return ""
	}
	if _, err := hex.DecodeString(id); err != nil {
		return ""
	}
	return id
}
