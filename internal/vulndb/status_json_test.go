package vulndb

import (
	"encoding/json"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/kv"
)

// A DB without layers or sources, as in a kit built with images only,
// still writes its lists as JSON arrays and its ecosystems as an object.
func TestStatusEmptyDBJSON(t *testing.T) {
	db, err := Open(kv.NewMemory(), []byte(`{"schema":"1"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(db.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"ecosystems":{}`, `"sources":[]`, `"layers":[]`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("status %s lacks %s", raw, field)
		}
	}
}
