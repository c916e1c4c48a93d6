package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/importer"
)

// trustKey copies the public key pub into the store's keys folder as name
// and returns its path there.
func (e *env) trustKey(pub, name string) string {
	e.t.Helper()
	raw, err := os.ReadFile(pub)
	if err != nil {
		e.t.Fatal(err)
	}
	dir := filepath.Join(e.store, storeKeysDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// importJSONArgs imports kit with the given flags and no others, and
// returns the parsed report.
func (e *env) importJSONArgs(kit string, flags ...string) importer.Result {
	e.t.Helper()
	var res importer.Result
	args := append([]string{"ouk", "import", "-o", "json"}, flags...)
	if err := json.Unmarshal([]byte(e.must(append(args, kit)...)), &res); err != nil {
		e.t.Fatal(err)
	}
	return res
}

// history returns the parsed `stella ouk history -o json`, newest first.
func (e *env) history() []historyEntry {
	e.t.Helper()
	var hist []historyEntry
	if err := json.Unmarshal([]byte(e.must("ouk", "history", "-o", "json")), &hist); err != nil {
		e.t.Fatalf("decoding history: %v", err)
	}
	return hist
}

// revokedKeyEnv imports kit 1.0.0 signed by the key in old.pub and kit
// 2.0.0 signed by the key in new.pub, both from the store's keys folder,
// and then removes old.pub. It returns the two import reports and the
// paths of the two keys in the keys folder.
func revokedKeyEnv(t *testing.T) (e *env, first, second struct{ digest, keyPath string }) {
	t.Helper()
	e = newEnv(t)
	newKey, newPub := e.keygen("newkeys")
	first.keyPath = e.trustKey(e.pub, "old.pub")
	second.keyPath = e.trustKey(newPub, "new.pub")
	first.digest = e.importJSONArgs(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")).Digest
	second.digest = e.importJSONArgs(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2", "--key", newKey)).Digest
	if err := os.Remove(first.keyPath); err != nil {
		t.Fatal(err)
	}
	return e, first, second
}

func TestRollbackRejectsRevokedKey(t *testing.T) {
	e, first, second := revokedKeyEnv(t)
	keysDir := filepath.Join(e.store, storeKeysDir)

	for _, args := range [][]string{
		{"ouk", "rollback"},
		{"ouk", "rollback", first.digest},
		{"ouk", "rollback", "-o", "json"},
	} {
		label := strings.Join(args, " ")
		r := e.run(args...)
		assertFailure(t, label, r, exitRejected, "kit 1.0.0", "is no longer trusted",
			keysDir, "--key", "--insecure-skip-signature", first.keyPath)
		if got := e.activeDigest(); got != second.digest {
			t.Fatalf("%s: active kit changed to %s, want kit 2.0.0 %s", label, got, second.digest)
		}
	}
	if n := len(e.history()); n != 2 {
		t.Errorf("history has %d entries after rejected rollbacks, want 2", n)
	}

	// The JSON failure object carries the exit code of a rejected kit.
	r := e.run("ouk", "rollback", "-o", "json")
	var failure struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exitCode"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("rollback -o json: stdout is no JSON failure object: %v\n%s", err, r.stdout)
	}
	if failure.Status != "failed" || failure.ExitCode != exitRejected {
		t.Errorf("rollback -o json: status %q, exit code %d; want failed and %d", failure.Status, failure.ExitCode, exitRejected)
	}
}

func TestRollbackTrustsKeyGivenAgain(t *testing.T) {
	e, first, _ := revokedKeyEnv(t)

	// --key trusts the key for one command, as it does for an import.
	out := e.must("ouk", "rollback", "--key", e.pub)
	if !strings.Contains(out, "signed by  "+e.pub) {
		t.Errorf("rollback with --key does not name the key that verified the kit:\n%s", out)
	}
	if got := e.activeDigest(); got != first.digest {
		t.Fatalf("after rollback --key, active %s, want kit 1.0.0 %s", got, first.digest)
	}
	e.must("ouk", "rollback")

	// A key put back into the keys folder is trusted again.
	e.trustKey(e.pub, "old.pub")
	e.must("ouk", "rollback", first.digest)
	st := e.status()
	if st.Active == nil || st.Active.Digest != first.digest {
		t.Fatalf("after the key was put back, active %+v, want kit 1.0.0", st.Active)
	}
	if st.Active.SignedBy != first.keyPath {
		t.Errorf("status signedBy = %q, want %q", st.Active.SignedBy, first.keyPath)
	}
	if st.Active.Note != "" {
		t.Errorf("status note = %q for a rollback without overrides, want none", st.Active.Note)
	}
}

func TestRollbackSkipSignatureOverride(t *testing.T) {
	e, first, _ := revokedKeyEnv(t)

	r := e.run("ouk", "rollback", "--insecure-skip-signature", "-o", "json")
	if r.code != 0 {
		t.Fatalf("rollback --insecure-skip-signature: exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Digest   string   `json:"digest"`
		SignedBy string   `json:"signedBy"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Digest != first.digest {
		t.Errorf("rollback JSON digest = %s, want kit 1.0.0 %s", rep.Digest, first.digest)
	}
	if rep.SignedBy != "" {
		t.Errorf("rollback JSON signedBy = %q for a kit no trusted key verified, want none", rep.SignedBy)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "--insecure-skip-signature") {
		t.Errorf("rollback JSON warnings = %q, want one naming --insecure-skip-signature", rep.Warnings)
	}
	hist := e.history()
	if hist[0].Action != "rollback" || !strings.Contains(hist[0].Note, "--insecure-skip-signature") {
		t.Errorf("newest history record: action %q, note %q; want a rollback whose note names the override",
			hist[0].Action, hist[0].Note)
	}
	if text := e.must("ouk", "status"); strings.Contains(text, "signed by") {
		t.Errorf("status names a signer for a kit no trusted key verified:\n%s", text)
	}
}

func TestRollbackUnsignedKitNeedsOverride(t *testing.T) {
	e := newEnv(t)
	// The unsigned kit's sequence is its build time, so kit 2.0.0 needs
	// --allow-downgrade.
	unsigned := e.importJSONArgs(e.buildKitNoKey("unsigned.tar"), "--insecure-skip-signature")
	e.importJSONArgs(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"), "--key", e.pub, "--allow-downgrade")

	r := e.run("ouk", "rollback", "--key", e.pub)
	assertFailure(t, "rollback to an unsigned kit", r, exitRejected, "contains no signature", "--insecure-skip-signature")
	e.must("ouk", "rollback", "--key", e.pub, "--insecure-skip-signature")
	if got := e.activeDigest(); got != unsigned.Digest {
		t.Errorf("after rollback --insecure-skip-signature, active %s, want the unsigned kit %s", got, unsigned.Digest)
	}
}

func TestStatusShowsSigningKey(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))

	st := e.status()
	if st.Active == nil || st.Active.SignedBy != e.pub {
		t.Fatalf("status signedBy = %+v, want %s", st.Active, e.pub)
	}
	if text := e.must("ouk", "status"); !strings.Contains(text, "signed by   "+e.pub) {
		t.Errorf("status text does not name the signing key %s:\n%s", e.pub, text)
	}
	if hist := e.history(); hist[0].SignedBy != e.pub {
		t.Errorf("history signedBy = %q, want %s", hist[0].SignedBy, e.pub)
	}
}

// expiredPreviousEnv imports kit 1.0.0, which expired in 2001, with
// --allow-expired, and then kit 2.0.0, which never expires. It returns the
// digest of kit 1.0.0.
func expiredPreviousEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	expired := e.buildKit("expired.tar", "--version", "1.0.0", "--sequence", "1", "--expires", "1h")
	first := e.importJSONArgs(expired, "--key", e.pub, "--allow-expired")
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	return e, first.Digest
}

func TestRollbackRejectsExpiredKit(t *testing.T) {
	e, expired := expiredPreviousEnv(t)
	before := e.activeDigest()

	for _, args := range [][]string{
		{"ouk", "rollback", "--key", e.pub},
		{"ouk", "rollback", "--key", e.pub, expired},
	} {
		label := strings.Join(args, " ")
		r := e.run(args...)
		assertFailure(t, label, r, exitRejected, "kit 1.0.0 expired at 2001-09-09T02:46:40Z", "--allow-expired")
		if got := e.activeDigest(); got != before {
			t.Fatalf("%s: active kit changed to %s, want %s", label, got, before)
		}
	}
}

func TestRollbackAllowExpiredReportsExpiry(t *testing.T) {
	e, expired := expiredPreviousEnv(t)

	r := e.run("ouk", "rollback", "--key", e.pub, "--allow-expired", "-o", "json")
	if r.code != 0 {
		t.Fatalf("rollback --allow-expired: exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Digest   string   `json:"digest"`
		Expired  bool     `json:"expired"`
		Note     string   `json:"note"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Digest != expired {
		t.Errorf("rollback JSON digest = %s, want the expired kit %s", rep.Digest, expired)
	}
	if !rep.Expired {
		t.Error("rollback JSON says expired: false for a kit that expired in 2001")
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "--allow-expired") {
		t.Errorf("rollback JSON warnings = %q, want one naming --allow-expired", rep.Warnings)
	}
	if !strings.Contains(rep.Note, "--allow-expired") {
		t.Errorf("rollback JSON note = %q, want the override", rep.Note)
	}
	if st := e.status(); st.Active == nil || !st.Active.Expired {
		t.Errorf("status after the rollback: %+v, want the expired kit marked expired", st.Active)
	}
	hist := e.history()
	if hist[0].Action != "rollback" || !strings.Contains(hist[0].Note, "--allow-expired") {
		t.Errorf("newest history record: action %q, note %q; want a rollback whose note names --allow-expired",
			hist[0].Action, hist[0].Note)
	}

	// A rollback to a kit that has not expired reports expired: false.
	r = e.run("ouk", "rollback", "--key", e.pub, "-o", "json")
	if r.code != 0 {
		t.Fatalf("rollback to kit 2.0.0: exit %d\n%s", r.code, r.stderr)
	}
	rep.Expired = true
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Expired {
		t.Error("rollback JSON says expired: true for a kit that never expires")
	}
}

// A site that trusts its key only through import --key gets a message to
// pass the key again, by its absolute path, and none about a revoked key.
func TestRollbackAfterImportWithKeyOnly(t *testing.T) {
	e := newEnv(t)
	first := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	r := e.run("ouk", "rollback", first.Digest)
	expectFailure(t, r, exitRejected, "was last activated with the key "+e.pub, "no key is trusted now",
		"pass that key with --key")
	if strings.Contains(r.stderr, "no longer trusted") {
		t.Errorf("rollback speaks of a revoked key:\n%s", r.stderr)
	}
	e.must("ouk", "rollback", "--key", e.pub, first.Digest)
}

// A key given by a relative path is recorded by its absolute path.
func TestImportRecordsAbsoluteKeyPath(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	rel, err := filepath.Rel(e.dir, e.pub)
	if err != nil {
		t.Fatal(err)
	}
	// Commands run in the test's folder, so rel names the key there.
	e.must("ouk", "import", "--key", rel, kit)
	if st := e.status(); st.Active == nil || st.Active.SignedBy != e.pub {
		t.Errorf("status signedBy = %+v, want the absolute path %s", st.Active, e.pub)
	}
}

// TestPartlyStoredKitNotInStore checks that a kit that gc removed and an
// interrupted import then stored in part counts as not in the store: in
// the history, and for a rollback, which would fail on its missing blobs.
func TestPartlyStoredKitNotInStore(t *testing.T) {
	e := newEnv(t)
	// The first kit has a record of its own, so its DB layers differ
	// from the second kit's and gc removes them.
	extra := filepath.Join(e.dir, "extra")
	if err := os.MkdirAll(extra, 0o755); err != nil {
		t.Fatal(err)
	}
	record := `{"id":"STELLA-TEST-0001","modified":"2026-01-01T00:00:00Z","affected":[{"package":` +
		`{"ecosystem":"npm","name":"stella-test-only"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`
	if err := os.WriteFile(filepath.Join(extra, "STELLA-TEST-0001.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	first := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1", "--feed", "osv="+extra)
	second := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	e.importJSON(first)
	e.importJSON(second)
	e.must("ouk", "gc", "--keep", "0")

	// A copy cut short at a DB layer of its own stores the manifests and
	// signatures, which come before every layer, but not that layer.
	secondLayers := map[string]bool{}
	for _, d := range e.dbLayerDigests(second) {
		secondLayers[d] = true
	}
	layer := ""
	for _, d := range e.dbLayerDigests(first) {
		if !secondLayers[d] {
			layer = d
			break
		}
	}
	if layer == "" {
		t.Fatal("the first kit has no DB layer of its own")
	}
	raw, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	layerName := "blobs/sha256/" + strings.TrimPrefix(layer, "sha256:")
	cut := filepath.Join(e.dir, "cut.tar")
	if err := os.WriteFile(cut, raw[:tarEntryOffset(t, raw, layerName)], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("ouk", "import", "--key", e.pub, "--allow-downgrade", cut); r.code == 0 {
		t.Fatal("import of a cut kit file succeeded")
	}
	for _, h := range e.history() {
		if h.Version == "1.0.0" && h.InStore {
			t.Error("history counts the kit stored in part as in the store")
		}
	}
	r := e.run("ouk", "rollback")
	if r.code == 0 || !strings.Contains(r.stderr, "no other kit of the history is still in the store") {
		t.Errorf("rollback to a kit stored in part: exit %d, stderr %q; want the kit named as removed", r.code, r.stderr)
	}
}

// tarEntryOffset returns the offset in the tar file raw of the header of
// the entry name.
func tarEntryOffset(t *testing.T, raw []byte, name string) int {
	t.Helper()
	r := bytes.NewReader(raw)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("finding %s in the kit: %v", name, err)
		}
		if hdr.Name == name {
			// The reader has read the 512-byte header block.
			return len(raw) - r.Len() - 512
		}
	}
}

// dbLayerDigests returns the digests of the DB layers of the kit file kit,
// as inspect lists them.
func (e *env) dbLayerDigests(kit string) []string {
	e.t.Helper()
	var info struct {
		DBLayers []struct {
			Digest string `json:"digest"`
		} `json:"dbLayers"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", kit)), &info); err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(info.DBLayers))
	for i, l := range info.DBLayers {
		out[i] = l.Digest
	}
	return out
}
