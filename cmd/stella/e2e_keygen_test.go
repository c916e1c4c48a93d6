package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runKeygen runs `stella ouk keygen` into dir with standard input not a
// terminal and COSIGN_PASSWORD set to password, or unset when password is
// nil. It returns the standard error.
func runKeygen(t *testing.T, dir string, password *string, extra ...string) string {
	t.Helper()
	cmd := exec.Command(stellaBin, append([]string{"ouk", "keygen", "--output-dir", dir}, extra...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COSIGN_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if password != nil {
		cmd.Env = append(cmd.Env, "COSIGN_PASSWORD="+*password)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, stderr.String())
	}
	return stderr.String()
}

func TestKeygenWarnsUnprotectedKey(t *testing.T) {
	dir := t.TempDir()
	empty, secret := "", "secret"

	unset := runKeygen(t, filepath.Join(dir, "unset"), nil)
	for _, want := range []string{"warning:", "COSIGN_PASSWORD is not set", "not a terminal",
		filepath.Join(dir, "unset", "cosign.key"), "not protected by a password", "set COSIGN_PASSWORD", "--force"} {
		if !strings.Contains(unset, want) {
			t.Errorf("keygen without COSIGN_PASSWORD: stderr does not mention %q:\n%s", want, unset)
		}
	}

	emptyOut := runKeygen(t, filepath.Join(dir, "empty"), &empty)
	for _, want := range []string{"COSIGN_PASSWORD is empty", "not protected by a password"} {
		if !strings.Contains(emptyOut, want) {
			t.Errorf("keygen with an empty COSIGN_PASSWORD: stderr does not mention %q:\n%s", want, emptyOut)
		}
	}

	if out := runKeygen(t, filepath.Join(dir, "quiet"), nil, "--quiet"); out != "" {
		t.Errorf("keygen --quiet printed on stderr:\n%s", out)
	}
	if out := runKeygen(t, filepath.Join(dir, "secret"), &secret); out != "" {
		t.Errorf("keygen with a password printed on stderr:\n%s", out)
	}
}

func TestKeygenForceSetsPrivateKeyMode(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "cosign.key")
	pubPath := filepath.Join(dir, "cosign.pub")
	for _, p := range []string{keyPath, pubPath} {
		if err := os.WriteFile(p, []byte("earlier key\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The private key must lose any group and other permission. Mode
		// 0666 also shows that keygen sets the public key's mode.
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	password := "secret"
	runKeygen(t, dir, &password, "--force")

	for _, want := range []struct {
		path string
		mode os.FileMode
	}{{keyPath, 0o600}, {pubPath, 0o644}} {
		info, err := os.Stat(want.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want.mode {
			t.Errorf("%s has mode %#o after keygen --force, want %#o", want.path, got, want.mode)
		}
		b, err := os.ReadFile(want.path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) == "earlier key\n" {
			t.Errorf("%s still contains the earlier key", want.path)
		}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Errorf("keygen left %d files in the folder, want cosign.key and cosign.pub", len(names))
	}
}

func TestKeygenKeepsExistingPublicKey(t *testing.T) {
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "cosign.pub")
	trusted := []byte("trusted public key\n")
	if err := os.WriteFile(pubPath, trusted, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(stellaBin, "ouk", "keygen", "--output-dir", dir)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=secret")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("keygen beside an existing cosign.pub: exit code %d (%v), want 1\n%s", code, err, out)
	}
	for _, want := range []string{pubPath, "exists", "--force"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("keygen output does not mention %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(trusted) {
		t.Errorf("keygen without --force replaced cosign.pub with:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "cosign.key")); !os.IsNotExist(err) {
		t.Errorf("keygen that failed wrote cosign.key (stat: %v)", err)
	}

	password := "secret"
	runKeygen(t, dir, &password, "--force")
	if b, _ := os.ReadFile(pubPath); string(b) == string(trusted) {
		t.Error("keygen --force kept the earlier cosign.pub")
	}
}

// A keygen --output-dir that is a file is a usage error that names the file.
func TestKeygenOutputDirIsFile(t *testing.T) {
	e := newEnv(t)
	file := e.writeTestFile("not-a-folder", "x")
	r := e.run("ouk", "keygen", "--output-dir", file)
	if r.code != exitUsage || !strings.Contains(r.stderr, "is a file, or lies under one, not a folder") {
		t.Errorf("keygen into a file: exit %d, want %d naming the file\n%s", r.code, exitUsage, r.stderr)
	}
}

// A key written with an empty password, used while COSIGN_PASSWORD holds
// a password, fails with the advice to unset it.
func TestSignEmptyPasswordKeyWithPasswordSet(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "empty-pw")
	e.must("ouk", "keygen", "--output-dir", dir)
	r := e.runWithEnv([]string{"COSIGN_PASSWORD=something"}, "ouk", "sign", "--key", filepath.Join(dir, "cosign.key"),
		"--output-signature", filepath.Join(e.dir, "x.sig"), e.writeTestFile("data.txt", "data"))
	if r.code == 0 || !strings.Contains(r.stderr, "written with an empty password") ||
		!strings.Contains(r.stderr, "unset COSIGN_PASSWORD") {
		t.Errorf("sign with a password for a key without one: exit %d, want the advice to unset it\n%s", r.code, r.stderr)
	}
}
