package watch

import (
	"maps"
	"testing"
)

func TestPruneAbsent(t *testing.T) {
	m := map[string]int{"a.tar": 1, "b.tar": 2, "c.tar": 3}
	if !PruneAbsent(m, map[string]bool{"a.tar": true, "c.tar": true}) {
		t.Errorf("PruneAbsent reported no deletion after deleting b.tar")
	}
	if want := map[string]int{"a.tar": 1, "c.tar": 3}; !maps.Equal(m, want) {
		t.Errorf("map after PruneAbsent = %v, want %v", m, want)
	}
	if PruneAbsent(m, map[string]bool{"a.tar": true, "c.tar": true, "d.tar": true}) {
		t.Errorf("PruneAbsent reported a deletion when every entry is present")
	}
	if len(m) != 2 {
		t.Errorf("map has %d entries after a PruneAbsent that deleted none, want 2", len(m))
	}
}
