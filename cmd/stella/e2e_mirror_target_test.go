package main

import (
	"encoding/json"
	"testing"
)

func TestMirrorTwoPartImageRefKeepsPath(t *testing.T) {
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--image", "stella-ops/scanner:0.1.0="+image)
	e.must("ouk", "import", "--key", e.pub, kit)

	// A dry run contacts no registry.
	var rep mirrorReport
	out := e.must("ouk", "mirror", "--dry-run", "--key", e.pub, "--to", "127.0.0.1:9/site", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1:9/site/stella-ops/scanner:0.1.0"
	if len(rep.Images) != 1 || rep.Images[0].Target != want {
		t.Errorf("mirror targets %+v, want %s", rep.Images, want)
	}
}

// Docker and crane read scanner:0.1.0 as
// docker.io/library/scanner:0.1.0, so mirror keeps the library namespace.
func TestMirrorOnePartImageRefUsesLibrary(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--image", "scanner:0.1.0="+image)
	e.must("ouk", "import", "--key", e.pub, kit)

	// A dry run contacts no registry.
	var rep mirrorReport
	out := e.must("ouk", "mirror", "--dry-run", "--key", e.pub, "--to", "127.0.0.1:9/site", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1:9/site/library/scanner:0.1.0"
	if len(rep.Images) != 1 || rep.Images[0].Target != want {
		t.Errorf("mirror targets %+v, want %s", rep.Images, want)
	}

	e.must("ouk", "mirror", "--plain-http", "--key", e.pub, "--to", reg.host+"/site")
	got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/site/library/scanner:0.1.0")
	if got != digests["index"] {
		t.Errorf("digest at site/library/scanner:0.1.0 is %s, want %s", got, digests["index"])
	}
}
