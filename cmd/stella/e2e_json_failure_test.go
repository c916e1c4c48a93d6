package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONFailureOnStdout checks that a command run with JSON output that
// fails prints one JSON object with the error and exit code on stdout,
// and that a command which printed its own result prints nothing more.
func TestJSONFailureOnStdout(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(e.dir, "missing.tar")
	cases := map[string][]string{
		"stella db lookup": {"db", "lookup", "-o", "json", "CVE-2021-44228"},
		"stella ouk delta": {"ouk", "delta", "--from", missing, "--to", missing, "-o", filepath.Join(e.dir, "d.tar"), "--format", "json"},
		"stella ouk push":  {"ouk", "push", "-o", "json", missing, "127.0.0.1:9/kit:t"},
		// An unknown flag stops parsing before the format flag.
		"stella ouk build": {"ouk", "build", "-o", filepath.Join(e.dir, "k.tar"), "--bogus", "--format", "json"},
		"stella ouk gc":    {"ouk", "gc", "--bogus", "-ojson"},
	}
	for want, args := range cases {
		r := e.run(args...)
		var got commandFailure
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Errorf("%s: stdout is not one JSON object (%v): %q", want, err, r.stdout)
			continue
		}
		if r.code == 0 || got.Status != "failed" || got.Command != want || got.ExitCode != r.code || got.Error == "" ||
			!strings.Contains(r.stderr, got.Error) {
			t.Errorf("%s: exit %d, JSON %+v, stderr %q", want, r.code, got, r.stderr)
		}
		if got.Reason == "" {
			t.Errorf("%s: failure object has no reason: %s", want, r.stdout)
		}
	}

	// import prints its own failure, which names the command too.
	r := e.run("ouk", "import", "-o", "json", missing)
	var imp importFailure
	if err := json.Unmarshal([]byte(r.stdout), &imp); err != nil || imp.Command != "stella ouk import" || imp.Source != missing {
		t.Errorf("import failure JSON %+v (%v)\n%s", imp, err, r.stdout)
	}
	// A bad flag stops import before it runs, and the object still names
	// the source.
	r = e.run("ouk", "import", "-o", "json", "--lock-timeout=abc", missing)
	imp = importFailure{}
	if err := json.Unmarshal([]byte(r.stdout), &imp); err != nil || imp.Source != missing || imp.ExitCode != exitUsage {
		t.Errorf("import failure JSON after a bad flag %+v (%v)\n%s", imp, err, r.stdout)
	}
	if imp.Reason != "invalid-argument" {
		t.Errorf("import after a bad flag: reason %q, want invalid-argument", imp.Reason)
	}

	// verify prints its report, failed checks included, and nothing more.
	kit := e.buildKit("kit.tar")
	// A signature file that cannot be read is an error of the command
	// line's files, not a failed signature.
	r = e.run("ouk", "verify", "--key", e.pub, "--signature", missing+".sig", kit)
	if r.code != exitError || !strings.Contains(r.stderr, "reading the detached signature") {
		t.Errorf("verify with a missing signature file: exit %d, stderr %q", r.code, r.stderr)
	}
	_, otherPub := e.keygen("other")
	r = e.run("ouk", "import", "--key", otherPub, "-o", "json", kit)
	imp = importFailure{}
	if err := json.Unmarshal([]byte(r.stdout), &imp); err != nil || imp.ExitCode != exitRejected {
		t.Errorf("import with another key: exit %d, JSON %+v (%v)\n%s", r.code, imp, err, r.stdout)
	}
	if imp.Reason != "signature" {
		t.Errorf("import with another key: reason %q, want signature", imp.Reason)
	}
	r = e.run("ouk", "verify", "--key", otherPub, "-o", "json", kit)
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != exitRejected || err != nil || rep.Embedded.Status != "failed" {
		t.Errorf("verify with another key: exit %d, report %+v (%v)\n%s", r.code, rep, err, r.stdout)
	}
}
