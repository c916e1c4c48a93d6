// Package regfile opens files named by the user without blocking on a
// named pipe (FIFO) or a device. Opening a FIFO for reading waits until a
// writer appears, and the Go runtime restarts that open system call after
// SIGINT or SIGTERM, so a cancelled command would hang in it. Every path the
// CLI reads goes through here.
package regfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// NotRegularError is returned for a path that is neither a regular file nor
// a folder. It wraps errdef.ErrInvalidArgument, so the CLI exits with its
// usage code.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
	// Want describes what the argument should name, such as "a signature
	// file", for the "give ..." part of the message.
	Want string
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a %s, not a regular file; give %s", e.Path, TypeName(e.Mode), e.Want)
}

func (e *NotRegularError) Unwrap() error { return errdef.ErrInvalidArgument }

// Open opens path for reading and returns a *NotRegularError unless it is a
// regular file, or a *fs.PathError wrapping EISDIR for a folder. want
// describes what the path should name, for the message. The open does not
// block on a named pipe without a writer, because it uses O_NONBLOCK and
// checks the type of the file it opened before anything reads from it.
func Open(path, want string) (*os.File, error) {
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
		return nil, &NotRegularError{Path: path, Mode: info.Mode(), Want: want}
	}
	// O_NONBLOCK has no effect on a regular file, but it is cleared so
	// that nothing depends on that.
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return f, nil
}

// ReadFile reads the regular file at path as os.ReadFile does, with the
// checks of Open.
func ReadFile(path, want string) ([]byte, error) {
	f, err := Open(path, want)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Check returns a *NotRegularError when path exists but is neither a
// regular file nor a folder. It returns nil when path cannot be examined,
// so that the caller's open reports that error in its own words. It
// follows symbolic links.
func Check(path, want string) error {
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode().IsRegular() {
		return nil
	}
	return &NotRegularError{Path: path, Mode: info.Mode(), Want: want}
}

// TypeName names the type of a file that is neither a regular file nor a
// folder, such as "named pipe (FIFO)".
func TypeName(mode fs.FileMode) string {
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
