package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// On a full volume, the store service goes on with lookups and scans
// without writing pins or quota counts. A command that changes the store
// fails as it would on its own, before its writes or partway, and the
// service keeps running. A service started on the full volume opens the
// store read-only.
func TestServiceOnFullVolume(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 64<<20)
	e.store = filepath.Join(volume, "store")
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	sbom := filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json")
	svc := e.startService()
	checkRunning := func() {
		t.Helper()
		select {
		case <-svc.exited:
			t.Fatalf("the service stopped on a full volume:\n%s", svc.stderr.String())
		default:
		}
	}

	// With a little more than an open for writing needs, the import
	// starts, stores the kit's manifests, and then fails its own check
	// of the space that the kit needs.
	fillVolume(t, volume, 1200<<10)
	r := e.run("ouk", "import", "--key", e.pub, kit2)
	if r.code != exitError || !strings.Contains(r.stderr, "disk full") {
		t.Errorf("import in the service on a nearly full volume: exit %d, want %d with disk full\n%s", r.code,
			exitError, r.stderr)
	}
	checkRunning()
	r = e.run("db", "lookup", "CVE-2099-0001")
	if r.code != 0 {
		t.Errorf("lookup in the service after a partway failed import: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(volume, "filler")); err != nil {
		t.Fatal(err)
	}
	fillVolume(t, volume, 0)

	checkReaders := func(when string) {
		t.Helper()
		r := e.run("db", "lookup", "CVE-2099-0001")
		if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
			t.Errorf("lookup in the service %s: exit %d\n%s%s", when, r.code, r.stdout, r.stderr)
		}
		r = e.run("scan", "--sbom", sbom, "-o", "json")
		if r.code != 0 {
			t.Errorf("scan in the service %s: exit %d\n%s%s", when, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, `"notCounted": "the scan was not counted against the quota`) {
			t.Errorf("scan in the service %s has no notCounted reason:\n%s", when, r.stdout)
		}
		r = e.run("ouk", "status")
		if r.code != 0 {
			t.Errorf("ouk status in the service %s: exit %d\n%s%s", when, r.code, r.stdout, r.stderr)
		}
	}
	checkReaders("on a full volume")
	r = e.run("ouk", "import", "--key", e.pub, kit2)
	if r.code != exitError || !strings.Contains(r.stderr, "disk full") {
		t.Errorf("import in the service on a full volume: exit %d, want %d with disk full\n%s", r.code,
			exitError, r.stderr)
	}
	checkRunning()
	checkReaders("after an import failed for lack of space")
	svc.stopService(t, e.store)

	own := e.run("ouk", "import", "--key", e.pub, kit2)
	svc = e.startService()
	if !strings.Contains(svc.stderr.String(), "opened the store read-only") {
		t.Errorf("the service started on a full volume does not warn that the store is read-only:\n%s",
			svc.stderr.String())
	}
	checkReaders("started on a full volume")
	served := e.run("ouk", "import", "--key", e.pub, kit2)
	if own.code != exitError || served.code != own.code || served.stderr != own.stderr {
		t.Errorf("import on a full volume on its own: exit %d\n%s\nin the service: exit %d\n%s", own.code,
			own.stderr, served.code, served.stderr)
	}
	svc.stopService(t, e.store)
}
