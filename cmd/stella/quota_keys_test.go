package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hidden *.pub file in the token issuer key folder, which ls and *.pub
// do not show, is skipped with a warning, as in the kit key folder.
func TestQuotaKeyFolderSkipsHiddenFile(t *testing.T) {
	dir := t.TempDir()
	hidden := filepath.Join(dir, ".issuer.pub")
	if err := os.WriteFile(hidden, []byte("key"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	paths, err := listQuotaKeyFiles(dir, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 0 {
		t.Errorf("listQuotaKeyFiles lists %v, want the hidden file left out", paths)
	}
	if !strings.Contains(stderr.String(), hidden) || !strings.Contains(stderr.String(), "starts with a dot") {
		t.Errorf("no warning names the hidden file: %q", stderr.String())
	}
}
