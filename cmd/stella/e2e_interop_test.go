package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/importer"
)

// offlineEnv keeps peer tools off the network: cosign otherwise fetches a
// public trust root.
func offlineEnv(t *testing.T) []string {
	return append(os.Environ(),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost", "TUF_ROOT="+t.TempDir(), "HOME="+t.TempDir())
}

func runTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = offlineEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestOrasReadsKitLayout(t *testing.T) {
	oras := toolPath(t, "oras")
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.2.3")
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)
	k := &kitParts{entries: readTar(t, kit)}
	bundle, _ := k.bundle(t)

	tags := runTool(t, oras, "repo", "tags", "--oci-layout", dir)
	if !strings.Contains(tags, "1.2.3") {
		t.Errorf("oras repo tags does not list the kit version:\n%s", tags)
	}
	out := runTool(t, oras, "manifest", "fetch", "--oci-layout", "--descriptor", dir+":1.2.3")
	var desc struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	}
	if err := json.Unmarshal([]byte(out), &desc); err != nil {
		t.Fatalf("decoding oras descriptor: %v\n%s", err, out)
	}
	if desc.Digest != bundle.Digest.String() {
		t.Errorf("oras resolves 1.2.3 to %s, want the bundle index %s", desc.Digest, bundle.Digest)
	}
	// oras copies the whole graph, so every blob the kit names is present.
	copyDir := filepath.Join(e.dir, "copy")
	runTool(t, oras, "cp", "--from-oci-layout", dir+":1.2.3", "--to-oci-layout", copyDir+":1.2.3")
	e.must("ouk", "import", "--insecure-skip-signature", copyDir)
}

func TestCosignVerifiesDetachedSignature(t *testing.T) {
	cosign := toolPath(t, "cosign")
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--version", "1.0.0")
	e.must("ouk", "sign", "--key", e.key, kit)
	out := runTool(t, cosign, "verify-blob", "--key", e.pub, "--signature", kit+".sig",
		"--insecure-ignore-tlog", kit)
	if !strings.Contains(out, "Verified OK") {
		t.Errorf("cosign did not verify the detached signature:\n%s", out)
	}
	// A changed kit no longer verifies.
	raw, _ := os.ReadFile(kit)
	raw[len(raw)/2] ^= 1
	bad := filepath.Join(e.dir, "bad.tar.zst")
	os.WriteFile(bad, raw, 0o644)
	cmd := exec.Command(cosign, "verify-blob", "--key", e.pub, "--signature", kit+".sig", "--insecure-ignore-tlog", bad)
	cmd.Env = offlineEnv(t)
	if err := cmd.Run(); err == nil {
		t.Errorf("cosign accepted the signature for a changed kit")
	}
	// stella verify checks the same file and the signature inside.
	if out := e.must("ouk", "verify", "--key", e.pub, "--signature", kit+".sig", kit); strings.Count(out, "signature: passed")+strings.Count(out, "in kit: passed") != 2 {
		t.Errorf("stella verify did not pass both checks:\n%s", out)
	}
}

func TestCosignKeySignsKit(t *testing.T) {
	cosign := toolPath(t, "cosign")
	e := newEnv(t)
	keys := filepath.Join(e.dir, "cosign-keys")
	os.MkdirAll(keys, 0o755)
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir = keys
	cmd.Env = append(offlineEnv(t), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--key", filepath.Join(keys, "cosign.key"))
	e.must("ouk", "import", "--key", filepath.Join(keys, "cosign.pub"), kit)
}

func TestInterruptedImportResumes(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("first.tar", "--version", "1.0.0", "--sequence", "1"))
	first := e.activeDigest()
	kit := e.buildKit("second.tar", "--version", "2.0.0", "--sequence", "2",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir))
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}

	// Cut the stream after most of it: the import fails and keeps the
	// blobs it verified, and the first kit stays active.
	r := e.runIn(raw[:len(raw)*3/4], "ouk", "import", "--key", e.pub, "-")
	if r.code == 0 {
		t.Fatalf("import of a cut stream succeeded")
	}
	if got := e.activeDigest(); got != first {
		t.Fatalf("active kit after the cut import = %s, want %s", got, first)
	}

	// Kill the process in the middle of a stream it is reading.
	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "--key", e.pub, "-")
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(raw[:len(raw)/2])
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	if got := e.activeDigest(); got != first {
		t.Fatalf("active kit after a killed import = %s, want %s", got, first)
	}

	var res importer.Result
	out := e.must("ouk", "import", "--key", e.pub, "-o", "json", kit)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Version != "2.0.0" {
		t.Fatalf("re-run activated %q", res.Version)
	}
	if res.BlobsSkipped == 0 || res.BytesRead >= int64(len(raw))/2 {
		t.Errorf("re-run read %d bytes and skipped %d blobs; it should not re-read blobs already stored",
			res.BytesRead, res.BlobsSkipped)
	}
}

func TestInterruptedImportJSONExitCode(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "--key", e.pub, "-o", "json", "-")
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// Interrupt the import while it waits for the rest of the stream.
	stdin.Write(raw[:len(raw)/2])
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	stdin.Close()

	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted import exited with %d, want 130", code)
	}
	var failure struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exitCode"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &failure); err != nil {
		t.Fatalf("decoding %q: %v", stdout.String(), err)
	}
	if failure.Status != "failed" || failure.ExitCode != 130 {
		t.Errorf("JSON of the interrupted import = %+v, want status failed and exit code 130", failure)
	}
}
