package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newScanEnv returns an env whose store has an active kit, and the path
// of an SBOM to scan.
func newScanEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	sbom := filepath.Join(e.dir, "app.spdx.json")
	if err := os.WriteFile(sbom, []byte(demoSBOM), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, sbom
}

// TestInterruptBeforeStoreOpen checks that a command interrupted before it
// opens the store, such as a scan still reading its SBOM, gets its own
// line rather than one about a wait for another process, since nothing
// waited. It runs the commands in this process with a context cancelled
// from the start, as main's is after an early interrupt.
func TestInterruptBeforeStoreOpen(t *testing.T) {
	e, sbom := newScanEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	for _, args := range [][]string{
		{"scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env")},
		{"db", "lookup", "STELLA-DEMO-2026-0001"},
		{"ouk", "status"},
	} {
		name := strings.Join(args[:2], " ")
		root := newRootCommand()
		root.SetArgs(append([]string{"--store", e.store}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		cmd, err := root.ExecuteContextC(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v does not wrap context.Canceled", name, err)
			continue
		}
		if errors.As(err, new(*storeWaitInterruptedError)) {
			t.Errorf("%s: error %v is a store wait that did not happen", name, err)
		}
		if msg := interruptedMessage(cmd, err); msg != readOnlyInterruptedMessage {
			t.Errorf("%s: message %q, want %q", name, msg, readOnlyInterruptedMessage)
		}
	}
}
