package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci/sign"
)

// demoSBOM is a small SPDX 2.3 document with one vulnerable package of the
// fixture feeds, one clean package and one with neither purl nor CPE.
const demoSBOM = `{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "demo-app",
  "documentNamespace": "https://spdx.example.test/demo-app-1",
  "creationInfo": {"created": "2026-12-01T00:00:00Z", "creators": ["Tool: hand-written"]},
  "packages": [
    {"SPDXID": "SPDXRef-untar", "name": "stella-demo-untar", "versionInfo": "2.3.0", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/stella-demo-untar@2.3.0"}]},
    {"SPDXID": "SPDXRef-fixed", "name": "stella-demo-untar", "versionInfo": "2.4.1", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/stella-demo-untar@2.4.1"}]},
    {"SPDXID": "SPDXRef-bare", "name": "bare", "versionInfo": "1.0", "downloadLocation": "NOASSERTION"},
    {"SPDXID": "SPDXRef-typo", "name": "stella-demo-untar", "versionInfo": "two", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/stella-demo-untar@not-a-version"}]},
    {"SPDXID": "SPDXRef-badcpe", "name": "weird", "versionInfo": "1", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:broken"}]}
  ]
}`

// scanEnv returns an environment with an active kit and an SBOM to scan.
func scanEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar", "--version", "1.0.0"))
	p := filepath.Join(e.dir, "app.spdx.json")
	if err := os.WriteFile(p, []byte(demoSBOM), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, p
}

func (e *env) scan(sbom string) (scanReport, result) {
	e.t.Helper()
	r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	if r.code != 0 {
		e.t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
	}
	var rep scanReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("decoding scan output: %v\n%s", err, r.stdout)
	}
	return rep, r
}

func TestScanFindings(t *testing.T) {
	e, sbom := scanEnv(t)
	rep, _ := e.scan(sbom)
	if rep.Packages != 5 {
		t.Errorf("packages = %d, want 5", rep.Packages)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID+"@"+f.Version)
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Version != "2.3.0" {
		t.Errorf("findings = %v, want the records of stella-demo-untar 2.3.0 first", ids)
	}
	invalidVersionFound := false
	for _, f := range rep.Findings {
		switch f.Version {
		case "2.3.0":
			if f.PossiblyAffected != "" {
				t.Errorf("2.3.0 is in the range of %s but marked possibly affected: %q", f.ID, f.PossiblyAffected)
			}
		case "not-a-version":
			// The purl's version "not-a-version", not the SBOM's "two",
			// is looked up. It cannot be compared with the record's
			// range, so the package is possibly affected.
			invalidVersionFound = true
			if f.SBOMVersion != "two" {
				t.Errorf("invalid version: finding %s has sbomVersion %q, want the SBOM's version two", f.ID, f.SBOMVersion)
			}
			if !strings.Contains(f.PossiblyAffected, "not a valid npm version") {
				t.Errorf("invalid version: finding %s has possiblyAffected %q, want the invalid version named", f.ID, f.PossiblyAffected)
			}
		default:
			t.Errorf("version %s reported as affected by %s", f.Version, f.ID)
		}
	}
	if !invalidVersionFound {
		t.Errorf("findings = %v, want the invalid version reported as possibly affected", ids)
	}
	skippedNames := map[string]string{}
	for _, s := range rep.Skipped {
		skippedNames[s.Package+"@"+s.Version] = s.Reason
	}
	if len(rep.Skipped) != 2 {
		t.Errorf("skipped = %+v, want the package without identifiers and the bad CPE", rep.Skipped)
	}
	if skippedNames["weird@1"] == "" {
		t.Errorf("package with a malformed CPE not reported as skipped: %+v", rep.Skipped)
	}
	if _, ok := skippedNames["bare@1.0"]; !ok {
		t.Errorf("package without identifiers not reported as skipped: %+v", rep.Skipped)
	}
	if rep.Quota == nil || rep.Quota.Count != 1 {
		t.Errorf("quota state = %+v, want count 1", rep.Quota)
	}
}

func TestScanQuotaAnonymousOverLimit(t *testing.T) {
	e, sbom := scanEnv(t)
	var last scanReport
	var lastRun result
	for i := 0; i < 34; i++ {
		last, lastRun = e.scan(sbom)
	}
	if last.Quota.Count != 34 || !last.Quota.OverLimit {
		t.Fatalf("34th anonymous scan: %+v", last.Quota)
	}
	if !strings.Contains(strings.ToLower(lastRun.stderr), "limit") {
		t.Errorf("34th scan printed no reminder: %q", lastRun.stderr)
	}
	if len(last.Findings) == 0 {
		t.Errorf("34th scan returned no findings; it must complete")
	}

	// -q leaves the reminder to the report.
	r := e.run("-q", "scan", "--sbom", sbom, "-o", "json")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("quiet scan over the limit: exit %d, stderr %q, want 0 and nothing", r.code, r.stderr)
	}
	var quiet scanReport
	if err := json.Unmarshal([]byte(r.stdout), &quiet); err != nil || quiet.Quota == nil || !quiet.Quota.OverLimit {
		t.Errorf("quiet scan over the limit: report %q (%v), want the quota over its limit", r.stdout, err)
	}
}

