package main

import (
	"os"
	"path/filepath"
	"strings"

	"stella-ops.org/ouk/internal/regfile"
)

// namedPath is a path given on the command line, with the flag that gave
// it. fix, when set, replaces the advice to give the flag another name.
type namedPath struct {
	flag, path string
	fix        string
}

// remedy returns the advice for an output that collides with another path.
func (p namedPath) remedy() string {
	if p.fix != "" {
		return p.fix
	}
	return "give " + p.flag + " another file name"
}

// checkOutputs refuses two outputs that name one file, and an output file
// that is also one of the inputs. The build and delta commands write their
// output in place of any file there, so such an output would replace the
// kit, key or feed it is made from, or the other output, without a copy
// left. It also rejects an output that is an existing folder.
func checkOutputs(outputs, inputs []namedPath) error {
	for i, out := range outputs {
		for _, other := range outputs[i+1:] {
			if samePath(out.path, other.path) {
				return usagef("%s and %s both name %s; give two different files", out.flag, other.flag, out.path)
			}
		}
		for _, in := range inputs {
			if samePath(out.path, in.path) {
				return usagef("%s %s is also the %s input; writing it would replace that input; %s",
					out.flag, out.path, in.flag, out.remedy())
			}
		}
		// The rename at the end would fail on a folder, so reject it before
		// the command does its work.
		if info, err := os.Lstat(out.path); err == nil && info.IsDir() {
			return usagef("%s %s is an existing folder, but the command writes a file there; %s",
				out.flag, out.path, out.remedy())
		}
		if err := checkOutputNotSpecial(out.flag, out.path, out.path); err != nil {
			return err
		}
		if err := checkTilde(out.flag, out.path); err != nil {
			return err
		}
	}
	return nil
}

// checkOutputNotSpecial rejects an output path that names a device, a
// named pipe or a socket, such as /dev/null, or that lies in a folder of
// the system. display is the path as the user gave it. The commands write
// a temporary file and rename it over the output, so they would replace
// that special file with a regular one, which breaks the system when run
// as root.
func checkOutputNotSpecial(flag, path, display string) error {
	if err := checkOutputOutsideSystem(flag, path, display); err != nil {
		return err
	}
	kind, special := specialFileType(path)
	if !special {
		return nil
	}
	return usagef("%s %s is a %s, not a regular file; the command writes a new file and renames it over "+
		"the output, which would replace the %s; give the name of a file", flag, display, kind, kind)
}

// checkOutputOutsideSystem rejects an output path in /dev, /proc or /sys.
// An output such as /dev/stdout is a link that the rename would replace,
// even when it leads to a regular file that a shell redirected standard
// output to. /dev/shm is a file system for ordinary files, which stays
// allowed.
func checkOutputOutsideSystem(flag, path, display string) error {
	abs, err := filepath.Abs(path)
	if err != nil || strings.HasPrefix(abs, "/dev/shm/") {
		return nil
	}
	for _, system := range []string{"/dev", "/proc", "/sys"} {
		if abs == system || strings.HasPrefix(abs, system+"/") {
			return usagef("%s %s is in %s, where the command's rename would replace a file of the system; "+
				"give the name of a file elsewhere", flag, display, system)
		}
	}
	return nil
}

// specialFileType returns the type name of the file at path, following
// links, and true when it is a device, a named pipe or a socket. A path
// that does not exist, a folder and a regular file return false.
func specialFileType(path string) (string, bool) {
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode().IsRegular() {
		return "", false
	}
	return regfile.TypeName(info.Mode()), true
}

// samePath reports whether a and b name one file: the same file when both
// exist (through links too), else the same absolute path.
func samePath(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ai, errA := os.Stat(a)
	bi, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(ai, bi)
	}
	aa, errA := filepath.Abs(a)
	ba, errB := filepath.Abs(b)
	return errA == nil && errB == nil && aa == ba
}
