package watch

import (
	"io/fs"
	"syscall"
	"time"
)

// inodeAndChangeTime returns the inode number and the status change time
// (ctime) of info, or zero values when the file system reports none.
func inodeAndChangeTime(info fs.FileInfo) (uint64, time.Time) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, time.Time{}
	}
	return st.Ino, time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
}
