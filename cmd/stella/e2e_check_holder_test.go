package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// A command that waits for the store while a check holds it names the
// check, because the check's read-only open writes the holder record.
func TestCheckHolderNamedToWaiters(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))

	g := &globalOptions{store: e.store, command: "stella ouk check"}
	store, _, err := g.openStoreForCheck(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if !store.ReadOnly() {
		t.Fatal("the check opened the store for writing, want read-only")
	}

	r := e.run("--lock-timeout", "1s", "ouk", "gc")
	if r.code != exitStoreBusy {
		t.Errorf("gc while a check holds the store: exit %d, want %d\n%s", r.code, exitStoreBusy, r.stderr)
	}
	if !strings.Contains(r.stderr, "stella ouk check") {
		t.Errorf("gc while a check holds the store does not name the check:\n%s", r.stderr)
	}
}
