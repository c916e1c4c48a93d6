package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVerifyNotesStoreKey(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	storeKey := copySignerKeyToStore(t, e)
	_, otherPub := e.keygen("other")

	r := e.run("ouk", "verify", "--key", otherPub, kit)
	if r.code != 0 {
		t.Fatalf("verify with the signer's key in the store: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"note: the kit verified with " + storeKey, "not given with --key",
		"--store set to a folder that has no keys folder"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("verify with a store key does not note %q:\n%s", want, r.stderr)
		}
	}

	r = e.run("ouk", "verify", "--key", e.pub, kit)
	if r.code != 0 || strings.Contains(r.stderr, "note:") {
		t.Errorf("verify with the signer's key given with --key: exit %d, want 0 without a note:\n%s", r.code, r.stderr)
	}
	r = e.run("ouk", "verify", kit)
	if r.code != 0 || strings.Contains(r.stderr, "note:") {
		t.Errorf("verify without --key: exit %d, want 0 without a note:\n%s", r.code, r.stderr)
	}
}

func TestVerifyJSONNotesStoreKey(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	storeKey := copySignerKeyToStore(t, e)
	_, otherPub := e.keygen("other")

	for _, quiet := range []bool{false, true} {
		args := []string{"ouk", "verify", "-o", "json", "--key", otherPub, kit}
		if quiet {
			args = append([]string{"-q"}, args...)
		}
		r := e.run(args...)
		if r.code != 0 {
			t.Fatalf("verify %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var rep verifyReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("decoding the report of verify %v: %v\n%s", args, err, r.stdout)
		}
		if len(rep.Notes) != 1 {
			t.Fatalf("verify %v: notes %q, want one", args, rep.Notes)
		}
		if !strings.Contains(rep.Notes[0], "the kit verified with "+storeKey) {
			t.Errorf("verify %v: note does not name the store key: %s", args, rep.Notes[0])
		}
	}

	r := e.run("ouk", "verify", "-o", "json", "--key", e.pub, kit)
	if strings.Contains(r.stdout, `"notes"`) {
		t.Errorf("verify with the signer's key given with --key lists notes:\n%s", r.stdout)
	}
}

func TestVerifyOtherKitSignatureNextStep(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	e.must("ouk", "sign", "--key", e.key, kit2)
	sig := kit2 + ".sig"

	r := e.run("ouk", "verify", "--key", e.pub, "--signature", sig, kit1)
	assertFailure(t, "verify with the signature of another kit", r, exitRejected,
		"signature verification failed", "check that "+sig+" is the detached signature of this kit file",
		"leave out --signature")
}

// When neither the detached signature nor the one inside the kit verifies
// with the given key, the message points at the key first.
func TestVerifyWrongKeyNamesKey(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "sign", "--key", e.key, kit)
	_, otherPub := e.keygen("other-keys")

	r := e.run("ouk", "verify", "--key", otherPub, "--signature", kit+".sig", kit)
	assertFailure(t, "verify with another key", r, exitRejected,
		"signature verification failed", "the likely cause is the key", "public key of the kit's builder")
}

func TestVerifyNotASignatureFile(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	empty := e.writeTestFile("empty.sig", "")
	text := e.writeTestFile("text.sig", "see the release notes\n")
	// "hello" in base64, which decodes, but to no signature.
	hello := e.writeTestFile("hello.sig", "aGVsbG8=")
	kitBytes, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	// The first 4096 bytes of the kit are binary data, as a kit given as
	// its own signature is, and stay under the 16 KiB limit for signatures.
	binary := e.writeTestFile("binary.sig", string(kitBytes[:4096]))
	cases := []struct {
		name, file, problem string
	}{
		{"empty file", empty, "because it is empty"},
		{"text", text, "because it is text, but not base64"},
		{"public key", e.pub, `because it is a PEM block of type "PUBLIC KEY"`},
		{"base64 of text", hello, "because its base64 decodes to 5 bytes, which are no ECDSA signature"},
		{"binary", binary, "because it is 4096 bytes of binary data, which are no ECDSA signature"},
	}
	for _, c := range cases {
		r := e.run("ouk", "verify", "--key", e.pub, "--signature", c.file, kit)
		assertFailure(t, "verify with "+c.name+" as the signature", r, exitRejected,
			c.file+" is not a detached signature", c.problem, "give the .sig file")
	}
}

func TestVerifySignatureFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	folder := t.TempDir()
	r := e.run("ouk", "verify", "--key", e.pub, "--signature", folder, kit)
	assertFailure(t, "verify with a folder as the signature", r, exitError,
		"reading the detached signature: "+folder+" is a folder", "give the .sig file")
	if strings.Contains(r.stderr, "signature verification failed") {
		t.Errorf("verify with a folder as the signature reports a failed signature: %s", r.stderr)
	}
}

func TestInspectMissingKitNextStep(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(e.dir, "no-such-kit.tar")
	r := e.run("ouk", "inspect", missing)
	assertFailure(t, "inspect of a missing kit", r, exitError, missing, "not found", "check the path")
}

func TestImportSignatureFileNamed(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "sign", "--key", e.key, kit)
	r := e.run("ouk", "import", "--key", e.pub, kit+".sig")
	assertFailure(t, "import of a detached signature", r, exitRejected,
		"looks like a detached signature", "give the kit file itself")
}

