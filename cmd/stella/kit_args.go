package main

import (
	"os"
	"strings"
)

// checkLocalKitArg returns a usage error when arg is a registry or web
// source, which command (inspect or verify) does not read, with the way to
// check such a kit instead. It returns nil for every other argument.
func checkLocalKitArg(command, arg string) error {
	scheme, rest, ok := strings.Cut(arg, "://")
	if !ok || rest == "" {
		return nil
	}
	if _, err := os.Stat(arg); err == nil {
		return nil
	}
	switch scheme {
	case "oci":
		return usagef("%s reads kit files and layout folders, not registry sources such as %s. "+
			"`stella ouk import %s` verifies a kit in a registry before it activates it; "+
			"to %s the kit first, copy it into a layout folder with `oras cp -r --to-oci-layout %s DIR:TAG` and pass DIR",
			command, arg, arg, command, rest)
	case "http", "https":
		return usagef("%s reads kit files and layout folders, not URLs such as %s; "+
			"download the kit file first, or import it with `stella ouk import %s`, which verifies it before it activates it",
			command, arg, arg)
	}
	return usagef("%s reads kit files and layout folders, and %s is neither", command, arg)
}
