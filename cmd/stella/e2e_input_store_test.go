package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// unmatchedPrefix returns a digest prefix of four hex digits that no
// digest in digests starts with.
func unmatchedPrefix(digests ...string) string {
	for _, c := range "0123456789abcdef" {
		prefix := "sha256:" + strings.Repeat(string(c), 4)
		used := false
		for _, d := range digests {
			used = used || strings.HasPrefix(d, prefix)
		}
		if !used {
			return prefix
		}
	}
	return "sha256:0123"
}

func TestDeltaSwappedKitsExitUsage(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	out := filepath.Join(e.dir, "reverse.delta.tar.zst")
	r := e.run("ouk", "delta", "--from", series[1].full, "--to", series[0].full, "-o", out, "--key", e.key)
	assertFailure(t, "delta from the newer kit", r, exitUsage, "--from names kit night-02 (sequence 2)",
		"newer than kit night-01 (sequence 1) of --to", "--from must be the older kit", "swap --from and --to")
	if strings.Contains(r.stderr, "invalid argument") {
		t.Errorf("delta from the newer kit ends in a sentinel's text:\n%s", r.stderr)
	}
	assertNoFile(t, out)

	r = e.run("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", filepath.Join(e.dir, "d.zip"))
	assertFailure(t, "delta -o d.zip", r, exitUsage, "d.zip", ".tar, .tar.gz, .tgz, .tar.zst or .tzst")
}

func TestDeltaAcceptsDigestPrefix(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.must("ouk", "import", "--key", e.pub, series[0].full)
	e.must("ouk", "import", "--key", e.pub, series[1].full)

	out := filepath.Join(e.dir, "stored.delta.tar.zst")
	from := series[0].digest[:len("sha256:")+12]
	to := series[1].digest[:len("sha256:")+12]
	e.must("ouk", "delta", "--from", from, "--to", to, "-o", out, "--key", e.key)
	fresh := newEnvWithKeys(t, e)
	fresh.must("ouk", "import", "--key", e.pub, series[0].full)
	fresh.must("ouk", "import", "--key", e.pub, out)
	if got := fresh.activeDigest(); got != series[1].digest {
		t.Errorf("delta between digest prefixes activates %s, want %s", got, series[1].digest)
	}

	unknown := unmatchedPrefix(series[0].digest, series[1].digest)
	r := e.run("ouk", "delta", "--from", unknown, "--to", to, "-o", out)
	assertFailure(t, "delta --from "+unknown, r, exitError, `no kit in the store matches "`+unknown+`"`,
		"stella ouk history")
	r = e.run("ouk", "delta", "--from", "sha256:xyz", "--to", to, "-o", out)
	assertFailure(t, "delta --from sha256:xyz", r, exitUsage, `"sha256:xyz"`, "hex digits")
}

func TestMirrorUnknownDigestNotFound(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, kit)
	unknown := unmatchedPrefix(e.activeDigest())
	r := e.run("ouk", "mirror", "--to", "127.0.0.1:9/mirror", "--dry-run", unknown)
	assertFailure(t, "mirror "+unknown, r, exitError, `no kit in the store matches "`+unknown+`"`, "stella ouk history")
	if strings.Contains(r.stderr, "layout") {
		t.Errorf("mirror of a digest prefix speaks of a layout folder:\n%s", r.stderr)
	}
	prefix := e.activeDigest()[:len("sha256:")+4]
	e.must("ouk", "mirror", "--key", e.pub, "--to", "127.0.0.1:9/mirror", "--dry-run", prefix)
	// A bare prefix of four digits works too, as for rollback.
	e.must("ouk", "mirror", "--key", e.pub, "--to", "127.0.0.1:9/mirror", "--dry-run", strings.TrimPrefix(prefix, "sha256:"))
}
