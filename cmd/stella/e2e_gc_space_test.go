package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// TestGCFreesSpaceOfRemovedIndex checks that gc frees the disk space of the
// lookup index of a removed large kit at once. The size it reports after
// removing the kit is then close to that of a store that only ever held
// the kept kit.
func TestGCFreesSpaceOfRemovedIndex(t *testing.T) {
	e := newEnv(t)
	records := map[string]string{}
	for i := range 20000 {
		id := fmt.Sprintf("RUSTSEC-2026-%05d", i)
		records[id+".json"] = crateRecord(id)
	}
	zipPath := filepath.Join(e.dir, "all.zip")
	writeOSVZip(t, zipPath, records)
	big := filepath.Join(e.dir, "big.tar")
	e.must("ouk", "build", "-o", big, "--version", "big.1", "--sequence", "1",
		"--feed", "osv="+zipPath, "--key", e.key)
	e.must("ouk", "import", "--key", e.pub, big)
	small := e.buildKit("small.tar", "--version", "small.2", "--sequence", "2")
	e.must("ouk", "import", "--key", e.pub, small)

	var rep struct {
		IndexLayersRemoved int   `json:"indexLayersRemoved"`
		StoreSizeBefore    int64 `json:"storeSizeBefore"`
		StoreSizeAfter     int64 `json:"storeSizeAfter"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "--keep", "0", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.IndexLayersRemoved == 0 {
		t.Fatal("gc removed no lookup index; the test kit needs a layer of its own")
	}

	fresh := newEnv(t)
	fresh.must("ouk", "import", "--key", e.pub, small)
	freshSize := fresh.status().StoreSize
	// The kept store also holds the history and whatever small deletions
	// Pebble has not compacted yet, so it may be somewhat larger.
	if limit := 2*freshSize + 256<<10; rep.StoreSizeAfter > limit {
		t.Errorf("store size right after gc is %d bytes (%d before), want at most %d: "+
			"a fresh store with the same kit has %d bytes", rep.StoreSizeAfter, rep.StoreSizeBefore, limit, freshSize)
	}
}
