package main

import (
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
)

// TestGCJSONWithoutActiveKit runs gc on a store that no import activated a
// kit in. Its report lists no roots, and still writes both lists as arrays.
func TestGCJSONWithoutActiveKit(t *testing.T) {
	e := newEnv(t)
	s, err := cas.Open(filepath.Join(e.store, "db"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := e.must("ouk", "gc", "-o", "json")
	for _, field := range []string{`"keptKits": []`, `"keptReasons": []`} {
		if !strings.Contains(out, field) {
			t.Errorf("gc JSON lacks %s:\n%s", field, out)
		}
	}
}
