package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestVersionReportsReleaseAndFormats(t *testing.T) {
	saved, savedCommit := version, commit
	t.Cleanup(func() { version, commit = saved, savedCommit })
	version, commit = "1.2.3", "0123456789ab"

	text, err := runRoot(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"stella 1.2.3 (commit 0123456789ab)\n",
		"DB schema:    " + oci.SchemaVersion + "\n",
		"Index format: " + vulndb.IndexFormat() + "\n",
		"Store format: 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stella version printed\n%s\nwithout %q", text, want)
		}
	}

	raw, err := runRoot(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got buildVersion
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("stella version -o json printed %q: %v", raw, err)
	}
	if got.Version != "1.2.3" || got.Commit != "0123456789ab" || got.DBSchema != oci.SchemaVersion ||
		got.IndexFormat != vulndb.IndexFormat() || got.StoreFormat != 2 || got.Go == "" || got.Platform == "" {
		t.Errorf("stella version -o json printed %s", raw)
	}

	if _, err := runRoot(t, "version", "extra"); err == nil || exitCode(err) != exitUsage {
		t.Errorf("stella version extra: err %v, want a usage error", err)
	}
}

func TestVersionFlagPrintsSummary(t *testing.T) {
	saved, savedCommit := version, commit
	t.Cleanup(func() { version, commit = saved, savedCommit })
	version, commit = "1.2.3", ""
	text, err := runRoot(t, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if text != "stella 1.2.3\n" {
		t.Errorf("stella --version printed %q", text)
	}
}

// TestMakeBuildStampsCommit checks that `make build` passes the checkout's
// commit to the binary.
func TestMakeBuildStampsCommit(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	head, err := exec.Command("git", "-C", "../..", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to build from: %v", err)
	}
	out, err := exec.Command("make", "-C", "../..", "-n", "build").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	if want := "-X main.commit=" + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
		t.Errorf("make -n build printed\n%s\nwithout %q", out, want)
	}
}
