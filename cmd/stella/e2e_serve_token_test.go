package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A scan of another user through the service warns of an env file that
// cannot be read, and names the env file of a token that does not verify,
// as the scan does on its own.
func TestServiceOtherUserTokenWarnings(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "app.cdx.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "bad.env"), []byte("STELLA_JWT=not-a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)

	r := e.run("scan", "--env-file", "none.env", "--sbom", "app.cdx.json")
	if r.code != 0 {
		t.Fatalf("scan with a missing env file: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: --env-file none.env cannot be read") {
		t.Errorf("scan with a missing env file did not warn of it:\n%s", r.stderr)
	}

	r = e.run("scan", "--env-file", "bad.env", "--sbom", "app.cdx.json")
	if r.code != 0 {
		t.Fatalf("scan with a bad token: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "ignoring the token from "+filepath.Join(e.dir, "bad.env")) {
		t.Errorf("scan with a bad token did not name its env file:\n%s", r.stderr)
	}
	if !strings.Contains(svc.stderr.String(), `command=scan`) {
		t.Errorf("the scans did not run in the service:\n%s", svc.stderr.String())
	}
}
