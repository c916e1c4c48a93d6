package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"stella-ops.org/ouk/internal/watch"
)

// checkLocalKitArg returns a usage error when arg is empty, or a registry or
// web source, which command (inspect or verify) does not read, with the
// way to check such a kit instead. It returns nil for every other argument.
func checkLocalKitArg(command, arg string) error {
	if arg == "" {
		return usagef("the kit argument is empty; name a kit file or a layout folder")
	}
	scheme, rest, ok := strings.Cut(arg, "://")
	if !ok || rest == "" {
		return nil
	}
	if _, err := os.Stat(arg); err == nil {
		return nil
	}
	switch scheme {
	case "oci":
		// The command has no --plain-http flag, so it cannot tell whether
		// the registry needs oras's --from-plain-http, and names both.
		return usagef("%s reads kit files and layout folders, not registry sources such as %s. "+
			"`stella ouk import %s` verifies a kit in a registry before it activates it; "+
			"to %s the kit first, copy it into a layout folder with `oras cp -r --to-oci-layout %s DIR:TAG` "+
			"(or `oras cp -r --from-plain-http --to-oci-layout %s DIR:TAG` for a registry served over plain HTTP) "+
			"and pass DIR",
			command, arg, arg, command, rest, rest)
	case "http", "https":
		return usagef("%s reads kit files and layout folders, not URLs such as %s; "+
			"download the kit file first, or import it with `stella ouk import %s`, which verifies it before it activates it",
			command, arg, arg)
	}
	if scheme == "ocidir" || scheme == "oci-layout" {
		// regctl and skopeo name a layout folder this way.
		dir, _, _ := strings.Cut(rest, ":")
		return usagef("%s reads kit files and layout folders, and %s is neither; give the folder itself, as %s",
			command, arg, dir)
	}
	return usagef("%s reads kit files and layout folders, and %s is neither", command, arg)
}

// checkRemoteKitFlag returns a usage error when value, the kit that flag
// names (such as --base), is a registry or web address rather than a kit
// file or layout folder, with the way to get such a kit as a file. It
// returns nil for every other value, and for a path that exists.
func checkRemoteKitFlag(flag, value string) error {
	scheme, rest, ok := strings.Cut(value, "://")
	if !ok || rest == "" {
		return nil
	}
	if _, err := os.Stat(value); err == nil {
		return nil
	}
	switch scheme {
	case "oci":
		return usagef("%s takes a kit file or layout folder, not a registry source such as %s; copy the kit "+
			"into a layout folder with `oras cp -r --to-oci-layout %s DIR:TAG` (or `oras cp -r --from-plain-http "+
			"--to-oci-layout %s DIR:TAG` for a registry served over plain HTTP) and give %s DIR",
			flag, value, rest, rest, flag)
	case "http", "https":
		return usagef("%s takes a kit file or layout folder, not a URL such as %s; download the kit file "+
			"first and give %s FILE", flag, value, flag)
	}
	return nil
}

// checkKitPath returns an error that names path when the kit file or layout
// folder there does not exist or cannot be read, so that a mistyped path is
// not reported as a damaged kit. It returns nil when stat succeeds.
func checkKitPath(path string) error {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && namesStoredKit(path):
		return fmt.Errorf("kit %s not found: %w; this command reads kit files and layout folders, not kits "+
			"in the store. The store checked its kits at import; `stella ouk status` and `stella ouk history` "+
			"show them, and `stella ouk export` writes one to a file that this command reads", displayPath(path), err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("kit %s not found: %w; check the path, and give a kit file or a layout folder", displayPath(path), err)
	}
	return kitReadError(path, err)
}

// namesStoredKit reports whether path, which names no file, reads as a
// name of a kit in the store: "active" or a bundle digest or its prefix.
func namesStoredKit(path string) bool {
	if path == "active" {
		return true
	}
	hex, ok := strings.CutPrefix(path, "sha256:")
	if !ok || hex == "" || len(hex) > 64 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}

// kitReadError describes err, from opening or reading the kit at path, as
// a problem with the path rather than with the kit's content.
func kitReadError(path string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("kit %s cannot be read: %w; run the command as a user who may read it, or copy it "+
			"to a place you can read", displayPath(path), err)
	}
	return fmt.Errorf("reading kit %s: %w", displayPath(path), err)
}

// checkNotKitFolder returns a usage error when dir is a folder without an
// oci-layout file that contains kit files or layout folders, like a drop
// folder, with the commands that import them. It returns nil for every
// other path, whose import reports what is wrong with it.
func checkNotKitFolder(dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, "oci-layout")); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var kits []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		if info.Mode().IsRegular() && watch.IsKitFileName(name) {
			kits = append(kits, name)
			continue
		}
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); info.IsDir() && err == nil {
			kits = append(kits, name)
		}
	}
	if len(kits) == 0 {
		return nil
	}
	listed := strings.Join(kits, ", ")
	if len(kits) > 3 {
		listed = fmt.Sprintf("%s and %d more", strings.Join(kits[:3], ", "), len(kits)-3)
	}
	return usagef("%s is not a kit layout folder (it has no oci-layout file) but a folder of kits: %s. "+
		"Name one kit, as in `stella ouk import %s`, or import them all in sequence order with "+
		"`stella ouk watch %s --once`", dir, listed, shellQuote(filepath.Join(dir, kits[0])), shellQuote(dir))
}