func TestScanQuotaToken(t *testing.T) {
	e, sbom := scanEnv(t)
	// The store's token issuer key verifies the token.
	quotaKeysDir := filepath.Join(e.store, storeQuotaKeysDir)
	os.MkdirAll(quotaKeysDir, 0o755)
	pub, _ := os.ReadFile(e.pub)
	os.WriteFile(filepath.Join(quotaKeysDir, "issuer.pub"), pub, 0o644)

	good := signToken(t, e.key, 3, time.Now().Add(time.Hour))
	envFile := filepath.Join(e.dir, ".env")
	os.WriteFile(envFile, []byte("STELLA_JWT="+good+"\n"), 0o600)
	for i := 1; i <= 4; i++ {
		r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", envFile)
		if r.code != 0 {
			t.Fatalf("scan %d: %s", i, r.stderr)
		}
		var rep scanReport
		json.Unmarshal([]byte(r.stdout), &rep)
		if rep.Quota.Mode != "token" || rep.Quota.Limit != 3 {
			t.Fatalf("scan %d with token: %+v (stderr %s)", i, rep.Quota, r.stderr)
		}
		if over := i > 3; rep.Quota.OverLimit != over {
			t.Errorf("scan %d: overLimit %v, want %v", i, rep.Quota.OverLimit, over)
		}
	}

	otherKey, _ := e.keygen("other")
	for name, tok := range map[string]string{
		"other key": signToken(t, otherKey, 3, time.Now().Add(time.Hour)),
		"expired":   signToken(t, e.key, 3, time.Now().Add(-time.Hour)),
	} {
		os.WriteFile(envFile, []byte("STELLA_JWT="+tok+"\n"), 0o600)
		r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", envFile)
		var rep scanReport
		json.Unmarshal([]byte(r.stdout), &rep)
		if r.code != 0 || rep.Quota == nil || rep.Quota.Mode != "anonymous" {
			t.Errorf("%s token: exit %d, quota %+v", name, r.code, rep.Quota)
		}
		if !strings.Contains(r.stderr, "warning") {
			t.Errorf("%s token: no warning on stderr: %q", name, r.stderr)
		}
	}

	r := e.run("quota", "status", "--env-file", filepath.Join(e.dir, "none.env"), "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"anonymous"`) {
		t.Errorf("quota status without token: exit %d: %s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "cannot be read") {
		t.Errorf("a missing --env-file gave no warning: %q", r.stderr)
	}
}

func TestScanQuotaConcurrentProcesses(t *testing.T) {
	e, sbom := scanEnv(t)
	before, _ := e.scan(sbom)
	const n = 50
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.run("--lock-timeout", "5m", "scan", "--sbom", sbom, "-o", "json",
				"--env-file", filepath.Join(e.dir, "none.env"))
			codes[i] = r.code
		}(i)
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("scan %d exited %d", i, c)
		}
	}
	after, _ := e.scan(sbom)
	if got := after.Quota.Count - before.Quota.Count; got != n+1 {
		t.Errorf("counter rose by %d over %d concurrent scans and one more, want %d", got, n, n+1)
	}
}

// signToken makes an ES256 quota token with the private key file.
func signToken(t *testing.T, keyFile string, tier int, exp time.Time) string {
	t.Helper()
	return signTokenClaims(t, keyFile, jwt.MapClaims{
		"iss": "stella-ops", "sub": "test-team", "tid": "tid-123", "tier": tier, "exp": exp.Unix(),
	})
}

