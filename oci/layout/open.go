package layout

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// CheckKitType returns an error wrapping errdef.ErrInvalidArgument when
// path exists but is neither a regular file nor a folder, such as a named
// pipe, whose open would block until a writer appears, or a device. It
// returns nil when path cannot be examined, so that the caller's open
// reports that error in its own words.
func CheckKitType(path string) error {
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode().IsRegular() {
		return nil
	}
	return notRegularError(path, info.Mode())
}

// OpenRegular opens path for reading and returns an error wrapping
// errdef.ErrInvalidArgument unless it is a regular file. The open does not
// block on a named pipe without a writer, because it uses O_NONBLOCK and
// checks the type of the file it opened before anything reads from it.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		if info.IsDir() {
			return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
		}
		return nil, notRegularError(path, info.Mode())
	}
	// O_NONBLOCK has no effect on a regular file, but it is cleared so
	// that nothing depends on that.
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return f, nil
}

func notRegularError(path string, mode fs.FileMode) error {
	return fmt.Errorf("%s is a %s, not a regular file or folder; give a kit file or a layout folder: %w",
		path, FileTypeName(mode), errdef.ErrInvalidArgument)
}

// FileTypeName names the type of a file that is neither a regular file nor
// a folder, such as "named pipe (FIFO)".
func FileTypeName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "device"
	}
	return "special file (" + mode.Type().String() + ")"
}
