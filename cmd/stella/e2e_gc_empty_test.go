package main

import (
	"encoding/json"
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

// TestDBStatusJSONWithoutActiveKit runs db status on a store that no import
// activated a kit in, and checks that its failure object has the reason
// not-found.
func TestDBStatusJSONWithoutActiveKit(t *testing.T) {
	e := newEnv(t)
	s, err := cas.Open(filepath.Join(e.store, "db"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.run("db", "status", "-o", "json")
	if r.code != exitError {
		t.Errorf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("decoding the failure object: %v\n%s", err, r.stdout)
	}
	if failure.Reason != "not-found" {
		t.Errorf("reason %q, want not-found", failure.Reason)
	}
	if !strings.Contains(failure.Error, "no kit is active in this store") {
		t.Errorf("error does not say that no kit is active: %s", failure.Error)
	}
	if strings.HasSuffix(failure.Error, ": not found") {
		t.Errorf("error ends with the kind's text: %s", failure.Error)
	}
}
