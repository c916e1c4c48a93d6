package main

import (
	"strings"
	"testing"
)

// TestRegistryPushUnsignedNeedsFlag checks that push of an unsigned kit
// requires --allow-unsigned and leaves the tag alone without it, because
// every import of that tag would fail. The import error then states that
// the kit was pushed unsigned.
func TestRegistryPushUnsignedNeedsFlag(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	signed := e.buildKit("signed.tar", "--version", "1.0.0", "--sequence", "1")
	unsigned := e.buildKitNoKey("unsigned.tar")
	ref := reg.host + "/stella/kit:latest"
	e.must("ouk", "push", "--plain-http", signed, ref)
	before := strings.TrimSpace(tool(t, nil, "crane", "digest", "--insecure", ref))

	r := e.run("ouk", "push", "--plain-http", unsigned, ref)
	expectFailure(t, r, exitRejected, "carries no signature", "--allow-unsigned", "tag "+ref+" was not set or moved")
	if after := strings.TrimSpace(tool(t, nil, "crane", "digest", "--insecure", ref)); after != before {
		t.Errorf("tag moved from %s to %s after the rejected push", before, after)
	}

	e.must("ouk", "push", "--plain-http", "--allow-unsigned", unsigned, ref)
	r = e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+ref)
	expectFailure(t, r, exitRejected, "the kit was pushed without a signature", "push a kit built with --key")
	if strings.Contains(r.stderr, "stella ouk push") || strings.Contains(r.stderr, "oras cp") {
		t.Errorf("import of a kit pushed unsigned advises a copy or push again:\n%s", r.stderr)
	}
}
