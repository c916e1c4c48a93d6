package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A request of another user may name no file, however its flags are
// spelled: pflag takes the argument after "--NAME" as its value even when
// that argument is "--", so a check that stops at the first "--" must not
// see such a value as the end of the flags.
func TestSharedCallRejectsHiddenPaths(t *testing.T) {
	const owner = 65534
	rejected := map[string][]string{
		"value --":           {"scan", "--store", "--", "--sbom=/srv/secret.json"},
		"label --":           {"scan", "--sbom-label", "--", "--quota-key=/tmp/issuer.pub", "--sbom=-"},
		"lookup value --":    {"db", "lookup", "--purl", "--", "--env-file=/srv/.env", "--", "CVE-1"},
		"bare sbom":          {"scan", "--sbom", "/srv/secret.json"},
		"bare sbom dash":     {"scan", "--sbom", "-", "--", "--sbom=/srv/secret.json"},
		"short flag":         {"scan", "-o", "--", "--sbom=/srv/secret.json"},
		"positional":         {"db", "lookup", "CVE-1"},
		"sbom file":          {"scan", "--sbom=/srv/secret.json"},
		"quota key":          {"scan", "--sbom=-", "--quota-key=/tmp/issuer.pub"},
		"env file":           {"scan", "--sbom=-", "--env-file=/srv/.env"},
		"gc":                 {"ouk", "gc", "--"},
		"import after flags": {"ouk", "--verbose=true", "import", "--", "/srv/kit.tar"},
	}
	for name, args := range rejected {
		if err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: args}, owner); err == nil {
			t.Errorf("%s: %q was accepted", name, args)
		}
	}
	accepted := map[string][]string{
		"lookup": {"db", "lookup", "--lock-timeout=2s", "--output=json", "--", "CVE-1"},
		"scan":   {"scan", "--sbom=-", "--sbom-label=app.cdx.json", "--output=json", "--verbose=true", "--"},
		"status": {"ouk", "status", "--"},
	}
	for name, args := range accepted {
		if err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: args}, owner); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: []string{"scan", "--sbom=-", "--"},
		Env: map[string]string{"STELLA_AIRGAP": "1"}}, owner)
	if err == nil || !strings.Contains(err.Error(), "STELLA_AIRGAP") {
		t.Errorf("a variable other than STELLA_JWT: error %v", err)
	}
}

// The service of another user reads no file that a request of this user
// hides behind a flag that takes "--" as its value.
func TestServiceSharedHiddenPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)
	// A file that the service's user may read.
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(e.store, "secret.cdx.json")
	if err := os.WriteFile(secret, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"scan", "--store", "--", "--sbom=" + secret, "--output=json"},
		{"scan", "--sbom-label", "--", "--sbom=" + secret},
	} {
		conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		call := serviceCall{Protocol: serviceProtocol, Args: args}
		code, err := runRemote(context.Background(), conn, call, 10*time.Second, eofReader{}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if strings.Contains(stdout.String(), "CVE-2099-0001") {
			t.Errorf("%q: the service scanned %s:\n%s", args, secret, stdout.String())
		}
		if !strings.Contains(stderr.String(), "--NAME=VALUE") {
			t.Errorf("%q: message does not name the flag form:\n%s", args, stderr.String())
		}
	}
}
