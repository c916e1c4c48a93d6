package delta

import (
	"path/filepath"
	"strings"
)

// FullKitName derives the file name of the full kit that `stella ouk build
// --delta` writes beside the delta deltaName, unless --full-output names
// another: without ".delta", or else with "-full" before the .tar suffix.
func FullKitName(deltaName string) string {
	dir, base := filepath.Split(deltaName)
	if strings.Contains(base, ".delta.") {
		return dir + strings.Replace(base, ".delta.", ".", 1)
	}
	if i := strings.Index(base, ".t"); i > 0 {
		return dir + base[:i] + "-full" + base[i:]
	}
	return deltaName + "-full.tar"
}
