package layout

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
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

// OpenRegular opens a kit file for reading with regfile.Open, so it does
// not block on a named pipe, and returns an error wrapping
// errdef.ErrInvalidArgument unless path is a regular file.
func OpenRegular(path string) (*os.File, error) {
	f, err := regfile.Open(path, "a kit file or a layout folder")
	var notRegular *regfile.NotRegularError
	if errors.As(err, &notRegular) {
		return nil, notRegularError(path, notRegular.Mode)
	}
	return f, err
}

func notRegularError(path string, mode fs.FileMode) error {
	return fmt.Errorf("%s is a %s, not a regular file or folder; give a kit file or a layout folder: %w",
		path, FileTypeName(mode), errdef.ErrInvalidArgument)
}

// FileTypeName names the type of a file that is neither a regular file nor
// a folder, such as "named pipe (FIFO)".
func FileTypeName(mode fs.FileMode) string { return regfile.TypeName(mode) }
