package sign

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests run the real cosign binary, offline: a proxy address that
// refuses connections stops every network call, and tlog checks are off.

// findCosign returns the cosign binary from $STELLA_TOOLS_BIN, the
// repository's .tools/bin or PATH, or skips the test.
func findCosign(t *testing.T) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("STELLA_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join("..", "..", ".tools", "bin"))
	for _, d := range dirs {
		p, err := filepath.Abs(filepath.Join(d, "cosign"))
		if err != nil {
			continue
		}
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	t.Skip("cosign not found in $STELLA_TOOLS_BIN, .tools/bin or PATH; install it with " +
		"`GOBIN=$PWD/.tools/bin go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5`")
	return ""
}

// runCosign runs cosign in dir with the network cut off and returns its
// combined output.
func runCosign(t *testing.T, dir, password string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, findCosign(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost",
		"COSIGN_PASSWORD="+password,
		"TUF_ROOT="+filepath.Join(dir, ".sigstore"),
		"COSIGN_YES=true",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCosignKeyPairLoads(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCosign(t, dir, "s3cret", "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}

	signer, err := LoadPrivateKey(readFile(t, filepath.Join(dir, "cosign.key")), []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(readFile(t, filepath.Join(dir, "cosign.pub")))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := KeyID(pub)
	sig, err := SignBlob(signer, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBlob([]TrustedKey{{ID: id, Key: pub}}, strings.NewReader("payload"), sig); err != nil {
		t.Errorf("cosign.key and cosign.pub do not match: %v", err)
	}

	_, err = LoadPrivateKey(readFile(t, filepath.Join(dir, "cosign.key")), []byte("wrong"))
	if !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: err = %v, want ErrWrongPassword", err)
	}
}

func TestCosignSignsWithGeneratedKey(t *testing.T) {
	a, _ := testKeys(t)
	dir := t.TempDir()
	writeFile(t, dir, "cosign.key", a.privPEM)
	writeFile(t, dir, "cosign.pub", a.pubPEM)
	writeFile(t, dir, "kit.tar", []byte("kit content\n"))

	out, err := runCosign(t, dir, string(testPassword),
		"sign-blob", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--output-signature", "kit.tar.sig", "kit.tar")
	if err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
	sig := readFile(t, filepath.Join(dir, "kit.tar.sig"))
	key, err := VerifyBlob([]TrustedKey{a.trusted}, bytes.NewReader([]byte("kit content\n")), sig)
	if err != nil {
		t.Fatalf("cosign's signature: %v", err)
	}
	if key.ID != a.trusted.ID {
		t.Errorf("verified by %s", key.ID)
	}
}

func TestCosignVerifiesSignBlob(t *testing.T) {
	a, _ := testKeys(t)
	dir := t.TempDir()
	writeFile(t, dir, "cosign.pub", a.pubPEM)
	data := []byte("kit content\n")
	writeFile(t, dir, "kit.tar", data)
	sig, err := SignBlob(a.signer, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "kit.tar.sig", sig)

	out, err := runCosign(t, dir, "",
		"verify-blob", "--key", "cosign.pub", "--signature", "kit.tar.sig", "--insecure-ignore-tlog", "kit.tar")
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign verify-blob: %v\n%s", err, out)
	}

	writeFile(t, dir, "kit.tar", []byte("kit content!\n"))
	if out, err := runCosign(t, dir, "",
		"verify-blob", "--key", "cosign.pub", "--signature", "kit.tar.sig", "--insecure-ignore-tlog", "kit.tar"); err == nil {
		t.Fatalf("cosign verify-blob accepted changed content:\n%s", out)
	}
}

// emptyTrustedRoot lets cosign verify a new-format bundle with a key alone:
// it needs a trusted root file but uses none of its authorities then.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

func TestCosignVerifiesManifestBundle(t *testing.T) {
	a, _ := testKeys(t)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "cosign.pub", a.pubPEM)
	writeFile(t, dir, "index.json", raw)
	writeFile(t, dir, "sig.bundle", ref.Bundle)
	writeFile(t, dir, "trusted_root.json", []byte(emptyTrustedRoot))

	out, err := runCosign(t, dir, "", "verify-blob", "--key", "cosign.pub", "--bundle", "sig.bundle",
		"--new-bundle-format", "--insecure-ignore-tlog", "--trusted-root", "trusted_root.json", "index.json")
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign verify-blob --bundle: %v\n%s", err, out)
	}
}

func TestVerifyManifestAcceptsCosignBundle(t *testing.T) {
	a, _ := testKeys(t)
	dir := t.TempDir()
	writeFile(t, dir, "cosign.key", a.privPEM)
	_, raw := testSubject()
	writeFile(t, dir, "index.json", raw)

	out, err := runCosign(t, dir, string(testPassword), "sign-blob", "--key", "cosign.key", "--tlog-upload=false",
		"--yes", "--new-bundle-format", "--bundle", "sig.bundle", "index.json")
	if err != nil {
		t.Fatalf("cosign sign-blob --bundle: %v\n%s", err, out)
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if _, err := VerifyManifest([]TrustedKey{a.trusted}, subject, raw, readFile(t, filepath.Join(dir, "sig.bundle"))); err != nil {
		t.Fatalf("cosign's bundle: %v", err)
	}
}
