package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/watch"
)

// importFailureOf runs stella ouk import -o json on kit, which must fail,
// and returns the failure object.
func (e *env) importFailureOf(kit string) importFailure {
	e.t.Helper()
	r := e.run("ouk", "import", "--key", e.pub, "-o", "json", kit)
	var f importFailure
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		e.t.Fatalf("import %s: exit %d, stdout is no failure object (%v)\n%s%s", kit, r.code, err, r.stdout, r.stderr)
	}
	if r.code != f.ExitCode {
		e.t.Errorf("import %s: exit %d, but the failure object says %d", kit, r.code, f.ExitCode)
	}
	return f
}

func TestImportOldDeltaWithoutBaseIsDowngrade(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[2].full)
	before := e.storeBlobs()

	// Night 2's delta has night 1 as its base, which the store never held.
	f := e.importFailureOf(series[1].delta)
	if f.Reason != "downgrade" || f.ExitCode != exitRejected {
		t.Errorf("reason %q, exit %d; want downgrade, %d: %s", f.Reason, f.ExitCode, exitRejected, f.Error)
	}
	if !strings.Contains(f.Error, "--allow-downgrade") {
		t.Errorf("failure gives no --allow-downgrade hint: %s", f.Error)
	}
	if strings.Contains(f.Error, "or its delta first") {
		t.Errorf("failure still asks for the base kit: %s", f.Error)
	}
	if after := e.storeBlobs(); !slices.Equal(before, after) {
		t.Errorf("store holds %d blobs after the rejection, want the %d it held before", len(after), len(before))
	}
	if got := e.activeDigest(); got != series[2].digest {
		t.Errorf("active %s after the rejection, want night 3 %s", got, series[2].digest)
	}
}

func TestDeltaAfterRollbackOffersFullKit(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	e.must("ouk", "rollback", "--key", e.pub)
	e.must("ouk", "gc", "--keep", "0")

	// Night 3's delta needs night 2, which the site rolled back from.
	f := e.importFailureOf(series[2].delta)
	if f.Reason != "base-missing" {
		t.Fatalf("reason %q, want base-missing: %s", f.Reason, f.Error)
	}
	if !strings.Contains(f.Error, "import the full kit night-03") {
		t.Errorf("failure does not offer the full kit night-03: %s", f.Error)
	}
	if !strings.Contains(f.Error, series[2].full) {
		t.Errorf("failure does not name the full kit file %s: %s", series[2].full, f.Error)
	}

	drop := e.newDrop("drop", series[2].delta)
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	note, ok := watch.ReadNote(filepath.Join(drop, filepath.Base(series[2].delta)))
	if !ok {
		t.Fatal("watch wrote no rejection note for night 3's delta")
	}
	if !strings.Contains(note.Reason, "import the full kit night-03") {
		t.Errorf("note does not offer the full kit night-03: %s", note.Reason)
	}

	// The advice works: the full kit moves the site on without night 2.
	e.importJSON(series[2].full)
	if got := e.activeDigest(); got != series[2].digest {
		t.Errorf("active %s after importing the full kit, want night 3 %s", got, series[2].digest)
	}
}

// futureEpoch sets SOURCE_DATE_EPOCH for the stella processes of a test
// to days after the clock.
func futureEpoch(t *testing.T, days int) {
	t.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(time.Now().Add(time.Duration(days)*24*time.Hour).Unix(), 10))
}

func TestFutureCreationWarns(t *testing.T) {
	e := newEnv(t)
	futureEpoch(t, 400)
	out := filepath.Join(e.dir, "future.tar")
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	r := e.run("ouk", "build", "-o", out, "--version", "future.1", "--sequence", "5",
		"--feed", "osv="+filepath.Join(feeds, "osv"), "--key", e.key, "--expires", "30d")
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: SOURCE_DATE_EPOCH sets the creation time to") {
		t.Errorf("build does not warn about the future creation time:\n%s", r.stderr)
	}
	os.Unsetenv("SOURCE_DATE_EPOCH")

	const ahead = "400 days ahead of this host's clock"
	var inspect, verify struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "--key", e.pub, "-o", "json", out)), &inspect); err != nil {
		t.Fatal(err)
	}
	if len(inspect.Warnings) != 1 || !strings.Contains(inspect.Warnings[0], ahead) {
		t.Errorf("inspect -o json: warnings %q, want one that says %q", inspect.Warnings, ahead)
	}
	if text := e.must("ouk", "inspect", "--key", e.pub, out); !strings.Contains(text, "warning     kit future.1 was created") {
		t.Errorf("inspect prints no warning:\n%s", text)
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "verify", "--key", e.pub, "-o", "json", out)), &verify); err != nil {
		t.Fatal(err)
	}
	if len(verify.Warnings) != 1 || !strings.Contains(verify.Warnings[0], ahead) {
		t.Errorf("verify -o json: warnings %q, want one that says %q", verify.Warnings, ahead)
	}
	if text := e.must("ouk", "verify", "--key", e.pub, out); !strings.Contains(text, "Warning: kit future.1 was created") {
		t.Errorf("verify prints no warning:\n%s", text)
	}
	res := e.importJSON(out)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], ahead) {
		t.Errorf("import -o json: warnings %q, want one that says %q", res.Warnings, ahead)
	}
	if got := e.activeDigest(); got != res.Digest {
		t.Errorf("active %s, want the future kit %s: the warning must not reject it", got, res.Digest)
	}
}

func TestPresentCreationHasNoWarning(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "build", "-o", filepath.Join(e.dir, "kit.tar"), "--key", e.key,
		"--feed", "osv="+filepath.Join(repoRoot(t), "testdata", "feeds", "osv"))
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "SOURCE_DATE_EPOCH") {
		t.Errorf("build without SOURCE_DATE_EPOCH warns about it:\n%s", r.stderr)
	}
	kit := filepath.Join(e.dir, "kit.tar")
	for _, args := range [][]string{{"inspect"}, {"verify"}, {"import"}} {
		out := e.must(append(append([]string{"ouk"}, args...), "--key", e.pub, "-o", "json", kit)...)
		if strings.Contains(out, `"warnings"`) {
			t.Errorf("%s -o json lists warnings for a kit built now:\n%s", args[0], out)
		}
	}
}

// TestDamagedIndexJSONAdvice flips one bit of the bundle index's media
// type in index.json, which no signature covers, and checks that import,
// inspect and watch print advice to copy the kit again.
func TestDamagedIndexJSONAdvice(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(e.buildKit("kit.tar"))
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(raw), `"mediaType":"application/vnd.oci.image.index.v1+json","digest"`)
	if at < 0 {
		t.Fatal("index.json lists no image index")
	}
	raw[at+len(`"mediaType":"`)] ^= 1
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(drop, "damaged.tar")
	if err := os.WriteFile(damaged, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	const advice = "copy the kit file again, and if the error persists"
	if f := e.importFailureOf(damaged); !strings.Contains(f.Error, advice) {
		t.Errorf("import: failure gives no next step: %s", f.Error)
	}
	if r := e.run("ouk", "inspect", damaged); r.code == 0 || !strings.Contains(r.stderr, advice) {
		t.Errorf("inspect: exit %d, stderr gives no next step:\n%s", r.code, r.stderr)
	}
	e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	note, ok := watch.ReadNote(damaged)
	if !ok {
		t.Fatal("watch wrote no rejection note")
	}
	if !strings.Contains(note.Reason, advice) {
		t.Errorf("note gives no next step: %s", note.Reason)
	}
}
