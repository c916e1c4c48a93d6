package watch

import "testing"

// TestNoteOwnerByIDThenPath checks which watch a rejection note belongs to:
// the store IDs decide when the note and the watch both have one, and the
// paths decide otherwise.
func TestNoteOwnerByIDThenPath(t *testing.T) {
	local := StoreRef{Path: "/var/lib/stella", ID: "aaaa"}
	cases := []struct {
		name    string
		note    Note
		store   StoreRef
		written bool
		foreign bool
	}{
		{"same path and ID", Note{Store: local.Path, StoreID: local.ID}, local, true, false},
		// Two hosts that share a drop folder, each with a store at the
		// same path.
		{"same path, other ID", Note{Store: local.Path, StoreID: "bbbb"}, local, false, true},
		// One store reached through a bind mount.
		{"other path, same ID", Note{Store: "/mnt/stella", StoreID: local.ID}, local, true, false},
		{"note without ID", Note{Store: local.Path}, local, true, false},
		{"note without ID, other path", Note{Store: "/srv/other"}, local, false, true},
		{"store without ID yet", Note{Store: local.Path, StoreID: "bbbb"}, StoreRef{Path: local.Path}, true, false},
		{"note without store", Note{}, local, false, false},
	}
	for _, c := range cases {
		if got := c.note.WrittenBy(c.store); got != c.written {
			t.Errorf("%s: WrittenBy = %v, want %v", c.name, got, c.written)
		}
		if got := c.note.Foreign(c.store); got != c.foreign {
			t.Errorf("%s: Foreign = %v, want %v", c.name, got, c.foreign)
		}
	}
}
