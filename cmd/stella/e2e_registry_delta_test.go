package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/mirror"
)

const (
	sigstoreBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	deltaManifestType  = "application/vnd.stellaops.ouk.delta.v1+json"
)

// decodePush parses the -o json output of `stella ouk push`.
func decodePush(t *testing.T, out string) mirror.PushResult {
	t.Helper()
	var res mirror.PushResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding push result: %v\n%s", err, out)
	}
	return res
}

func TestRegistryPushDeltaImport(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	series := e.buildSeries(2)
	repo := reg.host + "/repo/kit"

	full := decodePush(t, e.must("ouk", "push", "--plain-http", "-o", "json", series[0].full, repo+":n1"))
	if full.BlobsSkipped != 0 {
		t.Errorf("first push to an empty registry counts %d blobs as already present", full.BlobsSkipped)
	}

	// The delta goes into the repository that holds its base, which then
	// holds the complete kit, so its delta manifest stays behind.
	e.must("ouk", "push", "--plain-http", series[1].delta, repo+":n2")
	pushed := decodePush(t, e.must("ouk", "push", "--plain-http", "-o", "json", series[1].delta, repo+":n2"))
	noDeltaReferrer(t, "push of the delta", pushed)
	if !slices.ContainsFunc(pushed.Referrers, func(r mirror.Referrer) bool {
		return r.ArtifactType == sigstoreBundleType && r.Subject == pushed.Digest
	}) {
		t.Errorf("push of the delta attached no signature to the bundle index: %+v", pushed.Referrers)
	}
	if pushed.BlobsPushed != 0 {
		t.Errorf("second push of the delta sent %d blobs", pushed.BlobsPushed)
	}
	discover := tool(t, nil, "oras", "discover", "--plain-http", "--format", "json", repo+":n2")
	if strings.Contains(discover, deltaManifestType) {
		t.Errorf("oras discover lists a delta manifest:\n%s", discover)
	}

	// A site that holds the base kit imports the delta from the registry.
	site := newEnvWithKeys(t, e)
	site.importJSON(series[0].full)
	res := decodeImport(t, site.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json", "oci://"+repo+":n2"))
	if res.Digest != series[1].digest || res.SignedBy == "" {
		t.Errorf("import of the delta from the registry: %+v, want signed kit %s", res, series[1].digest)
	}

	// A repository without the base rejects the delta with the next step.
	r := e.run("ouk", "push", "--plain-http", series[1].delta, reg.host+"/other/kit:n2")
	if r.code != exitRejected {
		t.Errorf("push of a delta without its base: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	for _, want := range []string{"is a delta of kit night-01", "push the base kit night-01 to " + reg.host + "/other/kit first"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("push of a delta without its base: message lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestRegistryPushStoredDelta(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)

	// A kit the store received as a delta goes out with its signature but
	// without its delta manifest: the store holds the kit complete.
	pushed := decodePush(t, e.must("ouk", "push", "--plain-http", "-o", "json", "active", reg.host+"/site/kit:n2"))
	if pushed.Digest != series[1].digest {
		t.Fatalf("pushed %s, want the active kit %s", pushed.Digest, series[1].digest)
	}
	noDeltaReferrer(t, "push active", pushed)
	signatures := 0
	for _, r := range pushed.Referrers {
		if r.ArtifactType == sigstoreBundleType && r.Subject == pushed.Digest {
			signatures++
		}
	}
	if signatures != 1 {
		t.Errorf("push attached %d signatures to the bundle index, want 1: %+v", signatures, pushed.Referrers)
	}

	// A short digest prefix names a stored kit, as for rollback.
	prefix := "sha256:" + strings.TrimPrefix(series[0].digest, "sha256:")[:4]
	if strings.HasPrefix(series[1].digest, prefix) {
		t.Skipf("both kits start with %s", prefix)
	}
	byPrefix := decodePush(t, e.must("ouk", "push", "--plain-http", "-o", "json", prefix, reg.host+"/site/kit:n1"))
	if byPrefix.Digest != series[0].digest {
		t.Errorf("push %s sent %s, want %s", prefix, byPrefix.Digest, series[0].digest)
	}
	unknown := "sha256:0000"
	if strings.HasPrefix(series[0].digest, unknown) || strings.HasPrefix(series[1].digest, unknown) {
		t.Skipf("a kit digest starts with %s", unknown)
	}
	r := e.run("ouk", "push", "--plain-http", unknown, reg.host+"/site/kit:none")
	if r.code == 0 || !strings.Contains(r.stderr, `no kit in the store matches "`+unknown+`"`) {
		t.Errorf("push of an unknown digest prefix: exit %d\n%s", r.code, r.stderr)
	}
}
