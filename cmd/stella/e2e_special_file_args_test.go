package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mkfifo makes a named pipe at path. Opening it for reading without a
// writer blocks, which is what the commands below must not do.
func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileArgsRejectNamedPipe(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	fifo := mkfifo(t, filepath.Join(e.dir, "pipe"))
	target := "127.0.0.1:9/stella/ouk:1"
	for _, tc := range []struct {
		name string
		args []string
		// want is the part of the message after "not a regular file".
		want string
	}{
		{"verify --signature", []string{"ouk", "verify", "--key", e.pub, "--signature", fifo, kit}, "give the .sig file"},
		{"verify --key", []string{"ouk", "verify", "--key", fifo, kit}, "give a PEM public key file"},
		{"sign --key", []string{"ouk", "sign", "--key", fifo, "--output-signature", filepath.Join(e.dir, "a.sig"), kit}, "give a private key file"},
		{"sign KIT", []string{"ouk", "sign", "--key", e.key, "--output-signature", filepath.Join(e.dir, "b.sig"), fifo}, "give the kit file to sign"},
		{"push KIT", []string{"ouk", "push", "--plain-http", fifo, target}, "give a kit file or a layout folder"},
		{"push --ca-file", []string{"ouk", "push", "--ca-file", fifo, kit, target}, "give a PEM file of CA certificates"},
		{"push --registry-config", []string{"ouk", "push", "--registry-config", fifo, kit, target}, "give a docker config.json file"},
		{"scan --sbom", []string{"scan", "--sbom", fifo}, "give an SBOM file"},
		{"build --feed", []string{"ouk", "build", "-o", filepath.Join(e.dir, "c.tar"), "--feed", "osv=" + fifo, "--key", e.key}, "give a feed folder or a .json or .zip feed file"},
		{"build -f", []string{"ouk", "build", "-f", fifo}, "give a YAML build file"},
		{"build --sbom", []string{"ouk", "build", "-o", filepath.Join(e.dir, "d.tar"), "--sbom", fifo, "--key", e.key}, "give an SPDX 2.3 JSON file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runLimited(stallLimit, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, fifo+" is a named pipe (FIFO), not a regular file") {
				t.Errorf("error does not name the path and its type:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, r.stderr)
			}
		})
	}
}

func TestKeysFolderSkipsNamedPipe(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	keysDir := filepath.Join(e.store, "keys")
	evil := mkfifo(t, filepath.Join(keysDir, "evil.pub"))
	pub, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keysDir, "site.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.runLimited(stallLimit, "ouk", "import", kit)
	if r.code != 0 {
		t.Fatalf("import with a named pipe beside the site key: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "path="+evil) || !strings.Contains(r.stderr, `type="named pipe (FIFO)"`) {
		t.Errorf("import does not warn about the skipped %s:\n%s", evil, r.stderr)
	}

	// Without the site key, the warning explains why no key is found.
	if err := os.Remove(filepath.Join(keysDir, "site.pub")); err != nil {
		t.Fatal(err)
	}
	r = e.runLimited(stallLimit, "ouk", "verify", kit)
	if r.code == 0 {
		t.Fatalf("verify without a trusted key succeeded\nstderr: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "path="+evil) {
		t.Errorf("verify does not name the skipped %s:\n%s", evil, r.stderr)
	}
}

func TestFeedFolderSkipsNamedPipe(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "osv")
	src := filepath.Join(repoRoot(t), "testdata", "feeds", "osv")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(src, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(feed, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(feed, entry.Name()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fifo := mkfifo(t, filepath.Join(feed, "zz-pipe.json"))
	r := e.runLimited(stallLimit, "ouk", "build", "-o", filepath.Join(e.dir, "kit.tar"),
		"--feed", "osv="+feed, "--key", e.key)
	if r.code != 0 {
		t.Fatalf("build of a feed folder with a named pipe: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "path="+fifo) || !strings.Contains(r.stderr, `type="named pipe (FIFO)"`) {
		t.Errorf("build does not warn about the skipped %s:\n%s", fifo, r.stderr)
	}
}

func TestScanEnvFileNamedPipe(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "import", "--key", e.pub, kit)
	sbomPath := filepath.Join(e.dir, "app.spdx.json")
	writeSPDX(t, sbomPath, samplePackages)
	fifo := mkfifo(t, filepath.Join(e.dir, "stella.env"))
	r := e.runLimited(stallLimit, "scan", "--sbom", sbomPath, "--env-file", fifo)
	if r.code != 0 {
		t.Fatalf("scan with a named pipe as --env-file: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, fifo+" is a named pipe (FIFO), not a regular file") {
		t.Errorf("scan does not warn that the env file is a named pipe:\n%s", r.stderr)
	}
}

func TestImportEmptyStdinMessage(t *testing.T) {
	e := newEnv(t)
	r := e.runIn([]byte{}, "ouk", "import", "--key", e.pub, "-")
	if r.code != exitRejected {
		t.Errorf("import of an empty stdin: exit %d, want %d\nstderr: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "kit stream is empty; pass a tar, tar.gz or tar.zst file") {
		t.Errorf("error does not say that the stream is empty:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "unknown compression") {
		t.Errorf("error for an empty stream names a compression:\n%s", r.stderr)
	}
}

// A file of the keys folder that contains no usable key, such as an SSH
// key copied there by mistake, must not stop the site key beside it from
// verifying kits. The warning names the file and what to do with it.
func TestKeysFolderSkipsFileWithoutKey(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	keysDir := filepath.Join(e.store, "keys")
	if err := os.MkdirAll(keysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ssh := filepath.Join(keysDir, "admin.pub")
	if err := os.WriteFile(ssh, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB admin@site\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keysDir, "site.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.runLimited(stallLimit, "ouk", "verify", kit)
	if r.code != 0 {
		t.Fatalf("verify with an SSH key beside the site key: exit %d\nstderr: %s", r.code, r.stderr)
	}
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, kit, filepath.Join(drop, "kit.tar"))
	r = e.runLimited(stallLimit, "ouk", "watch", "--once", drop)
	if r.code != 0 {
		t.Fatalf("watch with an SSH key beside the site key: exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, want := range []string{"path=" + ssh, "no PEM block found", "remove the file"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("watch does not warn with %q:\n%s", want, r.stderr)
		}
	}
	if st := e.run("ouk", "status"); st.code != 0 || strings.Contains(st.stdout, "none") {
		t.Errorf("no kit active after the watch: exit %d\n%s", st.code, st.stdout)
	}

	// A key named with --key is still checked: the same file given there
	// stops the command.
	r = e.runLimited(stallLimit, "ouk", "verify", "--key", ssh, kit)
	if r.code == 0 || !strings.Contains(r.stderr, "admin.pub") {
		t.Errorf("verify --key of an SSH key: exit %d, want a failure naming the file\nstderr: %s", r.code, r.stderr)
	}
}