// TestSignatureAsKitHintFirst checks that verify, import and inspect of a
// detached signature start their message with that hint, not with advice
// to copy a damaged kit again.
func TestSignatureAsKitHintFirst(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "sign", "--key", e.key, kit)
	sig := kit + ".sig"
	for _, args := range [][]string{
		{"ouk", "verify", "--key", e.pub, sig},
		{"ouk", "import", "--key", e.pub, sig},
		{"ouk", "inspect", sig},
	} {
		r := e.run(args...)
		label := args[1] + " of a detached signature"
		assertFailure(t, label, r, exitRejected, "looks like a detached signature")
		hint := strings.Index(r.stderr, "looks like a detached signature")
		bytesShown := strings.Index(r.stderr, "neither gzip, zstd nor a tar header")
		if bytesShown >= 0 && bytesShown < hint {
			t.Errorf("%s: the first bytes come before the hint:\n%s", label, r.stderr)
		}
		if strings.Contains(r.stderr, "damaged") {
			t.Errorf("%s: the message calls the file damaged:\n%s", label, r.stderr)
		}
	}
}

func TestBuildOutputJSONNamesFormat(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(repoRoot(t), "testdata", "feeds", "osv")
	r := e.run("ouk", "build", "-o", "json", "--feed", "osv="+feed, "--key", e.key)
	assertFailure(t, "build -o json", r, exitUsage, `output file "json" has no kit suffix`,
		"for JSON output use --format json")
}

func TestHistoryArgumentNoArguments(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "history", "x")
	assertFailure(t, "history with an argument", r, exitUsage, `stella ouk history accepts no arguments, but got "x"`)
	if strings.Contains(r.stderr, "unknown command") {
		t.Errorf("history calls its argument an unknown command:\n%s", r.stderr)
	}
}

// copySignerKeyToStore copies the signer's public key into the store's keys
// folder and returns the copy's path.
func copySignerKeyToStore(t *testing.T, e *env) string {
	t.Helper()
	storeKey := filepath.Join(e.store, storeKeysDir, "cosign.pub")
	if err := os.MkdirAll(filepath.Dir(storeKey), 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storeKey, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return storeKey
}

// TestPathMistakesNameTheFix checks the messages for paths that name the
// wrong kind of thing: a layout folder to sign, a key folder to --key, a
// kit in the store to verify and inspect, and missing delta flags.
func TestPathMistakesNameTheFix(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "import", "--key", e.pub, kit)
	layoutDir := filepath.Join(e.dir, "layout")
	if err := os.Mkdir(layoutDir, 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"sign a folder", []string{"ouk", "sign", "--key", e.key, layoutDir}, exitUsage,
			[]string{layoutDir + " is a folder", "kit file"}},
		{"verify with a key folder", []string{"ouk", "verify", "--key", filepath.Dir(e.pub), kit}, exitUsage,
			[]string{"is a folder", filepath.Join(filepath.Dir(e.pub), "cosign.pub")}},
		{"verify active", []string{"ouk", "verify", "--key", e.pub, "active"}, exitError,
			[]string{"not kits in the store", "stella ouk export"}},
		{"inspect a digest", []string{"ouk", "inspect", "sha256:0123abcd"}, exitError,
			[]string{"not kits in the store"}},
		{"delta without -o", []string{"ouk", "delta", "--from", kit, "--to", kit}, exitUsage,
			[]string{"missing -o DELTA"}},
		{"delta without --from and --to", []string{"ouk", "delta", "-o", "d.tar"}, exitUsage,
			[]string{"missing --from OLD and --to NEW"}},
	}
	for _, c := range cases {
		r := e.run(c.args...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, r.code, c.code, r.stderr)
		}
		for _, want := range c.want {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr does not contain %q:\n%s", c.name, want, r.stderr)
			}
		}
	}
}

// TestOutputSpecialFileRejected checks that a command whose output names a
// named pipe, as it would a device such as /dev/null, fails with a usage
// error and leaves the pipe in place, instead of renaming a regular file
// over it.
func TestOutputSpecialFileRejected(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	e.must("ouk", "import", "--key", e.pub, kit)
	pipe := filepath.Join(e.dir, "pipe")
	for _, p := range []string{pipe, pipe + ".tar"} {
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	for _, args := range [][]string{
		{"ouk", "sign", "--key", e.key, "--output-signature", pipe, kit},
		{"ouk", "build", "-o", pipe + ".tar", "--feed", "osv=" + filepath.Join(feeds, "osv"), "--key", e.key},
		{"ouk", "delta", "--from", kit, "--to", kit, "-o", pipe + ".tar"},
		{"ouk", "export", "--force", "-o", pipe + ".tar"},
	} {
		r := e.run(args...)
		if r.code != exitUsage {
			t.Errorf("stella %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "named pipe") {
			t.Errorf("stella %s: stderr does not name the pipe:\n%s", strings.Join(args, " "), r.stderr)
		}
		for _, p := range []string{pipe, pipe + ".tar"} {
			if info, err := os.Lstat(p); err == nil && info.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("stella %s replaced the named pipe %s with a %s", strings.Join(args, " "), p, info.Mode())
			}
		}
	}
}
