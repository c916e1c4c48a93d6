package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"stella-ops.org/ouk/oci/layout"
	"strings"
	"testing"
)

// stellaBin is the binary the end-to-end tests run: $STELLA_BIN when set,
// else one built by TestMain.
var stellaBin string

func TestMain(m *testing.M) {
	runHeldStellaFromEnv()
	runHeldScanFromEnv()
	runBeforePinStellaFromEnv()
	runHeldExportFromEnv()
	code := func() int {
		if bin := os.Getenv("STELLA_BIN"); bin != "" {
			stellaBin = bin
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "stella-e2e-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		// Tests that run the binary as an unprivileged user need to reach it.
		if err := os.Chmod(dir, 0o755); err != nil {
			panic(err)
		}
		stellaBin = filepath.Join(dir, "stella")
		out, err := exec.Command("go", "build", "-o", stellaBin, ".").CombinedOutput()
		if err != nil {
			os.Stderr.Write(out)
			panic("building stella for end-to-end tests: " + err.Error())
		}
		return m.Run()
	}()
	os.Exit(code)
}

// repoRoot returns the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// sharedTestdata returns the folder of public sample records beside the
// checkout, skipping the test when it is absent.
func sharedTestdata(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("sample records not found at %s; skipping", dir)
	}
	return dir
}

// toolPath finds a peer tool in $STELLA_TOOLS_BIN, .tools/bin or PATH, and
// skips the test when it is absent.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{os.Getenv("STELLA_TOOLS_BIN"), filepath.Join(repoRoot(t), ".tools", "bin")} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s is not installed; run `make tools` to install it", name)
	return ""
}

// env is one end-to-end scenario: a work folder, a store and a key pair.
type env struct {
	t     *testing.T
	dir   string
	store string
	key   string // private key
	pub   string // public key
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, store: filepath.Join(dir, "store")}
	e.key, e.pub = e.keygen("keys")
	return e
}

// keygen writes a key pair into a subfolder and returns its paths.
func (e *env) keygen(sub string) (string, string) {
	out := filepath.Join(e.dir, sub)
	e.must("ouk", "keygen", "--output-dir", out)
	return filepath.Join(out, "cosign.key"), filepath.Join(out, "cosign.pub")
}

// result is the outcome of one stella run.
type result struct {
	stdout, stderr string
	code           int
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runIn(nil, args...)
}

func (e *env) runIn(stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return e.runCommand(cmd, args)
}

// runCommand runs cmd, a stella command line with args, in the test's
// folder and store, with extraEnv added last to its environment, and
// returns its output and exit code. A cmd.Stdout set by the caller is
// kept, and the result then holds no stdout.
func (e *env) runCommand(cmd *exec.Cmd, args []string, extraEnv ...string) result {
	e.t.Helper()
	cmd.Env = append(append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_HOME="+e.store), extraEnv...)
	cmd.Dir = e.dir
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		e.t.Fatalf("running stella %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// must runs stella and fails the test unless it exits 0.
func (e *env) must(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("stella %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// buildKit builds a signed kit from the project's fixture feeds.
func (e *env) buildKit(name string, extra ...string) string {
	e.t.Helper()
	out := filepath.Join(e.dir, name)
	feeds := filepath.Join(repoRoot(e.t), "testdata", "feeds")
	args := []string{"ouk", "build", "-o", out,
		"--feed", "osv=" + filepath.Join(feeds, "osv"),
		"--feed", "regional:demo-cert=" + filepath.Join(feeds, "regional")}
	hasKey := false
	for _, a := range extra {
		if a == "--key" || strings.HasPrefix(a, "--key=") {
			hasKey = true
		}
	}
	if !hasKey {
		args = append(args, "--key", e.key)
	}
	e.must(append(args, extra...)...)
	return out
}

// status returns the parsed `stella ouk status -o json`. A store that does
// not exist, as after a rejected first import, gives a report without an
// active kit; status then exits 1.
func (e *env) status() statusReport {
	e.t.Helper()
	r := e.run("ouk", "status", "-o", "json")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("decoding status (exit %d): %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if r.code != 0 && !(r.code == exitError && rep.StoreAbsent) {
		e.t.Fatalf("stella ouk status: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return rep
}

// activeDigest returns the digest of the active kit, or "" when none is active.
func (e *env) activeDigest() string {
	e.t.Helper()
	rep := e.status()
	if rep.Active == nil {
		return ""
	}
	return rep.Active.Digest
}

// demoImage writes a two-platform image whose layers hold a few MiB of
// seeded random bytes, and returns its layout folder.
func demoImage(t *testing.T, dir string) string {
	t.Helper()
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		p := filepath.Join(dir, fmt.Sprintf("bin-%d", i))
		data := make([]byte, 3<<20)
		rand.NewChaCha8([32]byte{byte(i), 7}).Read(data)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[platform] = p
	}
	out := filepath.Join(dir, "image")
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := layout.BuildDemoImage(context.Background(), bins, "registry.example.test/stella-ops/scanner:0.1.0", created, out); err != nil {
		t.Fatal(err)
	}
	return out
}
