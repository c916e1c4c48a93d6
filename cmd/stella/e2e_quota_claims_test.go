package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