// signTokenClaims makes an ES256 token of claims, as they are, with the
// private key file.
func signTokenClaims(t *testing.T, keyFile string, claims jwt.MapClaims) string {
	t.Helper()
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadPrivateKey(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("key %s is %T, not ECDSA", keyFile, signer)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestScanWithBadStoreKey checks that an unreadable file among the store's
// token issuer keys leaves scans working, with a warning that names the
// file, while an unreadable --quota-key stops the scan.
func TestScanWithBadStoreKey(t *testing.T) {
	e, sbom := scanEnv(t)
	if err := os.MkdirAll(filepath.Join(e.store, storeQuotaKeysDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.store, storeQuotaKeysDir, "old.pub"), []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, r := e.scan(sbom)
	if len(rep.Findings) == 0 || !strings.Contains(r.stderr, "skipping a token issuer key: "+filepath.Join(e.store, storeQuotaKeysDir, "old.pub")) {
		t.Errorf("scan with a bad store key: %d findings, stderr %q", len(rep.Findings), r.stderr)
	}
	bad := filepath.Join(e.dir, "bad.pub")
	if err := os.WriteFile(bad, []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("scan", "--sbom", sbom, "--quota-key", bad); r.code == 0 {
		t.Errorf("scan with an unreadable --quota-key succeeded")
	}
}

// TestScanInvalidQuotaSetting checks that a quota value out of range in
// the settings file stops the scan with a message that names the file by
// its full path, in the store folder.
func TestScanInvalidQuotaSetting(t *testing.T) {
	e, sbom := scanEnv(t)
	settings := filepath.Join(e.store, "config.yaml")
	if err := os.WriteFile(settings, []byte("quota:\n  slowdownFraction: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("scan", "--sbom", sbom)
	if r.code == 0 {
		t.Fatal("scan with slowdownFraction 2 succeeded")
	}
	if !strings.Contains(r.stderr, settings) || !strings.Contains(r.stderr, `line 2: key "quota.slowdownFraction" is 2`) {
		t.Errorf("scan with slowdownFraction 2: stderr %q, want the file %s, the line, the key and the value named",
			r.stderr, settings)
	}
	if r.stdout != "" {
		t.Errorf("scan with an invalid setting printed a report: %q", r.stdout)
	}
}

// setQuotaKey writes value to key of the store's quota namespace, as a
// damaged disk or an interrupted copy of the store could leave it.
func setQuotaKey(t *testing.T, e *env, key string, value []byte) {
	t.Helper()
	st, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := st.KV("quota").NewBatch()
	defer b.Close()
	if err := b.Set([]byte(key), value); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
}

// TestScanDamagedQuotaSalt checks that quota status and scans work over a
// quota salt of the wrong length. The scan replaces the salt, counts from
// 1 and warns once that the counts start again.
func TestScanDamagedQuotaSalt(t *testing.T) {
	e, sbom := scanEnv(t)
	e.scan(sbom)
	e.scan(sbom)
	setQuotaKey(t, e, "salt", []byte("short"))

	noToken := filepath.Join(e.dir, "none.env")
	r := e.run("quota", "status", "-o", "json", "--env-file", noToken)
	if r.code != 0 {
		t.Fatalf("quota status over a damaged salt: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "salt") {
		t.Errorf("quota status over a damaged salt: stderr %q, want a warning about the salt", r.stderr)
	}

	// quota status replaced the salt, so the scan needs a damaged one of
	// its own.
	setQuotaKey(t, e, "salt", []byte("short"))
	rep, r := e.scan(sbom)
	if len(rep.Findings) == 0 {
		t.Errorf("scan over a damaged salt reported no findings")
	}
	if rep.Quota == nil || rep.Quota.Count != 1 {
		t.Errorf("scan over a damaged salt: quota %+v, want count 1", rep.Quota)
	}
	if rep.Quota != nil && len(rep.Quota.Damaged) != 1 {
		t.Errorf("scan over a damaged salt: quota.damaged = %q, want one line", rep.Quota.Damaged)
	}
	if !strings.Contains(r.stderr, "warning: quota: the stored salt was 5 bytes long") {
		t.Errorf("scan over a damaged salt: stderr %q, want a warning naming the salt", r.stderr)
	}
	if strings.Contains(r.stderr, "delete the quota namespace") {
		t.Errorf("scan over a damaged salt advises a step that no command performs: %q", r.stderr)
	}

	rep, r = e.scan(sbom)
	if rep.Quota == nil || rep.Quota.Count != 2 || len(rep.Quota.Damaged) != 0 {
		t.Errorf("next scan: quota %+v, want count 2 and nothing damaged", rep.Quota)
	}
	if strings.Contains(r.stderr, "salt") {
		t.Errorf("next scan warned about the salt again: %q", r.stderr)
	}
}

// TestScanSlowdownExcludesStoreWait checks that a scan over the limit is
// slowed down by a fraction of its own running time, not of the time it
// waited for another process to release the store.
func TestScanSlowdownExcludesStoreWait(t *testing.T) {
	e, sbom := scanEnv(t)
	settings := "quota:\n  anonymousLimit: 1\n  slowdownFraction: 1\n"
	if err := os.WriteFile(filepath.Join(e.store, configFile), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	e.scan(sbom)

	holder, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := e.startWaiting("-v", "scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env"))
	// With slowdownFraction 1, a delay that counts the wait lasts at least
	// this long. The scan's own running time must stay well below it.
	const hold = 3 * time.Second
	time.Sleep(hold)
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	r := w.result(t, "the store was released")
	if r.code != 0 {
		t.Fatalf("scan after the wait: exit %d: %s", r.code, r.stderr)
	}

	m := regexp.MustCompile(`msg="slowing the scan down over the daily quota" .*delay=(\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("scan over the limit logged no slowdown:\n%s", r.stderr)
	}
	delay, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("slowdown log line: %v", err)
	}
	if delay >= hold {
		t.Errorf("scan that waited %v for the store was slowed down by %v, want only its own running time:\n%s",
			hold, delay, r.stderr)
	}
}

// utsUnshareArgs returns the arguments of unshare(1) that run a command
// with a host name of its own, or skips the test when neither form works
// here. --uts needs root, and -Ur --uts needs unprivileged user namespaces.
func utsUnshareArgs(t *testing.T) []string {
	t.Helper()
	for _, args := range [][]string{{"--uts"}, {"-Ur", "--uts"}} {
		if err := exec.Command("unshare", append(args, "true")...).Run(); err == nil {
			return args
		}
	}
	t.Skip("unshare --uts is not available here, so no process can get a host name of its own")
	return nil
}

// TestScanAnonymousCountPerStore checks that anonymous scans from hosts of
// different names, such as short-lived containers that mount one store,
// add to the one count of that store.
func TestScanAnonymousCountPerStore(t *testing.T) {
	unshare := utsUnshareArgs(t)
	e, sbom := scanEnv(t)
	for i := 1; i <= 3; i++ {
		host := fmt.Sprintf("scanner-pod-%d", i)
		args := []string{"--store", e.store, "scan", "--sbom", sbom, "-o", "json",
			"--env-file", filepath.Join(e.dir, "none.env")}
		shell := append(append([]string(nil), unshare...), "sh", "-c", `hostname "$0" && exec "$@"`, host, stellaBin)
		r := e.runCommand(exec.Command("unshare", append(shell, args...)...), args)
		if r.code != 0 {
			t.Fatalf("scan on host %s: exit %d: %s", host, r.code, r.stderr)
		}
		var rep scanReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("scan on host %s: decoding output: %v\n%s", host, err, r.stdout)
		}
		if rep.Quota == nil || rep.Quota.Count != int64(i) {
			t.Errorf("scan %d, on host %s: quota %+v, want count %d in the store's one anonymous count", i, host, rep.Quota, i)
		}
	}
}

// TestQuotaTokenKeysApartFromKitKeys checks that a key trusted for kits in
// <store>/keys/ does not verify quota tokens, and that a token issuer's key
// in <store>/keys/quota/ does not verify kits.
func TestQuotaTokenKeysApartFromKitKeys(t *testing.T) {
	e, sbom := scanEnv(t)
	pub, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	kitKeysDir := filepath.Join(e.store, storeKeysDir)
	if err := os.MkdirAll(kitKeysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kitKeysDir, "cosign.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(e.dir, ".env")
	token := signToken(t, e.key, 1000000, time.Now().Add(time.Hour))
	if err := os.WriteFile(envFile, []byte("STELLA_JWT="+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("quota", "status", "-o", "json", "--env-file", envFile)
	var st struct{ Mode, Warning string }
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
		t.Fatalf("quota status: exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if st.Mode != "anonymous" {
		t.Errorf("token signed by a kit key: mode %q, want anonymous", st.Mode)
	}
	if !strings.Contains(st.Warning, "keys/quota") {
		t.Errorf("token signed by a kit key: warning %q, want the keys/quota folder named", st.Warning)
	}

	// The same key as a token issuer key, and no longer as a kit key.
	quotaKeysDir := filepath.Join(e.store, storeQuotaKeysDir)
	if err := os.MkdirAll(quotaKeysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(kitKeysDir, "cosign.pub"), filepath.Join(quotaKeysDir, "issuer.pub")); err != nil {
		t.Fatal(err)
	}
	r = e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", envFile)
	var rep scanReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("scan: exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Quota == nil || rep.Quota.Mode != "token" || rep.Quota.Limit != 1000000 {
		t.Errorf("token signed by a token issuer key: quota %+v, want token mode with limit 1000000", rep.Quota)
	}
	r = e.run("ouk", "import", e.buildKit("kit2.tar", "--version", "2.0.0"))
	if r.code != exitRejected {
		t.Errorf("import of a kit signed only by a token issuer key: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
}
