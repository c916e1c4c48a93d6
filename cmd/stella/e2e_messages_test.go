package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestImportNoKeyNamesKeysFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")

	r := e.run("ouk", "import", kit)
	if r.code != exitRejected {
		t.Errorf("import without a trusted key: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if want := filepath.Join(e.store, "keys"); !strings.Contains(r.stderr, want) {
		t.Errorf("error does not name the keys folder %s:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "$STELLA_HOME") {
		t.Errorf("error names a variable in place of the folder:\n%s", r.stderr)
	}
}
