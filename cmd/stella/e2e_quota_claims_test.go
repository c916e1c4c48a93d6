package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"stella-ops.org/ouk/oci/sign"
)

// trustQuotaKey installs the environment's public key as a token issuer
// key of the store.
func (e *env) trustQuotaKey() {
	e.t.Helper()
	dir := filepath.Join(e.store, storeQuotaKeysDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	pub, err := os.ReadFile(e.pub)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "issuer.pub"), pub, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// writeEnvFile writes a .env file with the token and returns its path.
func (e *env) writeEnvFile(token string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, "token.env")
	if err := os.WriteFile(path, []byte("STELLA_JWT="+token+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// TestScanTokenExpiryInMilliseconds checks that a token whose exp is in
// milliseconds, after the year 9999, is ignored with a warning and that
// the JSON reports of scan and quota status are still written.
func TestScanTokenExpiryInMilliseconds(t *testing.T) {
	e, sbom := scanEnv(t)
	e.trustQuotaKey()
	expMilliseconds := time.Now().Add(24*time.Hour).Unix() * 1000
	envFile := e.writeEnvFile(signTokenClaims(t, e.key, jwt.MapClaims{
		"tid": "ms", "sub": "acme", "tier": 500, "exp": expMilliseconds,
	}))

	r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", envFile)
	if r.code != 0 {
		t.Fatalf("scan: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var rep scanReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("decoding the scan report: %v\n%s", err, r.stdout)
	}
	if rep.Quota == nil || rep.Quota.Mode != "anonymous" || rep.Quota.ExpiresAt != nil {
		t.Errorf("quota = %+v, want anonymous without an expiry", rep.Quota)
	}
	wantClaim := "exp claim " + strconv.FormatInt(expMilliseconds, 10)
	if !strings.Contains(r.stderr, wantClaim) || !strings.Contains(r.stderr, "milliseconds") {
		t.Errorf("stderr = %q, want a warning with %q that names milliseconds", r.stderr, wantClaim)
	}

	r = e.run("quota", "status", "-o", "json", "--env-file", envFile)
	if r.code != 0 {
		t.Fatalf("quota status: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var st struct {
		Mode, Warning string
		Count         int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("decoding quota status: %v\n%s", err, r.stdout)
	}
	if st.Mode != "anonymous" || st.Count != 1 {
		t.Errorf("quota status = %+v, want anonymous with the scan counted once", st)
	}
	if !strings.Contains(st.Warning, wantClaim) {
		t.Errorf("quota status warning = %q, want %q", st.Warning, wantClaim)
	}
}

// TestScanQuotaKeysSkipBadFiles checks that a bad file in keys/quota does
// not keep the other keys there from verifying tokens, and that files the
// token check cannot use are named in warnings.
func TestScanQuotaKeysSkipBadFiles(t *testing.T) {
	e, sbom := scanEnv(t)
	e.trustQuotaKey()
	dir := filepath.Join(e.store, storeQuotaKeysDir)
	good, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM, err := sign.MarshalPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub := e.keygen("other")
	other, err := os.ReadFile(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"a-bad.pub":   []byte("junk\n"),
		"b-p384.pub":  p384PEM,
		"c-multi.pub": append(append([]byte(nil), other...), good...),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	envFile := e.writeEnvFile(signToken(t, e.key, 50, time.Now().Add(time.Hour)))

	r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", envFile)
	if r.code != 0 {
		t.Fatalf("scan: exit %d\n%s", r.code, r.stderr)
	}
	var rep scanReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("decoding the scan report: %v\n%s", err, r.stdout)
	}
	if rep.Quota == nil || rep.Quota.Mode != "token" || rep.Quota.Limit != 50 {
		t.Errorf("quota = %+v, want the token verified by the good key beside the bad files\n%s", rep.Quota, r.stderr)
	}
	for _, want := range []string{
		"warning: skipping a token issuer key: " + filepath.Join(dir, "a-bad.pub"),
		filepath.Join(dir, "b-p384.pub") + " is an ECDSA P-384 public key",
		filepath.Join(dir, "c-multi.pub") + " contains 2 PEM blocks, and only the first is used",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
	}
}

// TestScanTokenKeyInKitFolder checks that a token signed by a key left in
// the kit key folder, where earlier versions read token issuer keys, gets
// a warning with the real folders and the command that moves the key.
func TestScanTokenKeyInKitFolder(t *testing.T) {
	e, sbom := scanEnv(t)
	kitDir := filepath.Join(e.store, storeKeysDir)
	if err := os.MkdirAll(kitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	kitKey := filepath.Join(kitDir, "vendor.pub")
	if err := os.WriteFile(kitKey, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := e.writeEnvFile(signToken(t, e.key, 50, time.Now().Add(time.Hour)))

	r := e.run("scan", "--sbom", sbom, "--env-file", envFile)
	if r.code != 0 {
		t.Fatalf("scan: exit %d\n%s", r.code, r.stderr)
	}
	quotaDir := filepath.Join(e.store, storeQuotaKeysDir)
	for _, want := range []string{
		"put the token issuer's public key in " + quotaDir + " or pass --quota-key",
		"the token is signed by " + kitKey,
		"mkdir -p " + quotaDir + " && mv " + kitKey + " " + quotaDir + "/",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, "<store>") {
		t.Errorf("stderr = %q, want the store's path in place of <store>", r.stderr)
	}

	// After the suggested move, the token verifies.
	if err := os.MkdirAll(quotaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(kitKey, filepath.Join(quotaDir, "vendor.pub")); err != nil {
		t.Fatal(err)
	}
	r = e.run("quota", "status", "--env-file", envFile)
	if r.code != 0 || !strings.Contains(r.stdout, "Mode      token") {
		t.Errorf("quota status after the move: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestQuotaKeyFlagAddsToStoreKeys checks that --quota-key adds a key to
// those of keys/quota, as its help states, rather than replacing them.
func TestQuotaKeyFlagAddsToStoreKeys(t *testing.T) {
	e, _ := scanEnv(t)
	e.trustQuotaKey()
	_, otherPub := e.keygen("other")
	envFile := e.writeEnvFile(signToken(t, e.key, 50, time.Now().Add(time.Hour)))
	r := e.run("quota", "status", "--env-file", envFile, "--quota-key", otherPub)
	if r.code != 0 || !strings.Contains(r.stdout, "Mode      token") {
		t.Errorf("token of a keys/quota key with another --quota-key: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	help := e.run("scan", "--help")
	if !strings.Contains(help.stdout, "in addition to the *.pub files in the store's keys/quota folder") {
		t.Errorf("scan --help does not say that --quota-key adds to the store's keys:\n%s", help.stdout)
	}
}
