package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDowngradeBehindKitAheadOfClock activates a kit built three days
// ahead of the clock. It checks that the watch then skips a correctly
// dated kit with an error, with -q too, and that watch --once exits with
// 1 for it. It also checks that import rejects the kit. Both
// name the active kit's creation ahead of the clock and the recovery,
// without a rollback, since the history has no earlier kit. It also
// checks that the recovery with --allow-downgrade works, and that the
// watch then skips the kit dated ahead without advising to import it
// again.
func TestDowngradeBehindKitAheadOfClock(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(time.Now().Add(72*time.Hour).Unix(), 10))
	e.buildKit(filepath.Join("drop", "future.tar"))
	os.Unsetenv("SOURCE_DATE_EPOCH")
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || !strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Fatalf("watch --once did not import the kit dated ahead: exit %d\n%s", r.code, r.stderr)
	}

	today := e.buildKit(filepath.Join("drop", "today.tar"))
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	// The skip blocks every later kit, so a cron job must notice it.
	if r.code != exitError {
		t.Errorf("watch --once with a correctly dated kit: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, `level=ERROR msg="watch failed"`) {
		t.Errorf("watch --once does not end with a failure line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "1 kit was skipped in "+drop) {
		t.Errorf("watch --once does not end with the count of kits blocked by the kit dated ahead:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `level=ERROR msg="`+msgOlderThanActiveAhead+`"`) {
		t.Errorf("watch does not log as an error that the active kit was created ahead of the clock:\n%s", r.stderr)
	}
	// The skip blocks every later kit, so -q, which keeps only errors,
	// keeps it too.
	r = e.run("ouk", "watch", "-q", "--once", "--key", e.pub, drop)
	if r.code != exitError {
		t.Errorf("watch -q --once with a correctly dated kit: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, `level=ERROR msg="`+msgOlderThanActiveAhead+`"`) {
		t.Errorf("watch -q hides the skip behind the kit created ahead of the clock:\n%s", r.stderr)
	}

	r = e.run("ouk", "import", "--key", e.pub, today)
	if r.code != exitRejected {
		t.Errorf("import of the correctly dated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	for _, want := range []string{"ahead of this host's clock", "--allow-downgrade"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import rejection lacks %q:\n%s", want, r.stderr)
		}
	}
	// The kit dated ahead was the first, so a rollback has no kit to
	// return to.
	if strings.Contains(r.stderr, "stella ouk rollback") {
		t.Errorf("import rejection offers stella ouk rollback without an earlier kit:\n%s", r.stderr)
	}

	e.must("ouk", "import", "--allow-downgrade", "--key", e.pub, today)
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("watch --once after the downgrade: exit %d, want 0 without an import\n%s", r.code, r.stderr)
	}
	// Importing the kit dated ahead again would block the site again, so
	// the skip names its date and gives no such advice.
	for _, want := range []string{"kit was active before and was created ahead of this host's clock",
		"a downgrade import (--allow-downgrade) replaced it"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("watch skip of the kit dated ahead lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "activate it again") {
		t.Errorf("watch advises activating the kit dated ahead again:\n%s", r.stderr)
	}
}
